//! Test harness: private redis-server and 3-master Redis Cluster per test binary, the app spawned in-process on
//! 127.0.0.1:0 with a chosen store, a unique key prefix per test, and authenticated gRPC clients.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use moderato::auth::{Role, TokenConfigExt, Tokens};
use moderato::config::{Config, Secret};
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    Author, ClaimReviewsRequest, Client, CommentStatus, DecideReviewRequest, DecisionEvent, Label,
    ReviewItem, SubmitCommentRequest, SubmitCommentResponse, Verdict,
};
use moderato::rate_limit::Identifiers;
use moderato::startup::Application;
use moderato::store::memory::MemoryStore;
use moderato::store::redis::{RedisSettings, RedisStore};
use moderato::store::{Keys, Store};
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub const PORTAL_TOKEN: &str = "portal-secret-token";
pub const MODERATOR_TOKEN: &str = "moderator-secret-token";
/// A second moderator, `moderator-two`, for what one moderator may not do to another's work.
pub const MODERATOR2_TOKEN: &str = "moderator-two-secret-token";
pub const OPS_TOKEN: &str = "ops-secret-token";
pub const HMAC_KEY: &str = "test-identifier-key";
/// The `moderato` binary built with these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_moderato");

/// Defines `memory`, `redis` and `cluster` tests running `$body(Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($name:ident, $body:ident) => {
        mod $name {
            use $crate::harness::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$body(Backend::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$body(Backend::Redis).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                super::$body(Backend::Cluster).await
            }
        }
    };
}

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
    Cluster,
}

const INSTALL_HINT: &str = "redis-server and redis-cli are required by the test suite and were not found. \
Install them with `apt-get install -y redis-server` (Debian/Ubuntu), or run `scripts/test.sh`, which installs them.";

fn require_redis_binaries() {
    for bin in ["redis-server", "redis-cli"] {
        let ok = Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "{bin} not found. {INSTALL_HINT}");
    }
}

/// A free TCP port on 127.0.0.1 (and, when `bus` is set, port+10000 free too, for cluster buses).
pub fn free_port(bus: bool) -> u16 {
    for _ in 0..200 {
        let l = StdListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let p = l.local_addr().expect("local addr").port();
        if p > 55_000 {
            continue;
        }
        if !bus || StdListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
    panic!("no free port found");
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moderato-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// A redis-server process owned by a test; killed on drop.
pub struct RedisProcess {
    pub port: u16,
    child: Option<std::process::Child>,
    args: Vec<String>,
    dir: PathBuf,
}

impl RedisProcess {
    /// Starts redis-server on `port` and waits until it answers.
    pub fn start(port: u16, extra: &[&str]) -> Self {
        require_redis_binaries();
        let dir = scratch_dir(&format!("redis-{port}"));
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut p = Self {
            port,
            child: None,
            args,
            dir,
        };
        p.restart();
        p
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's process id while it runs.
    #[allow(dead_code)] // used by the failover target
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the server.
    #[allow(dead_code)] // used by the failover target
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the server runs").to_string();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{signal} {pid} failed");
    }

    /// Starts it again with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}. {INSTALL_HINT}"));
        self.child = Some(child);
        wait_for_ping(self.port);
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "ping"])
            .output();
        if matches!(out, Ok(ref o) if String::from_utf8_lossy(&o.stdout).contains("PONG")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server on port {port} did not answer PING within 10 s");
}

/// Starts redis-server under a watchdog shell that kills it when this test process exits, however it exits.
fn start_watched(port: u16, extra: &[&str], dir: &std::path::Path) {
    require_redis_binaries();
    let mut cmd = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no --dir '{}'",
        dir.display()
    );
    for e in extra {
        cmd.push(' ');
        cmd.push_str(e);
    }
    let script = format!(
        "{cmd} >/dev/null 2>&1 & r=$!; while kill -0 {parent} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.5; done; kill $r 2>/dev/null; sleep 1; rm -rf '{dir}'",
        parent = std::process::id(),
        dir = dir.display()
    );
    let mut watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start redis-server: {e}. {INSTALL_HINT}"));
    // Reap the watchdog when it ends, so it never lingers as a zombie.
    std::thread::spawn(move || watchdog.wait());
    wait_for_ping(port);
}

