//! `moderato bootstrap`: a new site's way from premoderating everything to a model of its own. `status` asks the
//! server how many moderator labels exist; `train` trains a site model from the exported labels (plus, optionally,
//! the shipped base data), evaluates it against the current model on a held-back slice of the site's labels, and
//! prints the command that activates it.

use crate::scoring::Scorer;
use std::path::PathBuf;

use crate::review::Label;
use clap::{Args, Parser, Subcommand};

use super::{ClientArgs, authed, connect, status_error};
use crate::classifier::Model;
use crate::cli::classifier::TrainArgs;
use crate::proto::GetBootstrapStatusRequest;
use crate::proto::admin_service_client::AdminServiceClient;

#[derive(Debug, Subcommand)]
pub enum BootstrapCommand {
    /// Labels collected, labels required, and what to run next.
    Status {
        #[command(flatten)]
        client: ClientArgs,
        /// Site id.
        #[arg(long)]
        site: String,
    },
    /// Train a site model from exported labels and compare it with the current model.
    Train(TrainSite),
}

/// Training a site model.
#[derive(Debug, Clone, Args)]
pub struct TrainSite {
    /// Site id (recorded in the model's description).
    #[arg(long)]
    pub site: String,
    /// Labels CSV from `moderato labels export`.
    #[arg(long)]
    pub labels: PathBuf,
    /// Output directory of the new model (it must sit next to the server's models to be activated).
    #[arg(long)]
    pub out: PathBuf,
    /// Base training data added to the site's labels, `kind:path` (repeatable), e.g.
    /// `youtube:data/youtube-spam` and `sms:data/sms-spam`.
    #[arg(long = "base")]
    pub base: Vec<String>,
    /// Fraction of the site's labels held back to compare the models.
    #[arg(long, default_value_t = 0.25)]
    pub holdout: f64,
    /// The model currently serving the site.
    #[arg(long, default_value = "models/default")]
    pub current: PathBuf,
    /// Split seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Labelled rows in the `data/vi-dev` layout whose `dev` split fits the new model's combiner (rows the site
    /// model has not been trained on), so that the site keeps the fitted lexicon and rule signals.
    #[arg(long, default_value = "data/vi-dev/comments.csv")]
    pub combiner_data: String,
    /// Do not fit a combiner: the site model then decides on its own score, with the lexicon as hard rules.
    #[arg(long)]
    pub no_combiner: bool,
}

/// The outcome of [`train_site_model`].
#[derive(Debug, Clone)]
pub struct Trained {
    /// Version of the new model.
    pub version: String,
    /// Its macro-F1 on the held-back labels.
    pub new_macro_f1: f64,
    /// The current model's macro-F1 on the same rows.
    pub current_macro_f1: f64,
    /// Held-back rows.
    pub held_back: usize,
}

#[derive(Parser)]
struct TrainWrapper {
    #[command(flatten)]
    args: TrainArgs,
}

/// The columns of `moderato labels export`: one row per labelled comment, its latest label.
pub const LABEL_CSV_HEADER: [&str; 5] =
    ["comment_id", "text", "label", "labelled_by", "labelled_at"];

/// One exported label as a CSV row in [`LABEL_CSV_HEADER`] order; `None` for a label this client does not know.
pub fn label_csv_record(rec: &crate::proto::LabelRecord) -> Option<[String; 5]> {
    use crate::proto::Label as L;
    let label = match L::try_from(rec.label).ok()? {
        L::Spam => Label::Spam,
        L::Ham => Label::Ham,
        L::Abusive => Label::Abusive,
        L::OffTopic => Label::OffTopic,
        L::Unspecified => return None,
    };
    Some([
        rec.comment_id.clone(),
        rec.text.clone(),
        label.as_str().to_string(),
        rec.labelled_by.clone(),
        rec.labelled_at
            .map(|t| crate::clock::rfc3339(&t))
            .unwrap_or_default(),
    ])
}

/// Reads a label CSV (the `text` and `label` columns, by header) as (text, is spam) rows for the spam model.
/// Labels map explicitly ([`Label::spam_class`]): `spam` is spam; `ham` and `off_topic` are ham; `abusive` rows
/// are left out. Any other label is an error naming its row.
pub fn read_label_csv(path: &std::path::Path) -> anyhow::Result<Vec<(String, bool)>> {
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{FEFF}').trim() == name)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no {name:?} column (expected the header {})",
                    path.display(),
                    LABEL_CSV_HEADER.join(",")
                )
            })
    };
    let (t, l) = (col("text")?, col("label")?);
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let (Some(text), Some(label)) = (rec.get(t), rec.get(l)) else {
            anyhow::bail!("{}: row {} has too few fields", path.display(), i + 2);
        };
        let label = Label::parse(label.trim()).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: row {}: unknown label {label:?} (spam, ham, abusive or off_topic)",
                path.display(),
                i + 2
            )
        })?;
        if let Some(spam) = label.spam_class() {
            rows.push((text.to_string(), spam));
        }
    }
    Ok(rows)
}

