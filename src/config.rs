//! Layered configuration: built-in defaults, then an optional TOML file, then `MODERATO__SECTION__KEY`
//! environment variables, then command-line flags; validated once at load with every problem named.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::rate_limit::{Descriptor, LimitRule};

/// A value that never prints: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything `moderato serve` needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listeners, shutdown and logs.
    pub server: ServerConfig,
    /// Which store, and how to reach it.
    pub store: StoreConfig,
    /// Bearer tokens by role.
    pub auth: AuthConfig,
    /// Captcha challenges.
    pub captcha: CaptchaConfig,
    /// Submission rate limits of every site (per-site editing comes with the policy).
    pub rate_limits: Vec<LimitRule>,
    /// Prefix length used to group IPv6 clients (64 = per /64).
    pub ipv6_prefix_len: u8,
    /// How comments are decided (every site, until per-site policies exist).
    pub policy: crate::policy::document::Policy,
    /// Directory of the classifier model artifact; empty uses the shipped `models/default`.
    pub model_dir: String,
    /// Key for the keyed hashes (HMAC-SHA256) that stand in for IPs, phones and names in store keys.
    /// Replicas sharing a Redis must share it. Empty: a random key for this run (limits reset on restart).
    pub identifier_hmac_key: Secret,
    /// Webhook delivery (the URL and secret of each site are set through AdminService).
    pub webhooks: WebhooksConfig,
}

/// Webhook delivery: retries, bounds and the per-site lease.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// How long an event is retried after its first failure before it is dead-lettered, ms.
    pub retry_for_ms: u64,
    /// The first retry's delay, ms; each further one doubles (with jitter) up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// The longest delay between two attempts, ms.
    pub max_backoff_ms: u64,
    /// Bound on one attempt (connect, TLS, request, answer), ms.
    pub timeout_ms: u64,
    /// The per-site delivery lease, ms (one replica delivers a site at a time); more than `timeout_ms`.
    pub lease_ms: u64,
}

impl WebhooksConfig {
    /// The delivery settings these values give.
    pub fn settings(&self) -> crate::webhook::Settings {
        use std::time::Duration;
        crate::webhook::Settings {
            retry_for: Duration::from_millis(self.retry_for_ms),
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            lease: Duration::from_millis(self.lease_ms),
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            retry_for_ms: 86_400_000,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 600_000,
            timeout_ms: 10_000,
            lease_ms: 30_000,
        }
    }
}

/// Listeners, shutdown and logs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC listen address (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Prometheus `/metrics` listen address; empty disables it.
    pub metrics_listen: String,
    /// HTTP listen address of the JSON API (and the web console); empty disables it.
    pub http_listen: String,
    /// The web console's time zone, as minutes east of UTC (420: Vietnam, UTC+7, which keeps no daylight saving
    /// time): times are shown in it and the browse date filter's days start at its midnight.
    pub console_utc_offset_minutes: i32,
    /// How long in-flight calls may take to finish after SIGINT/SIGTERM.
    pub shutdown_grace_ms: u64,
    /// `text` (human-readable) or `json` logs.
    pub log_format: String,
    /// How often the store's health is probed.
    pub health_interval_ms: u64,
    /// PEM certificate chain of the gRPC listener; with `tls_key`, the listener speaks TLS only.
    pub tls_cert: String,
    /// PEM private key matching `tls_cert`.
    pub tls_key: String,
    /// PEM CA certificate(s): when set, clients must present a certificate signed by one of them (mTLS).
    pub tls_client_ca: String,
    /// A connection that has not sent its first request's headers this long after it was accepted (TLS
    /// handshake and HTTP/2 preface included) is closed.
    pub handshake_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout_ms: u64,
    /// HTTP/2 PING sent after this long without frames from the client; 0 disables.
    pub keepalive_interval_ms: u64,
    /// A PING not answered within this long closes the connection.
    pub keepalive_timeout_ms: u64,
    /// Concurrent requests (HTTP/2 streams) per connection.
    pub max_concurrent_streams: u32,
    /// Open client connections; further clients wait in the listen backlog until one closes.
    pub max_connections: u32,
}

