//! Wiring: opens the store, binds the listeners, builds the services and runs until a shutdown signal.
//! `moderato serve` and the test harness both go through [`Application`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::api::admin::AdminApi;
use crate::api::captcha::CaptchaApi;
use crate::api::comment::CommentApi;
use crate::api::moderation::ModerationApi;
use crate::auth::{Role, TokenConfigExt, Tokens};
use crate::captcha::{Captchas, Settings};
use crate::comment::Comments;
use crate::config::Config;
use crate::proto::admin_service_server::AdminServiceServer;
use crate::proto::captcha_service_server::CaptchaServiceServer;
use crate::proto::comment_service_server::CommentServiceServer;
use crate::proto::moderation_service_server::ModerationServiceServer;
use crate::rate_limit::Identifiers;
use crate::review::service::ReviewService;
use crate::store::memory::MemoryStore;
use crate::store::redis::{RedisSettings, RedisStore};
use crate::store::{Keys, Store, StoreError};
use crate::telemetry::RpcLayer;
use crate::wire::{ConnLimits, Incoming, WireLayer};

/// Fully qualified names of the moderato services, as health and reflection report them.
pub const SERVICE_NAMES: [&str; 4] = [
    "moderato.v1.CaptchaService",
    "moderato.v1.CommentService",
    "moderato.v1.ModerationService",
    "moderato.v1.AdminService",
];

/// Startup failures.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be reached.
    #[error("cannot open the {kind} store: {source}; is it running and is the url right?")]
    Store {
        /// Which store.
        kind: &'static str,
        /// Why.
        source: StoreError,
    },
    /// No tokens configured and generating them is disabled.
    #[error(
        "no auth tokens configured and auth.generate_when_empty is false: add [[auth.tokens]] (see `moderato token hash`)"
    )]
    NoTokens,
    /// The classifier model could not be loaded.
    #[error("cannot load the classifier model from {dir}: {source}")]
    Model {
        /// Where.
        dir: String,
        /// Why.
        source: crate::scoring::ScoringError,
    },
    /// Reflection could not be built from the descriptor set.
    #[error("reflection setup failed: {0}")]
    Reflection(String),
    /// A Redis store is configured and no tokens are.
    #[error(
        "a Redis store is configured but no auth tokens are: tokens generated at startup would be printed on \
         stdout and differ on every replica and restart. Fix: create one token per role with `moderato token new` \
         and add its sha256 under [[auth.tokens]] (name, role = \"portal\" | \"moderator\" | \"ops\", sha256), \
         or MODERATO__AUTH__TOKENS='[{{name = \"portal\", role = \"portal\", sha256 = \"...\"}}]'. Generated \
         tokens are only for the embedded memory store"
    )]
    NoTokensWithRedis,
    /// The TLS certificate, key or client CA could not be read or used.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// Opens the store the configuration selects: memory when no Redis URL is given.
pub async fn open_store(cfg: &Config) -> Result<Arc<dyn Store>, StartupError> {
    let keys = Keys::new(cfg.store.key_prefix.clone());
    if cfg.store.redis_urls.is_empty() {
        return Ok(Arc::new(MemoryStore::default()));
    }
    let settings = RedisSettings {
        urls: cfg.store.redis_urls.clone(),
        timeout: Duration::from_millis(cfg.store.timeout_ms),
    };
    let kind = if settings.is_cluster() {
        "redis-cluster"
    } else {
        "redis"
    };
    let ack = Duration::from_millis(cfg.store.replica_ack);
    RedisStore::connect(&settings, keys)
        .await
        .map(|s| Arc::new(s.with_replica_ack(ack)) as Arc<dyn Store>)
        .map_err(|source| StartupError::Store { kind, source })
}

/// Tokens generated for one run because none were configured: (role, name, token in clear).
pub type GeneratedTokens = Vec<(Role, String, String)>;

