//! `moderato combiner fit|eval`: fit the combiner of a model directory on labelled rows (the development split of
//! `data/vi-dev` by default), and report model alone, lexicon alone and the combined score on held-out rows.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::classifier::Model;
use crate::cli::classifier::today;
use crate::comment::classify_form;
use crate::policy::document::Policy;
use crate::review::Status;
use crate::scoring::combiner::fit::{
    Counts, FitOptions, Row, brier, file_sha256, fit, load_rows, observe_row,
};
use crate::scoring::combiner::{FILE_NAME, FittedOn};

#[derive(Debug, Subcommand)]
pub enum CombinerCommand {
    /// Fit the combiner on labelled rows and write `combiner.json` (deterministic for the same inputs and date).
    Fit(FitArgs),
    /// Model alone, lexicon alone and the combined score on labelled rows.
    Eval(EvalArgs),
    /// The perturbation suite: per transformation (a Vietnamese title, diacritics stripped or added, zero-width
    /// characters, spacing, look-alike letters, a ham sentence appended, the pitch quoted), how many spam rows it
    /// moves from rejected or held to published.
    Perturb(PerturbArgs),
    /// Campaigns replayed through the submission pipeline on an in-process memory store: each spam row posted by
    /// eight authors with a campaign's variations, each ham row by eight readers as a look-alike group; how many
    /// later copies are not published and how many look-alikes are, with campaign detection on and off.
    Campaigns(super::campaigns::CampaignArgs),
}

#[derive(Debug, Args)]
pub struct PerturbArgs {
    /// CSV in the `data/vi-dev` layout (its spam rows are perturbed).
    #[arg(long, default_value = "data/vi-dev/comments.csv")]
    data: String,
    /// Only rows whose `split` column has this value.
    #[arg(long, default_value = "dev")]
    split: String,
    /// Model directory (with its `combiner.json`).
    #[arg(long, default_value = "models/default")]
    model: PathBuf,
    /// List the rows each transformation moves to published.
    #[arg(long)]
    show_rows: bool,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// CSV in the `data/vi-dev` layout, or `csv:FILE` (research-use sets are refused: evaluate only).
    #[arg(long, default_value = "data/vi-dev/comments.csv")]
    data: String,
    /// Only rows whose `split` column has this value.
    #[arg(long, default_value = "dev")]
    split: String,
    /// Model directory whose score the combiner takes (its `combiner.json` is ignored while fitting).
    #[arg(long, default_value = "models/default")]
    model: PathBuf,
    /// Output file (default: `<model>/combiner.json`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Date recorded as the fit date (default: today, UTC).
    #[arg(long)]
    date: Option<String>,
    /// Also write the fitting rows' out-of-fold predictions and signal values to this CSV.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Also fit on the rows the base model held out of its training (its card's sources, seed and test
    /// fraction, reproduced): the model has never seen them, so they teach the combiner how far to trust its
    /// score on the kinds of spam it was trained for (English comment and SMS spam).
    #[arg(long)]
    with_model_holdout: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// CSV in the `data/vi-dev` layout, or `kind:path` (e.g. `vispam:.../test.csv`, `victsd:.../ViCTSD_test.csv`).
    #[arg(long, default_value = "data/vi-dev/comments.csv")]
    data: String,
    /// Only rows whose `split` column has this value (vi-dev layout only; empty: all rows).
    #[arg(long, default_value = "test")]
    split: String,
    /// Model directory (with its `combiner.json`).
    #[arg(long, default_value = "models/default")]
    model: PathBuf,
    /// Reject at or above this combined probability (default: the combiner's recommendation).
    #[arg(long)]
    reject_at: Option<f32>,
    /// Publish below this combined probability (default: the combiner's recommendation).
    #[arg(long)]
    approve_below: Option<f32>,
    /// List the auto-rejected ham and the published spam (id, combined probability, rule reasons).
    #[arg(long)]
    show_errors: bool,
}

pub fn run(c: CombinerCommand) -> anyhow::Result<()> {
    match c {
        CombinerCommand::Fit(a) => run_fit(a),
        CombinerCommand::Eval(a) => run_eval(a),
        CombinerCommand::Perturb(a) => run_perturb(a),
        CombinerCommand::Campaigns(_) => {
            anyhow::bail!("combiner campaigns runs in the async dispatcher")
        }
    }
}

