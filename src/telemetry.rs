//! Telemetry: the tracing subscriber (text on a terminal, JSON with a flag), the process-wide Prometheus
//! recorder with its `/metrics` listener, and [`RpcLayer`], which gives every RPC a span, a request counter by
//! method and status code, and a latency histogram.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::Instrument;

/// Installs the global tracing subscriber. `json` selects JSON lines; `RUST_LOG` filters (default `info`).
/// A second call is a no-op.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use (several servers in one process, as in tests,
/// share it).
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let score_buckets: Vec<f64> = (1..=20).map(|i| f64::from(i) * 0.05).collect();
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("moderato_score".into()), &score_buckets)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let handle = match builder.install_recorder() {
            Ok(h) => h,
            // Another recorder is installed (only possible in embedding programs): keep a private one so
            // /metrics still answers.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        };
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .ok();
        handle
    })
}

/// Serves `GET /metrics` (Prometheus text format) on `listener` until `shutdown` resolves.
pub async fn serve_metrics(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let handle = prometheus();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((mut sock, _)) = accepted else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let head = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if head.starts_with("GET /metrics ") {
                ("200 OK", handle.render())
            } else {
                (
                    "404 Not Found",
                    "only GET /metrics is served here\n".to_string(),
                )
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

/// Binds the metrics listener (errors surface at startup, not in a background task).
pub async fn bind_metrics(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// Every method this server answers, as `/package.Service/Method`: from the descriptor sets it serves.
fn known_methods() -> &'static std::collections::HashSet<String> {
    static KNOWN: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        use prost::Message as _;
        let mut out = std::collections::HashSet::new();
        for set in [
            crate::proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(fds) = prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in fds.file {
                let package = file.package.unwrap_or_default();
                for svc in file.service {
                    let svc_name = svc.name.unwrap_or_default();
                    for m in svc.method {
                        out.insert(format!(
                            "/{package}.{svc_name}/{}",
                            m.name.unwrap_or_default()
                        ));
                    }
                }
            }
        }
        out
    })
}

/// The `method` label of a request path: the path for methods this server has, `unknown` for anything else, so
/// callers cannot grow the label set with made-up paths.
pub fn method_label(path: &str) -> String {
    if known_methods().contains(path) {
        path.to_string()
    } else {
        "unknown".to_string()
    }
}

/// Tower layer: one span per RPC (`method`, `site`, `comment_id`), `moderato_rpc_requests_total{method,code}`
/// and `moderato_rpc_duration_seconds{method}` (for streams: time to the response headers).
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcLayer;

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcService { inner }
    }
}

/// The service made by [`RpcLayer`].
#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for RpcService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = method_label(req.uri().path());
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            site = tracing::field::Empty,
            comment_id = tracing::field::Empty
        );
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let start = Instant::now();
        Box::pin(async move {
            let fut = {
                let _e = span.enter();
                inner.call(req)
            };
            let res = fut.instrument(span.clone()).await;
            // Errors travel as trailers-only responses, so grpc-status is in the headers; success puts it in
            // the trailers, so no header means OK.
            let code = match &res {
                Ok(r) => match r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.parse::<i32>().ok())
                {
                    Some(c) => format!("{:?}", tonic::Code::from(c)),
                    // Refused before gRPC (HTTP 415 for a wrong content-type).
                    None if r.status() != http::StatusCode::OK => {
                        format!("Http{}", r.status().as_u16())
                    }
                    None => "Ok".to_string(),
                },
                Err(_) => "Unknown".to_string(),
            };
            let elapsed = start.elapsed();
            metrics::counter!(
                "moderato_rpc_requests_total",
                "method" => method.clone(),
                "code" => code.clone()
            )
            .increment(1);
            metrics::histogram!("moderato_rpc_duration_seconds", "method" => method)
                .record(elapsed.as_secs_f64());
            span.in_scope(|| {
                tracing::debug!(code = %code, elapsed_us = elapsed.as_micros() as u64, "rpc done")
            });
            res
        })
    }
}

/// Rate limit for repeated WARN lines: the first occurrence of each distinct message is logged, then at most one
/// per `window`, carrying how many were suppressed since the last one. One outage makes thousands of calls fail
/// with the same few errors; this keeps that to a few lines. At most 64 distinct messages are tracked (past that,
/// every line is logged).
#[derive(Debug)]
pub struct LogGate {
    window: Duration,
    seen: std::sync::Mutex<std::collections::HashMap<String, (Instant, u64)>>,
}

impl LogGate {
    const MAX_KEYS: usize = 64;

    /// A gate letting one line per distinct message through per `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `Some(suppressed)` when a line about `message` should be logged now (with the count suppressed since the
    /// previous one), `None` when it is suppressed.
    pub fn admit(&self, message: &str, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((last, suppressed)) = seen.get_mut(message) {
            if now.saturating_duration_since(*last) < self.window {
                *suppressed += 1;
                return None;
            }
            let n = *suppressed;
            *last = now;
            *suppressed = 0;
            return Some(n);
        }
        if seen.len() >= Self::MAX_KEYS {
            let window = self.window;
            seen.retain(|_, (last, _)| now.saturating_duration_since(*last) < window);
        }
        if seen.len() < Self::MAX_KEYS {
            seen.insert(message.to_string(), (now, 0));
        }
        Some(0)
    }
}

#[cfg(test)]
mod log_gate_tests {
    use super::*;

    #[test]
    fn one_line_per_message_per_window_with_the_suppressed_count() {
        let gate = LogGate::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(gate.admit("redis down", t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(
                gate.admit("redis down", t0 + Duration::from_millis(i)),
                None
            );
        }
        // A different message has its own window.
        assert_eq!(gate.admit("timeout", t0 + Duration::from_secs(1)), Some(0));
        assert_eq!(
            gate.admit("redis down", t0 + Duration::from_secs(10)),
            Some(1000)
        );
        assert_eq!(gate.admit("redis down", t0 + Duration::from_secs(11)), None);
    }

    #[test]
    fn past_the_tracked_maximum_every_line_is_logged() {
        let gate = LogGate::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..LogGate::MAX_KEYS {
            assert_eq!(gate.admit(&format!("m{i}"), t0), Some(0));
        }
        assert_eq!(gate.admit("one more", t0), Some(0));
        assert_eq!(gate.admit("one more", t0), Some(0));
        assert_eq!(gate.admit("m0", t0), None);
    }
}
