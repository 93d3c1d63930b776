//! The webhook operations of the Redis store: `lua/webhook_set.lua`, `lua/webhook_lease.lua` and
//! `lua/webhook_progress.lua`, plus plain reads. Every key but the site registry carries the site's hash tag.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{
    RedisStore, WEBHOOK_LEASE as LEASE, WEBHOOK_PROGRESS as PROGRESS, WEBHOOK_SET as SET,
    range_start,
};
use crate::store::StoreError;
use crate::store::webhooks::{
    DEAD_LETTER_MAXLEN, DeadLetter, DeliveryState, Progress, WebhookConfig, WebhookStore,
};

fn num<T: std::str::FromStr + Default>(h: &HashMap<String, String>, f: &str) -> T {
    h.get(f).and_then(|v| v.parse().ok()).unwrap_or_default()
}

fn field(h: &HashMap<String, String>, f: &str) -> String {
    h.get(f).cloned().unwrap_or_default()
}

impl RedisStore {
    async fn hgetall(&self, key: String) -> Result<HashMap<String, String>, StoreError> {
        self.query(|c| {
            Box::pin(async move { redis::cmd("HGETALL").arg(&key).query_async(c).await })
        })
        .await
    }
}

#[async_trait]
impl WebhookStore for RedisStore {
    async fn webhook(&self, site: &str) -> Result<Option<WebhookConfig>, StoreError> {
        let h = self.hgetall(self.keys.webhook(site)).await?;
        if h.is_empty() {
            return Ok(None);
        }
        Ok(Some(WebhookConfig {
            url: field(&h, "url"),
            secret: field(&h, "secret"),
            previous_secret: field(&h, "prev"),
            previous_until_ms: num(&h, "prev_until"),
            version: num(&h, "v"),
        }))
    }

    async fn set_webhook(
        &self,
        site: &str,
        expected: u64,
        config: &WebhookConfig,
    ) -> Result<Result<u64, u64>, StoreError> {
        let mut inv = SET.prepare_invoke();
        inv.key(self.keys.webhook(site))
            .key(self.keys.webhook_state(site))
            .key(self.keys.decisions(site))
            .arg(expected)
            .arg(&config.url)
            .arg(&config.secret)
            .arg(&config.previous_secret)
            .arg(config.previous_until_ms);
        let r: Vec<i64> = self.run(inv).await?;
        let outcome = match r.as_slice() {
            [1, v] => Ok(*v as u64),
            [0, v] => Err(*v as u64),
            _ => return Err(StoreError::Corrupt(format!("webhook_set returned {r:?}"))),
        };
        if outcome.is_ok() {
            // The registry lives in the global slot, hence a second call; adding twice is harmless, and a
            // registration lost to a crash right here is made again by the next change.
            let (key, site) = (self.keys.webhook_sites(), site.to_string());
            let _: i64 = self
                .query(|c| {
                    Box::pin(
                        async move { redis::cmd("SADD").arg(&key).arg(&site).query_async(c).await },
                    )
                })
                .await?;
        }
        Ok(outcome)
    }

    async fn webhook_sites(&self) -> Result<Vec<String>, StoreError> {
        let key = self.keys.webhook_sites();
        let mut sites: Vec<String> = self
            .query(|c| {
                Box::pin(async move { redis::cmd("SMEMBERS").arg(&key).query_async(c).await })
            })
            .await?;
        sites.sort();
        Ok(sites)
    }

    async fn webhook_lease(
        &self,
        site: &str,
        owner: &str,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut inv = LEASE.prepare_invoke();
        inv.key(self.keys.webhook_state(site))
            .arg(owner)
            .arg(ttl_ms);
        let r: i64 = self.run(inv).await?;
        Ok(r == 1)
    }

    async fn delivery_state(&self, site: &str) -> Result<DeliveryState, StoreError> {
        let h = self.hgetall(self.keys.webhook_state(site)).await?;
        let key = self.keys.webhook_dead(site);
        let dead: u64 = self
            .query(|c| Box::pin(async move { redis::cmd("XLEN").arg(&key).query_async(c).await }))
            .await?;
        Ok(DeliveryState {
            cursor: field(&h, "cursor"),
            attempts: num(&h, "attempts"),
            failing_since_ms: num(&h, "since"),
            next_attempt_ms: num(&h, "next"),
            last_error: field(&h, "err"),
            owner: field(&h, "owner"),
            lease_until_ms: num(&h, "until"),
            dead_letters: dead,
        })
    }

    async fn webhook_progress(
        &self,
        site: &str,
        owner: &str,
        from: &str,
        step: Progress<'_>,
    ) -> Result<bool, StoreError> {
        let mut inv = PROGRESS.prepare_invoke();
        inv.key(self.keys.webhook_state(site))
            .key(self.keys.webhook_dead(site))
            .arg(owner)
            .arg(from);
        match step {
            Progress::Failed {
                now_ms,
                next_attempt_ms,
                error,
            } => {
                inv.arg("failed")
                    .arg(now_ms)
                    .arg(next_attempt_ms)
                    .arg(error);
            }
            Progress::Delivered { cursor } => {
                inv.arg("delivered").arg(cursor);
            }
            Progress::Dead(d) => {
                inv.arg("dead")
                    .arg(&d.cursor)
                    .arg(&d.event_id)
                    .arg(d.attempts)
                    .arg(d.failing_since_ms)
                    .arg(d.dead_ms)
                    .arg(&d.last_error)
                    .arg(&d.body)
                    .arg(DEAD_LETTER_MAXLEN);
            }
        }
        let r: i64 = self.run(inv).await?;
        Ok(r == 1)
    }

    async fn dead_letters(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<(String, DeadLetter)>, StoreError> {
        let reply = self
            .xrange(self.keys.webhook_dead(site), range_start(after), max)
            .await?;
        reply
            .ids
            .iter()
            .map(|e| {
                let get = |f: &str| -> Result<String, StoreError> {
                    e.get(f)
                        .ok_or_else(|| StoreError::Corrupt(format!("dead letter without {f}")))
                };
                let n = |f: &str| -> Result<u64, StoreError> {
                    get(f)?
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("dead letter {f}")))
                };
                Ok((
                    e.id.clone(),
                    DeadLetter {
                        event_id: get("id")?,
                        cursor: get("cursor")?,
                        attempts: n("attempts")? as u32,
                        failing_since_ms: n("since")?,
                        dead_ms: n("at")?,
                        last_error: get("err")?,
                        body: get("body")?,
                    },
                ))
            })
            .collect()
    }
}
