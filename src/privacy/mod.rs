//! Readers' data: erasure and export of one reader, appeals, and the reader-facing statement of reasons
//! ([`statement`]).
//!
//! A reader is found through the author indexes the store keeps per site: one sorted set per keyed hash of a
//! phone number or an e-mail address ([`author_hashes`], the same HMAC as the rate limits), written in the
//! admission step and expiring with the comments it lists. Erasure walks an index in batches; each batch is one
//! store step that replaces the records and removes the ids from the index, so a rerun after an interruption
//! continues where the last finished batch left off, and a finished erasure run again changes nothing.
//!
//! "All sites" are the sites in the store's registry of sites seen (`Store::sites`): a site enters it the first
//! time a replica admits a comment for it, before that comment is stored.

pub mod statement;

use std::sync::Arc;

use serde::Serialize;

use crate::audit::{AuditEntry, action};
use crate::rate_limit::Identifiers;
use crate::review::{CommentRecord, DecisionKind, Reason, Status, StoredComment};
use crate::store::{Appealed, Erase, Store, StoreError};
use crate::text::{clean_text, normalize_phone, valid_email};
use crate::validate::{Invalid, Violations};

/// Comments one erasure or export step handles.
pub const BATCH: usize = 100;

/// Longest appeal message, in characters.
pub const APPEAL_MESSAGE_MAX: usize = 1000;

/// Who a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The author of comments with this phone number (any accepted spelling).
    Phone(String),
    /// The author of comments with this e-mail address (case-insensitive).
    Email(String),
    /// The author of this comment: its phone and e-mail, and the comment itself.
    Comment(String),
}

/// Where: one site, or every site in the registry of sites seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One site.
    Site(String),
    /// Every site seen.
    AllSites,
}

impl Scope {
    /// `""` or `*`: all sites; else one site (checked).
    pub fn parse(site: &str, v: &mut Violations) -> Scope {
        if site.is_empty() || site == "*" {
            Scope::AllSites
        } else {
            v.site("site", site);
            Scope::Site(site.to_string())
        }
    }
}

/// Why a privacy request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyError {
    /// Bad fields, every one named.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such comment.
    #[error("no comment {0} (unknown, or past its retention)")]
    NotFound(String),
    /// The comment cannot be appealed in its present state.
    #[error("{0}")]
    NotAppealable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The keyed hashes that index an author: of the normalised phone and of the lowercased e-mail, each when given.
/// The phone's is the subject the `author` rate limit counts.
pub fn author_hashes(ids: &Identifiers, phone: &str, email: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !phone.is_empty() {
        out.push(ids.hash("phone", &[phone]));
    }
    let email = email.trim().to_lowercase();
    if !email.is_empty() {
        out.push(ids.hash("email", &[&email]));
    }
    out
}

/// The record with the reader's data gone: name replaced by the tombstone id, phone, e-mail, title and body
/// emptied, reason details (which may quote the text) emptied; codes, score, versions and times kept.
pub fn tombstoned(r: &CommentRecord, tombstone: &str) -> CommentRecord {
    CommentRecord {
        name: tombstone.to_string(),
        phone: String::new(),
        email: String::new(),
        title: String::new(),
        body: String::new(),
        reasons: r
            .reasons
            .iter()
            .map(|x| Reason {
                detail: String::new(),
                ..x.clone()
            })
            .collect(),
        ..r.clone()
    }
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EraseReport {
    /// The id that stands for the reader in the records and the audit log from now on.
    pub tombstone: String,
    /// (site, records erased by this run), for every site looked at.
    pub sites: Vec<(String, u64)>,
    /// False when the run stopped at its batch limit; run it again to continue.
    pub complete: bool,
}

impl EraseReport {
    /// Records erased by this run.
    pub fn total(&self) -> u64 {
        self.sites.iter().map(|(_, n)| n).sum()
    }
}

/// One comment of a reader, as exported (one JSON line each).
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// Site id.
    pub site: String,
    /// The comment.
    pub comment_id: String,
    /// Its article.
    pub thread_id: String,
    /// Name as submitted (normalised).
    pub name: String,
    /// Phone (normalised), or empty.
    pub phone: String,
    /// E-mail, or empty.
    pub email: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Submission time, epoch ms.
    pub submitted_ms: u64,
    /// Status now.
    pub status: Status,
    /// Reason codes of the automatic decision.
    pub reason_codes: Vec<String>,
    /// Every decision, oldest first.
    pub decisions: Vec<ExportedDecision>,
}

