//! The gRPC front door: one module per service, each converting protobuf <-> domain and calling the domain
//! services; failures become statuses through the one table in [`crate::status`].

pub mod admin;
pub mod captcha;
pub mod comment;
pub mod convert;
pub mod moderation;
pub mod privacy;

pub use crate::status::{ApiError, ERROR_DOMAIN};
pub use crate::validate::Violations;

/// Records the site on the current RPC span.
pub fn record_site(site: &str) {
    tracing::Span::current().record("site", site);
}
