//! Training: top-K hashed buckets -> dense column-major matrix -> linfa logistic regression -> weight table.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use linfa::prelude::*;
use linfa_ftrl::Ftrl;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2, ShapeBuilder};

use super::data::Example;
use super::features::{Block, Extractor, FeatureConfig, Scratch};
use super::model::{MODEL_FORMAT, ModelFile};

/// How the weights are fitted, both with linfa.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Solver {
    /// linfa-logistic: L-BFGS over the whole design matrix, dense (rows x kept buckets, f32).
    Lbfgs,
    /// linfa-ftrl (FTRL-proximal) over mini-batches; see [`FtrlSettings`].
    Ftrl(FtrlSettings),
}

/// FTRL-proximal's settings: `batch` rows at a time as a small dense matrix, for `epochs` passes over the rows in a
/// fixed shuffled order. The whole matrix never exists: memory is the sparse rows and the model. Its L1 strength
/// is 1 (linfa-ftrl starts from a random state that only an L1 of 1 zeroes), its L2 strength `l2`, its learning
/// rate `rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FtrlSettings {
    pub epochs: u32,
    pub batch: usize,
    pub rate: f32,
    pub l2: f32,
}

impl Solver {
    /// The name written to the model card.
    pub fn name(&self) -> &'static str {
        match self {
            Solver::Lbfgs => "lbfgs",
            Solver::Ftrl(_) => "ftrl",
        }
    }
}

/// Training knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    pub config: FeatureConfig,
    /// Columns of the design matrix: the most frequent buckets by document frequency.
    pub top_k: usize,
    /// L2 penalty of linfa's logistic regression (the loss is summed, so ~ sklearn's C = 1/alpha).
    pub alpha: f32,
    pub max_iterations: u64,
    pub gradient_tolerance: f32,
    /// Weight the classes equally by repeating the minority class's rows (whole-number factor).
    pub balance: bool,
    /// Scale every column by its naive-Bayes log-count ratio before fitting (NBSVM-style, Wang & Manning 2012),
    /// folded back into the weights afterwards: serving is unchanged.
    pub nb_scale: bool,
    /// Show progress bars on stderr.
    pub progress: bool,
    /// How the weights are fitted (`alpha`, `max_iterations` and `gradient_tolerance` are L-BFGS's).
    pub solver: Solver,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            config: FeatureConfig::default(),
            top_k: 16_384,
            alpha: 0.1,
            max_iterations: 50,
            gradient_tolerance: 1.0,
            balance: false,
            nb_scale: false,
            progress: false,
            solver: Solver::Lbfgs,
        }
    }
}

/// The fitted model file plus timing.
#[derive(Debug, Clone)]
pub struct Trained {
    pub file: ModelFile,
    pub fit_seconds: f64,
}

fn bar(len: u64, show: bool, msg: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg:>22} [{bar:40}] {pos}/{len} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_message(msg)
}

/// Majority vote (one-counter Misra-Gries) of the names that land in one bucket.
fn vote(slot: &mut (String, u32), name: &str) {
    if slot.0 == name {
        slot.1 += 1;
    } else if slot.1 == 0 {
        slot.0.clear();
        slot.0.push_str(name);
        slot.1 = 1;
    } else {
        slot.1 -= 1;
    }
}

/// Naive-Bayes log-count ratio of every kept column, from how many spam and ham rows have it (add-one smoothing):
/// r = ln((1 + spam rows with it) / (spam total)) - ln((1 + ham rows with it) / (ham total)), the totals summed
/// over the columns the same way. Columns that tell the classes apart get a larger scale, so the same L2 penalty
/// restrains them less.
fn nb_ratios(rows: &[Vec<(u32, f32)>], examples: &[&Example], col: &[u32], k: usize) -> Vec<f32> {
    let mut spam = vec![1f64; k];
    let mut ham = vec![1f64; k];
    for (row, e) in rows.iter().zip(examples) {
        let counts = if e.spam { &mut spam } else { &mut ham };
        for &(b, _) in row {
            let j = col[b as usize];
            if j != u32::MAX {
                counts[j as usize] += 1.0;
            }
        }
    }
    let (ts, th) = (spam.iter().sum::<f64>(), ham.iter().sum::<f64>());
    spam.iter()
        .zip(&ham)
        .map(|(s, h)| ((s / ts).ln() - (h / th).ln()) as f32)
        .collect()
}

