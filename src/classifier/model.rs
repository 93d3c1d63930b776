//! The trained model: artifact files, loading with fingerprint checks, and sparse scoring with reasons.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::features::{CODE_VERSION, Extractor, FeatureConfig, Scratch};
use super::{CommentText, Reason, Scored};

/// Version of the `model.bin` layout; bump when [`ModelFile`] or [`FeatureConfig`] change shape.
pub const MODEL_FORMAT: u32 = 1;

/// The leading fields of every `model.bin`, readable even when the rest of the layout changed.
#[derive(Deserialize)]
struct ModelHeader {
    format: u32,
    fingerprint: String,
}

/// Why an artifact could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model.bin is not a valid model file: {0}")]
    Decode(#[from] postcard::Error),
    #[error("card.json is not a valid model card: {0}")]
    Card(#[from] serde_json::Error),
    #[error(
        "model.bin has format version {found}, this build reads version {expected}; retrain the model"
    )]
    Format { found: u32, expected: u32 },
    #[error(
        "model feature fingerprint {artifact} does not match this build's feature fingerprint {code} \
         (feature code {CODE_VERSION}); retrain the model with `moderato train`"
    )]
    FingerprintMismatch { artifact: String, code: String },
    #[error(
        "card.json fingerprint {card} does not match model.bin fingerprint {model}; the files belong to different models"
    )]
    CardMismatch { card: String, model: String },
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// The serialised model (`model.bin`, postcard). Only the kept buckets are stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: u32,
    pub fingerprint: String,
    pub config: FeatureConfig,
    pub intercept: f32,
    /// Kept buckets, ascending.
    pub buckets: Vec<u32>,
    /// Weight per kept bucket (positive = spam).
    pub weights: Vec<f32>,
    /// Readable name per kept bucket.
    pub names: Vec<String>,
}

/// One training or evaluation data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSourceInfo {
    pub kind: String,
    pub path: String,
    pub rows: usize,
    pub spam: usize,
    pub ham: usize,
    pub license: String,
    pub attribution: String,
}

/// How the model was trained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub data: Vec<DataSourceInfo>,
    pub rows_loaded: usize,
    pub rows_after_dedup: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    /// What the metrics were measured on.
    pub evaluation: String,
    pub seed: u64,
    pub test_fraction: f64,
    pub top_k: usize,
    pub alpha: f32,
    pub max_iterations: u64,
    pub gradient_tolerance: f32,
    /// Columns scaled by their naive-Bayes log-count ratios while fitting (absent in older cards: false).
    #[serde(default)]
    pub nb_scale: bool,
    /// How the weights were fitted (`lbfgs` or `ftrl`); absent for L-BFGS, the default and all older cards.
    #[serde(default = "lbfgs", skip_serializing_if = "is_lbfgs")]
    pub solver: String,
    pub fit_seconds: f64,
}

fn lbfgs() -> String {
    "lbfgs".into()
}

fn is_lbfgs(s: &str) -> bool {
    s.is_empty() || s == "lbfgs"
}

/// Sizes of the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sizes {
    pub hash_buckets: usize,
    pub kept_buckets: usize,
    pub nonzero_weights: usize,
    pub model_bin_bytes: usize,
}

/// Quality numbers measured on held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    pub spam: usize,
    pub ham: usize,
    pub precision_spam: f64,
    pub recall_spam: f64,
    pub f1_spam: f64,
    pub precision_ham: f64,
    pub recall_ham: f64,
    pub f1_ham: f64,
    pub macro_f1: f64,
    pub accuracy: f64,
    pub mcc: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    /// Confusion matrix at `threshold`: [[true ham, false spam], [false ham, true spam]].
    pub confusion: [[usize; 2]; 2],
    /// The score at or above which a comment counted as spam for the numbers above (absent in older cards: 0.5).
    #[serde(default = "half")]
    pub threshold: f32,
}

fn half() -> f32 {
    0.5
}

/// Recommended decision thresholds on the spam score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Reject at or above this score (lowest threshold with spam precision >= 0.99 on held-out data).
    pub auto_reject: f32,
    /// Approve below this score (highest threshold with ham precision >= 0.99 on held-out data).
    pub auto_approve: f32,
    pub note: String,
}

