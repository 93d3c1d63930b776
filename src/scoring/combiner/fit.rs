//! Fitting and measuring the combiner: signal vectors of labelled rows (through the same clean-up, phone
//! normalisation and lexicon matching as a submission), the L2 strength chosen by stratified k-fold
//! cross-validation, calibration and thresholds read off the out-of-fold predictions, and the final fit on all
//! rows. Deterministic: fixed fold assignment, L-BFGS from zero.

use anyhow::{Context, bail};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2, ShapeBuilder};
use sha2::{Digest, Sha256};

use super::{
    COMBINER_FORMAT, CombinerFile, CvReport, Evidence, FittedOn, Recommended, ReliabilityBin,
    SIGNALS_VERSION, SignalWeight, describe, observe, signal_names,
};
use crate::classifier::data::{DataSpec, load};
use crate::classifier::{CommentText, Model};
use crate::scoring::prepare;
use crate::text::normalize_phone;

/// One labelled comment with its form fields as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub title: String,
    pub body: String,
    pub spam: bool,
    /// A hard case (see `data/vi-dev/README.md`).
    pub hard: bool,
    /// An insult or slur aimed at a person (the `abusive` column; such rows are labelled ham: not spam).
    pub abusive: bool,
}

/// Loads labelled rows. `data` is either `kind:path` (a format `classifier::data` reads, e.g.
/// `vispam:.../test.csv`; `split` must then be empty) or a CSV in the `data/vi-dev` layout
/// (`id,name,title,body,label[,split][,hard]`), filtered to rows whose `split` equals `split` (empty: all).
pub fn load_rows(data: &str, split: &str) -> anyhow::Result<Vec<Row>> {
    let kinds = ["youtube:", "sms:", "vispam:", "vihsd:", "victsd:", "csv:"];
    if kinds.iter().any(|k| data.starts_with(k)) {
        if !split.is_empty() {
            bail!("--split applies to the vi-dev CSV layout only; pass the split's file instead");
        }
        let spec: DataSpec = data.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        return Ok(load(&spec)?
            .into_iter()
            .enumerate()
            .map(|(i, e)| Row {
                id: (i + 1).to_string(),
                name: e.name,
                phone: e.phone,
                title: e.title,
                body: e.body,
                spam: e.spam,
                hard: false,
                abusive: false,
            })
            .collect());
    }
    let mut rdr = csv::Reader::from_path(data).with_context(|| format!("cannot read {data}"))?;
    let headers = rdr.headers()?.clone();
    let col = |n: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{FEFF}') == n)
    };
    let body = col("body").context("no body column")?;
    let label = col("label").context("no label column")?;
    let (id, name, title, phone, sp, hard, abusive) = (
        col("id"),
        col("name"),
        col("title"),
        col("phone"),
        col("split"),
        col("hard"),
        col("abusive"),
    );
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or_default().to_string();
        if !split.is_empty() && get(sp) != split {
            continue;
        }
        let spam = match get(Some(label)).as_str() {
            "spam" | "1" => true,
            "ham" | "0" => false,
            other => bail!("{data}: record {}: label {other:?} is not spam/ham", i + 1),
        };
        out.push(Row {
            id: get(id),
            name: get(name),
            phone: get(phone),
            title: get(title),
            body: get(Some(body)),
            spam,
            hard: get(hard) == "1",
            abusive: get(abusive) == "1",
        });
    }
    if out.is_empty() {
        bail!("{data}: no rows (split {split:?})");
    }
    Ok(out)
}

/// What serving computes for a row: the base model's score, the signal vector, and whether the shipped
/// lexicon matched. The fields go through the same clean-up as a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub model_score: f32,
    pub values: Vec<f64>,
    pub lexicon_hit: bool,
}

/// Observes one row the way `comment::classify` would see it after `submit`'s clean-up.
pub fn observe_row(model: &Model, r: &Row) -> Observation {
    let crate::text::CleanText {
        name,
        title,
        body,
        invisible,
    } = crate::text::CleanText::new(&r.name, &r.title, &r.body);
    let phone = normalize_phone(&r.phone).unwrap_or_default();
    let text = CommentText {
        name: &name,
        phone: &phone,
        title: &title,
        body: &body,
    };
    let model_score = model.score(&text, 0).score;
    let hits = prepare(&name, &title, &body).lexicon;
    let values = observe(
        model_score,
        &Evidence {
            text,
            lexicon: &hits,
            invisible,
            signals: None,
            skeleton: None,
            field_spaced: None,
            hosts: None,
            allowed_domains: &[],
        },
    )
    .values;
    Observation {
        model_score,
        values,
        lexicon_hit: !hits.is_empty(),
    }
}

