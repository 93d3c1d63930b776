//! Where a phrase sits in a field: character offsets of its words, found the way the lexicon matches (case,
//! accents, look-alike letters and invisible characters ignored; words are runs of letters and digits).

/// The words of `text` folded for matching, each with its character range `[start, end)` in `text`.
fn words(text: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0usize;
    let mut end = 0usize;
    for (i, c) in text.chars().enumerate() {
        let before = cur.len();
        if c.is_ascii() {
            // ASCII is never invisible, never a look-alike and has no accent: only its case folds.
            if c.is_ascii_alphanumeric() {
                cur.push(c.to_ascii_lowercase());
            }
        } else if super::normalize::is_invisible(c) {
            continue;
        } else {
            for l in c.to_lowercase() {
                let l = super::normalize::strip_accent(
                    super::normalize::fold_homoglyph(l).unwrap_or(l),
                );
                if l.is_alphanumeric() {
                    cur.push(l);
                }
            }
        }
        if cur.len() == before {
            if !cur.is_empty() {
                out.push((std::mem::take(&mut cur), start, end));
            }
        } else {
            if before == 0 {
                start = i;
            }
            end = i + 1;
        }
    }
    if !cur.is_empty() {
        out.push((cur, start, end));
    }
    out
}

/// A text split into folded words once, so that many phrases are located in it without splitting it again.
#[derive(Debug, Clone, Default)]
pub struct Words(Vec<(String, usize, usize)>);

impl Words {
    /// The words of `text`.
    pub fn of(text: &str) -> Words {
        Words(words(text))
    }

    /// Every occurrence of `phrase` (its words, in order), as character ranges `[start, end)` from the first
    /// character of its first word to the last character of its last word.
    pub fn find(&self, phrase: &str) -> Vec<(usize, usize)> {
        let want: Vec<String> = words(phrase).into_iter().map(|w| w.0).collect();
        let have = &self.0;
        if want.is_empty() || have.len() < want.len() {
            return Vec::new();
        }
        (0..=have.len() - want.len())
            .filter(|&i| want.iter().zip(&have[i..]).all(|(w, h)| *w == h.0))
            .map(|i| (have[i].1, have[i + want.len() - 1].2))
            .collect()
    }
}

/// Every occurrence of `phrase` (its words, in order) in `text`, as character ranges `[start, end)` from the
/// first character of its first word to the last character of its last word.
pub fn find_phrase(text: &str, phrase: &str) -> Vec<(usize, usize)> {
    Words::of(text).find(phrase)
}

/// Every occurrence of `needle` in `text`, case-insensitively (ASCII), as character ranges.
pub fn find_literal(text: &str, needle: &str) -> Vec<(usize, usize)> {
    if needle.is_empty() {
        return Vec::new();
    }
    let hay: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let nd: Vec<char> = needle.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut out = Vec::new();
    if hay.len() < nd.len() {
        return out;
    }
    for i in 0..=hay.len() - nd.len() {
        if hay[i..i + nd.len()] == nd[..] {
            out.push((i, i + nd.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(text: &str, (a, b): (usize, usize)) -> String {
        text.chars().skip(a).take(b - a).collect()
    }

    #[test]
    fn phrases_are_found_through_accents_case_look_alikes_and_invisible_characters() {
        let t = "Vào NHÀ CÁI uy tín, nhа\u{200B}cái khác";
        let s = find_phrase(t, "nhà cái");
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(slice(t, s[0]), "NHÀ CÁI");
        assert_eq!(find_phrase("vao nha cai", "nhà cái"), [(4, 11)]);
        assert_eq!(find_literal("xem W88.example/x", "w88.example"), [(4, 15)]);
        assert!(find_phrase("nhà", "").is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// On any text, a phrase made of some of its own words is found, every span lies inside the text, and the
        /// characters it points at fold to the phrase.
        #[test]
        fn spans_point_inside_the_field_at_the_matched_characters(
            text in "[a-zđàáạăâêôơưỳ0-9A-ZĐ \u{200B}.,!а-я]{0,60}",
            pick in 0usize..8,
            len in 1usize..3,
        ) {
            let ws = words(&text);
            let n = text.chars().count();
            if !ws.is_empty() {
                let i = pick % ws.len();
                let phrase: Vec<String> = ws[i..(i + len).min(ws.len())].iter().map(|w| w.0.clone()).collect();
                let phrase = phrase.join(" ");
                let spans = find_phrase(&text, &phrase);
                proptest::prop_assert!(!spans.is_empty(), "{phrase:?} in {text:?}");
                for (a, b) in spans {
                    proptest::prop_assert!(a < b && b <= n, "{a}..{b} of {n}");
                    let got: Vec<String> = words(&slice(&text, (a, b))).into_iter().map(|w| w.0).collect();
                    proptest::prop_assert_eq!(got.join(" "), phrase.clone());
                }
            }
        }
    }
}
