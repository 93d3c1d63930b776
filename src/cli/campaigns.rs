//! `moderato combiner campaigns`: campaigns replayed through the submission pipeline on an in-process memory store.
//! Each spam row is posted as a campaign (eight copies from eight authors, varied as a campaign varies them,
//! `comment::perturb::campaign_copy`), and each ham row as a look-alike group (eight readers posting it with the
//! same small variations); the report says how many of the 4th to 8th copies of a campaign are not published and
//! how many comments of look-alike groups are, with campaign detection on and off.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::comment::perturb::{Fields, campaign_copy};
use crate::comment::{Comments, SubmitInput};
use crate::policy::document::Policy;
use crate::review::Status;
use crate::scoring::combiner::fit::load_rows;

#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// CSV in the `data/vi-dev` layout.
    #[arg(long, default_value = "data/vi-dev/comments.csv")]
    data: String,
    /// Only rows whose `split` column has this value.
    #[arg(long, default_value = "dev")]
    split: String,
    /// Model directory (with its `combiner.json`).
    #[arg(long, default_value = "models/default")]
    model: PathBuf,
    /// Copies per campaign and readers per look-alike group.
    #[arg(long, default_value_t = 8)]
    copies: usize,
    /// Hand-written look-alike groups (`group,kind,body`: each row one reader's comment), posted after the rows.
    #[arg(long, default_value = "data/vi-lookalike/groups.csv")]
    groups: PathBuf,
}

/// What one pass found.
#[derive(Debug, Default)]
struct Tally {
    /// Campaign copies 4 to `copies` posted, and of those not published.
    late: usize,
    late_caught: usize,
    /// Campaign copies 1 to 3, and of those not published.
    early: usize,
    early_caught: usize,
    /// Look-alike comments posted, and of those published.
    group: usize,
    group_published: usize,
    /// Hand-written look-alike comments posted, and of those published.
    real: usize,
    real_published: usize,
}

pub async fn run(a: CampaignArgs) -> anyhow::Result<()> {
    let scorer = Arc::new(
        crate::scoring::Scorer::load(&a.model)
            .with_context(|| format!("loading model {}", a.model.display()))?,
    );
    let rows = load_rows(&a.data, &a.split)?;
    let spam: Vec<Fields> = rows.iter().filter(|r| r.spam).map(fields).collect();
    let ham: Vec<Fields> = rows.iter().filter(|r| !r.spam).map(fields).collect();
    let groups = read_groups(&a.groups)?;
    println!(
        "{} spam rows posted as campaigns and {} ham rows as look-alike groups, {} copies each (split {:?} of {})",
        spam.len(),
        ham.len(),
        a.copies,
        a.split,
        a.data
    );
    println!(
        "{:<10} {:>22} {:>22} {:>24} {:>24}",
        "detection",
        "copies 4+ not published",
        "copies 1-3 not publ.",
        "ham copies published",
        "look-alikes published"
    );
    for on in [false, true] {
        let t = replay(&scorer, on, &spam, &ham, &groups, a.copies).await?;
        let pct = |n: usize, d: usize| 100.0 * n as f64 / d.max(1) as f64;
        println!(
            "{:<10} {:>9}/{:<5} {:>5.1}% {:>9}/{:<5} {:>5.1}% {:>10}/{:<5} {:>5.1}% {:>10}/{:<5} {:>5.1}%",
            if on { "on" } else { "off" },
            t.late_caught,
            t.late,
            pct(t.late_caught, t.late),
            t.early_caught,
            t.early,
            pct(t.early_caught, t.early),
            t.group_published,
            t.group,
            pct(t.group_published, t.group),
            t.real_published,
            t.real,
            pct(t.real_published, t.real),
        );
    }
    println!(
        "campaign: copy k of a spam row from author k; ham copies: copy k of a ham row from reader k (the same \
         text varied, a harsher case than readers writing alike); look-alikes: {} hand-written comments of {} groups \
         ({}), each from its own reader; every group on one site, one after another, at the shipped thresholds and \
         campaign settings",
        groups.iter().map(Vec::len).sum::<usize>(),
        groups.len(),
        a.groups.display()
    );
    Ok(())
}

fn fields(r: &crate::scoring::combiner::fit::Row) -> Fields {
    Fields {
        name: r.name.clone(),
        phone: r.phone.clone(),
        title: r.title.clone(),
        body: r.body.clone(),
    }
}

