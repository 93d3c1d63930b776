//! The embedded store: everything in one process behind a std mutex, with an injected clock. The default, so
//! `moderato serve` runs with nothing else installed; it forgets everything on restart.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

mod webhooks;

use super::AUDIT_TIME_SLACK_MS;
use super::{
    Admit, CreateOutcome, Decide, Decided, EXPIRED_CHALLENGE_MEMORY_MS, Keys, NewChallenge, Store,
    StoreError, TakenChallenge, TakenOver,
};
use crate::admission::{Admission, LimitCheck, LimitVerdict, gcra};
use crate::audit::{AUDIT_MAXLEN, AuditEntry, AuditNote, action};
use crate::clock::{Clock, SystemClock};
use crate::review::{Claimed, DecisionKind, Event, LabelRow, QueueStats, Status, StoredComment};

#[derive(Debug)]
struct Challenge {
    expires_at_ms: u64,
    answer_hash: String,
}

struct MemComment {
    record: crate::review::CommentRecord,
    status: Status,
    queued_ms: u64,
    /// (token, lease end ms, moderator)
    lease: Option<(String, u64, String)>,
    history: Vec<Event>,
    expires_ms: u64,
    retention_ms: u64,
    /// Keyed author hashes whose indexes list this comment.
    authors: Vec<String>,
    /// Its idempotency entry's key.
    idem: String,
    /// Positions of its label rows.
    label_rows: Vec<usize>,
    /// Replaced by an erasure.
    erased: bool,
    /// Held again on appeal against this decider.
    appeal_of: Option<String>,
    /// Its campaign sketch signature, when it had one.
    sig: Option<String>,
    /// The campaign it was found part of.
    campaign: Option<String>,
}

impl MemComment {
    /// When its author index entries expire: never while held.
    fn index_expiry(&self) -> u64 {
        if self.status == Status::PendingReview {
            u64::MAX
        } else {
            self.expires_ms
        }
    }

    /// The comment as the store hands it out.
    fn stored(&self) -> StoredComment {
        StoredComment {
            record: self.record.clone(),
            status: self.status,
            history: self.history.clone(),
            campaign: self.campaign.clone(),
        }
    }

    /// False once a comment that is not held is past its retention (Redis has expired its keys by then). Like a
    /// Redis key with a TTL, it is still there at the very millisecond its lifetime ends, and gone one later.
    fn live(&self, now: u64) -> bool {
        self.status == Status::PendingReview || self.expires_ms >= now
    }
}

#[derive(Default)]
struct Site {
    comments: HashMap<String, MemComment>,
    pending: BTreeSet<(u64, String)>,
    claims: HashMap<String, u64>,
    decisions: Vec<Event>,
    /// Label rows; an erased row is `None` (its cursor stays, so later cursors do not move).
    labels: Vec<(String, Option<LabelRow>)>,
    /// Moderator decision times of the last 24 hours.
    human: Vec<u64>,
    /// author hash -> comment id -> when the entry expires (u64::MAX while held).
    authors: HashMap<String, HashMap<String, u64>>,
    lease_expiries: u64,
    /// Campaign sketch: `window|band field` -> (when it expires, (admitted ms, comment id, author) oldest first,
    /// the newest [`super::campaign_band_keep`] kept). Keyed by the window as `submit.lua`'s generations are: a
    /// change of window starts afresh.
    buckets: HashMap<String, (u64, Vec<SketchEntry>)>,
    /// Campaign id -> (expires ms, (joined ms, comment id) oldest first).
    campaigns: HashMap<String, (u64, Vec<(u64, String)>)>,
}

