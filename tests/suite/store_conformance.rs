//! The store conformance suite: the same assertions against the memory store, Redis and Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use moderato::admission::{Admission, LimitCheck};
use moderato::audit::AuditNote;
use moderato::clock::{Clock, ManualClock, SystemClock};
use moderato::review::{
    Claimed, CommentRecord, DecisionKind, Event, Label, Reason, ReasonKind, Status, StoredComment,
};
use moderato::store::memory::MemoryStore;
use moderato::store::{
    Admit, CreateOutcome, Decide, Decided, EXPIRED_CHALLENGE_MEMORY_MS, GLOBAL_SCOPE, Keys,
    NewChallenge, Store, TakenChallenge,
};

use moderato::store::webhooks::{DeadLetter, DeliveryState, Progress, WebhookConfig};

use crate::harness::{Backend, open_store, raw_redis, unique_prefix};

fn limit(keys: &Keys, name: &str, emission_ms: u64, burst: u64, shadow: bool) -> LimitCheck {
    LimitCheck {
        key: keys.limit("hcm", name, "subject"),
        emission_ms,
        tolerance_ms: emission_ms * (burst - 1),
        shadow,
    }
}

fn challenge<'a>(
    keys: &Keys,
    id: &'a str,
    ttl_ms: u64,
    max_live: u32,
    burst: u64,
) -> NewChallenge<'a> {
    NewChallenge {
        site: "hcm",
        id,
        client: "client-hash",
        answer_hash: "00ff",
        ttl_ms,
        max_live,
        create_limit: limit(keys, "captcha_client", 60_000, burst, false),
    }
}

async fn create(store: &dyn Store, c: NewChallenge<'_>) -> CreateOutcome {
    store.create_challenge(c).await.expect("create")
}

async fn take(store: &dyn Store, site: &str, id: &str) -> TakenChallenge {
    store.take_challenge(site, id).await.expect("take")
}

async fn setup(backend: Backend) -> (Arc<dyn Store>, Keys) {
    let prefix = unique_prefix();
    (open_store(backend, &prefix).await, Keys::new(prefix))
}

async fn a_challenge_is_taken_exactly_once(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let id = "0123456789abcdef0123456789abcdef";
    let out = create(&*store, challenge(&keys, id, 60_000, 10, 10)).await;
    assert!(matches!(out, CreateOutcome::Created { .. }), "{out:?}");
    assert_eq!(
        take(&*store, "hcm", id).await,
        TakenChallenge::Live {
            answer_hash: "00ff".into()
        }
    );
    assert_eq!(take(&*store, "hcm", id).await, TakenChallenge::Unknown);
    assert_eq!(take(&*store, "other", id).await, TakenChallenge::Unknown);
}
on_every_backend!(challenge_taken_once, a_challenge_is_taken_exactly_once);

async fn a_thousand_concurrent_takes_find_the_challenge_once(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    create(&*store, challenge(&keys, id, 60_000, 10, 10)).await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.take_challenge("hcm", id).await })
        })
        .collect();
    let mut live = 0;
    for t in tasks {
        if let TakenChallenge::Live { .. } = t.await.expect("join").expect("take") {
            live += 1;
        }
    }
    assert_eq!(live, 1);
}
on_every_backend!(
    concurrent_takes,
    a_thousand_concurrent_takes_find_the_challenge_once
);

/// A store of `backend` under a fresh prefix; for the memory store also the manual clock it reads (Redis scripts
/// read the server's time, which tests cannot move).
async fn timed(backend: Backend) -> (Arc<dyn Store>, Keys, Option<ManualClock>) {
    if backend == Backend::Memory {
        let clock = ManualClock::at(1_000_000);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
        return (store, Keys::new(unique_prefix()), Some(clock));
    }
    let (store, keys) = setup(backend).await;
    (store, keys, None)
}