/// Resolves the tokens to use: the configured ones, or one generated per role when none are configured.
pub fn resolve_tokens(cfg: &Config) -> Result<(Tokens, GeneratedTokens), StartupError> {
    if !cfg.auth.tokens.is_empty() {
        return Ok((Tokens::from_config(&cfg.auth.tokens), Vec::new()));
    }
    if !cfg.store.redis_urls.is_empty() {
        return Err(StartupError::NoTokensWithRedis);
    }
    if !cfg.auth.generate_when_empty {
        return Err(StartupError::NoTokens);
    }
    let generated: GeneratedTokens = Role::ALL
        .iter()
        .map(|r| {
            (
                *r,
                format!("generated-{}", r.as_str()),
                crate::auth::generate_token(),
            )
        })
        .collect();
    let configs: Vec<_> = generated
        .iter()
        .map(|(r, n, t)| r.token_config(n, t))
        .collect();
    Ok((Tokens::from_config(&configs), generated))
}

/// The identifier hasher from config; a random key for this run when none is configured.
pub fn identifiers(cfg: &Config) -> Identifiers {
    let key = if cfg.identifier_hmac_key.expose().is_empty() {
        crate::auth::generate_token()
    } else {
        cfg.identifier_hmac_key.expose().to_string()
    };
    Identifiers::new(key.as_bytes(), cfg.ipv6_prefix_len)
}

/// The shipped model's directory in this source tree.
pub const SHIPPED_MODEL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/default");

/// Loads the model `cfg.model_dir` names (the shipped one when empty).
pub fn load_model(cfg: &Config) -> Result<Arc<crate::scoring::Scorer>, StartupError> {
    let dir = if cfg.model_dir.is_empty() {
        SHIPPED_MODEL_DIR.to_string()
    } else {
        cfg.model_dir.clone()
    };
    crate::scoring::Scorer::load(std::path::Path::new(&dir))
        .map(Arc::new)
        .map_err(|source| StartupError::Model { dir, source })
}

/// The policy every site starts from: the `[policy]` section with the captcha and rate-limit settings.
pub fn default_policy(cfg: &Config) -> crate::policy::document::Policy {
    let mut p = cfg.policy.clone();
    p.captcha_required = cfg.captcha.required;
    p.rate_limits = cfg.rate_limits.clone();
    // Version 0: nothing stored yet. GetPolicy shows it, and UpdatePolicy with expected_version 0 stores version 1.
    p.version = 0;
    p
}

/// The directory whose subdirectories hold loadable model artifacts.
pub fn models_root(cfg: &Config) -> std::path::PathBuf {
    let dir = if cfg.model_dir.is_empty() {
        std::path::PathBuf::from(SHIPPED_MODEL_DIR)
    } else {
        std::path::PathBuf::from(&cfg.model_dir)
    };
    dir.parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}

/// A bound, wired server that has not started serving yet.
pub struct Application {
    cfg: Config,
    store: Arc<dyn Store>,
    tokens: Tokens,
    ids: Identifiers,
    policies: crate::policy::Policies,
    listener: TcpListener,
    addr: SocketAddr,
    metrics: Option<(TcpListener, SocketAddr)>,
    http: Option<(TcpListener, SocketAddr, Option<tokio_rustls::TlsAcceptor>)>,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl Application {
    /// Binds the gRPC and metrics listeners for `cfg`, serving from `store`.
    pub async fn build(
        cfg: Config,
        store: Arc<dyn Store>,
        tokens: Tokens,
        ids: Identifiers,
    ) -> Result<Self, StartupError> {
        let tls = tls_config(&cfg.server)?;
        if let Some(t) = &tls {
            // Parses the certificate and key now, so a bad pair stops startup with its reason.
            tonic::transport::Server::builder()
                .tls_config(t.clone())
                .map_err(|e| StartupError::Tls(error_chain(&e)))?;
        }
        let model = load_model(&cfg)?;
        tracing::info!(
            model = model.version(),
            combiner = model.combiner().is_some(),
            "classifier model loaded"
        );
        let listener = TcpListener::bind(&cfg.server.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: cfg.server.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: cfg.server.listen.clone(),
            source,
        })?;
        let metrics = if cfg.server.metrics_listen.is_empty() {
            None
        } else {
            Some(
                crate::telemetry::bind_metrics(&cfg.server.metrics_listen)
                    .await
                    .map_err(|source| StartupError::Bind {
                        addr: cfg.server.metrics_listen.clone(),
                        source,
                    })?,
            )
        };
        let http = if cfg.server.http_listen.is_empty() {
            None
        } else {
            let bind_err = |source| StartupError::Bind {
                addr: cfg.server.http_listen.clone(),
                source,
            };
            let l = TcpListener::bind(&cfg.server.http_listen)
                .await
                .map_err(bind_err)?;
            let a = l.local_addr().map_err(bind_err)?;
            Some((l, a, http_tls(&cfg.server)?))
        };
        let policies = crate::policy::Policies::new(
            store.clone(),
            Arc::new(crate::clock::SystemClock),
            default_policy(&cfg),
            model,
            models_root(&cfg),
        );
        Ok(Self {
            cfg,
            store,
            tokens,
            ids,
            policies,
            listener,
            addr,
            metrics,
            http,
            tls,
        })
    }

