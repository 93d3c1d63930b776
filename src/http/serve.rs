//! Runs a router on a bound listener with the bounds of the gRPC port: a connection limit, a timeout for a
//! request's headers (which also closes a keep-alive connection left silent), HTTP/2 keepalive PINGs, and a
//! graceful drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connection bounds of the HTTP listener (the `server.*` values the gRPC port uses).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Open connections at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// A request's headers must arrive within this long, from accept or from the end of the previous request.
    pub header_timeout: Duration,
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
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
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
        let service = TowerToHyperService::new(app.clone());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(sock), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
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