/// Moves the manual clock to `at_ms`, or on Redis polls the wall clock (no fixed sleep) until it reaches `at_ms`:
/// Redis scripts read this machine's clock, so the store's time has reached it too.
async fn reach(clock: &Option<ManualClock>, at_ms: u64) {
    match clock {
        Some(c) => c.advance_ms(at_ms.saturating_sub(c.now_ms())),
        None => {
            while SystemClock.now_ms() < at_ms {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn expiry(out: CreateOutcome) -> u64 {
    match out {
        CreateOutcome::Created { expires_at_ms } => expires_at_ms,
        other => panic!("expected a new challenge, got {other:?}"),
    }
}

async fn an_expired_challenge_says_expired(backend: Backend) {
    let (store, keys, clock) = timed(backend).await;
    let early = "cccccccccccccccccccccccccccccccc";
    let id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let expires = expiry(create(&*store, challenge(&keys, id, 300, 10, 10)).await);
    if let Some(c) = &clock {
        // On the manual clock the boundary is exact: live 1 ms before the end (another challenge created at the
        // same instant, since taking one consumes it).
        assert_eq!(expires, c.now_ms() + 300);
        create(&*store, challenge(&keys, early, 300, 10, 10)).await;
        c.advance_ms(299);
        assert!(matches!(
            take(&*store, "hcm", early).await,
            TakenChallenge::Live { .. }
        ));
    }
    reach(&clock, expires).await;
    assert_eq!(take(&*store, "hcm", id).await, TakenChallenge::Expired);
    assert_eq!(take(&*store, "hcm", id).await, TakenChallenge::Unknown);
}
on_every_backend!(expired_challenge, an_expired_challenge_says_expired);

async fn challenge_creation_is_rate_limited_and_bounded(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let ids: Vec<String> = (0..4).map(|i| format!("{i:032x}")).collect();
    for id in &ids[..3] {
        let out = create(&*store, challenge(&keys, id, 60_000, 10, 3)).await;
        assert!(matches!(out, CreateOutcome::Created { .. }), "{out:?}");
    }
    match create(&*store, challenge(&keys, &ids[3], 60_000, 10, 3)).await {
        CreateOutcome::RateLimited { retry_after_ms } => {
            assert!(
                (59_000..=60_000).contains(&retry_after_ms),
                "{retry_after_ms}"
            )
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }

    let (store, keys) = setup(backend).await;
    for id in &ids[..2] {
        create(&*store, challenge(&keys, id, 60_000, 2, 100)).await;
    }
    match create(&*store, challenge(&keys, &ids[2], 60_000, 2, 100)).await {
        CreateOutcome::TooManyLive { retry_after_ms } => {
            assert!(
                retry_after_ms <= 60_000 && retry_after_ms > 50_000,
                "{retry_after_ms}"
            )
        }
        other => panic!("expected the live bound, got {other:?}"),
    }
}
on_every_backend!(
    creation_limits,
    challenge_creation_is_rate_limited_and_bounded
);

async fn a_refused_request_charges_none_of_its_limits(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let a = limit(&keys, "a", 60_000, 1, false);
    let b = limit(&keys, "b", 60_000, 2, false);
    let v = store
        .charge_limits(&[a.clone(), b.clone()])
        .await
        .expect("charge");
    assert!(v.allowed);
    let v = store
        .charge_limits(&[a.clone(), b.clone()])
        .await
        .expect("charge");
    assert!(!v.allowed);
    assert_eq!(v.refused.len(), 1);
    assert_eq!(v.refused[0].0, 0, "limit a refused");
    assert!(
        (59_000..=60_000).contains(&v.refused[0].1),
        "{:?}",
        v.refused
    );
    // b was not charged by the refused request: it still has one request of its burst left.
    assert!(
        store
            .charge_limits(std::slice::from_ref(&b))
            .await
            .expect("charge")
            .allowed
    );
    assert!(!store.charge_limits(&[b]).await.expect("charge").allowed);
}
on_every_backend!(
    refusal_charges_nothing,
    a_refused_request_charges_none_of_its_limits
);

async fn shadow_limits_count_but_never_refuse(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let s = limit(&keys, "s", 60_000, 1, true);
    let first = store
        .charge_limits(std::slice::from_ref(&s))
        .await
        .expect("charge");
    assert!(first.allowed && first.shadow_hits.is_empty());
    for _ in 0..3 {
        let v = store
            .charge_limits(std::slice::from_ref(&s))
            .await
            .expect("charge");
        assert!(v.allowed);
        assert_eq!(v.shadow_hits, vec![0]);
    }
}
on_every_backend!(shadow_limits, shadow_limits_count_but_never_refuse);

async fn gcra_spaces_requests_without_a_double_burst(backend: Backend) {
    let (store, keys, clock) = timed(backend).await;
    // 1 request per second, burst 2: after the burst, waiting one slot frees one request, not a fresh burst. On
    // Redis the test polls for the slot; a second is long enough that two charges in a row do not straddle another.
    let l = limit(&keys, "g", 1000, 2, false);
    let charge = || async {
        store
            .charge_limits(std::slice::from_ref(&l))
            .await
            .expect("charge")
    };
    assert!(charge().await.allowed);
    assert!(charge().await.allowed);
    let v = charge().await;
    assert!(!v.allowed);
    let wait = v.refused[0].1;
    assert!(wait > 0 && wait <= 1000, "{wait}");
    match &clock {
        Some(c) => {
            c.advance_ms(wait - 1);
            assert!(!charge().await.allowed, "1 ms early");
            c.advance_ms(1);
            assert!(charge().await.allowed);
        }
        None => {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !charge().await.allowed {
                assert!(std::time::Instant::now() < deadline, "no slot within 30 s");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // Only one request became available, not a fresh burst.
    let v = charge().await;
    assert!(!v.allowed);
    assert!(v.refused[0].1 > 0 && v.refused[0].1 <= 1000, "{v:?}");
}
on_every_backend!(gcra_spacing, gcra_spaces_requests_without_a_double_burst);

async fn the_store_answers_ping(backend: Backend) {
    let (store, _) = setup(backend).await;
    store.ping().await.expect("ping");
}
on_every_backend!(ping, the_store_answers_ping);

/// Admits one held comment `id` on `hcm`.
async fn admit_held(store: &dyn Store, id: &str) {
    let record = moderato::review::CommentRecord {
        comment_id: id.into(),
        site: "hcm".into(),
        thread_id: "t".into(),
        name: "An".into(),
        phone: String::new(),
        email: String::new(),
        title: "T".into(),
        body: "B".into(),
        score: 0.6,
        reasons: Vec::new(),
        model_version: "m".into(),
        policy_version: 1,
        initial_status: moderato::review::Status::PendingReview,
        created_ms: 1,
    };
    let out = store
        .admit(moderato::store::Admit {
            idempotency_key: id,
            captcha: None,
            limits: &[],
            record: &record,
            response: "",
            retention_ms: 3_600_000,
            idempotency_ttl_ms: 3_600_000,
            authors: &[],
            campaign: None,
        })
        .await
        .expect("admit");
    assert!(matches!(out, Admission::Recorded { .. }), "{out:?}");
}

/// Concurrent takeovers of one claimed comment each happen whole: every audit entry's previous holder is the
/// holder the entry before it left, only the last token holds the lease, and a decided comment is not taken.
async fn concurrent_takeovers_chain_in_the_audit_log(backend: Backend) {
    use moderato::store::{Decide, Decided, TakenOver};
    let (store, _) = setup(backend).await;
    admit_held(&*store, "c1").await;
    let (claimed, _) = store
        .claim("hcm", 60_000, "first", &["a".repeat(32)])
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let n = 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let who = format!("m{i}");
            let token = format!("{i:032x}");
            let out = store
                .take_over("hcm", "c1", 60_000, &who, &token, "")
                .await
                .expect("take over");
            (who, token, out)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("join"));
    }
    for (_, _, out) in &results {
        assert!(matches!(out, TakenOver::Done { .. }), "{out:?}");
    }
    let log = store
        .audit("hcm", "", 0, u64::MAX, 1000)
        .await
        .expect("audit");
    assert_eq!(log.len(), n);
    assert!(
        log.iter()
            .all(|e| e.action == "TAKEOVER" && e.comment_id == "c1")
    );
    assert_eq!(log[0].before, "first");
    for w in log.windows(2) {
        assert_eq!(w[1].before, w[0].after, "{log:?}");
    }
    let last = &log[n - 1].after;
    let (_, last_token, _) = results.iter().find(|(w, _, _)| w == last).expect("holder");
    // Only the last holder's token decides; every other one is fenced.
    for (who, token, _) in &results {
        if who == last {
            continue;
        }
        assert_eq!(
            store
                .extend_lease("hcm", "c1", token, 1000)
                .await
                .expect("extend"),
            None
        );
    }
    let decided = store
        .decide(Decide {
            site: "hcm",
            comment_id: "c1",
            kind: moderato::review::DecisionKind::Review,
            lease_token: last_token,
            expected: moderato::review::Status::PendingReview,
            new_status: moderato::review::Status::Published,
            actor: last,
            label: moderato::review::Label::Ham,
            note: "",
        })
        .await
        .expect("decide");
    assert!(matches!(decided, Decided::Done(_)), "{decided:?}");
    let after = store
        .take_over("hcm", "c1", 60_000, "late", &"f".repeat(32), "")
        .await
        .expect("take over");
    assert_eq!(
        after,
        TakenOver::NotHeld(moderato::review::Status::Published)
    );
    assert_eq!(
        store
            .take_over("hcm", "nope", 60_000, "late", &"f".repeat(32), "")
            .await
            .expect("take over"),
        TakenOver::NotFound
    );
    // The decision is audited after the takeovers, and the time range applies.
    let log = store
        .audit("hcm", &log[n - 1].cursor, 0, u64::MAX, 10)
        .await
        .expect("audit");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].action.as_str(), log[0].after.as_str()),
        ("REVIEW", "PUBLISHED")
    );
    assert!(
        store
            .audit("hcm", "", log[0].at_ms + 10_000, u64::MAX, 10)
            .await
            .expect("audit")
            .is_empty()
    );
}
on_every_backend!(
    concurrent_takeovers,
    concurrent_takeovers_chain_in_the_audit_log
);

// ---------------------------------------------------------------------------------------------------------------
// Admission, claims, leases, decisions, the decision stream, retention and documents: the rules each Lua script
// and its mirror in the memory store must agree on. Times come from the manual clock on memory; on Redis the
// tests poll the wall clock (the scripts read the server's time, on this machine) and never sleep a fixed time.
// ---------------------------------------------------------------------------------------------------------------

const SITE: &str = "hcm";
const DAY_MS: u64 = 86_400_000;
const RETENTION_MS: u64 = 7 * DAY_MS;
const ANSWER: &str = "00ff";

fn record(id: &str, status: Status) -> CommentRecord {
    CommentRecord {
        comment_id: id.into(),
        site: SITE.into(),
        thread_id: "thread-1".into(),
        name: "Lan".into(),
        phone: String::new(),
        email: String::new(),
        title: format!("title {id}"),
        body: format!("body of {id}"),
        score: 0.25,
        reasons: vec![Reason {
            code: "rule".into(),
            detail: "a reason".into(),
            contribution: 0.0,
            kind: ReasonKind::Rule,
            spans: Vec::new(),
        }],
        model_version: "model-1".into(),
        policy_version: 3,
        initial_status: status,
        created_ms: 1_700_000_000_000,
    }
}

/// An admission of `rec` under idempotency key `key`: no captcha, no limits, a week of retention, a day of
/// idempotency; the stored answer is the comment id.
fn admission<'a>(key: &'a str, rec: &'a CommentRecord) -> Admit<'a> {
    Admit {
        idempotency_key: key,
        captcha: None,
        limits: &[],
        record: rec,
        response: &rec.comment_id,
        retention_ms: RETENTION_MS,
        idempotency_ttl_ms: DAY_MS,
        authors: &[],
        campaign: None,
    }
}

async fn admit(store: &dyn Store, a: Admit<'_>) -> Admission {
    store.admit(a).await.expect("admit")
}

/// Admits `rec` under the key `key-<id>` and returns its cursor.
async fn record_one(store: &dyn Store, rec: &CommentRecord) -> String {
    let key = format!("key-{}", rec.comment_id);
    match admit(store, admission(&key, rec)).await {
        Admission::Recorded { cursor, .. } => cursor,
        other => panic!("expected {} recorded, got {other:?}", rec.comment_id),
    }
}

async fn get(store: &dyn Store, id: &str) -> Option<StoredComment> {
    store.get_comment(SITE, id).await.expect("get_comment")
}

async fn events(store: &dyn Store, after: &str, max: usize) -> Vec<Event> {
    store
        .read_decisions(SITE, after, max)
        .await
        .expect("read_decisions")
}

async fn charge(store: &dyn Store, l: &LimitCheck) -> bool {
    store
        .charge_limits(std::slice::from_ref(l))
        .await
        .expect("charge")
        .allowed
}

/// (depth, claimed, decisions in the last hour): the counts every backend must agree on exactly.
async fn counts(store: &dyn Store) -> (u64, u64, u64) {
    let q = store.queue_stats(SITE).await.expect("queue_stats");
    (q.depth, q.claimed, q.decisions_last_hour)
}

fn tokens(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

async fn claim(
    store: &dyn Store,
    lease_ms: u64,
    who: &str,
    tokens: &[String],
) -> (Vec<Claimed>, u64) {
    store
        .claim(SITE, lease_ms, who, tokens)
        .await
        .expect("claim")
}

fn ids(claimed: &[Claimed]) -> Vec<&str> {
    claimed
        .iter()
        .map(|c| c.comment.record.comment_id.as_str())
        .collect()
}

async fn extend(store: &dyn Store, id: &str, token: &str, lease_ms: u64) -> Option<u64> {
    store
        .extend_lease(SITE, id, token, lease_ms)
        .await
        .expect("extend_lease")
}

async fn release(store: &dyn Store, id: &str, token: &str) -> bool {
    store.release(SITE, id, token).await.expect("release")
}

async fn decide(store: &dyn Store, d: Decide<'_>) -> Decided {
    store.decide(d).await.expect("decide")
}

fn review<'a>(id: &'a str, token: &'a str, actor: &'a str) -> Decide<'a> {
    Decide {
        site: SITE,
        comment_id: id,
        kind: DecisionKind::Review,
        lease_token: token,
        expected: Status::PendingReview,
        new_status: Status::Rejected,
        actor,
        label: Label::Spam,
        note: "link drop",
    }
}

fn overturn(id: &str, expected: Status, new_status: Status) -> Decide<'_> {
    Decide {
        site: SITE,
        comment_id: id,
        kind: DecisionKind::Overturn,
        lease_token: "",
        expected,
        new_status,
        actor: "mod-o",
        label: if new_status == Status::Published {
            Label::Ham
        } else {
            Label::Spam
        },
        note: "second look",
    }
}

fn done(d: Decided) -> Event {
    match d {
        Decided::Done(e) => e,
        other => panic!("expected a recorded decision, got {other:?}"),
    }
}

/// The store's time now: the manual clock, or this machine's clock (which Redis reads too).
fn now(clock: &Option<ManualClock>) -> u64 {
    match clock {
        Some(c) => c.now_ms(),
        None => SystemClock.now_ms(),
    }
}

/// Lets at least one millisecond of store time pass.
async fn tick(clock: &Option<ManualClock>) {
    reach(clock, now(clock) + 2).await;
}

/// A stream cursor as (ms, sequence), for ordering: Redis ids are `<ms>-<seq>`, memory ones `0-<n>`.
fn cursor_key(c: &str) -> (u64, u64) {
    let (a, b) = c.split_once('-').unwrap_or_else(|| panic!("cursor {c:?}"));
    (
        a.parse().expect("cursor ms"),
        b.parse().expect("cursor sequence"),
    )
}

async fn pttl(conn: &mut moderato::store::redis::Conn, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(conn)
        .await
        .expect("PTTL")
}

async fn a_recorded_admission_is_readable_and_only_a_held_comment_is_queued(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    let recs = [
        record("c-pub", Status::Published),
        record("c-held", Status::PendingReview),
        record("c-rej", Status::Rejected),
    ];
    let mut cursors = Vec::new();
    for rec in &recs {
        let key = format!("key-{}", rec.comment_id);
        let Admission::Recorded {
            cursor,
            shadow_hits,
            ..
        } = admit(&*store, admission(&key, rec)).await
        else {
            panic!("{} not recorded", rec.comment_id);
        };
        assert!(shadow_hits.is_empty());
        let stored = get(&*store, &rec.comment_id).await.expect("stored");
        assert_eq!(stored.record, *rec);
        assert_eq!(stored.status, rec.initial_status);
        assert_eq!(stored.history.len(), 1, "{:?}", stored.history);
        let e = &stored.history[0];
        assert_eq!(e.cursor, cursor);
        assert_eq!(e.comment_id, rec.comment_id);
        assert_eq!(e.thread_id, rec.thread_id);
        assert_eq!(e.status, rec.initial_status);
        assert_eq!(e.kind, DecisionKind::Automatic);
        assert_eq!(e.actor, "auto");
        assert_eq!((e.label.as_str(), e.note.as_str()), ("", ""));
        assert_eq!(e.policy_version, rec.policy_version);
        assert_eq!(e.model_version, rec.model_version);
        assert_eq!(e.submitted_ms, rec.created_ms);
        cursors.push(cursor);
    }
    // The decision stream holds exactly the first history events, in order.
    let stream = events(&*store, "", 10).await;
    assert_eq!(stream.len(), 3, "{stream:?}");
    for (e, rec) in stream.iter().zip(&recs) {
        let first = get(&*store, &rec.comment_id).await.expect("stored").history[0].clone();
        assert_eq!(*e, first);
    }
    // Only the held comment is queued.
    assert_eq!(counts(&*store).await, (1, 0, 0));
    let (claimed, expired) = claim(&*store, 60_000, "mod-a", &tokens("a", 5)).await;
    assert_eq!((ids(&claimed), expired), (vec!["c-held"], 0));
    assert_eq!(
        claimed[0].comment,
        get(&*store, "c-held").await.expect("stored")
    );
    // Sites are separate.
    assert!(
        store
            .get_comment("other", "c-pub")
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        store
            .read_decisions("other", "", 10)
            .await
            .expect("read")
            .is_empty()
    );
}
on_every_backend!(
    admission_recorded,
    a_recorded_admission_is_readable_and_only_a_held_comment_is_queued
);

async fn a_replayed_admission_consumes_nothing(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let (c1, c2) = ("1".repeat(32), "2".repeat(32));
    for c in [&c1, &c2] {
        create(&*store, challenge(&keys, c, 60_000, 10, 10)).await;
    }
    let l = limit(&keys, "client_ip", 60_000, 2, false);
    let limits = [l.clone()];
    let first = record("c-1", Status::Published);
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&c1, ANSWER)),
            limits: &limits,
            ..admission("key-1", &first)
        },
    )
    .await;
    assert!(matches!(out, Admission::Recorded { .. }), "{out:?}");
    // The retry carries another challenge and a held record: the store answers the first response and keeps
    // nothing of the retry.
    let retry = record("c-2", Status::PendingReview);
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&c2, ANSWER)),
            limits: &limits,
            ..admission("key-1", &retry)
        },
    )
    .await;
    assert_eq!(
        out,
        Admission::Replayed {
            response: "c-1".into()
        }
    );
    assert!(get(&*store, "c-2").await.is_none());
    assert_eq!(events(&*store, "", 10).await.len(), 1);
    assert_eq!(counts(&*store).await, (0, 0, 0));
    assert_eq!(
        take(&*store, SITE, &c2).await,
        TakenChallenge::Live {
            answer_hash: ANSWER.into()
        },
        "the replay took the captcha"
    );
    // The limit was charged once (by the first admission): one request of its burst of 2 is left.
    assert!(charge(&*store, &l).await, "the replay charged the limit");
    assert!(!charge(&*store, &l).await);
}
on_every_backend!(admission_replayed, a_replayed_admission_consumes_nothing);

