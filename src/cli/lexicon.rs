//! `moderato lexicon eval`: how the shipped lexicon, the model, and both together separate spam from ham on a
//! labelled CSV (the project's Vietnamese development set by default), with the false-positive rate on hard cases.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::classifier::{CommentText, Model};
use crate::lexicon::{Lexicon, skeleton};

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

#[derive(Default)]
struct Counts {
    tp: u32,
    fp: u32,
    tn: u32,
    fn_: u32,
    hard_ham: u32,
    hard_fp: u32,
}

impl Counts {
    fn add(&mut self, predicted: bool, spam: bool, hard: bool) {
        match (predicted, spam) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
        if hard && !spam {
            self.hard_ham += 1;
            if predicted {
                self.hard_fp += 1;
            }
        }
    }

    fn print(&self, name: &str) {
        let div = |a: u32, b: u32| {
            if b == 0 {
                0.0
            } else {
                f64::from(a) / f64::from(b)
            }
        };
        let (p, r) = (
            div(self.tp, self.tp + self.fp),
            div(self.tp, self.tp + self.fn_),
        );
        let f1_spam = if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        };
        let (hp, hr) = (
            div(self.tn, self.tn + self.fn_),
            div(self.tn, self.tn + self.fp),
        );
        let f1_ham = if hp + hr == 0.0 {
            0.0
        } else {
            2.0 * hp * hr / (hp + hr)
        };
        println!(
            "{name:<16} macro-F1 {:.3}   spam precision {:.3}   spam recall {:.3}   hard-ham FP rate {:.3} ({}/{})",
            (f1_spam + f1_ham) / 2.0,
            p,
            r,
            div(self.hard_fp, self.hard_ham),
            self.hard_fp,
            self.hard_ham
        );
    }
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
    m.print("model alone");
    l.print("lexicon alone");
    both.print("model or lexicon");
    Ok(())
}
