//! Spam classifier: normalisation, hashed features, scoring with reasons, training, reports and commands.

pub mod data;
pub mod eval;
pub mod features;
pub mod model;
pub mod plot;
pub mod train;

pub use features::{CODE_VERSION, FeatureConfig};
pub use model::{Model, ModelCard, ModelError};

/// The text fields of one submitted comment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommentText<'a> {
    pub name: &'a str,
    pub phone: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// One feature's contribution to a score (weight times value; positive pushes towards spam).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reason {
    pub feature: String,
    pub contribution: f32,
}

/// A spam probability in [0, 1] with its strongest reasons.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scored {
    pub score: f32,
    pub reasons: Vec<Reason>,
}