async fn a_rate_limited_admission_consumes_nothing(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let (c1, c2) = ("1".repeat(32), "2".repeat(32));
    for c in [&c1, &c2] {
        create(&*store, challenge(&keys, c, 60_000, 10, 10)).await;
    }
    let a = limit(&keys, "a", 60_000, 1, false);
    let s = limit(&keys, "s", 60_000, 1, true);
    let b = limit(&keys, "b", 60_000, 2, false);
    let limits = [a.clone(), s.clone(), b.clone()];
    let first = record("c-1", Status::Published);
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&c1, ANSWER)),
            limits: &limits,
            ..admission("key-1", &first)
        },
    )
    .await;
    assert_eq!(
        out,
        Admission::Recorded {
            cursor: events(&*store, "", 1).await[0].cursor.clone(),
            shadow_hits: vec![],
            campaign: None,
        }
    );
    let second = record("c-2", Status::PendingReview);
    match admit(
        &*store,
        Admit {
            captcha: Some((&c2, ANSWER)),
            limits: &limits,
            ..admission("key-2", &second)
        },
    )
    .await
    {
        Admission::RateLimited(v) => {
            assert!(!v.allowed);
            assert_eq!(v.refused.len(), 1, "{v:?}");
            assert_eq!(v.refused[0].0, 0, "limit a refused");
            assert!((59_000..=60_000).contains(&v.refused[0].1), "{v:?}");
            assert_eq!(v.shadow_hits, vec![1], "the shadow limit is reported");
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // Nothing stored, nothing queued, the captcha not taken.
    assert!(get(&*store, "c-2").await.is_none());
    assert_eq!(events(&*store, "", 10).await.len(), 1);
    assert_eq!(counts(&*store).await, (0, 0, 0));
    assert!(matches!(
        take(&*store, SITE, &c2).await,
        TakenChallenge::Live { .. }
    ));
    // The key was not remembered, and b (which allowed) was not charged: it has one request left.
    let out = admit(
        &*store,
        Admit {
            limits: std::slice::from_ref(&b),
            ..admission("key-2", &second)
        },
    )
    .await;
    assert!(matches!(out, Admission::Recorded { .. }), "{out:?}");
    assert!(!charge(&*store, &b).await, "b was charged by the refusal");
}
on_every_backend!(
    admission_rate_limited,
    a_rate_limited_admission_consumes_nothing
);

async fn a_wrong_unknown_or_used_captcha_is_consumed_and_nothing_is_stored(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let (c1, c2) = ("1".repeat(32), "2".repeat(32));
    for c in [&c1, &c2] {
        create(&*store, challenge(&keys, c, 60_000, 10, 10)).await;
    }
    let l = limit(&keys, "a", 60_000, 1, false);
    let rec = record("c-1", Status::PendingReview);
    // Wrong answer: consumed.
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&c1, "ff00")),
            limits: std::slice::from_ref(&l),
            ..admission("key-1", &rec)
        },
    )
    .await;
    assert_eq!(out, Admission::CaptchaInvalid);
    assert_eq!(take(&*store, SITE, &c1).await, TakenChallenge::Unknown);
    // Unknown challenge.
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&"d".repeat(32), ANSWER)),
            limits: std::slice::from_ref(&l),
            ..admission("key-1", &rec)
        },
    )
    .await;
    assert_eq!(out, Admission::CaptchaInvalid);
    assert!(get(&*store, "c-1").await.is_none());
    assert!(events(&*store, "", 10).await.is_empty());
    assert_eq!(counts(&*store).await, (0, 0, 0));
    // Neither refusal charged the limit (burst 1) or remembered the key.
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&c2, ANSWER)),
            limits: std::slice::from_ref(&l),
            ..admission("key-1", &rec)
        },
    )
    .await;
    assert!(matches!(out, Admission::Recorded { .. }), "{out:?}");
    assert!(!charge(&*store, &l).await);
    // A used challenge is invalid.
    let other = record("c-2", Status::Published);
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&c2, ANSWER)),
            ..admission("key-2", &other)
        },
    )
    .await;
    assert_eq!(out, Admission::CaptchaInvalid);
    assert!(get(&*store, "c-2").await.is_none());
    assert_eq!(events(&*store, "", 10).await.len(), 1);
}
on_every_backend!(
    admission_captcha_invalid,
    a_wrong_unknown_or_used_captcha_is_consumed_and_nothing_is_stored
);

async fn an_expired_captcha_is_consumed_and_nothing_is_stored(backend: Backend) {
    let (store, keys, clock) = timed(backend).await;
    let c1 = "1".repeat(32);
    let expires = expiry(create(&*store, challenge(&keys, &c1, 300, 10, 10)).await);
    let l = limit(&keys, "a", 60_000, 1, false);
    let rec = record("c-1", Status::PendingReview);
    reach(&clock, expires).await;
    let out = admit(
        &*store,
        Admit {
            captcha: Some((&c1, ANSWER)),
            limits: std::slice::from_ref(&l),
            ..admission("key-1", &rec)
        },
    )
    .await;
    assert_eq!(out, Admission::CaptchaExpired);
    assert_eq!(take(&*store, SITE, &c1).await, TakenChallenge::Unknown);
    assert!(get(&*store, "c-1").await.is_none());
    assert!(events(&*store, "", 10).await.is_empty());
    assert_eq!(counts(&*store).await, (0, 0, 0));
    assert!(
        charge(&*store, &l).await,
        "the expired captcha charged the limit"
    );
    let out = admit(&*store, admission("key-1", &rec)).await;
    assert!(matches!(out, Admission::Recorded { .. }), "{out:?}");
    if let Some(c) = &clock {
        // An expired challenge is remembered (to say "expired") for a while, the last millisecond included, as
        // the Redis key's TTL does.
        let (c2, c3) = ("2".repeat(32), "3".repeat(32));
        let expires = expiry(create(&*store, challenge(&keys, &c2, 300, 10, 10)).await);
        create(&*store, challenge(&keys, &c3, 300, 10, 10)).await;
        c.advance_ms(expires + EXPIRED_CHALLENGE_MEMORY_MS - c.now_ms());
        assert_eq!(take(&*store, SITE, &c2).await, TakenChallenge::Expired);
        c.advance_ms(1);
        assert_eq!(take(&*store, SITE, &c3).await, TakenChallenge::Unknown);
    }
}
on_every_backend!(
    admission_captcha_expired,
    an_expired_captcha_is_consumed_and_nothing_is_stored
);

async fn shadow_limits_are_reported_but_never_refuse_an_admission(backend: Backend) {
    let (store, keys) = setup(backend).await;
    let e = limit(&keys, "e", 60_000, 100, false);
    let s = limit(&keys, "s", 60_000, 1, true);
    let limits = [e, s];
    for (i, want) in [(0, vec![]), (1, vec![1]), (2, vec![1])] {
        let rec = record(&format!("c-{i}"), Status::Published);
        let key = format!("key-{i}");
        match admit(
            &*store,
            Admit {
                limits: &limits,
                ..admission(&key, &rec)
            },
        )
        .await
        {
            Admission::Recorded { shadow_hits, .. } => assert_eq!(shadow_hits, want, "c-{i}"),
            other => panic!("expected c-{i} recorded, got {other:?}"),
        }
    }
    assert_eq!(events(&*store, "", 10).await.len(), 3);
}
on_every_backend!(
    admission_shadow_limits,
    shadow_limits_are_reported_but_never_refuse_an_admission
);

