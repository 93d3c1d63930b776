//! Webhooks: every decision event of a site (automatic or human, read from the site's decision stream) is POSTed
//! to the site's URL as JSON, signed with HMAC-SHA256 over `timestamp + "." + body`.
//!
//! Delivery is at least once and in order per site: the event after the site's delivered cursor is retried with
//! exponential backoff and jitter until it is answered 2xx or `retry_for` has passed since its first failure; then
//! it is dead-lettered and the next event goes. One replica delivers a site at a time, under a lease in the store;
//! the cursor, attempts and dead letters live in the store too, so any replica takes over and a restart loses
//! nothing. Submissions never wait for a webhook: delivery reads the stream on its own tasks.
//!
//! Secret rotation: during the overlap window both the new and the previous secret sign every delivery, so the
//! `Moderato-Signature` header carries two `v1=` values and a receiver holding either secret verifies.

pub mod client;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::metrics_labels::site_label;
use crate::review::Event;
use crate::store::webhooks::{DeadLetter, DeliveryState, Progress, WebhookConfig};
use crate::store::{Store, StoreError};
use crate::validate::{Invalid, Violations};

/// The header with the event id (also in the body as `id`).
pub const EVENT_ID_HEADER: &str = "moderato-event-id";
/// The header with the signing time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "moderato-timestamp";
/// The header with the signatures: `v1=<hex>`, or `v1=<hex>, v1=<hex>` during a rotation's overlap.
pub const SIGNATURE_HEADER: &str = "moderato-signature";
/// The longest overlap a rotation may ask for.
pub const MAX_OVERLAP_SECONDS: u64 = 7 * 86_400;
/// How often the delivery loop looks for new sites, and a site's task for new events.
const POLL: Duration = Duration::from_millis(250);

/// Turns a decision event into its JSON form (the proto3 JSON of `DecisionEvent`, given by the wiring).
pub type Encode = Arc<dyn Fn(&Event) -> serde_json::Value + Send + Sync>;

/// Delivery settings (from the `webhooks` configuration section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long an event is retried after its first failure before it is dead-lettered.
    pub retry_for: Duration,
    /// The first retry's delay; each further one doubles, up to `max_backoff`, with jitter.
    pub initial_backoff: Duration,
    /// The longest delay between two attempts.
    pub max_backoff: Duration,
    /// Bound on one attempt: connect, TLS, request and answer.
    pub timeout: Duration,
    /// The delivery lease of a site; renewed before each attempt.
    pub lease: Duration,
}

/// Why a webhook request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Bad fields, every one named.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The site has no webhook.
    #[error("site {0:?} has no webhook; set one first")]
    NotSet(String),
    /// Someone changed the webhook at the same moment.
    #[error("the webhook changed while this change was made; read it and retry")]
    Conflict,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A webhook as shown to ops: the endpoint, whether a previous secret still signs, and the delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The endpoint and secrets.
    pub config: WebhookConfig,
    /// Where delivery stands.
    pub state: DeliveryState,
}

/// The webhook service: setting and rotating endpoints, and the delivery loop.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    encode: Encode,
    poster: client::Poster,
    owner: String,
}

fn new_secret() -> String {
    let bytes: [u8; 32] = rand::thread_rng().r#gen();
    format!("whsec_{}", hex::encode(bytes))
}

fn check_secret(v: &mut Violations, field: &str, secret: &str) {
    if !secret.is_empty() && !(16..=256).contains(&secret.len()) {
        v.add(field, "must be 16-256 characters (empty: one is generated)");
    }
    if secret.chars().any(|c| c.is_control() || c == ',') {
        v.add(field, "must not contain control characters or commas");
    }
}

