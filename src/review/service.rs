//! The review service: every moderator action on the review queue, for every front door. Claims under leases
//! that belong to the identity that took them, fenced decisions whose verdict and label agree, overturns, queue
//! statistics, the label export and the resumable decision stream the portal watches.
//!
//! The store makes each step atomic (see `store/lua/claim.lua`, `lease.lua`, `decide.lua`, `take_over.lua` and their
//! mirror in `store/memory.rs`); the rules about who may do what, and what a step means, are written here.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};
use tokio_stream::Stream;

use super::{Claimed, DecisionKind, Event, Label, LabelRow, QueueStats, Status};
use crate::metrics_labels::site_label;
use crate::store::{Decide, Decided, Store, StoreError, TakenOver};
use crate::validate::{Invalid, Violations};

/// Lease length when a request leaves it at 0, seconds.
pub const DEFAULT_LEASE_SECONDS: u32 = 300;
/// Longest lease a moderator may ask for, seconds.
pub const MAX_LEASE_SECONDS: u32 = 3600;
/// Most items one claim may take.
pub const MAX_CLAIM_ITEMS: u32 = 100;
/// Longest moderator note, characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// How often a watcher polls the store when nothing was announced locally (other replicas' decisions).
pub const WATCH_POLL: Duration = Duration::from_millis(250);
fn nfc_lower(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    s.trim().nfc().collect::<String>().to_lowercase()
}

/// Most decision events one browse reads.
pub const BROWSE_SCAN: usize = 50_000;

/// What [`ReviewService::browse`] lists.
#[derive(Debug, Clone, Default)]
pub struct BrowseQuery {
    /// Only this current status (PUBLISHED or REJECTED); `None`: both.
    pub status: Option<Status>,
    /// Only scores at or above.
    pub min_score: Option<f32>,
    /// Only scores at or below.
    pub max_score: Option<f32>,
    /// Only authors whose name contains this (case-insensitive, NFC).
    pub author: String,
    /// Only decisions at or after, epoch ms (0: any).
    pub since_ms: u64,
    /// Only decisions before, epoch ms (0: any).
    pub until_ms: u64,
    /// Page number, from 0.
    pub page: usize,
    /// Comments per page (0: 20; at most 100).
    pub page_size: usize,
}

/// One page of decided comments.
#[derive(Debug, Clone, Default)]
pub struct BrowsePage {
    /// The comments, newest decision first.
    pub comments: Vec<super::StoredComment>,
    /// More pages follow.
    pub more: bool,
}

/// Events one store read of the decision stream returns at most.
const WATCH_BATCH: usize = 200;

/// Why a review action was refused. Each variant maps to one gRPC status in `api`'s table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Bad fields, every one named.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The lease expired, was released, was taken by another claim, or the comment was decided.
    #[error("the lease is lost (expired, taken over, or the comment was decided); claim again")]
    LeaseLost,
    /// The lease token was not issued to the caller: another moderator's claim, or never issued.
    #[error(
        "this lease token was not issued to you (it is another moderator's, or was never issued); claim your own items"
    )]
    NotYourLease,
    /// The comment is no longer in the status the caller saw.
    #[error("the comment is no longer {expected}; reload it and decide again")]
    StatusChanged {
        /// The status the caller expected, store spelling.
        expected: &'static str,
    },
    /// A human decision may be overturned only by the moderator who made it, or by ops.
    #[error(
        "the last decision on this comment was made by {by}; only they (to undo it) or ops may overturn it"
    )]
    NotYourDecision {
        /// Who made the decision.
        by: String,
    },
    /// No such comment.
    #[error("no comment {0} (unknown, or past its retention)")]
    NotFound(String),
    /// The comment is held on a reader's appeal against the caller's own decision.
    #[error(
        "this comment is held on a reader's appeal against your decision; another moderator reviews it"
    )]
    OwnAppeal,
    /// The comment is not held for review any more, so there is no claim to take over.
    #[error("the comment is {status}, no longer held for review; there is nothing to take over")]
    NotHeld {
        /// Its status, store spelling.
        status: &'static str,
    },
    /// The server is shutting down; a watcher reconnects with its last cursor.
    #[error(
        "the server is shutting down; reconnect with the cursor of the last event you received"
    )]
    ShuttingDown,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A moderator's verdict on a held comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Publish it.
    Approve,
    /// Reject it.
    Reject,
}