async fn claims_take_the_oldest_first_at_most_n_and_never_twice(backend: Backend) {
    let (store, keys, clock) = timed(backend).await;
    // Submitted in reverse order of their ids, so an order by id instead of by age fails.
    let order = ["c-5", "c-4", "c-3", "c-2", "c-1"];
    for id in order {
        record_one(&*store, &record(id, Status::PendingReview)).await;
        tick(&clock).await;
    }
    let stats = store.queue_stats(SITE).await.expect("queue_stats");
    assert_eq!((stats.depth, stats.claimed), (5, 0));
    match &clock {
        Some(_) => assert_eq!(stats.oldest_pending_age_ms, 10, "five ticks of 2 ms"),
        None => assert!(stats.oldest_pending_age_ms >= 8, "{stats:?}"),
    }

    let before = now(&clock);
    let first_stored = get(&*store, "c-5").await.expect("stored");
    let (a, expired) = claim(&*store, 60_000, "mod-a", &tokens("a", 2)).await;
    let after = now(&clock);
    assert_eq!((ids(&a), expired), (vec!["c-5", "c-4"], 0));
    assert_eq!(a[0].comment, first_stored);
    for (i, c) in a.iter().enumerate() {
        assert_eq!(c.lease_token, format!("a-{i}"));
        assert_eq!(c.comment.status, Status::PendingReview);
        assert!(
            (before + 60_000..=after + 60_000).contains(&c.lease_until_ms),
            "lease until {} not 60 s after the claim ({before}..{after})",
            c.lease_until_ms
        );
    }
    let (b, _) = claim(&*store, 60_000, "mod-b", &tokens("b", 2)).await;
    assert_eq!(ids(&b), ["c-3", "c-2"]);
    let (c, _) = claim(&*store, 60_000, "mod-c", &tokens("c", 5)).await;
    assert_eq!(ids(&c), ["c-1"]);
    let (d, expired) = claim(&*store, 60_000, "mod-d", &tokens("d", 5)).await;
    assert_eq!((d.len(), expired), (0, 0));
    assert_eq!(counts(&*store).await, (0, 5, 0));

    // Each lease answers to its own token only.
    assert_eq!(extend(&*store, "c-5", "b-0", 60_000).await, None);
    assert!(extend(&*store, "c-5", "a-0", 60_000).await.is_some());
    assert!(extend(&*store, "c-3", "b-0", 60_000).await.is_some());
    // The moderator is stored with the lease (Redis: the comment hash; memory keeps it in the lease).
    if let Some(mut conn) = raw_redis(backend).await {
        let (token, by): (String, String) = redis::cmd("HMGET")
            .arg(keys.comment(SITE, "c-4"))
            .arg("lease_token")
            .arg("claimed_by")
            .query_async(&mut conn)
            .await
            .expect("HMGET");
        assert_eq!((token.as_str(), by.as_str()), ("a-1", "mod-a"));
    }
}
on_every_backend!(
    claim_order,
    claims_take_the_oldest_first_at_most_n_and_never_twice
);

async fn claiming_nothing_takes_nothing(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    record_one(&*store, &record("c-1", Status::PendingReview)).await;
    let (none, expired) = claim(&*store, 60_000, "mod-a", &[]).await;
    assert_eq!((none.len(), expired), (0, 0));
    assert_eq!(counts(&*store).await, (1, 0, 0));
    let (one, _) = claim(&*store, 60_000, "mod-a", &tokens("a", 1)).await;
    assert_eq!(ids(&one), ["c-1"]);
}
on_every_backend!(claim_nothing, claiming_nothing_takes_nothing);

