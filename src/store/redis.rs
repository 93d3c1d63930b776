//! The Redis store: standalone Redis through one shared multiplexed connection (a `ConnectionManager` that
//! reconnects by itself), or Redis Cluster through the async cluster connection, behind one code path.
//! Every call is bounded by the configured timeout, so a dead Redis gives UNAVAILABLE quickly, never a hang.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};

use super::{
    CreateOutcome, EXPIRED_CHALLENGE_MEMORY_MS, Keys, LimitCheck, LimitVerdict, NewChallenge,
    Store, StoreError, TakenChallenge,
};

static CHARGE_LIMITS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/charge_limits.lua")));
static CREATE_CHALLENGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/create_challenge.lua")));
static TAKE_CHALLENGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/take_challenge.lua")));

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
    conn: Conn,
    keys: Keys,
    timeout: Duration,
    kind: &'static str,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl RedisStore {
    /// Connects (bounded by the timeout). Fails if Redis cannot be reached now; once connected, the store
    /// survives Redis restarts by reconnecting on its own.
    pub async fn connect(settings: &RedisSettings, keys: Keys) -> Result<Self, StoreError> {
        let t = settings.timeout;
        let ms = t.as_millis() as u64;
        let (conn, kind) = if settings.is_cluster() {
            let client = redis::cluster::ClusterClientBuilder::new(settings.plain_urls())
                .connection_timeout(t)
                .response_timeout(t)
                .retries(1)
                .build()
                .map_err(unavailable)?;
            let c = tokio::time::timeout(t * 4, client.get_async_connection())
                .await
                .map_err(|_| StoreError::Timeout(ms * 4))?
                .map_err(unavailable)?;
            (Conn::Cluster(c), "redis-cluster")
        } else {
            let url =
                settings.plain_urls().into_iter().next().ok_or_else(|| {
                    StoreError::Unavailable("no redis url configured".to_string())
                })?;
            let client = redis::Client::open(url).map_err(unavailable)?;
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
            conn,
            keys,
            timeout: t,
            kind,
        })
    }

    /// The key builder in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A clone of the connection handle, for tests and tools that inspect Redis directly.
    pub fn connection(&self) -> Conn {
        self.conn.clone()
    }

    /// Runs one script invocation under the timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(StoreError::Timeout(self.timeout.as_millis() as u64)),
        }
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
        let mut conn = self.conn.clone();
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
}