/// The test binary's private standalone Redis: `redis://127.0.0.1:PORT`.
pub fn shared_redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let port = free_port(false);
        start_watched(port, &[], &scratch_dir("redis-shared"));
        format!("redis://127.0.0.1:{port}")
    })
    .clone()
}

/// The test binary's private 3-master Redis Cluster: seed URLs.
pub fn shared_cluster_urls() -> Vec<String> {
    static URLS: OnceLock<Vec<String>> = OnceLock::new();
    URLS.get_or_init(|| {
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let p = free_port(true);
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let dir = scratch_dir("cluster");
        for p in &ports {
            let conf = format!("nodes-{p}.conf");
            start_watched(
                *p,
                &[
                    "--cluster-enabled yes",
                    &format!("--cluster-config-file {conf}"),
                    "--cluster-node-timeout 2000",
                ],
                &dir,
            );
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        'wait: loop {
            assert!(
                Instant::now() < deadline,
                "cluster did not become ok within 20 s"
            );
            for p in &ports {
                let o = Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "cluster", "info"])
                    .output()
                    .expect("redis-cli cluster info");
                if !String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok") {
                    std::thread::sleep(Duration::from_millis(100));
                    continue 'wait;
                }
            }
            break;
        }
        ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    })
    .clone()
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "t{}-{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Opens a store of `backend` under a fresh prefix.
pub async fn open_store(backend: Backend, prefix: &str) -> Arc<dyn Store> {
    let urls = match backend {
        Backend::Memory => return Arc::new(MemoryStore::default()),
        Backend::Redis => vec![shared_redis_url()],
        Backend::Cluster => shared_cluster_urls(),
    };
    // Generous: some tests put a thousand concurrent calls on a 2-core machine; the outage test builds its own
    // store with a tight timeout.
    let settings = RedisSettings {
        urls,
        timeout: Duration::from_secs(3),
    };
    Arc::new(
        RedisStore::connect(&settings, Keys::new(prefix))
            .await
            .expect("connect to the test redis"),
    )
}

/// A raw connection to the Redis deployment behind `backend` (`None` for the memory store), for tests that look
/// at what the store wrote (TTLs, hash fields) rather than through the store.
pub async fn raw_redis(backend: Backend) -> Option<moderato::store::redis::Conn> {
    use moderato::store::redis::Conn;
    match backend {
        Backend::Memory => None,
        Backend::Redis => {
            let client = redis::Client::open(shared_redis_url()).expect("redis url");
            let c = redis::aio::ConnectionManager::new(client)
                .await
                .expect("connect to the test redis");
            Some(Conn::Single(c))
        }
        Backend::Cluster => {
            let client =
                redis::cluster::ClusterClient::new(shared_cluster_urls()).expect("cluster urls");
            let c = client
                .get_async_connection()
                .await
                .expect("connect to the test cluster");
            Some(Conn::Cluster(c))
        }
    }
}

/// The test configuration: port 0 everywhere, fixed tokens and identifier key.
pub fn test_config(prefix: &str) -> Config {
    // The suite's main site keeps a metric label of its own even after a test fills the process-wide cap on site
    // labels (`bounds::a_flood_of_unknown_site_ids_costs_no_per_site_state`), whatever order the tests run in.
    moderato::metrics_labels::site_label("hcm");
    let mut cfg = Config::default();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.server.metrics_listen = "127.0.0.1:0".into();
    cfg.server.http_listen = "127.0.0.1:0".into();
    cfg.server.health_interval_ms = 100;
    cfg.server.shutdown_grace_ms = 5_000;
    cfg.store.key_prefix = prefix.into();
    cfg.identifier_hmac_key = Secret::new(HMAC_KEY);
    cfg.auth.tokens = vec![
        Role::Portal.token_config("portal-test", PORTAL_TOKEN),
        Role::Moderator.token_config("moderator-test", MODERATOR_TOKEN),
        Role::Moderator.token_config("moderator-two", MODERATOR2_TOKEN),
        Role::Ops.token_config("ops-test", OPS_TOKEN),
    ];
    cfg
}

/// A running in-process server.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The HTTP (JSON API) address.
    pub http_addr: Option<std::net::SocketAddr>,
    pub store: Arc<dyn Store>,
    pub ids: Identifiers,
    pub keys: Keys,
    pub cfg: Config,
    pub policies: moderato::policy::Policies,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<moderato::startup::Stopped>>,
}

