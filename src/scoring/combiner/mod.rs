//! The combiner: one calibrated spam probability from the base model's score and the rule signals (shipped
//! lexicon categories, URLs and their domains, phone numbers and chat handles in any field, obfuscation,
//! invisible characters). It is a small logistic regression over a fixed, named signal vector, the way rspamd
//! adds up symbol scores, except that the weights are fitted on labelled data ([`fit`]) and the output is a
//! probability. The artifact is `combiner.json` next to the model it was fitted for.
//!
//! # Signals
//! Index 0 is the base model's logit (clamped to ±[`LOGIT_CLAMP`]); then one 0/1 indicator per shipped lexicon
//! category (`lex:LEX_BETTING`, ...); then the fixed rules of [`RULES`]. The URL, phone, chat, handle and
//! obfuscation signals are read from the classifier's own signal extractor (`classifier::features`), so the
//! combiner and the model agree on what a URL or a phone number is.

pub mod fit;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::classifier::features::{Block, Extractor, FeatureConfig, Scratch, shadow_of};
use crate::classifier::{CommentText, Model};
use crate::lexicon::{Hit, Lexicon};
use crate::review::{Reason, ReasonKind};

/// Code of the reason that carries the base model's score inside a combined score; a recorded decision with it
/// was made on the combiner's probability.
pub const MODEL_SCORE: &str = "MODEL_SCORE";

/// Version of the `combiner.json` layout.
pub const COMBINER_FORMAT: u32 = 1;

/// Identity of the signal definitions below (lexicon categories included); bump when a signal's meaning changes
/// (old artifacts are refused). v3: bare contact words (ib, inbox, lh, sđt) left `LEX_SALES_INBOX` for their own
/// category `LEX_CONTACT_WORD`. v4: the rule `rate_per_day_or_week`, more scam-warning words, lexicon terms for
/// uniform deposits, pointers to the title and USDT.
pub const SIGNALS_VERSION: &str = "moderato-combiner-signals-v4";

/// File name of the artifact inside a model directory.
pub const FILE_NAME: &str = "combiner.json";

/// The base model's logit enters the combiner clamped to this magnitude.
pub const LOGIT_CLAMP: f64 = 12.0;

/// Name of the model-score signal.
pub const MODEL_LOGIT: &str = "model_logit";

/// The model's logit again, on Vietnamese text only (0 elsewhere): the base model is trained on English
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
        "url_official_domain",
        "a URL on an official domain (.gov.vn, .edu.vn, .gov, .edu)",
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
        "vietnamese_text",
        "Vietnamese title or body (Vietnamese letters, or common Vietnamese words written without accents)",
    ),
    ("short_body", "a body under 20 characters"),
    ("long_body", "a body of 200 characters or more"),
];

/// Words of readers warning each other about scams, accent-stripped as the lexicon skeleton writes them.
const WARNING_TERMS: &[&str] = &[
    "lua dao",
    "canh bao",
    "bi lua",
    "mat tien",
    "bao cong an",
    "trinh bao",
    "to giac",
    "dung tin",
    "dung bam",
    "coi chung",
    "can than",
    "chan luon",
    "gia mao",
    "mao danh",
    "ke gian",
    "thu doan",
    "canh giac",
    "gia danh",
    "bi du",
    "bi gat",
    "nan nhan",
    "chieu tro",
    "chiem doat",
];

/// The first scam-warning term in `spaced` (a lexicon skeleton: words separated by single spaces) as a whole
/// word sequence, found in one pass over the text whatever the number of terms.
fn warning_term(spaced: &str) -> Option<&'static str> {
    static TERMS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(WARNING_TERMS).expect("the warning terms build an automaton")
    });
    crate::lexicon::whole_word_matches(&TERMS, spaced)
        .next()
        .map(|m| WARNING_TERMS[m.pattern().as_usize()])
}

/// Common Vietnamese words, accent-stripped, that English text practically never has (for text written without
/// diacritics).
const VI_WORDS: &[&str] = &[
    "khong", "duoc", "nguoi", "cua", "nhung", "voi", "nay", "thi", "cac", "mot", "minh", "nhieu",
    "lam", "roi", "chua", "vay", "nhe", "oi", "ko", "dc", "nhu", "cung", "dang", "duong", "ngay",
    "tien", "viec", "nuoc",
];

/// True for a Vietnamese title and body: a letter only Vietnamese uses, or two common Vietnamese words in `spaced`
/// (the lexicon skeleton of the same text).
fn is_vietnamese(title: &str, body: &str, spaced: &str) -> bool {
    let vi_letter = |c: char| {
        matches!(
            c,
            'ă' | 'â' | 'đ' | 'ê' | 'ô' | 'ơ' | 'ư' | 'Ă' | 'Â' | 'Đ' | 'Ê' | 'Ô' | 'Ơ' | 'Ư'
        ) || ('\u{1EA0}'..='\u{1EF9}').contains(&c)
    };
    title.chars().chain(body.chars()).any(vi_letter)
        || spaced
            .split(' ')
            .filter(|w| VI_WORDS.contains(w))
            .take(2)
            .count()
            >= 2
}

