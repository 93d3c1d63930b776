//! Text normalisation: entities, tags, NFC, lowercase, invisible chars, homoglyphs, repeats, accent shadow.

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
    // Most text is already NFC: skip the composing iterator when a quick check proves it.
    if is_nfc(tmp) {
        push_normalized(tmp.chars(), out, &mut st);
    } else {
        push_normalized(tmp.nfc(), out, &mut st);
    }
    st
}

/// True when a character is NFC on its own, composes with nothing before it and has combining class 0: ASCII,
/// the precomposed Latin letters (all of Vietnamese), general punctuation, currency signs and the common emoji
/// blocks. Text made only of them is NFC; checked against the Unicode tables by a test.
#[inline]
fn is_plain_nfc(c: char) -> bool {
    matches!(c as u32,
        0..=0x24F | 0x1E00..=0x1EFF | 0x2010..=0x2027 | 0x2030..=0x205E | 0x20A0..=0x20C0
            | 0x2600..=0x27BF | 0x1F300..=0x1F64F)
}

/// Whether `s` is already NFC, proven quickly: a pass over the bytes of ASCII and of Vietnamese's letters
/// (U+0080..U+024F, U+1E00..U+1EFF, all plain), then over the characters above, and Unicode's quick check only for
/// text with others (which is rarer and may be slower to decide).
pub fn is_nfc(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // `s` is UTF-8: a lead byte is followed by its continuation bytes.
        match b[i] {
            0..=0x7F => i += 1,
            0xC2..=0xC8 => i += 2,
            0xC9 if b[i + 1] <= 0x8F => i += 2,
            0xE1 if (0xB8..=0xBB).contains(&b[i + 1]) => i += 3,
            _ => return is_nfc_by_char(s),
        }
    }
    true
}

fn is_nfc_by_char(s: &str) -> bool {
    s.chars().all(is_plain_nfc)
        || unicode_normalization::is_nfc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
}

/// Calls `f` with every character of `s` in NFC, skipping the composing iterator when a quick check proves `s`
/// is already NFC (most text is).
pub fn for_each_nfc(s: &str, mut f: impl FnMut(char)) {
    if is_nfc(s) {
        s.chars().for_each(&mut f);
    } else {
        s.nfc().for_each(&mut f);
    }
}

/// `char::is_alphabetic` with a fast path for ASCII and the Latin blocks Vietnamese uses.
#[inline]
pub(crate) fn is_letter(c: char) -> bool {
    match c as u32 {
        0x41..=0x5A | 0x61..=0x7A => true,
        0..=0x7F | 0xD7 | 0xF7 => false,
        0xC0..=0x24F | 0x1E00..=0x1EFF => true,
        _ => c.is_alphabetic(),
    }
}

/// Squeezes runs longer than three and appends to `out`.
struct Emitter<'a> {
    out: &'a mut String,
    last: char,
    run: u32,
}

impl Emitter<'_> {
    #[inline]
    fn push(&mut self, lc: char, st: &mut NormStats) {
        if lc == self.last {
            self.run += 1;
            if self.run > 3 {
                st.squeezed += 1;
                return;
            }
        } else {
            self.last = lc;
            self.run = 1;
        }
        self.out.push(lc);
        st.chars += 1;
    }
}

/// Lowercase form and upper-case flag of U+0080..U+024F and U+1E00..U+1EFF ('\0' when lowercasing gives
/// several characters), precomputed from the standard library.
fn case_table() -> &'static [(char, bool); 0x1D0 + 0x100] {
    static TABLE: std::sync::OnceLock<[(char, bool); 0x1D0 + 0x100]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [('\0', false); 0x1D0 + 0x100];
        for (i, slot) in t.iter_mut().enumerate() {
            let u = if i < 0x1D0 {
                0x80 + i as u32
            } else {
                0x1E00 + (i - 0x1D0) as u32
            };
            if let Some(c) = char::from_u32(u) {
                let mut lower = c.to_lowercase();
                let single = match (lower.next(), lower.next()) {
                    (Some(l), None) => l,
                    _ => '\0',
                };
                *slot = (single, c.is_uppercase());
            }
        }
        t
    })
}

