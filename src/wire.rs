//! The edge of the gRPC listener: which connections are accepted and for how long they may stay silent
//! ([`Incoming`], [`GuardedStream`]), and how a request the server cannot read is answered ([`WireLayer`]):
//! a wrong content-type is HTTP 415, an undecodable message is INVALID_ARGUMENT and an oversized one
//! RESOURCE_EXHAUSTED, as the gRPC specification has it, instead of tonic's INTERNAL and OUT_OF_RANGE.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::Code;
use tonic::body::Body;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long a connection may stay silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From accept to the first request's headers (TLS handshake and HTTP/2 preface included).
    pub handshake_timeout: Duration,
    /// With no request in flight, how long a connection is kept open.
    pub idle_timeout: Duration,
}

/// What one connection has done so far; shared by its stream and the requests it carries.
#[derive(Debug)]
pub struct ConnState {
    accepted: Instant,
    seen_request: AtomicBool,
    active: AtomicUsize,
    /// When the last request finished, in ms since `accepted`.
    last_done_ms: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl ConnState {
    /// A connection accepted now.
    pub(crate) fn new() -> Self {
        Self {
            accepted: Instant::now(),
            seen_request: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            last_done_ms: AtomicU64::new(0),
            waker: Mutex::new(None),
        }
    }

    /// When the connection should be closed, if it stays as it is now.
    pub(crate) fn deadline(&self, limits: &ConnLimits, now: Instant) -> Instant {
        if !self.seen_request.load(Ordering::Acquire) {
            return self.accepted + limits.handshake_timeout;
        }
        if self.active.load(Ordering::Acquire) > 0 {
            // Re-checked when it passes: busy connections are never closed for idleness.
            return now + limits.idle_timeout;
        }
        let done = Duration::from_millis(self.last_done_ms.load(Ordering::Acquire));
        self.accepted + done + limits.idle_timeout
    }

    fn wake(&self) {
        if let Ok(mut w) = self.waker.lock()
            && let Some(w) = w.take()
        {
            w.wake();
        }
    }
}

/// Marks one request in flight on its connection until dropped (with the response body).
pub(crate) struct InFlight(Arc<ConnState>);

impl InFlight {
    /// The connection has a request in flight from now on.
    pub(crate) fn start(state: Arc<ConnState>) -> Self {
        state.seen_request.store(true, Ordering::Release);
        state.active.fetch_add(1, Ordering::AcqRel);
        Self(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let since = self.0.accepted.elapsed().as_millis() as u64;
        self.0.last_done_ms.fetch_max(since, Ordering::AcqRel);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0.wake();
    }
}

/// The connect info of a [`GuardedStream`]: the TCP addresses and the connection's state.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Local and remote address.
    pub tcp: TcpConnectInfo,
    state: Arc<ConnState>,
}

/// An accepted TCP connection that is closed when it stays silent too long: no request within the handshake
/// timeout, or no request in flight for the idle timeout. It holds one of the listener's connection permits.
pub struct GuardedStream {
    inner: TcpStream,
    state: Arc<ConnState>,
    limits: ConnLimits,
    timer: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl GuardedStream {
    fn new(inner: TcpStream, limits: ConnLimits, permit: OwnedSemaphorePermit) -> Self {
        let state = Arc::new(ConnState::new());
        let first = state.deadline(&limits, Instant::now());
        Self {
            inner,
            state,
            limits,
            timer: Box::pin(tokio::time::sleep_until(first)),
            _permit: permit,
        }
    }

    /// Ready with an error once the connection's deadline has passed; otherwise registers the waker.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if let Ok(mut w) = self.state.waker.lock()
            && !w.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            *w = Some(cx.waker().clone());
        }
        loop {
            let now = Instant::now();
            let deadline = self.state.deadline(&self.limits, now);
            if deadline <= now {
                let why = if self.state.seen_request.load(Ordering::Acquire) {
                    "idle connection closed (server.idle_timeout_ms)"
                } else {
                    "no request within server.handshake_timeout_ms"
                };
                tracing::debug!(reason = why, "closing connection");
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, why));
            }
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => continue,
            }
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.poll_deadline(cx).map(Err),
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Connected for GuardedStream {
    type ConnectInfo = ConnInfo;
    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            tcp: self.inner.connect_info(),
            state: self.state.clone(),
        }
    }
}

type Acquire = Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>;

/// The listener's accepted connections: at most `max_connections` open at once (further clients wait in the
/// kernel's backlog), each with TCP_NODELAY set and guarded by [`ConnLimits`].
pub struct Incoming {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    acquiring: Option<Acquire>,
    permit: Option<OwnedSemaphorePermit>,
    limits: ConnLimits,
}

impl Incoming {
    /// Accepts from `listener`.
    pub fn new(listener: TcpListener, max_connections: usize, limits: ConnLimits) -> Self {
        Self {
            listener,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            acquiring: None,
            permit: None,
            limits,
        }
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<GuardedStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.permit.is_none() {
            let permits = this.permits.clone();
            let acquiring = this.acquiring.get_or_insert_with(|| {
                Box::pin(async move {
                    match permits.acquire_owned().await {
                        Ok(p) => p,
                        // The semaphore is never closed.
                        Err(_) => std::future::pending().await,
                    }
                })
            });
            match acquiring.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(p) => {
                    this.acquiring = None;
                    this.permit = Some(p);
                }
            }
        }
        match this.listener.poll_accept(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok((sock, _))) => {
                // Without TCP_NODELAY a response written in several segments waits on the peer's delayed ACK.
                if let Err(e) = sock.set_nodelay(true) {
                    return Poll::Ready(Some(Err(e)));
                }
                let Some(permit) = this.permit.take() else {
                    return Poll::Ready(Some(Err(io::Error::other("no connection permit"))));
                };
                Poll::Ready(Some(Ok(GuardedStream::new(sock, this.limits, permit))))
            }
        }
    }
}