/// Top-level domains reserved for documentation and tests (RFC 2606). The classifier's URL parser does not
/// know them; the development set writes its made-up spam domains with them, so the combiner counts them.
const RESERVED_TLDS: &[&str] = &["example", "test", "invalid", "localhost"];

/// The host of a bare `name.example/...` chunk under a reserved top-level domain (look-alike letters folded).
fn reserved_host(chunk: &str) -> Option<String> {
    // Most chunks are words: no '.' followed by a letter, so no host (and nothing to allocate).
    let has_dot_letter = chunk
        .char_indices()
        .any(|(i, c)| c == '.' && chunk[i + 1..].starts_with(char::is_alphabetic));
    if !has_dot_letter {
        return None;
    }
    let folded: String = chunk
        .chars()
        .map(|c| crate::text::normalize::fold_homoglyph(c).unwrap_or(c))
        .collect::<String>()
        .to_lowercase();
    let chunk = folded.trim_matches(|c: char| !(c.is_alphanumeric() || c == '/'));
    let host = chunk.split(['/', '?', '#']).next()?;
    let (_, tld) = host.rsplit_once('.')?;
    let ok = RESERVED_TLDS.contains(&tld)
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    ok.then(|| host.to_string())
}

/// The first percentage in `text` quoted per day or per week, as `<number>%/<period>` with the period
/// accent-stripped. Banks and funds quote rates per month or per year; a daily or weekly rate is a scam's promise, or
/// a reader describing a loan shark. Two written forms count: a slash ("2%/ngày", "1,2 % / ngay", "30%/tuần",
/// "3%/day"), and a "per" word with its accents ("2% mỗi ngày", "5% hàng tuần", "3% a day", "1% per week"). A bare
/// period does not ("giảm 50% ngày 8/3" is a date, "50% ngay" is "50% off, now"), nor do the accentless or
/// ambiguous per words ("moi" is also "mới", "a" also "anh", "1 ngày" also "for one day").
fn rate_per_day_or_week(text: &str) -> Option<String> {
    const PERIODS: &[&str] = &["ngay", "tuan", "day", "week"];
    // (per word, the periods it may take), compared with the words as written, lowercased.
    const PER: &[(&str, &[&str])] = &[
        ("mỗi", &["ngày", "tuần"]),
        ("hàng", &["ngày", "tuần"]),
        ("trên", &["ngày", "tuần"]),
        ("a", &["day", "week"]),
        ("per", &["day", "week"]),
        ("each", &["day", "week"]),
    ];
    fn bare(w: &str) -> &str {
        w.trim_end_matches(['.', ',', '!', '?', ';', ':', ')'])
    }
    for (i, _) in text.match_indices('%') {
        let head = text[..i].trim_end();
        let num_start = head
            .rfind(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
            .map_or(0, |j| {
                j + head[j..].chars().next().map_or(1, char::len_utf8)
            });
        let number = head[num_start..].trim_matches([',', '.']);
        if !number.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        // At most the next 24 characters, lowercased: enough for "% / hàng tuần", and bounded however long the
        // text and however many '%' it has.
        let rest = &text[i + 1..];
        let end = rest.char_indices().nth(24).map_or(rest.len(), |(j, _)| j);
        let window = rest[..end].to_lowercase();
        let after = window.trim_start();
        // The period, accent-stripped: after a slash written either way, after a per word as it takes it.
        let period = if let Some(after_slash) = after.strip_prefix('/') {
            after_slash
                .split_whitespace()
                .next()
                .map(|w| shadow_of(bare(w)))
                .filter(|p| PERIODS.contains(&p.as_str()))
        } else {
            let mut words = after.split_whitespace();
            match (words.next(), words.next().map(bare)) {
                (Some(per), Some(period)) => PER
                    .iter()
                    .any(|(p, periods)| *p == per && periods.contains(&period))
                    .then(|| shadow_of(period)),
                _ => None,
            }
        };
        if let Some(period) = period {
            return Some(format!("{number}%/{period}"));
        }
    }
    None
}

/// True when `body` has a quoted passage: two quotation marks at least ten characters apart.
fn has_quote(body: &str) -> bool {
    let is_q = |c: char| matches!(c, '"' | '\'' | '“' | '”' | '‘' | '’' | '«' | '»');
    match (body.find(is_q), body.rfind(is_q)) {
        (Some(a), Some(b)) => b > a && body[a..b].chars().count() > 10,
        _ => false,
    }
}

/// Domains whose URLs are treated as official.
const OFFICIAL_SUFFIXES: &[&str] = &[".gov.vn", ".edu.vn", ".gov", ".edu"];

/// True for a host on an official domain.
pub fn is_official_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    OFFICIAL_SUFFIXES
        .iter()
        .any(|s| h.ends_with(s) || h == s[1..])
}

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
        return "logit of the base model's spam score, on Vietnamese text only".into();
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

