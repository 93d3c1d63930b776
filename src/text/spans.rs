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

/// Phone-like numbers written plainly in `text`, as character ranges from their first digit to their last: 9 to
/// 12 digits in groups split by single spaces, dots or dashes, not glued to a letter (an amount such as
/// `100.000.000` is not one). A subset of what [`super::detect::scan_phones`] counts: numbers disguised with
/// runs of separators, commas or brackets are scored but not located, so they are not highlighted.
pub fn find_phones(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut groups: Vec<usize> = vec![0];
        let mut seps: Vec<char> = Vec::new();
        let mut end = i;
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_digit() {
                *groups.last_mut().unwrap_or(&mut 0) += 1;
                end = i + 1;
                i += 1;
            } else if matches!(c, ' ' | '.' | '-')
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                && chars[i - 1].is_ascii_digit()
            {
                seps.push(c);
                groups.push(0);
                i += 1;
            } else {
                break;
            }
        }
        let digits: usize = groups.iter().sum();
        let amount = groups.len() >= 2
            && groups[0] <= 3
            && groups[1..].iter().all(|g| *g == 3)
            && seps.iter().all(|c| *c == '.' || *c == ',');
        if (9..=12).contains(&digits) && !amount {
            out.push((start, end));
        }
    }
    out
}

/// `@handles` and e-mail addresses in `text`, as character ranges of the whitespace-separated chunk without
/// the punctuation around it.
pub fn find_contacts(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    let chars: Vec<char> = text.chars().collect();
    for i in 0..=chars.len() {
        let space = chars.get(i).is_none_or(|c| c.is_whitespace());
        match (start, space) {
            (None, false) => start = Some(i),
            (Some(a), true) => {
                let trim = |c: &char| {
                    matches!(
                        c,
                        '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')' | '"' | '\''
                    )
                };
                let mut b = i;
                while b > a && trim(&chars[b - 1]) {
                    b -= 1;
                }
                let mut a2 = a;
                while a2 < b && trim(&chars[a2]) {
                    a2 += 1;
                }
                let chunk: String = chars[a2..b].iter().collect();
                if super::detect::is_handle(&chunk) || super::detect::is_email(&chunk) {
                    out.push((a2, b));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn phones_and_contacts_are_located() {
        let t = "Gọi 0912 345 678 hoặc 0987.654.321, giá 100.000.000 đồng, mã 12345";
        let got: Vec<String> = find_phones(t).into_iter().map(|r| slice(t, r)).collect();
        assert_eq!(got, ["0912 345 678", "0987.654.321"]);
        let t = "ib @shop_xinh hoặc mail a.b@gmail.com. Cảm ơn @ nhé";
        let got: Vec<String> = find_contacts(t).into_iter().map(|r| slice(t, r)).collect();
        assert_eq!(got, ["@shop_xinh", "a.b@gmail.com"]);
    }
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
