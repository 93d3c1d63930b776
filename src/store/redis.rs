//! The Redis store: standalone Redis through one shared multiplexed connection (a `ConnectionManager` that
//! reconnects by itself), or Redis Cluster through the async cluster connection, behind one code path.
//! Every call is bounded by the configured timeout, so a dead Redis gives UNAVAILABLE quickly, never a hang.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};

use super::AUDIT_TIME_SLACK_MS;
use super::{
    Admit, CreateOutcome, Decide, Decided, EXPIRED_CHALLENGE_MEMORY_MS, Keys, NewChallenge,
    STREAM_MAXLEN, Store, StoreError, TakenChallenge, TakenOver,
};
use crate::admission::{Admission, LimitCheck, LimitVerdict};
use crate::audit::{AUDIT_MAXLEN, AuditEntry, AuditNote};
use crate::review::{
    Claimed, DecisionKind, Event, Label, LabelRow, QueueStats, Status, StoredComment,
};

/// A script with `lua/lib.lua` prepended (Redis has no includes).
macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| Script::new(concat!(include_str!("lua/lib.lua"), include_str!($file))))
    };
}

mod privacy;

pub use privacy::erase_script_hash;

static CHARGE_LIMITS: LazyLock<Script> = script!("lua/charge_limits.lua");
static CREATE_CHALLENGE: LazyLock<Script> = script!("lua/create_challenge.lua");
static TAKE_CHALLENGE: LazyLock<Script> = script!("lua/take_challenge.lua");
static SUBMIT: LazyLock<Script> = script!("lua/submit.lua");
static CLAIM: LazyLock<Script> = script!("lua/claim.lua");
static LEASE: LazyLock<Script> = script!("lua/lease.lua");
static DECIDE: LazyLock<Script> = script!("lua/decide.lua");
static QUEUE_STATS: LazyLock<Script> = script!("lua/queue_stats.lua");
static PUT_DOC: LazyLock<Script> = script!("lua/put_doc.lua");
static TAKE_OVER: LazyLock<Script> = script!("lua/take_over.lua");
static WEBHOOK_SET: LazyLock<Script> = script!("lua/webhook_set.lua");
static WEBHOOK_LEASE: LazyLock<Script> = script!("lua/webhook_lease.lua");
static WEBHOOK_PROGRESS: LazyLock<Script> = script!("lua/webhook_progress.lua");
static ERASE: LazyLock<Script> = script!("lua/erase.lua");
static APPEAL: LazyLock<Script> = script!("lua/appeal.lua");
static AUDIT_APPEND: LazyLock<Script> = script!("lua/audit_append.lua");

mod webhooks;

/// One connection handle for both deployments; cheap to clone (both variants are shared handles).
#[derive(Clone)]
pub enum Conn {
    /// Standalone Redis.
    Single(ConnectionManager),
    /// Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// With `store.replica_ack` on: a connection that sends each script call (`EVALSHA`/`EVAL`) in one pipeline with
/// `WAIT 1 <ms>` behind it, over one connection to one node (standalone: the shared connection; Cluster: the
/// master of the script's first key's slot), and keeps the WAIT's answer. Sent separately, the WAIT could go out
/// on a connection reopened in between, which has no write of its own to wait for and answers at once. Other
/// commands (`SCRIPT LOAD` after a `NOSCRIPT`) pass through.
struct AckedConn {
    conn: Conn,
    ack_ms: u64,
    /// Replicas that acknowledged the last script call; None until one succeeded.
    replicas: Option<i64>,
}

/// The first key of a script call, or None for any other command.
fn script_first_key(cmd: &Cmd) -> Option<Vec<u8>> {
    let mut args = cmd.args_iter().map(|a| match a {
        redis::Arg::Simple(b) => b,
        _ => &[][..],
    });
    let name = args.next()?;
    if !(name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL")) {
        return None;
    }
    let _script = args.next();
    match args.next()? {
        b"0" => Some(Vec::new()),
        _ => args.next().map(<[u8]>::to_vec),
    }
}

impl ConnectionLike for AckedConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let Some(key) = script_first_key(cmd) else {
            return self.conn.req_packed_command(cmd);
        };
        Box::pin(async move {
            use redis::cluster_routing::{Route, SingleNodeRoutingInfo, SlotAddr};
            let mut pipe = redis::pipe();
            pipe.add_command(cmd.clone())
                .cmd("WAIT")
                .arg(1)
                .arg(self.ack_ms);
            let mut out = match &mut self.conn {
                Conn::Single(c) => c.req_packed_commands(&pipe, 0, 2).await?,
                Conn::Cluster(c) => {
                    let route = SingleNodeRoutingInfo::SpecificNode(Route::with_key(
                        &key,
                        SlotAddr::Master,
                    ));
                    c.route_pipeline(pipe, 0, 2, route).await?
                }
            };
            let (Some(wait), Some(script)) = (out.pop(), out.pop()) else {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "a script call with WAIT got fewer than two answers",
                )));
            };
            let script = script.extract_error()?;
            self.replicas = Some(redis::from_redis_value::<i64>(wait.extract_error()?)?);
            Ok(script)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.conn.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// One URL for standalone Redis; several seed nodes (or one `redis+cluster://` URL) for Redis Cluster.
    pub urls: Vec<String>,
    /// Bound on every call, including connecting.
    pub timeout: Duration,
}

