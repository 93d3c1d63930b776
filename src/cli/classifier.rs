//! The `train`, `eval` and `score` commands: argument definitions and their implementations.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use sha2::{Digest, Sha256};

use crate::classifier::data::{self, DataSpec, Example};
use crate::classifier::eval::{best_macro_f1, metrics_at, report_text, thresholds};
use crate::classifier::features::{CODE_VERSION, FeatureConfig};
use crate::classifier::model::{
    DataSourceInfo, Metrics, Model, ModelCard, ModelFile, Sizes, Thresholds, TrainingInfo,
    write_artifact,
};
use crate::classifier::plot::write_svg;
use crate::classifier::train::{FtrlSettings, Solver, TrainParams, fit};
use crate::classifier::{CommentText, Scored};

/// Train a spam model and write the artifact with its report.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Labelled data as kind:path (kinds: youtube, sms, vispam, vihsd, victsd, csv); repeatable.
    #[arg(long = "data", required = true)]
    pub data: Vec<DataSpec>,
    /// Output artifact directory (model.bin, card.json, report.txt, report.svg).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the stratified train/test split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of each class held out for the report.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Train on every row (no held-out split); the report then comes from --eval-data, if given.
    #[arg(long)]
    pub train_on_all: bool,
    /// Evaluate on this separate data (e.g. an official test split) instead of a split; implies --train-on-all.
    #[arg(long = "eval-data")]
    pub eval_data: Vec<DataSpec>,
    /// Leave-one-video-out evaluation over the YouTube files instead of training one model.
    #[arg(long)]
    pub loo_youtube: bool,
    /// Number of hashed buckets kept as model columns (top-K by document frequency).
    #[arg(long, default_value_t = 16_384)]
    pub top_k: usize,
    /// Hash space is 2^hash_bits buckets.
    #[arg(long, default_value_t = 20)]
    pub hash_bits: u8,
    /// Value of a present signal feature, in percent of a unit-length word block.
    #[arg(long, default_value_t = 100)]
    pub signal_value_pct: u8,
    /// Character n-gram lengths within words, as min-max (0-0 disables them).
    #[arg(long, default_value = "2-4", value_parser = parse_range)]
    pub char_ngrams: (u8, u8),
    /// No word bigrams.
    #[arg(long)]
    pub no_bigrams: bool,
    /// Character n-grams over the words as written instead of their accent-stripped shadow.
    #[arg(long)]
    pub char_ngrams_accented: bool,
    /// L2 penalty (linfa sums the loss: about sklearn's C = 1/alpha).
    #[arg(long, default_value_t = 0.1)]
    pub alpha: f32,
    /// Choose alpha among these by stratified k-fold cross-validation on the training rows only (mean spam F1
    /// at --threshold; ties keep the smaller alpha), e.g. `--cv-alphas 0.03,0.1,0.3`. Replaces --alpha. With
    /// --loo-youtube, each held-out video's alpha is chosen by leave-one-video-out over the other videos (mean
    /// accuracy).
    #[arg(long = "cv-alphas", value_delimiter = ',')]
    pub cv_alphas: Vec<f32>,
    /// Folds for --cv-alphas (with --loo-youtube the folds are the videos, and this is not used).
    #[arg(long, default_value_t = 5)]
    pub cv_folds: usize,
    /// Maximum L-BFGS iterations.
    #[arg(long, default_value_t = 50)]
    pub max_iterations: u64,
    /// Stop when the gradient norm falls below this.
    #[arg(long, default_value_t = 1.0)]
    pub gradient_tolerance: f32,
    /// How the weights are fitted: `lbfgs` (linfa-logistic over the whole dense design matrix; --alpha,
    /// --max-iterations, --gradient-tolerance) or `ftrl` (linfa-ftrl over mini-batches, never holding the whole
    /// matrix; --epochs, --batch-rows, --learning-rate, --ftrl-l2).
    #[arg(long, default_value = "lbfgs", value_parser = ["lbfgs", "ftrl"])]
    pub solver: String,
    /// FTRL: passes over the training rows.
    #[arg(long, default_value_t = 30)]
    pub epochs: u32,
    /// FTRL: rows per update.
    #[arg(long, default_value_t = 32)]
    pub batch_rows: usize,
    /// FTRL: learning rate (FTRL-proximal's alpha).
    #[arg(long, default_value_t = 0.3)]
    pub learning_rate: f32,
    /// FTRL: L2 strength, between 0 and 1 (its L1 strength is 1).
    #[arg(long, default_value_t = 0.1)]
    pub ftrl_l2: f32,
    /// Weight the classes equally by repeating the minority class's rows.
    #[arg(long)]
    pub balance: bool,
    /// Score at or above which a held-out comment counts as spam in the report, cross-validation and
    /// leave-one-out (e.g. one chosen on a validation split: see "highest macro-F1" in that split's report).
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Scale the columns by their naive-Bayes log-count ratios before fitting (NBSVM-style; serving is the same
    /// either way). Better on the English short-text sets (SMS, YouTube), no better on ViSpamReviews.
    #[arg(long)]
    pub nb_scale: bool,
    /// Free-text description stored in the model card.
    #[arg(long, default_value = "comment spam classifier")]
    pub description: String,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Evaluate a trained model on held-out labelled data.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Model artifact directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled data as kind:path; repeatable.
    #[arg(long = "data", required = true)]
    pub data: Vec<DataSpec>,
    /// Where report.txt and report.svg go (default: the model directory, as eval-report.txt/svg).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Score at or above which a comment counts as spam in the report.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
}