async fn concurrent_claims_get_disjoint_items_and_lose_none(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    for i in 0..20 {
        record_one(
            &*store,
            &record(&format!("c-{i:02}"), Status::PendingReview),
        )
        .await;
    }
    let tasks: Vec<_> = (0..10)
        .map(|m| {
            let s = store.clone();
            tokio::spawn(async move {
                let who = format!("mod-{m}");
                s.claim(SITE, 60_000, &who, &tokens(&who, 3)).await
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        let (items, _) = t.await.expect("join").expect("claim");
        got.extend(items.into_iter().map(|c| c.comment.record.comment_id));
    }
    got.sort();
    let want: Vec<String> = (0..20).map(|i| format!("c-{i:02}")).collect();
    assert_eq!(got, want, "every item claimed exactly once");
    assert_eq!(counts(&*store).await, (0, 20, 0));
}
on_every_backend!(
    concurrent_claims,
    concurrent_claims_get_disjoint_items_and_lose_none
);

async fn expired_leases_return_to_the_queue_and_are_counted(backend: Backend) {
    let (store, _keys, clock) = timed(backend).await;
    for id in ["c-1", "c-2"] {
        record_one(&*store, &record(id, Status::PendingReview)).await;
        tick(&clock).await;
    }
    let (first, _) = claim(&*store, 300, "mod-a", &tokens("a", 2)).await;
    assert_eq!(ids(&first), ["c-1", "c-2"]);
    let until = first.iter().map(|c| c.lease_until_ms).max().unwrap_or(0);
    reach(&clock, until + 1).await;
    // Expired leases count as depth before anyone claims again.
    assert_eq!(counts(&*store).await, (2, 0, 0));
    // The expired token is worth nothing.
    assert_eq!(extend(&*store, "c-1", "a-0", 60_000).await, None);
    assert!(!release(&*store, "c-1", "a-0").await);
    assert_eq!(
        decide(&*store, review("c-1", "a-0", "mod-a")).await,
        Decided::Conflict
    );
    let c1 = get(&*store, "c-1").await.expect("stored");
    assert_eq!((c1.status, c1.history.len()), (Status::PendingReview, 1));
    // The next claim takes them back, oldest first, and counts them once.
    let (again, expired) = claim(&*store, 60_000, "mod-b", &tokens("b", 5)).await;
    assert_eq!((ids(&again), expired), (vec!["c-1", "c-2"], 2));
    assert_eq!(counts(&*store).await, (0, 2, 0));
    let (none, expired) = claim(&*store, 60_000, "mod-c", &tokens("c", 5)).await;
    assert_eq!((none.len(), expired), (0, 0));
    assert!(extend(&*store, "c-1", "b-0", 60_000).await.is_some());
}
on_every_backend!(
    expired_leases,
    expired_leases_return_to_the_queue_and_are_counted
);

async fn a_lease_is_extended_and_released_only_with_its_live_token(backend: Backend) {
    let (store, _keys, clock) = timed(backend).await;
    record_one(&*store, &record("c-1", Status::PendingReview)).await;
    let (a, _) = claim(&*store, 60_000, "mod-a", &tokens("a", 1)).await;
    let until0 = a[0].lease_until_ms;
    assert_eq!(extend(&*store, "c-1", "wrong", 60_000).await, None);
    assert!(!release(&*store, "c-1", "wrong").await);
    assert_eq!(extend(&*store, "other", "a-0", 60_000).await, None);
    assert_eq!(counts(&*store).await, (0, 1, 0));

    tick(&clock).await;
    let before = now(&clock);
    let until1 = extend(&*store, "c-1", "a-0", 120_000)
        .await
        .expect("extended with the live token");
    assert!(
        until1 >= before + 120_000 && until1 > until0,
        "{until0} -> {until1}"
    );
    assert_eq!(counts(&*store).await, (0, 1, 0));

    assert!(release(&*store, "c-1", "a-0").await);
    assert_eq!(counts(&*store).await, (1, 0, 0));
    assert!(!release(&*store, "c-1", "a-0").await, "released twice");
    assert_eq!(extend(&*store, "c-1", "a-0", 60_000).await, None);
    // Claimable at once, with no lease expiry counted.
    let (b, expired) = claim(&*store, 60_000, "mod-b", &tokens("b", 1)).await;
    assert_eq!((ids(&b), expired), (vec!["c-1"], 0));
    assert_eq!(b[0].lease_token, "b-0");
    assert_eq!(extend(&*store, "c-1", "a-0", 60_000).await, None);
    assert!(extend(&*store, "c-1", "b-0", 60_000).await.is_some());
}
on_every_backend!(
    lease_tokens,
    a_lease_is_extended_and_released_only_with_its_live_token
);

async fn a_review_is_fenced_by_the_lease_token(backend: Backend) {
    let (store, _keys, clock) = timed(backend).await;
    let rec = record("c-1", Status::PendingReview);
    let auto_cursor = record_one(&*store, &rec).await;
    let (a, _) = claim(&*store, 60_000, "mod-a", &tokens("a", 1)).await;
    let token = a[0].lease_token.clone();
    let before = get(&*store, "c-1").await.expect("stored");

    assert_eq!(
        decide(&*store, review("c-1", "stale", "mod-a")).await,
        Decided::Conflict
    );
    assert_eq!(get(&*store, "c-1").await.expect("stored"), before);
    assert_eq!(events(&*store, "", 10).await.len(), 1);
    assert_eq!(store.label_count(SITE).await.expect("label_count"), 0);
    assert_eq!(counts(&*store).await, (0, 1, 0));

    let t0 = now(&clock);
    let e = done(decide(&*store, review("c-1", &token, "mod-a")).await);
    let t1 = now(&clock);
    assert_eq!(e.comment_id, "c-1");
    assert_eq!(e.thread_id, rec.thread_id);
    assert_eq!(e.status, Status::Rejected);
    assert_eq!(e.kind, DecisionKind::Review);
    assert_eq!(e.actor, "mod-a");
    assert_eq!((e.label.as_str(), e.note.as_str()), ("spam", "link drop"));
    assert_eq!(e.policy_version, rec.policy_version);
    assert_eq!(e.model_version, rec.model_version);
    assert_eq!(e.submitted_ms, rec.created_ms);
    assert!((t0..=t1).contains(&e.decided_ms), "{e:?}");
    assert!(cursor_key(&e.cursor) > cursor_key(&auto_cursor));

    let after = get(&*store, "c-1").await.expect("stored");
    assert_eq!(after.status, Status::Rejected);
    assert_eq!(after.history, vec![before.history[0].clone(), e.clone()]);
    let stream = events(&*store, "", 10).await;
    assert_eq!(stream.len(), 2);
    assert_eq!(stream[1], e);
    let labels = store.labels(SITE, "", 10).await.expect("labels");
    assert_eq!(labels.len(), 1, "{labels:?}");
    let row = &labels[0].1;
    assert_eq!(row.comment_id, "c-1");
    assert_eq!(row.text, "title c-1\nbody of c-1");
    assert_eq!(row.label, Label::Spam);
    assert_eq!(row.by, "mod-a");
    assert_eq!(row.at_ms, e.decided_ms);
    assert_eq!(store.label_count(SITE).await.expect("label_count"), 1);
    assert_eq!(counts(&*store).await, (0, 0, 1));
    let stats = store.queue_stats(SITE).await.expect("queue_stats");
    assert_eq!(stats.oldest_pending_age_ms, 0, "nothing is held any more");
    let mut one_now = [0; moderato::review::HOURS_CHARTED];
    one_now[moderato::review::HOURS_CHARTED - 1] = 1;
    assert_eq!(
        stats.decisions_by_hour, one_now,
        "the decision, in the last hour"
    );

    // The lease ended with the decision.
    assert_eq!(
        decide(&*store, review("c-1", &token, "mod-a")).await,
        Decided::Conflict
    );
    assert_eq!(extend(&*store, "c-1", &token, 60_000).await, None);
    assert!(!release(&*store, "c-1", &token).await);
    assert!(
        claim(&*store, 60_000, "mod-b", &tokens("b", 5))
            .await
            .0
            .is_empty()
    );
    assert_eq!(get(&*store, "c-1").await.expect("stored"), after);
    if let Some(c) = &clock {
        // queue_stats.lua counts decisions at most an hour old, the boundary included.
        c.advance_ms(e.decided_ms + 3_600_000 - c.now_ms());
        assert_eq!(counts(&*store).await, (0, 0, 1), "an hour later");
        c.advance_ms(1);
        assert_eq!(counts(&*store).await, (0, 0, 0), "an hour and 1 ms later");
        // Charted by hour for a day: the hour before the last, then the first, then gone.
        let by_hour = || async {
            store
                .queue_stats(SITE)
                .await
                .expect("stats")
                .decisions_by_hour
        };
        let mut h = [0; moderato::review::HOURS_CHARTED];
        h[moderato::review::HOURS_CHARTED - 2] = 1;
        assert_eq!(by_hour().await, h, "an hour and 1 ms later");
        c.advance_ms(e.decided_ms + 24 * 3_600_000 - c.now_ms());
        let mut h = [0; moderato::review::HOURS_CHARTED];
        h[0] = 1;
        assert_eq!(by_hour().await, h, "a day later");
        c.advance_ms(1);
        assert_eq!(
            by_hour().await,
            [0; moderato::review::HOURS_CHARTED],
            "a day and 1 ms later"
        );
    }
}
on_every_backend!(review_fenced, a_review_is_fenced_by_the_lease_token);

async fn a_relabelled_comment_counts_once_and_an_erased_one_not_at_all(backend: Backend) {
    use moderato::store::Erase;
    let (store, _keys) = setup(backend).await;
    for id in ["c-1", "c-2"] {
        record_one(&*store, &record(id, Status::Published)).await;
    }
    // c-1 rejected, then undone (two label rows); c-2 rejected once.
    done(
        decide(
            &*store,
            overturn("c-1", Status::Published, Status::Rejected),
        )
        .await,
    );
    done(
        decide(
            &*store,
            overturn("c-1", Status::Rejected, Status::Published),
        )
        .await,
    );
    done(
        decide(
            &*store,
            overturn("c-2", Status::Published, Status::Rejected),
        )
        .await,
    );
    assert_eq!(store.labels(SITE, "", 10).await.expect("labels").len(), 3);
    assert_eq!(store.label_count(SITE).await.expect("label_count"), 2);
    // Erasing c-1 takes both its rows, and it stops counting; c-2 still counts.
    let mut erased = record("c-1", Status::Published);
    erased.name = "erased-x".into();
    let step = Erase {
        site: SITE,
        author: None,
        records: std::slice::from_ref(&erased),
        gone: &[],
    };
    assert_eq!(store.erase(step).await.expect("erase"), 1);
    assert_eq!(store.labels(SITE, "", 10).await.expect("labels").len(), 1);
    assert_eq!(store.label_count(SITE).await.expect("label_count"), 1);
}
on_every_backend!(
    relabels,
    a_relabelled_comment_counts_once_and_an_erased_one_not_at_all
);

async fn an_overturn_is_fenced_by_the_expected_status(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    record_one(&*store, &record("c-1", Status::Published)).await;
    let before = get(&*store, "c-1").await.expect("stored");
    assert_eq!(
        decide(
            &*store,
            overturn("c-1", Status::Rejected, Status::Published)
        )
        .await,
        Decided::Conflict
    );
    assert_eq!(get(&*store, "c-1").await.expect("stored"), before);
    assert_eq!(events(&*store, "", 10).await.len(), 1);
    assert_eq!(store.label_count(SITE).await.expect("label_count"), 0);

    let e1 = done(
        decide(
            &*store,
            overturn("c-1", Status::Published, Status::Rejected),
        )
        .await,
    );
    assert_eq!(
        (e1.kind, e1.status, e1.actor.as_str()),
        (DecisionKind::Overturn, Status::Rejected, "mod-o")
    );
    assert_eq!(
        decide(
            &*store,
            overturn("c-1", Status::Published, Status::Rejected)
        )
        .await,
        Decided::Conflict,
        "a stale expected status"
    );
    let e2 = done(
        decide(
            &*store,
            overturn("c-1", Status::Rejected, Status::Published),
        )
        .await,
    );
    let now = get(&*store, "c-1").await.expect("stored");
    assert_eq!(now.status, Status::Published);
    assert_eq!(
        now.history,
        vec![before.history[0].clone(), e1.clone(), e2.clone()]
    );
    assert_eq!(
        events(&*store, "", 10).await,
        vec![before.history[0].clone(), e1, e2]
    );
    let rows = store.labels(SITE, "", 10).await.expect("labels");
    let labels: Vec<Label> = rows.iter().map(|(_, r)| r.label).collect();
    assert_eq!(labels, [Label::Spam, Label::Ham]);
    // Two label rows, one labelled comment (the export lists its latest label once).
    assert_eq!(store.label_count(SITE).await.expect("label_count"), 1);
    // The label export resumes after a cursor and respects its maximum, like the decision stream.
    assert_eq!(
        store.labels(SITE, &rows[0].0, 10).await.expect("labels"),
        rows[1..]
    );
    assert_eq!(store.labels(SITE, "", 1).await.expect("labels"), rows[..1]);
    assert!(
        store
            .labels(SITE, &rows[1].0, 10)
            .await
            .expect("labels")
            .is_empty()
    );
    assert_eq!(counts(&*store).await, (0, 0, 2));

    // A held comment can be overturned under a lease: the lease ends and the queue forgets it.
    record_one(&*store, &record("c-2", Status::PendingReview)).await;
    record_one(&*store, &record("c-3", Status::PendingReview)).await;
    let (a, _) = claim(&*store, 60_000, "mod-a", &tokens("a", 1)).await;
    assert_eq!(ids(&a), ["c-2"]);
    done(
        decide(
            &*store,
            overturn("c-2", Status::PendingReview, Status::Published),
        )
        .await,
    );
    assert_eq!(extend(&*store, "c-2", "a-0", 60_000).await, None);
    assert_eq!(
        decide(&*store, review("c-2", "a-0", "mod-a")).await,
        Decided::Conflict
    );
    // So does an unclaimed one.
    done(
        decide(
            &*store,
            overturn("c-3", Status::PendingReview, Status::Rejected),
        )
        .await,
    );
    assert_eq!(counts(&*store).await, (0, 0, 4));
    assert!(
        claim(&*store, 60_000, "mod-b", &tokens("b", 5))
            .await
            .0
            .is_empty()
    );
}
on_every_backend!(
    overturn_fenced,
    an_overturn_is_fenced_by_the_expected_status
);

async fn deciding_an_unknown_comment_is_not_found(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    assert_eq!(
        decide(&*store, review("nope", "a-0", "mod-a")).await,
        Decided::NotFound
    );
    assert_eq!(
        decide(
            &*store,
            overturn("nope", Status::Published, Status::Rejected)
        )
        .await,
        Decided::NotFound
    );
    record_one(&*store, &record("c-1", Status::Published)).await;
    let elsewhere = Decide {
        site: "other",
        ..overturn("c-1", Status::Published, Status::Rejected)
    };
    assert_eq!(decide(&*store, elsewhere).await, Decided::NotFound);
    assert_eq!(events(&*store, "", 10).await.len(), 1);
    assert_eq!(store.label_count(SITE).await.expect("label_count"), 0);
    assert_eq!(counts(&*store).await, (0, 0, 0));
    assert_eq!(
        get(&*store, "c-1").await.expect("stored").status,
        Status::Published
    );
}
on_every_backend!(decide_unknown, deciding_an_unknown_comment_is_not_found);

async fn the_decision_stream_resumes_exactly_after_a_cursor(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    let mut want = Vec::new();
    for i in 0..7 {
        let id = format!("c-{i}");
        record_one(&*store, &record(&id, Status::Published)).await;
        want.push((id.clone(), DecisionKind::Automatic));
        if i % 2 == 1 {
            done(decide(&*store, overturn(&id, Status::Published, Status::Rejected)).await);
            want.push((id, DecisionKind::Overturn));
        }
    }
    let all = events(&*store, "", 100).await;
    let got: Vec<(String, DecisionKind)> =
        all.iter().map(|e| (e.comment_id.clone(), e.kind)).collect();
    assert_eq!(got, want);
    for w in all.windows(2) {
        assert!(
            cursor_key(&w[0].cursor) < cursor_key(&w[1].cursor),
            "{} then {}",
            w[0].cursor,
            w[1].cursor
        );
    }
    // Batches of 3 from the start, each resuming after the last cursor.
    let mut after = String::new();
    let mut read = Vec::new();
    let mut batches = 0;
    loop {
        let batch = events(&*store, &after, 3).await;
        assert!(batch.len() <= 3);
        let Some(last) = batch.last() else { break };
        after = last.cursor.clone();
        read.extend(batch);
        batches += 1;
    }
    assert_eq!(read, all);
    assert_eq!(batches, 4, "10 events in batches of 3");
    assert_eq!(
        events(&*store, &all[4].cursor, 100).await,
        all[5..].to_vec()
    );
    assert_eq!(events(&*store, "", 2).await, all[..2].to_vec());
    // Events written after the last read are exactly what the next read from its cursor returns.
    assert!(events(&*store, &after, 100).await.is_empty());
    record_one(&*store, &record("c-7", Status::PendingReview)).await;
    let e = done(
        decide(
            &*store,
            overturn("c-0", Status::Published, Status::Rejected),
        )
        .await,
    );
    let next = events(&*store, &after, 100).await;
    assert_eq!(next.len(), 2, "{next:?}");
    assert_eq!(next[0].comment_id, "c-7");
    assert_eq!(next[1], e);
    assert!(cursor_key(&next[0].cursor) > cursor_key(&after));
}
on_every_backend!(
    decision_stream,
    the_decision_stream_resumes_exactly_after_a_cursor
);

async fn retention_starts_when_a_comment_is_decided_and_never_for_a_held_one(backend: Backend) {
    let (store, keys, clock) = timed(backend).await;
    let t_pub = now(&clock);
    record_one(&*store, &record("c-pub", Status::Published)).await;
    record_one(&*store, &record("c-dec", Status::PendingReview)).await;
    tick(&clock).await;
    record_one(&*store, &record("c-held", Status::PendingReview)).await;
    let (a, _) = claim(&*store, 60_000, "mod-a", &tokens("a", 1)).await;
    assert_eq!(ids(&a), ["c-dec"]);
    tick(&clock).await;
    let t_dec = now(&clock);
    done(decide(&*store, review("c-dec", "a-0", "mod-a")).await);
    let again = record("c-again", Status::Published);
    match &clock {
        Some(c) => {
            let to = |at: u64| c.advance_ms(at - c.now_ms());
            // Idempotency keys are remembered for their own lifetime (a day here). Like a Redis key with a TTL,
            // each is still there at the millisecond its lifetime ends, and gone one later.
            to(t_pub + DAY_MS);
            assert_eq!(
                admit(&*store, admission("key-c-pub", &again)).await,
                Admission::Replayed {
                    response: "c-pub".into()
                }
            );
            to(t_pub + DAY_MS + 1);
            assert!(matches!(
                admit(&*store, admission("key-c-pub", &again)).await,
                Admission::Recorded { .. }
            ));
            // Records for the retention (a week here): a published one from its admission, a decided one from
            // its decision.
            to(t_pub + RETENTION_MS);
            assert!(get(&*store, "c-pub").await.is_some());
            to(t_pub + RETENTION_MS + 1);
            assert!(get(&*store, "c-pub").await.is_none(), "kept past retention");
            assert_eq!(
                decide(
                    &*store,
                    overturn("c-pub", Status::Published, Status::Rejected)
                )
                .await,
                Decided::NotFound
            );
            to(t_dec + RETENTION_MS);
            assert_eq!(get(&*store, "c-dec").await.expect("kept").history.len(), 2);
            to(t_dec + RETENTION_MS + 1);
            assert!(get(&*store, "c-dec").await.is_none(), "kept past retention");
            assert!(
                get(&*store, "c-held").await.is_some(),
                "a held comment expired"
            );
            let (h, _) = claim(&*store, 60_000, "mod-b", &tokens("b", 5)).await;
            assert_eq!(ids(&h), ["c-held"]);
        }
        None => {
            let mut conn = raw_redis(backend).await.expect("a redis backend");
            let within = |ttl: i64, max: u64| ttl > (max / 2) as i64 && ttl <= max as i64;
            for key in [
                keys.comment(SITE, "c-pub"),
                keys.comment(SITE, "c-dec"),
                keys.history(SITE, "c-dec"),
            ] {
                let ttl = pttl(&mut conn, &key).await;
                assert!(within(ttl, RETENTION_MS), "{key}: PTTL {ttl}");
            }
            for id in ["c-pub", "c-dec", "c-held"] {
                let key = keys.idempotency(SITE, &format!("key-{id}"));
                let ttl = pttl(&mut conn, &key).await;
                assert!(within(ttl, DAY_MS), "{key}: PTTL {ttl}");
            }
            for key in [keys.comment(SITE, "c-held"), keys.pending(SITE)] {
                assert_eq!(pttl(&mut conn, &key).await, -1, "{key} expires");
            }
        }
    }
}
on_every_backend!(
    retention_ttls,
    retention_starts_when_a_comment_is_decided_and_never_for_a_held_one
);

async fn an_expired_comment_is_gone_for_reads_decisions_and_replays(backend: Backend) {
    let (store, _keys, clock) = timed(backend).await;
    const SHORT: u64 = 400;
    let recs: Vec<CommentRecord> = vec![
        record("c-pub", Status::Published),
        record("c-dec", Status::PendingReview),
        record("c-held", Status::PendingReview),
    ];
    for rec in &recs {
        let key = format!("key-{}", rec.comment_id);
        let out = admit(
            &*store,
            Admit {
                retention_ms: SHORT,
                idempotency_ttl_ms: SHORT,
                ..admission(&key, rec)
            },
        )
        .await;
        assert!(matches!(out, Admission::Recorded { .. }), "{out:?}");
        tick(&clock).await;
    }
    let (a, _) = claim(&*store, 60_000, "mod-a", &tokens("a", 1)).await;
    assert_eq!(ids(&a), ["c-dec"]);
    done(decide(&*store, review("c-dec", "a-0", "mod-a")).await);
    reach(&clock, now(&clock) + SHORT + 1).await;

    assert!(get(&*store, "c-pub").await.is_none(), "kept past retention");
    assert!(get(&*store, "c-dec").await.is_none(), "kept past retention");
    assert!(
        get(&*store, "c-held").await.is_some(),
        "a held comment expired"
    );
    assert_eq!(
        decide(
            &*store,
            overturn("c-pub", Status::Published, Status::Rejected)
        )
        .await,
        Decided::NotFound,
        "an expired comment was decided"
    );
    assert_eq!(
        decide(
            &*store,
            overturn("c-dec", Status::Rejected, Status::Published)
        )
        .await,
        Decided::NotFound,
        "an expired comment was decided"
    );
    // The idempotency key is forgotten too: the same key records a new comment.
    let again = record("c-again", Status::Published);
    assert!(matches!(
        admit(&*store, admission("key-c-pub", &again)).await,
        Admission::Recorded { .. }
    ));
    let mut recent: Vec<String> = store
        .recent(SITE, 0, 100)
        .await
        .expect("recent")
        .into_iter()
        .map(|(r, _)| r.comment_id)
        .collect();
    recent.sort();
    assert_eq!(recent, ["c-again", "c-held"]);
    let (h, _) = claim(&*store, 60_000, "mod-b", &tokens("b", 5)).await;
    assert_eq!(ids(&h), ["c-held"]);
}
on_every_backend!(
    retention_expiry,
    an_expired_comment_is_gone_for_reads_decisions_and_replays
);

async fn documents_are_fenced_by_version_and_every_change_moves_the_epoch(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    let epoch = || async { store.epoch().await.expect("epoch") };
    let get_doc = |scope: &'static str| {
        let s = store.clone();
        async move { s.get_doc(scope, "policy").await.expect("get_doc") }
    };
    let put = |scope: &'static str, expected: u64, doc: &'static str| {
        let s = store.clone();
        async move {
            s.put_doc(
                scope,
                "policy",
                expected,
                doc,
                "ops-a",
                AuditNote {
                    action: moderato::audit::action::POLICY_UPDATE,
                    site: scope,
                    detail: "test",
                },
            )
            .await
            .expect("put_doc")
        }
    };
    let e0 = epoch().await;
    assert_eq!(e0, 0);
    assert_eq!(get_doc(GLOBAL_SCOPE).await, None);
    assert_eq!(
        put(GLOBAL_SCOPE, 1, "v1").await,
        Err(0),
        "expected 1 of nothing"
    );
    assert_eq!(epoch().await, e0, "a refused change moved the epoch");
    assert_eq!(put(GLOBAL_SCOPE, 0, "v1").await, Ok(1));
    assert_eq!(epoch().await, e0 + 1);
    assert_eq!(get_doc(GLOBAL_SCOPE).await, Some((1, "v1".to_string())));
    assert_eq!(put(GLOBAL_SCOPE, 0, "stale").await, Err(1));
    assert_eq!(get_doc(GLOBAL_SCOPE).await, Some((1, "v1".to_string())));
    assert_eq!(epoch().await, e0 + 1);
    assert_eq!(put(GLOBAL_SCOPE, 1, "v2").await, Ok(2));
    assert_eq!(epoch().await, e0 + 2);
    assert_eq!(get_doc(GLOBAL_SCOPE).await, Some((2, "v2".to_string())));
    // Scopes are separate documents under one epoch.
    assert_eq!(get_doc(SITE).await, None);
    assert_eq!(put(SITE, 0, "site v1").await, Ok(1));
    assert_eq!(epoch().await, e0 + 3);
    assert_eq!(get_doc(SITE).await, Some((1, "site v1".to_string())));
    assert_eq!(get_doc(GLOBAL_SCOPE).await, Some((2, "v2".to_string())));
}
on_every_backend!(
    documents,
    documents_are_fenced_by_version_and_every_change_moves_the_epoch
);

// ---------------------------------------------------------------------------------------------------------------
// Webhooks: the endpoint's versions, the delivery lease, fenced progress and dead letters.
// ---------------------------------------------------------------------------------------------------------------

fn hook(url: &str, secret: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.into(),
        secret: secret.into(),
        previous_secret: String::new(),
        previous_until_ms: 0,
        version: 0,
    }
}

async fn webhook_set_is_versioned_and_starts_after_existing_events(backend: Backend) {
    let (store, _keys, _clock) = timed(backend).await;
    let st = store.as_ref();
    assert_eq!(st.webhook(SITE).await.expect("webhook"), None);
    assert_eq!(
        st.delivery_state(SITE).await.expect("state"),
        DeliveryState::default()
    );
    record_one(st, &record("c1", Status::Published)).await;
    let second = record_one(st, &record("c2", Status::Published)).await;

    let first = hook("http://127.0.0.1:1/hook", "s1");
    assert_eq!(st.set_webhook(SITE, 0, &first).await.expect("set"), Ok(1));
    assert_eq!(
        st.delivery_state(SITE).await.expect("state").cursor,
        second,
        "delivery starts after the events already in the stream"
    );
    assert_eq!(st.set_webhook(SITE, 0, &first).await.expect("set"), Err(1));
    let third = record_one(st, &record("c3", Status::Published)).await;
    let rotated = WebhookConfig {
        secret: "s2".into(),
        previous_secret: "s1".into(),
        previous_until_ms: 5_000,
        ..first.clone()
    };
    assert_eq!(st.set_webhook(SITE, 1, &rotated).await.expect("set"), Ok(2));
    assert_eq!(
        st.webhook(SITE).await.expect("webhook"),
        Some(WebhookConfig {
            version: 2,
            ..rotated
        })
    );
    let state = st.delivery_state(SITE).await.expect("state");
    assert_eq!(state.cursor, second, "a change keeps the cursor");
    assert_eq!(
        events(st, &state.cursor, 10).await[0].cursor,
        third,
        "the event after the cursor is the first to deliver"
    );
    assert_eq!(
        st.webhook_sites().await.expect("sites"),
        vec![SITE.to_string()]
    );
}
on_every_backend!(
    webhook_set_versions,
    webhook_set_is_versioned_and_starts_after_existing_events
);

async fn a_webhook_lease_is_exclusive_until_it_ends_or_is_released(backend: Backend) {
    let (store, _keys, clock) = timed(backend).await;
    let st = store.as_ref();
    assert!(st.webhook_lease(SITE, "a", 1_000).await.expect("lease"));
    assert!(!st.webhook_lease(SITE, "b", 1_000).await.expect("lease"));
    assert!(st.webhook_lease(SITE, "a", 1_000).await.expect("renew"));
    assert!(
        !st.webhook_lease(SITE, "b", 0)
            .await
            .expect("release by a non-holder")
    );
    assert!(!st.webhook_lease(SITE, "b", 1_000).await.expect("lease"));
    assert!(!st.webhook_lease(SITE, "a", 0).await.expect("release"));
    assert!(st.webhook_lease(SITE, "b", 200).await.expect("lease"));
    let s = st.delivery_state(SITE).await.expect("state");
    assert_eq!(s.owner, "b");
    assert!(!st.webhook_lease(SITE, "a", 1_000).await.expect("lease"));
    reach(&clock, s.lease_until_ms + 1).await;
    assert!(
        st.webhook_lease(SITE, "a", 1_000).await.expect("lease"),
        "an ended lease is free"
    );
}
on_every_backend!(
    webhook_lease,
    a_webhook_lease_is_exclusive_until_it_ends_or_is_released
);

async fn webhook_progress_is_fenced_and_dead_letters_are_kept(backend: Backend) {
    let (store, _keys, _clock) = timed(backend).await;
    let st = store.as_ref();
    st.set_webhook(SITE, 0, &hook("http://127.0.0.1:1/hook", "s"))
        .await
        .expect("set")
        .expect("first version");
    let e1 = record_one(st, &record("c1", Status::Published)).await;
    let e2 = record_one(st, &record("c2", Status::Rejected)).await;
    let failed = |now_ms| Progress::Failed {
        now_ms,
        next_attempt_ms: now_ms + 100,
        error: "HTTP 500",
    };
    assert!(
        !st.webhook_progress(SITE, "a", "", failed(10))
            .await
            .expect("progress"),
        "no lease, no progress"
    );
    assert!(st.webhook_lease(SITE, "a", 60_000).await.expect("lease"));
    assert!(
        !st.webhook_progress(SITE, "b", "", failed(10))
            .await
            .expect("progress")
    );
    assert!(
        st.webhook_progress(SITE, "a", "", failed(10))
            .await
            .expect("progress")
    );
    assert!(
        st.webhook_progress(SITE, "a", "", failed(20))
            .await
            .expect("progress")
    );
    let s = st.delivery_state(SITE).await.expect("state");
    assert_eq!(
        (
            s.cursor.as_str(),
            s.attempts,
            s.failing_since_ms,
            s.next_attempt_ms,
            s.last_error.as_str()
        ),
        ("", 2, 10, 120, "HTTP 500")
    );
    assert!(
        !st.webhook_progress(SITE, "a", &e1, Progress::Delivered { cursor: &e2 })
            .await
            .expect("progress"),
        "a stale cursor is fenced out"
    );
    assert!(
        st.webhook_progress(SITE, "a", "", Progress::Delivered { cursor: &e1 })
            .await
            .expect("progress")
    );
    let s = st.delivery_state(SITE).await.expect("state");
    assert_eq!(
        (s.cursor.as_str(), s.attempts, s.failing_since_ms),
        (e1.as_str(), 0, 0)
    );

    let dead = DeadLetter {
        event_id: format!("{SITE}/{e2}"),
        cursor: e2.clone(),
        attempts: 7,
        failing_since_ms: 30,
        dead_ms: 90,
        last_error: "connection refused".into(),
        body: "{\"id\":\"x\"}".into(),
    };
    assert!(
        st.webhook_progress(SITE, "a", &e1, Progress::Dead(&dead))
            .await
            .expect("progress")
    );
    let s = st.delivery_state(SITE).await.expect("state");
    assert_eq!(
        (s.cursor.as_str(), s.attempts, s.dead_letters),
        (e2.as_str(), 0, 1)
    );
    let letters = st.dead_letters(SITE, "", 10).await.expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].1, dead);
    assert!(
        st.dead_letters(SITE, &letters[0].0, 10)
            .await
            .expect("dead letters")
            .is_empty()
    );
    assert!(!st.webhook_lease(SITE, "a", 0).await.expect("release"));
    assert!(
        !st.webhook_progress(SITE, "a", &e2, failed(40))
            .await
            .expect("progress"),
        "a released lease is fenced out"
    );
}
on_every_backend!(
    webhook_progress,
    webhook_progress_is_fenced_and_dead_letters_are_kept
);

