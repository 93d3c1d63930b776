//! Concurrency on every backend, with two replicas on one store (for the memory store, two servers in this
//! process sharing the one store): the one-step admission of SubmitComment under retries and load against each
//! limit, concurrent claims, and racing decisions on one lease.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use moderato::captcha::{Captchas, Settings};
use moderato::config::Config;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    Author, CaptchaAnswer, ClaimReviewsRequest, Client, CommentStatus, DecideReviewRequest,
    GetCommentRequest, Label, SubmitCommentRequest, Verdict,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use moderato::store::{Store, TakenChallenge};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::harness::{
    Backend, HAM, MODERATOR_TOKEN, PORTAL_TOKEN, TestApp, authed, comment, open_store, spawn_with,
    submit, test_config, unique_prefix,
};

/// Two servers on one store under one key prefix.
async fn two_replicas(backend: Backend, tweak: impl FnOnce(&mut Config)) -> (TestApp, TestApp) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    tweak(&mut cfg);
    let store_a = open_store(backend, &prefix).await;
    // The memory store lives in this process: both servers share it. Redis replicas each connect on their own.
    let store_b = if backend == Backend::Memory {
        store_a.clone()
    } else {
        open_store(backend, &prefix).await
    };
    let a = spawn_with(cfg.clone(), store_a).await;
    let b = spawn_with(cfg, store_b).await;
    (a, b)
}

async fn channels(a: &TestApp, b: &TestApp) -> [Channel; 2] {
    [a.channel().await, b.channel().await]
}

fn submission(key: &str, ip: &str, thread: &str, name: &str, phone: &str) -> SubmitCommentRequest {
    SubmitCommentRequest {
        thread_id: thread.into(),
        author: Some(Author {
            name: name.into(),
            phone: phone.into(),
            email: String::new(),
        }),
        client: Some(Client {
            ip: ip.into(),
            user_agent: "test".into(),
        }),
        ..comment("hcm", key, HAM)
    }
}

/// Every comment the store holds for site `hcm`.
async fn stored_ids(store: &dyn Store) -> Vec<String> {
    store
        .recent("hcm", 0, 100_000)
        .await
        .expect("read recent submissions")
        .into_iter()
        .map(|(r, _)| r.comment_id)
        .collect()
}

fn captcha_settings(app: &TestApp) -> Settings {
    let c = &app.cfg.captcha;
    Settings {
        length: c.length,
        difficulty: c.difficulty,
        ttl_seconds: c.ttl_seconds,
        max_live_per_client: c.max_live_per_client,
        create_limit: c.create_limit,
    }
}

