//! Submissions: validation of the portal's form (every violation at once), text clean-up (NFC, invisible
//! characters removed), the site policy's decision, and the flow that scores a comment and admits it in one store
//! step (idempotency, limits, captcha, record, queue entry, decision event).

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::captcha::{Captchas, MAX_ANSWER_CHARS, is_challenge_id};
use crate::classifier::normalize::{for_each_nfc, is_invisible, strip_accent};
use crate::classifier::{CommentText, Model};
use crate::clock::Clock;
use crate::rate_limit::{Identifiers, LimitRule, Refusal, Subjects, checks_for, judge};
use crate::review::{CommentRecord, Reason, ReasonKind, Status};
use crate::store::{Admission, Admit, Keys, Store, StoreError};

/// Maximum field lengths, in characters after clean-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldLimits {
    /// Họ tên.
    pub name_max: u32,
    /// Tiêu đề.
    pub title_max: u32,
    /// Nội dung.
    pub body_max: u32,
}

impl Default for FieldLimits {
    fn default() -> Self {
        Self {
            name_max: 100,
            title_max: 200,
            body_max: 5000,
        }
    }
}

/// How a site decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Version recorded with every decision.
    pub version: u64,
    /// Scores below this are published.
    pub approve_below: f32,
    /// Scores at or above this are rejected.
    pub reject_at: f32,
    /// Hold everything for review.
    pub premoderate_all: bool,
    /// Phrases that reject outright (matched accent- and case-insensitively, on word boundaries).
    pub blocked_terms: Vec<String>,
    /// Phrases that hold for review.
    pub suspect_terms: Vec<String>,
    /// Maximum field lengths.
    pub field_limits: FieldLimits,
    /// How long comments (rejected ones included) are kept, days.
    pub retention_days: u32,
    /// How long an idempotency key is remembered, seconds.
    pub idempotency_ttl_seconds: u32,
    /// Whether SubmitComment requires a solved captcha.
    pub captcha_required: bool,
    /// Submission rate limits.
    pub rate_limits: Vec<LimitRule>,
    /// Pinned classifier model version; empty uses the active one.
    pub model_version: String,
    /// Apply the shipped Vietnamese spam lexicon: its block categories reject, its suspect categories hold; with
    /// a combiner its categories enter the combined probability instead (see [`classify`]).
    pub use_lexicon: bool,
    /// Bootstrap mode: hold everything until the site has this many moderator labels (0: off).
    pub bootstrap_labels: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: 1,
            approve_below: 0.5,
            reject_at: 0.9,
            premoderate_all: false,
            blocked_terms: Vec::new(),
            suspect_terms: Vec::new(),
            field_limits: FieldLimits::default(),
            retention_days: 30,
            idempotency_ttl_seconds: 86_400,
            captcha_required: true,
            rate_limits: Vec::new(),
            model_version: String::new(),
            use_lexicon: true,
            bootstrap_labels: 0,
        }
    }
}

impl Policy {
    /// Appends every problem to `errs`, each prefixed with `at`.
    pub fn problems(&self, at: &str, errs: &mut Vec<String>) {
        let ok = |x: f32| (0.0..=1.0).contains(&x);
        if !ok(self.approve_below) {
            errs.push(format!("{at}.approve_below: must be between 0 and 1"));
        }
        if !ok(self.reject_at) {
            errs.push(format!("{at}.reject_at: must be between 0 and 1"));
        }
        if self.approve_below > self.reject_at {
            errs.push(format!("{at}.approve_below: must not exceed reject_at"));
        }
        let l = &self.field_limits;
        for (name, v, max) in [
            ("name_max", l.name_max, 1000),
            ("title_max", l.title_max, 2000),
            ("body_max", l.body_max, 100_000),
        ] {
            if v == 0 || v > max {
                errs.push(format!(
                    "{at}.field_limits.{name}: must be between 1 and {max}"
                ));
            }
        }
        if self.retention_days == 0 || self.retention_days > 3650 {
            errs.push(format!("{at}.retention_days: must be between 1 and 3650"));
        }
        if self.idempotency_ttl_seconds < 60 || self.idempotency_ttl_seconds > 30 * 86_400 {
            errs.push(format!(
                "{at}.idempotency_ttl_seconds: must be between 60 and 2592000"
            ));
        }
        crate::rate_limit::submission_rule_problems(
            &format!("{at}.rate_limits"),
            &self.rate_limits,
            errs,
        );
        for (i, t) in self
            .blocked_terms
            .iter()
            .chain(&self.suspect_terms)
            .enumerate()
        {
            if fold(t).is_empty() {
                errs.push(format!("{at}: term {i} ({t:?}) has no letters or digits"));
            }
        }
    }