async fn a_session_is_read_back_until_it_expires_or_is_deleted(backend: Backend) {
    let (store, _keys) = setup(backend).await;
    let a = "0123456789abcdef0123456789abcdef";
    let b = "fedcba9876543210fedcba9876543210";
    assert_eq!(store.get_session(a).await.expect("get"), None);
    store
        .put_session(a, "{\"who\":\"Nguyễn\"}", 60_000)
        .await
        .expect("put");
    assert_eq!(
        store.get_session(a).await.expect("get").as_deref(),
        Some("{\"who\":\"Nguyễn\"}")
    );
    store.put_session(a, "second", 60_000).await.expect("put");
    assert_eq!(
        store.get_session(a).await.expect("get").as_deref(),
        Some("second")
    );
    assert!(store.delete_session(a).await.expect("delete"));
    assert!(!store.delete_session(a).await.expect("delete"));
    assert_eq!(store.get_session(a).await.expect("get"), None);

    store.put_session(b, "short", 150).await.expect("put");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.get_session(b).await.expect("get").is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a session outlived its time to live"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
on_every_backend!(
    session_ttl,
    a_session_is_read_back_until_it_expires_or_is_deleted
);

fn privacy_record(id: &str, status: moderato::review::Status) -> moderato::review::CommentRecord {
    moderato::review::CommentRecord {
        comment_id: id.into(),
        site: "hcm".into(),
        thread_id: "t".into(),
        name: "Reader".into(),
        phone: "0912345678".into(),
        email: String::new(),
        title: "title".into(),
        body: "body".into(),
        score: 0.5,
        reasons: Vec::new(),
        model_version: "m".into(),
        policy_version: 1,
        initial_status: status,
        created_ms: 1,
    }
}

/// The readers' data operations: the registry of sites seen, author indexes in order with paging, erasure steps
/// (idempotent, removing ids from the index, gone ids too), appended audit entries, appeals fenced by status and
/// by an earlier appeal, and claims that pass over an appeal against the claiming moderator.
async fn readers_data_operations(backend: Backend) {
    use moderato::review::Status;
    use moderato::store::{Admit, Appealed, Decide, Decided, Erase, IndexedStatus};
    let (store, _keys) = setup(backend).await;
    store.register_site("hcm").await.expect("register");
    store.register_site("hn").await.expect("register");
    store.register_site("hcm").await.expect("register");
    assert_eq!(store.sites().await.expect("sites"), ["hcm", "hn"]);

    let ids: Vec<String> = (0..5).map(|i| format!("{i:032x}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let status = if i < 3 {
            Status::Published
        } else {
            Status::PendingReview
        };
        let rec = privacy_record(id, status);
        store
            .admit(Admit {
                idempotency_key: &format!("k{i}"),
                captcha: None,
                limits: &[],
                record: &rec,
                response: "{}",
                retention_ms: 3_600_000,
                idempotency_ttl_ms: 3_600_000,
                authors: &["a1".to_string(), "a2".to_string()],
                campaign: None,
            })
            .await
            .expect("admit");
    }
    let page = |offset, max| {
        let store = store.clone();
        async move {
            store
                .author_comments("hcm", "a1", offset, max)
                .await
                .expect("author comments")
                .into_iter()
                .map(|(id, c)| (id, c.map(|c| c.status)))
                .collect::<Vec<_>>()
        }
    };
    let all = page(0, 10).await;
    assert_eq!(all.len(), 5);
    // Decided comments first (they expire), held ones last (never, while held).
    assert!(
        all[..3].iter().all(|(_, s)| *s == Some(Status::Published)),
        "{all:?}"
    );
    assert!(
        all[3..]
            .iter()
            .all(|(_, s)| *s == Some(Status::PendingReview))
    );
    assert_eq!(page(3, 10).await, all[3..].to_vec());
    assert!(
        store
            .author_comments("hn", "a1", 0, 10)
            .await
            .expect("other site")
            .is_empty()
    );

    // One step erases two records and drops one id from the index; a second run replaces nothing.
    let mut erased = privacy_record(&ids[0], Status::Published);
    erased.name = "erased-x".into();
    erased.phone.clear();
    let mut erased1 = erased.clone();
    erased1.comment_id.clone_from(&ids[1]);
    let step = Erase {
        site: "hcm",
        author: Some("a1"),
        records: &[erased.clone(), erased1.clone()],
        gone: std::slice::from_ref(&ids[2]),
    };
    assert_eq!(store.erase(step.clone()).await.expect("erase"), 2);
    assert_eq!(store.erase(step).await.expect("erase again"), 0);
    let left: Vec<String> = page(0, 10).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, ids[3..].to_vec());
    // An erased record leaves every index of its author; an id only said to be gone leaves the one named.
    let other: Vec<String> = store
        .author_comments("hcm", "a2", 0, 10)
        .await
        .expect("other index")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(other, ids[2..].to_vec());
    let c = store
        .get_comment("hcm", &ids[0])
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        (c.record.name.as_str(), c.status),
        ("erased-x", Status::Published)
    );
    assert_eq!(c.history.len(), 1, "the decision stays");

    store
        .append_audit(
            "hcm",
            &moderato::audit::AuditEntry {
                site: "hcm".into(),
                actor: "ops".into(),
                action: "ERASE".into(),
                after: "erased-x".into(),
                detail: "2 records erased".into(),
                ..Default::default()
            },
        )
        .await
        .expect("append audit");
    let log = store
        .audit("hcm", "", 0, u64::MAX, 10)
        .await
        .expect("audit");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].actor.as_str(),
            log[0].action.as_str(),
            log[0].after.as_str(),
            log[0].detail.as_str()
        ),
        ("ops", "ERASE", "erased-x", "2 records erased")
    );

    // Appeals: a held comment is not appealable; a rejected one once; an unknown one is not found.
    assert_eq!(
        store
            .appeal("hcm", &ids[3], Status::Rejected, "m", "portal")
            .await
            .expect("appeal"),
        Appealed::WrongStatus(Status::PendingReview)
    );
    assert_eq!(
        store
            .appeal("hcm", &"f".repeat(32), Status::Rejected, "m", "portal")
            .await
            .expect("appeal"),
        Appealed::NotFound
    );
    let (claimed, _) = store
        .claim("hcm", 60_000, "mod-a", &["t1".to_string()])
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let target = claimed[0].comment.record.comment_id.clone();
    let d = store
        .decide(Decide {
            site: "hcm",
            comment_id: &target,
            kind: moderato::review::DecisionKind::Review,
            lease_token: "t1",
            expected: Status::PendingReview,
            new_status: Status::Rejected,
            actor: "mod-a",
            label: moderato::review::Label::Spam,
            note: "",
        })
        .await
        .expect("decide");
    assert!(matches!(d, Decided::Done(_)));
    let out = store
        .appeal("hcm", &target, Status::Rejected, "please", "portal")
        .await
        .expect("appeal");
    // What author trust reads: the end of each author index, each comment's status and last event as its full
    // record says, in index order, a decided and appealed one included (its last event is not its first).
    for author in ["a1", "a2"] {
        let lean = store
            .author_statuses("hcm", author, 10)
            .await
            .expect("author statuses");
        let full: Vec<IndexedStatus> = store
            .author_comments("hcm", author, 0, 10)
            .await
            .expect("author comments")
            .into_iter()
            .filter_map(|(id, c)| c.map(|c| IndexedStatus::of(id, &c)))
            .collect();
        assert_eq!(lean, full, "{author}");
        assert!(lean.iter().any(|e| e.comment_id == target
            && e.status == Status::PendingReview
            && e.last == moderato::review::DecisionKind::Appeal));
        // The last entries, not the first: those decided or held most recently.
        assert_eq!(
            store.author_statuses("hcm", author, 1).await.expect("one"),
            full[full.len() - 1..].to_vec()
        );
    }
    let Appealed::Done { event, decider } = out else {
        panic!("appeal not done: {out:?}");
    };
    assert_eq!(decider, "mod-a");
    assert_eq!(
        (event.status, event.kind),
        (
            Status::PendingReview,
            moderato::review::DecisionKind::Appeal
        )
    );
    assert!(event.note.is_empty());
    assert_eq!(
        store
            .appeal("hcm", &target, Status::PendingReview, "again", "portal")
            .await
            .expect("appeal"),
        Appealed::AlreadyAppealed
    );
    let c = store
        .get_comment("hcm", &target)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(c.history.last().map(|e| e.note.as_str()), Some("please"));
    // Nor can mod-a take it over; nothing changes (mod-b still claims it below).
    assert_eq!(
        store
            .take_over("hcm", &target, 60_000, "mod-a", "t9", "")
            .await
            .expect("take over"),
        moderato::store::TakenOver::AppealedAgainst
    );
    // Both held comments are queued; mod-a gets only the one not appealed against them.
    let (a, _) = store
        .claim(
            "hcm",
            60_000,
            "mod-a",
            &["t2".to_string(), "t3".to_string()],
        )
        .await
        .expect("claim");
    assert_eq!(a.len(), 1);
    assert_ne!(a[0].comment.record.comment_id, target);
    let (b, _) = store
        .claim("hcm", 60_000, "mod-b", &["t4".to_string()])
        .await
        .expect("claim");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].comment.record.comment_id, target);
    let log = store
        .audit("hcm", "", 0, u64::MAX, 10)
        .await
        .expect("audit");
    assert!(
        log.iter()
            .any(|e| e.action == "APPEAL" && e.actor == "portal" && e.comment_id == target)
    );
}
on_every_backend!(readers_data, readers_data_operations);