fn index_of(name: &str) -> Option<usize> {
    SIGNAL_INDEX.by_name.get(name).copied()
}

fn lexicon_index_of(code: &str) -> Option<usize> {
    SIGNAL_INDEX.by_lexicon_code.get(code).copied()
}

/// The signal vector of one comment, with a detail per present signal (the phrase, the host, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// One value per [`signal_names`] entry.
    pub values: Vec<f64>,
    /// What made each signal fire (empty when absent).
    pub details: Vec<String>,
}

/// The comment as the combiner sees it: the cleaned form fields, the shipped lexicon hits that apply, and how
/// many invisible characters the submitted text had before clean-up.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub text: CommentText<'a>,
    pub lexicon: &'a [Hit],
    pub invisible: u32,
    /// Names of the signal features the base model's extraction already found in `text` (see
    /// [`Model::score_with_signals`]), or `None` to extract them here (same code, same names).
    pub signals: Option<&'a [String]>,
    /// The lexicon skeleton (spaced form) of title and body if already built (see `comment::prepare`), or `None`
    /// to build it here.
    pub skeleton: Option<&'a str>,
}

/// Extractor settings for the rule signals only (no n-grams): independent of the model's configuration.
static SIGNAL_EXTRACTOR: LazyLock<Extractor> = LazyLock::new(|| {
    Extractor::new(FeatureConfig {
        hash_bits: 24,
        word_bigrams: false,
        char_ngram_min: 0,
        char_ngram_max: 0,
        char_ngrams_on_shadow: true,
        char_ngram_max_word_chars: 0,
        signals: true,
        signal_value_pct: 100,
    })
});

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::with_signal_names());
}

/// Invisible characters (zero-width spaces, BOM, soft hyphens, ...) in the submitted fields, counted before
/// clean-up removes them.
pub fn invisible_count<S: AsRef<str>>(fields: &[S]) -> u32 {
    let n: usize = fields
        .iter()
        .map(|f| {
            f.as_ref()
                .chars()
                .filter(|&c| crate::text::normalize::is_invisible(c))
                .count()
        })
        .sum();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Computes the signal vector for `e` given the base model's score.
pub fn observe(model_score: f32, e: &Evidence<'_>) -> Observed {
    let names = signal_names();
    let mut values = vec![0f64; names.len()];
    let mut details = vec![String::new(); names.len()];
    let p = f64::from(model_score).clamp(1e-9, 1.0 - 1e-9);
    values[0] = (p / (1.0 - p)).ln().clamp(-LOGIT_CLAMP, LOGIT_CLAMP);
    details[0] = format!("base model score {model_score:.3}");
    for h in e.lexicon {
        if let Some(i) = lexicon_index_of(&h.code) {
            values[i] = 1.0;
            details[i].clone_from(&h.phrase);
        }
    }
    if let Some(h) = e
        .lexicon
        .iter()
        .find(|h| h.severity == crate::lexicon::Severity::Block)
        && let Some(i) = index_of("lexicon_block")
    {
        values[i] = 1.0;
        details[i] = format!("{}: {}", h.code, h.phrase);
    }
    let built;
    let spaced: &str = match e.skeleton {
        Some(s) => s,
        None => {
            built = crate::lexicon::skeleton(&format!("{}\n{}", e.text.title, e.text.body)).spaced;
            &built
        }
    };
    let vietnamese = is_vietnamese(e.text.title, e.text.body, spaced);
    if vietnamese {
        values[1] = values[0];
        details[1] = details[0].clone();
    }
    let mut set = |name: &str, detail: &str| {
        if let Some(i) = index_of(name) {
            values[i] = 1.0;
            if details[i].is_empty() {
                details[i] = detail.to_string();
            }
        }
    };
    if let Some(rate) =
        rate_per_day_or_week(e.text.body).or_else(|| rate_per_day_or_week(e.text.title))
    {
        set("rate_per_day_or_week", &rate);
    }
    if has_quote(e.text.body) {
        set("quoted_text", "");
    }
    if vietnamese {
        set("vietnamese_text", "");
    }
    if let Some(w) = warning_term(spaced) {
        set("scam_warning_words", w);
    }
    for (field, text) in [
        ("body", e.text.body),
        ("title", e.text.title),
        ("name", e.text.name),
    ] {
        for chunk in text.split_whitespace() {
            if let Some(host) = reserved_host(chunk) {
                set("url", field);
                set("url_other_domain", &host);
                if field != "body" {
                    set("url_in_name_or_title", field);
                }
            }
        }
    }
    if e.invisible > 0 {
        set("invisible_chars", &format!("{} removed", e.invisible));
    }
    let mut signal = |n: &str| {
        let in_head = n.ends_with("-in-title") || n.ends_with("-in-name");
        let base = n
            .strip_suffix("-in-title")
            .or_else(|| n.strip_suffix("-in-name"))
            .unwrap_or(n);
        let field = if n.ends_with("-in-title") {
            "title"
        } else if n.ends_with("-in-name") {
            "name"
        } else {
            "body"
        };
        if let Some(host) = n.strip_prefix("url-domain:") {
            if is_official_host(host) {
                set("url_official_domain", host);
            } else {
                set("url_other_domain", host);
            }
            return;
        }
        match base {
            "url" | "url:2+" => {
                set("url", field);
                if in_head {
                    set("url_in_name_or_title", field);
                }
            }
            "url-shortener" => set("url_shortener", field),
            "phone" | "phone-vn" | "phone-obfuscated" => {
                if in_head {
                    set("phone_in_name_or_title", field);
                } else {
                    set("phone_in_body", field);
                }
                if base == "phone-vn" {
                    set("phone_mobile", field);
                }
                if base == "phone-obfuscated" {
                    set("phone_obfuscated", field);
                }
            }
            "phone-field:valid" | "phone-field:invalid" => set("phone_field", base),
            "at-handle" | "email" => set("handle_or_email", field),
            "spaced-letters" => set("spaced_letters", field),
            "leetspeak" => set("leetspeak", field),
            "homoglyph" => set("homoglyph", field),
            "invisible-chars" => set("invisible_chars", field),
            "money-amount" | "currency" => set("money_amount", field),
            "len:1-19" => set("short_body", base),
            "len:200-399" | "len:400+" => set("long_body", base),
            chat if chat.starts_with("chat:") => {
                let app = &chat["chat:".len()..];
                if in_head {
                    set("chat_app_in_name_or_title", app);
                } else {
                    set("chat_app", app);
                }
            }
            _ => {}
        }
    };
    match e.signals {
        Some(names) => names.iter().for_each(|n| signal(n)),
        None => SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            SIGNAL_EXTRACTOR.extract(&e.text, &mut s);
            for (i, f) in s.feats.iter().enumerate() {
                if f.block == Block::Signal {
                    signal(s.name(i));
                }
            }
        }),
    }
    Observed { values, details }
}