/// Fits a model on `examples`.
pub fn fit(examples: &[&Example], p: &TrainParams) -> anyhow::Result<Trained> {
    p.config.validate().map_err(anyhow::Error::msg)?;
    let n = examples.len();
    let spam = examples.iter().filter(|e| e.spam).count();
    if spam == 0 || spam == n {
        bail!("training data needs both spam and ham examples (got {spam} spam of {n})");
    }
    let nb = p.config.buckets();
    let ex = Extractor::new(p.config.clone());
    let mut scratch = Scratch::with_names();
    let mut df = vec![0u32; nb];
    let mut is_signal = vec![false; nb];
    let mut names: Vec<(String, u32)> = vec![(String::new(), 0); nb];
    let mut rows: Vec<Vec<(u32, f32)>> = Vec::with_capacity(n);
    let pb = bar(n as u64, p.progress, "extracting features");
    for e in examples {
        ex.extract(&e.text(), &mut scratch);
        let mut row: Vec<(u32, f32)> = Vec::with_capacity(scratch.feats.len());
        for (i, f) in scratch.feats.iter().enumerate() {
            let b = f.bucket as usize;
            vote(&mut names[b], scratch.name(i));
            if f.block == Block::Signal {
                is_signal[b] = true;
            }
            row.push((f.bucket, f.value));
        }
        row.sort_unstable_by_key(|&(b, _)| b);
        row.dedup_by(|a, b| {
            if a.0 == b.0 {
                b.1 += a.1;
                true
            } else {
                false
            }
        });
        for &(b, _) in &row {
            df[b as usize] += 1;
        }
        rows.push(row);
        pb.inc(1);
    }
    pb.finish_and_clear();

    // Top-K buckets by document frequency (ties by bucket id), plus every signal seen at least twice.
    let mut order: Vec<u32> = (0..nb as u32).filter(|&b| df[b as usize] > 0).collect();
    order.sort_unstable_by(|&a, &b| df[b as usize].cmp(&df[a as usize]).then(a.cmp(&b)));
    let mut kept: Vec<u32> = order.iter().copied().take(p.top_k).collect();
    kept.extend(
        order
            .iter()
            .skip(p.top_k)
            .filter(|&&b| is_signal[b as usize] && df[b as usize] >= 2),
    );
    kept.sort_unstable();
    let k = kept.len();
    let mut col = vec![u32::MAX; nb];
    for (j, &b) in kept.iter().enumerate() {
        col[b as usize] = j as u32;
    }

    // Rows of the design matrix: every example once, the minority class repeated when balancing.
    let minority = spam * 2 < n;
    let repeat = if p.balance {
        let (small, large) = if minority {
            (spam, n - spam)
        } else {
            (n - spam, spam)
        };
        ((large as f64 / small as f64).round() as usize).max(1)
    } else {
        1
    };
    let order_rows: Vec<usize> = (0..n)
        .flat_map(|i| {
            let times = if examples[i].spam == minority {
                repeat
            } else {
                1
            };
            std::iter::repeat_n(i, times)
        })
        .collect();
    let scale = if p.nb_scale {
        nb_ratios(&rows, examples, &col, k)
    } else {
        vec![1.0; k]
    };
    let design = Design {
        rows,
        order: &order_rows,
        examples,
        col: &col,
        scale: &scale,
        k,
    };
    let t0 = Instant::now();
    let (weights, intercept) = match &p.solver {
        Solver::Lbfgs => fit_lbfgs(design, p)?,
        Solver::Ftrl(s) => fit_ftrl(&design, s)?,
    };
    let fit_seconds = t0.elapsed().as_secs_f64();
    let weights: Vec<f32> = weights.iter().zip(&scale).map(|(w, r)| w * r).collect();
    let kept_names = kept
        .iter()
        .map(|&b| std::mem::take(&mut names[b as usize].0))
        .collect();
    Ok(Trained {
        file: ModelFile {
            format: MODEL_FORMAT,
            fingerprint: p.config.fingerprint(),
            config: p.config.clone(),
            intercept,
            buckets: kept,
            weights,
            names: kept_names,
        },
        fit_seconds,
    })
}