    /// The decision for a comment with spam probability `score` and text `t` (see [`prepare`]).
    pub fn decide(&self, score: f32, t: &Prepared) -> (Status, Vec<Reason>) {
        let folded = if self.blocked_terms.is_empty() && self.suspect_terms.is_empty() {
            String::new()
        } else {
            fold(&t.joined)
        };
        let folded = folded.as_str();
        let rule = |code: &str, detail: String| Reason {
            code: code.to_string(),
            detail,
            contribution: 0.0,
            kind: ReasonKind::Rule,
        };
        let lexicon: &[crate::lexicon::Hit] = if self.use_lexicon { &t.lexicon } else { &[] };
        let lex_reason = |h: &crate::lexicon::Hit| Reason {
            code: h.code.clone(),
            detail: h.phrase.clone(),
            contribution: 0.0,
            kind: ReasonKind::Lexicon,
        };
        let blocked = term_hits(folded, &self.blocked_terms);
        let lex_blocked: Vec<_> = lexicon
            .iter()
            .filter(|h| h.severity == crate::lexicon::Severity::Block)
            .collect();
        if !blocked.is_empty() || !lex_blocked.is_empty() {
            let reasons = blocked
                .into_iter()
                .map(|t| rule("BLOCKED_TERM", t.to_string()))
                .chain(lex_blocked.into_iter().map(lex_reason))
                .collect();
            return (Status::Rejected, reasons);
        }
        let mut reasons = Vec::new();
        let by_score = if score >= self.reject_at {
            reasons.push(rule(
                "SCORE_AT_OR_ABOVE_REJECT",
                format!("score {score:.3} >= reject_at {:.3}", self.reject_at),
            ));
            Status::Rejected
        } else if score < self.approve_below {
            reasons.push(rule(
                "SCORE_BELOW_APPROVE",
                format!("score {score:.3} < approve_below {:.3}", self.approve_below),
            ));
            Status::Published
        } else {
            reasons.push(rule(
                "SCORE_BETWEEN_THRESHOLDS",
                format!(
                    "approve_below {:.3} <= score {score:.3} < reject_at {:.3}",
                    self.approve_below, self.reject_at
                ),
            ));
            Status::PendingReview
        };
        let suspect = term_hits(folded, &self.suspect_terms);
        let mut status = by_score;
        let held = suspect
            .into_iter()
            .map(|t| rule("SUSPECT_TERM", t.to_string()))
            .chain(lexicon.iter().map(lex_reason));
        for r in held {
            reasons.push(r);
            if status == Status::Published {
                status = Status::PendingReview;
            }
        }
        if self.premoderate_all && status != Status::Rejected {
            reasons.push(rule("PREMODERATION", "the site holds every comment".into()));
            status = Status::PendingReview;
        }
        if u64::from(self.bootstrap_labels) > t.site_labels && status != Status::Rejected {
            reasons.push(rule(
                "BOOTSTRAP",
                format!(
                    "new site: held until moderators have labelled {} comments ({} so far)",
                    self.bootstrap_labels, t.site_labels
                ),
            ));
            status = Status::PendingReview;
        }
        (status, reasons)
    }
}

/// A comment's text in the forms the policy matches terms in, and the site's label count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Name, title and body joined by newlines (folded by [`Policy::decide`] only when the policy has terms).
    pub joined: String,
    /// Shipped lexicon categories found in name, title and body.
    pub lexicon: Vec<crate::lexicon::Hit>,
    /// The lexicon skeleton (spaced form) of title and body, for the combiner's word signals.
    pub head_and_body_spaced: String,
    /// Moderator labels the site has (for bootstrap mode); `u64::MAX` when unknown or not needed.
    pub site_labels: u64,
}

