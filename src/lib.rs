//! moderato: a comment moderation service for news portals, served over gRPC.
//!
//! # Layout
//! - [`config`]: layered configuration (defaults, file, `MODERATO__...` env, flags), validated at load.
//! - [`startup`]: [`startup::Application`] binds the listeners, wires the services and runs until a shutdown
//!   signal; tests and production share this one path.
//! - [`telemetry`]: tracing subscriber, Prometheus exporter and the per-RPC span/metrics layer.
//! - [`wire`]: the listener's edge: connection limits and timeouts, and client mistakes answered as such.
//! - [`audit`]: the audit trail of policy changes, model activations, decisions, overturns and takeovers.
//! - [`auth`]: bearer tokens by role, compared as SHA-256 hashes in constant time.
//! - [`api`]: one module per gRPC service and the single table mapping domain errors to gRPC statuses.
//! - [`captcha`], [`rate_limit`]: the domain of the portal's form: challenges and GCRA limits.
//! - [`combiner`]: the fitted, calibrated combination of the model's score with the rule signals.
//! - [`comment`]: validation, clean-up, the policy decision and the one-step admission of a submission.
//! - [`review`]: statuses, labels, records and decision events of the review queue.
//! - [`policy`]: live per-site policies and model activation on every replica; the threshold lab.
//! - [`classifier`]: text normalisation, features, the linfa-trained model, training and evaluation.
//! - [`store`]: the storage seam, with the embedded `memory` store and the `redis` store (standalone or
//!   Cluster through one code path).
//! - [`clock`]: injected time, so tests pin it instead of sleeping.
//! - [`cli`]: the `moderato` binary: `serve` plus client subcommands for people.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod captcha;
pub mod classifier;
pub mod cli;
pub mod clock;
pub mod combiner;
pub mod comment;
pub mod config;
pub mod lexicon;
pub mod metrics_labels;
pub mod policy;
pub mod rate_limit;
pub mod review;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod validate;
pub mod wire;

/// Generated protobuf types and service stubs of `moderato.v1`.
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("moderato.v1");

    /// Encoded `FileDescriptorSet` of the v1 contract, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("moderato_descriptor");
}
