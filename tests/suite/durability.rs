//! Durability as deployed: Redis with `appendonly yes` (`appendfsync everysec` and `always`), standalone and
//! Cluster; `kill -9` of moderato under load, then of Redis under load. Every submission answered OK before the
//! kill of moderato is found by GetComment afterwards, and so is every one answered before the kill of Redis
//! with `always`. With `everysec`, Redis itself answers writes it has not yet handed to the kernel while a
//! background fsync is slow (it postpones the AOF write for up to 2 s, on a clock of whole seconds), so a kill of
//! the Redis process may lose what it acknowledged in the last seconds: those, and only those, may be missing.

use std::time::Duration;

use tonic::Code;

use crate::harness::{RedisProcess, TestCluster, free_port, unique_prefix};
use crate::load::{Load, Seen, Serve, missing};

/// Acknowledgements to wait for before each kill.
const BEFORE_KILL: usize = 300;

/// How long before a kill of Redis an acknowledged write may have been, with `appendfsync everysec`, and still be
/// lost: Redis postpones the AOF write while a background fsync runs, for up to 2 s counted on its clock of whole
/// seconds (`flushAppendOnlyFile`), so up to 3 s.
const EVERYSEC_WINDOW: Duration = Duration::from_secs(3);

fn aof(appendfsync: &str) -> [&str; 4] {
    ["--appendonly", "yes", "--appendfsync", appendfsync]
}

fn assert_aof_on(port: u16, appendfsync: &str) {
    let got = TestCluster::cli(port, &["config", "get", "append*"]).unwrap_or_default();
    let words: Vec<&str> = got.split_whitespace().collect();
    for (k, v) in [("appendonly", "yes"), ("appendfsync", appendfsync)] {
        let i = words
            .iter()
            .position(|w| *w == k)
            .expect("CONFIG GET answer");
        assert_eq!(words.get(i + 1), Some(&v), "{k} on port {port}: {got}");
    }
}

/// Phase one: a load, then `kill -9` of moderato. Returns what the load saw.
async fn kill_moderato_under_load(urls: &[String], prefix: &str) -> Seen {
    let serve = Serve::start(urls, prefix, &[]).await;
    let load = Load::start(serve.channel.clone(), "hcm", "a", 16);
    load.wait_for_acks(BEFORE_KILL, Duration::from_secs(60))
        .await;
    serve.kill_9().await;
    load.stop().await
}