/// Prepares name, title and body for [`Policy::decide`].
pub fn prepare(name: &str, title: &str, body: &str) -> Prepared {
    use crate::lexicon::{Skeleton, skeleton};
    // The skeleton of "name\ntitle\nbody" is the name's and the title-and-body's joined by a space (words never
    // cross a newline), so the combiner's title-and-body form comes without a second pass.
    let head = skeleton(&format!("{title}\n{body}"));
    let name_sk = skeleton(name);
    let lexicon = crate::lexicon::Lexicon::shipped();
    let hits = if name_sk.spaced.is_empty() {
        lexicon.hits(&head)
    } else if head.spaced.is_empty() {
        lexicon.hits(&name_sk)
    } else {
        lexicon.hits(&Skeleton {
            spaced: format!("{} {}", name_sk.spaced, head.spaced),
            compact: format!("{}{}", name_sk.compact, head.compact),
        })
    };
    Prepared {
        joined: format!("{name}\n{title}\n{body}"),
        lexicon: hits,
        head_and_body_spaced: head.spaced,
        site_labels: u64::MAX,
    }
}

/// Code of the reason that carries the base model's score inside a combined score; a recorded decision with it
/// was made on the combiner's probability.
pub const MODEL_SCORE: &str = "MODEL_SCORE";

/// Whether recorded `reasons` come from a decision on the combiner's probability.
pub fn is_combined(reasons: &[Reason]) -> bool {
    reasons.iter().any(|r| r.code == MODEL_SCORE)
}

/// [`prepare`] for replaying a recorded decision on its recorded score: when that score is the combiner's
/// probability (`combined`), the lexicon already acted through it, so its categories do not hold or reject again.
pub fn prepare_recorded(name: &str, title: &str, body: &str, combined: bool) -> Prepared {
    let mut t = prepare(name, title, body);
    if combined {
        t.lexicon.clear();
    }
    t
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

/// A fresh comment id: 128 random bits, hex (from the thread's CSPRNG, seeded from the OS: no system call per
/// id).
pub fn new_comment_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// One submission as the portal sent it.
#[derive(Debug, Clone, Default)]
pub struct SubmitInput {
    /// Site id (validated by the caller).
    pub site: String,
    /// Article id.
    pub thread_id: String,
    /// Client-chosen key.
    pub idempotency_key: String,
    /// Họ tên.
    pub name: String,
    /// Số điện thoại, optional.
    pub phone: String,
    /// E-mail, optional.
    pub email: String,
    /// Tiêu đề.
    pub title: String,
    /// Nội dung.
    pub body: String,
    /// Client IP literal.
    pub ip: String,
    /// Challenge id and answer, if sent.
    pub captcha: Option<(String, String)>,
}

/// The answer to a submission (also what a retry with the same key gets back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitOutput {
    /// Comment id.
    pub comment_id: String,
    /// Decision.
    pub status: Status,
    /// Spam probability.
    pub score: f32,
    /// Rules and features.
    pub reasons: Vec<Reason>,
    /// Model version.
    pub model_version: String,
    /// Policy version.
    pub policy_version: u64,
    /// Acceptance time, epoch ms.
    pub created_ms: u64,
    /// True for a replay.
    #[serde(default)]
    pub replayed: bool,
}