/// Why a combiner could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CombinerError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid combiner file: {source}")]
    Decode {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "combiner file format {found}, this build reads format {expected}; refit with `moderato combiner fit`"
    )]
    Format { found: u32, expected: u32 },
    #[error(
        "combiner signals {found:?} differ from this build's {expected:?}; refit with `moderato combiner fit`"
    )]
    SignalsVersion { found: String, expected: String },
    #[error(
        "combiner was fitted for base model {fitted_for}, but the model is {model}; refit with \
         `moderato combiner fit --model <dir>` or remove combiner.json"
    )]
    BaseModel { fitted_for: String, model: String },
    #[error(
        "combiner has signals this build does not compute: {0}; refit with `moderato combiner fit`"
    )]
    UnknownSignals(String),
    #[error("invalid combiner: {0}")]
    Invalid(String),
}

/// One fitted weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalWeight {
    pub name: String,
    pub weight: f64,
    /// How many fitting rows had the signal (for the logit: rows with a nonzero logit).
    pub rows_with_signal: usize,
    pub description: String,
}

/// Recommended policy thresholds on the combined probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recommended {
    /// Publish below this probability.
    pub approve_below: f64,
    /// Reject at or above this probability.
    pub reject_at: f64,
    pub note: String,
}

/// What the combiner was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedOn {
    pub data: String,
    /// sha256 of the data file.
    pub data_sha256: String,
    pub split: String,
    pub rows: usize,
    pub spam: usize,
    pub ham: usize,
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub rows: usize,
    pub mean_predicted: f64,
    pub observed_spam: f64,
}

/// Cross-validation of the regularisation strength and of the calibration, on the fitting rows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvReport {
    pub folds: usize,
    /// (alpha, mean log-loss of the out-of-fold predictions); the smallest loss is chosen.
    pub alpha_grid: Vec<(f64, f64)>,
    pub log_loss: f64,
    pub brier: f64,
    pub macro_f1_at_half: f64,
    pub spam_precision_at_reject: f64,
    pub spam_recall_at_reject: f64,
    pub ham_precision_at_approve: f64,
    pub reliability: Vec<ReliabilityBin>,
}

/// The `combiner.json` artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CombinerFile {
    pub format: u32,
    pub signals_version: String,
    pub description: String,
    /// Version of the model whose score feeds `model_logit`.
    pub base_model_version: String,
    /// Date of the fit (UTC, YYYY-MM-DD).
    pub fitted: String,
    pub fitted_on: FittedOn,
    /// L2 strength (linfa-logistic's `alpha`; the loss is summed over rows).
    pub alpha: f64,
    pub intercept: f64,
    pub weights: Vec<SignalWeight>,
    pub thresholds: Recommended,
    pub cv: CvReport,
}

/// A loaded combiner: the file plus its weights in this build's signal order.
#[derive(Debug, Clone)]
pub struct Combiner {
    file: CombinerFile,
    weights: Vec<f64>,
}