/// The lowercase form of `c`, as `char::to_lowercase` gives it, read from a table for the Latin blocks Vietnamese
/// uses (the standard library searches its whole table for every character).
#[inline]
pub(crate) fn lower(c: char) -> Lower {
    match case_info(c) {
        Some((l, _)) => Lower::One(Some(l)),
        None => Lower::Std(c.to_lowercase()),
    }
}

/// The characters of [`lower`].
pub(crate) enum Lower {
    One(Option<char>),
    Std(std::char::ToLowercase),
}

impl Iterator for Lower {
    type Item = char;
    #[inline]
    fn next(&mut self) -> Option<char> {
        match self {
            Lower::One(c) => c.take(),
            Lower::Std(it) => it.next(),
        }
    }
}

#[inline]
fn case_info(c: char) -> Option<(char, bool)> {
    let u = c as u32;
    let (l, up) = if (0x80..0x250).contains(&u) {
        case_table()[(u - 0x80) as usize]
    } else if (0x1E00..0x1F00).contains(&u) {
        case_table()[(u - 0x1E00) as usize + 0x1D0]
    } else {
        return None;
    };
    (l != '\0').then_some((l, up))
}

fn push_normalized(chars: impl Iterator<Item = char>, out: &mut String, st: &mut NormStats) {
    let mut em = Emitter {
        out,
        last: '\0',
        run: 0,
    };
    let mut punct_run: u32 = 0;
    let mut last_punct = '\0';
    for c in chars {
        if c.is_ascii() {
            // ASCII fast path; same results as the general path below.
            let c = if (c.is_ascii_control() && !c.is_whitespace()) || c == '<' || c == '>' {
                ' '
            } else {
                c
            };
            if c.is_ascii_alphabetic() {
                st.letters += 1;
                if c.is_ascii_uppercase() {
                    st.upper += 1;
                }
            } else if c.is_ascii_digit() {
                st.digits += 1;
            }
            if c == '!' || c == '?' {
                if last_punct == '!' || last_punct == '?' {
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
            em.push(c.to_ascii_lowercase(), st);
            continue;
        }
        if is_invisible(c) {
            st.invisible += 1;
            continue;
        }
        let c = if is_control(c) { ' ' } else { c };
        punct_run = 0;
        last_punct = '\0';
        if let Some((lc, up)) = case_info(c) {
            if is_letter(c) {
                st.letters += 1;
                if up {
                    st.upper += 1;
                }
            } else if c.is_numeric() {
                st.digits += 1;
            } else if is_emoji(c) {
                st.emoji += 1;
            }
            em.push(lc, st);
            continue;
        }
        if is_letter(c) {
            st.letters += 1;
            if c.is_uppercase() {
                st.upper += 1;
            }
        } else if c.is_numeric() {
            st.digits += 1;
        } else if is_emoji(c) {
            st.emoji += 1;
        }
        for lc in c.to_lowercase() {
            let lc = match fold_homoglyph(lc) {
                Some(l) => {
                    st.homoglyphs += 1;
                    l
                }
                None => lc,
            };
            em.push(lc, st);
        }
    }
}

/// The accent-free base letter of a (lowercase) character: "à" -> 'a', "ệ" -> 'e', 'đ' -> 'd'.
pub fn strip_accent(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    let u = c as u32;
    if (0xC0..0x250).contains(&u) {
        return accent_table()[(u - 0xC0) as usize];
    }
    if (0x1E00..0x1F00).contains(&u) {
        return accent_table()[(u - 0x1E00) as usize + 0x190];
    }
    strip_accent_slow(c)
}

/// Precomputed [`strip_accent_slow`] for U+00C0..U+024F and U+1E00..U+1EFF.
fn accent_table() -> &'static [char; 0x190 + 0x100] {
    static TABLE: std::sync::OnceLock<[char; 0x190 + 0x100]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = ['\0'; 0x190 + 0x100];
        for (i, slot) in t.iter_mut().enumerate() {
            let u = if i < 0x190 {
                0xC0 + i as u32
            } else {
                0x1E00 + (i - 0x190) as u32
            };
            *slot = char::from_u32(u).map(strip_accent_slow).unwrap_or('\0');
        }
        t
    })
}