impl RedisSettings {
    /// True when these settings select Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.urls.len() > 1 || self.urls.iter().any(|u| u.starts_with("redis+cluster://"))
    }

    fn plain_urls(&self) -> Vec<String> {
        self.urls
            .iter()
            .map(|u| match u.strip_prefix("redis+cluster://") {
                Some(rest) => format!("redis://{rest}"),
                None => u.clone(),
            })
            .collect()
    }
}

/// The production store.
#[derive(Clone)]
pub struct RedisStore {
    /// The shared connection; on Cluster, replaced by a fresh one when the store stays unreachable (see
    /// [`ClusterRenewal`]).
    conn: Arc<std::sync::RwLock<Conn>>,
    /// On Cluster: how to open a fresh connection, and since when pings have failed.
    renewal: Option<Arc<ClusterRenewal>>,
    keys: Keys,
    timeout: Duration,
    kind: &'static str,
    /// `store.replica_ack`: after each write script, `WAIT 1 <ms>` on the node that ran it; zero: off.
    replica_ack: Duration,
}

/// TCP_NODELAY on: every call is one small request waiting for its answer, and Nagle's algorithm with delayed
/// ACKs would add ~40 ms to each.
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// A Cluster connection whose nodes all went away can stay broken after they are back: its background reconnection
/// backs off while they are down and its retries run out before it tries again. When the health watcher's pings
/// have failed for [`RENEW_AFTER`], each failing ping opens a fresh connection from the configured nodes (as at
/// startup) and, once it connects, every later call uses it.
struct ClusterRenewal {
    client: redis::cluster::ClusterClient,
    failing_since: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long pings fail before the Cluster connection is renewed.
const RENEW_AFTER: Duration = Duration::from_secs(2);

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl RedisStore {
    /// Connects (bounded by the timeout). Fails if Redis cannot be reached now; once connected, the store
    /// survives Redis restarts by reconnecting on its own.
    pub async fn connect(settings: &RedisSettings, keys: Keys) -> Result<Self, StoreError> {
        let t = settings.timeout;
        let ms = t.as_millis() as u64;
        let mut renewal = None;
        let (conn, kind) = if settings.is_cluster() {
            let client = redis::cluster::ClusterClientBuilder::new(settings.plain_urls())
                .tcp_settings(tcp_settings())
                .connection_timeout(t)
                .response_timeout(t)
                .retries(1)
                .build()
                .map_err(unavailable)?;
            let c = tokio::time::timeout(t * 4, client.get_async_connection())
                .await
                .map_err(|_| StoreError::Timeout(ms * 4))?
                .map_err(unavailable)?;
            renewal = Some(Arc::new(ClusterRenewal {
                client,
                failing_since: std::sync::Mutex::new(None),
            }));
            (Conn::Cluster(c), "redis-cluster")
        } else {
            let url =
                settings.plain_urls().into_iter().next().ok_or_else(|| {
                    StoreError::Unavailable("no redis url configured".to_string())
                })?;
            let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())
                .map_err(unavailable)?
                .set_tcp_settings(tcp_settings());
            let client = redis::Client::open(info).map_err(unavailable)?;
            let cfg = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(t))
                .set_response_timeout(Some(t))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            let c = tokio::time::timeout(t * 4, ConnectionManager::new_with_config(client, cfg))
                .await
                .map_err(|_| StoreError::Timeout(ms * 4))?
                .map_err(unavailable)?;
            (Conn::Single(c), "redis")
        };
        Ok(Self {
            conn: Arc::new(std::sync::RwLock::new(conn)),
            renewal,
            keys,
            timeout: t,
            kind,
            replica_ack: Duration::ZERO,
        })
    }

    /// After each write script, waits up to `ack` for one replica to acknowledge it (`WAIT 1 <ms>` in one pipeline
    /// with the script, on the node that ran it); a write no replica acknowledges in time is
    /// [`StoreError::NotReplicated`]. Zero turns it off. Keep `ack` under the timeout: a blocked `WAIT` holds back
    /// every call queued behind it on the shared connection.
    pub fn with_replica_ack(mut self, ack: Duration) -> Self {
        self.replica_ack = ack;
        self
    }

    /// The key builder in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A clone of the connection handle, for tests and tools that inspect Redis directly.
    pub fn connection(&self) -> Conn {
        self.conn()
    }

    /// The connection in use (a cheap clone of a shared handle).
    fn conn(&self) -> Conn {
        self.conn
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// After a ping: on Cluster, notes when pings started failing and, once they have failed for
    /// [`RENEW_AFTER`], opens a fresh connection (bounded by the timeout) and puts it in use.
    async fn after_ping(&self, ok: bool) {
        let Some(r) = &self.renewal else {
            return;
        };
        let since = {
            let mut f = r
                .failing_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if ok {
                *f = None;
                return;
            }
            *f.get_or_insert_with(std::time::Instant::now)
        };
        if since.elapsed() < RENEW_AFTER {
            return;
        }
        match tokio::time::timeout(self.timeout, r.client.get_async_connection()).await {
            Ok(Ok(fresh)) => {
                tracing::warn!(
                    "the Redis Cluster stayed unreachable: a fresh connection is in use"
                );
                *self
                    .conn
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Conn::Cluster(fresh);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "a fresh Cluster connection failed"),
            Err(_) => tracing::debug!("a fresh Cluster connection timed out"),
        }
    }

    /// Runs one write script under the timeout; with `store.replica_ack` on, in one pipeline with
    /// `WAIT 1 <replica_ack>` (see [`AckedConn`]): a write no replica acknowledged in time is
    /// [`StoreError::NotReplicated`].
    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        if self.replica_ack.is_zero() {
            return self.run_read(inv).await;
        }
        let ack_ms = self.replica_ack.as_millis() as u64;
        let mut conn = AckedConn {
            conn: self.conn(),
            ack_ms,
            replicas: None,
        };
        let budget = self.timeout + self.replica_ack;
        let out = match tokio::time::timeout(budget, inv.invoke_async(&mut conn)).await {
            Ok(r) => r.map_err(unavailable)?,
            Err(_) => return Err(StoreError::Timeout(budget.as_millis() as u64)),
        };
        match conn.replicas {
            Some(n) if n >= 1 => Ok(out),
            _ => Err(StoreError::NotReplicated(ack_ms)),
        }
    }

    /// Runs one script under the timeout without waiting for a replica (for scripts that write nothing, and
    /// every script when `store.replica_ack` is off).
    async fn run_read<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(StoreError::Timeout(self.timeout.as_millis() as u64)),
        }
    }
}

