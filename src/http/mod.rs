//! The HTTP listener (`server.http_listen`): JSON over HTTP for the portal, and the place where the web console
//! joins.
//!
//! # Composition
//! [`router`] builds one axum [`Router`] from [`Services`], the same in-process domain services the gRPC handlers
//! use. Each front door adds its routes there:
//! - [`portal::routes`]: `/v1/...`, the portal's calls in the proto3 JSON mapping, and `/v1/openapi.json`;
//! - [`crate::console::routes`]: `/console/...`, the web console. Its routes set no fallback of their own (axum
//!   panics on two), and paths under `/v1/` belong to the JSON API.
//!
//! [`router`] then adds what every route shares: the JSON 404/405 fallbacks, the body size limit and the
//! per-route request counter. [`serve`] runs the router on a bound listener with the connection bounds of the
//! gRPC port.

pub mod error;
pub mod openapi;
pub mod portal;
mod serve;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tonic::Status;

pub use error::HttpError;
pub use serve::{HttpLimits, serve, tls_acceptor};

use crate::audit::service::AuditService;
use crate::auth::{Caller, Role, Sessions, Tokens};
use crate::captcha::{Captchas, Settings};
use crate::comment::Comments;
use crate::policy::Policies;
use crate::review::service::ReviewService;

/// Largest request body accepted, bytes (a comment's longest body in JSON with every character escaped fits).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a non-streaming call may take before it is answered DEADLINE_EXCEEDED.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The domain services every front door calls in-process, and the tokens that guard them.
#[derive(Clone)]
pub struct Services {
    /// Captcha challenges.
    pub captchas: Captchas,
    /// How challenges are issued.
    pub captcha_settings: Settings,
    /// Test only (`captcha.test_answer_header`): challenges created over HTTP hand out their answer.
    pub captcha_test_answers: bool,
    /// Submissions.
    pub comments: Comments,
    /// The review queue, comment lookups and the decision stream.
    pub reviews: ReviewService,
    /// Live per-site policies and models.
    pub policies: Policies,
    /// Bearer tokens by role.
    pub tokens: Tokens,
    /// The audit trail, read back.
    pub audit: AuditService,
    /// Web console sessions.
    pub sessions: Sessions,
    /// The listener speaks TLS: the console's cookies are Secure.
    pub tls: bool,
    /// The console's time zone (`server.console_utc_offset_minutes`).
    pub console_utc_offset_minutes: i32,
}

/// Every HTTP route of moderato, with the shared fallbacks and limits.
pub fn router(services: &Services) -> Router {
    let app = Router::new().merge(portal::routes(services));
    let app = app.merge(crate::console::routes(crate::console::Deps {
        reviews: services.reviews.clone(),
        policies: services.policies.clone(),
        audit: services.audit.clone(),
        sessions: services.sessions.clone(),
        privacy: crate::privacy::Privacy::new(
            services.comments.store.clone(),
            services.comments.ids.clone(),
            services.reviews.announcer(),
        ),
        secure_cookies: services.tls,
        zone: crate::console::Zone {
            minutes: services.console_utc_offset_minutes,
        },
    }));
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(count_requests))
}

/// The caller of a request, admitted only with a bearer token of one of `roles`; the same checks and messages
/// as the gRPC interceptor ([`crate::auth::RoleGuard`]).
pub fn authorize(
    tokens: &Tokens,
    roles: &'static [Role],
    headers: &HeaderMap,
) -> Result<Caller, HttpError> {
    use tonic::service::Interceptor as _;
    let mut md = tonic::metadata::MetadataMap::new();
    for v in headers.get_all(header::AUTHORIZATION) {
        let Some(v) = v
            .to_str()
            .ok()
            .and_then(|s| tonic::metadata::MetadataValue::try_from(s).ok())
        else {
            return Err(Status::unauthenticated(
                "invalid bearer token: check the token or ask ops for one",
            )
            .into());
        };
        md.append("authorization", v);
    }
    let req = tonic::Request::from_parts(md, tonic::Extensions::default(), ());
    let req = tokens.guard_any(roles).call(req)?;
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("request did not pass authentication").into())
}

async fn not_found(method: Method, uri: axum::http::Uri) -> HttpError {
    Status::not_found(format!(
        "no route for {method} {}; the routes are listed in /v1/openapi.json",
        uri.path()
    ))
    .into()
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> HttpError {
    HttpError::with_http(
        Status::unimplemented(format!(
            "{method} is not allowed on {}; see /v1/openapi.json",
            uri.path()
        )),
        StatusCode::METHOD_NOT_ALLOWED,
    )
}

/// One span per request (`route`, `site`, `comment_id`), `moderato_http_requests_total{route,code}` and
/// `moderato_http_duration_seconds{route}` (for streams: time to the response headers).
async fn count_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = match *req.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD => req.method().as_str(),
        // Any other token is a valid method: keep the label set bounded.
        _ => "OTHER",
    }
    .to_string();
    let started = Instant::now();
    let route: Arc<str> = format!("{method} {route}").into();
    // The same fields as the gRPC span: handlers record the site and the comment id on it.
    let span = tracing::info_span!(
        "http",
        route = %route,
        site = tracing::field::Empty,
        comment_id = tracing::field::Empty
    );
    let resp = tracing::Instrument::instrument(next.run(req), span).await;
    metrics::counter!(
        "moderato_http_requests_total",
        "route" => route.to_string(),
        "code" => resp.status().as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("moderato_http_duration_seconds", "route" => route.to_string())
        .record(started.elapsed().as_secs_f64());
    resp
}