    /// This replica's policies and models (shared with the running server).
    pub fn policies(&self) -> crate::policy::Policies {
        self.policies.clone()
    }

    /// The bound gRPC address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound metrics address, if metrics are enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
    }

    /// The bound HTTP address (JSON API and console), if HTTP is enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(_, a, _)| *a)
    }

    /// Serves until `shutdown` resolves, then: health NOT_SERVING, stop accepting, end every open
    /// WatchDecisions stream with UNAVAILABLE (the client resumes with its cursor elsewhere), drain in-flight
    /// calls for at most `server.shutdown_grace_ms`.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Stopped, tonic::transport::Error> {
        let Application {
            cfg,
            store,
            tokens,
            ids,
            policies,
            listener,
            addr,
            metrics,
            http,
            tls,
        } = self;
        let keys = Keys::new(cfg.store.key_prefix.clone());
        let (reporter, health) = tonic_health::server::health_reporter();
        set_all(&reporter, ServingStatus::NotServing).await;

        // v1 and v1alpha (grpcurl before 1.9 and many other tools speak only v1alpha), each listing both.
        let reflection_builder = || {
            tonic_reflection::server::Builder::configure()
                .include_reflection_service(false)
                .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                )
        };
        let reflection = reflection_builder()
            .build_v1()
            .expect("the compiled-in descriptor sets are valid");
        let reflection_v1alpha = reflection_builder()
            .build_v1alpha()
            .expect("the compiled-in descriptor sets are valid");

        let captcha_settings = Settings {
            length: cfg.captcha.length,
            difficulty: cfg.captcha.difficulty,
            ttl_seconds: cfg.captcha.ttl_seconds,
            max_live_per_client: cfg.captcha.max_live_per_client,
            create_limit: cfg.captcha.create_limit,
        };
        let captchas = Captchas::new(store.clone(), ids.clone(), keys.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let reviews = {
            let policies = policies.clone();
            ReviewService::new(
                store.clone(),
                Arc::new(move |site: &str| policies.labels_changed(site)),
                stop_rx.clone(),
            )
        };
        let comments = Comments {
            store: store.clone(),
            captchas: captchas.clone(),
            ids: ids.clone(),
            keys: keys.clone(),
            policies: policies.clone(),
            clock: Arc::new(crate::clock::SystemClock),
            seen_sites: Default::default(),
            registered: Default::default(),
            announcer: reviews.announcer(),
        };
        let health_task = tokio::spawn(watch_store_health(
            store.clone(),
            reporter.clone(),
            Duration::from_millis(cfg.server.health_interval_ms),
            stop_rx.clone(),
        ));
        let refresh_task = tokio::spawn(policies.clone().refresh_loop(stop_rx.clone()));
        let webhooks = crate::webhook::Webhooks::new(
            store.clone(),
            cfg.webhooks.settings(),
            Arc::new(crate::clock::SystemClock),
            Arc::new(|e| serde_json::to_value(crate::api::convert::event(e)).unwrap_or_default()),
        );
        let webhook_task = tokio::spawn(webhooks.clone().run(stop_rx.clone()));
        let gauges_task = tokio::spawn(queue_gauges(
            store.clone(),
            comments.seen_sites.clone(),
            stop_rx.clone(),
        ));
        let metrics_task = metrics.map(|(l, a)| {
            tracing::info!(addr = %a, "metrics listening on /metrics");
            let mut rx = stop_rx.clone();
            tokio::spawn(crate::telemetry::serve_metrics(l, async move {
                let _ = rx.wait_for(|s| *s).await;
            }))
        });

        let grace = Duration::from_millis(cfg.server.shutdown_grace_ms);
        // The silence bounds of a connection, the same on the gRPC and the HTTP port.
        let conn_limits = ConnLimits {
            handshake_timeout: Duration::from_millis(cfg.server.handshake_timeout_ms),
            idle_timeout: Duration::from_millis(cfg.server.idle_timeout_ms),
        };
        if cfg.captcha.test_answer_header {
            tracing::warn!(
                "captcha.test_answer_header is on: every new challenge hands out its answer; for tests only"
            );
        }
        let http_task = http.map(|(l, a, http_tls)| {
            tracing::info!(addr = %a, "HTTP (JSON API) listening");
            let services = crate::http::Services {
                captchas: captchas.clone(),
                captcha_settings,
                captcha_test_answers: cfg.captcha.test_answer_header,
                comments: comments.clone(),
                reviews: reviews.clone(),
                policies: policies.clone(),
                tokens: tokens.clone(),
                audit: crate::audit::service::AuditService::new(store.clone()),
                sessions: crate::auth::Sessions::new(store.clone(), tokens.clone()),
                tls: http_tls.is_some(),
                console_utc_offset_minutes: cfg.server.console_utc_offset_minutes,
            };
            let s = &cfg.server;
            let limits = crate::http::HttpLimits {
                max_connections: s.max_connections as usize,
                conn: conn_limits,
                max_concurrent_streams: s.max_concurrent_streams,
                keepalive_interval: (s.keepalive_interval_ms > 0)
                    .then(|| Duration::from_millis(s.keepalive_interval_ms)),
                keepalive_timeout: Duration::from_millis(s.keepalive_timeout_ms),
            };
            tokio::spawn(crate::http::serve(
                l,
                crate::http::router(&services),
                limits,
                http_tls,
                stop_rx.clone(),
                grace,
            ))
        });
        tracing::info!(%addr, store = store.kind(), "moderato listening");
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let reporter_for_stop = reporter.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested: not serving, draining in-flight calls");
            let _ = stop_tx.send(true);
            set_all(&reporter_for_stop, ServingStatus::NotServing).await;
            let _ = drain_tx.send(());
        });

        let server_cfg = &cfg.server;
        let keepalive = (server_cfg.keepalive_interval_ms > 0)
            .then(|| Duration::from_millis(server_cfg.keepalive_interval_ms));
        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(server_cfg.max_concurrent_streams)
            .http2_keepalive_interval(keepalive)
            .http2_keepalive_timeout(Some(Duration::from_millis(server_cfg.keepalive_timeout_ms)));
        if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
        }
        let incoming = Incoming::new(listener, server_cfg.max_connections as usize, conn_limits);
        let server = builder
            .layer(RpcLayer)
            .layer(WireLayer)
            .add_service(health)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(InterceptedService::new(
                CaptchaServiceServer::new(
                    CaptchaApi::new(captchas, captcha_settings)
                        .with_test_answers(cfg.captcha.test_answer_header),
                ),
                tokens.guard(Role::Portal),
            ))
            .add_service(InterceptedService::new(
                CommentServiceServer::new(CommentApi::new(comments.clone(), reviews.clone())),
                tokens.guard(Role::Portal),
            ))
            .add_service(InterceptedService::new(
                ModerationServiceServer::new(ModerationApi::new(reviews)),
                tokens.guard_any(&[Role::Moderator, Role::Ops]),
            ))
            .add_service(InterceptedService::new(
                AdminServiceServer::new(
                    AdminApi::new(comments.clone(), policies, captcha_settings)
                        .with_webhooks(webhooks),
                ),
                tokens.guard(Role::Ops),
            ))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = drain_rx.await;
            });
        tokio::pin!(server);
        let mut stopping = stop_rx.clone();
        let result = tokio::select! {
            r = &mut server => r.map(|()| Stopped { drained: true }),
            _ = async { let _ = stopping.wait_for(|s| *s).await; } => {
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(r) => r.map(|()| Stopped { drained: true }),
                    Err(_) => {
                        tracing::warn!(grace_ms = grace.as_millis() as u64, "in-flight calls did not finish within the grace period");
                        Ok(Stopped { drained: false })
                    }
                }
            }
        };
        if let Some(t) = http_task {
            // The HTTP server drains within the same grace period and then ends by itself.
            let _ = tokio::time::timeout(grace, t).await;
        }
        // Delivery stops between attempts and releases its leases, so the next replica takes over at once.
        let _ = tokio::time::timeout(grace, webhook_task).await;
        health_task.abort();
        refresh_task.abort();
        gauges_task.abort();
        if let Some(t) = metrics_task {
            t.abort();
        }
        tracing::info!("moderato stopped");
        result
    }
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// True when every in-flight call (open watch streams included) finished within the grace period.
    pub drained: bool,
}