impl RedisStore {
    /// Runs a command or pipeline under the timeout.
    async fn query<T: redis::FromRedisValue>(
        &self,
        f: impl FnOnce(
            &mut Conn,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = redis::RedisResult<T>> + Send + '_>,
        >,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        match tokio::time::timeout(self.timeout, f(&mut conn)).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(StoreError::Timeout(self.timeout.as_millis() as u64)),
        }
    }
}

impl RedisStore {
    /// Runs lease.lua's `op` (`extend` or `release`) on one claimed comment.
    async fn lease_op(
        &self,
        site: &str,
        comment_id: &str,
        token: &str,
        op: &str,
        lease_ms: u64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut inv = LEASE.prepare_invoke();
        inv.key(self.keys.comment(site, comment_id))
            .key(self.keys.pending(site))
            .key(self.keys.claims(site))
            .arg(comment_id)
            .arg(token)
            .arg(op)
            .arg(lease_ms);
        self.run(inv).await
    }

    /// Up to `max` stream entries of `key` from `start` (an XRANGE start: `-`, an id, or `(id` to exclude it).
    async fn xrange(
        &self,
        key: String,
        start: String,
        max: usize,
    ) -> Result<redis::streams::StreamRangeReply, StoreError> {
        self.query(|c| {
            Box::pin(async move {
                redis::cmd("XRANGE")
                    .arg(&key)
                    .arg(&start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(max)
                    .query_async(c)
                    .await
            })
        })
        .await
    }
}

/// Redis Cluster health: a keyed read (`EXISTS` of a key of that range) to the master of every slot range as
/// `CLUSTER SLOTS` lists them, so a master that does not answer fails the probe, naming its slots, until its replica
/// has taken over. (A keyless `PING`, even routed to a slot, is answered by any connected node when the slot's
/// master is down, and went on answering PONG while one master was dead.)
async fn ping_every_slot_range(mut c: ClusterConnection) -> Result<(), StoreError> {
    let slots = c
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            redis::cluster_routing::RoutingInfo::SingleNode(
                redis::cluster_routing::SingleNodeRoutingInfo::Random,
            ),
        )
        .await
        .map_err(unavailable)?;
    let mut ranges = Vec::new();
    for range in array(&slots)? {
        if let [start, end, ..] = array(range)? {
            ranges.push((int(start)? as u16, int(end)? as u16));
        }
    }
    if ranges.is_empty() {
        return Err(StoreError::Unavailable(
            "the cluster serves no slots".into(),
        ));
    }
    let mut pings = tokio::task::JoinSet::new();
    for (start, end) in ranges {
        let mut c = c.clone();
        pings.spawn(async move {
            let key = key_in_slots(start, end);
            redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<i64>(&mut c)
                .await
                .err()
                .map(|e| (start, format!("slots {start}-{end}: {e}")))
        });
    }
    let mut failed: Vec<(u16, String)> = pings.join_all().await.into_iter().flatten().collect();
    failed.sort();
    if failed.is_empty() {
        Ok(())
    } else {
        let failed: Vec<String> = failed.into_iter().map(|(_, m)| m).collect();
        Err(StoreError::Unavailable(format!(
            "unreachable: {}",
            failed.join("; ")
        )))
    }
}

/// The hash slot of `key` (CRC16/XMODEM mod 16384; the key has no hash tag).
fn slot_of(key: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for b in key {
        crc ^= (*b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// A key (never written) whose slot lies in `start..=end`.
fn key_in_slots(start: u16, end: u16) -> String {
    (0u32..)
        .map(|n| format!("moderato-health-probe-{n}"))
        .find(|k| (start..=end).contains(&slot_of(k.as_bytes())))
        .unwrap_or_default()
}

fn corrupt(what: &str, v: &Value) -> StoreError {
    StoreError::Corrupt(format!("{what}: unexpected {v:?}"))
}

fn text(v: &Value) -> Result<String, StoreError> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).map_err(|_| corrupt("utf-8", v)),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(corrupt("string", other)),
    }
}

fn array(v: &Value) -> Result<&[Value], StoreError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(corrupt("array", other)),
    }
}

