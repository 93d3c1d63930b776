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
    skeleton_with_ends(text).0
}

/// How a skeleton's first and last words read leetspeak: what decides whether the skeleton of two texts joined by a
/// newline is theirs joined by a space (see [`joined`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ends {
    /// The first word is leetspeak.
    first_leet: bool,
    /// The first word is a short leet word ("1b"), decoded only after a leetspeak word.
    first_short: bool,
    /// The last word is leetspeak.
    last_leet: bool,
    /// The last word is a short leet word still as written, decoded if a leetspeak word follows.
    last_pending: bool,
}

/// The skeleton of `a` and `b` joined by a newline, built from theirs: their forms joined by a space, or `None`
/// when a leetspeak word on one side of the newline would decode a short word on the other ("1b" ending `a` before
/// "z4l0" starting `b`), which only [`skeleton`] of the joined text reads.
pub fn joined(a: &(Skeleton, Ends), b: &(Skeleton, Ends)) -> Option<Skeleton> {
    let ((sa, ea), (sb, eb)) = (a, b);
    if sa.spaced.is_empty() {
        return Some(sb.clone());
    }
    if sb.spaced.is_empty() {
        return Some(sa.clone());
    }
    if (ea.last_pending && eb.first_leet) || (ea.last_leet && eb.first_short) {
        return None;
    }
    Some(Skeleton {
        spaced: format!("{} {}", sa.spaced, sb.spaced),
        compact: format!("{}{}", sa.compact, sb.compact),
    })
}

/// [`skeleton`], with how its end words read leetspeak.
pub fn skeleton_with_ends(text: &str) -> (Skeleton, Ends) {
    let mut ends = Ends::default();
    let mut words = 0usize;
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
        if words == 0 {
            ends.first_leet = leet;
            ends.first_short = is_short;
        }
        words += 1;
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
        for c in super::normalize::lower(c) {
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
    ends.last_leet = prev_leet;
    ends.last_pending = pending.is_some();
    (Skeleton { spaced, compact }, ends)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leet_word_across_the_newline_is_read_by_the_joined_skeleton_only() {
        for (a, b) in [
            ("hàng 1b", "z4l0 nhé"),
            ("z4l0", "1b nhé"),
            ("chào", "bạn"),
            ("", "x"),
            ("1b", ""),
        ] {
            let (sa, sb) = (skeleton_with_ends(a), skeleton_with_ends(b));
            let whole = skeleton(&format!("{a}\n{b}"));
            match joined(&sa, &sb) {
                Some(j) => assert_eq!(j, whole, "{a:?} + {b:?}"),
                None => assert_ne!(
                    format!("{} {}", sa.0.spaced, sb.0.spaced),
                    whole.spaced,
                    "{a:?} + {b:?} refused though the join is the same"
                ),
            }
        }
        assert!(joined(&skeleton_with_ends("hàng 1b"), &skeleton_with_ends("z4l0")).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        /// Whenever [`joined`] answers, it is the skeleton of the texts joined by a newline.
        #[test]
        fn joined_is_the_skeleton_of_the_joined_text(
            a in "[a-z0-9@$!|ạàđ\u{0301}\u{200B} .]{0,16}",
            b in "[a-z0-9@$!|ạàđ\u{0301}\u{200B} .]{0,16}",
        ) {
            if let Some(j) = joined(&skeleton_with_ends(&a), &skeleton_with_ends(&b)) {
                proptest::prop_assert_eq!(j, skeleton(&format!("{a}\n{b}")));
            }
        }
    }
}
