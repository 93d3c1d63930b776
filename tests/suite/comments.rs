//! SubmitComment end to end, the review queue with leases, decision watching, labels; on every backend.

use std::sync::Arc;
use std::time::Duration;

use moderato::clock::{Clock, ManualClock, SystemClock};
use moderato::store::memory::MemoryStore;

use moderato::captcha::{Captchas, Settings};
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    Author, CaptchaAnswer, ClaimReviewsRequest, Client, CommentStatus, DecideReviewRequest,
    DecisionEvent, DecisionKind, ExportLabelsRequest, GetCommentRequest, Label,
    OverturnDecisionRequest, QueueStatsRequest, SubmitCommentRequest, Verdict,
    WatchDecisionsRequest,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::harness::{
    Backend, HAM, MODERATOR_TOKEN, PORTAL_TOKEN, TestApp, authed, comment, open_store, spawn_app,
    spawn_with, status_of, submit, test_config, unique_prefix, violated_fields,
};

const SPAM: &str = "WINNER!! You have won a FREE prize of $1000 cash. Call 09012345678 now or text WIN to 80086 to claim, click http://free-prize-now.example";

fn no_captcha(cfg: &mut moderato::config::Config) {
    cfg.captcha.required = false;
}

async fn ham_spam_and_borderline_get_their_status_with_reasons(backend: Backend) {
    let probe = moderato::startup::load_model(&test_config("x:")).expect("shipped model");
    // The score the service decides on: the combiner's probability when the model ships one.
    let score = |body: &str| {
        f64::from(
            moderato::comment::classify(
                &moderato::policy::document::Policy::default(),
                &probe,
                u64::MAX,
                "Trần Thị Mai",
                "",
                "Góp ý",
                body,
                0,
            )
            .0,
        )
    };
    let border_text =
        "Cảm ơn bài viết. Xem thêm thông tin tại trang của chúng tôi, gọi ngay 0901234567";
    let (h, b, s) = (score(HAM), score(border_text), score(SPAM));
    assert!(
        h < b && b < s,
        "model should order ham {h} < borderline {b} < spam {s}"
    );
    let app = spawn_app(backend, |c| {
        no_captcha(c);
        c.policy.approve_below = ((h + b) / 2.0) as f32;
        c.policy.reject_at = ((b + s) / 2.0) as f32;
    })
    .await;
    let ch = app.channel().await;
    let ham = submit(&ch, comment("hcm", "k-ham", HAM))
        .await
        .expect("ham accepted");
    assert_eq!(status_of(&ham), CommentStatus::Published);
    assert!(
        ham.reasons.iter().any(|r| r.code == "SCORE_BELOW_APPROVE"),
        "{:?}",
        ham.reasons
    );
    let spam = submit(&ch, comment("hcm", "k-spam", SPAM))
        .await
        .expect("spam answered");
    assert_eq!(status_of(&spam), CommentStatus::Rejected);
    assert!(
        spam.reasons
            .iter()
            .any(|r| r.code == "SCORE_AT_OR_ABOVE_REJECT")
    );
    assert!(
        spam.reasons
            .iter()
            .any(|r| r.code == "MODEL_FEATURE" && r.contribution > 0.0),
        "spam carries the model's top features: {:?}",
        spam.reasons
    );
    let border = submit(&ch, comment("hcm", "k-border", border_text))
        .await
        .expect("answered");
    assert_eq!(status_of(&border), CommentStatus::PendingReview);
    assert!(
        border
            .reasons
            .iter()
            .any(|r| r.code == "SCORE_BETWEEN_THRESHOLDS")
    );
    assert!(!spam.model_version.is_empty());
    assert_eq!(
        spam.policy_version, 0,
        "decided by the configuration's default policy, which no update has stored yet"
    );

    // The rejected comment is kept, with its history.
    let got = CommentServiceClient::new(ch.clone())
        .get_comment(authed(
            PORTAL_TOKEN,
            GetCommentRequest {
                site: "hcm".into(),
                comment_id: spam.comment_id.clone(),
            },
        ))
        .await
        .expect("rejected comments are kept")
        .into_inner();
    assert_eq!(got.status, CommentStatus::Rejected as i32);
    assert_eq!(got.history.len(), 1);
    assert_eq!(got.body, SPAM);
}
on_every_backend!(
    decisions,
    ham_spam_and_borderline_get_their_status_with_reasons
);