/// Posts every group through [`Comments::submit`] on a fresh memory store.
async fn replay(
    scorer: &Arc<crate::scoring::Scorer>,
    detect: bool,
    spam: &[Fields],
    ham: &[Fields],
    groups: &[Vec<String>],
    copies: usize,
) -> anyhow::Result<Tally> {
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let store: Arc<dyn crate::store::Store> =
        Arc::new(crate::store::memory::MemoryStore::new(clock.clone()));
    let rec = scorer.combiner().map(|c| c.file().thresholds.clone());
    let policy = Policy {
        approve_below: rec.as_ref().map_or(0.5, |r| r.approve_below as f32),
        reject_at: rec.as_ref().map_or(0.9, |r| r.reject_at as f32),
        captcha_required: false,
        detect_campaigns: detect,
        ..Policy::default()
    };
    let keys = crate::store::Keys::new("sim");
    let ids = crate::rate_limit::Identifiers::new(b"campaign replay key", 64);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let reviews =
        crate::review::service::ReviewService::new(store.clone(), Arc::new(|_: &str| {}), stop_rx);
    let comments = Comments {
        store: store.clone(),
        captchas: crate::captcha::Captchas::new(store.clone(), ids.clone(), keys.clone()),
        ids,
        keys,
        policies: crate::policy::Policies::new(
            store,
            clock.clone(),
            policy,
            scorer.clone(),
            PathBuf::from("models"),
        ),
        clock,
        seen_sites: Default::default(),
        registered: Default::default(),
        announcer: reviews.announcer(),
    };
    let mut t = Tally::default();
    let mut n = 0usize;
    let as_written: Vec<Vec<Fields>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|body| Fields {
                    body: body.clone(),
                    ..Fields::default()
                })
                .collect()
        })
        .collect();
    let copied = |rows: &[Fields]| -> Vec<Vec<Fields>> {
        rows.iter()
            .map(|f| (0..copies).map(|k| campaign_copy(f, k)).collect())
            .collect()
    };
    for (kind, rows) in [
        ("spam", copied(spam)),
        ("ham", copied(ham)),
        ("lookalike", as_written),
    ] {
        for (g, group) in rows.iter().enumerate() {
            for (k, c) in group.iter().enumerate() {
                n += 1;
                let out = comments
                    .submit(SubmitInput {
                        site: "sim".into(),
                        thread_id: format!("t{}", g % 7),
                        idempotency_key: format!("{kind}-{g}-{k}"),
                        // The portal's form requires a name and a title; rows without them get plain ones.
                        name: non_empty(&c.name, "Bạn đọc"),
                        phone: format!("09{:08}", n),
                        email: String::new(),
                        title: non_empty(&c.title, "Bình luận"),
                        body: c.body.clone(),
                        ip: format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
                        captcha: None,
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("submitting {kind} row {g} copy {k}: {e}"))?;
                let published = out.status == Status::Published;
                match (kind, k) {
                    ("spam", 0..=2) => {
                        t.early += 1;
                        t.early_caught += usize::from(!published);
                    }
                    ("spam", _) => {
                        t.late += 1;
                        t.late_caught += usize::from(!published);
                    }
                    ("lookalike", _) => {
                        t.real += 1;
                        t.real_published += usize::from(published);
                    }
                    _ => {
                        t.group += 1;
                        t.group_published += usize::from(published);
                    }
                }
            }
        }
    }
    Ok(t)
}

fn non_empty(s: &str, or: &str) -> String {
    if s.trim().is_empty() {
        or.to_string()
    } else {
        s.to_string()
    }
}

/// The look-alike groups of a `group,kind,body` CSV, in file order.
fn read_groups(path: &std::path::Path) -> anyhow::Result<Vec<Vec<String>>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for row in r.records() {
        let row = row.with_context(|| format!("reading {}", path.display()))?;
        let (Some(g), Some(body)) = (row.get(0), row.get(2)) else {
            anyhow::bail!("{}: each row needs group,kind,body", path.display());
        };
        match groups.last_mut() {
            Some((last, bodies)) if last == g => bodies.push(body.to_string()),
            _ => groups.push((g.to_string(), vec![body.to_string()])),
        }
    }
    Ok(groups.into_iter().map(|(_, b)| b).collect())
}
