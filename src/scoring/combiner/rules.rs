//! The rule signals of one comment: the detectors only the combiner uses (scam-warning words, Vietnamese text,
//! reserved and official hosts, rates quoted per day, quotations) and [`observe`], which turns a comment's evidence
//! into the signal vector.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

use crate::classifier::CommentText;
use crate::classifier::features::{Block, Extractor, FeatureConfig, Scratch, shadow_of};
use crate::lexicon::{Hit, Lexicon, SCAM_WARNING};

use super::signals::{LOGIT_CLAMP, index_of, lexicon_index_of, signal_names};

/// The first scam-warning term (the lexicon's `context` category [`SCAM_WARNING`]) in `spaced` (a lexicon
/// skeleton: words separated by single spaces) as a whole word sequence, found in one pass over the text whatever
/// the number of terms.
pub(super) fn warning_term(spaced: &str) -> Option<&'static str> {
    static TERMS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(Lexicon::shipped().context_terms(SCAM_WARNING))
            .expect("the warning terms build an automaton")
    });
    crate::text::skeleton::whole_word_matches(&TERMS, spaced)
        .next()
        .map(|m| Lexicon::shipped().context_terms(SCAM_WARNING)[m.pattern().as_usize()].as_str())
}

/// Common Vietnamese words, accent-stripped, that are not English words (for text written with or without
/// diacritics: the language is decided on the accent-stripped words, so adding or stripping accents does not change
/// it).
const VI_WORDS: &[&str] = &[
    "khong", "duoc", "nguoi", "cua", "nhung", "voi", "nay", "thi", "cac", "mot", "minh", "nhieu",
    "lam", "roi", "chua", "vay", "nhe", "oi", "ko", "dc", "nhu", "cung", "dang", "duong", "ngay",
    "tien", "viec", "nuoc", "la", "co", "cho", "trong", "de", "da", "se", "ma", "khi", "ve", "di",
    "den", "tu", "ra", "vao", "len", "nen", "neu", "gi", "sao", "toi", "anh", "chi", "em", "nha",
    "qua", "rat", "lai", "moi", "hon", "thanh", "pho", "dan", "tai", "ho", "hoc", "nam", "thang",
    "gio", "xe", "cam", "ban", "thay", "nhan", "mua", "gia", "hay", "biet", "muon", "phai", "nhat",
    "bao", "cau", "xin", "cuoc", "song", "lien", "nguyen", "ngu", "tot", "dep", "nhanh", "trieu",
    "nghin", "dong", "uy", "tin", "hot", "ngan", "thu", "nhap", "ngoai",
];

/// Common English words whose accent-stripped form is not a common Vietnamese word ("the", "to", "in", "on", "my",
/// "a" are: thế, tờ, in, ơn, mỹ, à).
const EN_WORDS: &[&str] = &[
    "and",
    "you",
    "your",
    "with",
    "for",
    "from",
    "this",
    "that",
    "our",
    "is",
    "are",
    "of",
    "at",
    "now",
    "get",
    "here",
    "just",
    "only",
    "will",
    "have",
    "has",
    "more",
    "than",
    "free",
    "join",
    "click",
    "today",
    "order",
    "money",
    "win",
    "best",
    "what",
    "when",
    "we",
    "it",
    "be",
    "was",
    "were",
    "would",
    "could",
    "should",
    "been",
    "they",
    "their",
    "there",
    "which",
    "who",
    "how",
    "about",
    "into",
    "out",
    "up",
    "not",
    "all",
    "new",
    "by",
    "per",
    "off",
    "if",
    "or",
    "us",
    "earn",
    "make",
    "call",
    "visit",
    "start",
    "home",
    "work",
    "week",
    "daily",
    "guaranteed",
    "bonus",
    "offer",
    "online",
    "please",
    "check",
];

/// The language evidence of one field: (distinct common Vietnamese words, distinct common English words) among its
/// accent-stripped skeleton words (`spaced`: `lexicon::skeleton`'s spaced form). Distinct, so that a repeated word
/// ("la la la") counts once.
fn word_votes(spaced: &str) -> (usize, usize) {
    // Word -> (common Vietnamese, common English), under a byte hash cheaper than the default for short words.
    static WORDS: LazyLock<HashMap<&str, (bool, bool), Fnv>> = LazyLock::new(|| {
        let mut m: HashMap<&str, (bool, bool), Fnv> = HashMap::default();
        for w in VI_WORDS {
            m.entry(w).or_default().0 = true;
        }
        for w in EN_WORDS {
            m.entry(w).or_default().1 = true;
        }
        m
    });
    let longest = VI_WORDS
        .iter()
        .chain(EN_WORDS)
        .map(|w| w.len())
        .max()
        .unwrap_or(0);
    let mut vi: Vec<&str> = Vec::new();
    let mut en: Vec<&str> = Vec::new();
    for w in spaced.split(' ') {
        if w.len() > longest {
            continue;
        }
        let Some(&(is_vi, is_en)) = WORDS.get(w) else {
            continue;
        };
        if is_vi && !vi.contains(&w) {
            vi.push(w);
        }
        if is_en && !en.contains(&w) {
            en.push(w);
        }
    }
    (vi.len(), en.len())
}