/// Tower layer over the gRPC routes: refuses non-gRPC content types with HTTP 415, marks requests in flight on
/// their connection, and answers requests the server could not read as the client's error.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireLayer;

impl<S> tower::Layer<S> for WireLayer {
    type Service = WireService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        WireService { inner }
    }
}

/// The service made by [`WireLayer`].
#[derive(Debug, Clone)]
pub struct WireService<S> {
    inner: S,
}

fn conn_state<B>(req: &http::Request<B>) -> Option<Arc<ConnState>> {
    if let Some(i) = req.extensions().get::<ConnInfo>() {
        return Some(i.state.clone());
    }
    req.extensions()
        .get::<tonic::transport::server::TlsConnectInfo<ConnInfo>>()
        .map(|i| i.get_ref().state.clone())
}

fn is_grpc(content_type: Option<&http::HeaderValue>) -> bool {
    content_type.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "application/grpc"
            || v.starts_with("application/grpc+")
            || v.starts_with("application/grpc;")
    })
}

fn unsupported_media_type() -> http::Response<Body> {
    let mut r = http::Response::new(Body::new(http_body_util::Full::new(
        bytes::Bytes::from_static(b"content-type must be application/grpc\n"),
    )));
    *r.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The status a client should get instead of `status`, when tonic reported the client's malformed request as a
/// server error.
pub fn client_error(status: &tonic::Status) -> Option<tonic::Status> {
    let m = status.message();
    match status.code() {
        Code::Internal
            if m.starts_with("failed to decode Protobuf message")
                || m == "Unexpected EOF decoding stream."
                || m == "Missing request message."
                || m.starts_with(
                    "protocol error: received message with invalid compression flag",
                ) =>
        {
            let what = if m.starts_with("failed to decode Protobuf message") {
                m.to_string()
            } else if m == "Missing request message." {
                "the request has no message".to_string()
            } else if m.starts_with("Unexpected EOF") {
                "the request ended inside a message (truncated gRPC frame)".to_string()
            } else {
                "the message's compressed-flag byte must be 0 or 1".to_string()
            };
            Some(tonic::Status::invalid_argument(format!(
                "undecodable request: {what}"
            )))
        }
        Code::OutOfRange if m.starts_with("Error, decoded message length too large") => {
            // "Error, decoded message length too large: found N bytes, the limit is: L bytes"
            let found = number_after(m, "found ");
            let limit = number_after(m, "the limit is: ");
            let text = match (found, limit) {
                (Some(f), Some(l)) => {
                    format!("request message too large: {f} bytes; the limit is {l} bytes")
                }
                _ => format!("request message too large ({m})"),
            };
            Some(tonic::Status::resource_exhausted(text))
        }
        _ => None,
    }
}

fn number_after(s: &str, marker: &str) -> Option<u64> {
    let rest = &s[s.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl<S, B> tower::Service<http::Request<B>> for WireService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let in_flight = conn_state(&req).map(InFlight::start);
        if !is_grpc(req.headers().get(http::header::CONTENT_TYPE)) {
            return Box::pin(async move { Ok(unsupported_media_type()) });
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let res = inner.call(req).await?;
            let res = match tonic::Status::from_header_map(res.headers())
                .and_then(|s| client_error(&s))
            {
                Some(s) => s.into_http::<Body>(),
                None => res,
            };
            // The request stays in flight until its response body is done (streams included).
            Ok(match in_flight {
                Some(guard) => res.map(|body| {
                    use http_body_util::BodyExt;
                    Body::new(body.map_frame(move |f| {
                        let _ = &guard;
                        f
                    }))
                }),
                None => res,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_decode_errors_become_client_errors() {
        let s = client_error(&tonic::Status::internal(
            "failed to decode Protobuf message: SubmitCommentRequest.body: invalid string value: data is not UTF-8 encoded",
        ))
        .expect("rewritten");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("SubmitCommentRequest.body"), "{s:?}");
        let s = client_error(&tonic::Status::out_of_range(
            "Error, decoded message length too large: found 5000005 bytes, the limit is: 4194304 bytes",
        ))
        .expect("rewritten");
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(
            s.message(),
            "request message too large: 5000005 bytes; the limit is 4194304 bytes"
        );
        assert!(client_error(&tonic::Status::internal("something else")).is_none());
        assert!(client_error(&tonic::Status::out_of_range("page 9 of 3")).is_none());
    }

    #[test]
    fn only_grpc_content_types_pass() {
        let v = |s: &'static str| http::HeaderValue::from_static(s);
        assert!(is_grpc(Some(&v("application/grpc"))));
        assert!(is_grpc(Some(&v("application/grpc+proto"))));
        assert!(!is_grpc(Some(&v("text/plain"))));
        assert!(!is_grpc(Some(&v("application/grpcx"))));
        assert!(!is_grpc(None));
    }
}
