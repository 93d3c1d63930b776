//! The audit trail: who changed what, when and why. Every policy change, model activation, moderator decision,
//! overturn and lease takeover appends one entry to the audit log of its scope (a site, or `*` for global
//! documents) in the same store step as the change itself. [`AuditService::list`] reads it back, filtered and in
//! pages, for every front door.
//!
//! Retention: each scope keeps about its newest [`AUDIT_MAXLEN`] entries (older ones are trimmed as new ones
//! arrive); the log line written with each entry is the long-term copy.

use std::sync::Arc;

use crate::review::service::is_cursor;
use crate::store::{GLOBAL_SCOPE, Store, StoreError};
use crate::validate::{Invalid, Violations};

/// Entries kept per scope (approximately, in Redis: the stream is trimmed with `MAXLEN ~`).
pub const AUDIT_MAXLEN: u64 = 100_000;
/// Page size when a request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Entries one page read scans at most per scope; a page with filters may come back short (with a token).
const SCAN: usize = 2000;

/// What an audit entry records. Spelled as in the store.
pub mod action {
    /// A policy document changed (a site's overrides, or the global default).
    pub const POLICY_UPDATE: &str = "POLICY_UPDATE";
    /// A site joined the index of sites with a policy of their own.
    pub const POLICY_SITES: &str = "POLICY_SITES";
    /// A model was activated for a site or globally.
    pub const MODEL_ACTIVATE: &str = "MODEL_ACTIVATE";
    /// A model activation was rolled back.
    pub const MODEL_ROLLBACK: &str = "MODEL_ROLLBACK";
    /// A moderator decided a held comment.
    pub const REVIEW: &str = "REVIEW";
    /// A published or rejected comment was reversed.
    pub const OVERTURN: &str = "OVERTURN";
    /// A claimed comment's lease was taken over by another identity.
    pub const TAKEOVER: &str = "TAKEOVER";
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    /// Position in its scope's log (`<ms>-<seq>`).
    pub cursor: String,
    /// The log it is in: a site id, or `*`.
    pub scope: String,
    /// The site the change concerns (`*` for the global default).
    pub site: String,
    /// When, epoch ms (store time).
    pub at_ms: u64,
    /// Who: the token name.
    pub actor: String,
    /// What (see [`action`]).
    pub action: String,
    /// The comment, for decisions, overturns and takeovers.
    pub comment_id: String,
    /// The state before: a status, the previous lease holder, or the previous document.
    pub before: String,
    /// The state after: a status, the new lease holder, or the new document.
    pub after: String,
    /// The label a decision recorded.
    pub label: String,
    /// The moderator's note.
    pub note: String,
    /// A one-line summary (e.g. `v1 -> v2` for a model activation).
    pub detail: String,
}

/// What a document change tells the audit log besides the documents themselves.
#[derive(Debug, Clone, Copy)]
pub struct AuditNote<'a> {
    /// What (see [`action`]).
    pub action: &'a str,
    /// The site concerned (`*`: the global default).
    pub site: &'a str,
    /// One-line summary.
    pub detail: &'a str,
}

/// A filtered read of the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// A site id (its own log plus the global entries about it); empty or `*`: the global log.
    pub site: String,
    /// Only entries by this token name (empty: anyone).
    pub actor: String,
    /// Only entries about this comment (empty: any).
    pub comment_id: String,
    /// Only entries at or after this instant, epoch ms (0: from the start).
    pub since_ms: u64,
    /// Only entries before this instant, epoch ms (0: up to now).
    pub until_ms: u64,
    /// Entries per page (0: [`DEFAULT_PAGE_SIZE`]).
    pub page_size: u32,
    /// Empty for the first page, else the previous page's `next_page_token`.
    pub page_token: String,
}

/// One page of entries, oldest first.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Pass back for the next page; empty when no entry is left.
    pub next_page_token: String,
}

/// Why reading the audit log failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// Bad fields, every one named.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the audit trail.
#[derive(Clone)]
pub struct AuditService {
    store: Arc<dyn Store>,
}

