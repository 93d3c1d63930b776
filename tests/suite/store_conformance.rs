//! The store conformance suite: the same assertions against the memory store, Redis and Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use moderato::clock::{Clock, ManualClock, SystemClock};
use moderato::store::memory::MemoryStore;
use moderato::store::{CreateOutcome, Keys, LimitCheck, NewChallenge, Store, TakenChallenge};

use crate::harness::{Backend, open_store, unique_prefix};

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
        })
        .await
        .expect("admit");
    assert!(
        matches!(out, moderato::store::Admission::Recorded { .. }),
        "{out:?}"
    );
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
    use moderato::store::{Admit, Appealed, Decide, Decided, Erase};
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