/// Fits an L2-regularised logistic regression; returns (intercept, weights) with positive meaning spam.
pub fn fit_lr(x: &[Vec<f64>], y: &[bool], alpha: f64) -> anyhow::Result<(f64, Vec<f64>)> {
    let n = x.len();
    let d = x.first().map_or(0, Vec::len);
    if !y.contains(&true) || !y.contains(&false) {
        bail!("the fitting rows must contain both spam and ham");
    }
    // linfa multiplies by the transpose in the gradient: column-major.
    let mut m = Array2::<f64>::zeros((n, d).f());
    for (i, row) in x.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            m[[i, j]] = v;
        }
    }
    let ds = Dataset::new(m, Array1::from(y.to_vec()));
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(1000)
        .gradient_tolerance(1e-7)
        .fit(&ds)
        .context("combiner logistic regression fit failed")?;
    // linfa makes the majority class positive: orient the weights so that positive means spam.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok((
        sign * fitted.intercept(),
        fitted.params().iter().map(|w| sign * w).collect(),
    ))
}

fn predict(intercept: f64, w: &[f64], x: &[f64]) -> f64 {
    super::sigmoid(intercept + w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>())
}

/// Stratified fold of each row: the i-th spam row goes to fold i mod k, likewise ham (file order).
pub fn folds(y: &[bool], k: usize) -> Vec<usize> {
    let (mut s, mut h) = (0, 0);
    y.iter()
        .map(|&spam| {
            let c = if spam { &mut s } else { &mut h };
            let f = *c % k;
            *c += 1;
            f
        })
        .collect()
}

/// Out-of-fold predicted probabilities.
pub fn cross_validate(
    x: &[Vec<f64>],
    y: &[bool],
    alpha: f64,
    k: usize,
) -> anyhow::Result<Vec<f64>> {
    let f = folds(y, k);
    let mut out = vec![0.0; y.len()];
    for fold in 0..k {
        let (tx, ty): (Vec<Vec<f64>>, Vec<bool>) = (0..y.len())
            .filter(|&i| f[i] != fold)
            .map(|i| (x[i].clone(), y[i]))
            .unzip();
        let (b, w) = fit_lr(&tx, &ty, alpha)?;
        for i in (0..y.len()).filter(|&i| f[i] == fold) {
            out[i] = predict(b, &w, &x[i]);
        }
    }
    Ok(out)
}

/// Mean log-loss.
pub fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    p.iter()
        .zip(y)
        .map(|(&p, &s)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            if s { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / p.len().max(1) as f64
}

/// Mean squared error of the probabilities (Brier score).
pub fn brier(p: &[f64], y: &[bool]) -> f64 {
    p.iter()
        .zip(y)
        .map(|(&p, &s)| (p - f64::from(u8::from(s))).powi(2))
        .sum::<f64>()
        / p.len().max(1) as f64
}

/// Reliability table over `bins` equal-width probability bins (empty bins omitted).
pub fn reliability(p: &[f64], y: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    (0..bins)
        .filter_map(|b| {
            let (lo, hi) = (b as f64 / bins as f64, (b + 1) as f64 / bins as f64);
            let idx: Vec<usize> = (0..p.len())
                .filter(|&i| p[i] >= lo && (p[i] < hi || (b + 1 == bins && p[i] <= hi)))
                .collect();
            if idx.is_empty() {
                return None;
            }
            let n = idx.len() as f64;
            Some(ReliabilityBin {
                lower: lo,
                upper: hi,
                rows: idx.len(),
                mean_predicted: idx.iter().map(|&i| p[i]).sum::<f64>() / n,
                observed_spam: idx.iter().filter(|&&i| y[i]).count() as f64 / n,
            })
        })
        .collect()
}

/// Rows sorted by probability (descending when `desc`), ties in row order.
fn order(p: &[f64], desc: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| {
        let c = p[a].total_cmp(&p[b]);
        (if desc { c.reverse() } else { c }).then(a.cmp(&b))
    });
    idx
}