/// Trains, evaluates and writes a site model (blocking).
pub fn train_site_model(a: &TrainSite) -> anyhow::Result<Trained> {
    let rows = read_label_csv(&a.labels)?;
    let labels: Vec<bool> = rows.iter().map(|r| r.1).collect();
    anyhow::ensure!(
        labels.iter().any(|l| *l) && labels.iter().any(|l| !*l),
        "the labels need both spam and ham to train a site model"
    );
    let (train_idx, test_idx) =
        crate::classifier::data::stratified_split(&labels, a.holdout, a.seed);
    anyhow::ensure!(!test_idx.is_empty(), "too few labels to hold any back");
    let dir = tempfile::tempdir()?;
    let write = |name: &str, idx: &[usize]| -> anyhow::Result<PathBuf> {
        let p = dir.path().join(name);
        let mut w = csv::Writer::from_path(&p)?;
        w.write_record(["text", "label"])?;
        for &i in idx {
            w.write_record([rows[i].0.as_str(), if rows[i].1 { "spam" } else { "ham" }])?;
        }
        w.flush()?;
        Ok(p)
    };
    let train_csv = write("train.csv", &train_idx)?;
    let held_csv = write("held-back.csv", &test_idx)?;
    let mut argv: Vec<String> = vec!["train".into()];
    for b in &a.base {
        argv.extend(["--data".into(), b.clone()]);
    }
    argv.extend([
        "--data".into(),
        format!("csv:{}", train_csv.display()),
        "--eval-data".into(),
        format!("csv:{}", held_csv.display()),
        "--out".into(),
        a.out.display().to_string(),
        "--description".into(),
        format!("site model for {}", a.site),
        "--quiet".into(),
    ]);
    let parsed = TrainWrapper::try_parse_from(&argv)?;
    crate::cli::classifier::train(parsed.args)?;
    if !a.no_combiner {
        fit_site_combiner(a)?;
    }
    let new = Scorer::load(&a.out)?;
    let current = Scorer::load(&a.current)?;
    // Both models are compared on the score they would serve: with their combiner when they have one.
    let held_labels: Vec<bool> = test_idx.iter().map(|&i| rows[i].1).collect();
    let macro_f1 = |m: &Scorer| {
        let scores: Vec<f32> = test_idx
            .iter()
            .map(|&i| served_score(m, &rows[i].0))
            .collect();
        crate::classifier::eval::metrics(&scores, &held_labels).macro_f1
    };
    let (new_macro_f1, current_macro_f1) = (macro_f1(&new), macro_f1(&current));
    Ok(Trained {
        version: new.version().to_string(),
        new_macro_f1,
        current_macro_f1,
        held_back: test_idx.len(),
    })
}

/// The score a comment with body `text` gets from `model` under the default policy, as SubmitComment computes it.
fn served_score(model: &Scorer, text: &str) -> f32 {
    let p = crate::policy::document::Policy::default();
    crate::comment::classify_form(&p, model, u64::MAX, "", "", "", text).0
}

/// Fits and writes the combiner of the freshly trained site model in `a.out`.
fn fit_site_combiner(a: &TrainSite) -> anyhow::Result<()> {
    use crate::scoring::combiner::fit::{FitOptions, file_sha256, fit, load_rows};
    let model = Model::load(&a.out)?;
    let rows = load_rows(&a.combiner_data, "dev").map_err(|e| {
        anyhow::anyhow!(
            "{e} (the combiner's data; pass --combiner-data, or --no-combiner to go without)"
        )
    })?;
    let spam = rows.iter().filter(|r| r.spam).count();
    let on = crate::scoring::combiner::FittedOn {
        data: a.combiner_data.clone(),
        data_sha256: file_sha256(&a.combiner_data),
        split: "dev".into(),
        rows: rows.len(),
        spam,
        ham: rows.len() - spam,
    };
    let (file, _) = fit(
        &model,
        &rows,
        on,
        crate::cli::classifier::today(),
        &FitOptions::default(),
    )?;
    let mut json = serde_json::to_string_pretty(&file)?;
    json.push('\n');
    std::fs::write(a.out.join(crate::scoring::combiner::FILE_NAME), json)?;
    Ok(())
}

pub async fn run(c: BootstrapCommand) -> anyhow::Result<()> {
    match c {
        BootstrapCommand::Status { client, site } => {
            let r = AdminServiceClient::new(connect(&client).await?)
                .get_bootstrap_status(authed(
                    &client,
                    GetBootstrapStatusRequest { site: site.clone() },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            println!(
                "{site}: {} of {} labels{}",
                r.labels,
                r.required,
                if r.ready {
                    ", ready to train a site model"
                } else {
                    ""
                }
            );
            for s in r.next_steps {
                println!("  {s}");
            }
            Ok(())
        }
        BootstrapCommand::Train(a) => {
            let site = a.site.clone();
            let t = tokio::task::spawn_blocking(move || train_site_model(&a)).await??;
            println!(
                "site model {} trained; on {} held-back labels of {site}: macro-F1 {:.3} (current model {:.3})",
                t.version, t.held_back, t.new_macro_f1, t.current_macro_f1
            );
            println!(
                "activate it with: moderato model activate --site {site} --version {}",
                t.version
            );
            Ok(())
        }
    }
}