impl Verdict {
    /// The status the verdict sets.
    pub fn status(self) -> Status {
        match self {
            Verdict::Approve => Status::Published,
            Verdict::Reject => Status::Rejected,
        }
    }
}

/// The label a verdict records: approving means the comment is legitimate (`ham`, the default when no label is
/// given); rejecting needs the reason (`spam`, `abusive` or `off_topic`). A label that contradicts the verdict is
/// refused, never silently changed.
pub fn label_for(verdict: Verdict, label: Option<Label>) -> Result<Label, &'static str> {
    match (verdict, label) {
        (Verdict::Approve, None | Some(Label::Ham)) => Ok(Label::Ham),
        (Verdict::Approve, Some(_)) => {
            Err("contradicts the verdict: an approved comment is labelled HAM (or left unset)")
        }
        (Verdict::Reject, Some(l @ (Label::Spam | Label::Abusive | Label::OffTopic))) => Ok(l),
        (Verdict::Reject, Some(Label::Ham)) => {
            Err("contradicts the verdict: a rejected comment is SPAM, ABUSIVE or OFF_TOPIC")
        }
        (Verdict::Reject, None) => Err("is required when rejecting: SPAM, ABUSIVE or OFF_TOPIC"),
    }
}

/// Who is acting, as the front door authenticated them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's name.
    pub name: String,
    /// Ops may overturn any decision; moderators only automatic ones and their own.
    pub supervisor: bool,
}

/// A moderator's decision on a claimed comment.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// Site id.
    pub site: &'a str,
    /// The claimed comment.
    pub comment_id: &'a str,
    /// The lease token from the claim.
    pub lease_token: &'a str,
    /// Approve or reject; `None` when the caller sent something else.
    pub verdict: Option<Verdict>,
    /// The label, if given.
    pub label: Option<Label>,
    /// Note for the audit log.
    pub note: &'a str,
}

/// The distinct authors of a campaign's comments as the store knows authors: by phone or e-mail; a comment with
/// neither counts as an author of its own (its client is not kept with the record).
pub fn campaign_authors(comments: &[super::StoredComment]) -> usize {
    let mut known = std::collections::HashSet::new();
    let mut anonymous = 0;
    for c in comments {
        if c.record.phone.is_empty() && c.record.email.is_empty() {
            anonymous += 1;
        } else {
            known.insert((c.record.phone.as_str(), c.record.email.as_str()));
        }
    }
    known.len() + anonymous
}

/// What [`ReviewService::reject_campaign`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignRejection {
    /// Held comments rejected.
    pub rejected: u32,
    /// Comments not held (already published or rejected, or decided meanwhile): left as they were.
    pub not_held: u32,
    /// Appeals against the caller's own decisions: left for someone else.
    pub own_appeals: u32,
}

/// A reversal of a published or rejected comment.
#[derive(Debug, Clone)]
pub struct Overturn<'a> {
    /// Site id.
    pub site: &'a str,
    /// The comment.
    pub comment_id: &'a str,
    /// The status the caller saw: PUBLISHED or REJECTED (`None`: something else was sent).
    pub expected: Option<Status>,
    /// The label the comment deserves (`None`: derived from the new status, as for a review).
    pub label: Option<Label>,
    /// Note for the audit log.
    pub note: &'a str,
}

/// Called with the site after every recorded moderator label (the policy layer refreshes its label count).
pub type LabelHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A stream of decision events.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, ReviewError>> + Send>>;

/// A stream of label rows.
pub type LabelStream = Pin<Box<dyn Stream<Item = Result<LabelRow, ReviewError>> + Send>>;

/// The review queue's service, shared by every front door.
#[derive(Clone)]
pub struct ReviewService {
    store: Arc<dyn Store>,
    /// Wakes this replica's watchers when a decision is recorded here; other replicas' are found by polling.
    decided: Arc<Notify>,
    labelled: LabelHook,
    shutdown: watch::Receiver<bool>,
}

fn lease_ms(v: &mut Violations, secs: u32) -> u64 {
    let secs = if secs == 0 {
        DEFAULT_LEASE_SECONDS
    } else {
        secs
    };
    if secs > MAX_LEASE_SECONDS {
        v.add(
            "lease_seconds",
            format!("must be between 1 and {MAX_LEASE_SECONDS} (0 means {DEFAULT_LEASE_SECONDS})"),
        );
    }
    u64::from(secs) * 1000
}