fn run_fit(a: FitArgs) -> anyhow::Result<()> {
    if ["vispam:", "vihsd:", "victsd:"]
        .iter()
        .any(|k| a.data.starts_with(k))
    {
        bail!(
            "{} is research-use only: evaluate on it, never fit on it",
            a.data
        );
    }
    let model =
        Model::load(&a.model).with_context(|| format!("loading model {}", a.model.display()))?;
    let mut rows = load_rows(&a.data, &a.split)?;
    let mut data = a.data.clone();
    if a.with_model_holdout {
        let extra = model_holdout_rows(&model)?;
        data = format!(
            "{data} + {} rows the base model held out of its training ({})",
            extra.len(),
            model.card().training.evaluation
        );
        rows.extend(extra);
    }
    let spam = rows.iter().filter(|r| r.spam).count();
    let path = a.data.strip_prefix("csv:").unwrap_or(&a.data);
    let fitted_on = FittedOn {
        data,
        data_sha256: file_sha256(path),
        split: a.split.clone(),
        rows: rows.len(),
        spam,
        ham: rows.len() - spam,
    };
    let opts = FitOptions {
        folds: a.folds,
        ..FitOptions::default()
    };
    let (file, oof) = fit(
        &model,
        &rows,
        fitted_on,
        a.date.unwrap_or_else(today),
        &opts,
    )?;
    if let Some(d) = &a.dump {
        let mut w = csv::Writer::from_path(d)?;
        let mut head = vec!["id".to_string(), "spam".into(), "hard".into(), "oof".into()];
        head.extend(crate::scoring::combiner::signal_names().iter().cloned());
        w.write_record(&head)?;
        for (r, p) in rows.iter().zip(&oof) {
            let o = observe_row(&model, r);
            let mut rec = vec![
                r.id.clone(),
                u8::from(r.spam).to_string(),
                u8::from(r.hard).to_string(),
                format!("{p:.4}"),
            ];
            rec.extend(o.values.iter().map(|v| format!("{v:.3}")));
            w.write_record(&rec)?;
        }
        w.flush()?;
    }
    let out = a.out.unwrap_or_else(|| a.model.join(FILE_NAME));
    let mut json = serde_json::to_string_pretty(&file)?;
    json.push('\n');
    std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
    // Reload through the serving path so a bad artifact fails here, not at startup.
    if out == a.model.join(FILE_NAME) {
        Model::load(&a.model).with_context(|| format!("reloading {}", a.model.display()))?;
    }
    let cv = &file.cv;
    println!(
        "fitted on {} rows ({} spam, {} ham) of {} split {:?} for model {}",
        rows.len(),
        spam,
        rows.len() - spam,
        a.data,
        a.split,
        file.base_model_version
    );
    for (alpha, loss) in &cv.alpha_grid {
        let mark = if *alpha == file.alpha {
            "  <- chosen"
        } else {
            ""
        };
        println!(
            "  alpha {alpha:<6} {}-fold CV log-loss {loss:.4}{mark}",
            cv.folds
        );
    }
    println!(
        "out-of-fold: log-loss {:.4}, Brier {:.4}, macro-F1 at 0.5 {:.3}",
        cv.log_loss, cv.brier, cv.macro_f1_at_half
    );
    println!("reliability (bin: rows, mean predicted, observed spam share):");
    for b in &cv.reliability {
        println!(
            "  [{:.1}, {:.1}): {:>4}  {:.3}  {:.3}",
            b.lower, b.upper, b.rows, b.mean_predicted, b.observed_spam
        );
    }
    println!(
        "recommended thresholds: approve_below {:.4} (out-of-fold ham precision {:.3}), reject_at {:.4} \
         (out-of-fold spam precision {:.3}, recall {:.3})",
        file.thresholds.approve_below,
        cv.ham_precision_at_approve,
        file.thresholds.reject_at,
        cv.spam_precision_at_reject,
        cv.spam_recall_at_reject
    );
    println!("intercept {:+.3}; weights:", file.intercept);
    let mut w: Vec<_> = file.weights.iter().collect();
    w.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
    for s in w {
        println!(
            "  {:<28} {:+.3}  ({} rows)",
            s.name, s.weight, s.rows_with_signal
        );
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// The rows `model` held out of its training, reproduced from its card: same sources, de-duplication, seed and
/// test fraction as `moderato train`.
fn model_holdout_rows(model: &Model) -> anyhow::Result<Vec<Row>> {
    use crate::classifier::data;
    let t = &model.card().training;
    if t.test_rows == 0 || !t.evaluation.starts_with("stratified") {
        bail!(
            "model {} has no held-out split of its training data ({})",
            model.version(),
            t.evaluation
        );
    }
    let mut all = Vec::new();
    for d in &t.data {
        let spec: data::DataSpec = format!("{}:{}", d.kind, d.path)
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        all.extend(data::load(&spec).with_context(|| format!("loading {spec}"))?);
    }
    let rows = data::dedup(all);
    let labels: Vec<bool> = rows.iter().map(|e| e.spam).collect();
    let (_, test) = data::stratified_split(&labels, t.test_fraction, t.seed);
    if test.len() != t.test_rows {
        bail!(
            "reproduced {} held-out rows, the model card says {}: the training data changed",
            test.len(),
            t.test_rows
        );
    }
    Ok(test
        .into_iter()
        .map(|i| {
            let e = &rows[i];
            Row {
                id: format!("holdout-{i}"),
                name: e.name.clone(),
                phone: e.phone.clone(),
                title: e.title.clone(),
                body: e.body.clone(),
                spam: e.spam,
                hard: false,
                abusive: false,
            }
        })
        .collect())
}

fn run_perturb(a: PerturbArgs) -> anyhow::Result<()> {
    use crate::comment::perturb::{Fields, run};
    let scorer = crate::scoring::Scorer::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let c = scorer
        .combiner()
        .with_context(|| format!("{} has no {FILE_NAME}", a.model.display()))?;
    let rec = &c.file().thresholds;
    let policy = Policy {
        approve_below: rec.approve_below as f32,
        reject_at: rec.reject_at as f32,
        ..Policy::default()
    };
    let rows: Vec<Row> = load_rows(&a.data, &a.split)?
        .into_iter()
        .filter(|r| r.spam)
        .collect();
    let spam: Vec<Fields> = rows
        .iter()
        .map(|r| Fields {
            name: r.name.clone(),
            phone: r.phone.clone(),
            title: r.title.clone(),
            body: r.body.clone(),
        })
        .collect();
    let outcomes = run(&policy, &scorer, &spam);
    println!(
        "{} spam rows of {} (split {:?}); policy approve_below {:.4} / reject_at {:.4}",
        spam.len(),
        a.data,
        a.split,
        policy.approve_below,
        policy.reject_at
    );
    println!(
        "{:<18} {:>4}  {:>6}  {:>9}  {:>8}  what",
        "transformation", "kind", "caught", "published", "softened"
    );
    for o in &outcomes {
        println!(
            "{:<18} {:>4}  {:>6}  {:>9}  {:>8}  {}",
            o.transform.name,
            o.transform.kind,
            o.caught,
            o.crossed.len(),
            o.softened,
            o.transform.what
        );
        if a.show_rows {
            for &i in &o.crossed {
                println!("    {}", rows[i].id);
            }
        }
    }
    println!(
        "caught: not published as written; published: of those, published after the transformation; softened: \
         moved from rejected to held"
    );
    Ok(())
}

fn line(name: &str, c: &Counts) {
    println!(
        "{name:<34} macro-F1 {:.3}  spam precision {:.3}  spam recall {:.3}  hard-ham FP rate {:.3} ({}/{})  \
         ham FP rate {:.4} ({}/{})",
        c.macro_f1(),
        c.spam_precision(),
        c.spam_recall(),
        c.hard_fp_rate(),
        c.hard_fp,
        c.hard_ham,
        c.ham_fp_rate(),
        c.fp,
        c.fp + c.tn
    );
}

fn run_eval(a: EvalArgs) -> anyhow::Result<()> {
    let scorer = crate::scoring::Scorer::load(&a.model)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let model = scorer.model();
    let c = scorer.combiner().with_context(|| {
        format!(
            "{} has no {FILE_NAME}; run `moderato combiner fit` first",
            a.model.display()
        )
    })?;
    let rec = &c.file().thresholds;
    let policy = Policy {
        approve_below: a.approve_below.unwrap_or(rec.approve_below as f32),
        reject_at: a.reject_at.unwrap_or(rec.reject_at as f32),
        ..Policy::default()
    };
    let rows: Vec<Row> = load_rows(&a.data, &a.split)?;
    let (mut m, mut l, mut half) = (Counts::default(), Counts::default(), Counts::default());
    let (mut rejected, mut flagged) = (Counts::default(), Counts::default());
    let mut held = [0u32; 2];
    // Abuse: (abusive rows, of them held, of them rejected); (other ham rows, of them with an ABUSE reason).
    let (mut abusive, mut abusive_held, mut abusive_rejected) = (0u32, 0u32, 0u32);
    let (mut other_ham, mut abuse_fp) = (0u32, 0u32);
    let mut abuse_fp_ids = Vec::new();
    // ABUSE reasons by label (for a toxicity set read as `victsd:`, "spam" is toxic).
    let mut abuse_by_label = [0u32; 2];
    let (mut p_model, mut p_comb, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for r in &rows {
        let o = observe_row(model, r);
        let (score, status, reasons) = classify_form(
            &policy,
            &scorer,
            u64::MAX,
            &r.name,
            &r.phone,
            &r.title,
            &r.body,
        );
        let wrong = matches!(
            (status, r.spam),
            (Status::Rejected, false) | (Status::Published, true)
        );
        if a.show_errors && wrong {
            let rules: Vec<String> = reasons
                .iter()
                .filter(|x| x.code != "MODEL_FEATURE" && x.contribution != 0.0)
                .map(|x| format!("{} {:+.2}", x.code, x.contribution))
                .collect();
            println!(
                "{} {} {} p={score:.3}: {}",
                r.id,
                if r.spam { "spam" } else { "ham" },
                status.as_str(),
                rules.join(", ")
            );
        }
        let abuse = reasons.iter().any(|x| x.code == crate::lexicon::ABUSE);
        abuse_by_label[usize::from(r.spam)] += u32::from(abuse);
        if r.abusive {
            abusive += 1;
            abusive_held += u32::from(status == Status::PendingReview);
            abusive_rejected += u32::from(status == Status::Rejected);
        } else if !r.spam {
            other_ham += 1;
            if abuse {
                abuse_fp += 1;
                abuse_fp_ids.push(r.id.clone());
            }
        }
        m.add(o.model_score >= 0.5, r.spam, r.hard);
        l.add(o.lexicon_hit, r.spam, r.hard);
        half.add(score >= 0.5, r.spam, r.hard);
        rejected.add(status == Status::Rejected, r.spam, r.hard);
        flagged.add(status != Status::Published, r.spam, r.hard);
        if status == Status::PendingReview {
            held[usize::from(r.spam)] += 1;
        }
        p_model.push(f64::from(o.model_score));
        p_comb.push(f64::from(score));
        y.push(r.spam);
    }
    let spam = y.iter().filter(|&&s| s).count();
    println!(
        "{} rows of {} (split {:?}): {} spam, {} ham ({} hard ham); model {}, combiner fitted {} on {} split {:?}",
        rows.len(),
        a.data,
        a.split,
        spam,
        rows.len() - spam,
        m.hard_ham,
        model.version(),
        c.file().fitted,
        c.file().fitted_on.data,
        c.file().fitted_on.split
    );
    line("(a) model alone, score >= 0.5", &m);
    line("(b) lexicon alone, any category", &l);
    line("(c) combined, probability >= 0.5", &half);
    println!(
        "(c) at the thresholds approve_below {:.4} / reject_at {:.4}:",
        policy.approve_below, policy.reject_at
    );
    line("    auto-reject (rejected = spam)", &rejected);
    line("    not published (held or rejected)", &flagged);
    println!(
        "    auto-rejected {} ({} spam, {} ham): precision at the auto-reject threshold {:.3}",
        rejected.tp + rejected.fp,
        rejected.tp,
        rejected.fp,
        rejected.spam_precision()
    );
    println!(
        "    held for review {} ({} spam, {} ham); published {} ({} spam, {} ham): ham precision of \
         publishing {:.3}",
        held[0] + held[1],
        held[1],
        held[0],
        flagged.tn + flagged.fn_,
        flagged.fn_,
        flagged.tn,
        flagged.ham_precision()
    );
    println!(
        "abuse: {abusive} abusive rows, {abusive_held} held, {abusive_rejected} rejected; {abuse_fp} of {other_ham} \
         other legitimate rows carry an ABUSE reason{}",
        if a.show_errors && !abuse_fp_ids.is_empty() {
            format!(" ({})", abuse_fp_ids.join(", "))
        } else {
            String::new()
        }
    );
    println!(
        "ABUSE reason on {} of {spam} positive rows and {} of {} negative rows",
        abuse_by_label[1],
        abuse_by_label[0],
        rows.len() - spam
    );
    println!(
        "Brier score: model alone {:.4}, combined {:.4}",
        brier(&p_model, &y),
        brier(&p_comb, &y)
    );
    Ok(())
}
