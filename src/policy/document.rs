//! The policy document: how a site decides (thresholds, premoderation, terms, limits, the lexicon switch,
//! bootstrap mode), its validation, and [`Policy::decide`], the rule that turns a score and the text's term hits
//! into PUBLISHED, PENDING_REVIEW or REJECTED with reasons.

use serde::{Deserialize, Serialize};

use crate::rate_limit::LimitRule;
use crate::review::{Reason, ReasonKind, Status};
use crate::scoring::{AuthorStanding, Prepared};
use crate::text::{fold, term_hits};

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
    /// Under premoderation or bootstrap mode, still reject what the score or the lexicon's block categories
    /// reject (off: those hold every comment that no site blocked term rejects).
    pub premoderation_auto_reject: bool,
    /// Domains whose links are ordinary on this site, beyond the shipped list of Vietnamese news, public and
    /// education sites (subdomains included): their links weigh as the shipped ones do.
    pub allowed_domains: Vec<String>,
    /// Domains whose links reject a comment outright, in every mode (subdomains included), reason DENIED_DOMAIN.
    pub denied_domains: Vec<String>,
    /// Author trust (0: off). An author (known by the keyed hash of their phone or e-mail) with at least this many
    /// published comments on the site, within its retention, and none rejected in the last `trust_clean_days`,
    /// is trusted: a score between the thresholds publishes, and premoderation does not hold what they would
    /// otherwise publish (reason AUTHOR_TRUSTED). A score at or above `reject_at`, blocked and suspect terms, the
    /// lexicon, abuse and bootstrap act as for anyone. At most 100 (the standing reads the last 200 comments of
    /// each author index).
    pub trusted_after_approvals: u32,
    /// The days without a rejected comment that trust needs.
    pub trust_clean_days: u32,
    /// With author trust on: hold what would be published from an author not (yet) trusted, or who gives no phone
    /// or e-mail (reason AUTHOR_NEW).
    pub premoderate_new_authors: bool,
    /// Campaign detection: a comment whose body is a near-copy (an estimated half or more of its text shared) of
    /// comments that at least `campaign_authors - 1` other authors or clients posted on the site within
    /// `campaign_window_hours` is part of a campaign (reason CAMPAIGN). A campaign comment that would be published
    /// is held when its score is at least [`CAMPAIGN_SCORE_FLOOR`]; one already held or rejected is flagged.
    pub detect_campaigns: bool,
    /// The distinct authors (by phone or e-mail, else by client) whose near-copies make a campaign (2-50).
    pub campaign_authors: u32,
    /// How far back near-copies count, hours (1-168).
    pub campaign_window_hours: u32,
}

