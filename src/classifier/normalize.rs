//! Text normalisation: HTML entity decoding, NFC, lowercase, invisible-character stripping, homoglyph folding,
//! repeat squeezing, and the accent-stripped "shadow" form of Vietnamese tokens.

use unicode_normalization::UnicodeNormalization;

/// Counters gathered while normalising one field; they feed the signal features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormStats {
    /// Characters in the normalised text.
    pub chars: u32,
    /// Alphabetic characters before lowercasing.
    pub letters: u32,
    /// Upper-case characters before lowercasing.
    pub upper: u32,
    /// ASCII and other decimal digits.
    pub digits: u32,
    /// Invisible format characters that were removed (zero-width, BOM, soft hyphen, bidi controls...).
    pub invisible: u32,
    /// Look-alike Cyrillic/Greek letters folded to Latin.
    pub homoglyphs: u32,
    /// Characters dropped because a run of the same character was longer than three.
    pub squeezed: u32,
    /// Runs of two or more `!` or `?`.
    pub repeat_punct: u32,
    /// Emoji and pictographs.
    pub emoji: u32,
    /// HTML tags removed.
    pub html_tags: u32,
}

/// True for characters that render as nothing: zero-width spaces and joiners, word joiner, BOM, soft hyphen,
/// bidi controls and the other format (Cf) characters that show up in text.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
        | '\u{110BD}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
}

/// True for emoji and pictographic symbols.
pub fn is_emoji(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{2190}'..='\u{21FF}'
        | '\u{3297}' | '\u{3299}' | '\u{00A9}' | '\u{00AE}' | '\u{2122}')
}

/// Folds a lowercase Cyrillic or Greek look-alike to the Latin letter it imitates.
pub fn fold_homoglyph(c: char) -> Option<char> {
    Some(match c {
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'һ' => 'h',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'ѵ' => 'v',
        _ => return None,
    })
}

/// Characters that are not text at all (C0/C1 controls other than whitespace) and become a space.
fn is_control(c: char) -> bool {
    (c.is_control() && !c.is_whitespace()) || c == '<' || c == '>'
}

/// Length of an HTML tag starting at the beginning of `s` (`<br />`, `<a href="...">`, `</a>`), if it is one.
fn tag_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let next = *b.get(1)?;
    if !(next.is_ascii_alphabetic() || next == b'/' || next == b'!') {
        return None;
    }
    let end = b.iter().take(1000).position(|&c| c == b'>')?;
    if b[1..end].contains(&b'<') {
        return None;
    }
    Some(end + 1)
}

