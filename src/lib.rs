//! moderato: a comment moderation service for news portals, served over gRPC.
//!
//! # Floor plan
//! Modules sit on floors; a module imports only its own floor or lower ones, and no two modules import each
//! other (`tests/suite/layering.rs` checks both on every test run). From the ground up:
//!
//! 0. **Ground.** [`text`]: normalisation (NFC, invisible characters, folding), the URL/phone/handle/money/leet
//!    detectors. [`clock`]: injected time. [`validate`]: field violations, reported all at once, and id shapes.
//!    [`metrics_labels`]: bounded per-site label values. [`proto`]: the generated wire types.
//! 1. **Vocabulary and models.** [`review`]: statuses, labels, records and decision events. [`audit`]: what an
//!    audit entry records. [`lexicon`]: the
//!    shipped Vietnamese spam lexicon. [`classifier`]: hashed features and the linfa-trained base model, its
//!    training and evaluation.
//! 2. **Score and storage.** [`scoring`]: the base model with its fitted combiner, one calibrated probability
//!    ([`scoring::Scorer::score`] is the only scoring entry point). [`store`]: the storage seam, with the
//!    embedded `memory` store and the `redis` store (standalone or Cluster through one code path); it persists
//!    what the domain decided, atomically.
//! 3. **Domain services.** [`rate_limit`] (GCRA limits), [`captcha`] (challenges), [`policy`] (live per-site
//!    policies with overrides, model activation, the threshold lab, bootstrap status), and
//!    [`review::service`] (claims under leases, fenced decisions, overturns, takeovers, the decision stream),
//!    [`audit::service`] (the audit trail, read back filtered and in pages), [`privacy`] (erasure and export of
//!    one reader, appeals, the reader's statement of reasons).
//! 4. **The submission pipeline.** [`comment`]: validation, scoring, the policy's decision and the one-step
//!    admission of a submission.
//! 5. **Cross-cutting.** [`status`]: the one table from domain errors to statuses. [`auth`]: bearer tokens by
//!    role. [`config`]: layered configuration. [`telemetry`]: logs and metrics. [`wire`]: the listener's edge.
//! 6. **Front doors.** [`api`]: gRPC, converting protobuf <-> domain only.
//! 7. **Wiring.** [`startup`]: [`startup::Application`] binds the listeners and wires the services; tests and
//!    production share this one path. [`cli`]: the `moderato` binary: `serve` plus client commands for people.
//!
//! `ARCHITECTURE.md` walks one submission through these floors and says where each rule lives.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod captcha;
pub mod classifier;
pub mod cli;
pub mod clock;
pub mod comment;
pub mod config;
pub mod lexicon;
pub mod metrics_labels;
pub mod policy;
pub mod privacy;
pub mod rate_limit;
pub mod review;
pub mod scoring;
pub mod startup;
pub mod status;
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
