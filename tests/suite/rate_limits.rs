//! Rate limits: several replicas on one store, refusals that charge nothing, shadow limits, keyed identifiers.

use std::time::Duration;

use moderato::proto::CreateChallengeRequest;
use moderato::proto::captcha_service_client::CaptchaServiceClient;
use moderato::rate_limit::{Descriptor, LimitRule, Limiter, Subjects};
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{
    Backend, PORTAL_TOKEN, authed, open_store, redis_keys, spawn_with, test_config, unique_prefix,
};

/// Two servers on one store (one for the memory store, which cannot be shared), 200 concurrent challenge
/// requests from one client against a limit of 10: exactly 10 pass, the rest carry RetryInfo and QuotaFailure.
async fn two_replicas_allow_exactly_the_limit(backend: Backend) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    cfg.captcha.create_limit = LimitRule::new(Descriptor::CaptchaClient, 10, 3600, 10);
    cfg.captcha.max_live_per_client = 1000;
    let a = spawn_with(cfg.clone(), open_store(backend, &prefix).await).await;
    let b = if backend == Backend::Memory {
        None
    } else {
        Some(spawn_with(cfg, open_store(backend, &prefix).await).await)
    };
    let channels = [
        a.channel().await,
        match &b {
            Some(b) => b.channel().await,
            None => a.channel().await,
        },
    ];
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let mut c = CaptchaServiceClient::new(channels[i % 2].clone());
            tokio::spawn(async move {
                c.create_challenge(authed(
                    PORTAL_TOKEN,
                    CreateChallengeRequest {
                        site: "hcm".into(),
                        client_ip: "203.0.113.77".into(),
                    },
                ))
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                let d = e.get_error_details();
                let wait = d
                    .retry_info()
                    .and_then(|r| r.retry_delay)
                    .expect("RetryInfo");
                // 10 per hour: the next slot opens 360 s after the first charge.
                assert!(
                    (Duration::from_secs(355)..=Duration::from_secs(360)).contains(&wait),
                    "{wait:?}"
                );
                let q = d.quota_failure().expect("QuotaFailure");
                assert_eq!(q.violations[0].subject, "captcha_client");
            }
        }
    }
    assert_eq!(ok, 10);
}
on_every_backend!(replicas_share_limits, two_replicas_allow_exactly_the_limit);

fn subjects<'a>(phone: Option<&'a str>) -> Subjects<'a> {
    Subjects {
        site: "hcm",
        ip: "203.0.113.5".parse().unwrap(),
        phone,
        name: "Nguyễn Văn Bình",
        thread: "bai-viet-123",
    }
}

async fn limiter(backend: Backend) -> (Limiter, String) {
    let prefix = unique_prefix();
    let store = open_store(backend, &prefix).await;
    let cfg = test_config(&prefix);
    let ids = moderato::startup::identifiers(&cfg);
    (
        Limiter::new(store, ids, moderato::store::Keys::new(prefix.clone())),
        prefix,
    )
}

async fn a_refusal_names_each_violated_limit_and_charges_none(backend: Backend) {
    let (l, _) = limiter(backend).await;
    let strict_ip = LimitRule::new(Descriptor::ClientIp, 1, 600, 1);
    let thread = LimitRule::new(Descriptor::Thread, 2, 600, 2);
    let site = LimitRule::new(Descriptor::Site, 1000, 60, 1000);
    let rules = [strict_ip, thread, site];
    let s = subjects(Some("0912345678"));
    l.charge(&rules, &s)
        .await
        .expect("store")
        .expect("first passes");
    let refusal = l
        .charge(&rules, &s)
        .await
        .expect("store")
        .expect_err("ip limit refuses");
    assert_eq!(refusal.violations.len(), 1);
    assert_eq!(refusal.violations[0].0, "client_ip");
    assert!(refusal.retry_after_ms > 590_000, "{refusal:?}");
    // The thread limit was not charged by the refused request: one more request from another IP passes it.
    let mut other = subjects(None);
    other.ip = "198.51.100.9".parse().unwrap();
    l.charge(&rules[1..], &other)
        .await
        .expect("store")
        .expect("thread limit still has room");
    let r = l
        .charge(&rules[1..], &other)
        .await
        .expect("store")
        .expect_err("thread limit now full");
    assert_eq!(r.violations[0].0, "thread");
}
on_every_backend!(
    refusals,
    a_refusal_names_each_violated_limit_and_charges_none
);

async fn a_shadow_limit_never_refuses(backend: Backend) {
    let (l, _) = limiter(backend).await;
    let mut shadow = LimitRule::new(Descriptor::Author, 1, 600, 1);
    shadow.shadow = true;
    for _ in 0..5 {
        l.charge(&[shadow], &subjects(None))
            .await
            .expect("store")
            .expect("shadow limits never refuse");
    }
}
on_every_backend!(shadow, a_shadow_limit_never_refuses);

async fn no_identifier_appears_in_clear_in_redis(backend: Backend) {
    let (l, prefix) = limiter(backend).await;
    let rules = [
        LimitRule::new(Descriptor::ClientIp, 10, 60, 10),
        LimitRule::new(Descriptor::Author, 10, 60, 10),
        LimitRule::new(Descriptor::Thread, 10, 60, 10),
    ];
    l.charge(&rules, &subjects(Some("0912345678")))
        .await
        .expect("store")
        .expect("allowed");
    l.charge(&rules, &subjects(None))
        .await
        .expect("store")
        .expect("allowed");
    let keys = redis_keys(backend, &prefix);
    assert!(keys.len() >= 4, "{keys:?}");
    for k in &keys {
        for secret in [
            "0912345678",
            "203.0.113.5",
            "Nguyễn",
            "Nguyen",
            "Bình",
            "bai-viet-123",
        ] {
            assert!(!k.contains(secret), "{secret} in clear in key {k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identifier_appears_in_clear_in_redis_standalone() {
    no_identifier_appears_in_clear_in_redis(Backend::Redis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identifier_appears_in_clear_in_redis_cluster() {
    no_identifier_appears_in_clear_in_redis(Backend::Cluster).await
}