/// Removes HTML tags and decodes HTML entities (both show up in scraped comments) into `out`; returns the
/// number of tags removed.
fn decode_entities(input: &str, out: &mut String) -> u32 {
    out.clear();
    let mut tags = 0;
    let mut rest = input;
    while let Some(pos) = rest.find(['&', '<']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix('<') {
            match tag_len(tail) {
                Some(len) => {
                    tags += 1;
                    out.push(' ');
                    rest = &tail[len..];
                }
                None => {
                    out.push('<');
                    rest = after;
                }
            }
            continue;
        }
        let end = tail.bytes().take(10).position(|b| b == b';');
        let decoded = end.and_then(|e| {
            let name = &tail[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let v = if let Some(hex) = num.strip_prefix(['x', 'X']) {
                        u32::from_str_radix(hex, 16).ok()?
                    } else {
                        num.parse::<u32>().ok()?
                    };
                    char::from_u32(v)
                }
            }?;
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    tags
}

/// Normalises `input` into `out` (NFC, lowercase, invisible characters removed, homoglyphs folded, runs longer
/// than three squeezed to three) and returns the counters. `tmp` is a reusable scratch buffer.
pub fn normalize_into(input: &str, out: &mut String, tmp: &mut String) -> NormStats {
    let mut st = NormStats {
        html_tags: decode_entities(input, tmp),
        ..NormStats::default()
    };
    out.clear();
    let mut last: char = '\0';
    let mut run: u32 = 0;
    let mut punct_run: u32 = 0;
    let mut last_punct = '\0';
    for c in tmp.nfc() {
        if is_invisible(c) {
            st.invisible += 1;
            continue;
        }
        let c = if is_control(c) { ' ' } else { c };
        if c.is_alphabetic() {
            st.letters += 1;
            if c.is_uppercase() {
                st.upper += 1;
            }
        } else if c.is_numeric() {
            st.digits += 1;
        } else if is_emoji(c) {
            st.emoji += 1;
        }
        if c == '!' || c == '?' {
            if c == last_punct || (last_punct == '!' || last_punct == '?') {
                punct_run += 1;
                if punct_run == 2 {
                    st.repeat_punct += 1;
                }
            } else {
                punct_run = 1;
            }
            last_punct = c;
        } else {
            punct_run = 0;
            last_punct = '\0';
        }
        for lc in c.to_lowercase() {
            let lc = match fold_homoglyph(lc) {
                Some(l) => {
                    st.homoglyphs += 1;
                    l
                }
                None => lc,
            };
            if lc == last {
                run += 1;
                if run > 3 {
                    st.squeezed += 1;
                    continue;
                }
            } else {
                last = lc;
                run = 1;
            }
            out.push(lc);
            st.chars += 1;
        }
    }
    st
}

/// The accent-free base letter of a (lowercase) character: "à" -> 'a', "ệ" -> 'e', 'đ' -> 'd'.
pub fn strip_accent(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    match c {
        'đ' | 'Đ' => return 'd',
        _ => {}
    }
    let mut base = c;
    let mut first = true;
    unicode_normalization::char::decompose_canonical(c, |d| {
        if first {
            base = d;
            first = false;
        }
    });
    base
}

/// Writes the accent-stripped shadow of `token` into `out` (cleared first).
pub fn shadow_into(token: &str, out: &mut String) {
    out.clear();
    out.extend(token.chars().map(strip_accent));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> (String, NormStats) {
        let mut out = String::new();
        let mut tmp = String::new();
        let st = normalize_into(s, &mut out, &mut tmp);
        (out, st)
    }

    #[test]
    fn nfc_and_lowercase() {
        // "Nhà Cái" written with combining marks becomes the precomposed, lowercase form.
        let (out, st) = norm("Nha\u{0300} Ca\u{0301}i");
        assert_eq!(out, "nhà cái");
        assert_eq!(st.upper, 2);
    }

    #[test]
    fn zero_width_removed_and_counted() {
        let (out, st) = norm("nh\u{200B}à c\u{200D}ái\u{FEFF} so\u{00AD}ft\u{2060}");
        assert_eq!(out, "nhà cái soft");
        assert_eq!(st.invisible, 5);
    }

    #[test]
    fn squeezes_long_repeats() {
        let (out, st) = norm("woooooow!!!!!!");
        assert_eq!(out, "wooow!!!");
        assert_eq!(st.squeezed, 6);
        assert_eq!(st.repeat_punct, 1);
    }

    #[test]
    fn folds_homoglyphs() {
        let (out, st) = norm("саsinо");
        assert_eq!(out, "casino");
        assert_eq!(st.homoglyphs, 3);
    }

    #[test]
    fn decodes_entities() {
        let (out, st) =
            norm("don&#39;t &amp; <br />x&foo; <a href=\"http://a.example\">link</a> 1 < 2 > 0");
        assert_eq!(out, "don't &  x&foo;  link  1   2   0");
        assert_eq!(st.html_tags, 3);
    }

    #[test]
    fn shadow_strips_vietnamese_marks() {
        let mut s = String::new();
        shadow_into("đường nhà cái ỆỄ", &mut s);
        assert_eq!(s, "duong nha cai ỆỄ".replace("ỆỄ", "EE"));
    }
}
