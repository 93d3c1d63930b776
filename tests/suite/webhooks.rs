//! Webhooks end to end: a local receiver that fails its first calls, signatures checked with HMAC-SHA256,
//! every event in order and exactly once after de-duplication by event id, across a restart on the same Redis;
//! dead letters; secret rotation; refused URLs.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::{
    GetWebhookRequest, Label, ListWebhookDeadLettersRequest, RotateWebhookSecretRequest,
    SetWebhookRequest, Verdict, Webhook,
};
use moderato::store::Store;
use sha2::Sha256;
use tonic::Code;
use tonic::transport::Channel;

use crate::harness::{
    Backend, MODERATOR_TOKEN, OPS_TOKEN, PORTAL_TOKEN, authed, claim, comment, decide, open_store,
    spawn_with, test_config, unique_prefix,
};

/// One call the receiver got.
#[derive(Debug, Clone)]
struct Call {
    event_id: String,
    timestamp: String,
    signatures: Vec<String>,
    body: String,
    answered: u16,
}

/// A local HTTP receiver: answers 500 to its first `fail_first` calls (and to every call while `failing`), 200
/// after; records every call.
#[derive(Clone)]
struct Receiver {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    failing: Arc<Mutex<bool>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let failing: Arc<Mutex<bool>> = Arc::default();
        let (c, f) = (calls.clone(), failing.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (c, f) = (c.clone(), f.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        let (c, f) = (c.clone(), f.clone());
                        async move {
                            let h = |n: &str| {
                                req.headers()
                                    .get(n)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string()
                            };
                            let (event_id, timestamp, sig) = (
                                h("moderato-event-id"),
                                h("moderato-timestamp"),
                                h("moderato-signature"),
                            );
                            let body = req.into_body().collect().await.expect("body").to_bytes();
                            let mut calls = c.lock().unwrap();
                            let fail = calls.len() < fail_first || *f.lock().unwrap();
                            let answered = if fail { 500 } else { 200 };
                            calls.push(Call {
                                event_id,
                                timestamp,
                                signatures: sig
                                    .split(',')
                                    .filter_map(|s| s.trim().strip_prefix("v1="))
                                    .map(str::to_string)
                                    .collect(),
                                body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
                                answered,
                            });
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .status(answered)
                                    .body(Full::new(Bytes::new()))
                                    .expect("response"),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}/hooks/moderato"),
            calls,
            failing,
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Event ids answered 200, first arrival order, without duplicates.
    fn delivered(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.calls()
            .into_iter()
            .filter(|c| c.answered == 200 && seen.insert(c.event_id.clone()))
            .map(|c| c.event_id)
            .collect()
    }

    async fn wait_delivered(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let d = self.delivered();
            if d.len() >= n {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} events delivered: {:?}",
                d.len(),
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// True when `sig` is hex HMAC-SHA256(secret, timestamp + "." + body), computed here independently.
fn verifies(secret: &str, timestamp: &str, body: &str, sig: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::decode(sig).is_ok_and(|s| mac.verify_slice(&s).is_ok())
}

fn fast_delivery(cfg: &mut moderato::config::Config) {
    cfg.captcha.required = false;
    cfg.rate_limits.clear();
    cfg.policy.premoderate_all = true;
    cfg.webhooks.initial_backoff_ms = 20;
    cfg.webhooks.max_backoff_ms = 200;
    cfg.webhooks.timeout_ms = 2_000;
    cfg.webhooks.lease_ms = 5_000;
}

async fn set_webhook(
    ch: &Channel,
    site: &str,
    url: &str,
) -> Result<(Webhook, String), tonic::Status> {
    AdminServiceClient::new(ch.clone())
        .set_webhook(authed(
            OPS_TOKEN,
            SetWebhookRequest {
                site: site.into(),
                url: url.into(),
                secret: String::new(),
            },
        ))
        .await
        .map(|r| {
            let r = r.into_inner();
            (r.webhook.expect("webhook"), r.secret)
        })
}

async fn get_webhook(ch: &Channel, site: &str) -> Result<Webhook, tonic::Status> {
    AdminServiceClient::new(ch.clone())
        .get_webhook(authed(OPS_TOKEN, GetWebhookRequest { site: site.into() }))
        .await
        .map(|r| r.into_inner().webhook.expect("webhook"))
}

async fn submit(ch: &Channel, site: &str, key: &str) {
    CommentServiceClient::new(ch.clone())
        .submit_comment(authed(
            PORTAL_TOKEN,
            comment(site, key, &format!("Bài viết hay, cảm ơn tác giả ({key}).")),
        ))
        .await
        .expect("submitted");
}

/// Claims every held comment of `site` and approves each: one human decision event per comment.
async fn approve_all(ch: &Channel, site: &str) -> usize {
    let items = claim(ch, MODERATOR_TOKEN, site, 50).await;
    for it in &items {
        decide(ch, MODERATOR_TOKEN, site, it, Verdict::Approve, Label::Ham)
            .await
            .expect("decide");
    }
    items.len()
}

/// The event ids every delivery must carry, in stream order.
async fn expected_ids(store: &dyn Store, site: &str) -> Vec<String> {
    store
        .read_decisions(site, "", 1000)
        .await
        .expect("read decisions")
        .into_iter()
        .map(|e| format!("{site}/{}", e.cursor))
        .collect()
}

/// Every call is signed with `secret` over its timestamp and body, within a 5-minute replay window, names the
/// same event in its header and body, and carries that event.
fn check_signed(calls: &[Call], secret: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    for c in calls {
        assert!(
            c.signatures
                .iter()
                .any(|s| verifies(secret, &c.timestamp, &c.body, s)),
            "bad signature on {c:?}"
        );
        assert!(
            !verifies(
                "some-other-secret-value",
                &c.timestamp,
                &c.body,
                &c.signatures[0]
            ),
            "a wrong secret never verifies"
        );
        let ts: u64 = c.timestamp.parse().expect("timestamp");
        assert!(
            now.abs_diff(ts) <= 300,
            "timestamp {ts} outside the replay window"
        );
        let body: serde_json::Value = serde_json::from_str(&c.body).expect("JSON body");
        assert_eq!(body["id"], c.event_id.as_str());
        assert_eq!(body["type"], "comment.decision");
        let cursor = c.event_id.split_once('/').expect("site/cursor").1;
        assert_eq!(body["event"]["cursor"], cursor, "{body}");
        assert!(
            body["event"]["commentId"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
    }
}

/// Stream position of an event id, for ordering.
fn position(id: &str) -> (u64, u64) {
    let (a, b) = id
        .split_once('/')
        .expect("id")
        .1
        .split_once('-')
        .expect("cursor");
    (a.parse().expect("ms"), b.parse().expect("seq"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_signed_and_once_across_a_restart_on_redis() {
    const SITE: &str = "hook-restart";
    let receiver = Receiver::start(3).await;
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    fast_delivery(&mut cfg);

    let app = spawn_with(cfg.clone(), open_store(Backend::Redis, &prefix).await).await;
    let ch = app.channel().await;
    let (hook, secret) = set_webhook(&ch, SITE, &receiver.url)
        .await
        .expect("set webhook");
    assert_eq!(
        (hook.url.as_str(), hook.version),
        (receiver.url.as_str(), 1)
    );
    assert!(secret.len() >= 32, "a generated secret: {secret}");
    for i in 0..4 {
        submit(&ch, SITE, &format!("a-{i}")).await;
    }
    assert_eq!(approve_all(&ch, SITE).await, 4);
    // Stop while delivery is under way (the first calls fail and back off), then start anew on the same Redis.
    receiver.wait_delivered(1, Duration::from_secs(20)).await;
    assert!(app.stop().await.expect("stopped").drained);
    let before = receiver.calls().len();

    let app = spawn_with(cfg, open_store(Backend::Redis, &prefix).await).await;
    let ch = app.channel().await;
    for i in 0..3 {
        submit(&ch, SITE, &format!("b-{i}")).await;
    }
    assert_eq!(approve_all(&ch, SITE).await, 3);
    let expected = expected_ids(app.store.as_ref(), SITE).await;
    assert_eq!(expected.len(), 14, "7 automatic and 7 human decisions");
    let delivered = receiver
        .wait_delivered(expected.len(), Duration::from_secs(30))
        .await;
    assert_eq!(
        delivered, expected,
        "every event, in stream order, once each"
    );

    let calls = receiver.calls();
    assert!(calls.len() > before, "the second app delivered the rest");
    assert!(
        calls[..3].iter().all(|c| c.answered == 500) && calls.len() >= expected.len() + 3,
        "the first three calls failed and were retried"
    );
    check_signed(&calls, &secret);
    for w in calls.windows(2) {
        assert!(
            position(&w[0].event_id) <= position(&w[1].event_id),
            "per-site order: {} then {}",
            w[0].event_id,
            w[1].event_id
        );
    }
    let state = get_webhook(&ch, SITE).await.expect("get webhook");
    assert_eq!(
        format!("{SITE}/{}", state.delivered_cursor),
        *expected.last().expect("events")
    );
    assert_eq!((state.attempts, state.dead_letters), (0, 0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_memory_store_too_every_event_arrives_once_in_order() {
    const SITE: &str = "hook-memory";
    let receiver = Receiver::start(2).await;
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    fast_delivery(&mut cfg);
    let app = spawn_with(cfg, open_store(Backend::Memory, &prefix).await).await;
    let ch = app.channel().await;
    let (_, secret) = set_webhook(&ch, SITE, &receiver.url)
        .await
        .expect("set webhook");
    for i in 0..3 {
        submit(&ch, SITE, &format!("m-{i}")).await;
    }
    approve_all(&ch, SITE).await;
    let expected = expected_ids(app.store.as_ref(), SITE).await;
    assert_eq!(expected.len(), 6);
    assert_eq!(
        receiver.wait_delivered(6, Duration::from_secs(20)).await,
        expected
    );
    check_signed(&receiver.calls(), &secret);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_failing_past_the_retry_time_is_dead_lettered_and_delivery_goes_on() {
    const SITE: &str = "hook-dead";
    let receiver = Receiver::start(0).await;
    *receiver.failing.lock().unwrap() = true;
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    fast_delivery(&mut cfg);
    cfg.webhooks.retry_for_ms = 300;
    let app = spawn_with(cfg, open_store(Backend::Redis, &prefix).await).await;
    let ch = app.channel().await;
    set_webhook(&ch, SITE, &receiver.url)
        .await
        .expect("set webhook");
    submit(&ch, SITE, "d-1").await;
    let expected = expected_ids(app.store.as_ref(), SITE).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let hook = loop {
        let h = get_webhook(&ch, SITE).await.expect("get");
        if h.dead_letters == 1 {
            break h;
        }
        assert!(Instant::now() < deadline, "no dead letter: {h:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(format!("{SITE}/{}", hook.delivered_cursor), expected[0]);
    let letters = AdminServiceClient::new(ch.clone())
        .list_webhook_dead_letters(authed(
            OPS_TOKEN,
            ListWebhookDeadLettersRequest {
                site: SITE.into(),
                page_size: 0,
                page_token: String::new(),
            },
        ))
        .await
        .expect("dead letters")
        .into_inner();
    assert_eq!(letters.dead_letters.len(), 1);
    let d = &letters.dead_letters[0];
    assert_eq!(d.event_id, expected[0]);
    assert!(d.attempts >= 2, "retried before giving up: {d:?}");
    assert!(d.last_error.contains("500"), "{d:?}");
    assert!(d.body.contains(&expected[0]));
    // The site's own label, or `_other` once other tests in this process used up the per-site label cap.
    let metrics = app.metrics_text().await;
    assert!(
        metrics.lines().any(|l| {
            l.starts_with("moderato_webhook_dead_letters_total")
                && (l.contains("site=\"hook-dead\"") || l.contains("site=\"_other\""))
                && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(1.0)
        }),
        "dead-letter metric missing"
    );

    // The CLI shows the same.
    let out = cli(&app, &["webhook", "show", "--site", SITE]).await;
    assert!(out.contains("dead letters          1"), "{out}");
    assert!(
        out.contains(&receiver.url) && !out.contains("whsec_"),
        "{out}"
    );
    let out = cli(&app, &["webhook", "dead-letters", "--site", SITE]).await;
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains(&expected[0]) && out.contains("HTTP 500"),
        "{out}"
    );

    *receiver.failing.lock().unwrap() = false;
    submit(&ch, SITE, "d-2").await;
    let expected = expected_ids(app.store.as_ref(), SITE).await;
    let delivered = receiver.wait_delivered(1, Duration::from_secs(20)).await;
    assert_eq!(delivered, vec![expected[1].clone()], "the next event goes");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_next_to_the_old_one_during_the_overlap_only() {
    const SITE: &str = "hook-rotate";
    let receiver = Receiver::start(0).await;
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    fast_delivery(&mut cfg);
    let app = spawn_with(cfg, open_store(Backend::Memory, &prefix).await).await;
    let ch = app.channel().await;
    let (_, old) = set_webhook(&ch, SITE, &receiver.url).await.expect("set");
    let rotate = |overlap_seconds| {
        let ch = ch.clone();
        async move {
            AdminServiceClient::new(ch)
                .rotate_webhook_secret(authed(
                    OPS_TOKEN,
                    RotateWebhookSecretRequest {
                        site: SITE.into(),
                        secret: String::new(),
                        overlap_seconds,
                    },
                ))
                .await
                .expect("rotate")
                .into_inner()
        }
    };
    let r = rotate(3600).await;
    let new = r.secret;
    assert_ne!(new, old);
    assert!(r.webhook.expect("webhook").previous_secret_until.is_some());
    submit(&ch, SITE, "r-1").await;
    receiver.wait_delivered(1, Duration::from_secs(20)).await;
    let c = receiver.calls().pop().expect("a call");
    assert_eq!(
        c.signatures.len(),
        2,
        "both secrets sign during the overlap"
    );
    assert!(verifies(&new, &c.timestamp, &c.body, &c.signatures[0]));
    assert!(verifies(&old, &c.timestamp, &c.body, &c.signatures[1]));

    let r = rotate(0).await;
    assert!(r.webhook.expect("webhook").previous_secret_until.is_none());
    submit(&ch, SITE, "r-2").await;
    receiver.wait_delivered(2, Duration::from_secs(20)).await;
    let c = receiver.calls().pop().expect("a call");
    assert_eq!(c.signatures.len(), 1, "no overlap: one signature");
    assert!(verifies(&r.secret, &c.timestamp, &c.body, &c.signatures[0]));
    assert!(!verifies(&new, &c.timestamp, &c.body, &c.signatures[0]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_http_and_https_urls_are_accepted_and_only_ops_may_set_them() {
    let prefix = unique_prefix();
    let app = spawn_with(
        test_config(&prefix),
        open_store(Backend::Memory, &prefix).await,
    )
    .await;
    let ch = app.channel().await;
    for url in [
        "ftp://portal.example/h",
        "file:///etc/passwd",
        "portal.example/h",
        "",
    ] {
        let err = set_webhook(&ch, "hcm", url).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{url:?}");
        assert_eq!(
            crate::harness::violated_fields(&err),
            vec!["url"],
            "{url:?}"
        );
    }
    let err = get_webhook(&ch, "hcm").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let out = cli(
        &app,
        &[
            "webhook",
            "set",
            "--site",
            "hcm",
            "--url",
            "https://portal.example/h",
        ],
    )
    .await;
    assert!(
        out.contains("version               1") && out.contains("secret                whsec_"),
        "{out}"
    );
    let out = cli(
        &app,
        &[
            "webhook",
            "rotate",
            "--site",
            "hcm",
            "--overlap-seconds",
            "60",
        ],
    )
    .await;
    assert!(out.contains("version               2"), "{out}");
    let until = out
        .lines()
        .find_map(|l| l.strip_prefix("previous secret until "))
        .unwrap_or_else(|| panic!("no previous-secret line: {out}"));
    assert!(
        until.starts_with("20"),
        "the old secret signs for a minute, until a time: {out}"
    );
    let err = AdminServiceClient::new(ch.clone())
        .set_webhook(authed(
            PORTAL_TOKEN,
            SetWebhookRequest {
                site: "hcm".into(),
                url: "https://portal.example/h".into(),
                secret: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    app.stop().await;
}

/// Runs the `moderato` client against `app` with the ops token; its stdout (it must succeed).
async fn cli(app: &crate::harness::TestApp, args: &[&str]) -> String {
    let out = crate::harness::cli(app, OPS_TOKEN, args).await;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
