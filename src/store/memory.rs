//! The embedded store: everything in one process behind a std mutex, with an injected clock. The default, so
//! `moderato serve` runs with nothing else installed; it forgets everything on restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    CreateOutcome, EXPIRED_CHALLENGE_MEMORY_MS, Keys, LimitCheck, LimitVerdict, NewChallenge,
    Store, StoreError, TakenChallenge, gcra,
};
use crate::clock::{Clock, SystemClock};

#[derive(Debug)]
struct Challenge {
    expires_at_ms: u64,
    answer_hash: String,
}

#[derive(Default)]
struct State {
    challenges: HashMap<String, Challenge>,
    /// client key -> (challenge id, expiry ms)
    live: HashMap<String, Vec<(String, u64)>>,
    /// limit key -> (theoretical arrival time, forget after)
    tats: HashMap<String, (u64, u64)>,
    ops: u64,
}

impl State {
    /// Drops what has expired, every few thousand operations, so memory stays bounded.
    fn sweep(&mut self, now: u64) {
        self.ops += 1;
        if !self.ops.is_multiple_of(4096) {
            return;
        }
        self.challenges
            .retain(|_, c| c.expires_at_ms + EXPIRED_CHALLENGE_MEMORY_MS > now);
        self.live.retain(|_, v| {
            v.retain(|(_, exp)| *exp > now);
            !v.is_empty()
        });
        self.tats.retain(|_, (_, forget)| *forget > now);
    }
}

/// In-process store. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct MemoryStore {
    // std Mutex, not tokio's: it is never held across an .await, and every critical section is short.
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    keys: Keys,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryStore {
    /// A store reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            clock,
            keys: Keys::new(""),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that matters more than
        // refusing all further calls would, so recover the guard.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create_challenge(&self, c: NewChallenge<'_>) -> Result<CreateOutcome, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        st.sweep(now);
        let tat = st.tats.get(&c.create_limit.key).map(|(t, _)| *t);
        let new_tat = match gcra(
            tat,
            now,
            c.create_limit.emission_ms,
            c.create_limit.tolerance_ms,
        ) {
            Ok(t) => t,
            Err(wait) => {
                return Ok(CreateOutcome::RateLimited {
                    retry_after_ms: wait,
                });
            }
        };
        let live_key = self.keys.challenges_of_client(c.site, c.client);
        let live = st.live.entry(live_key).or_default();
        live.retain(|(_, exp)| *exp > now);
        if live.len() >= c.max_live as usize {
            let oldest = live.iter().map(|(_, e)| *e).min().unwrap_or(now);
            return Ok(CreateOutcome::TooManyLive {
                retry_after_ms: oldest.saturating_sub(now).max(1),
            });
        }
        let expires_at_ms = now + c.ttl_ms;
        live.push((c.id.to_string(), expires_at_ms));
        st.tats
            .insert(c.create_limit.key.clone(), (new_tat, new_tat.max(now) + 1));
        st.challenges.insert(
            self.keys.challenge(c.site, c.id),
            Challenge {
                expires_at_ms,
                answer_hash: c.answer_hash.to_string(),
            },
        );
        Ok(CreateOutcome::Created { expires_at_ms })
    }

    async fn take_challenge(
        &self,
        site: &str,
        challenge_id: &str,
    ) -> Result<TakenChallenge, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        st.sweep(now);
        Ok(
            match st
                .challenges
                .remove(&self.keys.challenge(site, challenge_id))
            {
                None => TakenChallenge::Unknown,
                Some(c) if now >= c.expires_at_ms + EXPIRED_CHALLENGE_MEMORY_MS => {
                    TakenChallenge::Unknown
                }
                Some(c) if now >= c.expires_at_ms => TakenChallenge::Expired,
                Some(c) => TakenChallenge::Live {
                    answer_hash: c.answer_hash,
                },
            },
        )
    }

    async fn charge_limits(&self, checks: &[LimitCheck]) -> Result<LimitVerdict, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        st.sweep(now);
        let mut verdict = LimitVerdict {
            allowed: true,
            refused: Vec::new(),
            shadow_hits: Vec::new(),
        };
        let mut updates = Vec::with_capacity(checks.len());
        for (i, c) in checks.iter().enumerate() {
            let tat = st
                .tats
                .get(&c.key)
                .filter(|(_, forget)| *forget > now)
                .map(|(t, _)| *t);
            match gcra(tat, now, c.emission_ms, c.tolerance_ms) {
                Ok(t) => updates.push((c.key.clone(), t)),
                Err(_) if c.shadow => verdict.shadow_hits.push(i),
                Err(wait) => verdict.refused.push((i, wait)),
            }
        }
        if !verdict.refused.is_empty() {
            verdict.allowed = false;
            return Ok(verdict);
        }
        for (k, t) in updates {
            st.tats.insert(k, (t, t + 1));
        }
        Ok(verdict)
    }
}
