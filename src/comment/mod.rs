//! Submissions: validation of the portal's form (every violation at once), text clean-up (NFC, invisible
//! characters removed), the site policy's decision, and the flow that scores a comment and admits it in one store
//! step (idempotency, limits, captcha, record, queue entry, decision event).

#[cfg(test)]
mod explain_tests;
pub mod perturb;
pub mod submission;

use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::admission::Admission;
use crate::captcha::Captchas;
use crate::classifier::CommentText;
use crate::clock::Clock;
use crate::policy::document::Policy;
use crate::rate_limit::{Identifiers, Refusal, Subjects, checks_for, judge};
use crate::review::{CommentRecord, Reason, ReasonKind, Status};
use crate::scoring::{AuthorStanding, Scorer};
use crate::store::{Admit, CampaignProbe, Keys, Store, StoreError};
use crate::text::{CleanText, normalize_phone};
use submission::{Phone, Submission};

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
    /// Keyed hash of the request's fields, stored with the answer: a retry with the same idempotency key is
    /// answered only when it is the same request (empty in answers stored before fingerprints existed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Bad fields: (field path, problem), all of them.
    #[error("invalid submission: {}", .0.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<(String, String)>),
    /// Wrong, unknown or used captcha.
    #[error("captcha answer is wrong, or the challenge is unknown or used")]
    CaptchaInvalid,
    /// Expired captcha.
    #[error("captcha challenge expired")]
    CaptchaExpired,
    /// Over a limit.
    #[error("rate limited; retry in {} ms", .0.retry_after_ms)]
    RateLimited(Refusal),
    /// The idempotency key was used for a different comment; nothing was stored or consumed.
    #[error("the idempotency key was already used for a different comment")]
    KeyReused,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    /// Sites this replica has put in the store's registry of sites seen (so each costs one store call, not one
    /// per submission); bounded by [`MAX_REGISTERED_SITES`], past which a site's submissions register it again.
    pub registered: Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
    /// Wakes this replica's decision watchers when a submission records its automatic decision.
    pub announcer: crate::review::service::Announcer,
}

/// Scores a comment with `scorer` and decides it under `p`: (score, status, rule reasons, then the combiner's
/// signals, then the model's top features). `invisible` is the number of invisible characters the submitted
/// fields had before [`clean_text`]. Pure: no I/O, no side effects (Classify uses it as a dry run).
///
/// With a combiner the score is the combiner's probability: the model's score, the shipped lexicon categories
/// (block and suspect alike; none when the policy disables the lexicon) and the URL/phone/chat/obfuscation
/// signals enter it with their fitted weights, and the policy's thresholds apply to it; the lexicon then neither
/// holds nor rejects on its own. Site `blocked_terms` still reject and `suspect_terms` still hold. Without a
/// combiner the model's score is used and lexicon block categories reject, suspect ones hold.
#[allow(clippy::too_many_arguments)]
pub fn classify(
    p: &Policy,
    scorer: &Scorer,
    site_labels: u64,
    name: &str,
    phone: &str,
    title: &str,
    body: &str,
    invisible: u32,
) -> (f32, Status, Vec<Reason>) {
    classify_by(
        p,
        scorer,
        site_labels,
        AuthorStanding::default(),
        name,
        phone,
        title,
        body,
        invisible,
    )
}

/// [`classify`] for an author whose standing on the site is known (a submission under a policy with author
/// trust): the policy's trust rule acts on `author`.
#[allow(clippy::too_many_arguments)]
pub fn classify_by(
    p: &Policy,
    scorer: &Scorer,
    site_labels: u64,
    author: AuthorStanding,
    name: &str,
    phone: &str,
    title: &str,
    body: &str,
    invisible: u32,
) -> (f32, Status, Vec<Reason>) {
    let c = decide_fields(
        p,
        scorer,
        site_labels,
        author,
        &CommentText {
            name,
            phone,
            title,
            body,
        },
        invisible,
        false,
    );
    (c.score, c.status, c.reasons)
}

/// What [`classify_submission`] decided.
#[derive(Debug, Clone)]
pub struct Classified {
    /// Spam probability.
    pub score: f32,
    /// The decision.
    pub status: Status,
    /// Its reasons (see [`classify`]).
    pub reasons: Vec<Reason>,
    /// The body's near-duplicate sketch, when the policy detects campaigns and the body is long enough.
    pub sketch: Option<crate::text::sketch::Sketch>,
    /// The decision and reasons the comment gets if the store finds it part of a campaign (`None` when there is no
    /// sketch, or when they would be the same).
    pub in_campaign: Option<(Status, Vec<Reason>)>,
}

