//! `moderato lexicon eval`: how the shipped lexicon, the model, and both together separate spam from ham on a
//! labelled CSV (the project's Vietnamese development set by default), with the false-positive rate on hard cases.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::classifier::{CommentText, Model};
use crate::lexicon::Lexicon;
use crate::scoring::combiner::fit::Counts;
use crate::text::skeleton::skeleton;

#[derive(Debug, Subcommand)]
pub enum LexiconCommand {
    /// Evaluate model alone, lexicon alone and both on a labelled CSV.
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// CSV with `name,title,body,label` columns (label spam/ham), optionally `split` and `hard`.
    #[arg(long, default_value = "data/vi-dev/comments.csv")]
    data: PathBuf,
    /// Only rows whose `split` column has this value (empty: all rows).
    #[arg(long, default_value = "test")]
    split: String,
    /// Model directory.
    #[arg(long, default_value = "models/default")]
    model: PathBuf,
    /// Score at or above which the model alone calls a comment spam.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
}

/// One line of the report for `c`.
fn print(name: &str, c: &Counts) {
    println!(
        "{name:<16} macro-F1 {:.3}   spam precision {:.3}   spam recall {:.3}   hard-ham FP rate {:.3} ({}/{})",
        c.macro_f1(),
        c.spam_precision(),
        c.spam_recall(),
        c.hard_fp_rate(),
        c.hard_fp,
        c.hard_ham
    );
}

pub fn run(c: LexiconCommand) -> anyhow::Result<()> {
    let LexiconCommand::Eval(a) = c;
    let model = Model::load(&a.model)?;
    let lexicon = Lexicon::shipped();
    let mut rdr = csv::Reader::from_path(&a.data)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", a.data.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let body = col("body").ok_or_else(|| anyhow::anyhow!("no body column"))?;
    let label = col("label").ok_or_else(|| anyhow::anyhow!("no label column"))?;
    let (name, title, split, hard) = (col("name"), col("title"), col("split"), col("hard"));
    let (mut m, mut l, mut both, mut n) =
        (Counts::default(), Counts::default(), Counts::default(), 0);
    for rec in rdr.records() {
        let rec = rec?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or_default();
        if !a.split.is_empty() && get(split) != a.split {
            continue;
        }
        let spam = get(Some(label)) == "spam";
        let is_hard = get(hard) == "1";
        let (nm, tt, bd) = (get(name), get(title), get(Some(body)));
        let score = model
            .score(
                &CommentText {
                    name: nm,
                    phone: "",
                    title: tt,
                    body: bd,
                },
                0,
            )
            .score;
        let by_model = score >= a.threshold;
        let by_lexicon = !lexicon
            .hits(&skeleton(&format!("{nm}\n{tt}\n{bd}")))
            .is_empty();
        m.add(by_model, spam, is_hard);
        l.add(by_lexicon, spam, is_hard);
        both.add(by_model || by_lexicon, spam, is_hard);
        n += 1;
    }
    println!(
        "{} rows of {} (split {:?}), model {} at threshold {}",
        n,
        a.data.display(),
        a.split,
        model.version(),
        a.threshold
    );
    print("model alone", &m);
    print("lexicon alone", &l);
    print("model or lexicon", &both);
    Ok(())
}