/// Every 15 s, publishes queue depth, claims and oldest pending age of the sites this replica has seen.
async fn queue_gauges(
    store: Arc<dyn Store>,
    sites: Arc<std::sync::RwLock<std::collections::BTreeSet<String>>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let list: Vec<String> = sites
            .read()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for site in list {
            if let Ok(s) = store.queue_stats(&site).await {
                crate::review::service::publish_queue_gauges(&site, &s);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(15)) => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
    }
}

/// The listener's TLS configuration from `server.tls_*`, or `None` for plaintext. Files are read here, so a
/// missing or unreadable one stops startup with its path named.
pub fn tls_config(
    cfg: &crate::config::ServerConfig,
) -> Result<Option<tonic::transport::ServerTlsConfig>, StartupError> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    if cfg.tls_cert.is_empty() {
        return Ok(None);
    }
    let read = |what: &str, path: &str| {
        std::fs::read(path)
            .map_err(|e| StartupError::Tls(format!("cannot read {what} {path}: {e}")))
    };
    let cert = read("server.tls_cert", &cfg.tls_cert)?;
    let key = read("server.tls_key", &cfg.tls_key)?;
    for (what, path, pem, marker) in [
        ("server.tls_cert", &cfg.tls_cert, &cert, "CERTIFICATE"),
        ("server.tls_key", &cfg.tls_key, &key, "PRIVATE KEY"),
    ] {
        if !String::from_utf8_lossy(pem).contains(&format!("{marker}-----")) {
            return Err(StartupError::Tls(format!(
                "{what} {path} holds no PEM {marker}"
            )));
        }
    }
    let handshake = Duration::from_millis(cfg.handshake_timeout_ms);
    let mut tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .timeout(handshake);
    if !cfg.tls_client_ca.is_empty() {
        let ca = read("server.tls_client_ca", &cfg.tls_client_ca)?;
        if !String::from_utf8_lossy(&ca).contains("CERTIFICATE-----") {
            return Err(StartupError::Tls(format!(
                "server.tls_client_ca {} holds no PEM CERTIFICATE",
                cfg.tls_client_ca
            )));
        }
        tls = tls.client_ca_root(Certificate::from_pem(ca));
    }
    Ok(Some(tls))
}

