//! Process lifecycle: startup errors, generated tokens, SIGTERM with calls in flight, Redis outages.

use std::process::Stdio;
use std::time::{Duration, Instant};

use moderato::proto::CreateChallengeRequest;
use moderato::proto::captcha_service_client::CaptchaServiceClient;
use moderato::startup::Application;
use moderato::store::Keys;
use moderato::store::redis::{RedisSettings, RedisStore};
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{
    BIN, Backend, PORTAL_TOKEN, RedisProcess, authed, free_port, open_store, spawn_app, spawn_with,
    test_config, unique_prefix,
};

fn challenge(ip: &str) -> CreateChallengeRequest {
    CreateChallengeRequest {
        site: "hcm".into(),
        client_ip: ip.into(),
    }
}

async fn health_status(ch: Channel) -> Option<i32> {
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()
        .map(|r| r.into_inner().status)
}

/// Waits (at most 30 s) until a `moderato serve` child on `port` answers health with SERVING.
async fn wait_serving(port: u16) -> Channel {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moderato serve did not become healthy"
        );
        if let Ok(ch) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            && health_status(ch.clone()).await == Some(ServingStatus::Serving as i32)
        {
            return ch;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_invalid_config_is_refused_with_every_problem_named() {
    let out = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--http-listen",
            "nowhere-either",
            "--listen",
            "nowhere",
            "--metrics-listen",
            "also-nowhere",
        ])
        .env("MODERATO__CAPTCHA__LENGTH", "42")
        .output()
        .await
        .expect("run moderato");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in [
        "server.listen",
        "server.metrics_listen",
        "server.http_listen",
        "captcha.length",
    ] {
        assert!(err.contains(field), "{field} not named in: {err}");
    }
}