/// A combined probability and its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub score: f32,
    /// Present signals with their contribution (weight x value) to the logit, largest magnitude first.
    pub reasons: Vec<Reason>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Combiner {
    /// Checks `file` against this build and the base model version `model_version`.
    pub fn from_file(file: CombinerFile, model_version: &str) -> Result<Combiner, CombinerError> {
        if file.format != COMBINER_FORMAT {
            return Err(CombinerError::Format {
                found: file.format,
                expected: COMBINER_FORMAT,
            });
        }
        if file.signals_version != SIGNALS_VERSION {
            return Err(CombinerError::SignalsVersion {
                found: file.signals_version,
                expected: SIGNALS_VERSION.into(),
            });
        }
        if file.base_model_version != model_version {
            return Err(CombinerError::BaseModel {
                fitted_for: file.base_model_version,
                model: model_version.into(),
            });
        }
        let names = signal_names();
        let unknown: Vec<&str> = file
            .weights
            .iter()
            .filter(|w| !names.contains(&w.name))
            .map(|w| w.name.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(CombinerError::UnknownSignals(unknown.join(", ")));
        }
        let mut weights = vec![0f64; names.len()];
        let mut seen = vec![false; names.len()];
        for w in &file.weights {
            let i = index_of(&w.name).expect("checked above");
            if seen[i] {
                return Err(CombinerError::Invalid(format!(
                    "signal {} listed twice",
                    w.name
                )));
            }
            seen[i] = true;
            if !w.weight.is_finite() {
                return Err(CombinerError::Invalid(format!(
                    "weight of {} is not finite",
                    w.name
                )));
            }
            weights[i] = w.weight;
        }
        if !file.intercept.is_finite() {
            return Err(CombinerError::Invalid("intercept is not finite".into()));
        }
        let t = &file.thresholds;
        if !(0.0..=1.0).contains(&t.approve_below)
            || !(0.0..=1.0).contains(&t.reject_at)
            || t.approve_below > t.reject_at
        {
            return Err(CombinerError::Invalid(
                "thresholds must satisfy 0 <= approve_below <= reject_at <= 1".into(),
            ));
        }
        Ok(Combiner { file, weights })
    }

    /// Reads `path` and checks it against the base model version.
    pub fn load(path: &Path, model_version: &str) -> Result<Combiner, CombinerError> {
        let bytes = std::fs::read(path).map_err(|source| CombinerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: CombinerFile =
            serde_json::from_slice(&bytes).map_err(|source| CombinerError::Decode {
                path: path.display().to_string(),
                source,
            })?;
        Combiner::from_file(file, model_version)
    }

    /// The combiner in model directory `dir` for `model`, if the directory has one.
    pub fn load_for(dir: &Path, model: &Model) -> Result<Option<Combiner>, CombinerError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        Combiner::load(&path, model.version()).map(Some)
    }

    /// The artifact.
    pub fn file(&self) -> &CombinerFile {
        &self.file
    }

    /// The combined probability of a signal vector.
    pub fn probability(&self, values: &[f64]) -> f64 {
        let z = self.file.intercept
            + self
                .weights
                .iter()
                .zip(values)
                .map(|(w, v)| w * v)
                .sum::<f64>();
        sigmoid(z)
    }

    /// Combines the base model's score with the rule signals of `e`.
    pub fn combine(&self, model_score: f32, e: &Evidence<'_>) -> Combined {
        let o = observe(model_score, e);
        let score = self.probability(&o.values) as f32;
        let names = signal_names();
        let mut reasons: Vec<Reason> = Vec::new();
        for (i, (&v, &w)) in o.values.iter().zip(&self.weights).enumerate() {
            // The model's score is always listed: it marks a decision made by the combiner.
            if v == 0.0 && i != 0 {
                continue;
            }
            let name = &names[i];
            let contribution = (w * v) as f32;
            let detail = &o.details[i];
            let r = if i == 0 {
                Reason {
                    code: MODEL_SCORE.into(),
                    detail: detail.clone(),
                    contribution,
                    kind: ReasonKind::ModelFeature,
                }
            } else if let Some(code) = name.strip_prefix(LEX_PREFIX) {
                Reason {
                    code: code.to_string(),
                    detail: detail.clone(),
                    contribution,
                    kind: ReasonKind::Lexicon,
                }
            } else {
                Reason {
                    code: name.to_ascii_uppercase(),
                    detail: if detail.is_empty() {
                        describe(name)
                    } else {
                        format!("{}: {detail}", describe(name))
                    },
                    contribution,
                    kind: ReasonKind::Rule,
                }
            };
            reasons.push(r);
        }
        reasons.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        Combined { score, reasons }
    }
}

#[cfg(test)]
mod tests {
    use super::fit::{FitOptions, fit, load_rows};
    use super::*;
    use crate::comment::classify;
    use crate::policy::document::Policy;
    use crate::review::Status;
    use crate::scoring::prepare;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn base_model() -> Model {
        Model::load(&root().join("models/default")).unwrap()
    }

    /// The shipped model with its combiner, as the server loads it.
    fn shipped_model() -> crate::scoring::Scorer {
        crate::scoring::Scorer::load(&root().join("models/default")).unwrap()
    }