/// The design matrix, sparse: matrix row `r` is example `order[r]` (the minority class repeated when balancing),
/// and its column `j` that example's value in bucket `kept[j]` (`col` maps a bucket to its column, `u32::MAX` when
/// not kept), scaled by `scale[j]`.
struct Design<'a> {
    rows: Vec<Vec<(u32, f32)>>,
    order: &'a [usize],
    examples: &'a [&'a Example],
    col: &'a [u32],
    scale: &'a [f32],
    k: usize,
}

impl Design<'_> {
    /// Writes example `i`'s values into `out` (zeroed beforehand, at least `k` long).
    fn fill(&self, i: usize, mut out: ndarray::ArrayViewMut1<'_, f32>) {
        for &(b, v) in &self.rows[i] {
            let j = self.col[b as usize];
            if j != u32::MAX {
                out[j as usize] = v * self.scale[j as usize];
            }
        }
    }

    /// The labels of matrix rows `order` (spam: true).
    fn labels(&self, order: &[usize]) -> Array1<bool> {
        order.iter().map(|&i| self.examples[i].spam).collect()
    }
}

/// L-BFGS (linfa-logistic) over the whole dense design matrix. Returns the weights per kept column (before
/// `scale` is folded back) and the intercept, oriented so that positive means spam.
fn fit_lbfgs(d: Design<'_>, p: &TrainParams) -> anyhow::Result<(Vec<f32>, f32)> {
    let (m, k) = (d.order.len(), d.k);
    // linfa multiplies by the transpose in the gradient: column-major is much faster.
    let mut x = Array2::<f32>::zeros((m, k).f());
    for (r, &i) in d.order.iter().enumerate() {
        d.fill(i, x.row_mut(r));
    }
    let y = d.labels(d.order);
    // The sparse rows are not needed while the dense matrix is fitted.
    drop(d);
    let ds = Dataset::new(x, y);

    let spinner = spinner(
        p.progress,
        format!(
            "fitting logistic regression: {m} rows x {k} columns, up to {} L-BFGS iterations",
            p.max_iterations
        ),
    );
    let fitted = LogisticRegression::default()
        .alpha(p.alpha)
        .max_iterations(p.max_iterations)
        .gradient_tolerance(p.gradient_tolerance)
        .fit(&ds)
        .context("logistic regression fit failed")?;
    spinner.finish_and_clear();

    // linfa makes the majority class positive: orient the weights so that positive means spam.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let weights = fitted.params().iter().map(|w| sign * w).collect();
    Ok((weights, sign * fitted.intercept()))
}

/// FTRL-proximal (linfa-ftrl) over mini-batches: each batch of rows becomes a small dense matrix with a last
/// column of ones (FTRL has no intercept of its own), in an order shuffled once per epoch by a fixed seed, so a
/// fit is reproducible. Returns what [`fit_lbfgs`] returns.
fn fit_ftrl(d: &Design<'_>, s: &FtrlSettings) -> anyhow::Result<(Vec<f32>, f32)> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    if s.epochs == 0 || s.batch == 0 {
        bail!("FTRL needs at least one epoch and one row per batch");
    }
    let params = Ftrl::<f32>::params()
        .alpha(s.rate)
        .beta(1.0)
        .l1_ratio(1.0)
        .l2_ratio(s.l2)
        .check()
        .map_err(|e| anyhow::anyhow!("FTRL settings: {e}"))?;
    let k = d.k;
    let mut model: Option<Ftrl<f32>> = None;
    let mut order = d.order.to_vec();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut x = Array2::<f32>::zeros((s.batch, k + 1));
    for _ in 0..s.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(s.batch) {
            let mut xb = x.slice_axis_mut(ndarray::Axis(0), ndarray::Slice::from(0..chunk.len()));
            xb.fill(0.0);
            for (r, &i) in chunk.iter().enumerate() {
                d.fill(i, xb.row_mut(r));
                xb[[r, k]] = 1.0;
            }
            let ds = DatasetBase::new(xb.view(), d.labels(chunk));
            model = Some(
                params
                    .fit_with(model.take(), &ds)
                    .map_err(|e| anyhow::anyhow!("FTRL fit failed: {e}"))?,
            );
        }
    }
    let w = model
        .map(|m| m.get_weights())
        .ok_or_else(|| anyhow::anyhow!("FTRL saw no rows"))?;
    Ok((w.iter().take(k).copied().collect(), w[k]))
}