/// Score one comment and print the reasons.
#[derive(Debug, Clone, Args)]
pub struct ScoreArgs {
    /// Model artifact directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Commenter name.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Comment title.
    #[arg(long, default_value = "")]
    pub title: String,
    /// Phone field.
    #[arg(long, default_value = "")]
    pub phone: String,
    /// Number of reasons to print.
    #[arg(long, default_value_t = 8)]
    pub top: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Comment body.
    pub body: String,
}

fn parse_range(s: &str) -> Result<(u8, u8), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("expected min-max, got {s:?}"))?;
    let a = a.trim().parse::<u8>().map_err(|e| e.to_string())?;
    let b = b.trim().parse::<u8>().map_err(|e| e.to_string())?;
    if a > b {
        return Err(format!("min {a} is larger than max {b}"));
    }
    Ok((a, b))
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn load_sources(specs: &[DataSpec]) -> anyhow::Result<(Vec<Example>, Vec<DataSourceInfo>)> {
    let mut all = Vec::new();
    let mut info = Vec::new();
    for spec in specs {
        let rows = data::load(spec).with_context(|| format!("loading {spec}"))?;
        let spam = rows.iter().filter(|e| e.spam).count();
        let (license, attribution) = spec.kind.license();
        info.push(DataSourceInfo {
            kind: spec.kind.name().into(),
            path: spec.path.display().to_string(),
            rows: rows.len(),
            spam,
            ham: rows.len() - spam,
            license: license.into(),
            attribution: attribution.into(),
        });
        all.extend(rows);
    }
    Ok((all, info))
}

fn score_all(model: &Model, examples: &[&Example]) -> Vec<f32> {
    examples
        .iter()
        .map(|e| model.score(&e.text(), 0).score)
        .collect()
}

fn params(a: &TrainArgs) -> TrainParams {
    TrainParams {
        config: FeatureConfig {
            hash_bits: a.hash_bits,
            signal_value_pct: a.signal_value_pct,
            char_ngram_min: a.char_ngrams.0,
            char_ngram_max: a.char_ngrams.1,
            char_ngrams_on_shadow: !a.char_ngrams_accented,
            word_bigrams: !a.no_bigrams,
            ..FeatureConfig::default()
        },
        top_k: a.top_k,
        alpha: a.alpha,
        max_iterations: a.max_iterations,
        gradient_tolerance: a.gradient_tolerance,
        balance: a.balance,
        nb_scale: a.nb_scale,
        progress: !a.quiet,
        solver: if a.solver == "ftrl" {
            Solver::Ftrl(FtrlSettings {
                epochs: a.epochs,
                batch: a.batch_rows,
                rate: a.learning_rate,
                l2: a.ftrl_l2,
            })
        } else {
            Solver::Lbfgs
        },
    }
}