/// `queue_stats.lua` counts moderator decisions into the same hours as `review::hour_bucket` (the memory store's
/// rule, checked on the manual clock above): decision times are written straight into the store's sorted set around
/// each hour edge, half a second either side, and read back through the store.
async fn decisions_are_charted_in_the_hours_the_domain_names(backend: Backend) {
    use moderato::review::{HOURS_CHARTED, hour_bucket};
    let (store, keys) = setup(backend).await;
    let mut conn = raw_redis(backend).await.expect("a redis backend");
    let key = keys.human_decisions(SITE);
    let (secs, micros): (u64, u64) = redis::cmd("TIME")
        .query_async(&mut conn)
        .await
        .expect("TIME");
    let now = secs * 1000 + micros / 1000;
    const H: u64 = 3_600_000;
    let ages = [
        0,
        H - 500,
        H + 500,
        2 * H + 500,
        5 * H - 500,
        23 * H + 500,
        24 * H - 500,
        24 * H + 500,
    ];
    let mut want = [0u64; HOURS_CHARTED];
    for (i, age) in ages.iter().enumerate() {
        let _: () = redis::cmd("ZADD")
            .arg(&key)
            .arg(now - age)
            .arg(format!("d-{i}"))
            .query_async(&mut conn)
            .await
            .expect("ZADD");
        if let Some(k) = hour_bucket(now, now - age) {
            want[k] += 1;
        }
    }
    let stats = store.queue_stats(SITE).await.expect("queue_stats");
    assert_eq!(stats.decisions_by_hour, want);
    assert_eq!(stats.decisions_last_hour, 2);
    assert_eq!(want.iter().sum::<u64>(), 7, "the oldest is past the day");
}

