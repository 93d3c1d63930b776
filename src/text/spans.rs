//! Where a phrase sits in a field: character offsets of its words, found the way the lexicon matches (case,
//! accents, look-alike letters and invisible characters ignored; words are runs of letters and digits).

/// A text split into folded words once, so that many phrases are located in it without splitting it again. The
/// folded words sit end to end in one buffer (no allocation per word).
#[derive(Debug, Clone, Default)]
pub struct Words {
    /// The folded words, end to end.
    buf: String,
    /// Per word: its byte range in `buf`, and its character range `[start, end)` in the text.
    words: Vec<(usize, usize, usize, usize)>,
    /// Per word: a hash of it, compared before its bytes.
    keys: Vec<u64>,
}

/// FNV-1a of a folded word.
fn key(w: &str) -> u64 {
    w.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Words {
    /// The words of `text` folded for matching (case, accents, look-alike letters and invisible characters
    /// ignored; words are runs of letters and digits).
    pub fn of(text: &str) -> Words {
        let mut buf = String::with_capacity(text.len());
        let mut words = Vec::new();
        // Where the word being read starts in `buf`, and its character range in `text`.
        let mut at = 0usize;
        let mut start = 0usize;
        let mut end = 0usize;
        for (i, c) in text.chars().enumerate() {
            let before = buf.len();
            if c.is_ascii() {
                // ASCII is never invisible, never a look-alike and has no accent: only its case folds.
                if c.is_ascii_alphanumeric() {
                    buf.push(c.to_ascii_lowercase());
                }
            } else if super::normalize::is_invisible(c) {
                continue;
            } else {
                for l in super::normalize::lower(c) {
                    let l = super::normalize::strip_accent(
                        super::normalize::fold_homoglyph(l).unwrap_or(l),
                    );
                    if l.is_alphanumeric() {
                        buf.push(l);
                    }
                }
            }
            if buf.len() == before {
                if buf.len() > at {
                    words.push((at, buf.len(), start, end));
                    at = buf.len();
                }
            } else {
                if before == at {
                    start = i;
                }
                end = i + 1;
            }
        }
        if buf.len() > at {
            words.push((at, buf.len(), start, end));
        }
        let keys = words.iter().map(|&(a, b, _, _)| key(&buf[a..b])).collect();
        Words { buf, words, keys }
    }

    /// The `k`th folded word.
    fn word(&self, k: usize) -> &str {
        let (a, b, _, _) = self.words[k];
        &self.buf[a..b]
    }

    /// Every occurrence of `phrase` (its words, in order), as character ranges `[start, end)` from the first
    /// character of its first word to the last character of its last word.
    pub fn find(&self, phrase: &str) -> Vec<(usize, usize)> {
        let want = Words::of(phrase);
        let (n, m) = (self.words.len(), want.words.len());
        if m == 0 || n < m {
            return Vec::new();
        }
        (0..=n - m)
            .filter(|&i| {
                (0..m).all(|j| want.keys[j] == self.keys[i + j] && want.word(j) == self.word(i + j))
            })
            .map(|i| (self.words[i].2, self.words[i + m - 1].3))
            .collect()
    }
}

/// The words of `text` folded for matching, each with its character range `[start, end)` in `text`.
#[cfg(test)]
fn words(text: &str) -> Vec<(String, usize, usize)> {
    let w = Words::of(text);
    (0..w.words.len())
        .map(|k| (w.word(k).to_string(), w.words[k].2, w.words[k].3))
        .collect()
}

/// Every occurrence of `phrase` (its words, in order) in `text`, as character ranges `[start, end)` from the
/// first character of its first word to the last character of its last word.
pub fn find_phrase(text: &str, phrase: &str) -> Vec<(usize, usize)> {
    Words::of(text).find(phrase)
}

/// Every occurrence of `needle` in `text`, case-insensitively (ASCII), as character ranges.
pub fn find_literal(text: &str, needle: &str) -> Vec<(usize, usize)> {
    let (hay, nd) = (text.as_bytes(), needle.as_bytes());
    let mut out = Vec::new();
    if nd.is_empty() || hay.len() < nd.len() {
        return out;
    }
    // Compared byte by byte: a UTF-8 needle can only match at a character boundary of the text (its first byte is
    // never a continuation byte), and ASCII case folding leaves every other byte as it is.
    let chars = needle.chars().count();
    let mut at = (0usize, 0usize); // (byte, character) of the last counted position
    for i in 0..=hay.len() - nd.len() {
        if hay[i..i + nd.len()].eq_ignore_ascii_case(nd) {
            at = (i, at.1 + text[at.0..i].chars().count());
            out.push((at.1, at.1 + chars));
        }
    }
    out
}

#[cfg(test)]
fn find_literal_by_char(text: &str, needle: &str) -> Vec<(usize, usize)> {
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
        /// The byte search finds what a search character by character finds.
        #[test]
        fn literals_are_found_as_a_search_by_character_finds_them(
            text in "[a-cA-Cđà. ]{0,30}",
            needle in "[a-cA-Cđà.]{1,3}",
        ) {
            proptest::prop_assert_eq!(find_literal(&text, &needle), find_literal_by_char(&text, &needle));
        }

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
