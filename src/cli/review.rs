//! `moderato review` and `moderato labels`: the moderators' client, showing why each comment was held.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{ClientArgs, SiteArgs, authed, connect, status_error};
use crate::proto::moderation_service_client::ModerationServiceClient;
use crate::proto::{
    ClaimReviewsRequest, DecideReviewRequest, ExportLabelsRequest, Label, QueueStatsRequest,
    ReleaseClaimRequest, TakeOverClaimRequest, Verdict,
};

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Claim held comments under a lease and show them with their reasons.
    Claim(ClaimArgs),
    /// Approve or reject a claimed comment.
    Decide(DecideArgs),
    /// Give a claimed comment back to the queue.
    Release(ReleaseArgs),
    /// Take a held comment over from whoever holds its lease (recorded in the audit log as TAKEOVER).
    Takeover(TakeoverArgs),
    /// Queue depth, claims, oldest pending age, decisions in the last hour.
    Stats(SiteArgs),
}

#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Write the site's labels as CSV, one row per comment with its latest label:
    /// `comment_id,text,label,labelled_by,labelled_at`, labels `spam`, `ham`, `abusive`, `off_topic`. `moderato
    /// train --data csv:FILE` and `moderato bootstrap train` read it: spam is spam; ham and off_topic are ham;
    /// abusive rows are left out of spam training (abusive is not advertising, and not legitimate either).
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// How many comments.
    #[arg(long, default_value_t = 5)]
    max: u32,
    /// Lease length in seconds.
    #[arg(long, default_value_t = 300)]
    lease_seconds: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum VerdictArg {
    Approve,
    Reject,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LabelArg {
    Spam,
    Ham,
    Abusive,
    OffTopic,
}

/// A claimed comment: where it is and the lease that holds it.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// Comment id.
    #[arg(long)]
    comment: String,
    /// Lease token from `review claim`.
    #[arg(long)]
    lease: String,
}