/// Why a submission was not accepted.
#[derive(Debug)]
pub enum SubmitError {
    /// Bad fields: (field path, problem), all of them.
    Invalid(Vec<(String, String)>),
    /// Wrong, unknown or used captcha.
    CaptchaInvalid,
    /// Expired captcha.
    CaptchaExpired,
    /// Over a limit.
    RateLimited(Refusal),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for SubmitError {
    fn from(e: StoreError) -> Self {
        SubmitError::Store(e)
    }
}

/// Everything a submission needs, shared by all requests.
#[derive(Clone)]
pub struct Comments {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Captcha answer hashing.
    pub captchas: Captchas,
    /// Identifier hashing.
    pub ids: Identifiers,
    /// Key builder.
    pub keys: Keys,
    /// Per-site policies and active models, kept current on every replica.
    pub policies: crate::policy::Policies,
    /// Time source for record timestamps.
    pub clock: Arc<dyn Clock>,
    /// Sites this replica has seen submissions for (their queue gauges are refreshed periodically).
    pub seen_sites: Arc<std::sync::RwLock<std::collections::BTreeSet<String>>>,
}

/// Scores a comment with `model` and decides it under `p`: (score, status, rule reasons then top features).
/// `invisible` is the number of invisible characters the submitted fields had before [`clean_text`].
/// Pure: no I/O, no side effects (Classify uses it as a dry run).
///
/// With a combiner in the model directory the score is the combiner's probability: the model's score, the
/// shipped lexicon categories (block and suspect alike; none when the policy disables the lexicon) and the
/// URL/phone/chat/obfuscation signals enter it with their fitted weights, and the policy's thresholds apply to
/// it; the lexicon then neither holds nor rejects on its own. Site `blocked_terms` still reject and
/// `suspect_terms` still hold. Without a combiner the model's score is used and lexicon block categories
/// reject, suspect ones hold.
#[allow(clippy::too_many_arguments)]
pub fn classify(
    p: &Policy,
    model: &Model,
    site_labels: u64,
    name: &str,
    phone: &str,
    title: &str,
    body: &str,
    invisible: u32,
) -> (f32, Status, Vec<Reason>) {
    let fields = CommentText {
        name,
        phone,
        title,
        body,
    };
    let (scored, signals) = if model.combiner().is_some() && model.feature_config().signals {
        let (scored, signals) = model.score_with_signals(&fields, TOP_FEATURES);
        (scored, Some(signals))
    } else {
        (model.score(&fields, TOP_FEATURES), None)
    };
    let mut text = prepare(name, title, body);
    text.site_labels = site_labels;
    let (score, status, mut reasons) = match model.combiner() {
        Some(c) => {
            let lexicon = std::mem::take(&mut text.lexicon);
            let combined = c.combine(
                scored.score,
                &crate::combiner::Evidence {
                    text: fields,
                    lexicon: if p.use_lexicon {
                        lexicon.as_slice()
                    } else {
                        &[]
                    },
                    invisible,
                    signals: signals.as_deref(),
                    skeleton: Some(&text.head_and_body_spaced),
                },
            );
            let (status, mut reasons) = p.decide(combined.score, &text);
            reasons.extend(combined.reasons);
            (combined.score, status, reasons)
        }
        None => {
            let (status, reasons) = p.decide(scored.score, &text);
            (scored.score, status, reasons)
        }
    };
    reasons.extend(scored.reasons.iter().map(|r| Reason {
        code: "MODEL_FEATURE".into(),
        detail: r.feature.clone(),
        contribution: r.contribution,
        kind: ReasonKind::ModelFeature,
    }));
    (score, status, reasons)
}

/// What a comment would get, scored and decided without being stored (Classify).
#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    /// Spam probability.
    pub score: f32,
    /// The decision.
    pub status: Status,
    /// Rules and features.
    pub reasons: Vec<Reason>,
    /// Model version that scored it.
    pub model_version: String,
    /// Policy version that decided it.
    pub policy_version: u64,
}

/// Per-site decision metrics: outcomes, rule reasons, and the score distribution (to see drift).
fn record_decision_metrics(site: &str, out: &SubmitOutput) {
    metrics::counter!(
        "moderato_decisions_total",
        "site" => site.to_string(),
        "status" => out.status.as_str()
    )
    .increment(1);
    for r in out
        .reasons
        .iter()
        .filter(|r| r.kind != ReasonKind::ModelFeature)
    {
        metrics::counter!(
            "moderato_decision_reasons_total",
            "site" => site.to_string(),
            "code" => r.code.clone()
        )
        .increment(1);
    }
    metrics::histogram!("moderato_score", "site" => site.to_string()).record(f64::from(out.score));
}

/// How many model features a decision reports.
pub const TOP_FEATURES: usize = 5;

