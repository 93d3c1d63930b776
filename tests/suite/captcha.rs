//! CaptchaService over real gRPC: single use, expiry, concurrency, bad input.

use std::net::IpAddr;
use std::sync::Arc;

use moderato::captcha::{Captchas, Settings};
use moderato::clock::ManualClock;
use moderato::proto::captcha_service_client::CaptchaServiceClient;
use moderato::proto::{CheckChallengeRequest, CreateChallengeRequest};
use moderato::store::memory::MemoryStore;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{
    Backend, PORTAL_TOKEN, TestApp, authed, spawn_app, spawn_with, test_config, unique_prefix,
    violated_fields,
};

fn settings(app: &TestApp) -> Settings {
    let c = &app.cfg.captcha;
    Settings {
        length: c.length,
        difficulty: c.difficulty,
        ttl_seconds: c.ttl_seconds,
        max_live_per_client: c.max_live_per_client,
        create_limit: c.create_limit,
    }
}

/// Issues a challenge with a known answer through the same store and keys the server uses.
async fn issue(app: &TestApp, answer: &str) -> String {
    let captchas = Captchas::new(app.store.clone(), app.ids.clone(), app.keys.clone());
    let ip: IpAddr = "198.51.100.4".parse().unwrap();
    captchas
        .create_with_answer("hcm", ip, &settings(app), answer)
        .await
        .expect("issue")
        .id
}

fn check(id: &str, answer: &str) -> tonic::Request<CheckChallengeRequest> {
    authed(
        PORTAL_TOKEN,
        CheckChallengeRequest {
            site: "hcm".into(),
            challenge_id: id.into(),
            answer: answer.into(),
        },
    )
}

fn reason(s: &tonic::Status) -> String {
    s.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

async fn the_right_answer_passes_once_then_the_challenge_is_gone(backend: Backend) {
    let app = spawn_app(backend, |_| {}).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let id = issue(&app, "k7mp2").await;
    c.check_challenge(check(&id, "  K7MP2 \n"))
        .await
        .expect("right answer, any case");
    let err = c.check_challenge(check(&id, "k7mp2")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "CAPTCHA_INVALID");
}
on_every_backend!(
    right_answer_once,
    the_right_answer_passes_once_then_the_challenge_is_gone
);

async fn a_wrong_answer_consumes_the_challenge(backend: Backend) {
    let app = spawn_app(backend, |_| {}).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let id = issue(&app, "k7mp2").await;
    let err = c.check_challenge(check(&id, "k7mp3")).await.unwrap_err();
    assert_eq!(reason(&err), "CAPTCHA_INVALID");
    let err = c.check_challenge(check(&id, "k7mp2")).await.unwrap_err();
    assert_eq!(
        reason(&err),
        "CAPTCHA_INVALID",
        "no second try after a wrong answer"
    );
}
on_every_backend!(wrong_answer_consumes, a_wrong_answer_consumes_the_challenge);

async fn a_thousand_concurrent_right_answers_pass_exactly_once(backend: Backend) {
    let app = spawn_app(backend, |_| {}).await;
    let id = issue(&app, "ab3de").await;
    let ch = app.channel().await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let mut c = CaptchaServiceClient::new(ch.clone());
            let req = check(&id, "ab3de");
            tokio::spawn(async move { c.check_challenge(req).await })
        })
        .collect();
    let (mut ok, mut invalid) = (0, 0);
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(e) if reason(&e) == "CAPTCHA_INVALID" => invalid += 1,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!((ok, invalid), (1, 999));
}
on_every_backend!(
    concurrent_checks,
    a_thousand_concurrent_right_answers_pass_exactly_once
);

#[tokio::test]
async fn an_expired_challenge_says_expired_on_a_pinned_clock() {
    let clock = ManualClock::at(1_700_000_000_000);
    let store = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
    let app = spawn_with(test_config(&unique_prefix()), store).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let id = issue(&app, "xy9z2").await;
    clock.advance_ms(u64::from(app.cfg.captcha.ttl_seconds) * 1000);
    let err = c.check_challenge(check(&id, "xy9z2")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "CAPTCHA_EXPIRED");
    let err = c.check_challenge(check(&id, "xy9z2")).await.unwrap_err();
    assert_eq!(
        reason(&err),
        "CAPTCHA_INVALID",
        "an expired challenge is consumed too"
    );
}

#[tokio::test]
async fn create_challenge_returns_a_png_an_id_and_an_expiry() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let r = c
        .create_challenge(authed(
            PORTAL_TOKEN,
            CreateChallengeRequest {
                site: "hcm".into(),
                client_ip: "2001:db8::7".into(),
            },
        ))
        .await
        .expect("create")
        .into_inner();
    assert!(r.image_png.starts_with(&[0x89, b'P', b'N', b'G']));
    assert_eq!(r.challenge_id.len(), 32);
    assert_eq!(r.answer_length, app.cfg.captcha.length);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exp = r.expires_at.expect("expiry").seconds;
    assert!((now + 250..=now + 310).contains(&exp), "{exp} vs {now}");
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_every_field() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let err = c.check_challenge(check("../../etc", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), vec!["challenge_id", "answer"]);

    let id = issue(&app, "ab3de").await;
    let err = c
        .check_challenge(check(&id, &"a".repeat(10 * 1024)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), vec!["answer"]);
    c.check_challenge(check(&id, "ab3de"))
        .await
        .expect("a refused bad request did not consume the challenge");

    let err = c
        .create_challenge(authed(
            PORTAL_TOKEN,
            CreateChallengeRequest {
                site: "Bad Site!".into(),
                client_ip: "300.1.2.3".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), vec!["site", "client_ip"]);
}
