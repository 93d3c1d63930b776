//! Reading the audit trail back: [`AuditService::list`], filtered by site, actor, comment and time, in pages,
//! for every front door.

use std::sync::Arc;

use crate::review::service::is_cursor;
use crate::store::{GLOBAL_SCOPE, Store, StoreError};
use crate::validate::{Invalid, Violations};

use super::{AuditEntry, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SCAN};
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