impl Site {
    /// The campaign step of an admission (see [`super::CampaignProbe`], and `submit.lua`, which this mirrors):
    /// returns the campaign the comment is part of, after entering it in its buckets and marking the copies.
    fn campaign_probe(
        &mut self,
        c: &super::CampaignProbe<'_>,
        comment_id: &str,
        retention_ms: u64,
        now: u64,
    ) -> Option<String> {
        let since = now.saturating_sub(c.window_ms);
        let mut copies: Vec<(u64, String)> = Vec::new();
        let mut authors: HashSet<String> = HashSet::from([c.author.to_string()]);
        let mut seen: HashSet<String> = HashSet::new();
        let mut campaign: Option<String> = None;
        // Each band's newest entries; a copy already marked with a campaign ends the search (submit.lua).
        let key = |b: &String| format!("{}|{b}", c.window_ms);
        'bands: for b in c.bands {
            let Some((_, entries)) = self.buckets.get(&key(b)) else {
                continue;
            };
            for (t, id, who) in entries.iter().rev() {
                if *t < since || !seen.insert(id.clone()) {
                    continue;
                }
                let Some(m) = self.comments.get(id).filter(|m| m.live(now)) else {
                    continue;
                };
                let agree = m.sig.as_deref().map_or(0, |sig| {
                    crate::text::sketch::agreement_hex(sig, c.signature)
                });
                if agree < c.min_agree {
                    continue;
                }
                if let Some(found) = &m.campaign {
                    campaign = Some(found.clone());
                    break 'bands;
                }
                copies.push((*t, id.clone()));
                authors.insert(who.clone());
            }
        }
        if campaign.is_none() && authors.len() >= c.min_authors {
            // The oldest copy; of copies admitted in one millisecond, the smallest id (as submit.lua).
            campaign = copies.iter().min().map(|(_, id)| id.clone());
        }
        // Kept until the end of the next window, as a generation of submit.lua's.
        let expires = (now / c.window_ms.max(1) + 2) * c.window_ms.max(1);
        for b in c.bands {
            let (exp, entries) = self.buckets.entry(key(b)).or_default();
            *exp = expires;
            entries.retain(|(t, _, _)| *t >= since);
            entries.push((now, comment_id.to_string(), c.author.to_string()));
            let over = entries
                .len()
                .saturating_sub(super::campaign_band_keep(c.min_authors));
            entries.drain(..over);
        }
        if let Some(id) = &campaign {
            let set = self.campaigns.entry(id.clone()).or_default();
            set.0 = now + retention_ms;
            for (t, copy) in &copies {
                if !set.1.iter().any(|(_, m)| m == copy) {
                    set.1.push((*t, copy.clone()));
                }
                if let Some(m) = self.comments.get_mut(copy) {
                    m.campaign = Some(id.clone());
                }
            }
            set.1.push((now, comment_id.to_string()));
            set.1.sort();
            let over = set.1.len().saturating_sub(super::CAMPAIGN_MEMBERS_CAP);
            set.1.drain(..over);
        }
        campaign
    }
}

/// One campaign sketch entry: (admitted ms, comment id, author tag).
type SketchEntry = (u64, String, String);