/// The model card (`card.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub version: String,
    pub created: String,
    pub description: String,
    pub feature_fingerprint: String,
    pub feature_code_version: String,
    pub feature_config: FeatureConfig,
    pub training: TrainingInfo,
    pub sizes: Sizes,
    pub metrics: Option<Metrics>,
    pub thresholds: Thresholds,
}

/// A loaded spam model. Immutable, `Send + Sync`; share it in an `Arc`.
pub struct Model {
    card: ModelCard,
    extractor: Extractor,
    intercept: f32,
    /// Weight per hash bucket (0 for buckets the model does not keep).
    table: Vec<f32>,
    /// One bit per hash bucket, set for the kept ones: 1/32 of the table's size, so the lookups for the many
    /// features the model does not know stay in cache instead of missing on the 4 MB weight table.
    known: Vec<u64>,
    buckets: Vec<u32>,
    names: Vec<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("version", &self.card.version)
            .field("feature_fingerprint", &self.card.feature_fingerprint)
            .field("kept_buckets", &self.buckets.len())
            .finish_non_exhaustive()
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::with_signal_names());
}

fn read(path: PathBuf) -> Result<Vec<u8>, ModelError> {
    std::fs::read(&path).map_err(|source| ModelError::Io { path, source })
}

impl Model {
    /// Loads the artifact directory's `model.bin` + `card.json` (a `combiner.json` beside them is the scoring
    /// floor's: see `scoring::Scorer::load`).
    pub fn load(dir: &Path) -> Result<Model, ModelError> {
        let bin = read(dir.join("model.bin"))?;
        let card = read(dir.join("card.json"))?;
        Model::from_bytes(&bin, &card)
    }

    /// Builds a model from the contents of `model.bin` and `card.json`.
    pub fn from_bytes(model_bin: &[u8], card_json: &[u8]) -> Result<Model, ModelError> {
        let (header, _) = postcard::take_from_bytes::<ModelHeader>(model_bin)?;
        if header.format != MODEL_FORMAT {
            return Err(ModelError::Format {
                found: header.format,
                expected: MODEL_FORMAT,
            });
        }
        let file: ModelFile = postcard::from_bytes(model_bin).map_err(|e| {
            ModelError::Invalid(format!(
                "model.bin (feature fingerprint {}) does not decode: {e}",
                header.fingerprint
            ))
        })?;
        let card: ModelCard = serde_json::from_slice(card_json)?;
        Model::from_parts(file, card)
    }

    /// Builds a model from its decoded parts, with the same checks as [`Model::from_bytes`].
    pub fn from_parts(file: ModelFile, card: ModelCard) -> Result<Model, ModelError> {
        if file.format != MODEL_FORMAT {
            return Err(ModelError::Format {
                found: file.format,
                expected: MODEL_FORMAT,
            });
        }
        file.config.validate().map_err(ModelError::Invalid)?;
        let code = file.config.fingerprint();
        if file.fingerprint != code {
            return Err(ModelError::FingerprintMismatch {
                artifact: file.fingerprint,
                code,
            });
        }
        if card.feature_fingerprint != file.fingerprint {
            return Err(ModelError::CardMismatch {
                card: card.feature_fingerprint,
                model: file.fingerprint,
            });
        }
        let n = file.config.buckets();
        if file.weights.len() != file.buckets.len() || file.names.len() != file.buckets.len() {
            return Err(ModelError::Invalid(
                "bucket, weight and name lists differ in length".into(),
            ));
        }
        if !file.buckets.windows(2).all(|w| w[0] < w[1])
            || file.buckets.last().is_some_and(|&b| b as usize >= n)
        {
            return Err(ModelError::Invalid(
                "buckets must be ascending and below 2^hash_bits".into(),
            ));
        }
        if !file.intercept.is_finite() || file.weights.iter().any(|w| !w.is_finite()) {
            return Err(ModelError::Invalid("non-finite weight".into()));
        }
        let mut table = vec![0f32; n];
        let mut known = vec![0u64; n.div_ceil(64)];
        for (&b, &w) in file.buckets.iter().zip(&file.weights) {
            table[b as usize] = w;
            known[b as usize >> 6] |= 1 << (b & 63);
        }
        Ok(Model {
            card,
            extractor: Extractor::new(file.config),
            intercept: file.intercept,
            table,
            known,
            buckets: file.buckets,
            names: file.names,
        })
    }