/// A campaign holds a comment it would otherwise publish only at or above this score: many readers posting the
/// same condolences, thanks or complaint about one street are a look-alike group, not a campaign, and score near
/// zero; a pitch posted by many authors carries some spam evidence even when each copy alone passes.
pub const CAMPAIGN_SCORE_FLOOR: f32 = 0.1;

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
            premoderation_auto_reject: false,
            allowed_domains: Vec::new(),
            denied_domains: Vec::new(),
            trusted_after_approvals: 0,
            trust_clean_days: 30,
            premoderate_new_authors: false,
            detect_campaigns: true,
            campaign_authors: 3,
            campaign_window_hours: 6,
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
        if self.trusted_after_approvals > 100 {
            errs.push(format!(
                "{at}.trusted_after_approvals: must be between 0 and 100"
            ));
        }
        if self.trust_clean_days == 0 || self.trust_clean_days > 3650 {
            errs.push(format!("{at}.trust_clean_days: must be between 1 and 3650"));
        }
        if !(2..=50).contains(&self.campaign_authors) {
            errs.push(format!("{at}.campaign_authors: must be between 2 and 50"));
        }
        if !(1..=168).contains(&self.campaign_window_hours) {
            errs.push(format!(
                "{at}.campaign_window_hours: must be between 1 and 168"
            ));
        }
        if self.premoderate_new_authors && self.trusted_after_approvals == 0 {
            errs.push(format!(
                "{at}.premoderate_new_authors: needs trusted_after_approvals of 1 or more"
            ));
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
        for (name, list) in [
            ("blocked_terms", &self.blocked_terms),
            ("suspect_terms", &self.suspect_terms),
        ] {
            for (i, t) in list.iter().enumerate() {
                if fold(t).is_empty() {
                    errs.push(format!("{at}.{name}[{i}]: {t:?} has no letters or digits"));
                }
            }
        }
        for (name, list) in [
            ("allowed_domains", &self.allowed_domains),
            ("denied_domains", &self.denied_domains),
        ] {
            for (i, d) in list.iter().enumerate() {
                if crate::lexicon::links::normalize_domain(d).is_none() {
                    errs.push(format!(
                        "{at}.{name}[{i}]: {d:?} is not a domain (letters, digits, hyphens and dots)"
                    ));
                }
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
            spans: Vec::new(),
        };
        let lexicon: &[crate::lexicon::Hit] = if self.use_lexicon { &t.lexicon } else { &[] };
        let lex_reason = |h: &crate::lexicon::Hit| Reason {
            code: h.code.clone(),
            detail: h.phrase.clone(),
            contribution: 0.0,
            kind: ReasonKind::Lexicon,
            spans: Vec::new(),
        };
        let denied: Vec<&String> = t
            .hosts
            .iter()
            .filter(|h| crate::lexicon::links::listed(h, &self.denied_domains))
            .collect();
        if !denied.is_empty() {
            // The site's denied domains reject in every mode, like its blocked terms.
            let reasons = denied
                .into_iter()
                .map(|h| rule("DENIED_DOMAIN", h.clone()))
                .collect();
            return (Status::Rejected, reasons);
        }
        let blocked = term_hits(folded, &self.blocked_terms);
        if !blocked.is_empty() {
            // The site's own blocked terms reject in every mode, premoderation and bootstrap included.
            let reasons = blocked
                .into_iter()
                .map(|t| rule("BLOCKED_TERM", t.to_string()))
                .collect();
            return (Status::Rejected, reasons);
        }
        let bootstrapping = u64::from(self.bootstrap_labels) > t.site_labels;
        let holding_all = self.premoderate_all || bootstrapping;
        let lex_blocked: Vec<_> = lexicon
            .iter()
            .filter(|h| h.severity == crate::lexicon::Severity::Block)
            .collect();
        let hold_instead = holding_all && !self.premoderation_auto_reject;
        if !lex_blocked.is_empty() && !hold_instead {
            return (
                Status::Rejected,
                lex_blocked.into_iter().map(lex_reason).collect(),
            );
        }
        let mut reasons = Vec::new();
        let mut status = if score >= self.reject_at {
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
        // Abuse holds for review (reason ABUSE) and never rejects on words alone: an insult is not spam, and the
        // words alone cannot tell an insult from a quote of one.
        if self.use_lexicon
            && let Some(h) = t.abuse.first()
        {
            reasons.push(Reason {
                code: crate::lexicon::ABUSE.into(),
                detail: h.phrase.clone(),
                contribution: 0.0,
                kind: ReasonKind::Lexicon,
                spans: Vec::new(),
            });
            if status == Status::Published {
                status = Status::PendingReview;
            }
        }
        // A campaign: the store found near-copies of this body from enough other authors. A look-alike group
        // (condolences, thanks, one street's complaint) scores below the floor and is published unremarked; a
        // pitch is held, and a comment already held or rejected is flagged. Trust does not lift this hold.
        if self.detect_campaigns && t.campaign {
            let holds = status == Status::Published && score >= CAMPAIGN_SCORE_FLOOR;
            if holds {
                status = Status::PendingReview;
            }
            if status != Status::Published {
                reasons.push(rule(
                    "CAMPAIGN",
                    format!(
                        "near-copies from {} or more authors within {} h",
                        self.campaign_authors, self.campaign_window_hours
                    ),
                ));
            }
        }
        // Author trust: a trusted author's comment held only by its score between the thresholds is published, and
        // premoderation does not hold what it would publish; an author not trusted is held when the site
        // premoderates new authors. Bootstrap mode holds everything all the same, so trust changes nothing there.
        let trusted = self.trusted(&t.author);
        if trusted && !bootstrapping {
            let score_only = status == Status::PendingReview
                && reasons.iter().all(|r| r.code == "SCORE_BETWEEN_THRESHOLDS");
            if score_only {
                status = Status::Published;
            }
            // Said whenever trust changed the outcome: a score hold lifted, premoderation not applied.
            if status == Status::Published
                && (score_only || self.premoderate_new_authors || self.premoderate_all)
            {
                reasons.push(rule(
                    "AUTHOR_TRUSTED",
                    format!(
                        "{} published comments on this site, none rejected in {} days",
                        t.author.approved, self.trust_clean_days
                    ),
                ));
            }
        } else if !trusted
            && self.trusted_after_approvals > 0
            && self.premoderate_new_authors
            && status == Status::Published
        {
            reasons.push(rule("AUTHOR_NEW", self.why_not_trusted(&t.author)));
            status = Status::PendingReview;
        }
        // Premoderation and bootstrap hold every comment that no site blocked term rejected, whatever its score
        // or lexicon category, so moderators see and label it; `premoderation_auto_reject` lets what the score or
        // the lexicon rejects be rejected instead. Premoderation spares what a trusted author would have published
        // without it; bootstrap spares nothing.
        let spared = trusted && status == Status::Published;
        if self.premoderate_all && !spared && (status != Status::Rejected || hold_instead) {
            reasons.push(rule("PREMODERATION", "the site holds every comment".into()));
            status = Status::PendingReview;
        }
        if bootstrapping && (status != Status::Rejected || hold_instead) {
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

    /// Whether the author trust rule trusts `a`: it is on, the author is known, has enough published comments
    /// and none rejected in the clean period.
    pub fn trusted(&self, a: &AuthorStanding) -> bool {
        self.trusted_after_approvals > 0
            && a.known
            && a.approved >= u64::from(self.trusted_after_approvals)
            && a.rejected_recently == 0
    }

    /// Why `a` is not trusted, in words.
    fn why_not_trusted(&self, a: &AuthorStanding) -> String {
        if !a.known {
            "the comment gives no phone or e-mail, so its author cannot earn trust".into()
        } else if a.rejected_recently > 0 {
            format!(
                "a comment of this author was rejected in the last {} days",
                self.trust_clean_days
            )
        } else {
            format!(
                "{} of {} published comments needed for trust",
                a.approved, self.trusted_after_approvals
            )
        }
    }
}

/// The fields of [`Policy`] a site may set for itself; every other field (and every one of these it does not set)
/// follows the global default, live.
pub const OVERRIDABLE: [&str; 22] = [
    "approve_below",
    "reject_at",
    "premoderate_all",
    "premoderation_auto_reject",
    "blocked_terms",
    "suspect_terms",
    "field_limits",
    "retention_days",
    "idempotency_ttl_seconds",
    "captcha_required",
    "rate_limits",
    "model_version",
    "use_lexicon",
    "bootstrap_labels",
    "allowed_domains",
    "denied_domains",
    "trusted_after_approvals",
    "trust_clean_days",
    "premoderate_new_authors",
    "detect_campaigns",
    "campaign_authors",
    "campaign_window_hours",
];

/// A site's own policy: only the fields it overrides, as the stored document holds them. Fields it does not name
/// follow the global default, so a later change of the global default reaches the site.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// The site document's version (optimistic concurrency).
    #[serde(default)]
    pub version: u64,
    /// Field name -> value, in [`Policy`]'s own serialisation.
    pub overrides: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Overrides {
    /// Reads a stored site document. A document written before sites stored overrides (a whole [`Policy`]) is
    /// read as overriding every field, which is what it did.
    pub fn parse(doc: &str) -> Result<Overrides, String> {
        let value: serde_json::Value = serde_json::from_str(doc).map_err(|e| e.to_string())?;
        if value.get("overrides").is_some() {
            return serde_json::from_value(value).map_err(|e| e.to_string());
        }
        let legacy: Policy = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let serde_json::Value::Object(mut all) =
            serde_json::to_value(&legacy).map_err(|e| e.to_string())?
        else {
            return Err("a policy is not an object".into());
        };
        all.remove("version");
        Ok(Overrides {
            version: legacy.version,
            overrides: all.into_iter().collect(),
        })
    }

    /// The effective policy: `global` with these fields set. Its version is this document's.
    pub fn apply(&self, global: &Policy) -> Result<Policy, String> {
        let serde_json::Value::Object(mut all) =
            serde_json::to_value(global).map_err(|e| e.to_string())?
        else {
            return Err("a policy is not an object".into());
        };
        for (k, v) in &self.overrides {
            all.insert(k.clone(), v.clone());
        }
        let mut p: Policy =
            serde_json::from_value(serde_json::Value::Object(all)).map_err(|e| e.to_string())?;
        p.version = self.version;
        Ok(p)
    }

    /// The overridden field names, in [`OVERRIDABLE`] order.
    pub fn fields(&self) -> Vec<String> {
        OVERRIDABLE
            .iter()
            .filter(|f| self.overrides.contains_key(**f))
            .map(|f| f.to_string())
            .collect()
    }

    /// These overrides after an update: every field whose value in `candidate` differs from `effective` (what the
    /// caller was shown) becomes an override; fields named in `clear` follow the global default again; the rest
    /// keep their state. Unknown names in `clear` are returned as errors.
    pub fn updated(
        &self,
        effective: &Policy,
        candidate: &Policy,
        clear: &[String],
    ) -> Result<Overrides, Vec<String>> {
        let (Ok(serde_json::Value::Object(before)), Ok(serde_json::Value::Object(after))) = (
            serde_json::to_value(effective),
            serde_json::to_value(candidate),
        ) else {
            return Err(vec!["a policy is not an object".into()]);
        };
        let mut out = self.clone();
        for f in OVERRIDABLE {
            if before.get(f) != after.get(f)
                && let Some(v) = after.get(f)
            {
                out.overrides.insert(f.to_string(), v.clone());
            }
        }
        let mut unknown = Vec::new();
        for f in clear {
            if OVERRIDABLE.contains(&f.as_str()) {
                out.overrides.remove(f);
            } else {
                unknown.push(f.clone());
            }
        }
        if unknown.is_empty() {
            Ok(out)
        } else {
            Err(unknown)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::prepare;

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
    fn a_campaign_holds_what_it_would_publish_above_the_floor_and_flags_what_is_held() {
        let p = Policy::default();
        let campaign = Prepared {
            campaign: true,
            ..Prepared::default()
        };
        let codes = |r: &[Reason]| r.iter().map(|r| r.code.clone()).collect::<Vec<_>>();
        // A pitch that alone would pass: held.
        let (s, r) = p.decide(0.3, &campaign);
        assert_eq!(s, Status::PendingReview);
        assert!(codes(&r).contains(&"CAMPAIGN".to_string()), "{r:?}");
        // A look-alike group (condolences) scores below the floor: published, no campaign reason.
        let (s, r) = p.decide(0.02, &campaign);
        assert_eq!(s, Status::Published);
        assert!(!codes(&r).contains(&"CAMPAIGN".to_string()), "{r:?}");
        // Already rejected: rejected, and flagged.
        let (s, r) = p.decide(0.95, &campaign);
        assert_eq!(s, Status::Rejected);
        assert!(codes(&r).contains(&"CAMPAIGN".to_string()), "{r:?}");
        // Trust does not lift it; detection off changes nothing.
        let trusting = Policy {
            trusted_after_approvals: 1,
            ..Policy::default()
        };
        let trusted = Prepared {
            campaign: true,
            author: AuthorStanding {
                known: true,
                approved: 5,
                rejected_recently: 0,
            },
            ..Prepared::default()
        };
        assert_eq!(trusting.decide(0.3, &trusted).0, Status::PendingReview);
        let off = Policy {
            detect_campaigns: false,
            ..Policy::default()
        };
        assert_eq!(off.decide(0.3, &campaign).0, Status::Published);
        // Bounds.
        let mut errs = Vec::new();
        Policy {
            campaign_authors: 1,
            campaign_window_hours: 0,
            ..Policy::default()
        }
        .problems("policy", &mut errs);
        assert_eq!(
            errs,
            [
                "policy.campaign_authors: must be between 2 and 50",
                "policy.campaign_window_hours: must be between 1 and 168"
            ]
        );
    }

    #[test]
    fn trusted_authors_skip_premoderation_and_score_holds_but_not_rejections_or_abuse() {
        let p = Policy {
            trusted_after_approvals: 3,
            premoderate_new_authors: true,
            ..Policy::default()
        };
        let by = |known, approved, rejected_recently| Prepared {
            author: AuthorStanding {
                known,
                approved,
                rejected_recently,
            },
            ..Prepared::default()
        };
        let codes = |r: &[Reason]| r.iter().map(|r| r.code.clone()).collect::<Vec<_>>();
        // New: held, and told why.
        for (author, why) in [
            (by(true, 2, 0), "2 of 3 published comments needed for trust"),
            (
                by(true, 9, 1),
                "a comment of this author was rejected in the last 30 days",
            ),
            (
                by(false, 0, 0),
                "the comment gives no phone or e-mail, so its author cannot earn trust",
            ),
        ] {
            let (s, r) = p.decide(0.1, &author);
            assert_eq!(s, Status::PendingReview, "{r:?}");
            let new = r
                .iter()
                .find(|r| r.code == "AUTHOR_NEW")
                .expect("AUTHOR_NEW");
            assert_eq!(new.detail, why);
        }
        // Trusted: published, a score between the thresholds too; a reject and abuse act as for anyone.
        let trusted = by(true, 3, 0);
        let (s, r) = p.decide(0.1, &trusted);
        assert_eq!(
            (s, codes(&r)),
            (
                Status::Published,
                vec!["SCORE_BELOW_APPROVE".to_string(), "AUTHOR_TRUSTED".into()]
            )
        );
        assert_eq!(p.decide(0.7, &trusted).0, Status::Published);
        assert_eq!(p.decide(0.95, &trusted).0, Status::Rejected);
        let abusive = Prepared {
            author: trusted.author,
            ..prepare("", "", "đúng là ngu như bò, im mồm đi")
        };
        let (s, r) = p.decide(0.1, &abusive);
        assert_eq!(s, Status::PendingReview, "{r:?}");
        assert!(!codes(&r).contains(&"AUTHOR_TRUSTED".to_string()), "{r:?}");
        // Premoderation of everything spares a trusted author; bootstrap does not.
        let all = Policy {
            premoderate_all: true,
            premoderate_new_authors: false,
            ..p.clone()
        };
        assert_eq!(all.decide(0.1, &trusted).0, Status::Published);
        // ... but what it would not publish is treated as anyone's: a rejecting score is held, not rejected,
        // without premoderation_auto_reject; a suspect hold is not called trust.
        assert_eq!(all.decide(0.95, &trusted).0, Status::PendingReview);
        let suspect = Policy {
            suspect_terms: vec!["thời tiết".into()],
            ..all.clone()
        };
        let (s, r) = suspect.decide(
            0.1,
            &Prepared {
                author: trusted.author,
                ..prepare("", "", "thời tiết đẹp")
            },
        );
        assert_eq!(s, Status::PendingReview, "{r:?}");
        assert!(!codes(&r).contains(&"AUTHOR_TRUSTED".to_string()), "{r:?}");
        assert_eq!(all.decide(0.1, &by(true, 1, 0)).0, Status::PendingReview);
        let boot = Policy {
            bootstrap_labels: 10,
            ..p.clone()
        };
        let (s, r) = boot.decide(
            0.7,
            &Prepared {
                site_labels: 0,
                ..trusted.clone()
            },
        );
        assert_eq!(s, Status::PendingReview);
        assert!(!codes(&r).contains(&"AUTHOR_TRUSTED".to_string()), "{r:?}");
        // Off: the standing changes nothing.
        let off = Policy::default();
        assert_eq!(off.decide(0.7, &trusted).0, Status::PendingReview);
        assert_eq!(off.decide(0.1, &by(false, 0, 0)).0, Status::Published);
        // Premoderating new authors needs the trust rule.
        let mut errs = Vec::new();
        Policy {
            premoderate_new_authors: true,
            trust_clean_days: 0,
            ..Policy::default()
        }
        .problems("policy", &mut errs);
        assert_eq!(
            errs,
            [
                "policy.trust_clean_days: must be between 1 and 3650",
                "policy.premoderate_new_authors: needs trusted_after_approvals of 1 or more"
            ]
        );
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
    fn denied_domains_reject_in_every_mode_and_abuse_holds_but_never_rejects() {
        let p = Policy {
            denied_domains: vec!["w88vip.example".into()],
            premoderate_all: true,
            ..Policy::default()
        };
        let (s, r) = p.decide(
            0.01,
            &prepare("", "", "xem ở https://m.w88vip.example/x nhé"),
        );
        assert_eq!(s, Status::Rejected);
        assert_eq!(
            (r[0].code.as_str(), r[0].detail.as_str()),
            ("DENIED_DOMAIN", "m.w88vip.example")
        );
        assert_eq!(
            p.decide(0.01, &prepare("", "", "xem ở w88.example")).0,
            Status::PendingReview
        );
        let plain = Policy::default();
        let insult = prepare("", "", "thằng kia ngu như bò");
        let (s, r) = plain.decide(0.01, &insult);
        assert_eq!(s, Status::PendingReview, "{r:?}");
        assert!(
            r.iter()
                .any(|r| r.code == "ABUSE" && r.detail == "ngu như bò"),
            "{r:?}"
        );
        assert_eq!(
            plain.decide(0.5, &insult).0,
            Status::PendingReview,
            "words alone never reject"
        );
        assert_eq!(
            plain.decide(0.95, &insult).0,
            Status::Rejected,
            "the spam score still does"
        );
        let off = Policy {
            use_lexicon: false,
            ..Policy::default()
        };
        assert_eq!(off.decide(0.01, &insult).0, Status::Published);
        let mut errs = Vec::new();
        Policy {
            allowed_domains: vec!["bad domain".into()],
            ..Policy::default()
        }
        .problems("policy", &mut errs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("policy.allowed_domains[0]"), "{errs:?}");
    }

    #[test]
    fn a_site_overrides_only_what_it_changed_and_follows_the_rest() {
        let global = Policy::default();
        let none = Overrides::default();
        let shown = none.apply(&global).unwrap();
        let mut changed = shown.clone();
        changed.captcha_required = false;
        let mine = none.updated(&shown, &changed, &[]).unwrap();
        assert_eq!(mine.fields(), ["captcha_required"]);
        let later_global = Policy {
            blocked_terms: vec!["w88".into()],
            reject_at: 0.8,
            ..Policy::default()
        };
        let effective = mine.apply(&later_global).unwrap();
        assert_eq!(
            effective.blocked_terms,
            ["w88"],
            "a global change reaches the site"
        );
        assert_eq!(effective.reject_at, 0.8);
        assert!(!effective.captcha_required, "its own override stays");
        let cleared = mine
            .updated(&effective, &effective, &["captcha_required".into()])
            .unwrap();
        assert!(cleared.fields().is_empty());
        assert_eq!(
            mine.updated(&effective, &effective, &["nope".into()]),
            Err(vec!["nope".to_string()])
        );
    }

    #[test]
    fn a_whole_policy_stored_earlier_reads_as_overriding_every_field() {
        let old = serde_json::to_string(&Policy {
            version: 3,
            reject_at: 0.7,
            ..Policy::default()
        })
        .unwrap();
        let o = Overrides::parse(&old).unwrap();
        assert_eq!(o.version, 3);
        assert_eq!(o.fields().len(), OVERRIDABLE.len());
        assert_eq!(o.apply(&Policy::default()).unwrap().reject_at, 0.7);
    }
}