/// The signature of `body` sent at `timestamp` (Unix seconds) with `secret`: lowercase hex of
/// HMAC-SHA256(secret, timestamp + "." + body).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Moderato-Signature` value for `config` at `now_ms`: the current secret's signature, then the previous
/// secret's while its overlap lasts.
pub fn signature_header(
    config: &WebhookConfig,
    now_ms: u64,
    timestamp: u64,
    body: &[u8],
) -> String {
    let mut out = format!("v1={}", sign(&config.secret, timestamp, body));
    if !config.previous_secret.is_empty() && now_ms < config.previous_until_ms {
        out.push_str(", v1=");
        out.push_str(&sign(&config.previous_secret, timestamp, body));
    }
    out
}

/// The delay before attempt `attempts + 1`: `initial * 2^(attempts-1)` capped at `max`, then a uniformly random
/// part of it between one half and all of it.
pub fn backoff(s: &Settings, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = s
        .initial_backoff
        .saturating_mul(1u32 << exp)
        .min(s.max_backoff);
    let ms = full.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
}

impl Webhooks {
    /// The service over `store`; `encode` writes an event's JSON, `clock` gives signing and retry times.
    pub fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        clock: Arc<dyn Clock>,
        encode: Encode,
    ) -> Self {
        let id: [u8; 6] = rand::thread_rng().r#gen();
        Self {
            store,
            poster: client::Poster::new(settings.timeout),
            settings,
            clock,
            encode,
            owner: format!("replica-{}", hex::encode(id)),
        }
    }

    /// This replica's name in delivery leases.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Sets a site's URL, and its secret when `secret` is given (empty: a new webhook gets a generated one, an
    /// existing one keeps its secret). Returns the webhook with its secret.
    pub async fn set(
        &self,
        site: &str,
        url: &str,
        secret: &str,
    ) -> Result<WebhookConfig, WebhookError> {
        let mut v = Violations::default();
        v.site("site", site);
        if let Err(why) = client::parse_target(url) {
            v.add("url", why);
        }
        check_secret(&mut v, "secret", secret);
        v.finish()?;
        let current = self.store.webhook(site).await?;
        let expected = current.as_ref().map(|c| c.version).unwrap_or(0);
        let mut next = current.unwrap_or_default();
        next.url = url.to_string();
        if !secret.is_empty() {
            next.secret = secret.to_string();
        } else if next.secret.is_empty() {
            next.secret = new_secret();
        }
        self.write(site, expected, next).await
    }

    /// Replaces a site's secret (empty `secret`: a generated one); the old secret keeps signing, next to the new
    /// one, for `overlap_seconds`.
    pub async fn rotate(
        &self,
        site: &str,
        secret: &str,
        overlap_seconds: u64,
    ) -> Result<WebhookConfig, WebhookError> {
        let mut v = Violations::default();
        v.site("site", site);
        check_secret(&mut v, "secret", secret);
        if overlap_seconds > MAX_OVERLAP_SECONDS {
            v.add(
                "overlap_seconds",
                format!("must be at most {MAX_OVERLAP_SECONDS} (7 days)"),
            );
        }
        v.finish()?;
        let Some(current) = self.store.webhook(site).await? else {
            return Err(WebhookError::NotSet(site.to_string()));
        };
        let next = WebhookConfig {
            url: current.url.clone(),
            secret: if secret.is_empty() {
                new_secret()
            } else {
                secret.to_string()
            },
            previous_secret: current.secret.clone(),
            previous_until_ms: self.clock.now_ms() + overlap_seconds * 1000,
            version: current.version,
        };
        self.write(site, current.version, next).await
    }

    async fn write(
        &self,
        site: &str,
        expected: u64,
        next: WebhookConfig,
    ) -> Result<WebhookConfig, WebhookError> {
        match self.store.set_webhook(site, expected, &next).await? {
            Ok(version) => Ok(WebhookConfig { version, ..next }),
            Err(_) => Err(WebhookError::Conflict),
        }
    }

    /// A site's webhook and delivery state.
    pub async fn show(&self, site: &str) -> Result<Shown, WebhookError> {
        let mut v = Violations::default();
        v.site("site", site);
        v.finish()?;
        let Some(config) = self.store.webhook(site).await? else {
            return Err(WebhookError::NotSet(site.to_string()));
        };
        let state = self.store.delivery_state(site).await?;
        Ok(Shown { config, state })
    }

    /// A site's dead letters after position `after` (empty: the oldest), at most `max` (1-1000).
    pub async fn dead_letters(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<(String, DeadLetter)>, WebhookError> {
        let mut v = Violations::default();
        v.site("site", site);
        if !(1..=1000).contains(&max) {
            v.add("page_size", "must be between 1 and 1000");
        }
        if !crate::review::service::is_cursor(after) {
            v.add("page_token", "is not a token this server returned");
        }
        v.finish()?;
        Ok(self.store.dead_letters(site, after, max).await?)
    }

    /// The delivery loop: one task per site with a webhook, until `stop` turns true; each task then releases its
    /// lease so another replica (or the next start) takes over at once.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut tasks: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            if *stop.borrow() {
                break;
            }
            match self.store.webhook_sites().await {
                Ok(sites) => {
                    for site in sites {
                        let running = tasks.get(&site).is_some_and(|t| !t.is_finished());
                        if !running {
                            let task =
                                tokio::spawn(self.clone().deliver_site(site.clone(), stop.clone()));
                            tasks.insert(site, task);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks: listing sites failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL * 4) => {}
                _ = stop.changed() => {}
            }
        }
        for (_, t) in tasks {
            let _ = t.await;
        }
    }

    async fn deliver_site(self, site: String, mut stop: watch::Receiver<bool>) {
        let lease_ms = self.settings.lease.as_millis() as u64;
        loop {
            if *stop.borrow() {
                if let Err(e) = self.store.webhook_lease(&site, &self.owner, 0).await {
                    tracing::warn!(site = %site, error = %e, "webhooks: releasing the lease failed");
                }
                return;
            }
            let wait = match self.store.webhook_lease(&site, &self.owner, lease_ms).await {
                Ok(true) => match self.step(&site).await {
                    Ok(wait) => wait,
                    Err(e) => {
                        tracing::warn!(site = %site, error = %e, "webhooks: store call failed");
                        POLL * 4
                    }
                },
                Ok(false) => self.settings.lease / 2,
                Err(e) => {
                    tracing::warn!(site = %site, error = %e, "webhooks: lease call failed");
                    POLL * 4
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One delivery attempt of the event after the site's cursor, if it is due; returns how long to wait before
    /// the next step (zero: go on at once).
    async fn step(&self, site: &str) -> Result<Duration, StoreError> {
        let Some(config) = self.store.webhook(site).await? else {
            return Ok(POLL);
        };
        let state = self.store.delivery_state(site).await?;
        let now = self.clock.now_ms();
        if state.attempts > 0 && state.next_attempt_ms > now {
            return Ok(Duration::from_millis(state.next_attempt_ms - now).min(POLL));
        }
        let Some(event) = self
            .store
            .read_decisions(site, &state.cursor, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(POLL);
        };
        let event_id = format!("{site}/{}", event.cursor);
        let body = self.body(site, &event_id, &event);
        let outcome = match client::parse_target(&config.url) {
            Ok(target) => {
                let timestamp = now / 1000;
                let headers = [
                    (EVENT_ID_HEADER, event_id.clone()),
                    (TIMESTAMP_HEADER, timestamp.to_string()),
                    (
                        SIGNATURE_HEADER,
                        signature_header(&config, now, timestamp, body.as_bytes()),
                    ),
                ];
                match self
                    .poster
                    .post(&target, &headers, Bytes::from(body.clone()))
                    .await
                {
                    Ok(code) if (200..300).contains(&code) => Ok(()),
                    Ok(code) => Err(format!("answered HTTP {code}")),
                    Err(e) => Err(e),
                }
            }
            Err(why) => Err(format!("url {why}")),
        };
        let label = site_label(site);
        let now = self.clock.now_ms();
        match outcome {
            Ok(()) => {
                metrics::counter!("moderato_webhook_deliveries_total", "site" => label, "outcome" => "delivered")
                    .increment(1);
                self.store
                    .webhook_progress(
                        site,
                        &self.owner,
                        &state.cursor,
                        Progress::Delivered {
                            cursor: &event.cursor,
                        },
                    )
                    .await?;
                Ok(Duration::ZERO)
            }
            Err(error) => {
                let attempts = state.attempts + 1;
                let since = if state.attempts == 0 {
                    now
                } else {
                    state.failing_since_ms
                };
                let retry_for = self.settings.retry_for.as_millis() as u64;
                if now.saturating_sub(since) >= retry_for {
                    tracing::warn!(site = %site, event_id = %event_id, attempts, error = %error, "webhook event dead-lettered");
                    metrics::counter!("moderato_webhook_deliveries_total", "site" => label.clone(), "outcome" => "dead_lettered")
                        .increment(1);
                    metrics::counter!("moderato_webhook_dead_letters_total", "site" => label)
                        .increment(1);
                    let dead = DeadLetter {
                        event_id,
                        cursor: event.cursor.clone(),
                        attempts,
                        failing_since_ms: since,
                        dead_ms: now,
                        last_error: error,
                        body,
                    };
                    self.store
                        .webhook_progress(site, &self.owner, &state.cursor, Progress::Dead(&dead))
                        .await?;
                    return Ok(Duration::ZERO);
                }
                tracing::debug!(site = %site, event_id = %event_id, attempts, error = %error, "webhook attempt failed");
                metrics::counter!("moderato_webhook_deliveries_total", "site" => label, "outcome" => "failed")
                    .increment(1);
                let delay = backoff(&self.settings, attempts);
                self.store
                    .webhook_progress(
                        site,
                        &self.owner,
                        &state.cursor,
                        Progress::Failed {
                            now_ms: now,
                            next_attempt_ms: now + delay.as_millis() as u64,
                            error: &error,
                        },
                    )
                    .await?;
                Ok(delay.min(POLL))
            }
        }
    }

    /// The JSON body of one event: `{"id", "type", "site", "event"}`, `event` being the `DecisionEvent` as
    /// WatchDecisions and the HTTP decisions route return it.
    fn body(&self, site: &str, event_id: &str, event: &Event) -> String {
        serde_json::json!({
            "id": event_id,
            "type": "comment.decision",
            "site": site,
            "event": (self.encode)(event),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231-independent check: recompute with the hmac crate directly over the joined bytes.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").expect("key");
        mac.update(b"1700000000.{\"id\":\"x\"}");
        assert_eq!(
            sign("whsec_test", 1_700_000_000, b"{\"id\":\"x\"}"),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn both_secrets_sign_during_the_overlap_only() {
        let c = WebhookConfig {
            url: "http://127.0.0.1/h".into(),
            secret: "new-secret-0123456789".into(),
            previous_secret: "old-secret-0123456789".into(),
            previous_until_ms: 10_000,
            version: 2,
        };
        let during = signature_header(&c, 9_999, 9, b"{}");
        assert_eq!(
            during,
            format!(
                "v1={}, v1={}",
                sign(&c.secret, 9, b"{}"),
                sign(&c.previous_secret, 9, b"{}")
            )
        );
        assert_eq!(
            signature_header(&c, 10_000, 10, b"{}"),
            format!("v1={}", sign(&c.secret, 10, b"{}"))
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_within_half() {
        let s = Settings {
            retry_for: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            timeout: Duration::from_secs(1),
            lease: Duration::from_secs(5),
        };
        for (attempts, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let d = backoff(&s, attempts).as_millis() as u64;
                assert!((full / 2..=full).contains(&d), "attempt {attempts}: {d} ms");
            }
        }
    }
}