fn spinner(show: bool, msg: String) -> ProgressBar {
    let s = if show {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    s.set_message(msg);
    s.enable_steady_tick(Duration::from_millis(200));
    s
}

#[cfg(test)]
mod tests {
    use super::super::model::{Model, ModelCard, Sizes, Thresholds, TrainingInfo};
    use super::super::{CODE_VERSION, CommentText};
    use super::*;

    pub(crate) fn card_for(file: &ModelFile) -> ModelCard {
        ModelCard {
            version: "test".into(),
            created: "2026-01-01".into(),
            description: String::new(),
            feature_fingerprint: file.fingerprint.clone(),
            feature_code_version: CODE_VERSION.into(),
            feature_config: file.config.clone(),
            training: TrainingInfo {
                alpha: 0.1,
                max_iterations: 50,
                gradient_tolerance: 1.0,
                ..TrainingInfo::default()
            },
            sizes: Sizes::default(),
            metrics: None,
            thresholds: Thresholds {
                auto_reject: 0.9,
                auto_approve: 0.1,
                note: String::new(),
            },
        }
    }

    fn tiny_set(spam_majority: bool) -> Vec<Example> {
        let spam = [
            "nhà cái uy tín, nạp tiền nhận thưởng ngay, liên hệ zalo 0912345678",
            "vào w88.example chơi casino online nhận 100k",
            "kiếm tiền online mỗi ngày 500k inbox zalo",
            "check out my channel and subscribe http://spam.example",
            "free money click www.win.example now",
            "nhận thưởng ngay khi đăng ký nhà cái",
        ];
        let ham = [
            "bài viết rất hay, cảm ơn tác giả",
            "đường phố hôm nay kẹt xe quá",
            "mong thành phố sớm sửa con đường này",
            "I love this song so much",
            "thời tiết hôm nay đẹp",
        ];
        let mut v: Vec<Example> = spam.iter().map(|s| Example::body(s, true)).collect();
        v.extend(ham.iter().map(|s| Example::body(s, false)));
        if !spam_majority {
            v.extend(
                [
                    "tin tức rất hữu ích",
                    "chúc mừng đội tuyển",
                    "giá xăng lại tăng",
                ]
                .iter()
                .map(|s| Example::body(s, false)),
            );
        }
        v
    }

    const FTRL: Solver = Solver::Ftrl(FtrlSettings {
        epochs: 200,
        batch: 4,
        rate: 0.3,
        l2: 0.1,
    });

    fn train_with(set: &[Example], nb_scale: bool, solver: Solver) -> Model {
        let refs: Vec<&Example> = set.iter().collect();
        let p = TrainParams {
            config: FeatureConfig {
                hash_bits: 16,
                ..FeatureConfig::default()
            },
            top_k: 2000,
            alpha: 0.01,
            max_iterations: 100,
            gradient_tolerance: 1e-4,
            balance: true,
            nb_scale,
            progress: false,
            solver,
        };
        let t = fit(&refs, &p).unwrap();
        let card = card_for(&t.file);
        Model::from_parts(t.file, card).unwrap()
    }

    #[test]
    fn naive_bayes_ratios_point_to_the_class_that_has_the_column() {
        let set = [
            Example::body("a", true),
            Example::body("b", true),
            Example::body("c", false),
            Example::body("d", false),
        ];
        let examples: Vec<&Example> = set.iter().collect();
        // Column 0 in both spam rows, column 1 in both ham rows, column 2 in one row of each; bucket 9 is not kept.
        let rows = vec![
            vec![(0, 1.0), (2, 0.5), (9, 1.0)],
            vec![(0, 1.0)],
            vec![(1, 1.0), (2, 0.5)],
            vec![(1, 1.0)],
        ];
        let mut col = vec![u32::MAX; 10];
        col[0] = 0;
        col[1] = 1;
        col[2] = 2;
        let r = nb_ratios(&rows, &examples, &col, 3);
        assert!(r[0] > 0.5, "{r:?}");
        assert!(r[1] < -0.5, "{r:?}");
        assert!(r[2].abs() < 1e-6, "{r:?}");
        assert!(
            (r[0] + r[1]).abs() < 1e-6,
            "symmetric data, symmetric ratios: {r:?}"
        );
    }

    #[test]
    fn train_then_score_either_majority() {
        // Spam is the majority in one set and the minority in the other: the sign must come out right in both.
        // With and without naive-Bayes scaling: the scale is folded back into the served weights. With either
        // solver: FTRL has no intercept of its own (a column of ones) and no majority-class orientation.
        let cases = [(true, false), (false, false), (true, true), (false, true)];
        for ((majority, nb), solver) in cases.iter().flat_map(|c| [(*c, Solver::Lbfgs), (*c, FTRL)])
        {
            let m = train_with(&tiny_set(majority), nb, solver);
            let spam = m.score(
                &CommentText {
                    body: "nhà cái uy tín nhận thưởng, zalo 0987654321",
                    ..Default::default()
                },
                5,
            );
            let ham = m.score(
                &CommentText {
                    body: "cảm ơn bài viết hay về con đường",
                    ..Default::default()
                },
                5,
            );
            assert!(
                spam.score > 0.5,
                "majority={majority} nb={nb} {solver:?} spam scored {}",
                spam.score
            );
            assert!(
                ham.score < 0.5,
                "majority={majority} nb={nb} {solver:?} ham scored {}",
                ham.score
            );
            assert!(spam.score > ham.score);
            assert_eq!(spam.reasons.len(), 5);
            assert!(spam.reasons[0].contribution.abs() >= spam.reasons[4].contribution.abs());
            assert!(
                spam.reasons
                    .iter()
                    .all(|r| !r.feature.is_empty() && r.feature != "unknown")
            );
            // Unaccented writing still meets the accented training data through the shadow tokens.
            let plain = m.score(
                &CommentText {
                    body: "nha cai uy tin nhan thuong",
                    ..Default::default()
                },
                3,
            );
            assert!(plain.score > 0.5, "plain scored {}", plain.score);
            assert!(
                plain
                    .reasons
                    .iter()
                    .any(|r| r.feature.starts_with("token:") || r.feature.starts_with("bigram:"))
            );
        }
    }

    #[test]
    fn majority_name_wins() {
        let mut slot = (String::new(), 0);
        for n in ["a", "b", "a", "c", "a", "a"] {
            vote(&mut slot, n);
        }
        assert_eq!(slot.0, "a");
    }

    #[test]
    fn refuses_single_class() {
        let set = [Example::body("a", true), Example::body("b", true)];
        let refs: Vec<&Example> = set.iter().collect();
        assert!(fit(&refs, &TrainParams::default()).is_err());
    }

    #[test]
    fn training_is_deterministic() {
        let set = tiny_set(true);
        for solver in [Solver::Lbfgs, FTRL] {
            let a = train_with(&set, false, solver);
            let b = train_with(&set, false, solver);
            assert_eq!(a.weights().1, b.weights().1, "{solver:?}");
            assert_eq!(a.weights().0, b.weights().0, "{solver:?}");
        }
    }

    #[test]
    fn ftrl_settings_out_of_range_are_refused_with_the_reason() {
        let set = tiny_set(true);
        let refs: Vec<&Example> = set.iter().collect();
        let with = |solver| TrainParams {
            solver,
            ..TrainParams::default()
        };
        let zero_epochs = Solver::Ftrl(FtrlSettings {
            epochs: 0,
            batch: 4,
            rate: 0.3,
            l2: 0.1,
        });
        let e = fit(&refs, &with(zero_epochs)).unwrap_err().to_string();
        assert!(e.contains("at least one epoch"), "{e}");
        let l2_too_big = Solver::Ftrl(FtrlSettings {
            epochs: 1,
            batch: 4,
            rate: 0.3,
            l2: 2.0,
        });
        let e = fit(&refs, &with(l2_too_big)).unwrap_err().to_string();
        assert!(e.contains("FTRL settings"), "{e}");
    }
}