fn default_thresholds(note: &str) -> Thresholds {
    Thresholds {
        auto_reject: 0.9,
        auto_approve: 0.1,
        note: note.into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn card(
    a: &TrainArgs,
    file: &ModelFile,
    bin_len: usize,
    version: String,
    info: TrainingInfo,
    metrics: Option<Metrics>,
    thresholds: Thresholds,
) -> ModelCard {
    ModelCard {
        version,
        created: today(),
        description: a.description.clone(),
        feature_fingerprint: file.fingerprint.clone(),
        feature_code_version: CODE_VERSION.into(),
        feature_config: file.config.clone(),
        training: info,
        sizes: Sizes {
            hash_buckets: file.config.buckets(),
            kept_buckets: file.buckets.len(),
            nonzero_weights: file.weights.iter().filter(|w| **w != 0.0).count(),
            model_bin_bytes: bin_len,
        },
        metrics,
        thresholds,
    }
}

/// `--threshold` of `train` and `eval`: a score in (0, 1].
fn check_threshold(t: f32) -> anyhow::Result<()> {
    if !(t > 0.0 && t <= 1.0) {
        bail!("--threshold must be in (0, 1], got {t}");
    }
    Ok(())
}

/// The report line naming the threshold with the highest macro-F1 on the evaluated rows.
fn best_threshold_line(scores: &[f32], labels: &[bool]) -> Option<String> {
    best_macro_f1(scores, labels).map(|(t, f)| {
        format!(
            "highest macro-F1 on these rows: {f:.4} at threshold {t} (it describes these rows: choose a \
             threshold on a validation split and pass it with --threshold where you report)"
        )
    })
}

/// `moderato train`.
pub fn train(a: TrainArgs) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&a.test_fraction) {
        bail!("--test-fraction must be in [0, 1), got {}", a.test_fraction);
    }
    check_threshold(a.threshold)?;
    let (rows, sources) = load_sources(&a.data)?;
    let rows_loaded = rows.len();
    let rows = data::dedup(rows);
    eprintln!(
        "loaded {rows_loaded} rows, {} after removing duplicate texts",
        rows.len()
    );
    if a.loo_youtube {
        return leave_one_group_out(&a, &rows);
    }
    let labels: Vec<bool> = rows.iter().map(|e| e.spam).collect();
    let separate_eval = !a.eval_data.is_empty();
    let (train_idx, mut test): (Vec<usize>, Vec<Example>) = if separate_eval || a.train_on_all {
        ((0..rows.len()).collect(), Vec::new())
    } else {
        let (tr, te) = data::stratified_split(&labels, a.test_fraction, a.seed);
        let test = te.iter().map(|&i| rows[i].clone()).collect();
        (tr, test)
    };
    let mut evaluation = format!(
        "stratified {:.0}% hold-out, seed {}",
        a.test_fraction * 100.0,
        a.seed
    );
    let mut eval_sources = Vec::new();
    if separate_eval {
        let (ev, info) = load_sources(&a.eval_data)?;
        test = data::dedup(ev);
        evaluation = format!(
            "separate evaluation data: {}",
            a.eval_data
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        eval_sources = info;
    } else if a.train_on_all {
        evaluation = "none (trained on all rows)".into();
    }
    let train_rows: Vec<&Example> = train_idx.iter().map(|&i| &rows[i]).collect();
    let mut a = a;
    let mut cv_lines = Vec::new();
    if !a.cv_alphas.is_empty() {
        let (alpha, lines) = choose_alpha(&a, &train_rows)?;
        a.alpha = alpha;
        cv_lines = lines;
    }
    let p = params(&a);
    eprintln!(
        "training on {} rows ({} spam)",
        train_rows.len(),
        train_rows.iter().filter(|e| e.spam).count()
    );
    let trained = fit(&train_rows, &p)?;
    let bin = postcard::to_stdvec(&trained.file)?;
    let name = a
        .out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let version = format!(
        "{name}-{}-{}",
        today().replace('-', ""),
        &hex::encode(Sha256::digest(&bin))[..8]
    );
    let info = TrainingInfo {
        data: sources,
        rows_loaded,
        rows_after_dedup: rows.len(),
        train_rows: train_rows.len(),
        test_rows: test.len(),
        evaluation: evaluation.clone(),
        seed: a.seed,
        test_fraction: if separate_eval || a.train_on_all {
            0.0
        } else {
            a.test_fraction
        },
        top_k: a.top_k,
        alpha: a.alpha,
        max_iterations: a.max_iterations,
        gradient_tolerance: a.gradient_tolerance,
        nb_scale: a.nb_scale,
        solver: params(&a).solver.name().to_string(),
        fit_seconds: trained.fit_seconds,
    };
    let provisional = card(
        &a,
        &trained.file,
        bin.len(),
        version.clone(),
        info.clone(),
        None,
        default_thresholds(""),
    );
    let model = Model::from_parts(trained.file.clone(), provisional)?;
    let (metrics_v, thresholds_v) = if test.is_empty() {
        (
            None,
            default_thresholds("not measured: no held-out data; defaults 0.9 / 0.1"),
        )
    } else {
        let refs: Vec<&Example> = test.iter().collect();
        let scores = score_all(&model, &refs);
        let labels: Vec<bool> = test.iter().map(|e| e.spam).collect();
        let m = metrics_at(&scores, &labels, a.threshold);
        let t = thresholds(&scores, &labels);
        let title = format!("moderato spam model {version}");
        let mut extra = vec![
            format!(
                "training data: {}",
                a.data
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("evaluation: {evaluation}"),
            format!(
                "rows: {rows_loaded} loaded, {} unique, {} train, {} held out",
                rows.len(),
                train_rows.len(),
                test.len()
            ),
            format!(
                "model: {} kept buckets of 2^{}, {}{}, fit {:.1} s",
                trained.file.buckets.len(),
                a.hash_bits,
                if a.nb_scale {
                    "naive-Bayes scaled columns, "
                } else {
                    ""
                },
                match params(&a).solver {
                    Solver::Lbfgs =>
                        format!("alpha {}, {} iterations max", a.alpha, a.max_iterations),
                    Solver::Ftrl(s) => format!(
                        "FTRL-proximal: {} epochs of {}-row batches, learning rate {}, L2 {}",
                        s.epochs, s.batch, s.rate, s.l2
                    ),
                },
                trained.fit_seconds
            ),
        ];
        extra.extend(cv_lines.iter().cloned());
        for s in &eval_sources {
            extra.push(format!(
                "evaluation source {}:{} ({} rows, {} spam)",
                s.kind, s.path, s.rows, s.spam
            ));
        }
        extra.extend(best_threshold_line(&scores, &labels));
        std::fs::create_dir_all(&a.out)?;
        let report = report_text(&title, &m, &t, &extra);
        std::fs::write(a.out.join("report.txt"), &report)?;
        write_svg(&a.out.join("report.svg"), &title, &scores, &labels, &t)?;
        print!("{report}");
        (Some(m), t)
    };
    let final_card = card(
        &a,
        &trained.file,
        bin.len(),
        version.clone(),
        info,
        metrics_v,
        thresholds_v,
    );
    write_artifact(&a.out, &trained.file, &final_card)?;
    // The written artifact must load back.
    let reloaded = Model::load(&a.out).with_context(|| format!("reloading {}", a.out.display()))?;
    if let Err(e) = crate::scoring::combiner::Combiner::load_for(&a.out, &reloaded) {
        eprintln!(
            "warning: {}/{} no longer fits this model and the directory will not load until it is refitted \
             (`moderato combiner fit --model {}`) or removed: {e}",
            a.out.display(),
            crate::scoring::combiner::FILE_NAME,
            a.out.display()
        );
    }
    eprintln!(
        "wrote {} (version {version}, model.bin {} bytes)",
        a.out.display(),
        bin.len()
    );
    Ok(())
}

/// Fits on `train` with `a`'s settings (no progress bar) and measures the model on `test` at `a.threshold`.
fn fit_and_measure(
    a: &TrainArgs,
    train: &[&Example],
    test: &[&Example],
) -> anyhow::Result<crate::classifier::model::Metrics> {
    let p = TrainParams {
        progress: false,
        ..params(a)
    };
    let trained = fit(train, &p)?;
    let provisional = card(
        a,
        &trained.file,
        0,
        "provisional".into(),
        // The card of a cross-validation or leave-one-out fold's model is never written.
        TrainingInfo {
            evaluation: "a cross-validation or leave-one-out fold".into(),
            ..TrainingInfo::default()
        },
        None,
        default_thresholds(""),
    );
    let model = Model::from_parts(trained.file, provisional)?;
    let scores = score_all(&model, test);
    let labels: Vec<bool> = test.iter().map(|e| e.spam).collect();
    Ok(metrics_at(&scores, &labels, a.threshold))
}

/// The alpha with the highest score; ties keep the first (the candidates come sorted, so the smaller alpha).
fn best_alpha(scored: &[(f32, f64)]) -> Option<(f32, f64)> {
    scored
        .iter()
        .copied()
        .fold(None, |best, (alpha, score)| match best {
            Some((_, b)) if b >= score => best,
            _ => Some((alpha, score)),
        })
}

/// The candidate alphas of `--cv-alphas`: checked, sorted, without repeats.
fn candidate_alphas(a: &TrainArgs) -> anyhow::Result<Vec<f32>> {
    if let Some(bad) = a.cv_alphas.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        bail!("--cv-alphas must be positive numbers, got {bad}");
    }
    let mut alphas = a.cv_alphas.clone();
    alphas.sort_by(f32::total_cmp);
    alphas.dedup();
    Ok(alphas)
}

/// Picks alpha among `a.cv_alphas` by stratified k-fold cross-validation over `rows` (the training rows: the
/// held-out split is never seen). Returns the alpha and a report line per candidate.
fn choose_alpha(a: &TrainArgs, rows: &[&Example]) -> anyhow::Result<(f32, Vec<String>)> {
    let k = a.cv_folds;
    if k < 2 || k > rows.len() {
        bail!("--cv-folds must be between 2 and the number of training rows, got {k}");
    }
    let alphas = candidate_alphas(a)?;
    // Stratified fold of every row: each class shuffled with the seed, then dealt round-robin.
    let mut fold = vec![0usize; rows.len()];
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(a.seed ^ 0x6376);
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].spam == class).collect();
        rand::seq::SliceRandom::shuffle(idx.as_mut_slice(), &mut rng);
        for (j, i) in idx.into_iter().enumerate() {
            fold[i] = j % k;
        }
    }
    let mut scored = Vec::new();
    let mut lines = Vec::new();
    for &alpha in &alphas {
        let cand = TrainArgs { alpha, ..a.clone() };
        let mut f1s = Vec::new();
        for f in 0..k {
            let tr: Vec<&Example> = (0..rows.len())
                .filter(|&i| fold[i] != f)
                .map(|i| rows[i])
                .collect();
            let te: Vec<&Example> = (0..rows.len())
                .filter(|&i| fold[i] == f)
                .map(|i| rows[i])
                .collect();
            f1s.push(fit_and_measure(&cand, &tr, &te)?.f1_spam);
        }
        let mean = f1s.iter().sum::<f64>() / k as f64;
        let line =
            format!("cross-validation: alpha {alpha} -> mean spam F1 {mean:.4} over {k} folds");
        eprintln!("{line}");
        lines.push(line);
        scored.push((alpha, mean));
    }
    let (alpha, mean) =
        best_alpha(&scored).ok_or_else(|| anyhow::anyhow!("no --cv-alphas given"))?;
    lines.push(format!(
        "cross-validation chose alpha {alpha} (mean spam F1 {mean:.4})"
    ));
    Ok((alpha, lines))
}