/// The app; on the memory store also the manual clock the store reads, so leases end when the test says so.
/// Redis scripts read the server's time, which tests cannot move.
async fn spawn_timed(
    backend: Backend,
    tweak: impl FnOnce(&mut moderato::config::Config),
) -> (TestApp, Option<ManualClock>) {
    if backend != Backend::Memory {
        return (spawn_app(backend, tweak).await, None);
    }
    let clock = ManualClock::at(SystemClock.now_ms());
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    tweak(&mut cfg);
    let store = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
    (spawn_with(cfg, store).await, Some(clock))
}

fn ms(t: &pbjson_types::Timestamp) -> u64 {
    t.seconds as u64 * 1000 + t.nanos as u64 / 1_000_000
}

/// Polls the wall clock (no fixed sleep) until it is past `end_ms`.
async fn wait_until_wall_clock_passes(end_ms: u64) {
    while SystemClock.now_ms() <= end_ms {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Claims (lease 30 s) the item whose lease `held` ends. On the manual clock: nothing 1 ms before the end, the item
/// at the end. On Redis: polls until the claim succeeds (deadline 30 s), and checks it did not before the end.
async fn claim_after_lease_end(
    ch: &Channel,
    clock: Option<&ManualClock>,
    held: &moderato::proto::ReviewItem,
) -> Vec<moderato::proto::ReviewItem> {
    let end = ms(held.lease_expires_at.as_ref().expect("lease end"));
    if let Some(clock) = clock {
        clock.advance_ms(end - 1 - clock.now_ms());
        assert!(
            claim(ch, 30).await.is_empty(),
            "the lease still holds 1 ms before its end"
        );
        clock.advance_ms(1);
        return claim(ch, 30).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = claim(ch, 30).await;
        if !got.is_empty() {
            assert!(
                SystemClock.now_ms() >= end,
                "claimed before the lease ended at {end}"
            );
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease did not end within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn claim(ch: &Channel, lease_seconds: u32) -> Vec<moderato::proto::ReviewItem> {
    ModerationServiceClient::new(ch.clone())
        .claim_reviews(authed(
            MODERATOR_TOKEN,
            ClaimReviewsRequest {
                site: "hcm".into(),
                max_items: 10,
                lease_seconds,
            },
        ))
        .await
        .expect("claim")
        .into_inner()
        .items
}

async fn decide(
    ch: &Channel,
    comment_id: &str,
    token: &str,
    verdict: Verdict,
) -> Result<DecisionEvent, tonic::Status> {
    ModerationServiceClient::new(ch.clone())
        .decide_review(authed(
            MODERATOR_TOKEN,
            DecideReviewRequest {
                site: "hcm".into(),
                comment_id: comment_id.into(),
                lease_token: token.into(),
                verdict: verdict as i32,
                label: if verdict == Verdict::Approve {
                    Label::Ham
                } else {
                    Label::Spam
                } as i32,
                note: "looks fine".into(),
            },
        ))
        .await
        .map(|r| r.into_inner().event.expect("event"))
}

/// Reads events from a WatchDecisions stream until `n` arrived or `wait` passed with nothing new.
async fn watch(ch: &Channel, after: &str, n: usize, wait: Duration) -> Vec<DecisionEvent> {
    let mut s = CommentServiceClient::new(ch.clone())
        .watch_decisions(authed(
            PORTAL_TOKEN,
            WatchDecisionsRequest {
                site: "hcm".into(),
                after_cursor: after.into(),
            },
        ))
        .await
        .expect("watch")
        .into_inner();
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(wait, s.message()).await {
            Ok(Ok(Some(e))) => out.push(e),
            _ => break,
        }
    }
    out
}

async fn leases_fence_decisions_and_watchers_miss_nothing(backend: Backend) {
    let (app, clock) = spawn_timed(backend, |c| {
        no_captcha(c);
        c.policy.premoderate_all = true;
    })
    .await;
    let ch = app.channel().await;
    let sub = submit(&ch, comment("hcm", "k-1", HAM))
        .await
        .expect("submitted");
    assert_eq!(status_of(&sub), CommentStatus::PendingReview);

    let a = claim(&ch, 1).await;
    assert_eq!(a.len(), 1, "moderator A claims the held comment");
    assert!(
        claim(&ch, 30).await.is_empty(),
        "B sees nothing while A's lease lives"
    );
    let b = claim_after_lease_end(&ch, clock.as_ref(), &a[0]).await;
    assert_eq!(b.len(), 1, "after A's lease expired, B claims it");
    let err = decide(&ch, &sub.comment_id, &a[0].lease_token, Verdict::Reject)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "A's late decision is fenced out");
    let approved = decide(&ch, &sub.comment_id, &b[0].lease_token, Verdict::Approve)
        .await
        .expect("B approves");
    assert_eq!(approved.status, CommentStatus::Published as i32);
    let again = decide(&ch, &sub.comment_id, &b[0].lease_token, Verdict::Approve).await;
    assert_eq!(
        again.unwrap_err().code(),
        Code::Aborted,
        "no second decision"
    );

    let events = watch(&ch, "", 3, Duration::from_millis(800)).await;
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.comment_id == sub.comment_id)
        .collect();
    assert_eq!(mine.len(), 2, "{events:?}");
    assert_eq!(mine[0].kind, DecisionKind::Automatic as i32);
    assert_eq!(mine[1].kind, DecisionKind::Review as i32);
    assert_eq!(mine[1].status, CommentStatus::Published as i32);
    assert_eq!(mine[1].actor, "moderator-test");
    // A watcher that reconnects with its last cursor gets exactly what came after.
    let resumed = watch(&ch, &mine[0].cursor, 2, Duration::from_millis(800)).await;
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert_eq!(resumed[0].cursor, mine[1].cursor);
    assert!(
        watch(&ch, &mine[1].cursor, 1, Duration::from_millis(400))
            .await
            .is_empty()
    );

    // A live watcher sees a new decision as it happens.
    let ch2 = ch.clone();
    let last = mine[1].cursor.clone();
    let live = tokio::spawn(async move { watch(&ch2, &last, 1, Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = submit(&ch, comment("hcm", "k-2", HAM))
        .await
        .expect("submitted");
    let seen = live.await.expect("join");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].comment_id, second.comment_id);

    let stats = ModerationServiceClient::new(ch.clone())
        .queue_stats(authed(
            MODERATOR_TOKEN,
            QueueStatsRequest { site: "hcm".into() },
        ))
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(
        (stats.depth, stats.claimed, stats.decisions_last_hour),
        (1, 0, 1)
    );

    // The decision is a label with the text, ready for retraining.
    let mut labels = ModerationServiceClient::new(ch.clone())
        .export_labels(authed(
            MODERATOR_TOKEN,
            ExportLabelsRequest { site: "hcm".into() },
        ))
        .await
        .expect("export")
        .into_inner();
    let first = labels.message().await.expect("stream").expect("one label");
    assert_eq!(first.comment_id, sub.comment_id);
    assert_eq!(first.label, Label::Ham as i32);
    assert!(first.text.contains("Nguyễn Hữu Thọ"));
    assert!(labels.message().await.expect("stream").is_none());
}
on_every_backend!(leases, leases_fence_decisions_and_watchers_miss_nothing);

async fn a_retry_with_the_same_key_replays_and_consumes_one_captcha(backend: Backend) {
    let app = spawn_app(backend, |c| {
        c.rate_limits = vec![LimitRule::new(Descriptor::ClientIp, 2, 3600, 2)];
    })
    .await;
    let ch = app.channel().await;
    let captchas = Captchas::new(app.store.clone(), app.ids.clone(), app.keys.clone());
    let c = &app.cfg.captcha;
    let settings = Settings {
        length: c.length,
        difficulty: c.difficulty,
        ttl_seconds: c.ttl_seconds,
        max_live_per_client: c.max_live_per_client,
        create_limit: c.create_limit,
    };
    let ch_id = captchas
        .create_with_answer("hcm", "203.0.113.20".parse().unwrap(), &settings, "m4kx9")
        .await
        .expect("challenge")
        .id;
    let mut r = comment("hcm", "same-key", HAM);
    r.captcha = Some(CaptchaAnswer {
        challenge_id: ch_id.clone(),
        answer: "M4KX9".into(),
    });
    let first = submit(&ch, r.clone()).await.expect("first");
    assert!(!first.replayed);
    let retry = submit(&ch, r.clone())
        .await
        .expect("retry is answered, not refused");
    assert!(retry.replayed);
    assert_eq!(retry.comment_id, first.comment_id);
    assert_eq!(retry.status, first.status);
    // The captcha was consumed once: a new submission with it fails.
    let mut other = r.clone();
    other.idempotency_key = "other-key".into();
    other.client.as_mut().unwrap().ip = "198.51.100.1".into();
    let err = submit(&ch, other).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // The rate-limit token was consumed once too (burst 2): one more key from the same IP passes, the next
    // is refused.
    let mut third = r.clone();
    third.idempotency_key = "third-key".into();
    third.captcha = None;
    let err = submit(&ch, third.clone()).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "captcha required: nothing charged"
    );
    let second_id = captchas
        .create_with_answer("hcm", "203.0.113.20".parse().unwrap(), &settings, "p2wz7")
        .await
        .expect("challenge")
        .id;
    third.captcha = Some(CaptchaAnswer {
        challenge_id: second_id,
        answer: "p2wz7".into(),
    });
    submit(&ch, third).await.expect("second token of the burst");
    let mut fourth = r;
    fourth.idempotency_key = "fourth-key".into();
    let err = submit(&ch, fourth).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let d = err.get_error_details();
    assert_eq!(
        d.quota_failure().expect("QuotaFailure").violations[0].subject,
        "client_ip"
    );
    assert!(d.retry_info().and_then(|r| r.retry_delay).is_some());
}
on_every_backend!(
    idempotency,
    a_retry_with_the_same_key_replays_and_consumes_one_captcha
);

async fn an_automatic_decision_can_be_overturned_once(backend: Backend) {
    let app = spawn_app(backend, |c| {
        no_captcha(c);
        c.policy.approve_below = 1.0;
        c.policy.reject_at = 1.0;
    })
    .await;
    let ch = app.channel().await;
    let sub = submit(&ch, comment("hcm", "k-o", HAM))
        .await
        .expect("submitted");
    assert_eq!(status_of(&sub), CommentStatus::Published);
    let overturn = |expected: CommentStatus| {
        let ch = ch.clone();
        let id = sub.comment_id.clone();
        async move {
            ModerationServiceClient::new(ch)
                .overturn_decision(authed(
                    MODERATOR_TOKEN,
                    OverturnDecisionRequest {
                        site: "hcm".into(),
                        comment_id: id,
                        expected_status: expected as i32,
                        label: Label::Spam as i32,
                        note: "missed spam".into(),
                    },
                ))
                .await
        }
    };
    let e = overturn(CommentStatus::Published)
        .await
        .expect("overturned")
        .into_inner()
        .event
        .expect("event");
    assert_eq!(e.status, CommentStatus::Rejected as i32);
    assert_eq!(e.kind, DecisionKind::Overturn as i32);
    let err = overturn(CommentStatus::Published).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
}
on_every_backend!(overturn, an_automatic_decision_can_be_overturned_once);

/// Redis: a server restart between submission and claim loses nothing.
async fn nothing_is_lost_across_a_restart(backend: Backend) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    no_captcha(&mut cfg);
    cfg.policy.premoderate_all = true;
    let first: TestApp = spawn_with(cfg.clone(), open_store(backend, &prefix).await).await;
    let sub = submit(&first.channel().await, comment("hcm", "k-r", HAM))
        .await
        .expect("submitted");
    first.stop().await;
    let second = spawn_with(cfg, open_store(backend, &prefix).await).await;
    let items = claim(&second.channel().await, 30).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].comment.as_ref().unwrap().comment_id,
        sub.comment_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_across_a_restart_on_redis() {
    nothing_is_lost_across_a_restart(Backend::Redis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_across_a_restart_on_redis_cluster() {
    nothing_is_lost_across_a_restart(Backend::Cluster).await
}

#[tokio::test]
async fn bad_input_of_every_kind_names_each_field() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let ch = app.channel().await;
    let r = SubmitCommentRequest {
        site: "hcm".into(),
        thread_id: String::new(),
        idempotency_key: "has space".into(),
        author: Some(Author {
            name: "\u{200B}\u{200B}".into(),
            phone: "12345".into(),
            email: "not-an-email".into(),
        }),
        title: "x".repeat(201),
        body: "   ".into(),
        client: Some(Client {
            ip: "999.1.1.1".into(),
            user_agent: String::new(),
        }),
        captcha: Some(CaptchaAnswer {
            challenge_id: "nope".into(),
            answer: String::new(),
        }),
    };
    let err = submit(&ch, r).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut got = violated_fields(&err);
    got.sort();
    let mut want = vec![
        "author.email",
        "author.name",
        "author.phone",
        "body",
        "captcha.answer",
        "captcha.challenge_id",
        "client.ip",
        "idempotency_key",
        "thread_id",
        "title",
    ];
    want.sort();
    assert_eq!(got, want);

    let mut big = comment("hcm", "k-big", "");
    big.body = "a".repeat(1024 * 1024);
    let err = submit(&ch, big).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), vec!["body", "captcha"]);

    let mut no_captcha = comment("hcm", "k-nc", HAM);
    no_captcha.captcha = None;
    let err = submit(&ch, no_captcha).await.unwrap_err();
    assert_eq!(violated_fields(&err), vec!["captcha"]);
}