    fn fitted(model: &Model) -> CombinerFile {
        let data = root().join("data/vi-dev/comments.csv");
        let rows = load_rows(data.to_str().unwrap(), "dev").unwrap();
        let on = FittedOn {
            data: "data/vi-dev/comments.csv".into(),
            data_sha256: String::new(),
            split: "dev".into(),
            rows: rows.len(),
            spam: rows.iter().filter(|r| r.spam).count(),
            ham: rows.iter().filter(|r| !r.spam).count(),
        };
        let opts = FitOptions {
            alphas: vec![0.3, 1.0, 3.0],
            ..FitOptions::default()
        };
        fit(model, &rows, on, "2026-01-01".into(), &opts).unwrap().0
    }

    fn score(c: &Combiner, name: &str, title: &str, body: &str) -> f32 {
        let hits = prepare(name, title, body).lexicon;
        c.combine(
            0.2,
            &Evidence {
                text: CommentText {
                    name,
                    phone: "",
                    title,
                    body,
                },
                lexicon: &hits,
                invisible: 0,
                signals: None,
                skeleton: None,
            },
        )
        .score
    }

    #[test]
    fn warning_terms_match_whole_words_anywhere_in_the_skeleton() {
        assert_eq!(warning_term("canh giac nhe moi nguoi"), Some("canh giac"));
        assert_eq!(warning_term("toi bi du vao nhom"), Some("bi du"));
        assert_eq!(warning_term("chau toi bi lua"), Some("bi lua"));
        assert_eq!(warning_term("bi luat phat"), None);
        assert_eq!(warning_term("abi lua"), None);
        assert_eq!(warning_term("xcanh giac"), None);
        // An overlapping non-word match does not hide a word match that follows it.
        assert_eq!(warning_term("abi lua dao"), Some("lua dao"));
        assert_eq!(warning_term("giamao danh"), None);
        assert_eq!(warning_term(""), None);
    }

    #[test]
    fn a_rate_per_day_or_week_is_found_in_its_written_forms_and_a_yearly_rate_is_not() {
        let found = |t: &str| rate_per_day_or_week(t);
        assert_eq!(found("lãi 1,2%/ngày, rút gốc"), Some("1,2%/ngay".into()));
        assert_eq!(found("LÃI 2% MỖI NGÀY"), Some("2%/ngay".into()));
        assert_eq!(found("lợi nhuận 8 % / tuần"), Some("8%/tuan".into()));
        assert_eq!(found("lãi 5% hàng tuần."), Some("5%/tuan".into()));
        assert_eq!(found("earn 3% a day"), Some("3%/day".into()));
        assert_eq!(found("lai 0.5%/ngay"), Some("0.5%/ngay".into()));
        assert_eq!(found("lãi 2%/ngày."), Some("2%/ngay".into()));
        assert_eq!(found("lãi suất 4,7%/năm"), None);
        assert_eq!(found("lãi 1%/tháng"), None);
        assert_eq!(found("tăng 30% trong 2 ngày"), None);
        // A bare period, or a per word that is also something else, is not a rate.
        assert_eq!(found("giảm 50% ngay hôm nay"), None);
        assert_eq!(found("lãi 2% ngày"), None);
        assert_eq!(found("Giảm 50% ngày 8/3"), None);
        assert_eq!(found("Chuẩn 100% a Tuấn ơi"), None);
        assert_eq!(found("Giảm 50% ạ. Ngày mai hết hàng"), None);
        assert_eq!(found("Giảm 50% mới ngày đầu đã hết"), None);
        assert_eq!(found("Giảm 50% 1 ngày duy nhất"), None);
        assert_eq!(found("lai 2% moi ngay"), None);
        assert_eq!(found("100%"), None);
        assert_eq!(found("%/ngày"), None);
        assert_eq!(found("abc%ngày"), None);
        // Many '%' in a long text: each looks at a bounded window (this would take minutes otherwise).
        let long = "1%".repeat(50_000);
        assert_eq!(found(&long), None);
    }

    #[test]
    fn fitting_is_deterministic_and_a_betting_hit_with_a_url_scores_higher() {
        let model = base_model();
        let a = fitted(&model);
        let b = fitted(&model);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let names: Vec<&str> = a.weights.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            signal_names()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        let c = Combiner::from_file(a, model.version()).unwrap();
        let spam = score(
            &c,
            "Minh",
            "",
            "Trận này kèo thơm, vào nhà cái uy tín nhận thưởng tại https://w88vip.example",
        );
        let ham = score(&c, "Minh", "", "Trận này đội nhà đá hay, mong giữ phong độ");
        assert!(spam > ham, "{spam} <= {ham}");
        assert!(spam > 0.5, "{spam}");
    }

