//! Fault tests' tools: `moderato serve` as a child process (to `kill -9`), and a load of concurrent submissions
//! that records every acknowledged comment id and every error with its time.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::{GetCommentRequest, SubmitCommentRequest};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{
    BIN, HMAC_KEY, PORTAL_TOKEN, authed, author_named, client_at, comment, free_port,
};

/// Limits high enough that the load never meets one (every descriptor listed: one not listed keeps its default).
pub const NO_LIMITS: &str = "[{descriptor=\"site\", requests=100000, period_seconds=1, burst=100000}, \
  {descriptor=\"client_ip\", requests=100000, period_seconds=1, burst=100000}, \
  {descriptor=\"author\", requests=100000, period_seconds=1, burst=100000}, \
  {descriptor=\"thread\", requests=100000, period_seconds=1, burst=100000}]";

/// A `moderato serve` child on Redis at `urls` under `prefix`, with the portal token, no captcha and no limits.
pub struct Serve {
    pub child: tokio::process::Child,
    pub channel: Channel,
    /// `127.0.0.1:port`.
    pub addr: String,
}

impl Serve {
    pub async fn start(urls: &[String], prefix: &str, env: &[(&str, &str)]) -> Self {
        Self::start_logged(urls, prefix, env, None).await
    }

    /// [`Serve::start`] with the server's log (stderr) written to `log`.
    pub async fn start_logged(
        urls: &[String],
        prefix: &str,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Self {
        let port = free_port(false);
        let token_hash = moderato::auth::hash_token(PORTAL_TOKEN);
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "",
            "--http-listen",
            "",
            "--key-prefix",
            prefix,
        ]);
        for u in urls {
            cmd.args(["--redis-url", u]);
        }
        cmd.env(
            "MODERATO__AUTH__TOKENS",
            format!("[{{name=\"portal\", role=\"portal\", sha256=\"{token_hash}\"}}]"),
        )
        .env("MODERATO__CAPTCHA__REQUIRED", "false")
        .env("MODERATO__IDENTIFIER_HMAC_KEY", HMAC_KEY)
        // Durability, not latency, is under test: a loaded machine may need more than the default 500 ms.
        .env("MODERATO__STORE__TIMEOUT_MS", "5000")
        .env("MODERATO__RATE_LIMITS", NO_LIMITS);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(match log {
                Some(p) => Stdio::from(std::fs::File::create(p).expect("create the log file")),
                None => Stdio::null(),
            })
            .kill_on_drop(true)
            .spawn()
            .expect("spawn moderato serve");
        let channel = wait_serving(port).await;
        Self {
            child,
            channel,
            addr: format!("127.0.0.1:{port}"),
        }
    }

    /// `kill -9`.
    pub async fn kill_9(mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }
}