/// One decision in an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedDecision {
    /// Status after it.
    pub status: Status,
    /// How it came about.
    pub kind: DecisionKind,
    /// `system`, `moderator` or `reader` (an appeal).
    pub decided_by: &'static str,
    /// When, epoch ms.
    pub decided_ms: u64,
    /// The reader's own appeal message, for an appeal.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub appeal_message: String,
}

fn exported(site: &str, c: &StoredComment) -> Exported {
    let r = &c.record;
    Exported {
        site: site.to_string(),
        comment_id: r.comment_id.clone(),
        thread_id: r.thread_id.clone(),
        name: r.name.clone(),
        phone: r.phone.clone(),
        email: r.email.clone(),
        title: r.title.clone(),
        body: r.body.clone(),
        submitted_ms: r.created_ms,
        status: c.status,
        reason_codes: r.reasons.iter().map(|x| x.code.clone()).collect(),
        decisions: c
            .history
            .iter()
            .map(|e| ExportedDecision {
                status: e.status,
                kind: e.kind,
                decided_by: match e.kind {
                    DecisionKind::Automatic => "system",
                    DecisionKind::Appeal => "reader",
                    _ => "moderator",
                },
                decided_ms: e.decided_ms,
                appeal_message: if e.kind == DecisionKind::Appeal {
                    e.note.clone()
                } else {
                    String::new()
                },
            })
            .collect(),
    }
}

/// A reader's other comments on a site, counted by status: the author's history a moderator sees beside a held
/// comment. Readers are told apart by phone and e-mail (the author indexes); a comment with neither has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorHistory {
    /// Published.
    pub published: u64,
    /// Held for review.
    pub pending: u64,
    /// Rejected.
    pub rejected: u64,
    /// More than [`HISTORY_MAX`] other comments: the counts cover the most recent ones.
    pub truncated: bool,
    /// The comment gives no phone or e-mail, so its author's other comments cannot be found.
    pub unidentified: bool,
}

/// The most other comments an author history counts.
pub const HISTORY_MAX: usize = 500;

/// The most comments of one author index the trust rule reads per submission: the last ones of the index (held
/// comments, then the most recently decided), so a recent rejection is always among them.
pub const STANDING_MAX: usize = 200;

/// An author's standing on `site` for the policy's trust rule: their indexed comments (under each of `hashes`,
/// the keyed hashes of their phone and e-mail; the last [`STANDING_MAX`] per hash, each counted once) that are
/// published, and those rejected at or after `since_ms` (by the time of their last decision). Unknown when there
/// is no hash to look under. Reads statuses only ([`Store::author_statuses`]), per hash.
pub async fn author_standing(
    store: &dyn Store,
    site: &str,
    hashes: &[String],
    since_ms: u64,
) -> Result<crate::scoring::AuthorStanding, StoreError> {
    let mut s = crate::scoring::AuthorStanding {
        known: !hashes.is_empty(),
        ..Default::default()
    };
    let mut seen = std::collections::HashSet::new();
    for hash in hashes {
        for e in store.author_statuses(site, hash, STANDING_MAX).await? {
            if !seen.insert(e.comment_id) {
                continue;
            }
            let recent = e.changed_ms >= since_ms;
            match (e.status, e.last) {
                (Status::Published, _) => s.approved += 1,
                // A rejected comment under appeal still counts as rejected until a moderator decides it.
                (Status::Rejected, _) | (Status::PendingReview, DecisionKind::Appeal) if recent => {
                    s.rejected_recently += 1
                }
                _ => {}
            }
        }
    }
    Ok(s)
}

