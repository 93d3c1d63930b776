//! The ground floor: text as stored (NFC, invisible characters removed), the folded form terms are matched in,
//! Vietnamese phone numbers and e-mail syntax. Everything above reads text through these.

pub mod detect;
pub mod normalize;
pub mod skeleton;
pub mod sketch;
pub mod spans;

use normalize::{for_each_nfc, is_invisible, strip_accent};

/// A comment's text fields cleaned once ([`clean_text`]), with the count of invisible characters the submitted
/// fields had before cleaning (an obfuscation signal). Every reader downstream (the classifier, the lexicon, the
/// combiner, the policy) reads these fields; nobody cleans again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanText {
    /// Họ tên.
    pub name: String,
    /// Tiêu đề.
    pub title: String,
    /// Nội dung.
    pub body: String,
    /// Invisible characters in the submitted fields before cleaning.
    pub invisible: u32,
}

impl CleanText {
    /// Cleans submitted fields.
    pub fn new(name: &str, title: &str, body: &str) -> CleanText {
        CleanText {
            name: clean_text(name),
            title: clean_text(title),
            body: clean_text(body),
            invisible: invisible_count(&[name, title, body]),
        }
    }
}

/// Invisible characters (zero-width spaces, BOM, soft hyphens, ...) in `fields`, counted before clean-up removes
/// them.
pub fn invisible_count<S: AsRef<str>>(fields: &[S]) -> u32 {
    let n: usize = fields
        .iter()
        .map(|f| f.as_ref().chars().filter(|&c| is_invisible(c)).count())
        .sum();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Text as stored: NFC, invisible characters removed, control characters (except newlines and tabs) removed,
/// surrounding whitespace trimmed.
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for_each_nfc(s, |c| {
        if !is_invisible(c) && (!c.is_control() || matches!(c, '\n' | '\t')) {
            out.push(c);
        }
    });
    let trimmed = out.trim();
    if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_string()
    }
}

/// Lowercase, accents stripped, everything that is not a letter or digit turned into single spaces: the form
/// blocked and suspect terms are matched in.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for_each_nfc(s, |c| {
        for c in c.to_lowercase() {
            let c = strip_accent(c);
            if c.is_alphanumeric() {
                out.push(c);
                space = false;
            } else if !space {
                out.push(' ');
                space = true;
            }
        }
    });
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The terms of `terms` found in `folded` on word boundaries.
pub fn term_hits<'t>(folded: &str, terms: &'t [String]) -> Vec<&'t str> {
    let padded = format!(" {folded} ");
    terms
        .iter()
        .filter(|t| {
            let f = fold(t);
            !f.is_empty() && padded.contains(&format!(" {f} "))
        })
        .map(String::as_str)
        .collect()
}

/// A Vietnamese phone number in canonical form (`0` + 9 or 10 digits), from `0xxx`, `+84`/`84` forms with
/// spaces, dots, dashes or parentheses; `None` for anything else.
pub fn normalize_phone(s: &str) -> Option<String> {
    let mut digits = String::new();
    for (i, c) in s.trim().chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return None,
        }
    }
    let national = if let Some(rest) = digits.strip_prefix("84") {
        if s.trim_start().starts_with('+') || digits.len() >= 11 {
            format!("0{rest}")
        } else {
            digits
        }
    } else if s.trim_start().starts_with('+') {
        return None;
    } else {
        digits
    };
    let ok = national.starts_with('0')
        && (10..=11).contains(&national.len())
        && !national[1..].starts_with('0');
    ok.then_some(national)
}

/// Plain syntax check of an e-mail address.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && s.chars().all(|c| !c.is_whitespace() && !c.is_control())
        && !domain.contains('@')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_phone_forms_are_normalised() {
        for (input, want) in [
            ("0912 345 678", Some("0912345678")),
            ("0912.345.678", Some("0912345678")),
            ("+84 912 345 678", Some("0912345678")),
            ("84912345678", Some("0912345678")),
            ("(028) 3823 4567", Some("02838234567")),
            ("12345", None),
            ("0912abc678", None),
            ("+1 202 555 0100", None),
            ("00912345678", None),
        ] {
            assert_eq!(normalize_phone(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn text_is_nfc_without_invisible_characters() {
        let decomposed = "Gia\u{0301} ca\u{0309}\u{200B} tăng";
        assert_eq!(clean_text(decomposed), "Giá cả tăng");
    }

    #[test]
    fn terms_match_accent_insensitively_on_word_boundaries() {
        let terms = vec!["nhà cái uy tín".to_string(), "ib".to_string()];
        assert_eq!(
            term_hits(&fold("Vào NHA CAI uy tin đi!"), &terms),
            vec!["nhà cái uy tín"]
        );
        assert!(term_hits(&fold("tôi thích bibimbap"), &terms).is_empty());
    }

    #[test]
    fn emails_are_checked_for_syntax() {
        assert!(valid_email("an.nguyen@example.vn"));
        assert!(!valid_email("an nguyen@example.vn"));
        assert!(!valid_email("no-at-sign"));
        assert!(!valid_email("a@b"));
    }
}