/// The distinct groups (videos) of `rows`, sorted.
fn groups_of<'a>(rows: impl IntoIterator<Item = &'a Example>) -> Vec<&'a str> {
    let mut groups: Vec<&str> = rows.into_iter().map(|e| e.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// Picks alpha among `a.cv_alphas` by an inner leave-one-group-out over `rows` (the outer fold's training
/// groups only): the highest mean accuracy, ties keeping the smaller alpha. A single candidate is taken as it is
/// (no inner accuracy).
fn choose_alpha_by_groups(a: &TrainArgs, rows: &[&Example]) -> anyhow::Result<(f32, Option<f64>)> {
    let alphas = candidate_alphas(a)?;
    if let [alpha] = alphas[..] {
        return Ok((alpha, None));
    }
    let groups = groups_of(rows.iter().copied());
    if groups.len() < 2 {
        bail!(
            "choosing among --cv-alphas with --loo-youtube needs at least three groups (videos), found {}",
            groups.len() + 1
        );
    }
    let mut scored = Vec::new();
    for alpha in alphas {
        let cand = TrainArgs { alpha, ..a.clone() };
        let mut sum = 0.0;
        for g in &groups {
            let tr: Vec<&Example> = rows.iter().copied().filter(|e| e.group != *g).collect();
            let te: Vec<&Example> = rows.iter().copied().filter(|e| e.group == *g).collect();
            sum += fit_and_measure(&cand, &tr, &te)?.accuracy;
        }
        scored.push((alpha, sum / groups.len() as f64));
    }
    let (alpha, mean) =
        best_alpha(&scored).ok_or_else(|| anyhow::anyhow!("no --cv-alphas given"))?;
    Ok((alpha, Some(mean)))
}

/// Leave-one-group-out (one YouTube video at a time): accuracy and spam F1 per held-out group. With
/// `--cv-alphas`, each held-out group's alpha is chosen by a leave-one-group-out over the other groups only.
fn leave_one_group_out(a: &TrainArgs, rows: &[Example]) -> anyhow::Result<()> {
    let groups = groups_of(rows);
    if groups.len() < 2 {
        bail!(
            "--loo-youtube needs at least two groups (videos), found {}",
            groups.len()
        );
    }
    let nested = !a.cv_alphas.is_empty();
    let mut out = String::from("leave-one-video-out evaluation\n");
    if nested {
        out.push_str(
            "alpha chosen per held-out video by leave-one-video-out over the other videos only\n",
        );
    }
    out.push_str("\ngroup                     n   accuracy  spam-F1  ROC-AUC");
    out.push_str(if nested {
        "  alpha (inner accuracy)\n"
    } else {
        "\n"
    });
    let mut accs = Vec::new();
    for g in &groups {
        let train_rows: Vec<&Example> = rows.iter().filter(|e| e.group != *g).collect();
        let test_rows: Vec<&Example> = rows.iter().filter(|e| e.group == *g).collect();
        let mut fold = a.clone();
        let mut chosen = String::new();
        if nested {
            let (alpha, inner) = choose_alpha_by_groups(a, &train_rows)?;
            fold.alpha = alpha;
            chosen = match inner {
                Some(inner) => format!("  {alpha} ({inner:.4})"),
                None => format!("  {alpha} (the only candidate)"),
            };
        }
        let m = fit_and_measure(&fold, &train_rows, &test_rows)?;
        let line = format!(
            "{:<24} {:>4}   {:.4}    {:.4}   {:.4}{chosen}\n",
            g, m.n, m.accuracy, m.f1_spam, m.roc_auc
        );
        eprint!("{line}");
        out.push_str(&line);
        accs.push(m.accuracy);
    }
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    out.push_str(&format!("\nmean accuracy {mean:.4}\n"));
    print!("{out}");
    std::fs::create_dir_all(&a.out)?;
    std::fs::write(a.out.join("loo-youtube.txt"), out)?;
    Ok(())
}

/// `moderato eval`.
pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    check_threshold(a.threshold)?;
    let model =
        Model::load(&a.model).with_context(|| format!("loading model {}", a.model.display()))?;
    let (rows, _) = load_sources(&a.data)?;
    let loaded = rows.len();
    let rows = data::dedup(rows);
    if rows.is_empty() {
        bail!("no evaluation rows");
    }
    let refs: Vec<&Example> = rows.iter().collect();
    let scores = score_all(&model, &refs);
    let labels: Vec<bool> = rows.iter().map(|e| e.spam).collect();
    let m = metrics_at(&scores, &labels, a.threshold);
    let t = thresholds(&scores, &labels);
    let title = format!("moderato spam model {} evaluated", model.version());
    let mut extra = vec![
        format!(
            "evaluation data: {}",
            a.data
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("rows: {loaded} loaded, {} unique", rows.len()),
        format!(
            "thresholds in the model card: auto-reject {:.4}, auto-approve {:.4}",
            model.card().thresholds.auto_reject,
            model.card().thresholds.auto_approve
        ),
    ];
    extra.extend(best_threshold_line(&scores, &labels));
    let report = report_text(&title, &m, &t, &extra);
    let (dir, prefix): (&Path, &str) = match &a.out_dir {
        Some(d) => (d.as_path(), ""),
        None => (a.model.as_path(), "eval-"),
    };
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{prefix}report.txt")), &report)?;
    write_svg(
        &dir.join(format!("{prefix}report.svg")),
        &title,
        &scores,
        &labels,
        &t,
    )?;
    print!("{report}");
    Ok(())
}

/// Text rendering of a score.
pub fn render(model: &Model, s: &Scored) -> String {
    let t = &model.card().thresholds;
    let verdict = if s.score >= t.auto_reject {
        "reject"
    } else if s.score < t.auto_approve {
        "approve"
    } else {
        "review"
    };
    let mut out = format!(
        "score {:.4} ({verdict} at the card's thresholds {:.3}/{:.3}; model {})\n",
        s.score,
        t.auto_approve,
        t.auto_reject,
        model.version()
    );
    for r in &s.reasons {
        out.push_str(&format!("  {:+.4}  {}\n", r.contribution, r.feature));
    }
    out
}

/// `moderato score`.
pub fn score(a: ScoreArgs) -> anyhow::Result<()> {
    let model =
        Model::load(&a.model).with_context(|| format!("loading model {}", a.model.display()))?;
    let c = CommentText {
        name: &a.name,
        phone: &a.phone,
        title: &a.title,
        body: &a.body,
    };
    let s = model.score(&c, a.top);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"model": model.version(), "scored": s})
            )?
        );
    } else {
        print!("{}", render(&model, &s));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: TrainArgs,
    }

    #[test]
    fn date_format() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
        assert_eq!(&d[4..5], "-");
    }

    #[test]
    fn parses_train_args() {
        let t = T::try_parse_from([
            "x",
            "--data",
            "youtube:a",
            "--data",
            "sms:b",
            "--out",
            "m",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(t.a.data.len(), 2);
        assert_eq!(t.a.seed, 7);
        assert_eq!(t.a.test_fraction, 0.2);
        assert!(T::try_parse_from(["x", "--data", "bogus:a", "--out", "m"]).is_err());
    }

    #[test]
    fn train_eval_score_end_to_end() {
        let dir = std::env::temp_dir().join(format!("moderato-clf-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("d.csv");
        let mut text = String::from("text,label\n");
        for i in 0..40 {
            text.push_str(&format!(
                "\"nhà cái {i} uy tín, nạp tiền nhận thưởng, zalo 09{i:08}\",spam\n"
            ));
            text.push_str(&format!(
                "\"bài viết số {i} rất hay, cảm ơn tác giả nhiều\",ham\n"
            ));
        }
        std::fs::write(&csv, text).unwrap();
        let out = dir.join("m");
        let t = T::try_parse_from([
            "x",
            "--data",
            &format!("csv:{}", csv.display()),
            "--out",
            out.to_str().unwrap(),
            "--hash-bits",
            "16",
            "--quiet",
        ])
        .unwrap();
        train(t.a).unwrap();
        for f in ["model.bin", "card.json", "report.txt", "report.svg"] {
            assert!(out.join(f).is_file(), "{f} missing");
        }
        let m = Model::load(&out).unwrap();
        assert_eq!(m.card().training.test_rows, 16);
        assert!(m.card().metrics.as_ref().unwrap().f1_spam > 0.9);
        eval(EvalArgs {
            model: out.clone(),
            data: vec![format!("csv:{}", csv.display()).parse().unwrap()],
            out_dir: None,
            threshold: 0.5,
        })
        .unwrap();
        let report = std::fs::read_to_string(out.join("eval-report.txt")).unwrap();
        assert!(
            report.contains("highest macro-F1 on these rows"),
            "{report}"
        );
        // Another threshold is reported as such; one outside (0, 1] is refused.
        eval(EvalArgs {
            model: out.clone(),
            data: vec![format!("csv:{}", csv.display()).parse().unwrap()],
            out_dir: None,
            threshold: 0.25,
        })
        .unwrap();
        let report = std::fs::read_to_string(out.join("eval-report.txt")).unwrap();
        assert!(report.contains("confusion matrix at 0.25"), "{report}");
        let bad = EvalArgs {
            model: out.clone(),
            data: vec![format!("csv:{}", csv.display()).parse().unwrap()],
            out_dir: None,
            threshold: 0.0,
        };
        assert!(eval(bad).is_err());
        let s = m.score(
            &CommentText {
                body: "nhà cái uy tín zalo",
                ..Default::default()
            },
            3,
        );
        assert!(render(&m, &s).contains("score "));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// `train` arguments for a small run on `data` into `out` (2^14 buckets, no progress bars), then `extra`.
    fn small_train_args(data: &str, out: &Path, extra: &[&str]) -> Result<TrainArgs, clap::Error> {
        let out = out.display().to_string();
        let mut v = vec![
            "x",
            "--data",
            data,
            "--out",
            &out,
            "--hash-bits",
            "14",
            "--quiet",
        ];
        v.extend_from_slice(extra);
        T::try_parse_from(v).map(|t| t.a)
    }

    #[test]
    fn cross_validation_chooses_alpha_on_training_rows_and_reports_it() {
        let dir = std::env::temp_dir().join(format!("moderato-clf-cv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("d.csv");
        let mut text = String::from("text,label\n");
        for i in 0..30 {
            text.push_str(&format!("\"vay tiền nhanh {i}, ib zalo 09{i:08}\",spam\n"));
            text.push_str(&format!(
                "\"đường số {i} lại ngập, mong phường xử lý\",ham\n"
            ));
        }
        std::fs::write(&csv, text).unwrap();
        let out = dir.join("m");
        let data = format!("csv:{}", csv.display());
        let args = |extra: &[&str]| small_train_args(&data, &out, extra);
        train(args(&["--cv-alphas", "0.3,0.01", "--cv-folds", "3"]).unwrap()).unwrap();
        let m = Model::load(&out).unwrap();
        assert!([0.3f32, 0.01].contains(&m.card().training.alpha));
        let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
        assert_eq!(
            report.matches("cross-validation: alpha").count(),
            2,
            "{report}"
        );
        assert!(report.contains("cross-validation chose alpha"), "{report}");
        assert!(!m.card().training.nb_scale);
        // Naive-Bayes scaling is recorded in the card and named in the report; cross-validation uses it too.
        train(args(&["--nb-scale", "--cv-alphas", "0.3,0.01", "--cv-folds", "3"]).unwrap())
            .unwrap();
        let m = Model::load(&out).unwrap();
        assert!(m.card().training.nb_scale);
        assert!(m.card().metrics.as_ref().unwrap().f1_spam > 0.9);
        let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
        assert!(report.contains("naive-Bayes scaled columns"), "{report}");
        assert!(train(args(&["--cv-alphas", "0.1", "--cv-folds", "1"]).unwrap()).is_err());
        assert!(train(args(&["--cv-alphas=-1,0.1"]).unwrap()).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn leave_one_video_out_chooses_alpha_within_the_other_videos() {
        let dir = std::env::temp_dir().join(format!("moderato-clf-loo-{}", std::process::id()));
        let videos = dir.join("videos");
        std::fs::create_dir_all(&videos).unwrap();
        for v in ["A", "B", "C"] {
            let mut text = String::from("COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n");
            for i in 0..20 {
                text.push_str(&format!(
                    "s{v}{i},u,2014-01-01,\"check out my channel {v}{i} subscribe http://x{i}.example\",1\n"
                ));
                text.push_str(&format!(
                    "h{v}{i},u,2014-01-01,\"this song {v} takes me back {i} years, love it\",0\n"
                ));
            }
            std::fs::write(videos.join(format!("Youtube-{v}.csv")), text).unwrap();
        }
        let out = dir.join("loo");
        let data = format!("youtube:{}", videos.display());
        let run = |extra: &[&str]| {
            let mut v = vec!["--loo-youtube"];
            v.extend_from_slice(extra);
            train(small_train_args(&data, &out, &v).unwrap())
        };
        run(&["--cv-alphas", "0.3,0.01"]).unwrap();
        let report = std::fs::read_to_string(out.join("loo-youtube.txt")).unwrap();
        assert!(
            report.contains("alpha chosen per held-out video"),
            "{report}"
        );
        for v in ["A", "B", "C"] {
            let line = report
                .lines()
                .find(|l| l.starts_with(&format!("Youtube-{v} ")))
                .unwrap_or_else(|| panic!("no line for {v}: {report}"));
            assert!(
                line.contains("  0.3 (") || line.contains("  0.01 ("),
                "{line}"
            );
        }
        assert!(report.contains("mean accuracy "), "{report}");
        // Without candidates the one alpha is used and no choice is reported.
        run(&[]).unwrap();
        let report = std::fs::read_to_string(out.join("loo-youtube.txt")).unwrap();
        assert!(!report.contains("alpha chosen"), "{report}");
        // Two videos leave a single one to choose on: refused with the reason.
        std::fs::remove_file(videos.join("Youtube-C.csv")).unwrap();
        let err = run(&["--cv-alphas", "0.3,0.01"]).unwrap_err();
        assert!(err.to_string().contains("at least three groups"), "{err}");
        // One candidate needs no choosing: it is used as it is.
        run(&["--cv-alphas", "0.3"]).unwrap();
        let report = std::fs::read_to_string(out.join("loo-youtube.txt")).unwrap();
        assert!(report.contains("0.3 (the only candidate)"), "{report}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
