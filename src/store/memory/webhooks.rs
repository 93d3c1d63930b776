//! The webhook operations of the memory store (mirrors `lua/webhook_*.lua`).

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::StoreError;
use crate::store::webhooks::{
    DEAD_LETTER_MAXLEN, DeadLetter, DeliveryState, Progress, WebhookConfig, WebhookStore,
};

/// One site's webhook.
#[derive(Default)]
pub(super) struct Hook {
    config: Option<WebhookConfig>,
    state: DeliveryState,
    /// (position, dead letter), oldest first.
    dead: Vec<(u64, DeadLetter)>,
    next_dead: u64,
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn webhook(&self, site: &str) -> Result<Option<WebhookConfig>, StoreError> {
        Ok(self
            .lock()
            .webhooks
            .get(site)
            .and_then(|h| h.config.clone()))
    }

    async fn set_webhook(
        &self,
        site: &str,
        expected: u64,
        config: &WebhookConfig,
    ) -> Result<Result<u64, u64>, StoreError> {
        let mut st = self.lock();
        let last = st.sites.get(site).map(|s| s.decisions.len()).unwrap_or(0);
        let hook = st.webhooks.entry(site.to_string()).or_default();
        let current = hook.config.as_ref().map(|c| c.version).unwrap_or(0);
        if current != expected {
            return Ok(Err(current));
        }
        if hook.config.is_none() {
            hook.state.cursor = if last == 0 {
                String::new()
            } else {
                format!("0-{last}")
            };
        }
        let version = current + 1;
        hook.config = Some(WebhookConfig {
            version,
            ..config.clone()
        });
        Ok(Ok(version))
    }

    async fn webhook_sites(&self) -> Result<Vec<String>, StoreError> {
        let st = self.lock();
        let mut sites: Vec<String> = st
            .webhooks
            .iter()
            .filter(|(_, h)| h.config.is_some())
            .map(|(s, _)| s.clone())
            .collect();
        sites.sort();
        Ok(sites)
    }

    async fn webhook_lease(
        &self,
        site: &str,
        owner: &str,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let s = &mut st.webhooks.entry(site.to_string()).or_default().state;
        let mine = s.owner == owner;
        if ttl_ms == 0 {
            if mine {
                s.owner.clear();
                s.lease_until_ms = 0;
            }
            return Ok(false);
        }
        if mine || s.owner.is_empty() || s.lease_until_ms <= now {
            s.owner = owner.to_string();
            s.lease_until_ms = now + ttl_ms;
            return Ok(true);
        }
        Ok(false)
    }

    async fn delivery_state(&self, site: &str) -> Result<DeliveryState, StoreError> {
        let st = self.lock();
        Ok(st
            .webhooks
            .get(site)
            .map(|h| DeliveryState {
                dead_letters: h.dead.len() as u64,
                ..h.state.clone()
            })
            .unwrap_or_default())
    }

    async fn webhook_progress(
        &self,
        site: &str,
        owner: &str,
        from: &str,
        step: Progress<'_>,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let Some(h) = st.webhooks.get_mut(site) else {
            return Ok(false);
        };
        let s = &mut h.state;
        if s.owner != owner || s.lease_until_ms <= now || s.cursor != from {
            return Ok(false);
        }
        match step {
            Progress::Failed {
                now_ms,
                next_attempt_ms,
                error,
            } => {
                if s.attempts == 0 {
                    s.failing_since_ms = now_ms;
                }
                s.attempts += 1;
                s.next_attempt_ms = next_attempt_ms;
                s.last_error = error.to_string();
            }
            Progress::Delivered { cursor } => {
                s.cursor = cursor.to_string();
                s.attempts = 0;
                s.failing_since_ms = 0;
                s.next_attempt_ms = 0;
            }
            Progress::Dead(d) => {
                s.cursor = d.cursor.clone();
                s.attempts = 0;
                s.failing_since_ms = 0;
                s.next_attempt_ms = 0;
                h.next_dead += 1;
                h.dead.push((h.next_dead, d.clone()));
                let excess = h.dead.len().saturating_sub(DEAD_LETTER_MAXLEN as usize);
                h.dead.drain(..excess);
            }
        }
        Ok(true)
    }

    async fn dead_letters(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<(String, DeadLetter)>, StoreError> {
        let after: u64 = if after.is_empty() {
            0
        } else {
            after
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX)
        };
        let st = self.lock();
        Ok(st
            .webhooks
            .get(site)
            .map(|h| {
                h.dead
                    .iter()
                    .filter(|(n, _)| *n > after)
                    .take(max)
                    .map(|(n, d)| (format!("0-{n}"), d.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
}