/// The automatic decision event of a new comment as JSON without `decided_ms`, the cursor and the closing brace:
/// submit.lua appends the store's time, so the script encodes no JSON.
fn automatic_event_head(r: &crate::review::CommentRecord) -> Result<String, StoreError> {
    #[derive(serde::Serialize)]
    struct Head<'a> {
        comment_id: &'a str,
        thread_id: &'a str,
        status: Status,
        kind: DecisionKind,
        actor: &'a str,
        label: &'a str,
        note: &'a str,
        policy_version: u64,
        model_version: &'a str,
        submitted_ms: u64,
    }
    let mut json = serde_json::to_string(&Head {
        comment_id: &r.comment_id,
        thread_id: &r.thread_id,
        status: r.initial_status,
        kind: DecisionKind::Automatic,
        actor: crate::review::AUTOMATIC_ACTOR,
        label: "",
        note: "",
        policy_version: r.policy_version,
        model_version: &r.model_version,
        submitted_ms: r.created_ms,
    })
    .map_err(|e| StoreError::Corrupt(format!("event encoding: {e}")))?;
    json.pop();
    Ok(json)
}

/// A comment from `HMGET <comment> data status e0` and `LRANGE <history> 0 -1`: the automatic decision is kept in
/// the comment hash (`e0`), later decisions in the history list. `None` when the comment has no record.
fn stored_comment(
    fields: &[Option<String>],
    hist: &[String],
) -> Result<Option<StoredComment>, StoreError> {
    let (Some(Some(data)), Some(Some(status))) = (fields.first(), fields.get(1)) else {
        return Ok(None);
    };
    Ok(Some(StoredComment {
        record: record_from_json(data)?,
        status: status_of(status)?,
        campaign: fields.get(3).cloned().flatten(),
        history: fields
            .get(2)
            .and_then(Option::as_deref)
            .into_iter()
            .chain(hist.iter().map(String::as_str))
            .map(event_from_json)
            .collect::<Result<_, _>>()?,
    }))
}

/// A comment under a lease from a script's reply (`claim.lua`, `take_over.lua`): its record, status and history
/// (the automatic decision first) as the script read them.
fn claimed(
    token: String,
    until: &Value,
    data: &Value,
    status: &Value,
    hist: &Value,
    campaign: &Value,
) -> Result<Claimed, StoreError> {
    Ok(Claimed {
        comment: StoredComment {
            record: record_from_json(&text(data)?)?,
            status: status_of(&text(status)?)?,
            campaign: Some(text(campaign)?).filter(|c| !c.is_empty()),
            history: array(hist)?
                .iter()
                .map(|h| event_from_json(&text(h)?))
                .collect::<Result<_, _>>()?,
        },
        lease_token: token,
        lease_until_ms: int(until)? as u64,
    })
}

fn event_from_json(json: &str) -> Result<Event, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("event {json:?}: {e}")))
}

fn record_from_json(json: &str) -> Result<crate::review::CommentRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("comment record: {e}")))
}

fn status_of(s: &str) -> Result<Status, StoreError> {
    Status::parse(s).ok_or_else(|| StoreError::Corrupt(format!("status {s:?}")))
}

/// An XRANGE start that excludes `after` (empty: from the start).
fn range_start(after: &str) -> String {
    if after.is_empty() {
        "-".to_string()
    } else {
        format!("({after}")
    }
}

fn int(v: &Value) -> Result<i64, StoreError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(StoreError::Corrupt(format!(
            "expected integer, got {other:?}"
        ))),
    }
}

