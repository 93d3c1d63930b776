//! Evaluation: classification metrics, ROC/PR areas, recommended thresholds and the text report.

use std::fmt::Write as _;

use super::model::{Metrics, Thresholds};

/// Precision the recommended thresholds must reach on held-out data.
pub const TARGET_PRECISION: f64 = 0.99;

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Indices sorted by score, highest first (ties by index, so the order is deterministic).
fn by_score_desc(scores: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx
}

/// ROC-AUC via the rank statistic (ties count half).
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> f64 {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return 0.0;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64)
}

/// For each distinct score t, highest first: (t, spam at or above t, ham at or above t).
fn counts_at_or_above(scores: &[f32], labels: &[bool]) -> Vec<(f32, usize, usize)> {
    let idx = by_score_desc(scores);
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < idx.len() {
        let t = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == t {
            if labels[idx[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        out.push((t, tp, fp));
    }
    out
}

/// Points of the precision-recall curve for the spam class: (threshold, recall, precision), one per distinct
/// score, highest threshold first.
pub fn pr_curve(scores: &[f32], labels: &[bool]) -> Vec<(f32, f64, f64)> {
    let pos = labels.iter().filter(|&&l| l).count();
    counts_at_or_above(scores, labels)
        .into_iter()
        .map(|(t, tp, fp)| (t, ratio(tp, pos), ratio(tp, tp + fp)))
        .collect()
}

/// Average precision (area under the step PR curve).
pub fn pr_auc(scores: &[f32], labels: &[bool]) -> f64 {
    let mut prev_r = 0.0;
    let mut ap = 0.0;
    for (_, r, p) in pr_curve(scores, labels) {
        ap += (r - prev_r) * p;
        prev_r = r;
    }
    ap
}

/// All metrics at threshold 0.5.
pub fn metrics(scores: &[f32], labels: &[bool]) -> Metrics {
    metrics_at(scores, labels, 0.5)
}

/// All metrics, a comment counting as spam when its score is at or above `threshold`.
pub fn metrics_at(scores: &[f32], labels: &[bool], threshold: f32) -> Metrics {
    let mut c = [[0usize; 2]; 2];
    for (&s, &l) in scores.iter().zip(labels) {
        c[l as usize][(s >= threshold) as usize] += 1;
    }
    let (tn, fp, fnn, tp) = (c[0][0], c[0][1], c[1][0], c[1][1]);
    let ps = ratio(tp, tp + fp);
    let rs = ratio(tp, tp + fnn);
    let ph = ratio(tn, tn + fnn);
    let rh = ratio(tn, tn + fp);
    let denom =
        ((tp + fp) as f64 * (tp + fnn) as f64 * (tn + fp) as f64 * (tn + fnn) as f64).sqrt();
    let mcc = if denom == 0.0 {
        0.0
    } else {
        (tp as f64 * tn as f64 - fp as f64 * fnn as f64) / denom
    };
    Metrics {
        n: scores.len(),
        spam: tp + fnn,
        ham: tn + fp,
        precision_spam: ps,
        recall_spam: rs,
        f1_spam: f1(ps, rs),
        precision_ham: ph,
        recall_ham: rh,
        f1_ham: f1(ph, rh),
        macro_f1: (f1(ps, rs) + f1(ph, rh)) / 2.0,
        accuracy: ratio(tp + tn, scores.len()),
        mcc,
        roc_auc: roc_auc(scores, labels),
        pr_auc: pr_auc(scores, labels),
        confusion: c,
        threshold,
    }
}

/// The threshold ("spam at or above") with the highest macro-F1 on these rows, and that macro-F1; ties keep the
/// higher threshold. It describes the rows it was found on: choose it on a validation split, apply it elsewhere.
pub fn best_macro_f1(scores: &[f32], labels: &[bool]) -> Option<(f32, f64)> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    let mut best: Option<(f32, f64)> = None;
    for (t, tp, fp) in counts_at_or_above(scores, labels) {
        let (fnn, tn) = (pos - tp, neg - fp);
        let spam = f1(ratio(tp, tp + fp), ratio(tp, pos));
        let ham = f1(ratio(tn, tn + fnn), ratio(tn, neg));
        let macro_f1 = (spam + ham) / 2.0;
        if best.is_none_or(|(_, b)| macro_f1 > b) {
            best = Some((t, macro_f1));
        }
    }
    best
}

/// Recommended thresholds: auto-reject = lowest score threshold whose "score >= t" set has spam precision
/// >= 0.99; auto-approve = highest threshold whose "score < t" set has ham precision >= 0.99.
pub fn thresholds(scores: &[f32], labels: &[bool]) -> Thresholds {
    // The lowest threshold whose "score >= t" set is precise enough.
    let reject: Option<f32> = counts_at_or_above(scores, labels)
        .into_iter()
        .filter(|&(_, tp, fp)| ratio(tp, tp + fp) >= TARGET_PRECISION)
        .map(|(t, _, _)| t)
        .next_back();
    let idx = by_score_desc(scores);
    // Walk upwards: the "score < t" set grows as t rises.
    let mut approve: Option<f32> = None;
    let (mut tn, mut fnn) = (0usize, 0usize);
    let mut i = idx.len();
    while i > 0 {
        let t = scores[idx[i - 1]];
        // Candidate threshold t: everything strictly below t is approved.
        if tn + fnn > 0 && ratio(tn, tn + fnn) >= TARGET_PRECISION {
            approve = Some(t);
        }
        while i > 0 && scores[idx[i - 1]] == t {
            if labels[idx[i - 1]] {
                fnn += 1;
            } else {
                tn += 1;
            }
            i -= 1;
        }
    }
    if tn + fnn > 0 && ratio(tn, tn + fnn) >= TARGET_PRECISION {
        approve = Some(1.0);
    }
    let auto_reject = reject.unwrap_or(1.0);
    let auto_approve = approve.unwrap_or(0.0).min(auto_reject);
    let mut note = format!(
        "measured on {} held-out comments: reject when score >= auto_reject (spam precision >= {TARGET_PRECISION}), \
         approve when score < auto_approve (ham precision >= {TARGET_PRECISION}), hold the rest for review",
        scores.len()
    );
    if reject.is_none() {
        note.push_str("; no threshold reached the spam precision target, so auto_reject is 1.0");
    }
    if approve.is_none() {
        note.push_str("; no threshold reached the ham precision target, so auto_approve is 0.0");
    }
    Thresholds {
        auto_reject,
        auto_approve,
        note,
    }
}

/// The plain-text report.
pub fn report_text(title: &str, m: &Metrics, t: &Thresholds, extra: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{title}");
    let _ = writeln!(s, "{}", "=".repeat(title.chars().count()));
    for line in extra {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(
        s,
        "\nheld-out comments: {} (spam {}, ham {})\n",
        m.n, m.spam, m.ham
    );
    let _ = writeln!(s, "class   precision  recall     f1");
    let _ = writeln!(
        s,
        "spam    {:.4}     {:.4}     {:.4}",
        m.precision_spam, m.recall_spam, m.f1_spam
    );
    let _ = writeln!(
        s,
        "ham     {:.4}     {:.4}     {:.4}",
        m.precision_ham, m.recall_ham, m.f1_ham
    );
    let _ = writeln!(
        s,
        "\nmacro-F1 {:.4}   accuracy {:.4}   MCC {:.4}",
        m.macro_f1, m.accuracy, m.mcc
    );
    let _ = writeln!(
        s,
        "ROC-AUC  {:.4}   PR-AUC (spam, average precision) {:.4}",
        m.roc_auc, m.pr_auc
    );
    let c = m.confusion;
    let _ = writeln!(
        s,
        "\nconfusion matrix at {:<5} predicted ham  predicted spam",
        m.threshold
    );
    let _ = writeln!(
        s,
        "actual ham                {:>13}  {:>14}",
        c[0][0], c[0][1]
    );
    let _ = writeln!(
        s,
        "actual spam               {:>13}  {:>14}",
        c[1][0], c[1][1]
    );
    let _ = writeln!(s, "\nrecommended thresholds");
    let _ = writeln!(s, "auto-reject  score >= {:.4}", t.auto_reject);
    let _ = writeln!(s, "auto-approve score <  {:.4}", t.auto_approve);
    let _ = writeln!(s, "({})", t.note);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_separation() {
        let s = [0.1, 0.2, 0.8, 0.9];
        let l = [false, false, true, true];
        let m = metrics(&s, &l);
        assert_eq!(m.confusion, [[2, 0], [0, 2]]);
        assert_eq!(m.f1_spam, 1.0);
        assert_eq!(m.mcc, 1.0);
        assert_eq!(m.roc_auc, 1.0);
        assert_eq!(m.pr_auc, 1.0);
        let t = thresholds(&s, &l);
        assert_eq!(t.auto_reject, 0.8);
        assert_eq!(t.auto_approve, 0.8);
    }

    #[test]
    fn known_values() {
        // Scores with one inversion: a ham at 0.7 above a spam at 0.6.
        let s = [0.1, 0.7, 0.6, 0.9];
        let l = [false, false, true, true];
        assert!((roc_auc(&s, &l) - 0.75).abs() < 1e-12);
        // PR: t=0.9 -> r .5 p 1; t=.7 -> r .5 p .5; t=.6 -> r 1 p 2/3.
        assert!((pr_auc(&s, &l) - (0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
        let m = metrics(&s, &l);
        assert_eq!(m.confusion, [[1, 1], [0, 2]]);
        assert!((m.precision_spam - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.mcc - (2.0 / (3.0f64 * 2.0 * 2.0 * 1.0).sqrt())).abs() < 1e-12);
        let t = thresholds(&s, &l);
        assert_eq!(t.auto_reject, 0.9);
        assert_eq!(t.auto_approve, 0.6);
        let ties = roc_auc(&[0.5, 0.5], &[false, true]);
        assert!((ties - 0.5).abs() < 1e-12);
    }

    #[test]
    fn metrics_at_a_threshold_and_the_best_macro_f1_threshold() {
        let s = [0.1, 0.3, 0.35, 0.4, 0.9];
        let l = [false, false, true, true, true];
        // At 0.5 two spam are missed; at 0.35 every row is right.
        assert_eq!(metrics(&s, &l).confusion, [[2, 0], [2, 1]]);
        let m = metrics_at(&s, &l, 0.35);
        assert_eq!(m.confusion, [[2, 0], [0, 3]]);
        assert_eq!(m.threshold, 0.35);
        assert_eq!(m.macro_f1, 1.0);
        assert_eq!(best_macro_f1(&s, &l), Some((0.35, 1.0)));
        assert_eq!(best_macro_f1(&[], &[]), None);
        let r = report_text("t", &m, &thresholds(&s, &l), &[]);
        assert!(r.contains("confusion matrix at 0.35"), "{r}");
    }

    #[test]
    fn report_mentions_everything() {
        let s = [0.1, 0.7, 0.6, 0.9];
        let l = [false, false, true, true];
        let r = report_text("t", &metrics(&s, &l), &thresholds(&s, &l), &["x".into()]);
        for k in [
            "macro-F1",
            "MCC",
            "ROC-AUC",
            "PR-AUC",
            "confusion",
            "auto-reject",
            "auto-approve",
        ] {
            assert!(r.contains(k), "{k}");
        }
    }
}