/// Which store, and how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Empty: the embedded memory store. One URL: standalone Redis. Several seed URLs, or one
    /// `redis+cluster://host:port` URL: Redis Cluster.
    pub redis_urls: Vec<String>,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Bound on every Redis call, in ms.
    pub timeout_ms: u64,
    /// After each write, wait up to this many ms for one replica to acknowledge it (`WAIT 1 <ms>`); a write no
    /// replica acknowledges in time is answered UNAVAILABLE. 0 (the default): off.
    pub replica_ack: u64,
}

/// Bearer tokens by role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Configured tokens, stored as SHA-256 hashes (`moderato token hash` makes one).
    pub tokens: Vec<crate::auth::TokenConfig>,
    /// With no tokens configured: true generates one token per role for this run and prints them;
    /// false refuses to start.
    pub generate_when_empty: bool,
}

/// Captcha challenges (per-site overrides come with the policy).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CaptchaConfig {
    /// Whether SubmitComment requires a solved challenge.
    pub required: bool,
    /// Characters per challenge (4-8).
    pub length: u32,
    /// Distortion 1-3.
    pub difficulty: u32,
    /// Lifetime of a challenge in seconds.
    pub ttl_seconds: u32,
    /// Live challenges one client may hold.
    pub max_live_per_client: u32,
    /// Challenge creation limit per client.
    pub create_limit: LimitRule,
    /// Test only: every new challenge's answer is sent back (HTTP header and gRPC metadata
    /// `x-moderato-test-captcha-answer`), so client examples can run unattended. Refused with a Redis store;
    /// logged as a warning when on.
    pub test_answer_header: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            auth: AuthConfig::default(),
            captcha: CaptchaConfig::default(),
            rate_limits: vec![
                LimitRule::new(Descriptor::ClientIp, 10, 60, 5),
                LimitRule::new(Descriptor::Author, 5, 60, 3),
                LimitRule::new(Descriptor::Thread, 120, 60, 30),
                LimitRule::new(Descriptor::Site, 1200, 60, 200),
            ],
            ipv6_prefix_len: 64,
            policy: crate::policy::document::Policy::default(),
            model_dir: String::new(),
            identifier_hmac_key: Secret::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            metrics_listen: "127.0.0.1:9464".into(),
            http_listen: "127.0.0.1:8080".into(),
            console_utc_offset_minutes: 420,
            shutdown_grace_ms: 10_000,
            log_format: "text".into(),
            health_interval_ms: 1000,
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            max_concurrent_streams: 100,
            max_connections: 1_000,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            redis_urls: Vec::new(),
            key_prefix: "moderato:".into(),
            timeout_ms: 500,
            replica_ack: 0,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            generate_when_empty: true,
        }
    }
}

impl Default for CaptchaConfig {
    fn default() -> Self {
        Self {
            required: true,
            length: 5,
            difficulty: 2,
            ttl_seconds: 300,
            max_live_per_client: 20,
            create_limit: LimitRule::new(Descriptor::CaptchaClient, 30, 60, 10),
            test_answer_header: false,
        }
    }
}

/// Why a configuration was refused: every problem, one per line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file, an env variable or a flag is not valid TOML / not of the right shape.
    #[error("invalid configuration ({origin}): {message}")]
    Parse {
        /// Where the bad value came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Values of the right shape that are not acceptable.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Overrides from command-line flags, applied last.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<String>,
    /// `--http-listen`.
    pub http_listen: Option<String>,
    /// `--redis-url`, repeatable.
    pub redis_urls: Vec<String>,
    /// `--key-prefix`.
    pub key_prefix: Option<String>,
    /// `--log-json`.
    pub log_json: bool,
}

type Table = toml::map::Map<String, toml::Value>;

fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Parses an env value as a TOML value (number, bool, array, inline table), else takes it as a string.
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// The keys an element of the array at `path` may have, when the default array is empty.
fn empty_array_item_schema(path: &str) -> Option<Table> {
    let sample = match path {
        "auth.tokens" => toml::Value::try_from(crate::auth::TokenConfigExt::token_config(
            crate::auth::Role::Portal,
            "name",
            "token",
        )),
        _ => return None,
    };
    match sample {
        Ok(toml::Value::Table(t)) => Some(t),
        _ => None,
    }
}

/// Names every unknown key (`path: unknown key`) and every value of the wrong type in `user`, compared with the
/// defaults' shape, in `problems`; returns `user` without the unknown keys and with each wrong value replaced by
/// its default, so the rest can still be checked.
fn shape_check(user: Table, defaults: &Table, problems: &mut Vec<String>) -> Table {
    let mut cleaned = Table::new();
    strip_unknown(
        user,
        defaults,
        (defaults, Some(&[]), ""),
        problems,
        &mut cleaned,
    );
    let mut leaves = Vec::new();
    collect_leaves(&cleaned, defaults, &mut Vec::new(), &mut leaves);
    for (path, value) in leaves {
        let mut candidate = defaults.clone();
        set_path(&mut candidate, &path, value);
        if let Err(e) = toml::Value::Table(candidate).try_into::<Config>() {
            let message = e.message().trim().to_string();
            problems.push(format!("{}: {message}", path.join(".")));
            match get_path(defaults, &path) {
                Some(d) => set_path(&mut cleaned, &path, d.clone()),
                None => remove_path(&mut cleaned, &path),
            }
        }
    }
    cleaned
}

/// Where a table sits: its path from the root, or `None` inside an array.
type Segments<'a> = Option<&'a [String]>;

fn strip_unknown(
    user: Table,
    schema: &Table,
    at: (&Table, Segments<'_>, &str),
    problems: &mut Vec<String>,
    out: &mut Table,
) {
    let (root, segs, prefix) = at;
    for (k, v) in user {
        let path = format!("{prefix}{k}");
        let here = segs.map(|s| {
            let mut p = s.to_vec();
            p.push(k.clone());
            p
        });
        match (schema.get(&k), v) {
            (None, v) => {
                // A field the defaults do not show (one that serializes to nothing) is still known if the
                // configuration accepts it.
                let known = here.as_deref().is_some_and(|p| {
                    let mut candidate = root.clone();
                    set_path(&mut candidate, p, v.clone());
                    match toml::Value::Table(candidate).try_into::<Config>() {
                        Ok(_) => true,
                        Err(e) => !e.message().contains("unknown field"),
                    }
                });
                if known {
                    out.insert(k, v);
                } else {
                    problems.push(format!("{path}: unknown key"));
                }
            }
            (Some(toml::Value::Table(s)), toml::Value::Table(t)) => {
                let mut inner = Table::new();
                let prefix = format!("{path}.");
                strip_unknown(t, s, (root, here.as_deref(), &prefix), problems, &mut inner);
                out.insert(k, toml::Value::Table(inner));
            }
            (Some(toml::Value::Array(s)), toml::Value::Array(items)) => {
                let item_schema = match s.first() {
                    Some(toml::Value::Table(t)) => Some(t.clone()),
                    Some(_) => None,
                    None => empty_array_item_schema(&path),
                };
                let items = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| match (&item_schema, item) {
                        (Some(schema), toml::Value::Table(t)) => {
                            let mut inner = Table::new();
                            let prefix = format!("{path}[{i}].");
                            strip_unknown(t, schema, (root, None, &prefix), problems, &mut inner);
                            toml::Value::Table(inner)
                        }
                        (_, item) => item,
                    })
                    .collect();
                out.insert(k, toml::Value::Array(items));
            }
            (Some(_), v) => {
                out.insert(k, v);
            }
        }
    }
}

/// Every value of `user` that differs from the defaults, with its path; tables the defaults also have as tables
/// are descended into.
fn collect_leaves(
    user: &Table,
    defaults: &Table,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, toml::Value)>,
) {
    for (k, v) in user {
        path.push(k.clone());
        match (defaults.get(k), v) {
            (Some(toml::Value::Table(d)), toml::Value::Table(t)) => collect_leaves(t, d, path, out),
            (Some(d), v) if d == v => {}
            (_, v) => out.push((path.clone(), v.clone())),
        }
        path.pop();
    }
}