/// The HTTP listener's TLS acceptor: the same `server.tls_*` files as the gRPC port, or `None` for plaintext.
fn http_tls(
    cfg: &crate::config::ServerConfig,
) -> Result<Option<tokio_rustls::TlsAcceptor>, StartupError> {
    if cfg.tls_cert.is_empty() {
        return Ok(None);
    }
    let read = |what: &str, path: &str| {
        std::fs::read(path)
            .map_err(|e| StartupError::Tls(format!("cannot read {what} {path}: {e}")))
    };
    let ca = if cfg.tls_client_ca.is_empty() {
        None
    } else {
        Some(read("server.tls_client_ca", &cfg.tls_client_ca)?)
    };
    crate::http::tls_acceptor(
        &read("server.tls_cert", &cfg.tls_cert)?,
        &read("server.tls_key", &cfg.tls_key)?,
        ca.as_deref(),
    )
    .map(Some)
    .map_err(StartupError::Tls)
}

async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        reporter.set_service_status(name, status).await;
    }
}

/// Probes the store every `every`; reports SERVING or NOT_SERVING for the whole server and each service.
async fn watch_store_health(
    store: Arc<dyn Store>,
    reporter: HealthReporter,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: Option<bool> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let ok = store.ping().await;
        let up = ok.is_ok();
        if last != Some(up) {
            match &ok {
                Ok(()) => tracing::info!(store = store.kind(), "store reachable: serving"),
                Err(e) => {
                    tracing::warn!(store = store.kind(), error = %e, "store unreachable: not serving")
                }
            }
            if !*stop.borrow() {
                set_all(
                    &reporter,
                    if up {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    },
                )
                .await;
            }
            last = Some(up);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
    }
}

/// An error and its sources joined by ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}