fn ints(v: &Value) -> Result<Vec<i64>, StoreError> {
    match v {
        Value::Array(items) => items.iter().map(int).collect(),
        other => Err(StoreError::Corrupt(format!(
            "expected array, got {other:?}"
        ))),
    }
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        if let Conn::Cluster(c) = &conn {
            let r = match tokio::time::timeout(self.timeout, ping_every_slot_range(c.clone())).await
            {
                Ok(r) => r,
                Err(_) => Err(StoreError::Timeout(self.timeout.as_millis() as u64)),
            };
            self.after_ping(r.is_ok()).await;
            return r;
        }
        let cmd = redis::cmd("PING");
        match tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut conn)).await {
            Ok(r) => r.map(|_| ()).map_err(unavailable),
            Err(_) => Err(StoreError::Timeout(self.timeout.as_millis() as u64)),
        }
    }

    async fn create_challenge(&self, c: NewChallenge<'_>) -> Result<CreateOutcome, StoreError> {
        let mut inv = CREATE_CHALLENGE.prepare_invoke();
        inv.key(self.keys.challenge(c.site, c.id))
            .key(self.keys.challenges_of_client(c.site, c.client))
            .key(&c.create_limit.key)
            .arg(c.id)
            .arg(c.answer_hash)
            .arg(c.ttl_ms)
            .arg(c.max_live)
            .arg(c.create_limit.emission_ms)
            .arg(c.create_limit.tolerance_ms)
            .arg(EXPIRED_CHALLENGE_MEMORY_MS);
        let r: Vec<i64> = self.run(inv).await?;
        match r.as_slice() {
            [1, exp] => Ok(CreateOutcome::Created {
                expires_at_ms: *exp as u64,
            }),
            [0, wait] => Ok(CreateOutcome::RateLimited {
                retry_after_ms: *wait as u64,
            }),
            [-1, wait] => Ok(CreateOutcome::TooManyLive {
                retry_after_ms: *wait as u64,
            }),
            other => Err(StoreError::Corrupt(format!(
                "create_challenge returned {other:?}"
            ))),
        }
    }

    async fn take_challenge(
        &self,
        site: &str,
        challenge_id: &str,
    ) -> Result<TakenChallenge, StoreError> {
        let mut inv = TAKE_CHALLENGE.prepare_invoke();
        inv.key(self.keys.challenge(site, challenge_id));
        let (state, hash): (i64, String) = self.run(inv).await?;
        Ok(match state {
            1 => TakenChallenge::Live { answer_hash: hash },
            2 => TakenChallenge::Expired,
            _ => TakenChallenge::Unknown,
        })
    }

    async fn charge_limits(&self, checks: &[LimitCheck]) -> Result<LimitVerdict, StoreError> {
        if checks.is_empty() {
            return Ok(LimitVerdict {
                allowed: true,
                refused: Vec::new(),
                shadow_hits: Vec::new(),
            });
        }
        let mut inv = CHARGE_LIMITS.prepare_invoke();
        for c in checks {
            inv.key(&c.key)
                .arg(c.emission_ms)
                .arg(c.tolerance_ms)
                .arg(if c.shadow { "1" } else { "0" });
        }
        let v: Value = self.run(inv).await?;
        let Value::Array(parts) = v else {
            return Err(StoreError::Corrupt(format!("charge_limits returned {v:?}")));
        };
        let [allowed, refused, shadow] = parts.as_slice() else {
            return Err(StoreError::Corrupt("charge_limits: wrong arity".into()));
        };
        let refused = ints(refused)?;
        Ok(LimitVerdict {
            allowed: int(allowed)? == 1,
            refused: refused
                .chunks_exact(2)
                .map(|p| (p[0] as usize, p[1] as u64))
                .collect(),
            shadow_hits: ints(shadow)?.into_iter().map(|i| i as usize).collect(),
        })
    }

    async fn admit(&self, a: Admit<'_>) -> Result<Admission, StoreError> {
        let site = a.record.site.as_str();
        let id = a.record.comment_id.as_str();
        let record_json = serde_json::to_string(a.record)
            .map_err(|e| StoreError::Corrupt(format!("record encoding: {e}")))?;
        let mut inv = SUBMIT.prepare_invoke();
        let (captcha_key, mode, hash) = match a.captcha {
            Some((cid, hash)) => (self.keys.challenge(site, cid), "1", hash),
            None => (self.keys.challenge(site, "none"), "0", ""),
        };
        inv.key(self.keys.idempotency(site, a.idempotency_key))
            .key(captcha_key)
            .key(self.keys.comment(site, id))
            .key(self.keys.pending(site))
            .key(self.keys.queued(site))
            .key(self.keys.decisions(site));
        for l in a.limits {
            inv.key(&l.key);
        }
        inv.arg(mode)
            .arg(hash)
            .arg(record_json)
            .arg(a.record.initial_status.as_str())
            .arg(a.response)
            .arg(a.retention_ms)
            .arg(a.idempotency_ttl_ms)
            .arg(id)
            .arg(automatic_event_head(a.record)?)
            .arg(STREAM_MAXLEN);
        for l in a.limits {
            inv.arg(l.emission_ms)
                .arg(l.tolerance_ms)
                .arg(if l.shadow { "1" } else { "0" });
        }
        match &a.campaign {
            None => {
                inv.arg(0);
            }
            Some(c) => {
                inv.arg(c.bands.len());
                for b in c.bands {
                    inv.arg(b);
                }
                inv.arg(self.keys.comment_prefix(site))
                    .arg(c.signature)
                    .arg(c.author)
                    .arg(c.window_ms)
                    .arg(c.min_agree)
                    .arg(c.min_authors)
                    .arg(super::campaign_band_keep(c.min_authors))
                    .arg(self.keys.campaign_prefix(site))
                    .arg(super::CAMPAIGN_MEMBERS_CAP)
                    .arg(self.keys.campaign_sketch(site))
                    .arg(super::CAMPAIGN_SKETCH_FIELDS);
                match c.alternate {
                    Some((record, response)) => {
                        let json = serde_json::to_string(record)
                            .map_err(|e| StoreError::Corrupt(format!("record encoding: {e}")))?;
                        inv.arg(record.initial_status.as_str())
                            .arg(json)
                            .arg(response)
                            .arg(automatic_event_head(record)?);
                    }
                    None => {
                        inv.arg("").arg("").arg("").arg("");
                    }
                }
            }
        }
        inv.arg(a.idempotency_key)
            .arg(self.keys.author_index_prefix(site));
        for h in a.authors {
            inv.arg(h);
        }
        inv.arg(a.authors.len());
        let v: Value = self.run(inv).await?;
        let parts = array(&v)?;
        let code = parts.first().map(int).transpose()?.unwrap_or(0);
        Ok(match (code, parts) {
            (1, [_, cursor, shadow, campaign]) => Admission::Recorded {
                cursor: text(cursor)?,
                shadow_hits: ints(shadow)?.into_iter().map(|i| i as usize).collect(),
                campaign: Some(text(campaign)?).filter(|c| !c.is_empty()),
            },
            (2, [_, response]) => Admission::Replayed {
                response: text(response)?,
            },
            (3, [_, refused, shadow]) => Admission::RateLimited(LimitVerdict {
                allowed: false,
                refused: ints(refused)?
                    .chunks_exact(2)
                    .map(|p| (p[0] as usize, p[1] as u64))
                    .collect(),
                shadow_hits: ints(shadow)?.into_iter().map(|i| i as usize).collect(),
            }),
            (4, _) => Admission::CaptchaInvalid,
            (5, _) => Admission::CaptchaExpired,
            _ => return Err(corrupt("submit", &v)),
        })
    }

    async fn get_comment(
        &self,
        site: &str,
        comment_id: &str,
    ) -> Result<Option<StoredComment>, StoreError> {
        let ck = self.keys.comment(site, comment_id);
        let hk = self.keys.history(site, comment_id);
        let (fields, hist): (Vec<Option<String>>, Vec<String>) = self
            .query(|c| {
                Box::pin(async move {
                    redis::pipe()
                        .atomic()
                        .cmd("HMGET")
                        .arg(&ck)
                        .arg("data")
                        .arg("status")
                        .arg("e0")
                        .arg("campaign")
                        .cmd("LRANGE")
                        .arg(&hk)
                        .arg(0)
                        .arg(-1)
                        .query_async(c)
                        .await
                })
            })
            .await?;
        stored_comment(&fields, &hist)
    }

    async fn read_decisions(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.xrange(self.keys.decisions(site), range_start(after), max)
            .await?
            .ids
            .iter()
            .map(|entry| {
                let json: String = entry
                    .get("e")
                    .ok_or_else(|| StoreError::Corrupt("decision without event".into()))?;
                let mut e = event_from_json(&json)?;
                e.cursor = entry.id.clone();
                Ok(e)
            })
            .collect()
    }

    async fn claim(
        &self,
        site: &str,
        lease_ms: u64,
        moderator: &str,
        tokens: &[String],
    ) -> Result<(Vec<Claimed>, u64), StoreError> {
        let mut inv = CLAIM.prepare_invoke();
        inv.key(self.keys.pending(site))
            .key(self.keys.claims(site))
            .key(self.keys.counters(site))
            .arg(tokens.len())
            .arg(lease_ms)
            .arg(moderator)
            .arg(self.keys.comment_prefix(site))
            .arg(self.keys.history_prefix(site));
        for t in tokens {
            inv.arg(t);
        }
        inv.arg(super::APPEAL_SKIP_WINDOW);
        let v: Value = self.run(inv).await?;
        let parts = array(&v)?;
        let [expired, items] = parts else {
            return Err(corrupt("claim", &v));
        };
        let mut out = Vec::new();
        for item in array(items)? {
            let [_, token, until, data, status, hist, campaign] = array(item)? else {
                return Err(corrupt("claim item", item));
            };
            out.push(claimed(text(token)?, until, data, status, hist, campaign)?);
        }
        Ok((out, int(expired)? as u64))
    }

    async fn extend_lease(
        &self,
        site: &str,
        comment_id: &str,
        token: &str,
        lease_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        let r = self
            .lease_op(site, comment_id, token, "extend", lease_ms)
            .await?;
        Ok(match r.as_slice() {
            [1, until] => Some(*until as u64),
            _ => None,
        })
    }

    async fn release(&self, site: &str, comment_id: &str, token: &str) -> Result<bool, StoreError> {
        let r = self.lease_op(site, comment_id, token, "release", 0).await?;
        Ok(r.first() == Some(&1))
    }

    async fn decide(&self, d: Decide<'_>) -> Result<Decided, StoreError> {
        let mut inv = DECIDE.prepare_invoke();
        let fence = match d.kind {
            DecisionKind::Review => d.lease_token,
            _ => d.expected.as_str(),
        };
        inv.key(self.keys.comment(d.site, d.comment_id))
            .key(self.keys.history(d.site, d.comment_id))
            .key(self.keys.claims(d.site))
            .key(self.keys.queued(d.site))
            .key(self.keys.decisions(d.site))
            .key(self.keys.labels(d.site))
            .key(self.keys.audit(d.site))
            .key(self.keys.human_decisions(d.site))
            .key(self.keys.pending(d.site))
            .key(self.keys.counters(d.site))
            .arg(d.comment_id)
            .arg(d.kind.as_str())
            .arg(fence)
            .arg(d.new_status.as_str())
            .arg(d.actor)
            .arg(d.label.as_str())
            .arg(d.note)
            .arg(STREAM_MAXLEN)
            .arg(d.site)
            .arg(AUDIT_MAXLEN)
            .arg(self.keys.author_index_prefix(d.site));
        let v: Value = self.run(inv).await?;
        let parts = array(&v)?;
        Ok(match parts {
            [code, json] if int(code)? == 1 => Decided::Done(event_from_json(&text(json)?)?),
            [code] if int(code)? == 0 => Decided::Conflict,
            [code] if int(code)? == -1 => Decided::NotFound,
            _ => return Err(corrupt("decide", &v)),
        })
    }

    async fn queue_stats(&self, site: &str) -> Result<QueueStats, StoreError> {
        let mut inv = QUEUE_STATS.prepare_invoke();
        inv.key(self.keys.pending(site))
            .key(self.keys.claims(site))
            .key(self.keys.queued(site))
            .key(self.keys.human_decisions(site));
        let r: Vec<i64> = self.run_read(inv).await?;
        let head: Option<[i64; 3]> = r.get(..3).and_then(|h| h.try_into().ok());
        let hours: Option<[i64; crate::review::HOURS_CHARTED]> =
            r.get(3..).and_then(|h| h.try_into().ok());
        let (Some([depth, claimed, age]), Some(by_hour)) = (head, hours) else {
            return Err(StoreError::Corrupt(format!("queue_stats returned {r:?}")));
        };
        let by_hour = by_hour.map(|n| n.max(0) as u64);
        Ok(QueueStats {
            depth: depth as u64,
            claimed: claimed as u64,
            oldest_pending_age_ms: age as u64,
            decisions_last_hour: by_hour[crate::review::HOURS_CHARTED - 1],
            decisions_by_hour: by_hour,
        })
    }

    async fn labels(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<(String, LabelRow)>, StoreError> {
        self.xrange(self.keys.labels(site), range_start(after), max)
            .await?
            .ids
            .iter()
            .map(|e| {
                let get = |f: &str| -> Result<String, StoreError> {
                    e.get(f)
                        .ok_or_else(|| StoreError::Corrupt(format!("label without {f}")))
                };
                let label = get("label")?;
                Ok((
                    e.id.clone(),
                    LabelRow {
                        comment_id: get("id")?,
                        text: get("text")?,
                        label: Label::parse(&label)
                            .ok_or_else(|| StoreError::Corrupt(format!("label {label:?}")))?,
                        by: get("by")?,
                        at_ms: get("at")?.parse().unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    async fn get_doc(&self, scope: &str, name: &str) -> Result<Option<(u64, String)>, StoreError> {
        let key = self.keys.doc(scope, name);
        let (v, doc): (Option<u64>, Option<String>) = self
            .query(|c| {
                Box::pin(async move {
                    redis::cmd("HMGET")
                        .arg(&key)
                        .arg("v")
                        .arg("doc")
                        .query_async(c)
                        .await
                })
            })
            .await?;
        Ok(v.zip(doc))
    }

    async fn put_doc(
        &self,
        scope: &str,
        name: &str,
        expected: u64,
        doc: &str,
        who: &str,
        note: AuditNote<'_>,
    ) -> Result<Result<u64, u64>, StoreError> {
        let mut inv = PUT_DOC.prepare_invoke();
        inv.key(self.keys.doc(scope, name))
            .key(self.keys.audit(scope))
            .arg(expected)
            .arg(doc)
            .arg(who)
            .arg(note.action)
            .arg(note.site)
            .arg(note.detail)
            .arg(AUDIT_MAXLEN);
        let r: Vec<i64> = self.run(inv).await?;
        let outcome = match r.as_slice() {
            [1, v] => Ok(*v as u64),
            [0, v] => Err(*v as u64),
            _ => return Err(StoreError::Corrupt(format!("put_doc returned {r:?}"))),
        };
        if outcome.is_ok() {
            // A separate slot from the document in Redis Cluster, hence a second call; replicas also re-read
            // periodically, so a bump lost to a crash right here only delays them.
            let key = self.keys.epoch();
            let _: i64 = self
                .query(|c| {
                    Box::pin(async move { redis::cmd("INCR").arg(&key).query_async(c).await })
                })
                .await?;
        }
        Ok(outcome)
    }

    async fn epoch(&self) -> Result<u64, StoreError> {
        let key = self.keys.epoch();
        let v: Option<u64> = self
            .query(|c| Box::pin(async move { redis::cmd("GET").arg(&key).query_async(c).await }))
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn recent(
        &self,
        site: &str,
        since_ms: u64,
        max: usize,
    ) -> Result<Vec<(crate::review::CommentRecord, Option<Label>)>, StoreError> {
        // Automatic decisions in the stream mark every submission; stream ids start with the store's ms.
        let mut out = Vec::new();
        let mut start = format!("{since_ms}-0");
        while out.len() < max {
            let reply = self
                .xrange(self.keys.decisions(site), start.clone(), 500)
                .await?;
            let Some(last) = reply.ids.last() else { break };
            start = format!("({}", last.id);
            let ids: Vec<String> = reply
                .ids
                .iter()
                .filter_map(|e| e.get::<String>("e"))
                .filter_map(|json| event_from_json(&json).ok())
                .filter(|e| e.kind == DecisionKind::Automatic)
                .map(|e| e.comment_id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HMGET")
                    .arg(self.keys.comment(site, id))
                    .arg("data")
                    .arg("label");
            }
            let rows: Vec<(Option<String>, Option<String>)> = self
                .query(|c| Box::pin(async move { pipe.query_async(c).await }))
                .await?;
            for (data, label) in rows {
                let Some(data) = data else { continue };
                out.push((
                    record_from_json(&data)?,
                    label.as_deref().and_then(Label::parse),
                ));
                if out.len() >= max {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn label_count(&self, site: &str) -> Result<u64, StoreError> {
        let stream = self.keys.labels(site);
        let counters = self.keys.counters(site);
        // decide.lua counts a label row that replaces a comment's earlier label as a relabel.
        let (rows, relabels): (u64, Option<u64>) = self
            .query(|c| {
                Box::pin(async move {
                    redis::pipe()
                        .atomic()
                        .cmd("XLEN")
                        .arg(&stream)
                        .cmd("HGET")
                        .arg(&counters)
                        .arg("relabels")
                        .query_async(c)
                        .await
                })
            })
            .await?;
        Ok(rows.saturating_sub(relabels.unwrap_or(0)))
    }

    async fn take_over(
        &self,
        site: &str,
        comment_id: &str,
        lease_ms: u64,
        moderator: &str,
        token: &str,
        note: &str,
    ) -> Result<TakenOver, StoreError> {
        let mut inv = TAKE_OVER.prepare_invoke();
        inv.key(self.keys.comment(site, comment_id))
            .key(self.keys.pending(site))
            .key(self.keys.claims(site))
            .key(self.keys.history(site, comment_id))
            .key(self.keys.audit(site))
            .arg(comment_id)
            .arg(token)
            .arg(lease_ms)
            .arg(moderator)
            .arg(note)
            .arg(site)
            .arg(AUDIT_MAXLEN);
        let v: Value = self.run(inv).await?;
        let parts = array(&v)?;
        Ok(match parts {
            [code, from, until, data, status, hist, campaign] if int(code)? == 1 => {
                TakenOver::Done {
                    claimed: Box::new(claimed(
                        token.to_string(),
                        until,
                        data,
                        status,
                        hist,
                        campaign,
                    )?),
                    from: text(from)?,
                }
            }
            [code, status] if int(code)? == 0 => TakenOver::NotHeld(status_of(&text(status)?)?),
            [code] if int(code)? == 2 => TakenOver::AppealedAgainst,
            [code] if int(code)? == -1 => TakenOver::NotFound,
            _ => return Err(corrupt("take_over", &v)),
        })
    }

    async fn audit(
        &self,
        scope: &str,
        after: &str,
        since_ms: u64,
        until_ms: u64,
        max: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if until_ms == 0 || until_ms <= since_ms {
            return Ok(Vec::new());
        }
        let start = if after.is_empty() {
            format!("{since_ms}-0")
        } else {
            format!("({after}")
        };
        let end = if until_ms >= u64::MAX - AUDIT_TIME_SLACK_MS {
            "+".to_string()
        } else {
            // An id without a sequence number as the end means "every sequence of that ms".
            (until_ms - 1 + AUDIT_TIME_SLACK_MS).to_string()
        };
        let key = self.keys.audit(scope);
        let reply: redis::streams::StreamRangeReply = self
            .query(|c| {
                Box::pin(async move {
                    redis::cmd("XRANGE")
                        .arg(&key)
                        .arg(&start)
                        .arg(&end)
                        .arg("COUNT")
                        .arg(max)
                        .query_async(c)
                        .await
                })
            })
            .await?;
        Ok(reply
            .ids
            .iter()
            .map(|e| {
                let get = |f: &str| e.get::<String>(f).unwrap_or_default();
                let site = match get("site") {
                    s if s.is_empty() => scope.to_string(),
                    s => s,
                };
                AuditEntry {
                    cursor: e.id.clone(),
                    scope: scope.to_string(),
                    site,
                    at_ms: get("at").parse().unwrap_or(0),
                    actor: get("who"),
                    action: get("what"),
                    comment_id: get("comment"),
                    before: get("before"),
                    after: get("after"),
                    label: get("label"),
                    note: get("why"),
                    detail: get("detail"),
                }
            })
            .collect())
    }

    async fn put_session(
        &self,
        session_id: &str,
        doc: &str,
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        let key = self.keys.session(session_id);
        let doc = doc.to_string();
        let ttl = ttl_ms.max(1);
        self.query::<()>(|c| {
            Box::pin(async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&doc)
                    .arg("PX")
                    .arg(ttl)
                    .query_async(c)
                    .await
            })
        })
        .await
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.session(session_id);
        self.query(|c| Box::pin(async move { redis::cmd("GET").arg(&key).query_async(c).await }))
            .await
    }

    async fn delete_session(&self, session_id: &str) -> Result<bool, StoreError> {
        let key = self.keys.session(session_id);
        let n: u64 = self
            .query(|c| Box::pin(async move { redis::cmd("DEL").arg(&key).query_async(c).await }))
            .await?;
        Ok(n > 0)
    }

    async fn register_site(&self, site: &str) -> Result<(), StoreError> {
        self.do_register_site(site).await
    }

    async fn sites(&self) -> Result<Vec<String>, StoreError> {
        self.do_sites().await
    }

    async fn author_comments(
        &self,
        site: &str,
        author: &str,
        offset: usize,
        max: usize,
    ) -> Result<Vec<(String, Option<StoredComment>)>, StoreError> {
        self.do_author_comments(site, author, offset, max).await
    }

    async fn author_statuses(
        &self,
        site: &str,
        author: &str,
        max: usize,
    ) -> Result<Vec<super::IndexedStatus>, StoreError> {
        self.do_author_statuses(site, author, max).await
    }

    async fn erase(&self, e: super::Erase<'_>) -> Result<u64, StoreError> {
        self.do_erase(e).await
    }

    async fn campaign(&self, site: &str, campaign_id: &str) -> Result<Vec<String>, StoreError> {
        let key = self.keys.campaign(site, campaign_id);
        self.query(|c| {
            Box::pin(async move {
                redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(c)
                    .await
            })
        })
        .await
    }

    async fn append_audit(&self, scope: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        self.do_append_audit(scope, entry).await
    }

    async fn appeal(
        &self,
        site: &str,
        comment_id: &str,
        expected: Status,
        message: &str,
        who: &str,
    ) -> Result<super::Appealed, StoreError> {
        self.do_appeal(site, comment_id, expected, message, who)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_redis_cluster_slots() {
        // CRC16/XMODEM's check value, and slots Redis' CLUSTER KEYSLOT gives.
        assert_eq!(slot_of(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        for (start, end) in [(0, 0), (5461, 10922), (16383, 16383)] {
            let s = slot_of(key_in_slots(start, end).as_bytes());
            assert!((start..=end).contains(&s));
        }
    }
}
