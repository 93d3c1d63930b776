//! The portal's calls as JSON over HTTP (AIP-127 style routes). Bodies are the gRPC messages in the proto3 JSON
//! mapping (pbjson); each route calls the gRPC handler of the same call in-process, so validation, conversion
//! and errors are the ones the gRPC front door has. Role: portal, as on gRPC.
//!
//! | route | call |
//! |---|---|
//! | `POST /v1/sites/{site}/captcha-challenges` | CaptchaService.CreateChallenge |
//! | `GET /v1/sites/{site}/captcha-challenges/{id}/image.png` | the image of a challenge this replica issued |
//! | `POST /v1/sites/{site}/captcha-challenges/{id}/check` | CaptchaService.CheckChallenge |
//! | `POST /v1/sites/{site}/comments` | CommentService.SubmitComment |
//! | `GET /v1/sites/{site}/comments/{id}` | CommentService.GetComment |
//! | `GET /v1/sites/{site}/decisions` | CommentService.WatchDecisions: long-poll, or server-sent events |
//! | `GET /v1/openapi.json` | this API's OpenAPI 3.1 document (no token) |

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_stream::StreamExt;
use tonic::Status;

use super::{HttpError, REQUEST_TIMEOUT, Services, authorize};
use crate::api::captcha::CaptchaApi;
use crate::api::comment::CommentApi;
use crate::auth::{Role, Tokens};
use crate::proto::captcha_service_server::CaptchaService;
use crate::proto::comment_service_server::CommentService;
use crate::proto::{
    CheckChallengeRequest, CreateChallengeRequest, GetCommentRequest, ListDecisionsResponse,
    SubmitCommentRequest,
};
use crate::review::service::ReviewService;
use crate::status::ApiError;

/// The committed OpenAPI 3.1 document of the JSON API.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

/// Longest long-poll wait, seconds.
pub const MAX_POLL_SECONDS: u64 = 60;
/// Long-poll wait when `timeout` is not given, seconds.
pub const DEFAULT_POLL_SECONDS: u64 = 30;
/// Most events in one long-poll answer.
pub const MAX_POLL_EVENTS: usize = 1000;
/// Events in one long-poll answer when `max` is not given.
pub const DEFAULT_POLL_EVENTS: usize = 100;

const PORTAL: &[Role] = &[Role::Portal];

pub use crate::api::captcha::TEST_ANSWER_HEADER;

#[derive(Clone)]
struct PortalState {
    tokens: Tokens,
    captcha: CaptchaApi,
    comment: CommentApi,
    reviews: ReviewService,
    images: ImageCache,
}

