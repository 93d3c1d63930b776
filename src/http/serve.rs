//! Runs a router on a bound listener with the bounds of the gRPC port: a connection limit, a connection that
//! sends no request within the handshake timeout or has none in flight for the idle timeout is closed, a timeout
//! for a request's headers, HTTP/2 keepalive PINGs, and a graceful drain on shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_stream::StreamExt as _;
use tower::ServiceExt as _;

use crate::wire::{ConnLimits, ConnState, InFlight};

/// Connection bounds of the HTTP listener (the `server.*` values the gRPC port uses).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Open connections at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// The gRPC port's silence bounds: the first request must arrive within the handshake timeout after accept
    /// (and a request's headers within it); a connection with no request in flight (response bodies included)
    /// for the idle timeout is closed.
    pub conn: ConnLimits,
    /// HTTP/2: concurrent streams per connection.
    pub max_concurrent_streams: u32,
    /// HTTP/2: PING after this long without frames; `None` disables.
    pub keepalive_interval: Option<Duration>,
    /// HTTP/2: an unanswered PING closes the connection after this long.
    pub keepalive_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` turns true, then stops accepting and waits (at most `grace`) for open
/// requests to finish. Streams of decisions end by themselves on shutdown.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.conn.handshake_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    let stopped = |stop: &mut watch::Receiver<bool>| {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, _)) => sock,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = sock.set_nodelay(true);
        let watcher = graceful.watcher();
        let (builder, app, tls) = (builder.clone(), app.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_conn(sock, builder, app, watcher, limits).await,
                Some(acceptor) => {
                    // The handshake counts against the handshake timeout, as on the gRPC port.
                    match tokio::time::timeout(limits.conn.handshake_timeout, acceptor.accept(sock))
                        .await
                    {
                        Ok(Ok(tls)) => serve_conn(tls, builder, app, watcher, limits).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "HTTP TLS handshake failed"),
                        Err(_) => tracing::debug!("HTTP TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "HTTP requests did not finish within the grace period"
        );
    }
}

/// Serves one accepted connection until it ends, falls silent (handshake and idle timeouts) or the server drains.
async fn serve_conn<I>(
    io: I,
    builder: Builder<TokioExecutor>,
    app: Router,
    watcher: hyper_util::server::graceful::Watcher,
    limits: HttpLimits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(ConnState::new());
    let service = {
        let state = state.clone();
        tower::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
            let busy = InFlight::start(state.clone());
            let app = app.clone();
            async move {
                let resp = app.oneshot(req).await?;
                // The request counts as in flight until its body is sent (long-polls, event streams).
                let (parts, body) = resp.into_parts();
                let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
                    let _in_flight = &busy;
                    chunk
                }));
                Ok::<_, Infallible>(axum::http::Response::from_parts(parts, body))
            }
        })
    };
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
        .into_owned();
    let conn = watcher.watch(conn);
    tokio::pin!(conn);
    loop {
        let deadline = state.deadline(&limits.conn, Instant::now());
        tokio::select! {
            r = &mut conn => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if state.deadline(&limits.conn, Instant::now()) <= Instant::now() {
                    tracing::debug!("closing a silent HTTP connection");
                    return;
                }
            }
        }
    }
}

/// The TLS acceptor of the HTTP listener from PEM files: the gRPC port's certificate, key and optional client CA
/// (mTLS). Offers HTTP/2 and HTTP/1.1 by ALPN.
pub fn tls_acceptor(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("server.tls_cert: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("server.tls_key: {e}"))?;
    // ring, as the gRPC port's TLS (tonic's `tls-ring`): no C toolchain needed. Deprecated in this rustls only
    // for lacking post-quantum key exchange, which aws-lc-rs (a C build) would bring.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(pem) {
                roots
                    .add(c.map_err(|e| format!("server.tls_client_ca: {e}"))?)
                    .map_err(|e| format!("server.tls_client_ca: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("server.tls_client_ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("server.tls_cert and server.tls_key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