fn printable_key(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

impl Comments {
    /// Scores and decides a comment under `site`'s policy and model, as a submission would be, storing nothing.
    pub async fn dry_run(
        &self,
        site: &str,
        name: &str,
        phone: &str,
        title: &str,
        body: &str,
    ) -> Result<DryRun, SubmitError> {
        let mut v = crate::validate::Violations::default();
        v.site("site", site);
        v.finish().map_err(|e| SubmitError::Invalid(e.0))?;
        let (p, model) = self.policies.for_site(site).await?;
        let site_labels = self.policies.site_labels(site, &p).await?;
        let (score, status, reasons) = classify(
            &p,
            &model,
            site_labels,
            &clean_text(name),
            &normalize_phone(phone).unwrap_or_default(),
            &clean_text(title),
            &clean_text(body),
            crate::combiner::invisible_count(&[name, title, body]),
        );
        Ok(DryRun {
            score,
            status,
            reasons,
            model_version: model.version().to_string(),
            policy_version: p.version,
        })
    }

    /// Validates, scores, decides and admits one comment.
    pub async fn submit(&self, input: SubmitInput) -> Result<SubmitOutput, SubmitError> {
        let (p, model) = self.policies.for_site(&input.site).await?;
        let p = &*p;
        let mut v: Vec<(String, String)> = Vec::new();
        let mut bad = |f: &str, m: String| v.push((f.to_string(), m));
        let name = clean_text(&input.name);
        let title = clean_text(&input.title);
        let body = clean_text(&input.body);
        let thread = input.thread_id.trim();
        if thread.is_empty() || thread.chars().count() > 128 || thread.chars().any(char::is_control)
        {
            bad(
                "thread_id",
                "must be 1-128 characters without control characters".into(),
            );
        }
        if !printable_key(&input.idempotency_key) {
            bad(
                "idempotency_key",
                "must be 1-128 printable ASCII characters without spaces".into(),
            );
        }
        for (field, text, max) in [
            ("author.name", &name, p.field_limits.name_max),
            ("title", &title, p.field_limits.title_max),
            ("body", &body, p.field_limits.body_max),
        ] {
            let n = text.chars().count();
            if n == 0 {
                bad(field, "is required".into());
            } else if n > max as usize {
                bad(field, format!("must be at most {max} characters (got {n})"));
            }
        }
        let phone = if input.phone.trim().is_empty() {
            None
        } else {
            match normalize_phone(&input.phone) {
                Some(p) => Some(p),
                None => {
                    bad(
                        "author.phone",
                        "must be a Vietnamese phone number such as 0912 345 678 or +84 912 345 678"
                            .into(),
                    );
                    None
                }
            }
        };
        let email = input.email.trim().to_string();
        if !email.is_empty() && !valid_email(&email) {
            bad("author.email", "is not a valid e-mail address".into());
        }
        let ip: Option<IpAddr> = input.ip.trim().parse().ok();
        if ip.is_none() {
            bad("client.ip", "must be an IPv4 or IPv6 address".into());
        }
        let captcha = match (&input.captcha, p.captcha_required) {
            (Some((id, answer)), _) if !(id.is_empty() && answer.is_empty()) => {
                if !is_challenge_id(id) {
                    bad(
                        "captcha.challenge_id",
                        "must be the 32-hex-digit id returned by CreateChallenge".into(),
                    );
                }
                let n = answer.trim().chars().count();
                if n == 0 || n > MAX_ANSWER_CHARS {
                    bad(
                        "captcha.answer",
                        format!("must be 1-{MAX_ANSWER_CHARS} characters"),
                    );
                }
                Some((id.as_str(), answer.as_str()))
            }
            (_, true) => {
                bad("captcha", "is required on this site".into());
                None
            }
            (_, false) => None,
        };
        if !v.is_empty() {
            return Err(SubmitError::Invalid(v));
        }
        let ip = ip.ok_or_else(|| SubmitError::Invalid(Vec::new()))?;

        let phone_str = phone.clone().unwrap_or_default();
        let site_labels = self.policies.site_labels(&input.site, p).await?;
        let invisible = crate::combiner::invisible_count(&[&input.name, &input.title, &input.body]);
        let (score, status, reasons) = classify(
            p,
            &model,
            site_labels,
            &name,
            &phone_str,
            &title,
            &body,
            invisible,
        );
        let comment_id = new_comment_id();
        let created_ms = self.clock.now_ms();
        let record = CommentRecord {
            comment_id: comment_id.clone(),
            site: input.site.clone(),
            thread_id: thread.to_string(),
            name,
            phone: phone_str,
            email,
            title,
            body,
            score,
            reasons: reasons.clone(),
            model_version: model.version().to_string(),
            policy_version: p.version,
            initial_status: status,
            created_ms,
        };
        let output = SubmitOutput {
            comment_id,
            status,
            score,
            reasons,
            model_version: record.model_version.clone(),
            policy_version: p.version,
            created_ms,
            replayed: false,
        };
        let response = serde_json::to_string(&output)
            .map_err(|e| StoreError::Corrupt(format!("response encoding: {e}")))?;
        let subjects = Subjects {
            site: &input.site,
            ip,
            phone: phone.as_deref(),
            name: &record.name,
            thread: &record.thread_id,
        };
        let checks = checks_for(&p.rate_limits, &subjects, &self.ids, &self.keys);
        let idem = self
            .ids
            .hash("idempotency", &[&input.site, &input.idempotency_key]);
        let expected =
            captcha.map(|(id, answer)| (id, self.captchas.expected_hash(&input.site, id, answer)));
        let admission = self
            .store
            .admit(Admit {
                idempotency_key: &idem,
                captcha: expected.as_ref().map(|(id, h)| (*id, h.as_str())),
                limits: &checks,
                record: &record,
                response: &response,
                retention_ms: u64::from(p.retention_days) * 86_400_000,
                idempotency_ttl_ms: u64::from(p.idempotency_ttl_seconds) * 1000,
            })
            .await?;
        match admission {
            Admission::Recorded { shadow_hits, .. } => {
                // A shared read on the hot path; the write lock only the first time a site shows up.
                let known = self
                    .seen_sites
                    .read()
                    .is_ok_and(|seen| seen.contains(&input.site));
                if !known && let Ok(mut seen) = self.seen_sites.write() {
                    seen.insert(input.site.clone());
                }
                let verdict = crate::store::LimitVerdict {
                    allowed: true,
                    refused: Vec::new(),
                    shadow_hits,
                };
                let _ = judge(&input.site, &p.rate_limits, &verdict);
                record_decision_metrics(&input.site, &output);
                Ok(output)
            }
            Admission::Replayed { response } => {
                let mut first: SubmitOutput = serde_json::from_str(&response)
                    .map_err(|e| StoreError::Corrupt(format!("stored response: {e}")))?;
                first.replayed = true;
                Ok(first)
            }
            Admission::RateLimited(verdict) => Err(SubmitError::RateLimited(
                judge(&input.site, &p.rate_limits, &verdict)
                    .err()
                    .unwrap_or(Refusal {
                        retry_after_ms: 1000,
                        violations: Vec::new(),
                    }),
            )),
            Admission::CaptchaInvalid => Err(SubmitError::CaptchaInvalid),
            Admission::CaptchaExpired => Err(SubmitError::CaptchaExpired),
        }
    }
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
    fn thresholds_map_scores_to_statuses() {
        let p = Policy::default();
        let empty = Prepared::default();
        assert_eq!(p.decide(0.1, &empty).0, Status::Published);
        assert_eq!(p.decide(0.7, &empty).0, Status::PendingReview);
        assert_eq!(p.decide(0.95, &empty).0, Status::Rejected);
        let pre = Policy {
            premoderate_all: true,
            ..Policy::default()
        };
        assert_eq!(pre.decide(0.1, &empty).0, Status::PendingReview);
        let blocked = Policy {
            blocked_terms: vec!["cá độ online".into()],
            ..Policy::default()
        };
        let (s, r) = blocked.decide(0.1, &prepare("", "", "vào ca do online"));
        assert_eq!(s, Status::Rejected);
        assert_eq!(r[0].code, "BLOCKED_TERM");
    }

    #[test]
    fn lexicon_categories_hold_or_reject_with_their_reason_codes() {
        let p = Policy::default();
        let (s, r) = p.decide(
            0.01,
            &prepare("Hương", "", "Cần tiền gấp? Vay tiền online giải ngân nhanh"),
        );
        assert_eq!(s, Status::PendingReview, "{r:?}");
        assert!(
            r.iter()
                .any(|r| r.code == "LEX_LOAN" && r.kind == ReasonKind::Lexicon),
            "{r:?}"
        );
        let off = Policy {
            use_lexicon: false,
            ..Policy::default()
        };
        assert_eq!(
            off.decide(
                0.01,
                &prepare("Hương", "", "Vay tiền online giải ngân nhanh")
            )
            .0,
            Status::Published
        );
    }

    #[test]
    fn emails_are_checked_for_syntax() {
        assert!(valid_email("an.nguyen@example.vn"));
        assert!(!valid_email("an nguyen@example.vn"));
        assert!(!valid_email("no-at-sign"));
        assert!(!valid_email("a@b"));
    }
}