/// The portal's routes and `/v1/openapi.json`.
pub fn routes(s: &Services) -> Router {
    let state = PortalState {
        tokens: s.tokens.clone(),
        captcha: CaptchaApi::new(s.captchas.clone(), s.captcha_settings)
            .with_test_answers(s.captcha_test_answers),
        comment: CommentApi::new(s.comments.clone(), s.reviews.clone()),
        reviews: s.reviews.clone(),
        images: ImageCache::new(IMAGE_CACHE_ENTRIES),
    };
    Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route(
            "/v1/sites/{site}/captcha-challenges",
            post(create_challenge),
        )
        .route(
            "/v1/sites/{site}/captcha-challenges/{id}/image.png",
            get(challenge_image),
        )
        .route(
            "/v1/sites/{site}/captcha-challenges/{id}/check",
            post(check_challenge),
        )
        .route("/v1/sites/{site}/comments", post(submit_comment))
        .route("/v1/sites/{site}/comments/{id}", get(get_comment))
        .route("/v1/sites/{site}/decisions", get(decisions))
        .with_state(state)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

/// A message in the proto3 JSON mapping.
fn json_response<T: Serialize>(status: StatusCode, msg: &T) -> Result<Response, HttpError> {
    let body = serde_json::to_vec(msg)
        .map_err(|e| ApiError::Internal(format!("cannot encode the answer as JSON: {e}")))?;
    Ok((
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// The request body as a message in the proto3 JSON mapping; an empty body is the empty message.
fn parse_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, HttpError> {
    let body = body.map_err(|e| {
        let status = e.status();
        let err =
            Status::invalid_argument(format!("cannot read the request body: {}", e.body_text()));
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::with_http(
                Status::invalid_argument(format!(
                    "the request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                )),
                status,
            )
        } else {
            err.into()
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|e| {
        HttpError::invalid(
            "body",
            format!("must be a JSON object in the proto3 JSON mapping of the request message: {e}"),
        )
    })
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, HttpError> {
    p.map(|Path(p)| p)
        .map_err(|e| HttpError::invalid("path", e.body_text()))
}

/// The path's site, refusing a body that names another one.
fn same_site(path_site: String, body_site: &str) -> Result<String, HttpError> {
    if !body_site.is_empty() && body_site != path_site {
        return Err(HttpError::invalid(
            "site",
            "must be left out of the body or equal the site in the path",
        ));
    }
    Ok(path_site)
}

/// Runs a non-streaming call within [`REQUEST_TIMEOUT`].
async fn bounded<T>(f: impl Future<Output = Result<T, Status>>) -> Result<T, HttpError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(r) => r.map_err(HttpError::from),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "the call did not finish within {} s",
            REQUEST_TIMEOUT.as_secs()
        ))
        .into()),
    }
}

async fn create_challenge(
    State(s): State<PortalState>,
    headers: HeaderMap,
    site: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    authorize(&s.tokens, PORTAL, &headers)?;
    let mut req: CreateChallengeRequest = parse_body(body)?;
    req.site = same_site(path(site)?, &req.site)?;
    let site = req.site.clone();
    let resp = bounded(s.captcha.create_challenge(tonic::Request::new(req))).await?;
    let answer = resp.metadata().get(TEST_ANSWER_HEADER).cloned();
    let out = resp.into_inner();
    let expires_ms = out
        .expires_at
        .as_ref()
        .map(|t| (t.seconds.max(0) as u64) * 1000 + (t.nanos.max(0) as u64) / 1_000_000)
        .unwrap_or_default();
    s.images
        .insert(&site, &out.challenge_id, out.image_png.clone(), expires_ms);
    let mut resp = json_response(StatusCode::OK, &out)?;
    if let Some(a) =
        answer.and_then(|a| a.to_str().ok().and_then(|a| HeaderValue::from_str(a).ok()))
    {
        resp.headers_mut().insert(TEST_ANSWER_HEADER, a);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/v1/sites/{site}/captcha-challenges/{}/image.png",
        out.challenge_id
    )) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn challenge_image(
    State(s): State<PortalState>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, HttpError> {
    authorize(&s.tokens, PORTAL, &headers)?;
    let (site, id) = path(p)?;
    let mut v = crate::validate::Violations::default();
    v.site("site", &site);
    if !crate::captcha::is_challenge_id(&id) {
        v.add(
            "challenge_id",
            "must be the 32-hex-digit id returned by CreateChallenge",
        );
    }
    v.finish().map_err(ApiError::from)?;
    let png = s.images.get(&site, &id, now_ms()).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no image for challenge {id}: it expired, was never issued for site {site}, or was issued by another \
             replica (use imagePng from the create answer behind a load balancer)"
        ))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        png,
    )
        .into_response())
}

async fn check_challenge(
    State(s): State<PortalState>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    authorize(&s.tokens, PORTAL, &headers)?;
    let (site, id) = path(p)?;
    let mut req: CheckChallengeRequest = parse_body(body)?;
    req.site = same_site(site, &req.site)?;
    if !req.challenge_id.is_empty() && req.challenge_id != id {
        return Err(HttpError::invalid(
            "challenge_id",
            "must be left out of the body or equal the id in the path",
        ));
    }
    req.challenge_id = id;
    let out = bounded(s.captcha.check_challenge(tonic::Request::new(req)))
        .await?
        .into_inner();
    json_response(StatusCode::OK, &out)
}