/// Lowest threshold whose "score >= t" set has spam precision >= `target` (cut halfway between neighbouring
/// scores); 1.0 when no such set exists.
pub fn reject_threshold(p: &[f64], y: &[bool], target: f64) -> f64 {
    let idx = order(p, true);
    let mut tp = 0usize;
    let mut best = None;
    for k in 1..=idx.len() {
        tp += usize::from(y[idx[k - 1]]);
        if k < idx.len() && p[idx[k]] == p[idx[k - 1]] {
            continue;
        }
        if tp as f64 / k as f64 >= target {
            best = Some(k);
        }
    }
    match best {
        None => 1.0,
        Some(k) if k == idx.len() => p[idx[k - 1]],
        Some(k) => (p[idx[k - 1]] + p[idx[k]]) / 2.0,
    }
}

/// Highest threshold whose "score < t" set has ham precision >= `target` (cut halfway); 0.0 when none.
pub fn approve_threshold(p: &[f64], y: &[bool], target: f64) -> f64 {
    let idx = order(p, false);
    let mut tn = 0usize;
    let mut best = None;
    for k in 1..=idx.len() {
        tn += usize::from(!y[idx[k - 1]]);
        if k < idx.len() && p[idx[k]] == p[idx[k - 1]] {
            continue;
        }
        if tn as f64 / k as f64 >= target {
            best = Some(k);
        }
    }
    match best {
        None => 0.0,
        Some(k) if k == idx.len() => 1.0,
        Some(k) => (p[idx[k - 1]] + p[idx[k]]) / 2.0,
    }
}

/// Confusion counts of a binary decision, with the hard-ham false positives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tp: u32,
    pub fp: u32,
    pub tn: u32,
    pub fn_: u32,
    pub hard_ham: u32,
    pub hard_fp: u32,
}

fn div(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

impl Counts {
    pub fn add(&mut self, predicted: bool, spam: bool, hard: bool) {
        match (predicted, spam) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
        if hard && !spam {
            self.hard_ham += 1;
            self.hard_fp += u32::from(predicted);
        }
    }
    pub fn spam_precision(&self) -> f64 {
        div(self.tp, self.tp + self.fp)
    }
    pub fn spam_recall(&self) -> f64 {
        div(self.tp, self.tp + self.fn_)
    }
    pub fn ham_precision(&self) -> f64 {
        div(self.tn, self.tn + self.fn_)
    }
    pub fn macro_f1(&self) -> f64 {
        let ham = f1(self.ham_precision(), div(self.tn, self.tn + self.fp));
        (f1(self.spam_precision(), self.spam_recall()) + ham) / 2.0
    }
    pub fn ham_fp_rate(&self) -> f64 {
        div(self.fp, self.fp + self.tn)
    }
    pub fn hard_fp_rate(&self) -> f64 {
        div(self.hard_fp, self.hard_ham)
    }
}

/// Settings of a fit.
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub folds: usize,
    pub alphas: Vec<f64>,
    /// Spam precision the reject threshold must reach on the out-of-fold predictions.
    pub reject_precision: f64,
    /// Ham precision the approve threshold must reach on the out-of-fold predictions.
    pub approve_precision: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            folds: 5,
            alphas: vec![0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
            reject_precision: 0.99,
            approve_precision: 0.99,
        }
    }
}

/// sha256 of a file, hex.
pub fn file_sha256(path: &str) -> String {
    std::fs::read(path)
        .map(|b| hex::encode(Sha256::digest(&b)))
        .unwrap_or_default()
}

