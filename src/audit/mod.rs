//! The audit trail: who changed what, when and why. Every policy change, model activation, moderator decision,
//! overturn and lease takeover appends one entry to the audit log of its scope (a site, or `*` for global
//! documents) in the same store step as the change itself. [`AuditService::list`] reads it back, filtered and in
//! pages, for every front door.
//!
//! Retention: each scope keeps about its newest [`AUDIT_MAXLEN`] entries (older ones are trimmed as new ones
//! arrive); the log line written with each entry is the long-term copy.

pub mod service;

pub use service::{AuditError, AuditPage, AuditQuery, AuditService};

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
    /// A reader's data was erased (the detail says how many records; `after` is the tombstone id).
    pub const ERASE: &str = "ERASE";
    /// A reader appealed a decision; the comment is held for review again.
    pub const APPEAL: &str = "APPEAL";
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