/// FNV-1a: a byte hash for the short word sets here (their keys are fixed; nothing here is keyed by user input
/// that could be chosen to collide, beyond slowing one lookup).
#[derive(Default, Clone, Copy)]
struct Fnv;

impl std::hash::BuildHasher for Fnv {
    type Hasher = FnvHasher;
    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// True for a letter only Vietnamese uses.
fn vi_letter(c: char) -> bool {
    matches!(
        c,
        'ă' | 'â' | 'đ' | 'ê' | 'ô' | 'ơ' | 'ư' | 'Ă' | 'Â' | 'Đ' | 'Ê' | 'Ô' | 'Ơ' | 'Ư'
    ) || ('\u{1EA0}'..='\u{1EF9}').contains(&c)
}

/// True when the comment's body is Vietnamese (the title decides only when the body has no words). The decision is
/// made per field so that a Vietnamese title over an English body does not make the body Vietnamese, and on
/// accent-stripped words so that it holds with or without diacritics: two common Vietnamese words and more of them
/// than common English ones, or a letter only Vietnamese uses and no more English words than Vietnamese ones.
/// `spaced` is the title's and the body's skeletons (spaced forms) if already built (`None` builds the one needed).
pub fn body_is_vietnamese(title: &str, body: &str, spaced: Option<(&str, &str)>) -> bool {
    let of_body = body.chars().any(char::is_alphanumeric);
    let field = if of_body { body } else { title };
    let built;
    let spaced = match spaced {
        Some((t, b)) => {
            if of_body {
                b
            } else {
                t
            }
        }
        None => {
            built = crate::text::skeleton::skeleton(field).spaced;
            built.as_str()
        }
    };
    let (vi, en) = word_votes(spaced);
    (vi >= 2 && vi > en) || (vi >= en && field.chars().any(vi_letter))
}

/// Top-level domains reserved for documentation and tests (RFC 2606). The classifier's URL parser does not
/// know them; the development set writes its made-up spam domains with them, so the combiner counts them.
const RESERVED_TLDS: &[&str] = &["example", "test", "invalid", "localhost"];

/// The host of a bare `name.example/...` chunk under a reserved top-level domain (look-alike letters folded).
pub(crate) fn reserved_host(chunk: &str) -> Option<String> {
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

/// A chunk as a URL reader should see it: look-alike letters folded, accents stripped, lowercased (a host has
/// neither; a spammer adds them to hide one).
fn fold_chunk(chunk: &str) -> String {
    chunk
        .chars()
        .map(|c| {
            let c = crate::text::normalize::fold_homoglyph(c).unwrap_or(c);
            let c = c.to_lowercase().next().unwrap_or(c);
            match c {
                'đ' => 'd',
                _ => crate::text::normalize::strip_accent(c),
            }
        })
        .filter(|&c| !crate::text::normalize::is_invisible(c))
        .collect()
}

/// The host of one chunk: a URL the classifier's parser reads, or a bare host under a reserved domain, after
/// [`fold_chunk`].
fn chunk_host(chunk: &str) -> Option<String> {
    // Folding maps letters to letters and drops invisible characters: a chunk without '.' or ':' has no host
    // after it either, and most chunks are words.
    if !chunk.contains(['.', ':']) {
        return None;
    }
    // Nor does a word whose only '.' or ':' end it among other ASCII punctuation ("đường.", "vậy:"): folding
    // leaves ASCII as it is, and the trim below drops that tail.
    let head = chunk.trim_end_matches(|c: char| c.is_ascii_punctuation() && c != '/');
    if !head.contains(['.', ':']) {
        return None;
    }
    let folded = fold_chunk(chunk);
    let trimmed = folded.trim_matches(|c: char| !(c.is_alphanumeric() || c == '/'));
    if !trimmed.contains(['.', ':']) {
        return None;
    }
    crate::text::detect::url_host(trimmed)
        .map(str::to_string)
        .or_else(|| reserved_host(trimmed))
}

/// The hosts of the URLs in `text`, each once, in order: every whitespace-separated chunk (look-alikes folded,
/// accents stripped), and every run of four or more single characters joined ("v a y . e x a m p l e").
pub(crate) fn hosts_in(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut run = String::new();
    let mut run_len = 0usize;
    for chunk in text.split_whitespace().chain(std::iter::once("")) {
        let single = chunk.chars().count() == 1;
        if !single {
            if run_len >= 4
                && let Some(h) = chunk_host(&run)
            {
                found.push(h);
            }
            run.clear();
            run_len = 0;
            if let Some(h) = chunk_host(chunk) {
                found.push(h);
            }
        } else {
            run.push_str(chunk);
            run_len += 1;
        }
    }
    let mut out: Vec<String> = Vec::new();
    for h in found {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// The first percentage in `text` quoted per day or per week, as `<number>%/<period>` with the period
/// accent-stripped. Banks and funds quote rates per month or per year; a daily or weekly rate is a scam's promise, or
/// a reader describing a loan shark. Two written forms count: a slash ("2%/ngày", "1,2 % / ngay", "30%/tuần",
/// "3%/day"), and a "per" word with its accents ("2% mỗi ngày", "5% hàng tuần", "3% a day", "1% per week"). A bare
/// period does not ("giảm 50% ngày 8/3" is a date, "50% ngay" is "50% off, now"), nor do the accentless or
/// ambiguous per words ("moi" is also "mới", "a" also "anh", "1 ngày" also "for one day").
pub(super) fn rate_per_day_or_week(text: &str) -> Option<String> {
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
        let window: String = rest[..end]
            .chars()
            .map(|c| crate::text::normalize::fold_homoglyph(c).unwrap_or(c))
            .collect::<String>()
            .to_lowercase();
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
pub(super) fn has_quote(body: &str) -> bool {
    let is_q = |c: char| matches!(c, '"' | '\'' | '“' | '”' | '‘' | '’' | '«' | '»');
    match (body.find(is_q), body.rfind(is_q)) {
        (Some(a), Some(b)) => b > a && body[a..b].chars().count() > 10,
        _ => false,
    }
}

/// True for a host whose links are ordinary in comments: on the shipped list of Vietnamese news, public and
/// education domains (`lexicon/vi-links.toml`, official suffixes included) or on the site's `allowed_domains`.
pub fn is_known_host(host: &str, allowed: &[String]) -> bool {
    crate::lexicon::links::KnownDomains::shipped().contains(host)
        || crate::lexicon::links::listed(host, allowed)
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
    /// The skeletons (spaced forms) of the title and of the body on their own if already built, or `None` to
    /// build the one the language is decided on here.
    pub field_spaced: Option<(&'a str, &'a str)>,
    /// The hosts of the URLs in name, title and body (`hosts_in` of each) if already found, or `None` to find
    /// them here.
    pub hosts: Option<&'a [Vec<String>; 3]>,
    /// The site policy's `allowed_domains`: links to them weigh as links to the shipped known domains.
    pub allowed_domains: &'a [String],
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
            built = crate::text::skeleton::skeleton(&format!("{}\n{}", e.text.title, e.text.body))
                .spaced;
            &built
        }
    };
    let vietnamese = body_is_vietnamese(e.text.title, e.text.body, e.field_spaced);
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
    if let Some(rate) = rate_per_day_or_week(e.text.body)
        .or_else(|| rate_per_day_or_week(e.text.title))
        .or_else(|| {
            crate::text::detect::join_spaced_runs(&format!("{}\n{}", e.text.title, e.text.body))
                .and_then(|j| rate_per_day_or_week(&j))
        })
    {
        set("rate_per_day_or_week", &rate);
    }
    if has_quote(e.text.body) {
        set("quoted_text", "");
    }
    if vietnamese {
        set("vietnamese_body", "");
    }
    if let Some(w) = warning_term(spaced) {
        set("scam_warning_words", w);
    }
    let found;
    let hosts: &[Vec<String>; 3] = match e.hosts {
        Some(h) => h,
        None => {
            found = [e.text.name, e.text.title, e.text.body].map(hosts_in);
            &found
        }
    };
    for (field, i) in [("body", 2), ("title", 1), ("name", 0)] {
        for host in &hosts[i] {
            set("url", field);
            if is_known_host(host, e.allowed_domains) {
                set("url_known_domain", host);
            } else {
                set("url_other_domain", host);
            }
            if crate::text::detect::SHORTENERS.contains(&host.as_str()) {
                set("url_shortener", field);
            }
            if field != "body" {
                set("url_in_name_or_title", field);
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
            if is_known_host(host, e.allowed_domains) {
                set("url_known_domain", host);
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