/// Phase two: a new moderato and a load, then `kill` (which kills Redis); returns the server (to read back with)
/// and what the load saw, which must include failures: the kill came while calls were being made.
/// Phase two also checks phase one first: everything acknowledged before moderato was killed must be there before
/// Redis is killed (checked after, an `everysec` loss of phase one's last writes would be blamed on moderato).
async fn kill_redis_under_load(
    urls: &[String],
    prefix: &str,
    first: &Seen,
    what: &str,
    kill: impl FnOnce(),
) -> (Serve, Seen, std::time::Instant) {
    let serve = Serve::start(urls, prefix, &[]).await;
    let ids: Vec<String> = first.acked.iter().map(|(id, _, _)| id.clone()).collect();
    let lost = missing(&serve.channel, "hcm", &ids).await;
    eprintln!(
        "{what}: {} acknowledged before kill -9 of moderato, {} lost",
        ids.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "{what}: {} submissions acknowledged before moderato was killed are lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let load = Load::start(serve.channel.clone(), "hcm", "b", 16);
    load.wait_for_acks(BEFORE_KILL, Duration::from_secs(60))
        .await;
    let killed = std::time::Instant::now();
    kill();
    // Until the workers meet the dead store (a deadline, never a fixed sleep), then stop them.
    let deadline = killed + Duration::from_secs(30);
    while load.first_error_after(killed).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no call failed within 30 s after Redis was killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = load.stop().await;
    assert!(
        seen.errors.iter().any(|(_, c, _)| *c == Code::Unavailable),
        "no call failed after Redis was killed: it was not killed under load"
    );
    (serve, seen, killed)
}

/// Checks the Redis kill (phase one was checked before it): of what was acknowledged before the kill (at
/// `redis_killed`), nothing may be lost with `always`, and with `everysec` nothing acknowledged more than
/// [`EVERYSEC_WINDOW`] before it.
async fn check(
    serve: &Serve,
    second: Seen,
    redis_killed: std::time::Instant,
    appendfsync: &str,
    what: &str,
) {
    let ids: Vec<String> = second.acked.iter().map(|(id, _, _)| id.clone()).collect();
    let lost_redis = missing(&serve.channel, "hcm", &ids).await;
    let before_kill: Vec<u128> = second
        .acked
        .iter()
        .filter(|(id, _, _)| lost_redis.contains(id))
        .map(|(_, _, at)| redis_killed.saturating_duration_since(*at).as_millis())
        .collect();
    eprintln!(
        "{what}: {} acknowledged before kill -9 of Redis, {} lost (acknowledged at most {:?} ms before the kill)",
        second.acked.len(),
        lost_redis.len(),
        before_kill.iter().max()
    );
    let allowed = if appendfsync == "always" {
        Duration::ZERO
    } else {
        EVERYSEC_WINDOW
    };
    let outside: Vec<u128> = before_kill
        .iter()
        .copied()
        .filter(|ms| *ms > allowed.as_millis() || allowed.is_zero())
        .collect();
    assert!(
        outside.is_empty(),
        "{what}: {} submissions acknowledged before Redis was killed are lost, acknowledged {:?} ms before the \
         kill (appendfsync {appendfsync} allows {} ms)",
        outside.len(),
        &outside[..outside.len().min(5)],
        allowed.as_millis()
    );
}

async fn standalone(appendfsync: &str) {
    let mut redis = RedisProcess::start(free_port(false), &aof(appendfsync));
    assert_aof_on(redis.port, appendfsync);
    let urls = vec![format!("redis://127.0.0.1:{}", redis.port)];
    let prefix = unique_prefix();
    let first = kill_moderato_under_load(&urls, &prefix).await;
    let what = format!("standalone, appendfsync {appendfsync}");
    let (serve, second, killed) =
        kill_redis_under_load(&urls, &prefix, &first, &what, || redis.kill()).await;
    redis.restart();
    check(&serve, second, killed, appendfsync, &what).await;
    serve.kill_9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_aof_everysec_loses_at_most_the_last_seconds_of_a_redis_kill_and_nothing_of_a_moderato_kill()
 {
    standalone("everysec").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_aof_always_keeps_every_acknowledged_submission_through_kill_9() {
    standalone("always").await
}

/// The same on a 3-master Cluster with AOF (`everysec`): every node is killed with `kill -9` under load and
/// restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_aof_everysec_loses_at_most_the_last_seconds_of_a_redis_kill() {
    let mut cluster = TestCluster::start(3, 0, &aof("everysec"));
    for n in &cluster.nodes {
        assert_aof_on(n.port, "everysec");
    }
    let urls = cluster.urls();
    let prefix = unique_prefix();
    let first = kill_moderato_under_load(&urls, &prefix).await;
    let what = "cluster, appendfsync everysec";
    let (serve, second, killed) = kill_redis_under_load(&urls, &prefix, &first, what, || {
        for n in &mut cluster.nodes {
            n.kill();
        }
    })
    .await;
    for n in &mut cluster.nodes {
        n.restart();
    }
    cluster.wait_ok(Duration::from_secs(30));
    check(&serve, second, killed, "everysec", what).await;
    serve.kill_9().await;
}

/// `store.replica_ack` on standalone Redis with one replica: writes are acknowledged while the replica keeps up;
/// while it is stopped, a write is answered UNAVAILABLE saying no replica acknowledged it (never OK); once it is
/// back, writes succeed again and the retry with the same idempotency key records the comment once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_ack_answers_unavailable_while_no_replica_acknowledges() {
    use moderato::proto::comment_service_client::CommentServiceClient;
    use moderato::store::Keys;
    use moderato::store::redis::{RedisSettings, RedisStore};

    let primary = RedisProcess::start(free_port(false), &[]);
    let replica_port = free_port(false);
    let replica = RedisProcess::start(
        replica_port,
        &["--replicaof", "127.0.0.1", &primary.port.to_string()],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !TestCluster::cli(replica.port, &["info", "replication"])
        .unwrap_or_default()
        .contains("master_link_status:up")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not sync"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let prefix = unique_prefix();
    let mut cfg = crate::harness::test_config(&prefix);
    cfg.captcha.required = false;
    let settings = RedisSettings {
        urls: vec![format!("redis://127.0.0.1:{}", primary.port)],
        timeout: Duration::from_millis(2_000),
    };
    let store = RedisStore::connect(&settings, Keys::new(prefix.clone()))
        .await
        .expect("connect")
        .with_replica_ack(Duration::from_millis(300));
    let app = crate::harness::spawn_with(cfg, std::sync::Arc::new(store)).await;
    let mut client = CommentServiceClient::new(app.channel().await);
    let submit = |key: &str| {
        crate::harness::authed(
            crate::harness::PORTAL_TOKEN,
            crate::load::submission("hcm", key, 0, 0),
        )
    };
    let first = client
        .submit_comment(submit("k1"))
        .await
        .expect("acknowledged while the replica keeps up")
        .into_inner();

    replica.signal("STOP");
    let err = client.submit_comment(submit("k2")).await.unwrap_err();
    replica.signal("CONT");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("not acknowledged by a replica"),
        "{}",
        err.message()
    );

    // The replica is back: the retry is acknowledged, and it is one comment.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let retried = loop {
        match client.submit_comment(submit("k2")).await {
            Ok(r) => break r.into_inner(),
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "writes did not come back: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_ne!(retried.comment_id, first.comment_id);
    let again = client
        .submit_comment(submit("k2"))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(again.comment_id, retried.comment_id);
    assert!(again.replayed);
    app.stop().await;
}