/// 200 concurrent copies of one submission (same idempotency key, same captcha answer) spread over two
/// replicas: one comment is stored, the captcha is consumed once, the rate limit charged once, and 199
/// answers are replays of the one decision.
async fn two_hundred_copies_of_one_submission_admit_it_once(backend: Backend) {
    let (a, b) = two_replicas(backend, |c| {
        c.rate_limits = vec![LimitRule::new(Descriptor::ClientIp, 2, 3600, 2)];
    })
    .await;
    let chs = channels(&a, &b).await;
    let captchas = Captchas::new(a.store.clone(), a.ids.clone(), a.keys.clone());
    let settings = captcha_settings(&a);
    let ip = "203.0.113.20";
    let challenge = captchas
        .create_with_answer("hcm", ip.parse().unwrap(), &settings, "m4kx9")
        .await
        .expect("challenge")
        .id;
    let mut r = submission("one-key", ip, "bai-viet-42", "Trần Thị Mai", "");
    r.captcha = Some(CaptchaAnswer {
        challenge_id: challenge.clone(),
        answer: "m4kx9".into(),
    });
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let ch = chs[i % 2].clone();
            let r = r.clone();
            tokio::spawn(async move { submit(&ch, r).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(
            t.await
                .expect("join")
                .expect("every copy is answered, none refused"),
        );
    }
    let fresh: Vec<_> = answers.iter().filter(|r| !r.replayed).collect();
    assert_eq!(fresh.len(), 1, "exactly one copy is admitted");
    let first = fresh[0];
    assert_eq!(answers.iter().filter(|r| r.replayed).count(), 199);
    for r in &answers {
        assert_eq!(r.comment_id, first.comment_id);
        assert_eq!(r.status, first.status);
        assert_eq!(r.score, first.score);
    }
    assert_eq!(stored_ids(&*a.store).await, vec![first.comment_id.clone()]);
    // The captcha is gone: it was consumed (by the one admission; the replays did not need it).
    assert_eq!(
        a.store
            .take_challenge("hcm", &challenge)
            .await
            .expect("take"),
        TakenChallenge::Unknown
    );
    // The limit (burst 2) was charged once: one more submission from the IP passes, the next is refused.
    for (key, answer, expect_ok) in [("second", "p2wz7", true), ("third", "q8rt3", false)] {
        let id = captchas
            .create_with_answer("hcm", ip.parse().unwrap(), &settings, answer)
            .await
            .expect("challenge")
            .id;
        let mut next = submission(key, ip, "bai-viet-42", "Trần Thị Mai", "");
        next.captcha = Some(CaptchaAnswer {
            challenge_id: id,
            answer: answer.into(),
        });
        let out = submit(&chs[1], next).await;
        if expect_ok {
            out.expect("the second token of the burst");
        } else {
            assert_eq!(out.unwrap_err().code(), Code::ResourceExhausted);
        }
    }
}
on_every_backend!(
    idempotent_retries,
    two_hundred_copies_of_one_submission_admit_it_once
);

/// 200 concurrent submissions over two replicas that share only `descriptor`'s subject (distinct keys, and
/// every other identifier distinct), against a limit of 10 per hour with a burst of 10: exactly 10 are
/// admitted and stored, the other 190 are RESOURCE_EXHAUSTED with RetryInfo and the limit named.
async fn exactly_the_limit_passes(backend: Backend, descriptor: Descriptor) {
    let (a, b) = two_replicas(backend, |c| {
        c.captcha.required = false;
        c.rate_limits = vec![LimitRule::new(descriptor, 10, 3600, 10)];
    })
    .await;
    let chs = channels(&a, &b).await;
    let tasks: Vec<_> = (0..200usize)
        .map(|i| {
            let ip = if descriptor == Descriptor::ClientIp {
                "203.0.113.77".to_string()
            } else {
                format!("10.1.{}.{}", i / 200, i % 200 + 1)
            };
            let thread = if descriptor == Descriptor::Thread {
                "bai-chung".to_string()
            } else {
                format!("bai-{i}")
            };
            let (name, phone) = if descriptor == Descriptor::Author {
                (format!("Người đọc {i}"), "0912345678".to_string())
            } else {
                (format!("Người đọc {i}"), String::new())
            };
            let r = submission(&format!("k{i}"), &ip, &thread, &name, &phone);
            let ch = chs[i % 2].clone();
            tokio::spawn(async move { submit(&ch, r).await })
        })
        .collect();
    let mut admitted = BTreeSet::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(r) => {
                assert!(!r.replayed);
                admitted.insert(r.comment_id);
            }
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                let d = e.get_error_details();
                let wait = d
                    .retry_info()
                    .and_then(|r| r.retry_delay)
                    .expect("RetryInfo");
                // 10 per hour: the next request is allowed 360 s after the first charge.
                assert!(
                    (Duration::from_secs(355)..=Duration::from_secs(360)).contains(&wait),
                    "{wait:?}"
                );
                let q = d.quota_failure().expect("QuotaFailure");
                assert_eq!(q.violations.len(), 1, "{q:?}");
                assert_eq!(q.violations[0].subject, descriptor.name());
                refused += 1;
            }
        }
    }
    assert_eq!(
        (admitted.len(), refused),
        (10, 190),
        "{}",
        descriptor.name()
    );
    let stored: BTreeSet<String> = stored_ids(&*a.store).await.into_iter().collect();
    assert_eq!(
        stored,
        admitted,
        "{}: refused submissions store nothing",
        descriptor.name()
    );
}

async fn each_limit_descriptor_holds_under_concurrency(backend: Backend) {
    for d in [
        Descriptor::ClientIp,
        Descriptor::Author,
        Descriptor::Thread,
        Descriptor::Site,
    ] {
        exactly_the_limit_passes(backend, d).await;
    }
}
on_every_backend!(
    concurrent_limits,
    each_limit_descriptor_holds_under_concurrency
);

fn premoderated(c: &mut Config) {
    c.captcha.required = false;
    c.policy.premoderate_all = true;
    c.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
}