/// Fits a combiner for `model` on `rows`: alpha by cross-validated log-loss, thresholds and calibration from
/// the out-of-fold predictions at that alpha, weights from a final fit on every row. Also returns the
/// out-of-fold predictions, in row order.
pub fn fit(
    model: &Model,
    rows: &[Row],
    fitted_on: FittedOn,
    fitted: String,
    opts: &FitOptions,
) -> anyhow::Result<(CombinerFile, Vec<f64>)> {
    if opts.folds < 2 {
        bail!("at least 2 folds are needed");
    }
    let obs: Vec<Observation> = rows.iter().map(|r| observe_row(model, r)).collect();
    let x: Vec<Vec<f64>> = obs.iter().map(|o| o.values.clone()).collect();
    let y: Vec<bool> = rows.iter().map(|r| r.spam).collect();
    let mut grid = Vec::new();
    let mut best: Option<(f64, f64, Vec<f64>)> = None;
    for &alpha in &opts.alphas {
        let p = cross_validate(&x, &y, alpha, opts.folds)?;
        let loss = log_loss(&p, &y);
        grid.push((alpha, loss));
        if best.as_ref().is_none_or(|b| loss <= b.1) {
            best = Some((alpha, loss, p));
        }
    }
    let (alpha, loss, p) = best.context("empty alpha grid")?;
    let reject_at = reject_threshold(&p, &y, opts.reject_precision);
    let approve_below = approve_threshold(&p, &y, opts.approve_precision).min(reject_at);
    let (mut at_half, mut at_reject, mut at_approve) =
        (Counts::default(), Counts::default(), Counts::default());
    for (i, &s) in y.iter().enumerate() {
        at_half.add(p[i] >= 0.5, s, rows[i].hard);
        at_reject.add(p[i] >= reject_at, s, rows[i].hard);
        at_approve.add(p[i] >= approve_below, s, rows[i].hard);
    }
    let (intercept, w) = fit_lr(&x, &y, alpha)?;
    let names = signal_names();
    let weights = names
        .iter()
        .enumerate()
        .map(|(j, n)| SignalWeight {
            name: n.clone(),
            weight: (w[j] * 1e6).round() / 1e6,
            rows_with_signal: x.iter().filter(|r| r[j] != 0.0).count(),
            description: describe(n),
        })
        .collect();
    let r6 = |v: f64| (v * 1e6).round() / 1e6;
    let file = CombinerFile {
        format: COMBINER_FORMAT,
        signals_version: SIGNALS_VERSION.into(),
        description: "logistic regression over the base model's logit and the rule signals; its output is the \
                      spam probability"
            .into(),
        base_model_version: model.version().to_string(),
        fitted,
        fitted_on,
        alpha,
        intercept: r6(intercept),
        weights,
        thresholds: Recommended {
            approve_below: r6(approve_below),
            reject_at: r6(reject_at),
            note: format!(
                "from {}-fold out-of-fold predictions on the fitting rows: reject at or above reject_at (spam \
                 precision >= {}), publish below approve_below (ham precision >= {}), hold the rest",
                opts.folds, opts.reject_precision, opts.approve_precision
            ),
        },
        cv: CvReport {
            folds: opts.folds,
            alpha_grid: grid.into_iter().map(|(a, l)| (a, r6(l))).collect(),
            log_loss: r6(loss),
            brier: r6(brier(&p, &y)),
            macro_f1_at_half: r6(at_half.macro_f1()),
            spam_precision_at_reject: r6(at_reject.spam_precision()),
            spam_recall_at_reject: r6(at_reject.spam_recall()),
            ham_precision_at_approve: r6(at_approve.ham_precision()),
            reliability: reliability(&p, &y, 5)
                .into_iter()
                .map(|b| ReliabilityBin {
                    mean_predicted: r6(b.mean_predicted),
                    observed_spam: r6(b.observed_spam),
                    ..b
                })
                .collect(),
        },
    };
    Ok((file, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_fixed() {
        let y = [true, false, true, false, true, false, false];
        assert_eq!(folds(&y, 2), vec![0, 0, 1, 1, 0, 0, 1]);
    }

    #[test]
    fn thresholds_cut_between_neighbours() {
        let p = [0.95, 0.9, 0.8, 0.6, 0.3, 0.1];
        let y = [true, true, false, true, false, false];
        assert!((reject_threshold(&p, &y, 0.99) - 0.85).abs() < 1e-12);
        assert!((approve_threshold(&p, &y, 0.99) - 0.45).abs() < 1e-12);
    }

    #[test]
    fn brier_and_reliability_of_a_perfect_forecast() {
        let p = [1.0, 0.0, 1.0];
        let y = [true, false, true];
        assert_eq!(brier(&p, &y), 0.0);
        let r = reliability(&p, &y, 5);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].observed_spam, 1.0);
    }
}