impl TestApp {
    /// `http://ADDR` of the HTTP listener.
    pub fn http_base(&self) -> String {
        format!(
            "http://{}",
            self.http_addr.expect("HTTP is enabled in tests")
        )
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect to the test server")
    }

    /// The metrics listener's answer to `GET /metrics`, read whole: the status line and headers, then the
    /// exposition.
    pub async fn metrics_text(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.metrics_addr.expect("metrics listener");
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the metrics listener");
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    /// Stops the server and waits for it to finish; says whether it drained within its grace period.
    pub async fn stop(mut self) -> Option<moderato::startup::Stopped> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.handle.take() {
            Some(h) => Some(h.await.expect("the server task panicked")),
            None => None,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Spawns the app on `store` with `cfg`.
pub async fn spawn_with(cfg: Config, store: Arc<dyn Store>) -> TestApp {
    let ids = Identifiers::new(
        cfg.identifier_hmac_key.expose().as_bytes(),
        cfg.ipv6_prefix_len,
    );
    let keys = Keys::new(cfg.store.key_prefix.clone());
    let tokens = Tokens::from_config(&cfg.auth.tokens);
    let app = Application::build(cfg.clone(), store.clone(), tokens, ids.clone())
        .await
        .expect("build app");
    let addr = app.addr();
    let metrics_addr = app.metrics_addr();
    let http_addr = app.http_addr();
    let policies = app.policies();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until_stopped(async move {
            let _ = rx.await;
        })
        .await
        .expect("server ran")
    });
    let t = TestApp {
        addr,
        metrics_addr,
        http_addr,
        store,
        ids,
        keys,
        cfg,
        policies,
        stop: Some(tx),
        handle: Some(handle),
    };
    wait_serving(&t).await;
    t
}

/// Spawns the app on a fresh store of `backend`, after `tweak` adjusts the config.
pub async fn spawn_app(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    tweak(&mut cfg);
    let store = open_store(backend, &prefix).await;
    spawn_with(cfg, store).await
}

async fn wait_serving(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let ch = app.channel().await;
    let mut client = tonic_health::pb::health_client::HealthClient::new(ch);
    loop {
        let r = client
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await;
        if let Ok(r) = r
            && r.into_inner().status
                == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        {
            return;
        }
        assert!(Instant::now() < deadline, "server did not become SERVING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request carrying `token`.
pub fn authed<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header value"),
    );
    r
}

/// Every key under `prefix` in the given Redis deployment.
pub fn redis_keys(backend: Backend, prefix: &str) -> Vec<String> {
    let ports: Vec<String> = match backend {
        Backend::Memory => return Vec::new(),
        Backend::Redis => vec![shared_redis_url()],
        Backend::Cluster => shared_cluster_urls(),
    }
    .into_iter()
    .map(|u| u.rsplit(':').next().unwrap_or_default().to_string())
    .collect();
    let mut keys = Vec::new();
    for p in ports {
        let out = Command::new("redis-cli")
            .args(["-p", &p, "--scan", "--pattern", &format!("{prefix}*")])
            .output()
            .expect("redis-cli --scan");
        keys.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    keys
}

/// (body, is spam) of the `dev` split of the project's Vietnamese development set.
pub fn dev_set() -> Vec<(String, bool)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/vi-dev/comments.csv");
    let mut rdr = csv::Reader::from_path(path).expect("the development set");
    rdr.records()
        .filter_map(Result::ok)
        .filter(|r| r.get(5) == Some("dev"))
        .map(|r| {
            (
                r.get(3).unwrap_or_default().to_string(),
                r.get(4) == Some("spam"),
            )
        })
        .collect()
}

/// An ordinary reader's comment (about a flooded street): ham.
pub const HAM: &str = "Đoạn đường Nguyễn Hữu Thọ ngập sâu mỗi khi mưa lớn, mong phường sớm khơi thông cống thoát nước.";

/// A reader's comment on `site` as a portal submits it, with `key` as its idempotency key: thread `bai-viet-42`,
/// author `Trần Thị Mai` (no phone, no email), title `Góp ý`, from 203.0.113.20 with user agent `test`, no captcha.
/// A test that sends other values names them and takes the rest from here:
/// `SubmitCommentRequest { title: "Ý kiến".into(), ..comment(site, key, body) }`.
pub fn comment(site: &str, key: &str, body: &str) -> SubmitCommentRequest {
    SubmitCommentRequest {
        site: site.into(),
        thread_id: "bai-viet-42".into(),
        idempotency_key: key.into(),
        author: author_named("Trần Thị Mai"),
        title: "Góp ý".into(),
        body: body.into(),
        client: Some(Client {
            ip: "203.0.113.20".into(),
            user_agent: "test".into(),
        }),
        captcha: None,
    }
}

/// Submits `r` with the portal token.
pub async fn submit(
    ch: &Channel,
    r: SubmitCommentRequest,
) -> Result<SubmitCommentResponse, tonic::Status> {
    CommentServiceClient::new(ch.clone())
        .submit_comment(authed(PORTAL_TOKEN, r))
        .await
        .map(|r| r.into_inner())
}

/// The status a SubmitComment answer carries.
pub fn status_of(r: &SubmitCommentResponse) -> CommentStatus {
    CommentStatus::try_from(r.status).expect("known status")
}

/// An author with a name only (no phone, no email), to put in a [`comment`].
pub fn author_named(name: &str) -> Option<Author> {
    Some(Author {
        name: name.into(),
        ..Default::default()
    })
}

/// A client at `ip` with no user agent, to put in a [`comment`].
pub fn client_at(ip: &str) -> Option<Client> {
    Some(Client {
        ip: ip.into(),
        user_agent: String::new(),
    })
}

/// Runs the `moderato` client with `args` against `app` as `token` (`--addr` and `--token` given after `args`; the
/// MODERATO_TOKEN, MODERATO_ADDR and MODERATO_WEBHOOK_SECRET this process may have are not passed on): its output,
/// whatever its exit status.
pub async fn cli(app: &TestApp, token: &str, args: &[&str]) -> std::process::Output {
    let addr = format!("http://{}", app.addr);
    tokio::process::Command::new(BIN)
        .args(args)
        .args(["--addr", &addr, "--token", token])
        .env_remove("MODERATO_TOKEN")
        .env_remove("MODERATO_ADDR")
        .env_remove("MODERATO_WEBHOOK_SECRET")
        .output()
        .await
        .expect("run moderato")
}

/// The fields named by a status's BadRequest details, in order.
pub fn violated_fields(s: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    s.get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

/// A plain HTTP/1.1 client.
pub fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Builds a request: `token` as a bearer token, `body` as the body, `headers` added.
pub fn http_request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut b = http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
        body.unwrap_or_default(),
    )))
    .expect("a valid request")
}