#[tokio::test]
async fn phones_and_text_are_normalised_before_storing() {
    let app = spawn_app(Backend::Memory, no_captcha).await;
    let ch = app.channel().await;
    let mut r = comment(
        "hcm",
        "k-n",
        "Gia\u{0301} xa\u{0306}ng ta\u{0306}ng\u{200B} qua\u{0301}!",
    );
    r.author.as_mut().unwrap().phone = "+84 912.345.678".into();
    let sub = submit(&ch, r).await.expect("submitted");
    let got = CommentServiceClient::new(ch)
        .get_comment(authed(
            PORTAL_TOKEN,
            GetCommentRequest {
                site: "hcm".into(),
                comment_id: sub.comment_id,
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.body, "Giá xăng tăng quá!");
    assert_eq!(got.author.unwrap().phone, "0912345678");
}

async fn leases_can_be_extended_and_released(backend: Backend) {
    use moderato::proto::{ExtendLeaseRequest, ReleaseClaimRequest};
    let (app, clock) = spawn_timed(backend, |c| {
        no_captcha(c);
        c.policy.premoderate_all = true;
    })
    .await;
    let ch = app.channel().await;
    let sub = submit(&ch, comment("hcm", "k-l", HAM))
        .await
        .expect("submitted");
    let a = claim(&ch, 1).await;
    assert_eq!(a.len(), 1);
    let mut m = ModerationServiceClient::new(ch.clone());
    let extend = |token: String, secs: u32| ExtendLeaseRequest {
        site: "hcm".into(),
        comment_id: sub.comment_id.clone(),
        lease_token: token,
        lease_seconds: secs,
    };
    let until = m
        .extend_lease(authed(
            MODERATOR_TOKEN,
            extend(a[0].lease_token.clone(), 30),
        ))
        .await
        .expect("extend")
        .into_inner()
        .lease_expires_at
        .expect("expiry");
    assert!(until.seconds > a[0].lease_expires_at.as_ref().unwrap().seconds);
    // Past the end of the first lease (on the manual clock, or by the wall clock on Redis, whose scripts read the
    // same machine's time), the extended one still holds.
    let first_end = ms(a[0].lease_expires_at.as_ref().expect("lease end"));
    match &clock {
        Some(clock) => clock.advance_ms(first_end - clock.now_ms() + 1),
        None => wait_until_wall_clock_passes(first_end).await,
    }
    assert!(
        claim(&ch, 30).await.is_empty(),
        "the extended lease still holds after the first one would have ended"
    );
    let wrong = m
        .extend_lease(authed(MODERATOR_TOKEN, extend("0".repeat(32), 30)))
        .await
        .unwrap_err();
    assert_eq!(
        wrong.code(),
        Code::PermissionDenied,
        "a token never issued to this moderator is refused: {wrong:?}"
    );
    m.release_claim(authed(
        MODERATOR_TOKEN,
        ReleaseClaimRequest {
            site: "hcm".into(),
            comment_id: sub.comment_id.clone(),
            lease_token: a[0].lease_token.clone(),
        },
    ))
    .await
    .expect("release");
    let again = claim(&ch, 30).await;
    assert_eq!(
        again.len(),
        1,
        "a released comment is back in the queue at once"
    );
    let stale = decide(&ch, &sub.comment_id, &a[0].lease_token, Verdict::Approve).await;
    assert_eq!(
        stale.unwrap_err().code(),
        Code::Aborted,
        "the released token decides nothing"
    );
}
on_every_backend!(lease_extend_release, leases_can_be_extended_and_released);