fn strip_accent_slow(c: char) -> char {
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
    fn the_plain_nfc_characters_are_nfc_alone_and_never_compose_with_what_precedes_them() {
        use unicode_normalization::char::{canonical_combining_class, decompose_canonical};
        let plain: Vec<char> = (0..0x2_0000u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_plain_nfc(c))
            .collect();
        assert!(plain.len() > 2000);
        for &c in &plain {
            assert_eq!(canonical_combining_class(c), 0, "{c:?}");
            assert_eq!(
                unicode_normalization::is_nfc_quick(std::iter::once(c)),
                unicode_normalization::IsNormalized::Yes,
                "{c:?}"
            );
        }
        // A character composes with what precedes it only as the last part of some canonical decomposition.
        for x in (0..0x3_0000u32).filter_map(char::from_u32) {
            let mut parts = Vec::new();
            decompose_canonical(x, |p| parts.push(p));
            if parts.len() > 1 {
                let last = *parts.last().unwrap();
                assert!(!is_plain_nfc(last), "{x:?} ends with {last:?}");
            }
        }
        // The byte pass agrees with the character pass on every character it accepts.
        let mut buf = [0u8; 4];
        for c in (0..0x2_0000u32).filter_map(char::from_u32) {
            let s = c.encode_utf8(&mut buf);
            assert_eq!(is_nfc(s), is_nfc_by_char(s), "{c:?}");
        }
        let mixed = "Nhà cái “uy tín” – 100% 😀 ₫ đường Lê Lợi";
        assert!(is_nfc(mixed));
        assert!(!is_nfc("Nha\u{0300}"));
        assert!(is_nfc("한국어"));
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
    fn fast_paths_match_general_path() {
        // Every character through the normaliser gives what char::to_lowercase gives (homoglyphs aside).
        for c in (0u32..0x2000).filter_map(char::from_u32) {
            if is_invisible(c)
                || is_control(c)
                || fold_homoglyph(c.to_lowercase().next().unwrap()).is_some()
            {
                continue;
            }
            let (out, st) = norm(&format!("x{c}"));
            let want: String = format!("x{c}").nfc().flat_map(char::to_lowercase).collect();
            if want.chars().any(|w| fold_homoglyph(w).is_some()) {
                continue;
            }
            assert_eq!(out, want, "{c:?}");
            assert_eq!(st.upper, c.is_uppercase() as u32, "{c:?}");
        }
    }

    #[test]
    fn accent_table_matches_decomposition() {
        for c in (0xC0u32..0x250)
            .chain(0x1E00..0x1F00)
            .filter_map(char::from_u32)
        {
            assert_eq!(strip_accent(c), strip_accent_slow(c), "{c:?}");
        }
        assert_eq!(strip_accent('ệ'), 'e');
        assert_eq!(strip_accent('đ'), 'd');
    }

    #[test]
    fn nfc_fast_path_matches() {
        for s in [
            "Nhà Cái",
            "Nha\u{0300} Ca\u{0301}i",
            "e\u{0301}\u{0323}",
            "plain ascii",
        ] {
            let (a, _) = norm(s);
            let b: String = s.nfc().collect::<String>().to_lowercase();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn shadow_strips_vietnamese_marks() {
        let mut s = String::new();
        shadow_into("đường nhà cái ỆỄ", &mut s);
        assert_eq!(s, "duong nha cai ỆỄ".replace("ỆỄ", "EE"));
    }
}

#[cfg(test)]
mod lower_tests {
    /// Every character, both ways.
    #[test]
    fn the_table_lowercases_every_character_as_the_standard_library_does() {
        for u in 0..=0x10FFFFu32 {
            if let Some(c) = char::from_u32(u) {
                assert!(super::lower(c).eq(c.to_lowercase()), "U+{u:04X}");
            }
        }
    }
}