    /// The model version (from the card).
    pub fn version(&self) -> &str {
        &self.card.version
    }

    /// The model card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The feature configuration the model was trained with.
    pub fn feature_config(&self) -> &FeatureConfig {
        self.extractor.config()
    }

    /// Intercept and the weight per hash bucket (for inspection and benchmarks).
    pub fn weights(&self) -> (f32, &[f32]) {
        (self.intercept, &self.table)
    }

    /// The buckets the model keeps (ascending); the columns of its training matrix.
    pub fn kept_buckets(&self) -> &[u32] {
        &self.buckets
    }

    /// Readable name of a bucket, if the model keeps it.
    pub fn bucket_name(&self, bucket: u32) -> Option<&str> {
        self.buckets
            .binary_search(&bucket)
            .ok()
            .map(|i| self.names[i].as_str())
    }

    /// Spam probability of a comment in [0, 1] with up to `top_reasons` strongest contributions (by absolute
    /// value, largest first; positive pushes towards spam).
    pub fn score(&self, c: &CommentText<'_>, top_reasons: usize) -> Scored {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => self.score_with(c, top_reasons, &mut s),
            Err(_) => self.score_with(c, top_reasons, &mut Scratch::default()),
        })
    }

    /// [`Model::score`] plus the names of the signal features found (URL, phone, chat app, ...; see the
    /// features module), for readers of rule signals that would otherwise extract the comment a second time.
    /// Empty when the model's feature configuration has no signals.
    pub fn score_with_signals(
        &self,
        c: &CommentText<'_>,
        top_reasons: usize,
    ) -> (Scored, Vec<String>) {
        let named = |s: &mut Scratch| {
            let scored = self.score_with(c, top_reasons, s);
            let names = s
                .feats
                .iter()
                .enumerate()
                .filter(|(_, f)| f.block == crate::classifier::features::Block::Signal)
                .map(|(i, _)| s.name(i).to_string())
                .collect();
            (scored, names)
        };
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => named(&mut s),
            Err(_) => named(&mut Scratch::with_signal_names()),
        })
    }

    /// Like [`Model::score`] with caller-provided buffers.
    pub fn score_with(&self, c: &CommentText<'_>, top_reasons: usize, s: &mut Scratch) -> Scored {
        self.extractor.extract(c, s);
        let mut z = self.intercept;
        // Contributions of the features the model knows (few: most features of a comment are unknown to it).
        let mut contrib: Vec<(u32, f32)> = Vec::new();
        for f in &s.feats {
            let b = f.bucket as usize;
            if (self.known[b >> 6] >> (b & 63)) & 1 == 0 {
                continue;
            }
            let w = self.table[b];
            z += w * f.value;
            if top_reasons > 0 && w != 0.0 {
                contrib.push((f.bucket, w * f.value));
            }
        }
        let score = sigmoid(z);
        let reasons = if top_reasons == 0 {
            Vec::new()
        } else {
            self.reasons(contrib, top_reasons)
        };
        Scored { score, reasons }
    }

    /// The `top` strongest of the contributions, summed per bucket, with readable names.
    fn reasons(&self, mut contrib: Vec<(u32, f32)>, top: usize) -> Vec<Reason> {
        contrib.sort_unstable_by_key(|&(b, _)| b);
        contrib.dedup_by(|a, b| {
            if a.0 == b.0 {
                b.1 += a.1;
                true
            } else {
                false
            }
        });
        // A total order (ties by bucket), so selecting the top then sorting it equals sorting everything.
        let order =
            |a: &(u32, f32), b: &(u32, f32)| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0));
        if contrib.len() > top {
            contrib.select_nth_unstable_by(top, order);
            contrib.truncate(top);
        }
        contrib.sort_unstable_by(order);
        contrib
            .into_iter()
            .map(|(b, c)| Reason {
                feature: self.bucket_name(b).unwrap_or("unknown").to_string(),
                contribution: c,
            })
            .collect()
    }
}