/// [`classify_by`] for a submission: also the body's campaign sketch and the decision it gets as part of a
/// campaign, which the store chooses in the admission step (it alone knows the copies other replicas admitted).
#[allow(clippy::too_many_arguments)]
pub fn classify_submission(
    p: &Policy,
    scorer: &Scorer,
    site_labels: u64,
    author: AuthorStanding,
    name: &str,
    phone: &str,
    title: &str,
    body: &str,
    invisible: u32,
) -> Classified {
    decide_fields(
        p,
        scorer,
        site_labels,
        author,
        &CommentText {
            name,
            phone,
            title,
            body,
        },
        invisible,
        p.detect_campaigns,
    )
}

/// Scores and decides; with `campaigns`, also sketches the body and decides it as part of a campaign.
fn decide_fields(
    p: &Policy,
    scorer: &Scorer,
    site_labels: u64,
    author: AuthorStanding,
    fields: &CommentText<'_>,
    invisible: u32,
    campaigns: bool,
) -> Classified {
    // The fields split into words once, for the scorer's reasons and the policy's.
    let located = crate::review::Located::new(fields.name, fields.title, fields.body);
    let mut s = scorer.score(
        fields,
        invisible,
        p.use_lexicon,
        &p.allowed_domains,
        TOP_FEATURES,
        &located,
    );
    s.prepared.site_labels = site_labels;
    s.prepared.author = author;
    let sketch = if campaigns {
        crate::text::sketch::sketch(&s.prepared.field_spaced.1)
    } else {
        None
    };
    // The policy's reasons, then the combiner's signals and the model's features; the policy's own reasons name a
    // term or a host as it decided on it, located here (the others were located where they were made).
    let finish = |(status, mut reasons): (Status, Vec<Reason>), extras: Vec<Reason>| {
        reasons.extend(extras);
        for r in reasons.iter_mut().filter(|r| r.spans.is_empty()) {
            r.spans = match r.code.as_str() {
                "BLOCKED_TERM" | "SUSPECT_TERM" | crate::lexicon::ABUSE => {
                    located.phrase(&r.detail)
                }
                "DENIED_DOMAIN" => located.literal(&r.detail),
                // A lexicon category the policy acted on itself (a model without a combiner): the phrase.
                c if c.starts_with("LEX_") => located.phrase(&r.detail),
                _ => Vec::new(),
            };
        }
        (status, reasons)
    };
    let primary = p.decide(s.score, &s.prepared);
    let in_campaign = if sketch.is_some() {
        s.prepared.campaign = true;
        let alt = p.decide(s.score, &s.prepared);
        (alt != primary).then(|| {
            finish(
                alt,
                s.signals.iter().chain(s.features.iter()).cloned().collect(),
            )
        })
    } else {
        None
    };
    let (status, reasons) = finish(primary, s.signals.into_iter().chain(s.features).collect());
    Classified {
        score: s.score,
        status,
        reasons,
        sketch,
        in_campaign,
    }
}

/// [`classify`] for form fields as submitted: cleaned once ([`CleanText::new`]), the phone normalised (dropped
/// when it is not a Vietnamese number). The one clean-and-classify sequence for every caller that starts from raw
/// fields (Classify, `combiner eval`, `bootstrap train`); a submission gets the same through `Submission::parse`.
#[allow(clippy::too_many_arguments)]
pub fn classify_form(
    p: &Policy,
    scorer: &Scorer,
    site_labels: u64,
    name: &str,
    phone: &str,
    title: &str,
    body: &str,
) -> (f32, Status, Vec<Reason>) {
    classify_form_by(
        p,
        scorer,
        site_labels,
        AuthorStanding::default(),
        name,
        phone,
        title,
        body,
    )
}