/// Sends one request over a real socket and reads the whole answer.
pub async fn http_call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> HttpReply {
    use http_body_util::BodyExt;
    let resp = http_client()
        .request(http_request(method, url, token, body, headers))
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("read the answer")
        .to_bytes()
        .to_vec();
    HttpReply {
        status,
        headers,
        body,
    }
}

/// A Redis Cluster owned by one test (its nodes killed on drop): `masters` masters, each with `replicas_per_master`
/// replicas, node timeout 2 s, and `extra` redis-server arguments on every node (e.g. `--appendonly yes`). The
/// shared cluster of [`shared_cluster_urls`] stays the fast 3-master one; tests that kill nodes build their own.
pub struct TestCluster {
    pub nodes: Vec<RedisProcess>,
}

impl TestCluster {
    pub fn start(masters: usize, replicas_per_master: usize, extra: &[&str]) -> Self {
        let count = masters * (1 + replicas_per_master);
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < count {
            let p = free_port(true);
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let nodes: Vec<RedisProcess> = ports
            .iter()
            .map(|p| {
                let conf = format!("nodes-{p}.conf");
                let mut args: Vec<&str> = vec![
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "2000",
                ];
                args.extend_from_slice(extra);
                RedisProcess::start(*p, &args)
            })
            .collect();
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args([
                "--cluster-replicas",
                &replicas_per_master.to_string(),
                "--cluster-yes",
            ])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let c = Self { nodes };
        c.wait_ok(Duration::from_secs(30));
        // Every replica attached and in sync.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let in_sync = c
                .nodes
                .iter()
                .filter(|n| {
                    Self::cli(n.port, &["info", "replication"])
                        .is_some_and(|i| i.contains("master_link_status:up"))
                })
                .count();
            if in_sync == masters * replicas_per_master {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{in_sync} replicas in sync after 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// Seed URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The node listening on `port`.
    #[allow(dead_code)] // used by the failover target
    pub fn node(&mut self, port: u16) -> &mut RedisProcess {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster")
    }

    /// `redis-cli -p <port> <args>`: its stdout, or None when the node does not answer.
    pub fn cli(port: u16, args: &[&str]) -> Option<String> {
        let o = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
            .filter(|s| !s.starts_with("Could not connect"))
    }

    /// Waits until every live node reports `cluster_state:ok` and agrees on one master per slot range.
    pub fn wait_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        'wait: loop {
            assert!(
                Instant::now() < deadline,
                "cluster did not become ok within {within:?}"
            );
            for n in &self.nodes {
                match Self::cli(n.port, &["cluster", "info"]) {
                    Some(info) if info.contains("cluster_state:ok") => {}
                    _ => {
                        std::thread::sleep(Duration::from_millis(100));
                        continue 'wait;
                    }
                }
            }
            return;
        }
    }

    /// (master port, replica ports) serving `slot`, as the node on `ask` sees it.
    #[allow(dead_code)] // used by the failover target
    pub fn owners_of_slot(ask: u16, slot: u16) -> Option<(u16, Vec<u16>)> {
        let nodes = Self::cli(ask, &["cluster", "nodes"])?;
        let port_of = |addr: &str| -> Option<u16> {
            addr.split('@').next()?.rsplit(':').next()?.parse().ok()
        };
        let lines: Vec<Vec<&str>> = nodes
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let master = lines.iter().find(|f| {
            f.len() > 8
                && f[2].contains("master")
                && !f[2].contains("fail")
                && f[8..].iter().any(|r| {
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if a <= slot && slot <= b)
                })
        })?;
        let replicas = lines
            .iter()
            .filter(|f| f.len() > 3 && f[2].contains("slave") && f[3] == master[0])
            .filter_map(|f| port_of(f[1]))
            .collect();
        Some((port_of(master[1])?, replicas))
    }