/// Waits (at most 30 s) until the server on `port` answers health with SERVING.
pub async fn wait_serving(port: u16) -> Channel {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moderato serve did not become healthy"
        );
        if let Ok(ch) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect()
            .await
            && health(ch.clone()).await == Some(ServingStatus::Serving)
        {
            return ch;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The overall health status, None when the server does not answer.
pub async fn health(ch: Channel) -> Option<ServingStatus> {
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        HealthClient::new(ch).check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .ok()?
    .ok()?;
    ServingStatus::try_from(r.into_inner().status).ok()
}

/// A submission of worker `w`, number `n`, to `site`.
pub fn submission(site: &str, tag: &str, w: usize, n: usize) -> SubmitCommentRequest {
    SubmitCommentRequest {
        thread_id: "t".into(),
        author: author_named("Lê Văn Tám"),
        client: client_at(&format!("10.0.{w}.{}", n % 250)),
        ..comment(
            site,
            &format!("{tag}-w{w}-{n}"),
            &format!("Bình luận số {n} của người đọc {w} về giao thông."),
        )
    }
}

/// What a load saw: acknowledged ids with the times the call was sent and answered, errors with the answer's.
#[derive(Default)]
pub struct Seen {
    pub acked: Vec<(String, Instant, Instant)>,
    pub errors: Vec<(Instant, tonic::Code, String)>,
}

/// `workers` concurrent submitters to `site`, each sending its next submission as soon as the last one is answered
/// (after an error, 20 ms later), until stopped.
pub struct Load {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(ch: Channel, site: &str, tag: &str, workers: usize) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|w| {
                let (ch, seen, stop) = (ch.clone(), seen.clone(), stop.clone());
                let (site, tag) = (site.to_string(), tag.to_string());
                tokio::spawn(async move {
                    let mut client = CommentServiceClient::new(ch);
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let mut req = authed(PORTAL_TOKEN, submission(&site, &tag, w, n));
                        req.set_timeout(Duration::from_secs(5));
                        let sent = Instant::now();
                        let r = client.submit_comment(req).await;
                        let now = Instant::now();
                        match r {
                            Ok(r) => {
                                let id = r.into_inner().comment_id;
                                seen.lock().unwrap().acked.push((id, sent, now));
                            }
                            Err(e) => {
                                seen.lock().unwrap().errors.push((
                                    now,
                                    e.code(),
                                    e.message().to_string(),
                                ));
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            seen,
            stop,
            workers,
        }
    }

    pub fn acked(&self) -> usize {
        self.seen.lock().unwrap().acked.len()
    }

    /// The time of the first acknowledgement of a call sent after `t`.
    #[allow(dead_code)] // used by the failover target
    pub fn first_ack_sent_after(&self, t: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .acked
            .iter()
            .filter(|(_, sent, _)| *sent > t)
            .map(|(_, _, at)| *at)
            .min()
    }

    /// The time of the first failure answered after `t`.
    #[allow(dead_code)] // used by the failover target
    pub fn first_error_after(&self, t: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .errors
            .iter()
            .map(|(at, _, _)| *at)
            .filter(|at| *at > t)
            .min()
    }

    /// Waits (at most `within`) until `n` submissions more than now are acknowledged; panics with the last error.
    pub async fn wait_for_acks(&self, n: usize, within: Duration) {
        let target = self.acked() + n;
        let deadline = Instant::now() + within;
        while self.acked() < target {
            assert!(
                Instant::now() < deadline,
                "the load did not get {n} acknowledgements within {within:?}; last error: {:?}",
                self.seen.lock().unwrap().errors.last()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the workers (each finishes its call in flight, bounded by the call timeout) and returns what they saw.
    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            tokio::time::timeout(Duration::from_secs(10), w)
                .await
                .expect("a load worker did not stop within 10 s")
                .expect("a load worker panicked");
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// The acknowledged ids GetComment does not find (NOT_FOUND) through the server on `ch` (16 readers at once); any
/// other error than a passing UNAVAILABLE (a store still recovering, retried for 30 s) panics.
pub async fn missing(ch: &Channel, site: &str, ids: &[String]) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    for part in ids.chunks(ids.len().div_ceil(16).max(1)) {
        let (ch, site, part) = (ch.clone(), site.to_string(), part.to_vec());
        set.spawn(async move {
            let mut client = CommentServiceClient::new(ch);
            let mut out = Vec::new();
            for id in part {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let r = client
                        .get_comment(authed(
                            PORTAL_TOKEN,
                            GetCommentRequest {
                                site: site.clone(),
                                comment_id: id.clone(),
                            },
                        ))
                        .await;
                    match r {
                        Ok(_) => break,
                        Err(e) if e.code() == tonic::Code::NotFound => {
                            out.push(id.clone());
                            break;
                        }
                        Err(e)
                            if e.code() == tonic::Code::Unavailable
                                && Instant::now() < deadline =>
                        {
                            tokio::time::sleep(Duration::from_millis(100)).await
                        }
                        Err(e) => panic!("GetComment {id}: {e:?}"),
                    }
                }
            }
            out
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.extend(r.expect("a reader panicked"));
    }
    out
}