#[tokio::test]
async fn without_tokens_and_without_generation_the_server_refuses_to_start() {
    let out = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .env("MODERATO__AUTH__GENERATE_WHEN_EMPTY", "false")
        .output()
        .await
        .expect("run moderato");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no auth tokens configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `moderato serve` with no tokens prints generated ones; SIGTERM while 40 calls are in flight lets them all
/// complete (at least one finishes after the signal, so they were in flight), and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_calls_and_exits_zero() {
    let port = free_port(false);
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn moderato serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut portal = None;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("serve printed its tokens in time")
        .expect("read stdout")
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"portal") {
            portal = words.last().map(|s| s.to_string());
        }
        if words.first() == Some(&"ops") {
            break;
        }
    }
    let portal = portal.expect("a generated portal token was printed");
    let mut http_url = None;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("serve printed its HTTP URL in time")
        .expect("read stdout")
    {
        if let Some(rest) = line.strip_prefix("HTTP JSON API: ") {
            http_url = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let http_url = http_url.expect("serve printed its HTTP URL");
    let ch = wait_serving(port).await;
    let doc =
        crate::harness::http_call("GET", &format!("{http_url}openapi.json"), None, None, &[]).await;
    assert_eq!(doc.status, 200, "{}", doc.text());
    assert_eq!(doc.json()["openapi"], "3.1.0");
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let mut c = CaptchaServiceClient::new(ch.clone());
            let req = authed(&portal, challenge(&format!("198.51.100.{i}")));
            tokio::spawn(async move {
                let r = c.create_challenge(req).await;
                (r, Instant::now())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let pid = child.id().expect("pid").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let signalled = Instant::now();
    let mut after_signal = 0;
    for c in calls {
        let (r, done) = c.await.expect("join");
        assert!(r.is_ok(), "an in-flight call failed during shutdown: {r:?}");
        if done > signalled {
            after_signal += 1;
        }
    }
    assert!(
        after_signal > 0,
        "no call was still in flight when SIGTERM arrived"
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exited after SIGTERM")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

/// Redis killed under a running server: health turns NOT_SERVING, calls fail UNAVAILABLE quickly; Redis back:
/// the server recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_reported_and_recovered_from() {
    let mut redis = RedisProcess::start(free_port(false), &[]);
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    cfg.store.timeout_ms = 300;
    let settings = RedisSettings {
        urls: vec![format!("redis://127.0.0.1:{}", redis.port)],
        timeout: Duration::from_millis(300),
    };
    let store = RedisStore::connect(&settings, Keys::new(prefix.clone()))
        .await
        .expect("connect");
    let app = spawn_with(cfg, std::sync::Arc::new(store)).await;
    let ch = app.channel().await;
    let mut c = CaptchaServiceClient::new(ch.clone());
    c.create_challenge(authed(PORTAL_TOKEN, challenge("192.0.2.1")))
        .await
        .expect("works while redis is up");

    redis.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    while health_status(ch.clone()).await != Some(ServingStatus::NotServing as i32) {
        assert!(Instant::now() < deadline, "health did not turn NOT_SERVING");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The call fails (the store timeout is 300 ms) rather than hanging; the deadline only catches a hang, how
    // fast the failure comes is a figure for the benchmarks.
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        c.create_challenge(authed(PORTAL_TOKEN, challenge("192.0.2.2"))),
    )
    .await
    .expect("a call during the outage is answered, not left hanging")
    .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let healthy = health_status(ch.clone()).await == Some(ServingStatus::Serving as i32);
        let works = c
            .create_challenge(authed(PORTAL_TOKEN, challenge("192.0.2.3")))
            .await
            .is_ok();
        if healthy && works {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "did not recover after redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_port_already_in_use_is_a_startup_error() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut cfg = test_config(&unique_prefix());
    cfg.server.listen = app.addr.to_string();
    let store = open_store(Backend::Memory, "x:").await;
    let tokens = moderato::auth::Tokens::from_config(&cfg.auth.tokens);
    let ids = moderato::startup::identifiers(&cfg);
    let err = Application::build(cfg, store, tokens, ids)
        .await
        .err()
        .expect("bind fails");
    assert!(err.to_string().contains("cannot listen on"), "{err}");
}

/// `kill -9` of moderato under load: every submission answered OK is in Redis afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_submission_survives_kill_9() {
    use moderato::proto::SubmitCommentRequest;
    use moderato::proto::comment_service_client::CommentServiceClient;
    use std::sync::{Arc, Mutex};

    let redis = RedisProcess::start(free_port(false), &[]);
    let prefix = unique_prefix();
    let port = free_port(false);
    let token_hash = moderato::auth::hash_token(PORTAL_TOKEN);
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "",
            "--redis-url",
            &format!("redis://127.0.0.1:{}", redis.port),
            "--key-prefix",
            &prefix,
        ])
        .env(
            "MODERATO__AUTH__TOKENS",
            format!("[{{name=\"portal\", role=\"portal\", sha256=\"{token_hash}\"}}]"),
        )
        .env("MODERATO__CAPTCHA__REQUIRED", "false")
        .env("MODERATO__IDENTIFIER_HMAC_KEY", crate::harness::HMAC_KEY)
        // Durability, not latency, is under test: on a loaded 2-core machine a store call may take longer than
        // the default 500 ms, which would end the load before the kill.
        .env("MODERATO__STORE__TIMEOUT_MS", "5000")
        .env(
            "MODERATO__RATE_LIMITS",
            // Every descriptor is listed: one not listed keeps its default limit.
            "[{descriptor=\"site\", requests=100000, period_seconds=1, burst=100000}, \
              {descriptor=\"client_ip\", requests=100000, period_seconds=1, burst=100000}, \
              {descriptor=\"author\", requests=100000, period_seconds=1, burst=100000}, \
              {descriptor=\"thread\", requests=100000, period_seconds=1, burst=100000}]",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn moderato serve");
    let started = Instant::now();
    let ch = wait_serving(port).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let first_error = Arc::new(Mutex::new(None::<tonic::Status>));
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let ch = ch.clone();
            let acked = acked.clone();
            let first_error = first_error.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let req = SubmitCommentRequest {
                        idempotency_key: format!("w{w}-{n}"),
                        ..crate::load::submission("hcm", "", w, n)
                    };
                    match CommentServiceClient::new(ch.clone())
                        .submit_comment(authed(PORTAL_TOKEN, req))
                        .await
                    {
                        Ok(r) => acked.lock().unwrap().push(r.into_inner().comment_id),
                        Err(e) => {
                            first_error.lock().unwrap().get_or_insert(e);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 200 {
        if let Some(e) = first_error.lock().unwrap().as_ref() {
            panic!("a submission failed before the kill: {e:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "load did not get going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    for w in workers {
        tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("a load worker did not stop within 10 s")
            .expect("a load worker panicked");
    }
    let ids = acked.lock().unwrap().clone();
    assert!(ids.len() >= 200);
    let settings = RedisSettings {
        urls: vec![format!("redis://127.0.0.1:{}", redis.port)],
        timeout: Duration::from_millis(500),
    };
    let store = RedisStore::connect(&settings, Keys::new(prefix.clone()))
        .await
        .expect("connect");
    use moderato::store::Store;
    for id in &ids {
        assert!(
            store.get_comment("hcm", id).await.expect("read").is_some(),
            "acknowledged comment {id} is missing after kill -9"
        );
    }
}
