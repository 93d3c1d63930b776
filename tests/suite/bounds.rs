//! What callers cannot grow, and how a server ends: per-site state under a flood of site ids, and shutdown with
//! a portal's decision stream open.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::{
    GetPolicyRequest, SubmitCommentRequest, UpdatePolicyRequest, WatchDecisionsRequest,
};
use tonic::Code;

use crate::harness::{
    Backend, OPS_TOKEN, PORTAL_TOKEN, authed, author_named, client_at, comment, open_store,
    spawn_app, spawn_with,
};

/// Distinct values of the `site` label in a Prometheus exposition.
fn site_label_values(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(i) = line.find("site=\"") {
            let rest = &line[i + 6..];
            if let Some(j) = rest.find('"') {
                out.insert(rest[..j].to_string());
            }
        }
    }
    out
}

/// 100,000 distinct site ids sent to one replica: 98,000 submissions refused by validation and 2,000 accepted
/// (more sites than metric labels are kept for). Then ops change the global default on the other replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_site_ids_costs_no_per_site_state() {
    const SITES: usize = 100_000;
    const ACCEPTED: usize = 2_000;
    let prefix = crate::harness::unique_prefix();
    let mut cfg = crate::harness::test_config(&prefix);
    cfg.captcha.required = false;
    cfg.rate_limits.clear();
    let store = open_store(Backend::Redis, &prefix).await;
    let a = spawn_with(cfg.clone(), store.clone()).await;
    let b = spawn_with(cfg, store).await;
    let ch = a.channel().await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..32usize {
        let ch = ch.clone();
        tasks.spawn(async move {
            let mut c = CommentServiceClient::new(ch);
            let (mut ok, mut refused) = (0usize, 0usize);
            for i in (worker..SITES).step_by(32) {
                let site = format!("flood-{i}");
                // Accepted ones carry a body; refused ones have none (every other field is valid).
                let body = if i < ACCEPTED { "Bài viết hay" } else { "" };
                match c
                    .submit_comment(authed(
                        PORTAL_TOKEN,
                        SubmitCommentRequest {
                            thread_id: "bai-1".into(),
                            author: author_named("Minh"),
                            client: client_at("203.0.113.9"),
                            ..comment(&site, &format!("k{i}"), body)
                        },
                    ))
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(s) if s.code() == Code::InvalidArgument => refused += 1,
                    Err(s) => panic!("site {site}: {s:?}"),
                }
            }
            (ok, refused)
        });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (o, f) = r.expect("worker");
        ok += o;
        refused += f;
    }
    eprintln!(
        "{SITES} distinct site ids in {:.1} s ({ok} accepted, {refused} refused)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!((ok, refused), (ACCEPTED, SITES - ACCEPTED));
    assert_eq!(
        a.policies.cached_sites(),
        0,
        "no site the callers merely named has per-site policy state"
    );
    let labels = site_label_values(&a.metrics_text().await);
    assert!(
        labels.len() <= moderato::metrics_labels::MAX_SITE_LABELS + 1,
        "{} distinct site labels",
        labels.len()
    );
    assert!(labels.contains(moderato::metrics_labels::OTHER_SITES));

    // A change of the global default on replica B reaches replica A, with nothing per site to re-read.
    let mut ops_b = AdminServiceClient::new(b.channel().await);
    let mut ops_a = AdminServiceClient::new(ch.clone());
    let current = ops_b
        .get_policy(authed(
            OPS_TOKEN,
            GetPolicyRequest {
                site: String::new(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    let mut p = current.policy.expect("policy");
    p.blocked_terms.push("w88".into());
    let changed_at = Instant::now();
    let stored = ops_b
        .update_policy(authed(
            OPS_TOKEN,
            UpdatePolicyRequest {
                site: String::new(),
                expected_version: p.version,
                policy: Some(p),
                clear_overrides: Vec::new(),
            },
        ))
        .await
        .expect("update")
        .into_inner()
        .policy
        .expect("policy");
    let deadline = changed_at + Duration::from_secs(30);
    loop {
        let seen = ops_a
            .get_policy(authed(
                OPS_TOKEN,
                GetPolicyRequest {
                    site: "flood-77".into(),
                },
            ))
            .await
            .expect("get on A")
            .into_inner();
        if seen.global_version == stored.version {
            assert!(seen.inherited);
            assert!(
                seen.policy
                    .expect("policy")
                    .blocked_terms
                    .contains(&"w88".to_string())
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica A never saw the new global policy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "global policy change reached the flooded replica in {} ms",
        changed_at.elapsed().as_millis()
    );
    assert_eq!(a.policies.cached_sites(), 0);
}

async fn shutdown_ends_watch_streams_promptly(backend: Backend) {
    let app = spawn_app(backend, |c| {
        c.server.shutdown_grace_ms = 60_000;
    })
    .await;
    let mut stream = CommentServiceClient::new(app.channel().await)
        .watch_decisions(authed(
            PORTAL_TOKEN,
            WatchDecisionsRequest {
                site: "hcm".into(),
                after_cursor: String::new(),
            },
        ))
        .await
        .expect("watch")
        .into_inner();
    let reader = tokio::spawn(async move {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(s) => return Some(s),
            }
        }
    });
    // The stream is open and idle before the server is told to stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!reader.is_finished());
    let asked = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("the server stops with a watcher open")
        .expect("the server task ends");
    eprintln!(
        "{backend:?}: stopped {} ms after SIGTERM with a watcher open",
        asked.elapsed().as_millis()
    );
    assert!(
        stopped.drained,
        "the watch stream ended, so nothing waited for the grace period"
    );
    let ended = reader
        .await
        .expect("reader")
        .expect("the stream ends with a status");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("cursor"), "{ended:?}");
}

crate::on_every_backend!(
    shutdown_with_a_watcher,
    shutdown_ends_watch_streams_promptly
);
