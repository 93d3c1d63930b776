//! The one table from domain errors to wire statuses: every failure a front door can return is an [`ApiError`],
//! built from the domain services' error enums here, and becomes a gRPC status with google.rpc details
//! (BadRequest, ErrorInfo, RetryInfo, QuotaFailure, RequestInfo) in [`From<ApiError> for Status`]. The gRPC,
//! JSON/HTTP and console front doors all answer through it, so the same failure reads the same everywhere.

use std::time::Duration;

use http::StatusCode;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::captcha::CaptchaError;
use crate::comment::SubmitError;
use crate::policy::PolicyError;
use crate::rate_limit::retry_after_secs;
use crate::review::service::ReviewError;
use crate::store::StoreError;
use crate::validate::Invalid;

/// One WARN line per distinct store error per 10 s (the rest at debug level, counted in the next WARN's
/// `suppressed`): an outage fails every call with the same few errors.
static STORE_WARNINGS: std::sync::LazyLock<crate::telemetry::LogGate> =
    std::sync::LazyLock::new(|| crate::telemetry::LogGate::new(Duration::from_secs(10)));

/// The ErrorInfo domain of every moderato error.
pub const ERROR_DOMAIN: &str = "moderato.v1";

/// Every failure a handler can return. Converted to a [`Status`] in [`From<ApiError> for Status`] only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Bad fields: (field path, what is wrong), all of them.
    InvalidArgument(Vec<(String, String)>),
    /// Wrong, unknown or used captcha.
    CaptchaInvalid,
    /// Expired captcha.
    CaptchaExpired,
    /// An idempotency key sent again with a different comment.
    IdempotencyKeyReused,
    /// Over a limit: the longest wait and every violated limit (subject, description).
    RateLimited {
        /// Wait until every violated limit allows, ms.
        retry_after_ms: u64,
        /// (limit subject, description).
        violations: Vec<(String, String)>,
    },
    /// The store is unreachable or slow.
    Unavailable(String),
    /// Unknown resource.
    NotFound(String),
    /// A bug or an unexpected state.
    Internal(String),
    /// Lease lost, or the state changed since the caller looked.
    Aborted(String),
    /// The system is not in a state where this can be done (e.g. a broken model artifact).
    FailedPrecondition(String),
    /// The caller is authenticated but may not do this to this resource.
    PermissionDenied(String),
    /// The server is shutting down: retry on another replica (a watcher with its last cursor).
    ShuttingDown(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<crate::rate_limit::Refusal> for ApiError {
    fn from(r: crate::rate_limit::Refusal) -> Self {
        ApiError::RateLimited {
            retry_after_ms: r.retry_after_ms,
            violations: r.violations,
        }
    }
}

impl From<CaptchaError> for ApiError {
    fn from(e: CaptchaError) -> Self {
        match e {
            CaptchaError::Invalid => ApiError::CaptchaInvalid,
            CaptchaError::Expired => ApiError::CaptchaExpired,
            CaptchaError::RateLimited {
                retry_after_ms,
                limit,
            } => ApiError::RateLimited {
                retry_after_ms,
                violations: vec![("captcha_client".into(), limit)],
            },
            CaptchaError::TooManyLive {
                retry_after_ms,
                limit,
            } => ApiError::RateLimited {
                retry_after_ms,
                violations: vec![("captcha_live".into(), limit)],
            },
            CaptchaError::Render => ApiError::Internal(e.to_string()),
            CaptchaError::Store(s) => s.into(),
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        match e {
            ApiError::InvalidArgument(v) => {
                let mut d = ErrorDetails::new();
                for (field, why) in &v {
                    d.add_bad_request_violation(field.clone(), why.clone());
                }
                let names: Vec<&str> = v.iter().map(|(f, _)| f.as_str()).collect();
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid request: fix {}", names.join(", ")),
                    d,
                )
            }
            ApiError::CaptchaInvalid | ApiError::CaptchaExpired => {
                let (reason, msg) = if e == ApiError::CaptchaExpired {
                    (
                        "CAPTCHA_EXPIRED",
                        "captcha challenge expired; ask for a new challenge",
                    )
                } else {
                    (
                        "CAPTCHA_INVALID",
                        "captcha answer is wrong, or the challenge is unknown or used; ask for a new challenge",
                    )
                };
                Status::with_error_details(
                    Code::FailedPrecondition,
                    msg,
                    ErrorDetails::with_error_info(
                        reason,
                        ERROR_DOMAIN,
                        std::collections::HashMap::new(),
                    ),
                )
            }
            ApiError::IdempotencyKeyReused => Status::with_error_details(
                Code::FailedPrecondition,
                "this idempotency key was already used for a different comment; send each new comment with a new key (a retry must resend the same fields)",
                ErrorDetails::with_error_info(
                    "IDEMPOTENCY_KEY_REUSED",
                    ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                ),
            ),
            ApiError::RateLimited {
                retry_after_ms,
                violations,
            } => {
                let secs = retry_after_secs(retry_after_ms);
                let mut d = ErrorDetails::with_retry_info(Some(Duration::from_secs(secs)));
                for (subject, desc) in violations {
                    d.add_quota_failure_violation(subject, desc);
                }
                Status::with_error_details(
                    Code::ResourceExhausted,
                    format!("rate limited; retry in {secs} s"),
                    d,
                )
            }
            ApiError::Unavailable(m) => {
                // The detail (addresses, store error text) stays in the log; the caller gets a stable message and
                // the id that finds the log line.
                let error_id = crate::auth::generate_token()[..16].to_string();
                match STORE_WARNINGS.admit(&m, std::time::Instant::now()) {
                    Some(suppressed) => tracing::warn!(
                        error_id = %error_id,
                        detail = %m,
                        suppressed,
                        "store unavailable"
                    ),
                    None => tracing::debug!(error_id = %error_id, detail = %m, "store unavailable"),
                }
                let message = if m.contains("no replica acknowledged") {
                    format!(
                        "store unavailable: the write was not acknowledged by a replica in time and may not be durable; retry with the same idempotency key (error id {error_id})"
                    )
                } else {
                    format!("store unavailable, retry later (error id {error_id})")
                };
                let mut d = ErrorDetails::with_error_info(
                    "STORE_UNAVAILABLE",
                    ERROR_DOMAIN,
                    std::collections::HashMap::from([("error_id".to_string(), error_id.clone())]),
                );
                d.set_request_info(error_id.clone(), "");
                Status::with_error_details(Code::Unavailable, message, d)
            }
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::Aborted(m) => Status::aborted(m),
            ApiError::PermissionDenied(m) => Status::permission_denied(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::ShuttingDown(m) => Status::unavailable(m),
            ApiError::Internal(m) => Status::internal(m),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(Invalid(v): Invalid) -> Self {
        ApiError::InvalidArgument(v)
    }
}

impl From<Invalid> for Status {
    fn from(e: Invalid) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::Invalid(v) => v.into(),
            ReviewError::LeaseLost | ReviewError::StatusChanged { .. } => {
                ApiError::Aborted(e.to_string())
            }
            ReviewError::NotYourLease
            | ReviewError::NotYourDecision { .. }
            | ReviewError::OwnAppeal => ApiError::PermissionDenied(e.to_string()),
            ReviewError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ReviewError::NotHeld { .. } => ApiError::FailedPrecondition(e.to_string()),
            ReviewError::ShuttingDown => ApiError::ShuttingDown(e.to_string()),
            ReviewError::Store(s) => s.into(),
        }
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        match e {
            crate::audit::AuditError::Invalid(v) => v.into(),
            crate::audit::AuditError::Store(s) => s.into(),
        }
    }
}

impl From<crate::webhook::WebhookError> for ApiError {
    fn from(e: crate::webhook::WebhookError) -> Self {
        use crate::webhook::WebhookError;
        match e {
            WebhookError::Invalid(v) => v.into(),
            WebhookError::NotSet(_) => ApiError::NotFound(e.to_string()),
            WebhookError::Conflict => ApiError::Aborted(e.to_string()),
            WebhookError::Store(s) => s.into(),
        }
    }
}

impl From<crate::privacy::PrivacyError> for ApiError {
    fn from(e: crate::privacy::PrivacyError) -> Self {
        use crate::privacy::PrivacyError;
        match e {
            PrivacyError::Invalid(v) => v.into(),
            PrivacyError::NotFound(_) => ApiError::NotFound(e.to_string()),
            PrivacyError::NotAppealable(_) => ApiError::FailedPrecondition(e.to_string()),
            PrivacyError::Store(s) => s.into(),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Invalid(v) => ApiError::InvalidArgument(v),
            SubmitError::CaptchaInvalid => ApiError::CaptchaInvalid,
            SubmitError::CaptchaExpired => ApiError::CaptchaExpired,
            SubmitError::RateLimited(r) => r.into(),
            SubmitError::KeyReused => ApiError::IdempotencyKeyReused,
            SubmitError::Store(s) => s.into(),
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Invalid(v) => ApiError::InvalidArgument(v),
            PolicyError::Conflict { current } => ApiError::Aborted(format!(
                "the policy changed since you read it (now version {current}); read it again and retry"
            )),
            PolicyError::UnknownModel(v) => {
                ApiError::NotFound(format!("no model {v:?}; see ListModels"))
            }
            PolicyError::NoPrevious => {
                ApiError::NotFound("no previous model to roll back to".into())
            }
            PolicyError::Model(m) => ApiError::FailedPrecondition(format!(
                "the model cannot be activated: {m}; see ListModels' problem field"
            )),
            PolicyError::Store(s) => s.into(),
        }
    }
}

/// The standard gRPC-to-HTTP code mapping (google.rpc.Code, as in grpc-gateway and Google APIs).
pub fn http_code(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grpc_code_maps_to_the_standard_http_code() {
        let table = [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::OutOfRange, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::Aborted, 409),
            (Code::AlreadyExists, 409),
            (Code::ResourceExhausted, 429),
            (Code::Cancelled, 499),
            (Code::Internal, 500),
            (Code::Unknown, 500),
            (Code::DataLoss, 500),
            (Code::Unimplemented, 501),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
        ];
        for (code, http) in table {
            assert_eq!(http_code(code).as_u16(), http, "{code:?}");
        }
    }
}