fn lease_token_shape(v: &mut Violations, t: &str) {
    if t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        v.add("lease_token", "must be the token returned by ClaimReviews");
    }
}

fn note_shape(v: &mut Violations, note: &str) {
    if note.chars().count() > MAX_NOTE_CHARS {
        v.add(
            "note",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        );
    }
}

/// The 8 hex digits that tie a lease token to the identity that claimed it.
fn owner_tag(who: &str) -> String {
    hex::encode(&Sha256::digest(who.as_bytes())[..4])
}

/// A fresh lease token for `who`: 96 random bits, then the owner tag. Only the store's copy fences a decision;
/// the tag lets the service tell another moderator's token (PERMISSION_DENIED) from a stale one of the caller's
/// own (ABORTED) without a store read.
fn new_lease_token(who: &str) -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{}{}", hex::encode(b), owner_tag(who))
}

/// Refuses a token minted for another identity.
fn check_owner(token: &str, who: &str) -> Result<(), ReviewError> {
    if token
        .get(24..)
        .is_some_and(|t| t.eq_ignore_ascii_case(&owner_tag(who)))
    {
        Ok(())
    } else {
        Err(ReviewError::NotYourLease)
    }
}

impl ReviewService {
    /// The service over `store`. `labelled` learns of every new label; `shutdown` turning true ends every open
    /// watch stream with [`ReviewError::ShuttingDown`].
    pub fn new(
        store: Arc<dyn Store>,
        labelled: LabelHook,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store,
            decided: Arc::new(Notify::new()),
            labelled,
            shutdown,
        }
    }

    /// What wakes this replica's watchers: the submission pipeline and appeals record decision events too.
    pub fn announcer(&self) -> Announcer {
        Announcer(self.decided.clone())
    }

    /// Claims up to `max_items` held comments of `site`, oldest first, for `lease_seconds` (0: the default).
    pub async fn claim(
        &self,
        site: &str,
        max_items: u32,
        lease_seconds: u32,
        who: &Actor,
    ) -> Result<Vec<Claimed>, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        if !(1..=MAX_CLAIM_ITEMS).contains(&max_items) {
            v.add(
                "max_items",
                format!("must be between 1 and {MAX_CLAIM_ITEMS}"),
            );
        }
        let lease = lease_ms(&mut v, lease_seconds);
        v.finish()?;
        let tokens: Vec<String> = (0..max_items).map(|_| new_lease_token(&who.name)).collect();
        let (items, expired) = self.store.claim(site, lease, &who.name, &tokens).await?;
        if expired > 0 {
            metrics::counter!("moderato_lease_expiries_total", "site" => site_label(site))
                .increment(expired);
        }
        Ok(items)
    }

    /// Takes a held comment over for the caller, whoever holds it: a new lease and token for the caller, the
    /// previous holder's token dead (their decision is [`ReviewError::LeaseLost`]), and a `TAKEOVER` audit entry
    /// naming both, written in the same store step. Any moderator or ops may take over (a colleague who left
    /// with items claimed, a supervisor stepping in); the audit entry is what makes it accountable. Returns the
    /// claim and the previous holder (empty when no live lease was held).
    pub async fn take_over(
        &self,
        site: &str,
        comment_id: &str,
        lease_seconds: u32,
        note: &str,
        who: &Actor,
    ) -> Result<(Claimed, String), ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.comment_id("comment_id", comment_id);
        note_shape(&mut v, note);
        let lease = lease_ms(&mut v, lease_seconds);
        v.finish()?;
        let token = new_lease_token(&who.name);
        match self
            .store
            .take_over(site, comment_id, lease, &who.name, &token, note)
            .await?
        {
            TakenOver::Done { claimed, from } => {
                tracing::info!(
                    moderator = who.name,
                    from = from,
                    comment_id,
                    "lease taken over"
                );
                Ok((*claimed, from))
            }
            TakenOver::NotHeld(s) => Err(ReviewError::NotHeld { status: s.as_str() }),
            // An appeal is for someone other than the moderator whose decision it is against: the store checks
            // it in the same step as the takeover, as it does for a claim.
            TakenOver::AppealedAgainst => Err(ReviewError::OwnAppeal),
            TakenOver::NotFound => Err(ReviewError::NotFound(comment_id.to_string())),
        }
    }

    /// Extends the caller's lease; returns its new end, epoch ms.
    pub async fn extend(
        &self,
        site: &str,
        comment_id: &str,
        lease_token: &str,
        lease_seconds: u32,
        who: &Actor,
    ) -> Result<u64, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.comment_id("comment_id", comment_id);
        lease_token_shape(&mut v, lease_token);
        let lease = lease_ms(&mut v, lease_seconds);
        v.finish()?;
        check_owner(lease_token, &who.name)?;
        self.store
            .extend_lease(site, comment_id, lease_token, lease)
            .await?
            .ok_or(ReviewError::LeaseLost)
    }

    /// Gives the caller's claimed comment back to the queue.
    pub async fn release(
        &self,
        site: &str,
        comment_id: &str,
        lease_token: &str,
        who: &Actor,
    ) -> Result<(), ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.comment_id("comment_id", comment_id);
        lease_token_shape(&mut v, lease_token);
        v.finish()?;
        check_owner(lease_token, &who.name)?;
        if self.store.release(site, comment_id, lease_token).await? {
            Ok(())
        } else {
            Err(ReviewError::LeaseLost)
        }
    }

    /// Decides a claimed comment, fenced by the caller's lease.
    pub async fn decide(&self, d: Decision<'_>, who: &Actor) -> Result<Event, ReviewError> {
        let mut v = Violations::default();
        v.site("site", d.site);
        v.comment_id("comment_id", d.comment_id);
        lease_token_shape(&mut v, d.lease_token);
        note_shape(&mut v, d.note);
        let label = match d.verdict {
            Some(verdict) => match label_for(verdict, d.label) {
                Ok(l) => Some((verdict, l)),
                Err(why) => {
                    v.add("label", why);
                    None
                }
            },
            None => {
                v.add("verdict", "must be APPROVE or REJECT");
                None
            }
        };
        v.finish()?;
        let Some((verdict, label)) = label else {
            unreachable!("a missing verdict or label is a violation above")
        };
        check_owner(d.lease_token, &who.name)?;
        self.record(Decide {
            site: d.site,
            comment_id: d.comment_id,
            kind: DecisionKind::Review,
            lease_token: d.lease_token,
            expected: Status::PendingReview,
            new_status: verdict.status(),
            actor: &who.name,
            label,
            note: d.note,
        })
        .await
        .map_err(|e| match e {
            Conflict::Fenced => ReviewError::LeaseLost,
            Conflict::Other(e) => e,
        })
    }

    /// Reverses a published or rejected comment. An automatic decision may be reversed by any moderator; a human
    /// one only by the moderator who made it (an undo) or by ops. Fenced by the status the caller saw.
    pub async fn overturn(&self, o: Overturn<'_>, who: &Actor) -> Result<Event, ReviewError> {
        let mut v = Violations::default();
        v.site("site", o.site);
        v.comment_id("comment_id", o.comment_id);
        note_shape(&mut v, o.note);
        let expected = match o.expected {
            Some(s @ (Status::Published | Status::Rejected)) => Some(s),
            _ => {
                v.add("expected_status", "must be PUBLISHED or REJECTED");
                None
            }
        };
        let label = expected.and_then(|expected| {
            let verdict = if expected == Status::Published {
                Verdict::Reject
            } else {
                Verdict::Approve
            };
            match label_for(verdict, o.label) {
                Ok(l) => Some((verdict, l)),
                Err(why) => {
                    v.add("label", why);
                    None
                }
            }
        });
        v.finish()?;
        let (Some(expected), Some((verdict, label))) = (expected, label) else {
            unreachable!("a missing status or label is a violation above")
        };
        if !who.supervisor {
            let c = self
                .store
                .get_comment(o.site, o.comment_id)
                .await?
                .ok_or_else(|| ReviewError::NotFound(o.comment_id.to_string()))?;
            if let Some(last) = c.history.last()
                && last.kind != DecisionKind::Automatic
                && last.actor != who.name
            {
                return Err(ReviewError::NotYourDecision {
                    by: last.actor.clone(),
                });
            }
        }
        self.record(Decide {
            site: o.site,
            comment_id: o.comment_id,
            kind: DecisionKind::Overturn,
            lease_token: "",
            expected,
            new_status: verdict.status(),
            actor: &who.name,
            label,
            note: o.note,
        })
        .await
        .map_err(|e| match e {
            Conflict::Fenced => ReviewError::StatusChanged {
                expected: expected.as_str(),
            },
            Conflict::Other(e) => e,
        })
    }

    /// Records a moderator decision and what follows from it: watchers woken, the label hook, metrics, a log line.
    async fn record(&self, d: Decide<'_>) -> Result<Event, Conflict> {
        let (site, kind) = (d.site, d.kind);
        let event = match self
            .store
            .decide(d.clone())
            .await
            .map_err(|e| Conflict::Other(e.into()))?
        {
            Decided::Done(e) => e,
            Decided::Conflict => return Err(Conflict::Fenced),
            Decided::NotFound => {
                return Err(Conflict::Other(ReviewError::NotFound(
                    d.comment_id.to_string(),
                )));
            }
        };
        self.decided.notify_waiters();
        (self.labelled)(site);
        if kind == DecisionKind::Review && event.submitted_ms > 0 {
            metrics::histogram!("moderato_time_to_human_decision_seconds", "site" => site_label(site))
                .record(event.decided_ms.saturating_sub(event.submitted_ms) as f64 / 1000.0);
        }
        metrics::counter!(
            "moderato_decisions_total",
            "site" => site_label(site),
            "status" => event.status.as_str()
        )
        .increment(1);
        tracing::info!(
            moderator = d.actor,
            kind = kind.as_str(),
            status = event.status.as_str(),
            label = d.label.as_str(),
            "decision recorded"
        );
        Ok(event)
    }

    /// Queue statistics of `site`; also refreshes its queue gauges.
    pub async fn stats(&self, site: &str) -> Result<QueueStats, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.finish()?;
        let s = self.store.queue_stats(site).await?;
        publish_queue_gauges(site, &s);
        Ok(s)
    }

    /// Decided comments of `site` (published or rejected, automatically or by a moderator), newest decision
    /// first, filtered by `q`, one page at a time. Reads the site's decision stream from its start, at most
    /// [`BROWSE_SCAN`] events, so on a long stream only the oldest part is left out.
    pub async fn browse(&self, site: &str, q: &BrowseQuery) -> Result<BrowsePage, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        if let (Some(lo), Some(hi)) = (q.min_score, q.max_score)
            && lo > hi
        {
            v.add("min_score", "must not exceed max_score");
        }
        v.finish()?;
        let mut latest: std::collections::HashMap<String, Event> = std::collections::HashMap::new();
        let mut after = String::new();
        let mut scanned = 0usize;
        loop {
            let batch = self.store.read_decisions(site, &after, WATCH_BATCH).await?;
            let n = batch.len();
            for e in batch {
                after.clone_from(&e.cursor);
                latest.insert(e.comment_id.clone(), e);
            }
            scanned += n;
            if n < WATCH_BATCH || scanned >= BROWSE_SCAN {
                break;
            }
        }
        let mut events: Vec<Event> = latest
            .into_values()
            .filter(|e| e.status != Status::PendingReview)
            .filter(|e| q.status.is_none_or(|s| s == e.status))
            .filter(|e| q.since_ms == 0 || e.decided_ms >= q.since_ms)
            .filter(|e| q.until_ms == 0 || e.decided_ms < q.until_ms)
            .collect();
        events.sort_by(|a, b| {
            b.decided_ms
                .cmp(&a.decided_ms)
                .then_with(|| b.cursor.cmp(&a.cursor))
        });
        let size = if q.page_size == 0 {
            20
        } else {
            q.page_size.min(100)
        };
        let skip = q.page.saturating_mul(size);
        let author = nfc_lower(&q.author);
        let mut page = BrowsePage::default();
        let mut matched = 0usize;
        for e in events {
            let Some(c) = self.store.get_comment(site, &e.comment_id).await? else {
                continue;
            };
            let r = &c.record;
            if q.min_score.is_some_and(|lo| r.score < lo)
                || q.max_score.is_some_and(|hi| r.score > hi)
                || (!author.is_empty() && !nfc_lower(&r.name).contains(&author))
            {
                continue;
            }
            matched += 1;
            if matched <= skip {
                continue;
            }
            if page.comments.len() == size {
                page.more = true;
                break;
            }
            page.comments.push(c);
        }
        Ok(page)
    }

    /// One comment with its status and history.
    pub async fn comment(
        &self,
        site: &str,
        comment_id: &str,
    ) -> Result<super::StoredComment, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.comment_id("comment_id", comment_id);
        v.finish()?;
        self.store
            .get_comment(site, comment_id)
            .await?
            .ok_or_else(|| ReviewError::NotFound(comment_id.to_string()))
    }

    /// A campaign's comments (near-copies posted by several authors, see `store::CampaignProbe`), oldest first,
    /// each as stored now; comments gone since (retention, erasure) are left out.
    pub async fn campaign(
        &self,
        site: &str,
        campaign_id: &str,
    ) -> Result<Vec<super::StoredComment>, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.comment_id("campaign_id", campaign_id);
        v.finish()?;
        let ids = self.store.campaign(site, campaign_id).await?;
        if ids.is_empty() {
            return Err(ReviewError::NotFound(campaign_id.to_string()));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.store.get_comment(site, &id).await? {
                out.push(c);
            }
        }
        out.sort_by_key(|c| c.record.created_ms);
        Ok(out)
    }

    /// Rejects, as spam, every comment of a campaign still held for review: each is taken over for the caller
    /// (whoever held it; a `TAKEOVER` audit entry with `note`) and decided under that lease, like any review.
    /// Comments already decided are left as they are (a published copy is overturned one by one, by someone
    /// allowed to), and so are appeals against the caller's own decisions. Returns what was done to each.
    pub async fn reject_campaign(
        &self,
        site: &str,
        campaign_id: &str,
        note: &str,
        who: &Actor,
    ) -> Result<CampaignRejection, ReviewError> {
        let mut v = Violations::default();
        note_shape(&mut v, note);
        v.finish()?;
        let comments = self.campaign(site, campaign_id).await?;
        let mut out = CampaignRejection::default();
        for c in comments {
            let id = c.record.comment_id.as_str();
            if c.status != Status::PendingReview {
                out.not_held += 1;
                continue;
            }
            let claimed = match self.take_over(site, id, 0, note, who).await {
                Ok((claimed, _)) => claimed,
                Err(ReviewError::NotHeld { .. }) | Err(ReviewError::NotFound(_)) => {
                    out.not_held += 1;
                    continue;
                }
                Err(ReviewError::OwnAppeal) => {
                    out.own_appeals += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let decided = self
                .decide(
                    Decision {
                        site,
                        comment_id: id,
                        lease_token: &claimed.lease_token,
                        verdict: Some(Verdict::Reject),
                        label: Some(Label::Spam),
                        note,
                    },
                    who,
                )
                .await;
            match decided {
                Ok(_) => out.rejected += 1,
                // Taken over again by someone else in between: theirs to decide.
                Err(ReviewError::LeaseLost) => out.not_held += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The site's labelled comments for retraining: one row per comment with its latest label (an overturn's
    /// label replaces the review's), ordered by when that label was given. Two passes over the label log, both
    /// read in pages: the first finds each comment's latest label (keeping only ids and cursors), the second sends
    /// those rows as the consumer keeps up. Labels given after the first pass ended wait for the next export.
    pub fn export_labels(&self, site: &str) -> Result<LabelStream, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.finish()?;
        let store = self.store.clone();
        let site = site.to_string();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            if let Err(e) = export_latest(&*store, &site, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    /// Every decision event of `site` after `after_cursor` (empty: from the start), then each new one as it is
    /// recorded on any replica, until the consumer goes away or the server shuts down (then the stream ends with
    /// [`ReviewError::ShuttingDown`], and the consumer resumes elsewhere with its last cursor).
    pub fn watch(&self, site: &str, after_cursor: &str) -> Result<EventStream, ReviewError> {
        let mut v = Violations::default();
        v.site("site", site);
        if !is_cursor(after_cursor) {
            v.add(
                "after_cursor",
                "must be empty or a cursor from an earlier DecisionEvent",
            );
        }
        v.finish()?;
        let store = self.store.clone();
        let notify = self.decided.clone();
        let mut shutdown = self.shutdown.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let (site, mut cursor) = (site.to_string(), after_cursor.to_string());
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    let _ = tx.send(Err(ReviewError::ShuttingDown)).await;
                    return;
                }
                // Register for a wake-up before reading, so a decision recorded in between is not missed.
                let woken = notify.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                match store.read_decisions(&site, &cursor, WATCH_BATCH).await {
                    Ok(events) if !events.is_empty() => {
                        for e in events {
                            cursor = e.cursor.clone();
                            if tx.send(Ok(e)).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(WATCH_POLL) => {}
                    _ = shutdown.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }
}

/// Label log rows one store read returns.
const LABEL_PAGE: usize = 500;

/// Sends each comment's latest label row of `site` to `tx` (see [`ReviewService::export_labels`]).
async fn export_latest(
    store: &dyn Store,
    site: &str,
    tx: &tokio::sync::mpsc::Sender<Result<LabelRow, ReviewError>>,
) -> Result<(), ReviewError> {
    let mut latest: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut cursor = String::new();
    loop {
        let rows = store.labels(site, &cursor, LABEL_PAGE).await?;
        let Some((last, _)) = rows.last() else { break };
        cursor = last.clone();
        for (c, row) in rows {
            latest.insert(row.comment_id, c);
        }
    }
    let end = cursor;
    let mut cursor = String::new();
    while cursor != end {
        let rows = store.labels(site, &cursor, LABEL_PAGE).await?;
        let Some((last, _)) = rows.last() else { break };
        cursor = last.clone();
        for (c, row) in rows {
            if latest.get(&row.comment_id) == Some(&c) && tx.send(Ok(row)).await.is_err() {
                return Ok(());
            }
            if c == end {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Wakes the decision watchers of this replica; other replicas' watchers find new events by polling.
#[derive(Clone, Default)]
pub struct Announcer(Arc<Notify>);

impl Announcer {
    /// A decision event was just recorded on this replica.
    pub fn announce(&self) {
        self.0.notify_waiters();
    }
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Announcer")
    }
}

/// A fenced-out decision, or another failure.
enum Conflict {
    Fenced,
    Other(ReviewError),
}

/// Publishes one site's queue gauges.
pub fn publish_queue_gauges(site: &str, s: &QueueStats) {
    let label = site_label(site);
    metrics::gauge!("moderato_queue_depth", "site" => label.clone()).set(s.depth as f64);
    metrics::gauge!("moderato_queue_claimed", "site" => label.clone()).set(s.claimed as f64);
    metrics::gauge!("moderato_queue_oldest_pending_seconds", "site" => label)
        .set(s.oldest_pending_age_ms as f64 / 1000.0);
}

/// True when `c` is empty or has the shape of a stream cursor (`<digits>-<digits>`).
pub fn is_cursor(c: &str) -> bool {
    let digits = |s: &str| {
        !s.is_empty() && s.bytes().all(|x| x.is_ascii_digit()) && s.parse::<u64>().is_ok()
    };
    c.is_empty()
        || c.split_once('-')
            .is_some_and(|(a, b)| digits(a) && digits(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_and_label_must_agree() {
        assert_eq!(label_for(Verdict::Approve, None), Ok(Label::Ham));
        assert_eq!(
            label_for(Verdict::Approve, Some(Label::Ham)),
            Ok(Label::Ham)
        );
        assert!(label_for(Verdict::Approve, Some(Label::Spam)).is_err());
        assert!(label_for(Verdict::Approve, Some(Label::Abusive)).is_err());
        assert!(label_for(Verdict::Reject, None).is_err());
        assert!(label_for(Verdict::Reject, Some(Label::Ham)).is_err());
        for l in [Label::Spam, Label::Abusive, Label::OffTopic] {
            assert_eq!(label_for(Verdict::Reject, Some(l)), Ok(l));
        }
    }

    #[test]
    fn a_lease_token_names_its_owner() {
        let t = new_lease_token("an");
        assert_eq!(t.len(), 32);
        assert!(check_owner(&t, "an").is_ok());
        assert_eq!(check_owner(&t, "binh"), Err(ReviewError::NotYourLease));
        assert_ne!(new_lease_token("an"), t, "tokens are random");
    }

    #[test]
    fn cursors_have_the_stream_shape() {
        assert!(is_cursor(""));
        assert!(is_cursor("1700000000000-0"));
        assert!(!is_cursor("1700000000000"));
        assert!(!is_cursor("a-b"));
    }
}
