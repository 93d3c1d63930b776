//! The combiner's signal vector: its names in order (the base model's logit, one indicator per shipped lexicon
//! category, the fixed rules), what each means, and where each sits.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::lexicon::Lexicon;

/// The base model's logit enters the combiner clamped to this magnitude.
pub const LOGIT_CLAMP: f64 = 12.0;

/// Name of the model-score signal.
pub const MODEL_LOGIT: &str = "model_logit";

/// The model's logit again, on a Vietnamese body only (0 elsewhere): the base model is trained on English
/// comment and SMS spam, so how far to trust it differs by language, and the fit learns both.
pub const MODEL_LOGIT_VI: &str = "model_logit_vietnamese";

/// Prefix of the lexicon category signals.
pub const LEX_PREFIX: &str = "lex:";

/// The fixed rule signals: (name, what it means). Each is 0 or 1.
pub const RULES: &[(&str, &str)] = &[
    (
        "lexicon_block",
        "a phrase from a block-severity lexicon category",
    ),
    ("url", "a URL in any field"),
    ("url_in_name_or_title", "a URL in the name or title field"),
    (
        "url_known_domain",
        "a URL on a known domain (the shipped list of Vietnamese news, public and education sites, .gov.vn, .edu.vn, \
         or the site's allowed_domains)",
    ),
    ("url_other_domain", "a URL on any other domain"),
    ("url_shortener", "a link-shortener URL"),
    ("phone_in_body", "a phone-like number in the body"),
    (
        "phone_in_name_or_title",
        "a phone-like number in the name or title",
    ),
    ("phone_mobile", "a Vietnamese mobile number in any field"),
    (
        "phone_obfuscated",
        "a phone number written digit by digit (0 9 1 2 ...)",
    ),
    ("phone_field", "the form's phone field was filled in"),
    (
        "chat_app",
        "a chat app (Zalo, Telegram, WhatsApp, ...) named in the body",
    ),
    (
        "chat_app_in_name_or_title",
        "a chat app named in the name or title",
    ),
    ("handle_or_email", "an @handle or an e-mail address"),
    ("spaced_letters", "words written with spaced letters"),
    ("leetspeak", "leetspeak words (c4 d0, v4y)"),
    ("homoglyph", "Cyrillic/Greek look-alike letters"),
    (
        "invisible_chars",
        "zero-width or other invisible characters in the submitted text",
    ),
    ("money_amount", "an amount of money (500k, 1tr, 50.000đ)"),
    (
        "rate_per_day_or_week",
        "a percentage per day or per week in the title or body (lãi 2%/ngày, 30% mỗi tuần)",
    ),
    (
        "quoted_text",
        "a passage in quotation marks in the body (readers quote the scam messages they warn about)",
    ),
    (
        "scam_warning_words",
        "words of a scam warning in title or body (lừa đảo, cảnh báo, bị lừa, cẩn thận, ...)",
    ),
    (
        "vietnamese_body",
        "a Vietnamese body, decided on its accent-stripped words (the title only when the body has no words)",
    ),
    ("short_body", "a body under 20 characters"),
    ("long_body", "a body of 200 characters or more"),
];

/// The signal names this build computes, in vector order.
pub fn signal_names() -> &'static [String] {
    static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
        let mut v = vec![MODEL_LOGIT.to_string(), MODEL_LOGIT_VI.to_string()];
        v.extend(
            Lexicon::shipped()
                .category_codes()
                .into_iter()
                .map(|c| format!("{LEX_PREFIX}{c}")),
        );
        v.extend(RULES.iter().map(|(n, _)| (*n).to_string()));
        v
    });
    &NAMES
}

/// A readable description of a signal.
pub fn describe(name: &str) -> String {
    if name == MODEL_LOGIT {
        return "logit of the base model's spam score".into();
    }
    if name == MODEL_LOGIT_VI {
        return "logit of the base model's spam score, on a Vietnamese body only".into();
    }
    if let Some(code) = name.strip_prefix(LEX_PREFIX) {
        return format!("shipped lexicon category {code}");
    }
    RULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| (*d).to_string())
        .unwrap_or_default()
}

/// Positions of the signals in the vector, built once (the decision path looks up a dozen per comment): by name,
/// and for the lexicon categories also by their bare code, so a hit needs no `lex:` name built.
struct SignalIndex {
    by_name: HashMap<&'static str, usize>,
    by_lexicon_code: HashMap<&'static str, usize>,
}

static SIGNAL_INDEX: LazyLock<SignalIndex> = LazyLock::new(|| {
    let by_name: HashMap<&'static str, usize> = signal_names()
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let by_lexicon_code = by_name
        .iter()
        .filter_map(|(n, &i)| Some((n.strip_prefix(LEX_PREFIX)?, i)))
        .collect();
    SignalIndex {
        by_name,
        by_lexicon_code,
    }
});

pub(super) fn index_of(name: &str) -> Option<usize> {
    SIGNAL_INDEX.by_name.get(name).copied()
}

pub(super) fn lexicon_index_of(code: &str) -> Option<usize> {
    SIGNAL_INDEX.by_lexicon_code.get(code).copied()
}