/// Orders stream cursors `<ms>-<seq>` numerically.
fn cursor_key(c: &str) -> (u64, u64) {
    let (a, b) = c.split_once('-').unwrap_or((c, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

impl AuditService {
    /// The service over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// One page of the entries `q` selects, oldest first. The global log is read together with a site's log for
    /// the entries about that site (model activations); a page may hold fewer than `page_size` entries while
    /// more follow, so continue while `next_page_token` is not empty.
    pub async fn list(&self, q: &AuditQuery) -> Result<AuditPage, AuditError> {
        let mut v = Violations::default();
        let global_only = q.site.is_empty() || q.site == GLOBAL_SCOPE;
        if !global_only {
            v.site("site", &q.site);
        }
        if !q.comment_id.is_empty() {
            v.comment_id("comment_id", &q.comment_id);
        }
        if q.page_size > MAX_PAGE_SIZE {
            v.add(
                "page_size",
                format!("must be at most {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})"),
            );
        }
        if q.until_ms != 0 && q.until_ms <= q.since_ms {
            v.add("until", "must be after `since`");
        }
        let scopes: Vec<&str> = if global_only {
            vec![GLOBAL_SCOPE]
        } else {
            vec![q.site.as_str(), GLOBAL_SCOPE]
        };
        let mut cursors: Vec<String> = if q.page_token.is_empty() {
            vec![String::new(); scopes.len()]
        } else {
            q.page_token.split('|').map(str::to_string).collect()
        };
        if cursors.len() != scopes.len() || !cursors.iter().all(|c| is_cursor(c)) {
            v.add(
                "page_token",
                "must be empty or the next_page_token of the previous page of the same query",
            );
        }
        v.finish()?;
        let page_size = if q.page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            q.page_size
        } as usize;
        let until = if q.until_ms == 0 {
            u64::MAX
        } else {
            q.until_ms
        };
        // Read a batch from each scope; a batch that came back full may have more after it, so the merged walk
        // stops at the lowest last cursor among full batches.
        let mut batches = Vec::with_capacity(scopes.len());
        let mut more = vec![false; scopes.len()];
        for (i, scope) in scopes.iter().enumerate() {
            let b = self
                .store
                .audit(scope, &cursors[i], q.since_ms, until, SCAN)
                .await?;
            more[i] = b.len() >= SCAN;
            batches.push(b);
        }
        let horizon = batches
            .iter()
            .zip(&more)
            .filter(|(_, m)| **m)
            .filter_map(|(b, _)| b.last().map(|e| cursor_key(&e.cursor)))
            .min();
        let mut merged: Vec<(usize, AuditEntry)> = batches
            .into_iter()
            .enumerate()
            .flat_map(|(i, b)| b.into_iter().map(move |e| (i, e)))
            .filter(|(_, e)| horizon.is_none_or(|h| cursor_key(&e.cursor) <= h))
            .collect();
        // By time; within one log time never decreases along the cursors, so each log is walked in its own order.
        merged.sort_by_key(|(i, e)| (e.at_ms, cursor_key(&e.cursor), *i));
        let mut entries = Vec::new();
        let mut cut = false;
        for (i, e) in merged {
            let wanted = (i == 0 || global_only || e.site == q.site)
                && (q.actor.is_empty() || e.actor == q.actor)
                && (q.comment_id.is_empty() || e.comment_id == q.comment_id)
                && e.at_ms >= q.since_ms
                && e.at_ms < until;
            if wanted && entries.len() == page_size {
                cut = true;
                break;
            }
            cursors[i] = e.cursor.clone();
            if wanted {
                entries.push(e);
            }
        }
        let more_left = cut || more.iter().any(|m| *m);
        Ok(AuditPage {
            entries,
            next_page_token: if more_left {
                cursors.join("|")
            } else {
                String::new()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_order_numerically() {
        assert!(cursor_key("9-5") < cursor_key("10-0"));
        assert!(cursor_key("10-2") < cursor_key("10-10"));
    }
}