/// Erasure, export and appeals over the store.
#[derive(Clone)]
pub struct Privacy {
    store: Arc<dyn Store>,
    ids: Identifiers,
    /// Wakes this replica's decision watchers when an appeal puts a comment back in the queue.
    announcer: crate::review::service::Announcer,
}

/// What a selector resolves to on one site.
struct Target {
    hashes: Vec<String>,
    /// The selected comment (comment selector), handled after the indexes.
    comment: Option<StoredComment>,
}

impl Privacy {
    /// Over `store`, hashing identifiers with `ids` (the server's identifier key); `announcer` wakes the decision
    /// watchers after an appeal.
    pub fn new(
        store: Arc<dyn Store>,
        ids: Identifiers,
        announcer: crate::review::service::Announcer,
    ) -> Self {
        Self {
            store,
            ids,
            announcer,
        }
    }

    fn check(selector: &Selector, v: &mut Violations) {
        match selector {
            Selector::Phone(p) if normalize_phone(p).is_none() => v.add(
                "phone",
                "must be a Vietnamese phone number such as 0912 345 678 or +84 912 345 678",
            ),
            Selector::Email(e) if !valid_email(e.trim()) => {
                v.add("email", "is not a valid e-mail address")
            }
            Selector::Comment(id) => v.comment_id("comment_id", id),
            _ => {}
        }
    }

    async fn sites(&self, scope: &Scope) -> Result<Vec<String>, PrivacyError> {
        Ok(match scope {
            Scope::Site(s) => vec![s.clone()],
            Scope::AllSites => self.store.sites().await?,
        })
    }

    /// The hashes a selector stands for on `site`, and the selected comment if it lives there.
    async fn target(&self, site: &str, selector: &Selector) -> Result<Target, PrivacyError> {
        Ok(match selector {
            Selector::Phone(p) => Target {
                hashes: author_hashes(&self.ids, &normalize_phone(p).unwrap_or_default(), ""),
                comment: None,
            },
            Selector::Email(e) => Target {
                hashes: author_hashes(&self.ids, "", e),
                comment: None,
            },
            Selector::Comment(id) => match self.store.get_comment(site, id).await? {
                Some(c) => Target {
                    hashes: author_hashes(&self.ids, &c.record.phone, &c.record.email),
                    comment: Some(c),
                },
                None => Target {
                    hashes: Vec::new(),
                    comment: None,
                },
            },
        })
    }

    /// The tombstone id of a reader: a keyed hash, so the same reader always gets the same one and reruns agree.
    fn tombstone(&self, target: &Target) -> String {
        let basis = match (&target.hashes.first(), &target.comment) {
            (Some(h), _) => h.to_string(),
            (None, Some(c)) => c.record.comment_id.clone(),
            (None, None) => String::new(),
        };
        format!("erased-{}", &self.ids.hash("tombstone", &[&basis])[..16])
    }

