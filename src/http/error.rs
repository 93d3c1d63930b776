//! Errors over HTTP: the `tonic::Status` that [`crate::status::ApiError`] maps to, written as a `google.rpc.Status`
//! in the proto3 JSON mapping, with the HTTP code of the standard gRPC-to-HTTP mapping. The details are read back
//! from the status itself, so a JSON error carries exactly what the gRPC status of the same error carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::status::ApiError;

const TYPE_PREFIX: &str = "type.googleapis.com/google.rpc.";

/// A failed HTTP call: a gRPC status, answered as JSON.
#[derive(Debug)]
pub struct HttpError {
    status: Status,
    /// The HTTP code, when it differs from the mapping of the gRPC code (405, 413).
    http: Option<StatusCode>,
}

impl HttpError {
    /// INVALID_ARGUMENT with one BadRequest violation of `field`.
    pub fn invalid(field: &str, why: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![(field.to_string(), why.into())]).into()
    }

    /// `status` answered with `http` instead of the mapped HTTP code.
    pub fn with_http(status: Status, http: StatusCode) -> Self {
        Self {
            status,
            http: Some(http),
        }
    }

    /// The gRPC status this error carries.
    pub fn status(&self) -> &Status {
        &self.status
    }
}

impl From<Status> for HttpError {
    fn from(status: Status) -> Self {
        Self { status, http: None }
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Status::from(e).into()
    }
}

/// `status` as a `google.rpc.Status` in the proto3 JSON mapping, with its details, and the Retry-After seconds
/// of its RetryInfo, if any.
pub fn status_json(status: &Status) -> (Value, Option<u64>) {
    let d = status.get_error_details();
    let mut details = Vec::new();
    let mut retry_after = None;
    if let Some(b) = d.bad_request() {
        details.push(json!({
            "@type": format!("{TYPE_PREFIX}BadRequest"),
            "fieldViolations": b.field_violations.iter().map(|v| json!({
                "field": v.field,
                "description": v.description,
            })).collect::<Vec<_>>(),
        }));
    }
    if let Some(i) = d.error_info() {
        details.push(json!({
            "@type": format!("{TYPE_PREFIX}ErrorInfo"),
            "reason": i.reason,
            "domain": i.domain,
            "metadata": i.metadata,
        }));
    }
    if let Some(r) = d.retry_info() {
        let delay = r.retry_delay.unwrap_or_default();
        let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        retry_after = Some(secs.max(1));
        details.push(json!({
            "@type": format!("{TYPE_PREFIX}RetryInfo"),
            "retryDelay": duration_json(delay),
        }));
    }
    if let Some(q) = d.quota_failure() {
        details.push(json!({
            "@type": format!("{TYPE_PREFIX}QuotaFailure"),
            "violations": q.violations.iter().map(|v| json!({
                "subject": v.subject,
                "description": v.description,
            })).collect::<Vec<_>>(),
        }));
    }
    if let Some(r) = d.request_info() {
        details.push(json!({
            "@type": format!("{TYPE_PREFIX}RequestInfo"),
            "requestId": r.request_id,
            "servingData": r.serving_data,
        }));
    }
    let body = json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": details,
    });
    (body, retry_after)
}

/// A duration in the proto3 JSON mapping of google.protobuf.Duration: seconds with an `s` suffix.
fn duration_json(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}.{:09}s", d.as_secs(), d.subsec_nanos())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let code = self
            .http
            .unwrap_or_else(|| crate::status::http_code(self.status.code()));
        let (body, retry_after) = status_json(&self.status);
        let mut resp = (code, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        if let Some(secs) = retry_after
            && self.status.code() == Code::ResourceExhausted
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status.code() == Code::Unauthenticated {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"moderato\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_carries_retry_info_quota_failure_and_retry_after() {
        let e = HttpError::from(ApiError::RateLimited {
            retry_after_ms: 2_500,
            violations: vec![("author".into(), "5 per minute".into())],
        });
        let (body, retry) = status_json(e.status());
        assert_eq!(retry, Some(3));
        assert_eq!(body["code"], 8);
        assert_eq!(
            body["details"][0]["@type"],
            "type.googleapis.com/google.rpc.RetryInfo"
        );
        assert_eq!(body["details"][0]["retryDelay"], "3s");
        assert_eq!(body["details"][1]["violations"][0]["subject"], "author");
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "3");
    }
}