#[derive(Debug, Args)]
pub struct TakeoverArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// Comment id.
    #[arg(long)]
    comment: String,
    /// Lease length in seconds.
    #[arg(long, default_value_t = 300)]
    lease_seconds: u32,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    note: String,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    held: ReleaseArgs,
    /// approve or reject.
    #[arg(long, value_enum)]
    verdict: VerdictArg,
    /// spam, ham, abusive or off-topic.
    #[arg(long, value_enum)]
    label: LabelArg,
    /// Note for the audit log.
    #[arg(long, default_value = "")]
    note: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run(c: ReviewCommand) -> anyhow::Result<()> {
    match c {
        ReviewCommand::Claim(a) => {
            let mut m = ModerationServiceClient::new(connect(&a.client).await?);
            let r = m
                .claim_reviews(authed(
                    &a.client,
                    ClaimReviewsRequest {
                        site: a.site.clone(),
                        max_items: a.max,
                        lease_seconds: a.lease_seconds,
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            if r.items.is_empty() {
                println!("nothing to review on {}", a.site);
            }
            for item in r.items {
                let Some(c) = item.comment else { continue };
                let author = c.author.unwrap_or_default();
                println!("comment {}  (thread {})", c.comment_id, c.thread_id);
                println!("  lease     {}", item.lease_token);
                println!(
                    "  author    {}{}",
                    author.name,
                    if author.phone.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", author.phone)
                    }
                );
                println!("  title     {}", c.title);
                println!("  body      {}", c.body.replace('\n', "\n            "));
                println!("  score     {:.3}  (model {})", c.score, c.model_version);
                for reason in c.reasons {
                    if reason.contribution != 0.0 {
                        println!("  why       {:+.2}  {}", reason.contribution, reason.detail);
                    } else {
                        println!("  why       {}  {}", reason.code, reason.detail);
                    }
                }
                println!();
            }
            Ok(())
        }
        ReviewCommand::Decide(DecideArgs {
            held: a,
            verdict,
            label,
            note,
        }) => {
            let mut m = ModerationServiceClient::new(connect(&a.client).await?);
            let r = m
                .decide_review(authed(
                    &a.client,
                    DecideReviewRequest {
                        site: a.site,
                        comment_id: a.comment.clone(),
                        lease_token: a.lease,
                        verdict: match verdict {
                            VerdictArg::Approve => Verdict::Approve,
                            VerdictArg::Reject => Verdict::Reject,
                        } as i32,
                        label: match label {
                            LabelArg::Spam => Label::Spam,
                            LabelArg::Ham => Label::Ham,
                            LabelArg::Abusive => Label::Abusive,
                            LabelArg::OffTopic => Label::OffTopic,
                        } as i32,
                        note,
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            let e = r.event.unwrap_or_default();
            println!(
                "comment {} is now {} (cursor {})",
                a.comment,
                crate::proto::CommentStatus::try_from(e.status)
                    .map(|s| s.as_str_name())
                    .unwrap_or("?"),
                e.cursor
            );
            Ok(())
        }
        ReviewCommand::Release(a) => {
            let mut m = ModerationServiceClient::new(connect(&a.client).await?);
            m.release_claim(authed(
                &a.client,
                ReleaseClaimRequest {
                    site: a.site,
                    comment_id: a.comment.clone(),
                    lease_token: a.lease,
                },
            )?)
            .await
            .map_err(status_error)?;
            println!("comment {} is back in the queue", a.comment);
            Ok(())
        }
        ReviewCommand::Takeover(a) => {
            let mut m = ModerationServiceClient::new(connect(&a.client).await?);
            let r = m
                .take_over_claim(authed(
                    &a.client,
                    TakeOverClaimRequest {
                        site: a.site,
                        comment_id: a.comment.clone(),
                        lease_seconds: a.lease_seconds,
                        note: a.note,
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            let item = r.item.unwrap_or_default();
            let from = if r.previous_holder.is_empty() {
                "nobody".to_string()
            } else {
                r.previous_holder
            };
            println!(
                "comment {} is yours (taken from {from}); lease {} until {}",
                a.comment,
                item.lease_token,
                item.lease_expires_at
                    .map(|t| crate::clock::rfc3339(&t))
                    .unwrap_or_default()
            );
            Ok(())
        }
        ReviewCommand::Stats(a) => print_stats(&a.client, &a.site).await,
    }
}

/// Prints a site's queue figures.
pub async fn print_stats(client: &ClientArgs, site: &str) -> anyhow::Result<()> {
    let mut m = ModerationServiceClient::new(connect(client).await?);
    let s = m
        .queue_stats(authed(client, QueueStatsRequest { site: site.into() })?)
        .await
        .map_err(status_error)?
        .into_inner();
    println!("site                  {site}");
    println!("waiting for review    {}", s.depth);
    println!("claimed               {}", s.claimed);
    println!("oldest pending        {} s", s.oldest_pending_age_seconds);
    println!("decisions, last hour  {}", s.decisions_last_hour);
    let hours: Vec<String> = s.decisions_by_hour.iter().map(u64::to_string).collect();
    println!(
        "decisions by hour     {} (the last 24 h, oldest first)",
        hours.join(" ")
    );
    Ok(())
}

pub async fn labels(c: LabelsCommand) -> anyhow::Result<()> {
    let LabelsCommand::Export(a) = c;
    let mut m = ModerationServiceClient::new(connect(&a.client).await?);
    let mut stream = m
        .export_labels(authed(&a.client, ExportLabelsRequest { site: a.site })?)
        .await
        .map_err(status_error)?
        .into_inner();
    let out: Box<dyn std::io::Write> = match &a.out {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record(super::bootstrap::LABEL_CSV_HEADER)?;
    let mut n = 0usize;
    while let Some(rec) = stream.message().await.map_err(status_error)? {
        if let Some(row) = super::bootstrap::label_csv_record(&rec) {
            w.write_record(&row)?;
            n += 1;
        }
    }
    w.flush()?;
    if a.out.is_some() {
        eprintln!("{n} labelled comments written");
    }
    Ok(())
}