async fn claim(ch: &Channel, max_items: u32) -> Vec<(String, String)> {
    ModerationServiceClient::new(ch.clone())
        .claim_reviews(authed(
            MODERATOR_TOKEN,
            ClaimReviewsRequest {
                site: "hcm".into(),
                max_items,
                lease_seconds: 600,
            },
        ))
        .await
        .expect("claim")
        .into_inner()
        .items
        .into_iter()
        .map(|i| (i.comment.expect("comment").comment_id, i.lease_token))
        .collect()
}

/// 60 held comments, 20 moderators on two replicas claiming three at a time until the queue is empty: every
/// comment is claimed by exactly one of them.
async fn concurrent_moderators_claim_disjoint_items_and_lose_none(backend: Backend) {
    let (a, b) = two_replicas(backend, premoderated).await;
    let chs = channels(&a, &b).await;
    let mut held = BTreeSet::new();
    for i in 0..60 {
        let r = submit(
            &chs[i % 2],
            submission(&format!("h{i}"), "203.0.113.9", "t", "Lê Văn Tám", ""),
        )
        .await
        .expect("submitted");
        assert_eq!(r.status, CommentStatus::PendingReview as i32);
        held.insert(r.comment_id);
    }
    let moderators: Vec<_> = (0..20)
        .map(|m| {
            let ch = chs[m % 2].clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim(&ch, 3).await;
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got);
                }
            })
        })
        .collect();
    let mut claimed: BTreeMap<String, usize> = BTreeMap::new();
    let mut tokens = BTreeSet::new();
    for m in moderators {
        for (id, token) in m.await.expect("join") {
            *claimed.entry(id).or_default() += 1;
            assert!(tokens.insert(token), "a lease token was handed out twice");
        }
    }
    let twice: Vec<_> = claimed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    let ids: BTreeSet<String> = claimed.into_keys().collect();
    assert_eq!(ids, held, "every held comment is claimed, and nothing else");
    assert!(claim(&chs[0], 10).await.is_empty());
}
on_every_backend!(
    concurrent_claims,
    concurrent_moderators_claim_disjoint_items_and_lose_none
);

/// 50 DecideReview calls racing on one lease over two replicas (half approve, half reject): one wins, the other
/// 49 are ABORTED, and the comment has one review decision, the winner's.
async fn racing_decisions_on_one_lease_have_one_winner(backend: Backend) {
    let (a, b) = two_replicas(backend, premoderated).await;
    let chs = channels(&a, &b).await;
    let sub = submit(
        &chs[0],
        submission("race", "203.0.113.9", "t", "Lê Văn Tám", ""),
    )
    .await
    .expect("submitted");
    let items = claim(&chs[1], 1).await;
    assert_eq!(items.len(), 1);
    let (id, token) = items[0].clone();
    assert_eq!(id, sub.comment_id);
    let racers: Vec<_> = (0..50)
        .map(|i| {
            let ch = chs[i % 2].clone();
            let req = DecideReviewRequest {
                site: "hcm".into(),
                comment_id: id.clone(),
                lease_token: token.clone(),
                verdict: if i % 4 < 2 {
                    Verdict::Approve
                } else {
                    Verdict::Reject
                } as i32,
                label: if i % 4 < 2 { Label::Ham } else { Label::Spam } as i32,
                note: format!("racer {i}"),
            };
            tokio::spawn(async move {
                ModerationServiceClient::new(ch)
                    .decide_review(authed(MODERATOR_TOKEN, req))
                    .await
                    .map(|r| r.into_inner().event.expect("event"))
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut aborted = 0;
    for r in racers {
        match r.await.expect("join") {
            Ok(e) => winners.push(e),
            Err(e) => {
                assert_eq!(e.code(), Code::Aborted, "{e:?}");
                aborted += 1;
            }
        }
    }
    assert_eq!((winners.len(), aborted), (1, 49));
    let got = CommentServiceClient::new(chs[0].clone())
        .get_comment(authed(
            PORTAL_TOKEN,
            GetCommentRequest {
                site: "hcm".into(),
                comment_id: id,
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.status, winners[0].status);
    assert_eq!(
        got.history.len(),
        2,
        "the automatic decision and one review: {:?}",
        got.history
    );
    assert_eq!(got.history[1].cursor, winners[0].cursor);
}
on_every_backend!(
    racing_decisions,
    racing_decisions_on_one_lease_have_one_winner
);