    /// The hash slot of `key`.
    #[allow(dead_code)] // used by the failover target
    pub fn keyslot(ask: u16, key: &str) -> u16 {
        Self::cli(ask, &["cluster", "keyslot", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }
}

/// Claims up to `n` held comments of `site` as `token`'s moderator (the default lease).
pub async fn claim(ch: &Channel, token: &str, site: &str, n: u32) -> Vec<ReviewItem> {
    ModerationServiceClient::new(ch.clone())
        .claim_reviews(authed(
            token,
            ClaimReviewsRequest {
                site: site.into(),
                max_items: n,
                lease_seconds: 0,
            },
        ))
        .await
        .expect("claim")
        .into_inner()
        .items
}

/// The comment id of a claimed item.
pub fn id_of(item: &ReviewItem) -> String {
    item.comment.as_ref().expect("comment").comment_id.clone()
}

/// Decides a claimed item.
pub async fn decide(
    ch: &Channel,
    token: &str,
    site: &str,
    item: &ReviewItem,
    verdict: Verdict,
    label: Label,
) -> Result<DecisionEvent, tonic::Status> {
    ModerationServiceClient::new(ch.clone())
        .decide_review(authed(
            token,
            DecideReviewRequest {
                site: site.into(),
                comment_id: id_of(item),
                lease_token: item.lease_token.clone(),
                verdict: verdict as i32,
                label: label as i32,
                note: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner().event.expect("event"))
}

/// One comment as `GetComment` answers it to the portal.
pub async fn get_comment(ch: &Channel, site: &str, id: &str) -> moderato::proto::Comment {
    moderato::proto::comment_service_client::CommentServiceClient::new(ch.clone())
        .get_comment(authed(
            PORTAL_TOKEN,
            moderato::proto::GetCommentRequest {
                site: site.into(),
                comment_id: id.into(),
            },
        ))
        .await
        .expect("get comment")
        .into_inner()
}