    #[test]
    fn a_combiner_for_another_model_or_with_unknown_signals_is_refused() {
        let model = base_model();
        let good = fitted(&model);
        let err = Combiner::from_file(good.clone(), "some-other-model").unwrap_err();
        assert!(matches!(err, CombinerError::BaseModel { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("some-other-model") && msg.contains(model.version()),
            "{msg}"
        );

        let mut unknown = good.clone();
        unknown.weights.push(SignalWeight {
            name: "lex:LEX_NOT_A_CATEGORY".into(),
            weight: 1.0,
            rows_with_signal: 0,
            description: String::new(),
        });
        let err = Combiner::from_file(unknown, model.version()).unwrap_err();
        assert!(err.to_string().contains("lex:LEX_NOT_A_CATEGORY"), "{err}");

        let mut old = good;
        old.signals_version = "moderato-combiner-signals-v0".into();
        assert!(matches!(
            Combiner::from_file(old, model.version()),
            Err(CombinerError::SignalsVersion { .. })
        ));
    }

    #[test]
    fn classify_uses_the_combined_probability_and_explains_rules_and_features() {
        let model = base_model();
        let file = fitted(&model);
        let model = crate::scoring::Scorer::base(model)
            .with_combiner(file)
            .unwrap();
        let p = Policy::default();
        let (score, status, reasons) = classify(
            &p,
            &model,
            u64::MAX,
            "Zalo 0912 345 678",
            "",
            "",
            "Nhà cái uy tín, nạp lần đầu nhận thưởng 100%, vào w88vip.example",
            0,
        );
        assert!(score >= p.reject_at, "{score} {reasons:?}");
        assert_eq!(status, Status::Rejected);
        assert!(
            reasons
                .iter()
                .any(|r| r.kind == ReasonKind::Lexicon && r.contribution > 0.0),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.kind == ReasonKind::Rule && r.code.starts_with("URL")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.code == "MODEL_FEATURE"),
            "{reasons:?}"
        );
        // Site blocked terms stay outright rejects.
        let blocked = Policy {
            blocked_terms: vec!["thời tiết".into()],
            ..Policy::default()
        };
        let (_, status, _) = classify(&blocked, &model, u64::MAX, "An", "", "", "Thời tiết đẹp", 0);
        assert_eq!(status, Status::Rejected);
    }

    #[test]
    fn signals_and_skeleton_from_earlier_passes_equal_computing_them_here() {
        let model = base_model();
        let data = root().join("data/vi-dev/comments.csv");
        let mut rows = load_rows(data.to_str().unwrap(), "").unwrap();
        rows.push(super::fit::Row {
            id: "en".into(),
            name: "Call 0912345678".into(),
            phone: "0912 345 678".into(),
            title: "FREE http://bit.ly/x".into(),
            body: "WIN £500 cash, text @winner on telegram, see www.prize.example/claim".into(),
            spam: true,
            hard: false,
        });
        for r in &rows {
            let text = CommentText {
                name: &r.name,
                phone: &r.phone,
                title: &r.title,
                body: &r.body,
            };
            let prepared = prepare(&r.name, &r.title, &r.body);
            // The lexicon sees the same skeleton as one pass over the joined fields would give.
            let joined = format!("{}\n{}\n{}", r.name, r.title, r.body);
            assert_eq!(
                prepared.lexicon,
                Lexicon::shipped().hits(&crate::lexicon::skeleton(&joined)),
                "{}",
                r.id
            );
            let hits = &prepared.lexicon;
            let (scored, names) = model.score_with_signals(&text, 0);
            let e = |signals, skeleton| Evidence {
                text,
                lexicon: hits,
                invisible: 0,
                signals,
                skeleton,
            };
            assert_eq!(
                observe(scored.score, &e(None, None)),
                observe(
                    scored.score,
                    &e(Some(&names), Some(&prepared.head_and_body_spaced))
                ),
                "{}",
                r.id
            );
        }
    }

    #[test]
    fn vietnamese_is_told_from_english_with_and_without_accents() {
        let vi = |t: &str| is_vietnamese("", t, &crate::lexicon::skeleton(t).spaced);
        assert!(vi("Đường Nguyễn Huệ kẹt xe"));
        assert!(vi("duong nay ko duoc sua a, nguoi dan kho qua"));
        assert!(!vi("WIN a FREE prize, call now to claim your reward"));
        assert!(!vi("Check out my channel, la la la"));
    }

    #[test]
    fn the_shipped_combiner_rejects_english_spam_and_publishes_vietnamese_ham() {
        let model = shipped_model();
        assert!(model.combiner().is_some());
        let p = Policy::default();
        let run = |body: &str| classify(&p, &model, u64::MAX, "Anna", "", "", body, 0);
        let (score, status, reasons) =
            run("WINNER!! You have won a FREE prize of 1000 cash, call 09061701461 now to claim");
        assert_eq!(status, Status::Rejected, "{score} {reasons:?}");
        let (score, status, reasons) =
            run("Cảm ơn phóng viên, mong thành phố sớm sửa đoạn đường này trước mùa mưa.");
        assert_eq!(status, Status::Published, "{score} {reasons:?}");
    }

    #[test]
    fn the_shipped_combiner_does_not_auto_reject_a_readers_bare_ib_but_rejects_the_pitch() {
        let model = shipped_model();
        let p = Policy::default();
        let run = |body: &str| classify(&p, &model, u64::MAX, "Thu Hà", "", "", body, 0);
        let (score, status, reasons) = run(
            "Chó nhà mình đi lạc ở khu cư xá Bắc Hải từ tối qua, lông vàng, đeo vòng cổ đỏ, tên Mực. Ai thấy \
             thì ib mình, mình hậu tạ. Cảm ơn mọi người.",
        );
        assert_ne!(status, Status::Rejected, "{score} {reasons:?}");
        assert!(
            reasons.iter().any(|r| r.code == "LEX_CONTACT_WORD"),
            "the hit is still explained: {reasons:?}"
        );
        let (score, status, reasons) = run(
            "Xả kho váy đầm giá sỉ chỉ từ 59k, freeship toàn quốc, ib zalo 0 9 1 2 . 3 4 5 . 6 7 8 xem mẫu nha",
        );
        assert_eq!(status, Status::Rejected, "{score} {reasons:?}");
    }

    #[test]
    fn the_shipped_combiner_holds_a_victims_story_that_quotes_a_pitch_and_weighs_a_daily_return() {
        let model = shipped_model();
        let p = Policy::default();
        let run = |body: &str| classify(&p, &model, u64::MAX, "Thu Hà", "", "", body, 0);
        // The previous combiner (signals v3, without "bị dụ" as a warning word) rejected this at 0.98.
        let (score, status, reasons) = run(
            "Chị họ tôi bị dụ ib zalo nhận việc chấm điểm khách sạn, làm ba nhiệm vụ đầu được trả tiền, tới lần \
             thứ tư bị bắt nạp 15 triệu rồi mất luôn.",
        );
        assert_ne!(status, Status::Rejected, "{score} {reasons:?}");
        assert!(
            reasons.iter().any(|r| r.code == "SCAM_WARNING_WORDS"),
            "{reasons:?}"
        );
        // The rate alone is one signal among many: it raises the score, it does not decide.
        let (plain, _, _) = run(
            "Quỹ đầu tư vàng trả lãi cao, vốn tối thiểu 5 triệu, rút lãi mỗi sáng, ai quan tâm nhắn mình.",
        );
        let (score, _, reasons) = run(
            "Quỹ đầu tư vàng trả 2,5%/ngày, vốn tối thiểu 5 triệu, rút lãi mỗi sáng, ai quan tâm nhắn mình.",
        );
        assert!(score > plain + 0.1, "{plain} -> {score}");
        let rate = reasons
            .iter()
            .find(|r| r.code == "RATE_PER_DAY_OR_WEEK")
            .unwrap_or_else(|| panic!("{reasons:?}"));
        assert!(rate.detail.contains("2,5%/ngay"), "{rate:?}");
    }

    #[test]
    fn signals_see_urls_phones_and_chat_in_every_field() {
        let o = observe(
            0.5,
            &Evidence {
                text: CommentText {
                    name: "Shop 0912345678",
                    phone: "",
                    title: "xem tại http://abc.example/x",
                    body: "Tin từ https://hcmcpv.org.vn và https://dichvucong.gov.vn/p, liên hệ zalo",
                },
                lexicon: &[],
                invisible: 2,
                signals: None,
                skeleton: None,
            },
        );
        let on = |n: &str| o.values[index_of(n).unwrap()] == 1.0;
        for n in [
            "url",
            "url_in_name_or_title",
            "url_official_domain",
            "url_other_domain",
            "phone_in_name_or_title",
            "phone_mobile",
            "chat_app",
            "invisible_chars",
        ] {
            assert!(on(n), "{n}: {o:?}");
        }
        assert!(!on("phone_in_body") && !on("spaced_letters"), "{o:?}");
        assert_eq!(o.values[0], 0.0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any text, in any field, gets a probability and reasons from the whole decision path (model, lexicon,
        /// combiner rules), the same twice, without a panic.
        #[test]
        fn the_decision_path_takes_any_text(
            name in "\\PC{0,40}",
            phone in "[0-9 +.]{0,14}",
            title in "\\PC{0,60}|[0-9%/ ngàyuầtmỗi.,]{0,40}",
            body in "\\PC{0,300}|[0-9%/ ngàyuầtmỗihàw.,:!?]{0,200}",
        ) {
            static MODEL: LazyLock<crate::scoring::Scorer> = LazyLock::new(shipped_model);
            let p = Policy::default();
            let a = classify(&p, &MODEL, u64::MAX, &name, &phone, &title, &body, 0);
            let b = classify(&p, &MODEL, u64::MAX, &name, &phone, &title, &body, 0);
            proptest::prop_assert!((0.0..=1.0).contains(&a.0), "{}", a.0);
            proptest::prop_assert_eq!(a.0, b.0);
            proptest::prop_assert_eq!(a.1, b.1);
            proptest::prop_assert_eq!(a.2, b.2);
        }
    }
}