/// Parses a memory cursor `0-<n>` (n = events before it); empty means 0.
fn cursor_pos(cursor: &str) -> usize {
    cursor
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct State {
    sites: HashMap<String, Site>,
    /// (scope, name) -> (version, document)
    docs: HashMap<(String, String), (u64, String)>,
    epoch: u64,
    idem: HashMap<String, (String, u64)>,
    challenges: HashMap<String, Challenge>,
    /// client key -> (challenge id, expiry ms)
    live: HashMap<String, Vec<(String, u64)>>,
    /// limit key -> (theoretical arrival time, forget after)
    tats: HashMap<String, (u64, u64)>,
    ops: u64,
    /// scope -> audit entries, oldest first, at most [`AUDIT_MAXLEN`] each.
    audit: HashMap<String, VecDeque<AuditEntry>>,
    /// The last audit cursor handed out, (ms, seq), so cursors grow like a stream's.
    audit_last: (u64, u64),
    /// site -> webhook endpoint, delivery state and dead letters.
    webhooks: HashMap<String, webhooks::Hook>,
    /// The registry of sites seen.
    sites_seen: BTreeSet<String>,
}

impl State {
    /// Drops what has expired, every few thousand operations, so memory stays bounded.
    fn sweep(&mut self, now: u64) {
        self.ops += 1;
        if !self.ops.is_multiple_of(4096) {
            return;
        }
        self.sweep_now(now);
    }

    /// Drops everything that has expired at `now`.
    fn sweep_now(&mut self, now: u64) {
        self.challenges
            .retain(|_, c| c.expires_at_ms + EXPIRED_CHALLENGE_MEMORY_MS >= now);
        self.live.retain(|_, v| {
            v.retain(|(_, exp)| *exp > now);
            !v.is_empty()
        });
        self.tats.retain(|_, (_, forget)| *forget > now);
        self.idem.retain(|_, (_, exp)| *exp >= now);
        for site in self.sites.values_mut() {
            site.comments.retain(|_, c| c.live(now));
            site.authors.retain(|_, ids| {
                ids.retain(|_, exp| *exp > now);
                !ids.is_empty()
            });
            site.buckets.retain(|_, (expires, _)| *expires > now);
            site.campaigns.retain(|_, (exp, _)| *exp > now);
        }
    }

    /// Checks the limits and charges them only if no enforced limit refuses.
    fn charge(&mut self, checks: &[LimitCheck], now: u64) -> LimitVerdict {
        let (verdict, updates) = self.check(checks, now);
        if verdict.allowed {
            self.commit(updates);
        }
        verdict
    }

    /// Charges what [`State::check`] allowed.
    fn commit(&mut self, updates: Vec<(String, u64)>) {
        for (k, t) in updates {
            self.tats.insert(k, (t, t + 1));
        }
    }

    /// Checks the limits without charging: the verdict and the new states to commit.
    fn check(&self, checks: &[LimitCheck], now: u64) -> (LimitVerdict, Vec<(String, u64)>) {
        let mut verdict = LimitVerdict {
            allowed: true,
            refused: Vec::new(),
            shadow_hits: Vec::new(),
        };
        let mut updates = Vec::with_capacity(checks.len());
        for (i, c) in checks.iter().enumerate() {
            let tat = self
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
        verdict.allowed = verdict.refused.is_empty();
        (verdict, updates)
    }

    /// Consumes a challenge.
    fn take(&mut self, key: &str, now: u64) -> TakenChallenge {
        match self.challenges.remove(key) {
            None => TakenChallenge::Unknown,
            Some(c) if now > c.expires_at_ms + EXPIRED_CHALLENGE_MEMORY_MS => {
                TakenChallenge::Unknown
            }
            Some(c) if now >= c.expires_at_ms => TakenChallenge::Expired,
            Some(c) => TakenChallenge::Live {
                answer_hash: c.answer_hash,
            },
        }
    }

    /// Appends an audit entry to `scope`'s log with a stream-like cursor `<ms>-<seq>`, trimming the oldest.
    fn audit(&mut self, scope: &str, now: u64, mut e: AuditEntry) {
        let (ms, seq) = self.audit_last;
        self.audit_last = if now > ms { (now, 0) } else { (ms, seq + 1) };
        e.cursor = format!("{}-{}", self.audit_last.0, self.audit_last.1);
        e.scope = scope.to_string();
        // The cursor's time: never earlier than an entry before it, like a stream id.
        e.at_ms = self.audit_last.0;
        let log = self.audit.entry(scope.to_string()).or_default();
        log.push_back(e);
        while log.len() as u64 > AUDIT_MAXLEN {
            log.pop_front();
        }
    }

    fn site(&mut self, site: &str) -> &mut Site {
        self.sites.entry(site.to_string()).or_default()
    }
}

impl Site {
    /// Returns expired leases to the queue; counts them.
    fn reclaim(&mut self, now: u64) {
        let expired: Vec<String> = self
            .claims
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.claims.remove(&id);
            if let Some(c) = self.comments.get_mut(&id)
                && c.status == Status::PendingReview
            {
                c.lease = None;
                self.pending.insert((c.queued_ms, id));
                self.lease_expiries += 1;
            }
        }
    }

    /// Sets the author index entries of comment `id` to expire at `at`.
    fn index(&mut self, id: &str, authors: &[String], at: u64) {
        for a in authors {
            self.authors
                .entry(a.clone())
                .or_default()
                .insert(id.to_string(), at);
        }
    }

    fn append_event(&mut self, mut e: Event) -> Event {
        e.cursor = format!("0-{}", self.decisions.len() + 1);
        self.decisions.push(e.clone());
        e
    }

    /// True when `token` holds a live lease on `id`.
    fn holds(&self, id: &str, token: &str, now: u64) -> bool {
        self.comments.get(id).is_some_and(|c| {
            c.status == Status::PendingReview
                && c.lease
                    .as_ref()
                    .is_some_and(|(t, until, _)| t == token && *until > now)
        })
    }
}

/// In-process store. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct MemoryStore {
    // std Mutex, not tokio's: it is never held across an .await, and every critical section is short.
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    keys: Keys,
    /// Console sessions: id -> (document, expiry ms). Apart from `state`: no other step touches them.
    sessions: Arc<Mutex<HashMap<String, (String, u64)>>>,
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
            sessions: Arc::default(),
        }
    }

    /// Everything the store holds that has not expired, one line per item, as `<key> <value>` with keys spelled
    /// as the Redis store spells them: what an erasure or retention check inspects. Drops expired items first.
    pub fn contents(&self) -> Vec<String> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        st.sweep_now(now);
        let k = &self.keys;
        let mut out = Vec::new();
        for s in &st.sites_seen {
            out.push(format!("{} {s}", k.sites_seen()));
        }
        for (name, site) in &st.sites {
            for (id, c) in &site.comments {
                out.push(format!(
                    "{} {:?} {} {:?} erased={} appeal_of={:?}",
                    k.comment(name, id),
                    c.record,
                    c.status.as_str(),
                    c.history,
                    c.erased,
                    c.appeal_of
                ));
            }
            for (q, id) in &site.pending {
                out.push(format!("{} {q} {id}", k.pending(name)));
            }
            for (id, until) in &site.claims {
                out.push(format!("{} {until} {id}", k.claims(name)));
            }
            for e in &site.decisions {
                out.push(format!("{} {e:?}", k.decisions(name)));
            }
            for (c, r) in site
                .labels
                .iter()
                .filter_map(|(c, r)| r.as_ref().map(|r| (c, r)))
            {
                out.push(format!("{} {c} {r:?}", k.labels(name)));
            }
            for (a, ids) in &site.authors {
                for (id, exp) in ids {
                    out.push(format!("{} {exp} {id}", k.author_index(name, a)));
                }
            }
        }
        for (key, (resp, _)) in &st.idem {
            out.push(format!("{key} {resp}"));
        }
        for (scope, log) in &st.audit {
            for e in log {
                out.push(format!("{} {e:?}", k.audit(scope)));
            }
        }
        for ((scope, name), (v, d)) in &st.docs {
            out.push(format!("{} {v} {d}", k.doc(scope, name)));
        }
        out
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
        Ok(st.take(&self.keys.challenge(site, challenge_id), now))
    }

    async fn charge_limits(&self, checks: &[LimitCheck]) -> Result<LimitVerdict, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        st.sweep(now);
        Ok(st.charge(checks, now))
    }

    async fn admit(&self, a: Admit<'_>) -> Result<Admission, StoreError> {
        let now = self.clock.now_ms();
        let site_id = a.record.site.as_str();
        let mut st = self.lock();
        st.sweep(now);
        let idem_key = self.keys.idempotency(site_id, a.idempotency_key);
        if let Some((response, _)) = st.idem.get(&idem_key).filter(|(_, exp)| *exp >= now) {
            return Ok(Admission::Replayed {
                response: response.clone(),
            });
        }
        // Same order as submit.lua: limits checked, captcha consumed and checked, then limits charged.
        let (verdict, updates) = st.check(a.limits, now);
        if !verdict.allowed {
            return Ok(Admission::RateLimited(verdict));
        }
        if let Some((id, expected)) = a.captcha {
            match st.take(&self.keys.challenge(site_id, id), now) {
                TakenChallenge::Expired => return Ok(Admission::CaptchaExpired),
                TakenChallenge::Unknown => return Ok(Admission::CaptchaInvalid),
                TakenChallenge::Live { answer_hash } => {
                    use subtle::ConstantTimeEq;
                    if !bool::from(answer_hash.as_bytes().ct_eq(expected.as_bytes())) {
                        return Ok(Admission::CaptchaInvalid);
                    }
                }
            }
        }
        st.commit(updates);
        let site = st.site(site_id);
        let campaign = a
            .campaign
            .as_ref()
            .and_then(|c| site.campaign_probe(c, &a.record.comment_id, a.retention_ms, now));
        let (rec, response) = match (&campaign, a.campaign.as_ref().and_then(|c| c.alternate)) {
            (Some(_), Some(alt)) => alt,
            _ => (a.record, a.response),
        };
        let event = site.append_event(Event {
            cursor: String::new(),
            comment_id: rec.comment_id.clone(),
            thread_id: rec.thread_id.clone(),
            status: rec.initial_status,
            kind: DecisionKind::Automatic,
            actor: crate::review::AUTOMATIC_ACTOR.into(),
            label: String::new(),
            note: String::new(),
            decided_ms: now,
            policy_version: rec.policy_version,
            model_version: rec.model_version.clone(),
            submitted_ms: rec.created_ms,
        });
        if rec.initial_status == Status::PendingReview {
            site.pending.insert((now, rec.comment_id.clone()));
        }
        let cursor = event.cursor.clone();
        let c = MemComment {
            record: rec.clone(),
            status: rec.initial_status,
            queued_ms: now,
            lease: None,
            history: vec![event],
            expires_ms: now + a.retention_ms,
            retention_ms: a.retention_ms,
            authors: a.authors.to_vec(),
            idem: idem_key.clone(),
            label_rows: Vec::new(),
            erased: false,
            appeal_of: None,
            sig: a.campaign.as_ref().map(|c| c.signature.to_string()),
            campaign: campaign.clone(),
        };
        site.index(&rec.comment_id, a.authors, c.index_expiry());
        site.comments.insert(rec.comment_id.clone(), c);
        st.idem
            .insert(idem_key, (response.to_string(), now + a.idempotency_ttl_ms));
        Ok(Admission::Recorded {
            cursor,
            shadow_hits: verdict.shadow_hits,
            campaign,
        })
    }

    async fn get_comment(
        &self,
        site: &str,
        comment_id: &str,
    ) -> Result<Option<StoredComment>, StoreError> {
        let now = self.clock.now_ms();
        let st = self.lock();
        Ok(st
            .sites
            .get(site)
            .and_then(|s| s.comments.get(comment_id))
            .filter(|c| c.live(now))
            .map(MemComment::stored))
    }

    async fn read_decisions(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let st = self.lock();
        let from = cursor_pos(after);
        Ok(st
            .sites
            .get(site)
            .map(|s| s.decisions.iter().skip(from).take(max).cloned().collect())
            .unwrap_or_default())
    }

    async fn claim(
        &self,
        site: &str,
        lease_ms: u64,
        moderator: &str,
        tokens: &[String],
    ) -> Result<(Vec<Claimed>, u64), StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let s = st.site(site);
        let before = s.lease_expiries;
        s.reclaim(now);
        let expired = s.lease_expiries - before;
        let until = now + lease_ms;
        let mut out = Vec::new();
        // Oldest first, passing over appeals against this moderator (within the same window as claim.lua).
        let eligible: Vec<(u64, String)> = s
            .pending
            .iter()
            .take(tokens.len() + super::APPEAL_SKIP_WINDOW)
            .filter(|(_, id)| {
                s.comments
                    .get(id)
                    .is_none_or(|c| c.appeal_of.as_deref() != Some(moderator))
            })
            .take(tokens.len())
            .cloned()
            .collect();
        let mut eligible = eligible.into_iter();
        for token in tokens {
            let Some(entry) = eligible.next() else {
                break;
            };
            s.pending.remove(&entry);
            let id = entry.1;
            let Some(c) = s.comments.get_mut(&id) else {
                continue;
            };
            c.lease = Some((token.clone(), until, moderator.to_string()));
            s.claims.insert(id.clone(), until);
            out.push(Claimed {
                comment: c.stored(),
                lease_token: token.clone(),
                lease_until_ms: until,
            });
        }
        Ok((out, expired))
    }

    async fn extend_lease(
        &self,
        site: &str,
        comment_id: &str,
        token: &str,
        lease_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let s = st.site(site);
        if !s.holds(comment_id, token, now) {
            return Ok(None);
        }
        let until = now + lease_ms;
        if let Some(c) = s.comments.get_mut(comment_id)
            && let Some(lease) = c.lease.as_mut()
        {
            lease.1 = until;
        }
        s.claims.insert(comment_id.to_string(), until);
        Ok(Some(until))
    }

    async fn release(&self, site: &str, comment_id: &str, token: &str) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let s = st.site(site);
        if !s.holds(comment_id, token, now) {
            return Ok(false);
        }
        s.claims.remove(comment_id);
        if let Some(c) = s.comments.get_mut(comment_id) {
            c.lease = None;
            s.pending.insert((c.queued_ms, comment_id.to_string()));
        }
        Ok(true)
    }

    async fn decide(&self, d: Decide<'_>) -> Result<Decided, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let s = st.site(d.site);
        let Some(c) = s.comments.get(d.comment_id).filter(|c| c.live(now)) else {
            return Ok(Decided::NotFound);
        };
        let fenced = match d.kind {
            DecisionKind::Review => !s.holds(d.comment_id, d.lease_token, now),
            _ => c.status != d.expected,
        };
        if fenced {
            return Ok(Decided::Conflict);
        }
        let before = c.status;
        let (thread_id, policy_version, model_version, submitted_ms, text) = (
            c.record.thread_id.clone(),
            c.record.policy_version,
            c.record.model_version.clone(),
            c.record.created_ms,
            format!("{}\n{}", c.record.title, c.record.body),
        );
        let event = s.append_event(Event {
            cursor: String::new(),
            comment_id: d.comment_id.to_string(),
            thread_id,
            status: d.new_status,
            kind: d.kind,
            actor: d.actor.to_string(),
            label: d.label.as_str().to_string(),
            note: d.note.to_string(),
            decided_ms: now,
            policy_version,
            model_version,
            submitted_ms,
        });
        let row = s.labels.len();
        let mut authors = Vec::new();
        if let Some(c) = s.comments.get_mut(d.comment_id) {
            c.status = d.new_status;
            c.lease = None;
            c.history.push(event.clone());
            c.expires_ms = now + c.retention_ms;
            c.label_rows.push(row);
            authors = c.authors.clone();
        }
        let expiry = now + s.comments.get(d.comment_id).map_or(0, |c| c.retention_ms);
        s.index(d.comment_id, &authors, expiry);
        s.claims.remove(d.comment_id);
        s.pending.retain(|(_, id)| id != d.comment_id);
        let label_cursor = format!("0-{}", row + 1);
        s.labels.push((
            label_cursor,
            Some(LabelRow {
                comment_id: d.comment_id.to_string(),
                text,
                label: d.label,
                by: d.actor.to_string(),
                at_ms: now,
            }),
        ));
        s.human
            .retain(|t| *t + 3_600_000 * crate::review::HOURS_CHARTED as u64 > now);
        s.human.push(now);
        st.audit(
            d.site,
            now,
            AuditEntry {
                site: d.site.to_string(),
                actor: d.actor.to_string(),
                action: d.kind.as_str().to_string(),
                comment_id: d.comment_id.to_string(),
                before: before.as_str().to_string(),
                after: d.new_status.as_str().to_string(),
                label: d.label.as_str().to_string(),
                note: d.note.to_string(),
                ..AuditEntry::default()
            },
        );
        tracing::info!(
            site = d.site,
            comment_id = d.comment_id,
            who = d.actor,
            what = d.kind.as_str(),
            before = before.as_str(),
            after = d.new_status.as_str(),
            label = d.label.as_str(),
            why = d.note,
            "audit: decision recorded"
        );
        Ok(Decided::Done(event))
    }

    async fn queue_stats(&self, site: &str) -> Result<QueueStats, StoreError> {
        let now = self.clock.now_ms();
        let st = self.lock();
        let Some(s) = st.sites.get(site) else {
            return Ok(QueueStats::default());
        };
        let claimed = s.claims.values().filter(|u| **u > now).count() as u64;
        let expired = s.claims.len() as u64 - claimed;
        let oldest = s
            .comments
            .values()
            .filter(|c| c.status == Status::PendingReview)
            .map(|c| c.queued_ms)
            .min();
        let mut by_hour = [0u64; crate::review::HOURS_CHARTED];
        for t in &s.human {
            if let Some(k) = crate::review::hour_bucket(now, *t) {
                by_hour[k] += 1;
            }
        }
        Ok(QueueStats {
            depth: s.pending.len() as u64 + expired,
            claimed,
            oldest_pending_age_ms: oldest.map(|o| now.saturating_sub(o)).unwrap_or(0),
            decisions_last_hour: by_hour[crate::review::HOURS_CHARTED - 1],
            decisions_by_hour: by_hour,
        })
    }

    async fn labels(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<(String, LabelRow)>, StoreError> {
        let st = self.lock();
        let from = cursor_pos(after);
        Ok(st
            .sites
            .get(site)
            .map(|s| {
                s.labels
                    .iter()
                    .skip(from)
                    .filter_map(|(c, r)| r.clone().map(|r| (c.clone(), r)))
                    .take(max)
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn get_doc(&self, scope: &str, name: &str) -> Result<Option<(u64, String)>, StoreError> {
        let st = self.lock();
        Ok(st.docs.get(&(scope.to_string(), name.to_string())).cloned())
    }

    async fn put_doc(
        &self,
        scope: &str,
        name: &str,
        expected: u64,
        doc: &str,
        who: &str,
        note: AuditNote<'_>,
    ) -> Result<Result<u64, u64>, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let key = (scope.to_string(), name.to_string());
        let current = st.docs.get(&key).map(|(v, _)| *v).unwrap_or(0);
        if current != expected {
            return Ok(Err(current));
        }
        let before = st
            .docs
            .get(&key)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        st.docs.insert(key, (current + 1, doc.to_string()));
        st.epoch += 1;
        st.audit(
            scope,
            now,
            AuditEntry {
                site: note.site.to_string(),
                actor: who.to_string(),
                action: note.action.to_string(),
                before: before.clone(),
                after: doc.to_string(),
                detail: note.detail.to_string(),
                ..AuditEntry::default()
            },
        );
        tracing::info!(scope, name, who, before = %before, after = %doc, "audit: document changed");
        Ok(Ok(current + 1))
    }

    async fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.lock().epoch)
    }

    async fn recent(
        &self,
        site: &str,
        since_ms: u64,
        max: usize,
    ) -> Result<Vec<(crate::review::CommentRecord, Option<crate::review::Label>)>, StoreError> {
        let now = self.clock.now_ms();
        let st = self.lock();
        let Some(s) = st.sites.get(site) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<_> = s
            .comments
            .values()
            .filter(|c| c.live(now) && c.record.created_ms >= since_ms)
            .map(|c| {
                let label = c
                    .history
                    .iter()
                    .rev()
                    .find_map(|e| crate::review::Label::parse(&e.label));
                (c.record.clone(), label)
            })
            .collect();
        out.sort_by_key(|(r, _)| (r.created_ms, r.comment_id.clone()));
        out.truncate(max);
        Ok(out)
    }

    async fn label_count(&self, site: &str) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .sites
            .get(site)
            .map(|s| {
                s.labels
                    .iter()
                    .filter_map(|(_, r)| r.as_ref().map(|r| r.comment_id.as_str()))
                    .collect::<std::collections::HashSet<_>>()
                    .len() as u64
            })
            .unwrap_or(0))
    }

    async fn campaign(&self, site: &str, campaign_id: &str) -> Result<Vec<String>, StoreError> {
        let now = self.clock.now_ms();
        let st = self.lock();
        Ok(st
            .sites
            .get(site)
            .and_then(|s| s.campaigns.get(campaign_id))
            .filter(|(exp, _)| *exp > now)
            .map(|(_, ids)| ids.iter().map(|(_, id)| id.clone()).collect())
            .unwrap_or_default())
    }

    async fn take_over(
        &self,
        site: &str,
        comment_id: &str,
        lease_ms: u64,
        moderator: &str,
        token: &str,
        note: &str,
    ) -> Result<TakenOver, StoreError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let s = st.site(site);
        let Some(c) = s.comments.get_mut(comment_id) else {
            return Ok(TakenOver::NotFound);
        };
        if c.status != Status::PendingReview {
            return Ok(TakenOver::NotHeld(c.status));
        }
        if c.appeal_of.as_deref() == Some(moderator) {
            return Ok(TakenOver::AppealedAgainst);
        }
        let from = match &c.lease {
            Some((_, until, who)) if *until > now => who.clone(),
            _ => String::new(),
        };
        let until = now + lease_ms;
        c.lease = Some((token.to_string(), until, moderator.to_string()));
        let claimed = Claimed {
            comment: c.stored(),
            lease_token: token.to_string(),
            lease_until_ms: until,
        };
        s.pending.retain(|(_, id)| id != comment_id);
        s.claims.insert(comment_id.to_string(), until);
        st.audit(
            site,
            now,
            AuditEntry {
                site: site.to_string(),
                actor: moderator.to_string(),
                action: action::TAKEOVER.to_string(),
                comment_id: comment_id.to_string(),
                before: from.clone(),
                after: moderator.to_string(),
                note: note.to_string(),
                ..AuditEntry::default()
            },
        );
        Ok(TakenOver::Done {
            claimed: Box::new(claimed),
            from,
        })
    }

    async fn audit(
        &self,
        scope: &str,
        after: &str,
        since_ms: u64,
        until_ms: u64,
        max: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let key = |c: &str| {
            let (a, b) = c.split_once('-').unwrap_or((c, "0"));
            (a.parse::<u64>().unwrap_or(0), b.parse::<u64>().unwrap_or(0))
        };
        let after = (!after.is_empty()).then(|| key(after));
        let st = self.lock();
        Ok(st
            .audit
            .get(scope)
            .map(|log| {
                log.iter()
                    .filter(|e| after.is_none_or(|a| key(&e.cursor) > a))
                    .filter(|e| {
                        e.at_ms >= since_ms
                            && e.at_ms < until_ms.saturating_add(AUDIT_TIME_SLACK_MS)
                    })
                    .take(max)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn put_session(
        &self,
        session_id: &str,
        doc: &str,
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|_, (_, until)| *until > now);
        s.insert(
            session_id.to_string(),
            (doc.to_string(), now.saturating_add(ttl_ms)),
        );
        Ok(())
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<String>, StoreError> {
        let now = self.clock.now_ms();
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(s.get(session_id)
            .filter(|(_, until)| *until > now)
            .map(|(d, _)| d.clone()))
    }

    async fn delete_session(&self, session_id: &str) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(s.remove(session_id).is_some_and(|(_, until)| until > now))
    }

    async fn register_site(&self, site: &str) -> Result<(), StoreError> {
        self.lock().sites_seen.insert(site.to_string());
        Ok(())
    }

    async fn sites(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().sites_seen.iter().cloned().collect())
    }

    async fn author_comments(
        &self,
        site: &str,
        author: &str,
        offset: usize,
        max: usize,
    ) -> Result<Vec<(String, Option<StoredComment>)>, StoreError> {
        let now = self.clock.now_ms();
        let st = self.lock();
        let Some(s) = st.sites.get(site) else {
            return Ok(Vec::new());
        };
        let Some(ids) = s.authors.get(author) else {
            return Ok(Vec::new());
        };
        // Index order, as a sorted set orders its members: by expiry, then id.
        let mut entries: Vec<(u64, &String)> = ids
            .iter()
            .filter(|(_, exp)| **exp > now)
            .map(|(id, exp)| (*exp, id))
            .collect();
        entries.sort();
        Ok(entries
            .into_iter()
            .skip(offset)
            .take(max)
            .map(|(_, id)| {
                let c = s
                    .comments
                    .get(id)
                    .filter(|c| c.live(now))
                    .map(MemComment::stored);
                (id.clone(), c)
            })
            .collect())
    }

    async fn erase(&self, e: super::Erase<'_>) -> Result<u64, StoreError> {
        let mut st = self.lock();
        let mut idem = Vec::new();
        let s = st.site(e.site);
        let mut n = 0;
        for rec in e.records {
            let Some(c) = s.comments.get_mut(&rec.comment_id) else {
                continue;
            };
            if c.erased {
                continue;
            }
            c.record = rec.clone();
            c.erased = true;
            c.sig = None;
            for a in std::mem::take(&mut c.authors) {
                if let Some(ids) = s.authors.get_mut(&a) {
                    ids.remove(&rec.comment_id);
                    if ids.is_empty() {
                        s.authors.remove(&a);
                    }
                }
            }
            for ev in c
                .history
                .iter_mut()
                .filter(|ev| ev.kind == DecisionKind::Appeal)
            {
                ev.note.clear();
            }
            idem.push(std::mem::take(&mut c.idem));
            for row in std::mem::take(&mut c.label_rows) {
                if let Some(r) = s.labels.get_mut(row) {
                    r.1 = None;
                }
            }
            n += 1;
        }
        if let Some(author) = e.author
            && let Some(ids) = s.authors.get_mut(author)
        {
            for id in e.records.iter().map(|r| &r.comment_id).chain(e.gone) {
                ids.remove(id);
            }
            if ids.is_empty() {
                s.authors.remove(author);
            }
        }
        for k in idem {
            st.idem.remove(&k);
        }
        Ok(n)
    }

    async fn append_audit(&self, scope: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        self.lock().audit(scope, now, entry.clone());
        Ok(())
    }

    async fn appeal(
        &self,
        site: &str,
        comment_id: &str,
        expected: Status,
        message: &str,
        who: &str,
    ) -> Result<super::Appealed, StoreError> {
        use super::Appealed;
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let s = st.site(site);
        let Some(c) = s.comments.get(comment_id).filter(|c| c.live(now)) else {
            return Ok(Appealed::NotFound);
        };
        if c.status != expected {
            return Ok(Appealed::WrongStatus(c.status));
        }
        if c.appeal_of.is_some() {
            return Ok(Appealed::AlreadyAppealed);
        }
        let before = c.status;
        let decider = c
            .history
            .last()
            .map(|e| e.actor.clone())
            .unwrap_or_default();
        let event = s.append_event(Event {
            cursor: String::new(),
            comment_id: comment_id.to_string(),
            thread_id: c.record.thread_id.clone(),
            status: Status::PendingReview,
            kind: DecisionKind::Appeal,
            actor: crate::review::READER_ACTOR.into(),
            label: String::new(),
            note: String::new(),
            decided_ms: now,
            policy_version: c.record.policy_version,
            model_version: c.record.model_version.clone(),
            submitted_ms: c.record.created_ms,
        });
        let mut authors = Vec::new();
        if let Some(c) = s.comments.get_mut(comment_id) {
            c.status = Status::PendingReview;
            c.queued_ms = now;
            c.lease = None;
            c.appeal_of = Some(decider.clone());
            let mut kept = event.clone();
            kept.note = message.to_string();
            c.history.push(kept);
            authors = c.authors.clone();
        }
        s.index(comment_id, &authors, u64::MAX);
        s.pending.insert((now, comment_id.to_string()));
        st.audit(
            site,
            now,
            AuditEntry {
                site: site.to_string(),
                actor: who.to_string(),
                action: action::APPEAL.to_string(),
                comment_id: comment_id.to_string(),
                before: before.as_str().to_string(),
                after: Status::PendingReview.as_str().to_string(),
                detail: format!("appeal against {decider}"),
                ..AuditEntry::default()
            },
        );
        Ok(Appealed::Done {
            event: Box::new(event),
            decider,
        })
    }
}