fn get_path<'a>(t: &'a Table, path: &[String]) -> Option<&'a toml::Value> {
    let (last, init) = path.split_last()?;
    let mut cur = t;
    for seg in init {
        cur = cur.get(seg)?.as_table()?;
    }
    cur.get(last)
}

fn set_path(t: &mut Table, path: &[String], value: toml::Value) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = t;
    for seg in init {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

fn remove_path(t: &mut Table, path: &[String]) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = t;
    for seg in init {
        match cur.get_mut(seg).and_then(toml::Value::as_table_mut) {
            Some(next) => cur = next,
            None => return,
        }
    }
    cur.remove(last);
}

/// `[[rate_limits]]` entries replace the default of their descriptor only: every descriptor the configuration
/// does not list keeps its default limit, so one entry never leaves the others unlimited. (A limit is lifted by
/// setting it to `shadow = true`: counted and reported, never refusing.)
pub fn with_default_limits(mut configured: Vec<LimitRule>) -> Vec<LimitRule> {
    for d in Config::default().rate_limits {
        if !configured.iter().any(|c| c.descriptor == d.descriptor) {
            configured.push(d);
        }
    }
    configured
}

impl Config {
    /// Loads defaults, then `file` (if given), then `env` pairs named `MODERATO__A__B`, then `flags`; validates.
    /// `env` is passed in (not read here) so tests never touch the process environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &FlagOverrides,
    ) -> Result<Config, ConfigError> {
        let defaults =
            toml::Value::try_from(Config::default()).map_err(|e| ConfigError::Parse {
                origin: "defaults".into(),
                message: e.to_string(),
            })?;
        let mut table = match defaults {
            toml::Value::Table(t) => t,
            _ => Table::new(),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let t: Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
            merge(&mut table, t);
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MODERATO__"))
            .collect();
        env.sort();
        for (k, v) in env {
            let path: Vec<String> = k["MODERATO__".len()..]
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Parse {
                    origin: k.clone(),
                    message: "empty path segment".into(),
                });
            }
            let mut over = Table::new();
            let mut value = env_value(&v);
            for seg in path.iter().skip(1).rev() {
                let mut t = Table::new();
                t.insert(seg.clone(), value);
                value = toml::Value::Table(t);
            }
            over.insert(path[0].clone(), value);
            merge(&mut table, over);
        }
        let defaults = match toml::Value::try_from(Config::default()) {
            Ok(toml::Value::Table(t)) => t,
            _ => Table::new(),
        };
        let mut problems = Vec::new();
        let table = shape_check(table, &defaults, &mut problems);
        let mut cfg: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: "merged configuration".into(),
                    message: e.to_string(),
                })?;
        cfg.rate_limits = with_default_limits(std::mem::take(&mut cfg.rate_limits));
        if let Some(l) = &flags.listen {
            cfg.server.listen = l.clone();
        }
        if let Some(l) = &flags.metrics_listen {
            cfg.server.metrics_listen = l.clone();
        }
        if let Some(l) = &flags.http_listen {
            cfg.server.http_listen = l.clone();
        }
        if !flags.redis_urls.is_empty() {
            cfg.store.redis_urls = flags.redis_urls.clone();
        }
        if let Some(p) = &flags.key_prefix {
            cfg.store.key_prefix = p.clone();
        }
        if flags.log_json {
            cfg.server.log_format = "json".into();
        }
        if let Err(ConfigError::Invalid(more)) = cfg.validate() {
            problems.extend(more);
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Checks every value; reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errs = Vec::new();
        if self.server.listen.parse::<SocketAddr>().is_err() {
            errs.push(format!(
                "server.listen: {:?} is not an ip:port address",
                self.server.listen
            ));
        }
        if !self.server.metrics_listen.is_empty()
            && self.server.metrics_listen.parse::<SocketAddr>().is_err()
        {
            errs.push(format!(
                "server.metrics_listen: {:?} is not an ip:port address (empty disables metrics)",
                self.server.metrics_listen
            ));
        }
        if !self.server.http_listen.is_empty()
            && self.server.http_listen.parse::<SocketAddr>().is_err()
        {
            errs.push(format!(
                "server.http_listen: {:?} is not an ip:port address (empty disables HTTP)",
                self.server.http_listen
            ));
        }
        if !(-720..=840).contains(&self.server.console_utc_offset_minutes) {
            errs.push(format!(
                "server.console_utc_offset_minutes: {} must be between -720 and 840 (UTC-12 to UTC+14)",
                self.server.console_utc_offset_minutes
            ));
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            errs.push(format!(
                "server.log_format: {:?} must be \"text\" or \"json\"",
                self.server.log_format
            ));
        }
        if !(100..=600_000).contains(&self.server.health_interval_ms) {
            errs.push("server.health_interval_ms: must be between 100 and 600000".into());
        }
        if self.server.shutdown_grace_ms > 600_000 {
            errs.push("server.shutdown_grace_ms: must be at most 600000".into());
        }
        if self.server.tls_cert.is_empty() != self.server.tls_key.is_empty() {
            errs.push(
                "server.tls_cert, server.tls_key: set both (PEM files) for TLS, or neither".into(),
            );
        }
        if !self.server.tls_client_ca.is_empty() && self.server.tls_cert.is_empty() {
            errs.push(
                "server.tls_client_ca: client certificates need TLS: set server.tls_cert and server.tls_key too"
                    .into(),
            );
        }
        if !(100..=600_000).contains(&self.server.handshake_timeout_ms) {
            errs.push("server.handshake_timeout_ms: must be between 100 and 600000".into());
        }
        if !(100..=86_400_000).contains(&self.server.idle_timeout_ms) {
            errs.push("server.idle_timeout_ms: must be between 100 and 86400000".into());
        }
        if self.server.keepalive_interval_ms != 0
            && !(100..=86_400_000).contains(&self.server.keepalive_interval_ms)
        {
            errs.push(
                "server.keepalive_interval_ms: must be 0 (off) or between 100 and 86400000".into(),
            );
        }
        if !(100..=600_000).contains(&self.server.keepalive_timeout_ms) {
            errs.push("server.keepalive_timeout_ms: must be between 100 and 600000".into());
        }
        if !(1..=10_000).contains(&self.server.max_concurrent_streams) {
            errs.push("server.max_concurrent_streams: must be between 1 and 10000".into());
        }
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            errs.push("server.max_connections: must be between 1 and 1000000".into());
        }
        let w = &self.webhooks;
        if !(100..=604_800_000).contains(&w.retry_for_ms) {
            errs.push("webhooks.retry_for_ms: must be between 100 and 604800000 (7 days)".into());
        }
        if !(10..=3_600_000).contains(&w.initial_backoff_ms)
            || w.max_backoff_ms < w.initial_backoff_ms
        {
            errs.push(
                "webhooks.initial_backoff_ms, max_backoff_ms: between 10 and 3600000, and max at least initial"
                    .into(),
            );
        }
        if !(100..=60_000).contains(&w.timeout_ms) {
            errs.push("webhooks.timeout_ms: must be between 100 and 60000".into());
        }
        if w.lease_ms <= w.timeout_ms || w.lease_ms > 600_000 {
            errs.push(
                "webhooks.lease_ms: must be more than webhooks.timeout_ms and at most 600000"
                    .into(),
            );
        }
        if !(1..=60_000).contains(&self.store.timeout_ms) {
            errs.push("store.timeout_ms: must be between 1 and 60000".into());
        }
        if self.store.replica_ack != 0 && self.store.replica_ack >= self.store.timeout_ms {
            errs.push(
                "store.replica_ack: must be 0 (off) or less than store.timeout_ms (a waiting write holds back the calls queued behind it)"
                    .into(),
            );
        }
        for (i, u) in self.store.redis_urls.iter().enumerate() {
            let ok = [
                "redis://",
                "rediss://",
                "redis+cluster://",
                "redis+unix://",
                "unix://",
            ]
            .iter()
            .any(|s| u.starts_with(s));
            if !ok {
                errs.push(format!(
                    "store.redis_urls[{i}]: {u:?} must start with redis://, rediss:// or redis+cluster://"
                ));
            }
        }
        if self.store.key_prefix.contains(['{', '}']) || self.store.key_prefix.len() > 64 {
            errs.push(
                "store.key_prefix: at most 64 characters, without braces (braces are hash tags)"
                    .into(),
            );
        }
        let mut names = BTreeMap::new();
        for (i, t) in self.auth.tokens.iter().enumerate() {
            if t.name.trim().is_empty() {
                errs.push(format!("auth.tokens[{i}].name: must not be empty"));
            }
            if let Some(prev) = names.insert(t.name.clone(), i) {
                errs.push(format!(
                    "auth.tokens[{i}].name: {:?} already used by auth.tokens[{prev}]",
                    t.name
                ));
            }
            if crate::auth::Role::parse(&t.role).is_none() {
                errs.push(format!(
                    "auth.tokens[{i}].role: {:?} must be portal, moderator or ops",
                    t.role
                ));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                errs.push(format!(
                    "auth.tokens[{i}].sha256: must be 64 hex digits (run `moderato token hash`)"
                ));
            }
        }
        if !(4..=8).contains(&self.captcha.length) {
            errs.push("captcha.length: must be between 4 and 8".into());
        }
        if !(1..=3).contains(&self.captcha.difficulty) {
            errs.push("captcha.difficulty: must be 1, 2 or 3".into());
        }
        if !(10..=3600).contains(&self.captcha.ttl_seconds) {
            errs.push("captcha.ttl_seconds: must be between 10 and 3600".into());
        }
        if self.captcha.max_live_per_client == 0 {
            errs.push("captcha.max_live_per_client: must be at least 1".into());
        }
        self.captcha
            .create_limit
            .problems("captcha.create_limit", &mut errs);
        crate::rate_limit::submission_rule_problems("rate_limits", &self.rate_limits, &mut errs);
        self.policy.problems("policy", &mut errs);
        if self.captcha.test_answer_header && !self.store.redis_urls.is_empty() {
            errs.push(
                "captcha.test_answer_header: hands out captcha answers, for tests of client examples on the \
                 embedded store only; it is refused with a Redis store"
                    .into(),
            );
        }
        if !self.store.redis_urls.is_empty() && self.identifier_hmac_key.expose().len() < 16 {
            errs.push(
                "identifier_hmac_key: set it (16+ characters, the same on every replica) when using Redis; \
                 without it idempotency keys, live captchas and rate limits would not survive a restart"
                    .into(),
            );
        }
        if self.ipv6_prefix_len == 0 || self.ipv6_prefix_len > 128 {
            errs.push("ipv6_prefix_len: must be between 1 and 128".into());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_file_then_env_then_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:1000\"\nmetrics_listen = \"127.0.0.1:1001\"\n[store]\ntimeout_ms = 250\n",
        )
        .expect("write");
        let env = vec![
            (
                "MODERATO__SERVER__LISTEN".to_string(),
                "127.0.0.1:2000".to_string(),
            ),
            ("MODERATO__CAPTCHA__LENGTH".to_string(), "6".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let flags = FlagOverrides {
            metrics_listen: Some("127.0.0.1:3001".into()),
            ..Default::default()
        };
        let cfg = Config::load(Some(&path), env, &flags).expect("valid");
        assert_eq!(cfg.server.listen, "127.0.0.1:2000");
        assert_eq!(cfg.server.metrics_listen, "127.0.0.1:3001");
        assert_eq!(cfg.store.timeout_ms, 250);
        assert_eq!(cfg.captcha.length, 6);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let env = vec![
            (
                "MODERATO__SERVER__LISTEN".to_string(),
                "nowhere".to_string(),
            ),
            ("MODERATO__CAPTCHA__LENGTH".to_string(), "99".to_string()),
            ("MODERATO__STORE__TIMEOUT_MS".to_string(), "0".to_string()),
            (
                "MODERATO__SERVER__CONSOLE_UTC_OFFSET_MINUTES".to_string(),
                "900".to_string(),
            ),
        ];
        let err = Config::load(None, env, &FlagOverrides::default()).expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("server.listen"), "{text}");
        assert!(text.contains("captcha.length"), "{text}");
        assert!(text.contains("store.timeout_ms"), "{text}");
        assert!(text.contains("server.console_utc_offset_minutes"), "{text}");
    }

    #[test]
    fn replica_ack_is_off_by_default_and_must_stay_under_the_store_timeout() {
        let load = |ack: &str| {
            let env = vec![("MODERATO__STORE__REPLICA_ACK".to_string(), ack.to_string())];
            Config::load(None, env, &FlagOverrides::default())
        };
        let cfg = Config::load(None, Vec::new(), &FlagOverrides::default()).expect("defaults");
        assert_eq!(cfg.store.replica_ack, 0);
        assert_eq!(load("100").expect("under 500 ms").store.replica_ack, 100);
        let err = load("500").expect_err("not under the timeout").to_string();
        assert!(err.contains("store.replica_ack"), "{err}");
    }

    #[test]
    fn one_configured_limit_replaces_only_its_descriptors_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "[[rate_limits]]\ndescriptor = \"client_ip\"\nrequests = 10\nperiod_seconds = 60\nburst = 5\n\
             shadow = true\n",
        )
        .expect("write");
        let cfg = Config::load(Some(&path), Vec::new(), &FlagOverrides::default()).expect("valid");
        let by = |d: Descriptor| {
            cfg.rate_limits
                .iter()
                .filter(|r| r.descriptor == d)
                .collect::<Vec<_>>()
        };
        assert_eq!(cfg.rate_limits.len(), 4, "{:?}", cfg.rate_limits);
        assert!(
            by(Descriptor::ClientIp)[0].shadow,
            "the configured entry wins"
        );
        for d in [Descriptor::Author, Descriptor::Thread, Descriptor::Site] {
            let rules = by(d);
            assert_eq!(rules.len(), 1, "{d:?} keeps its default");
            assert!(!rules[0].shadow);
            let default = Config::default();
            assert!(default.rate_limits.contains(rules[0]));
        }
    }

    #[test]
    fn every_unknown_key_and_every_bad_value_is_named_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "colour = 1\n[server]\nlistn = \"x\"\nshutdown_grace_ms = \"soon\"\n[captcha]\nlength = 99\n\
             difficulty = \"hard\"\n[[rate_limits]]\ndescriptor = \"site\"\nrequests = 1\nperiod_seconds = 1\n\
             burst = 1\nbrust = 2\n[[auth.tokens]]\nname = \"a\"\nrole = \"portal\"\nsha = \"0\"\n",
        )
        .expect("write");
        let env = vec![
            ("MODERATO__STORE__TIMEOUT".to_string(), "5".to_string()),
            ("MODERATO__STORE__TIMEOUT_MS".to_string(), "0".to_string()),
        ];
        let err = Config::load(Some(&path), env, &FlagOverrides::default()).expect_err("invalid");
        let text = err.to_string();
        for named in [
            "colour: unknown key",
            "server.listn: unknown key",
            "store.timeout: unknown key",
            "rate_limits[0].brust: unknown key",
            "auth.tokens[0].sha: unknown key",
            "server.shutdown_grace_ms:",
            "captcha.difficulty:",
            "captcha.length: must be between 4 and 8",
            "store.timeout_ms: must be between 1 and 60000",
            "auth.tokens: missing field `sha256`",
        ] {
            assert!(text.contains(named), "{named:?} not in:\n{text}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let env = vec![("MODERATO__SERVER__LISTN".to_string(), "x".to_string())];
        let err = Config::load(None, env, &FlagOverrides::default()).expect_err("unknown key");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let c = Config {
            identifier_hmac_key: Secret::new("hunter2"),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