    /// Erases a reader's data on `scope`: every comment listed under the selector's author indexes (and the
    /// selected comment) gets its record tombstoned ([`tombstoned`]), its label rows and idempotency entry
    /// removed, the messages of its appeals blanked; decisions, events and audit entries stay. Each site gets an
    /// `ERASE` audit entry by `who` with the count. `max_batches` stops the run early (a rerun continues).
    pub async fn erase(
        &self,
        scope: &Scope,
        selector: &Selector,
        who: &str,
        max_batches: Option<usize>,
    ) -> Result<EraseReport, PrivacyError> {
        let mut v = Violations::default();
        Self::check(selector, &mut v);
        v.finish()?;
        let mut report = EraseReport {
            complete: true,
            ..EraseReport::default()
        };
        let mut batches = 0usize;
        let mut found_comment = false;
        let mut targets = Vec::new();
        for site in self.sites(scope).await? {
            let t = self.target(&site, selector).await?;
            found_comment |= t.comment.is_some();
            targets.push((site, t));
        }
        if let Selector::Comment(id) = selector
            && !found_comment
        {
            return Err(PrivacyError::NotFound(id.clone()));
        }
        // A comment id stands for its author on every site looked at.
        let shared = targets
            .iter()
            .find(|(_, t)| t.comment.is_some())
            .map(|(_, t)| t.hashes.clone());
        let tombstone = targets
            .iter()
            .find(|(_, t)| t.comment.is_some())
            .or(targets.first())
            .map(|(_, t)| self.tombstone(t))
            .unwrap_or_else(|| {
                self.tombstone(&Target {
                    hashes: Vec::new(),
                    comment: None,
                })
            });
        report.tombstone = tombstone.clone();
        for (site, mut t) in targets {
            if let Some(h) = &shared {
                t.hashes.clone_from(h);
            }
            let selected = t.comment.as_ref().map(|c| c.record.comment_id.clone());
            let mut n = 0u64;
            'hashes: for h in &t.hashes {
                loop {
                    if max_batches.is_some_and(|m| batches >= m) {
                        report.complete = false;
                        break 'hashes;
                    }
                    let items = self.store.author_comments(&site, h, 0, BATCH).await?;
                    if items.is_empty() {
                        break;
                    }
                    let mut records = Vec::new();
                    let mut gone = Vec::new();
                    for (id, c) in items {
                        match c {
                            // The selected comment is erased last, so a rerun can still resolve its author.
                            Some(c) if Some(&id) != selected.as_ref() => {
                                records.push(tombstoned(&c.record, &tombstone))
                            }
                            _ => gone.push(id),
                        }
                    }
                    n += self
                        .store
                        .erase(Erase {
                            site: &site,
                            author: Some(h),
                            records: &records,
                            gone: &gone,
                        })
                        .await?;
                    batches += 1;
                }
            }
            if report.complete
                && let Some(c) = &t.comment
            {
                n += self
                    .store
                    .erase(Erase {
                        site: &site,
                        author: None,
                        records: &[tombstoned(&c.record, &tombstone)],
                        gone: &[],
                    })
                    .await?;
            }
            self.store
                .append_audit(
                    &site,
                    &AuditEntry {
                        site: site.clone(),
                        actor: who.to_string(),
                        action: action::ERASE.to_string(),
                        after: tombstone.clone(),
                        detail: format!(
                            "{n} records erased{}",
                            if report.complete {
                                ""
                            } else {
                                " (stopped at the batch limit; run again to finish)"
                            }
                        ),
                        ..AuditEntry::default()
                    },
                )
                .await?;
            tracing::info!(site, who, records = n, tombstone, "audit: reader erased");
            report.sites.push((site, n));
            if !report.complete {
                break;
            }
        }
        Ok(report)
    }

    /// Every comment of a reader on `scope` with its decisions, one [`Exported`] at a time into `out` (oldest
    /// index entries first per site). Stops quietly when `out` is closed.
    pub async fn export(
        &self,
        scope: &Scope,
        selector: &Selector,
        out: tokio::sync::mpsc::Sender<Result<Exported, PrivacyError>>,
    ) -> Result<(), PrivacyError> {
        let mut v = Violations::default();
        Self::check(selector, &mut v);
        v.finish()?;
        let mut targets = Vec::new();
        for site in self.sites(scope).await? {
            let t = self.target(&site, selector).await?;
            targets.push((site, t));
        }
        if let Selector::Comment(id) = selector
            && targets.iter().all(|(_, t)| t.comment.is_none())
        {
            return Err(PrivacyError::NotFound(id.clone()));
        }
        let shared = targets
            .iter()
            .find(|(_, t)| t.comment.is_some())
            .map(|(_, t)| t.hashes.clone());
        for (site, t) in targets {
            let hashes = shared.clone().unwrap_or(t.hashes);
            let mut seen = std::collections::HashSet::new();
            if let Some(c) = t.comment {
                seen.insert(c.record.comment_id.clone());
                if out.send(Ok(exported(&site, &c))).await.is_err() {
                    return Ok(());
                }
            }
            for h in &hashes {
                let mut offset = 0;
                loop {
                    let items = self.store.author_comments(&site, h, offset, BATCH).await?;
                    if items.is_empty() {
                        break;
                    }
                    offset += items.len();
                    for (id, c) in items {
                        let Some(c) = c else { continue };
                        if !seen.insert(id) {
                            continue;
                        }
                        if out.send(Ok(exported(&site, &c))).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The history of `comment`'s author on `site`: the other comments under its phone's and e-mail's author
    /// indexes (the last [`HISTORY_MAX`] + 1 of each, statuses only), each counted once by its status now.
    pub async fn history(
        &self,
        site: &str,
        comment: &CommentRecord,
    ) -> Result<AuthorHistory, PrivacyError> {
        let hashes = author_hashes(&self.ids, &comment.phone, &comment.email);
        let mut h = AuthorHistory {
            unidentified: hashes.is_empty(),
            ..AuthorHistory::default()
        };
        let mut seen = std::collections::HashSet::from([comment.comment_id.clone()]);
        for hash in &hashes {
            for e in self
                .store
                .author_statuses(site, hash, HISTORY_MAX + 1)
                .await?
            {
                if !seen.insert(e.comment_id) {
                    continue;
                }
                if seen.len() > HISTORY_MAX + 1 {
                    h.truncated = true;
                    return Ok(h);
                }
                match e.status {
                    Status::Published => h.published += 1,
                    Status::PendingReview => h.pending += 1,
                    Status::Rejected => h.rejected += 1,
                }
            }
        }
        Ok(h)
    }

    /// The reader-facing statement of reasons for a rejected or held comment.
    pub async fn statement(
        &self,
        site: &str,
        comment_id: &str,
    ) -> Result<statement::Statement, PrivacyError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.comment_id("comment_id", comment_id);
        v.finish()?;
        let c = self
            .store
            .get_comment(site, comment_id)
            .await?
            .ok_or_else(|| PrivacyError::NotFound(comment_id.to_string()))?;
        statement::statement(&c).ok_or_else(|| {
            PrivacyError::NotAppealable(
                "the comment is published; a statement of reasons exists only for rejected or held comments"
                    .into(),
            )
        })
    }

    /// Files a reader's appeal against the rejection of a comment: it goes back to the review queue, marked as an
    /// appeal, and no claim hands it to the moderator who rejected it. One appeal per comment; a held comment
    /// is already waiting for a moderator, and a published one has nothing to appeal.
    pub async fn appeal(
        &self,
        site: &str,
        comment_id: &str,
        message: &str,
        who: &str,
    ) -> Result<(crate::review::Event, String), PrivacyError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.comment_id("comment_id", comment_id);
        let message = clean_text(message);
        let n = message.chars().count();
        if n > APPEAL_MESSAGE_MAX {
            v.add(
                "message",
                format!("must be at most {APPEAL_MESSAGE_MAX} characters (got {n})"),
            );
        }
        v.finish()?;
        match self
            .store
            .appeal(site, comment_id, Status::Rejected, &message, who)
            .await?
        {
            Appealed::Done { event, decider } => {
                tracing::info!(
                    site,
                    comment_id,
                    who,
                    against = decider,
                    "audit: appeal filed"
                );
                self.announcer.announce();
                Ok((*event, decider))
            }
            Appealed::NotFound => Err(PrivacyError::NotFound(comment_id.to_string())),
            Appealed::AlreadyAppealed => Err(PrivacyError::NotAppealable(
                "this comment was appealed before; a comment can be appealed once".into(),
            )),
            Appealed::WrongStatus(s) => Err(PrivacyError::NotAppealable(format!(
                "the comment is {}; only a rejected comment can be appealed",
                s.as_str()
            ))),
        }
    }
}