async fn submit_comment(
    State(s): State<PortalState>,
    headers: HeaderMap,
    site: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    authorize(&s.tokens, PORTAL, &headers)?;
    let mut req: SubmitCommentRequest = parse_body(body)?;
    req.site = same_site(path(site)?, &req.site)?;
    let out = bounded(s.comment.submit_comment(tonic::Request::new(req)))
        .await?
        .into_inner();
    json_response(StatusCode::OK, &out)
}

async fn get_comment(
    State(s): State<PortalState>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, HttpError> {
    authorize(&s.tokens, PORTAL, &headers)?;
    let (site, comment_id) = path(p)?;
    let out = bounded(
        s.comment
            .get_comment(tonic::Request::new(GetCommentRequest { site, comment_id })),
    )
    .await?
    .into_inner();
    json_response(StatusCode::OK, &out)
}

/// The query of `GET /v1/sites/{site}/decisions`.
struct DecisionsQuery {
    after: String,
    timeout: Duration,
    max: usize,
}

fn decisions_query(
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<DecisionsQuery, HttpError> {
    let mut v = crate::validate::Violations::default();
    let after = match q.get("after") {
        Some(a) => a.clone(),
        // A reconnecting EventSource sends the last id it received.
        None => headers
            .get("last-event-id")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    };
    let timeout = match q.get("timeout") {
        None => DEFAULT_POLL_SECONDS,
        Some(t) => match t.trim_end_matches('s').parse::<u64>() {
            Ok(n) if (1..=MAX_POLL_SECONDS).contains(&n) => n,
            _ => {
                v.add(
                    "timeout",
                    format!("must be a whole number of seconds from 1 to {MAX_POLL_SECONDS}"),
                );
                0
            }
        },
    };
    let max = match q.get("max") {
        None => DEFAULT_POLL_EVENTS,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=MAX_POLL_EVENTS).contains(&n) => n,
            _ => {
                v.add(
                    "max",
                    format!("must be a number from 1 to {MAX_POLL_EVENTS}"),
                );
                0
            }
        },
    };
    v.finish().map_err(ApiError::from)?;
    Ok(DecisionsQuery {
        after,
        timeout: Duration::from_secs(timeout),
        max,
    })
}

