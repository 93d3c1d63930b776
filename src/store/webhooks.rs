//! What the store keeps for webhooks: each site's endpoint and secrets, its delivery state (the delivered cursor,
//! the attempts on the event at the head, the lease that lets one replica deliver the site at a time) and its dead
//! letters. Every step is atomic; progress is fenced by the lease holder and the cursor it started from.

use async_trait::async_trait;

use super::StoreError;

/// Dead letters kept per site (the oldest are trimmed beyond about this many).
pub const DEAD_LETTER_MAXLEN: u64 = 10_000;

/// A site's webhook endpoint and secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// The current signing secret.
    pub secret: String,
    /// The secret before the last rotation (empty: none); it signs too until `previous_until_ms`.
    pub previous_secret: String,
    /// Until when (epoch ms) `previous_secret` still signs; 0 when there is none.
    pub previous_until_ms: u64,
    /// Bumped by every change (1 after the first).
    pub version: u64,
}

/// Where a site's delivery stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryState {
    /// The decision-stream cursor of the last event delivered or dead-lettered (empty: from the stream's start).
    pub cursor: String,
    /// Failed attempts on the event after `cursor`.
    pub attempts: u32,
    /// When the first of those attempts failed (epoch ms, deliverer's clock); 0 when none failed.
    pub failing_since_ms: u64,
    /// When to try that event again (epoch ms, deliverer's clock).
    pub next_attempt_ms: u64,
    /// The last failure, one line.
    pub last_error: String,
    /// The replica holding the delivery lease (empty: nobody).
    pub owner: String,
    /// When its lease ends (epoch ms, store time).
    pub lease_until_ms: u64,
    /// Dead letters held for the site.
    pub dead_letters: u64,
}

/// An event given up on after retrying for the configured time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event id sent in the body and the `Moderato-Event-Id` header.
    pub event_id: String,
    /// Its decision-stream cursor.
    pub cursor: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the first attempt failed (epoch ms).
    pub failing_since_ms: u64,
    /// When it was given up (epoch ms).
    pub dead_ms: u64,
    /// The last failure.
    pub last_error: String,
    /// The JSON body that was sent.
    pub body: String,
}

/// A step of delivery progress, fenced by the lease holder and the cursor it started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<'a> {
    /// The event after the cursor failed again; retry at `next_attempt_ms`.
    Failed {
        /// The deliverer's now, epoch ms (recorded as `failing_since_ms` on the first failure).
        now_ms: u64,
        /// When to try again.
        next_attempt_ms: u64,
        /// What went wrong, one line.
        error: &'a str,
    },
    /// The event at `cursor` was delivered: the cursor moves to it, attempts reset.
    Delivered {
        /// The delivered event's cursor.
        cursor: &'a str,
    },
    /// The event was given up: the dead letter is kept and the cursor moves past it.
    Dead(&'a DeadLetter),
}

/// The webhook operations of a [`super::Store`]. Each is one atomic step on every backend.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// A site's webhook, or `None` when never set.
    async fn webhook(&self, site: &str) -> Result<Option<WebhookConfig>, StoreError>;

    /// Sets a site's webhook if its version is still `expected` (0: never set) and registers the site for
    /// delivery. The first time, delivery starts after the newest event already in the decision stream. Returns
    /// `Ok(new version)` or `Err(current version)` when `expected` is stale (nothing changed).
    async fn set_webhook(
        &self,
        site: &str,
        expected: u64,
        config: &WebhookConfig,
    ) -> Result<Result<u64, u64>, StoreError>;

    /// Every site with a webhook.
    async fn webhook_sites(&self) -> Result<Vec<String>, StoreError>;

    /// Takes or renews the site's delivery lease for `owner` for `ttl_ms` (store time); false while another
    /// owner's lease is live. `ttl_ms` 0 releases the lease if `owner` holds it (and returns false).
    async fn webhook_lease(&self, site: &str, owner: &str, ttl_ms: u64)
    -> Result<bool, StoreError>;

    /// The site's delivery state (default when never set).
    async fn delivery_state(&self, site: &str) -> Result<DeliveryState, StoreError>;

    /// Records progress if `owner` holds a live lease and the cursor is still `from`; false otherwise (nothing
    /// changed).
    async fn webhook_progress(
        &self,
        site: &str,
        owner: &str,
        from: &str,
        step: Progress<'_>,
    ) -> Result<bool, StoreError>;

    /// Dead letters after position `after` (empty: from the oldest), oldest first, at most `max`, each with its
    /// position.
    async fn dead_letters(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<(String, DeadLetter)>, StoreError>;
}
