//! The `combiner.json` artifact: its layout, what it was fitted on, and why one could not be loaded.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Version of the `combiner.json` layout.
pub const COMBINER_FORMAT: u32 = 1;

/// Identity of the signal definitions below (lexicon categories included); bump when a signal's meaning changes
/// (old artifacts are refused). v3: bare contact words (ib, inbox, lh, sđt) left `LEX_SALES_INBOX` for their own
/// category `LEX_CONTACT_WORD`. v4: the rule `rate_per_day_or_week`, more scam-warning words, lexicon terms for
/// uniform deposits, pointers to the title and USDT.
pub const SIGNALS_VERSION: &str = "moderato-combiner-signals-v5";

/// File name of the artifact inside a model directory.
pub const FILE_NAME: &str = "combiner.json";

/// Why a combiner could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CombinerError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid combiner file: {source}")]
    Decode {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "combiner file format {found}, this build reads format {expected}; refit with `moderato combiner fit`"
    )]
    Format { found: u32, expected: u32 },
    #[error(
        "combiner signals {found:?} differ from this build's {expected:?}; refit with `moderato combiner fit`"
    )]
    SignalsVersion { found: String, expected: String },
    #[error(
        "combiner was fitted for base model {fitted_for}, but the model is {model}; refit with \
         `moderato combiner fit --model <dir>` or remove combiner.json"
    )]
    BaseModel { fitted_for: String, model: String },
    #[error(
        "combiner has signals this build does not compute: {0}; refit with `moderato combiner fit`"
    )]
    UnknownSignals(String),
    #[error("invalid combiner: {0}")]
    Invalid(String),
}

/// One fitted weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalWeight {
    pub name: String,
    pub weight: f64,
    /// How many fitting rows had the signal (for the logit: rows with a nonzero logit).
    pub rows_with_signal: usize,
    pub description: String,
}

/// Recommended policy thresholds on the combined probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recommended {
    /// Publish below this probability.
    pub approve_below: f64,
    /// Reject at or above this probability.
    pub reject_at: f64,
    pub note: String,
}

/// What the combiner was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedOn {
    pub data: String,
    /// sha256 of the data file.
    pub data_sha256: String,
    pub split: String,
    pub rows: usize,
    pub spam: usize,
    pub ham: usize,
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub rows: usize,
    pub mean_predicted: f64,
    pub observed_spam: f64,
}

/// Cross-validation of the regularisation strength and of the calibration, on the fitting rows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvReport {
    pub folds: usize,
    /// (alpha, mean log-loss of the out-of-fold predictions); the smallest loss is chosen.
    pub alpha_grid: Vec<(f64, f64)>,
    pub log_loss: f64,
    pub brier: f64,
    pub macro_f1_at_half: f64,
    pub spam_precision_at_reject: f64,
    pub spam_recall_at_reject: f64,
    pub ham_precision_at_approve: f64,
    pub reliability: Vec<ReliabilityBin>,
}

/// The `combiner.json` artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CombinerFile {
    pub format: u32,
    pub signals_version: String,
    pub description: String,
    /// Version of the model whose score feeds `model_logit`.
    pub base_model_version: String,
    /// Date of the fit (UTC, YYYY-MM-DD).
    pub fitted: String,
    pub fitted_on: FittedOn,
    /// L2 strength (linfa-logistic's `alpha`; the loss is summed over rows).
    pub alpha: f64,
    pub intercept: f64,
    pub weights: Vec<SignalWeight>,
    pub thresholds: Recommended,
    pub cv: CvReport,
}