/// Logistic function, safe for large magnitudes.
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Writes `model.bin` and `card.json` into `dir` (created if needed).
pub fn write_artifact(dir: &Path, file: &ModelFile, card: &ModelCard) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("model.bin"), postcard::to_stdvec(file)?)?;
    let mut json = serde_json::to_vec_pretty(card)?;
    json.push(b'\n');
    std::fs::write(dir.join("card.json"), json)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (ModelFile, ModelCard) {
        let config = FeatureConfig {
            hash_bits: 12,
            ..FeatureConfig::default()
        };
        let fp = config.fingerprint();
        let file = ModelFile {
            format: MODEL_FORMAT,
            fingerprint: fp.clone(),
            config: config.clone(),
            intercept: -1.0,
            buckets: vec![1, 5],
            weights: vec![0.5, -0.5],
            names: vec!["a".into(), "b".into()],
        };
        let card = ModelCard {
            version: "t-1".into(),
            created: "2026-01-01".into(),
            description: String::new(),
            feature_fingerprint: fp,
            feature_code_version: CODE_VERSION.into(),
            feature_config: config,
            training: TrainingInfo {
                top_k: 2,
                alpha: 0.1,
                max_iterations: 1,
                gradient_tolerance: 1.0,
                ..TrainingInfo::default()
            },
            sizes: Sizes {
                hash_buckets: 4096,
                kept_buckets: 2,
                nonzero_weights: 2,
                ..Sizes::default()
            },
            metrics: None,
            thresholds: Thresholds {
                auto_reject: 0.9,
                auto_approve: 0.1,
                note: String::new(),
            },
        };
        (file, card)
    }

    #[test]
    fn fingerprint_mismatch_is_refused_naming_both() {
        let (mut file, mut card) = tiny();
        file.fingerprint = "f".repeat(64);
        card.feature_fingerprint = file.fingerprint.clone();
        let bin = postcard::to_stdvec(&file).unwrap();
        let json = serde_json::to_vec(&card).unwrap();
        let err = Model::from_bytes(&bin, &json).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, ModelError::FingerprintMismatch { .. }),
            "{msg}"
        );
        assert!(msg.contains(&"f".repeat(64)), "{msg}");
        assert!(msg.contains(&file.config.fingerprint()), "{msg}");
    }

    #[test]
    fn card_from_another_model_is_refused() {
        let (file, mut card) = tiny();
        card.feature_fingerprint = "0".repeat(64);
        let err = Model::from_parts(file, card).unwrap_err();
        assert!(matches!(err, ModelError::CardMismatch { .. }), "{err}");
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        let (_, card) = tiny();
        let json = serde_json::to_vec(&card).unwrap();
        assert!(matches!(
            Model::from_bytes(&[1, 2, 3], &json),
            Err(ModelError::Decode(_))
        ));
        assert!(matches!(
            Model::from_bytes(&[2, 0], &json),
            Err(ModelError::Format { found: 2, .. })
        ));
        let (file, _) = tiny();
        let bin = postcard::to_stdvec(&file).unwrap();
        assert!(matches!(
            Model::from_bytes(&bin, b"{"),
            Err(ModelError::Card(_))
        ));
        assert!(matches!(
            Model::from_bytes(&bin[..bin.len() - 3], &json),
            Err(ModelError::Invalid(_))
        ));
    }

    #[test]
    fn round_trip_and_score_in_range() {
        let (file, card) = tiny();
        let dir = std::env::temp_dir().join(format!("moderato-clf-test-{}", std::process::id()));
        write_artifact(&dir, &file, &card).unwrap();
        let m = Model::load(&dir).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(m.version(), "t-1");
        assert!(format!("{m:?}").len() < 300);
        assert_eq!(m.bucket_name(5), Some("b"));
        let c = CommentText {
            name: "",
            phone: "",
            title: "",
            body: "hello world",
        };
        let mut s = Scratch::default();
        Extractor::new(file.config.clone()).extract(&c, &mut s);
        let z: f32 = -1.0
            + s.feats
                .iter()
                .map(|f| m.weights().1[f.bucket as usize] * f.value)
                .sum::<f32>();
        let scored = m.score(&c, 3);
        assert!((scored.score - sigmoid(z)).abs() < 1e-6);
        assert!((0.0..=1.0).contains(&scored.score));
    }

    #[test]
    fn model_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Model>();
    }

    #[test]
    fn sigmoid_is_stable() {
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }
}