/// Renames the gRPC field `after_cursor` to this route's `after` parameter in a BadRequest.
fn rename_cursor(e: ApiError) -> ApiError {
    match e {
        ApiError::InvalidArgument(v) => ApiError::InvalidArgument(
            v.into_iter()
                .map(|(f, why)| {
                    if f == "after_cursor" {
                        ("after".to_string(), why)
                    } else {
                        (f, why)
                    }
                })
                .collect(),
        ),
        other => other,
    }
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

async fn decisions(
    State(s): State<PortalState>,
    headers: HeaderMap,
    site: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, HttpError> {
    authorize(&s.tokens, PORTAL, &headers)?;
    let site = path(site)?;
    let Query(q) = q.map_err(|e| HttpError::invalid("query", e.body_text()))?;
    let q = decisions_query(&q, &headers)?;
    crate::api::record_site(&site);
    let mut events = s
        .reviews
        .watch(&site, &q.after)
        .map_err(|e| rename_cursor(ApiError::from(e)))?;
    if wants_event_stream(&headers) {
        let stream = events.map(|item| {
            Ok::<_, Infallible>(match item {
                Ok(e) => {
                    let msg = crate::api::convert::event(&e);
                    Event::default()
                        .id(msg.cursor.clone())
                        .event("decision")
                        .data(serde_json::to_string(&msg).unwrap_or_default())
                }
                // The watch ends after an error; the client reconnects with its last id.
                Err(e) => {
                    let status = Status::from(ApiError::from(e));
                    let (body, _) = super::error::status_json(&status);
                    Event::default().event("error").data(body.to_string())
                }
            })
        });
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response());
    }
    let mut out = ListDecisionsResponse {
        events: Vec::new(),
        next_cursor: q.after.clone(),
    };
    match tokio::time::timeout(q.timeout, events.next()).await {
        Err(_) | Ok(None) => {}
        Ok(Some(Err(e))) => return Err(ApiError::from(e).into()),
        Ok(Some(Ok(first))) => {
            out.events.push(crate::api::convert::event(&first));
            // Whatever else is already read, without waiting for more.
            while out.events.len() < q.max {
                let next = tokio::select! {
                    biased;
                    n = events.next() => n,
                    _ = std::future::ready(()) => None,
                };
                match next {
                    Some(Ok(e)) => out.events.push(crate::api::convert::event(&e)),
                    _ => break,
                }
            }
        }
    }
    if let Some(last) = out.events.last() {
        out.next_cursor = last.cursor.clone();
    }
    json_response(StatusCode::OK, &out)
}

/// Challenge images this replica issued, until they expire: the image route serves them. Bounded; when full,
/// the entry closest to expiry goes first.
#[derive(Clone)]
struct ImageCache {
    inner: Arc<Mutex<ImageCacheInner>>,
}

struct ImageCacheInner {
    cap: usize,
    by_key: HashMap<(String, String), (Bytes, u64)>,
    order: VecDeque<(String, String)>,
}

fn now_ms() -> u64 {
    use crate::clock::Clock as _;
    crate::clock::SystemClock.now_ms()
}

/// Images kept at most (about 7 KB each).
const IMAGE_CACHE_ENTRIES: usize = 4096;

impl ImageCache {
    fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ImageCacheInner {
                cap,
                by_key: HashMap::new(),
                order: VecDeque::new(),
            })),
        }
    }

    fn insert(&self, site: &str, id: &str, png: Vec<u8>, expires_ms: u64) {
        let Ok(mut c) = self.inner.lock() else {
            return;
        };
        let now = now_ms();
        // Challenges share one TTL, so insertion order is expiry order.
        while let Some(k) = c.order.front().cloned() {
            let expired = c.by_key.get(&k).is_none_or(|(_, exp)| *exp <= now);
            if expired || c.by_key.len() >= c.cap {
                c.order.pop_front();
                c.by_key.remove(&k);
            } else {
                break;
            }
        }
        let key = (site.to_string(), id.to_string());
        c.order.push_back(key.clone());
        c.by_key.insert(key, (Bytes::from(png), expires_ms));
    }

    fn get(&self, site: &str, id: &str, now_ms: u64) -> Option<Bytes> {
        let c = self.inner.lock().ok()?;
        let (png, exp) = c.by_key.get(&(site.to_string(), id.to_string()))?;
        (*exp > now_ms).then(|| png.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_cache_is_bounded_and_forgets_expired_images() {
        let c = ImageCache::new(2);
        let now = now_ms();
        c.insert("s", "a", vec![1], now + 60_000);
        c.insert("s", "b", vec![2], now + 60_000);
        c.insert("s", "c", vec![3], now + 60_000);
        assert_eq!(c.get("s", "a", now), None, "the oldest went first");
        assert_eq!(c.get("s", "c", now).as_deref(), Some(&[3u8][..]));
        assert_eq!(c.get("other", "c", now), None, "another site's id");
        assert_eq!(c.get("s", "b", now + 60_000), None, "expired");
    }

    #[test]
    fn the_decisions_query_is_checked_field_by_field() {
        let q: HashMap<String, String> = [("timeout", "0"), ("max", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let e = decisions_query(&q, &HeaderMap::new())
            .err()
            .expect("refused");
        let fields: Vec<String> = tonic_types::StatusExt::get_error_details(e.status())
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["timeout", "max"]);
    }
}