mod hours_on_redis {
    use crate::harness::Backend;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis() {
        super::decisions_are_charted_in_the_hours_the_domain_names(Backend::Redis).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cluster() {
        super::decisions_are_charted_in_the_hours_the_domain_names(Backend::Cluster).await
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Campaigns: copies found through the buckets and the signature, distinct authors counted, the alternate outcome
// stored, copies marked, the window and the bucket cap.
// ---------------------------------------------------------------------------------------------------------------

/// A signature of 24 positions, each `base` except the first `changed`, which are `fill`.
fn signature(base: &str, changed: usize, fill: &str) -> String {
    (0..24)
        .map(|i| if i < changed { fill } else { base })
        .collect()
}

async fn probe(
    store: &dyn Store,
    keys: &Keys,
    id: &str,
    author: &str,
    sig: &str,
    window_ms: u64,
) -> (Admission, StoredComment) {
    let _ = keys;
    let bands = [
        moderato::store::campaign_band(0, 7),
        moderato::store::campaign_band(1, 9),
    ];
    let rec = record(id, Status::Published);
    let alt = CommentRecord {
        initial_status: Status::PendingReview,
        ..rec.clone()
    };
    let out = admit(
        store,
        Admit {
            campaign: Some(moderato::store::CampaignProbe {
                bands: &bands,
                signature: sig,
                author,
                window_ms,
                min_agree: 12,
                min_authors: 3,
                alternate: Some((&alt, "alternate answer")),
            }),
            ..admission(&format!("k-{id}"), &rec)
        },
    )
    .await;
    (out, get(store, id).await.expect("stored"))
}

fn campaign_of(a: &Admission) -> Option<String> {
    match a {
        Admission::Recorded { campaign, .. } => campaign.clone(),
        other => panic!("not recorded: {other:?}"),
    }
}

async fn a_campaign_needs_copies_from_enough_distinct_authors(backend: Backend) {
    let (store, keys, _clock) = timed(backend).await;
    let store = &*store;
    const HOUR: u64 = 3_600_000;
    let sig = signature("0a0a", 0, "");
    // Two authors, one of them twice: no campaign yet; each stored as the primary outcome.
    for (id, author) in [("c1", "a1"), ("c2", "a1"), ("c3", "a2")] {
        let (out, c) = probe(store, &keys, id, author, &sig, HOUR).await;
        assert_eq!(campaign_of(&out), None, "{id}");
        assert_eq!(c.status, Status::Published);
        assert_eq!(c.campaign, None);
    }
    // A text sharing the buckets but agreeing in only 11 of 24 positions is not a copy.
    let (out, _) = probe(
        store,
        &keys,
        "c4",
        "a3",
        &signature("0a0a", 13, "ffff"),
        HOUR,
    )
    .await;
    assert_eq!(campaign_of(&out), None);
    // A copy that agrees with the first in 12 positions (and with the different text in 11) from a third author: a
    // campaign named after the oldest copy. The alternate outcome is stored and replayed; every copy is marked,
    // the different text is not.
    let (out, c) = probe(
        store,
        &keys,
        "c5",
        "a4",
        &signature("0a0a", 12, "eeee"),
        HOUR,
    )
    .await;
    assert_eq!(campaign_of(&out).as_deref(), Some("c1"));
    assert_eq!(c.status, Status::PendingReview);
    assert_eq!(c.campaign.as_deref(), Some("c1"));
    match admit(store, admission("k-c5", &record("c5", Status::Published))).await {
        Admission::Replayed { response } => assert_eq!(response, "alternate answer"),
        other => panic!("{other:?}"),
    }
    for id in ["c1", "c2", "c3"] {
        assert_eq!(
            get(store, id).await.expect("c").campaign.as_deref(),
            Some("c1")
        );
    }
    assert_eq!(get(store, "c4").await.expect("c4").campaign, None);
    assert_eq!(
        store.campaign(SITE, "c1").await.expect("members"),
        ["c1", "c2", "c3", "c5"]
    );
    // A later copy joins the same campaign.
    let (out, _) = probe(store, &keys, "c6", "a5", &sig, HOUR).await;
    assert_eq!(campaign_of(&out).as_deref(), Some("c1"));
    assert_eq!(store.campaign(SITE, "c1").await.expect("members").len(), 5);
    // A copy whose only copy is c5 (12 positions shared with it, none with the rest), from an author already seen:
    // two authors only, but c5 is marked, so it joins c5's campaign.
    let (out, c) = probe(
        store,
        &keys,
        "c7",
        "a1",
        &signature("cccc", 12, "eeee"),
        HOUR,
    )
    .await;
    assert_eq!(campaign_of(&out).as_deref(), Some("c1"));
    assert_eq!(c.campaign.as_deref(), Some("c1"));
    assert!(store.campaign(SITE, "nope").await.expect("read").is_empty());
    // An erased comment's signature goes with its body: copies of erased comments are not found.
    let other = signature("0c0c", 0, "");
    for (id, author) in [("e1", "x1"), ("e2", "x2")] {
        probe(store, &keys, id, author, &other, HOUR).await;
        let erased = CommentRecord {
            body: "erased".into(),
            ..record(id, Status::Published)
        };
        let step = moderato::store::Erase {
            site: SITE,
            author: None,
            records: std::slice::from_ref(&erased),
            gone: &[],
        };
        assert_eq!(store.erase(step).await.expect("erase"), 1);
    }
    let (out, _) = probe(store, &keys, "e3", "x3", &other, HOUR).await;
    assert_eq!(campaign_of(&out), None);
}
on_every_backend!(
    campaign_distinct_authors,
    a_campaign_needs_copies_from_enough_distinct_authors
);

async fn campaign_copies_count_only_within_the_window_and_the_sketch_keeps_only_it(
    backend: Backend,
) {
    let (store, keys, clock) = timed(backend).await;
    let store = &*store;
    let sig = signature("0b0b", 0, "");
    const WINDOW: u64 = 200;
    let start = now(&clock);
    probe(store, &keys, "w1", "a1", &sig, WINDOW).await;
    probe(store, &keys, "w2", "a2", &sig, WINDOW).await;
    // Past the window the two earlier copies no longer count.
    reach(&clock, start + WINDOW + 50).await;
    let (out, _) = probe(store, &keys, "w3", "a3", &sig, WINDOW).await;
    assert_eq!(campaign_of(&out), None);
    // Forty more authors within a minute's window: each band keeps only its newest entries, and a campaign forms
    // all the same (from the third author on).
    let mut formed = 0;
    for i in 0..40 {
        let (out, c) = probe(
            store,
            &keys,
            &format!("n{i}"),
            &format!("b{i}"),
            &sig,
            60_000,
        )
        .await;
        if campaign_of(&out).is_some() {
            formed += 1;
            assert_eq!(c.status, Status::PendingReview);
        }
    }
    // The 40 are posted under another window than w1-w3: a new series, as a changed policy would start it. The
    // third of the 40 forms the campaign.
    assert_eq!(formed, 38);
    // On Redis the sketch is a generation per window, kept until the next one ends: the one just written has both
    // bands' fields, each with at most its newest 8 entries, and a time to live of at most two windows.
    if let Some(mut conn) = crate::harness::raw_redis(backend).await {
        let generation = now(&clock) / 60_000;
        let mut found = false;
        for g in [generation, generation - 1] {
            let key = format!("{}{g}", keys.campaign_sketch(SITE));
            let fields: Vec<String> = redis::cmd("HVALS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("hvals");
            if fields.is_empty() {
                continue;
            }
            found = true;
            assert_eq!(fields.len(), 2, "{key}");
            for f in &fields {
                // A generation begun during the 40 holds fewer.
                let n = f.matches(';').count();
                assert!(
                    (1..=moderato::store::campaign_band_keep(3)).contains(&n),
                    "{f}"
                );
            }
            let ttl = pttl(&mut conn, &key).await;
            assert!(ttl > 0 && ttl <= 120_000, "{key}: {ttl}");
            break;
        }
        assert!(found, "no sketch generation");
    }
}
on_every_backend!(
    campaign_window,
    campaign_copies_count_only_within_the_window_and_the_sketch_keeps_only_it
);