/// [`classify_form`] for an author whose standing on the site is known (see [`classify_by`]).
#[allow(clippy::too_many_arguments)]
pub fn classify_form_by(
    p: &Policy,
    scorer: &Scorer,
    site_labels: u64,
    author: AuthorStanding,
    name: &str,
    phone: &str,
    title: &str,
    body: &str,
) -> (f32, Status, Vec<Reason>) {
    let text = CleanText::new(name, title, body);
    classify_by(
        p,
        scorer,
        site_labels,
        author,
        &text.name,
        &normalize_phone(phone).unwrap_or_default(),
        &text.title,
        &text.body,
        text.invisible,
    )
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
        "site" => crate::metrics_labels::site_label(site),
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
            "site" => crate::metrics_labels::site_label(site),
            "code" => r.code.clone()
        )
        .increment(1);
    }
    metrics::histogram!("moderato_score", "site" => crate::metrics_labels::site_label(site))
        .record(f64::from(out.score));
}

/// Sites one replica remembers having registered (a set of short ids: about 100 bytes each).
pub const MAX_REGISTERED_SITES: usize = 100_000;

/// How many model features a decision reports.
pub const TOP_FEATURES: usize = 5;

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
        // As a submission would be decided: with its author's standing when the site trusts regulars.
        let normalised = normalize_phone(phone).unwrap_or_default();
        let hashes = crate::privacy::author_hashes(&self.ids, &normalised, "");
        let author = self.standing(&p, site, &hashes).await?;
        let (score, status, reasons) =
            classify_form_by(&p, &model, site_labels, author, name, phone, title, body);
        Ok(DryRun {
            score,
            status,
            reasons,
            model_version: model.version().to_string(),
            policy_version: p.version,
        })
    }

    /// The standing on `site` of the author indexed under `hashes` (`privacy::author_hashes`), read only when the
    /// policy's trust rule is on (unknown otherwise).
    async fn standing(
        &self,
        p: &Policy,
        site: &str,
        hashes: &[String],
    ) -> Result<AuthorStanding, SubmitError> {
        if p.trusted_after_approvals == 0 {
            return Ok(AuthorStanding::default());
        }
        let since = self
            .clock
            .now_ms()
            .saturating_sub(u64::from(p.trust_clean_days) * 86_400_000);
        Ok(crate::privacy::author_standing(&*self.store, site, hashes, since).await?)
    }

    /// Validates, scores, decides and admits one comment.
    /// Every violation is reported at once: a bad site id too, with the other fields checked against the global
    /// default's limits (a site's own captcha requirement is unknown then, so it is not checked).
    pub async fn submit(&self, input: SubmitInput) -> Result<SubmitOutput, SubmitError> {
        let mut site_check = crate::validate::Violations::default();
        site_check.site("site", &input.site);
        let site_ok = site_check.is_empty();
        let (p, model) = self
            .policies
            .for_site(if site_ok { &input.site } else { "" })
            .await?;
        let p = &*p;
        let sub = Submission::parse(&input, &p.field_limits, p.captcha_required, site_check)
            .map_err(|e| SubmitError::Invalid(e.0))?;
        let site_labels = self.policies.site_labels(sub.site.as_str(), p).await?;
        let phone_str = sub
            .phone
            .as_ref()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let email_str = sub
            .email
            .as_ref()
            .map(|e| e.as_str().to_string())
            .unwrap_or_default();
        let authors = crate::privacy::author_hashes(&self.ids, &phone_str, &email_str);
        let author = self.standing(p, sub.site.as_str(), &authors).await?;
        let Classified {
            score,
            status,
            reasons,
            sketch,
            in_campaign,
        } = classify_submission(
            p,
            &model,
            site_labels,
            author,
            &sub.text.name,
            &phone_str,
            &sub.text.title,
            &sub.text.body,
            sub.text.invisible,
        );
        let comment_id = new_comment_id();
        let created_ms = self.clock.now_ms();
        let record = CommentRecord {
            comment_id: comment_id.clone(),
            site: sub.site.as_str().to_string(),
            thread_id: sub.thread.as_str().to_string(),
            name: sub.text.name,
            phone: phone_str,
            email: email_str,
            title: sub.text.title,
            body: sub.text.body,
            score,
            reasons: reasons.clone(),
            model_version: model.version().to_string(),
            policy_version: p.version,
            initial_status: status,
            created_ms,
        };
        let fingerprint = self.ids.hash(
            "request",
            &[
                &record.site,
                &record.thread_id,
                &record.name,
                &record.phone,
                &record.email,
                &record.title,
                &record.body,
                &sub.ip.0.to_string(),
            ],
        );
        let output = SubmitOutput {
            comment_id,
            status,
            score,
            reasons,
            model_version: record.model_version.clone(),
            policy_version: p.version,
            created_ms,
            replayed: false,
            fingerprint,
        };
        let response = serde_json::to_string(&output)
            .map_err(|e| StoreError::Corrupt(format!("response encoding: {e}")))?;
        // As part of a campaign: the same record and answer with the campaign's decision.
        let alternate = match in_campaign {
            Some((status, reasons)) => {
                let record = CommentRecord {
                    initial_status: status,
                    reasons: reasons.clone(),
                    ..record.clone()
                };
                let output = SubmitOutput {
                    status,
                    reasons,
                    ..output.clone()
                };
                let response = serde_json::to_string(&output)
                    .map_err(|e| StoreError::Corrupt(format!("response encoding: {e}")))?;
                Some((record, output, response))
            }
            None => None,
        };
        // The campaign probe's parts, only for a body with a sketch: its band fields, its signature, and who posted
        // it, for counting a campaign's authors: by phone or e-mail, else by client (its IPv6 prefix, as the rate
        // limits group clients), as a keyed tag of its own (16 hex digits), which the sketch keeps until the end of
        // the next campaign window and which links to no index.
        let probe = sketch.as_ref().map(|sk| {
            let bands: Vec<String> = sk
                .bands
                .iter()
                .enumerate()
                .map(|(i, b)| crate::store::campaign_band(i, *b))
                .collect();
            let mut author = match authors.first() {
                Some(a) => self.ids.hash("campaign-author", &[a]),
                None => self
                    .ids
                    .hash("campaign-client", &[&self.ids.client_group(sub.ip.0)]),
            };
            author.truncate(16);
            (bands, sk.signature_hex(), author)
        });
        let subjects = Subjects {
            site: &record.site,
            ip: sub.ip.0,
            phone: sub.phone.as_ref().map(Phone::as_str),
            name: &record.name,
            thread: &record.thread_id,
        };
        let checks = checks_for(&p.rate_limits, &subjects, &self.ids, &self.keys);
        let idem = self
            .ids
            .hash("idempotency", &[&record.site, sub.key.as_str()]);
        let expected = sub.captcha.as_ref().map(|(id, answer)| {
            (
                id.as_str(),
                self.captchas.expected_hash(&record.site, id, answer),
            )
        });
        // The registry of sites seen lists a site before its first comment is stored (erasure over all sites
        // walks it): one store call per site per replica, remembered as soon as it succeeded.
        if !self
            .registered
            .read()
            .is_ok_and(|r| r.contains(&record.site))
        {
            self.store.register_site(&record.site).await?;
            if let Ok(mut r) = self.registered.write()
                && r.len() < MAX_REGISTERED_SITES
            {
                r.insert(record.site.clone());
            }
        }
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
                authors: &authors,
                campaign: probe
                    .as_ref()
                    .map(|(bands, signature, author)| CampaignProbe {
                        bands,
                        signature,
                        author,
                        window_ms: u64::from(p.campaign_window_hours) * 3_600_000,
                        min_agree: crate::text::sketch::MIN_AGREE,
                        min_authors: p.campaign_authors as usize,
                        alternate: alternate.as_ref().map(|(r, _, resp)| (r, resp.as_str())),
                    }),
            })
            .await?;
        match admission {
            Admission::Recorded {
                shadow_hits,
                campaign,
                ..
            } => {
                let output = match (campaign, alternate) {
                    (Some(_), Some((_, alt, _))) => alt,
                    _ => output,
                };
                self.announcer.announce();
                // A shared read on the hot path; the write lock only the first time a site shows up. Bounded
                // like the metric labels: sites past the cap get no queue gauges of their own.
                let known = self
                    .seen_sites
                    .read()
                    .is_ok_and(|seen| seen.contains(&input.site));
                if !known
                    && let Ok(mut seen) = self.seen_sites.write()
                    && seen.len() < crate::metrics_labels::MAX_SITE_LABELS
                {
                    seen.insert(input.site.clone());
                }
                let verdict = crate::admission::LimitVerdict {
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
                // A key reused for another comment must not swallow it as someone else's replay.
                if !first.fingerprint.is_empty() && first.fingerprint != output.fingerprint {
                    return Err(SubmitError::KeyReused);
                }
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
