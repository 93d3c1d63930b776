//! The skeleton of a text: the form the lexicon's phrases and the combiner's word signals are matched in
//! (lowercase, accents stripped, look-alike letters and leetspeak decoded, spaced-out letters re-joined), built in
//! one pass; and whole-word matching over it.

use super::normalize::{fold_homoglyph, for_each_nfc, is_invisible, strip_accent};

/// Text in the two forms phrases are matched in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skeleton {
    /// Lowercase, accents stripped, look-alikes and leetspeak decoded, words separated by single spaces.
    pub spaced: String,
    /// The same without spaces.
    pub compact: String,
}

/// Builds the matching forms of `text` (one pass, no allocation per word).
pub fn skeleton(text: &str) -> Skeleton {
    let mut spaced = String::with_capacity(text.len());
    let mut compact = String::with_capacity(text.len());
    let mut cur = String::new();
    let mut decoded = String::new();
    let mut short = String::new();
    // The previous word was leetspeak; the previous word is a short leet word ("1b") still as written, and where it
    // starts in `spaced` and `compact` (it is decoded if the word after it is leetspeak).
    let mut prev_leet = false;
    let mut pending: Option<(usize, usize)> = None;
    let mut flush = |cur: &mut String| {
        if cur.is_empty() {
            return;
        }
        let leet = crate::text::detect::deleet(cur, &mut decoded);
        let is_short = !leet && crate::text::detect::deleet_short(cur, &mut short);
        if leet && let Some((s, c)) = pending {
            // Same length: the short word is ASCII and decodes to ASCII letters.
            spaced.replace_range(s.., &short);
            compact.replace_range(c.., &short);
        }
        let word: &str = if leet {
            &decoded
        } else if is_short && prev_leet {
            &short
        } else {
            cur
        };
        if !spaced.is_empty() {
            spaced.push(' ');
        }
        pending = (is_short && !prev_leet).then_some((spaced.len(), compact.len()));
        spaced.push_str(word);
        compact.push_str(word);
        prev_leet = leet;
        cur.clear();
    };
    for_each_nfc(text, |c| {
        // ASCII fast path, same result: nothing ASCII is invisible, a homoglyph or accented. Its check is written
        // out rather than shared with the general path: a shared closure cost ~13k instructions per comment.
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() || c == '@' || c == '$' {
                cur.push(c.to_ascii_lowercase());
            } else {
                flush(&mut cur);
            }
            return;
        }
        for c in c.to_lowercase() {
            if is_invisible(c) {
                continue;
            }
            let c = fold_homoglyph(c).unwrap_or(c);
            let c = strip_accent(c);
            if c.is_alphanumeric() || c == '@' || c == '$' {
                cur.push(c);
            } else {
                flush(&mut cur);
            }
        }
    });
    flush(&mut cur);
    Skeleton { spaced, compact }
}

/// Every match of `ac`'s phrases (skeleton forms: words separated by single spaces) in `spaced` (a skeleton's spaced
/// form) that starts and ends on a word boundary, in the order the automaton reports them. `ac` must use the standard
/// match kind (the default), which overlapping search needs.
pub fn whole_word_matches<'a>(
    ac: &'a aho_corasick::AhoCorasick,
    spaced: &'a str,
) -> impl Iterator<Item = aho_corasick::Match> + 'a {
    let b = spaced.as_bytes();
    ac.find_overlapping_iter(spaced).filter(move |m| {
        (m.start() == 0 || b[m.start() - 1] == b' ') && (m.end() == b.len() || b[m.end()] == b' ')
    })
}
