//! `moderato policy`, `moderato model` and `moderato stats`: the ops client.

use clap::{Args, Subcommand};

use super::{ClientArgs, authed, connect, status_error};
use crate::proto::admin_service_client::AdminServiceClient;
use crate::proto::{
    ActivateModelRequest, GetPolicyRequest, ListModelsRequest, OutcomeCounts, Policy,
    RollbackModelRequest, SimulatePolicyRequest, UpdatePolicyRequest,
};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show a site's policy (or the global default with --site "").
    Get(SiteArg),
    /// Change a site's policy: reads it, applies the flags, writes it back fenced by its version.
    Set(PolicyChange),
    /// Replay recent submissions under the changed policy and show before/after.
    Simulate(PolicyChange),
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Models the server can load, their metrics and where each is active.
    List(ClientOnly),
    /// Activate a model version globally or for one site.
    Activate {
        #[command(flatten)]
        client: ClientArgs,
        /// Version from `model list`.
        #[arg(long)]
        version: String,
        /// Site id; omit for the global default.
        #[arg(long, default_value = "")]
        site: String,
    },
    /// Reactivate the previous model.
    Rollback(SiteArg),
}

#[derive(Debug, Args)]
pub struct ClientOnly {
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct SiteArg {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id; empty for the global default.
    #[arg(long, default_value = "")]
    site: String,
}

#[derive(Debug, Args)]
pub struct PolicyChange {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id; empty for the global default.
    #[arg(long, default_value = "")]
    site: String,
    /// New approve_below threshold.
    #[arg(long)]
    approve_below: Option<f64>,
    /// New reject_at threshold.
    #[arg(long)]
    reject_at: Option<f64>,
    /// Hold every comment for review.
    #[arg(long)]
    premoderate_all: Option<bool>,
    /// Require a captcha.
    #[arg(long)]
    captcha_required: Option<bool>,
    /// Add a blocked term (repeatable).
    #[arg(long = "add-blocked")]
    add_blocked: Vec<String>,
    /// Add a suspect term (repeatable).
    #[arg(long = "add-suspect")]
    add_suspect: Vec<String>,
    /// Pin a model version ("" unpins).
    #[arg(long)]
    model_version: Option<String>,
    /// Bootstrap mode: hold everything until this many moderator labels exist (0 turns it off).
    #[arg(long)]
    bootstrap_labels: Option<u32>,
    /// Simulation window in hours.
    #[arg(long, default_value_t = 168)]
    window_hours: u32,
}

impl PolicyChange {
    fn apply(&self, mut p: Policy) -> Policy {
        if let Some(x) = self.approve_below {
            p.approve_below = x;
        }
        if let Some(x) = self.reject_at {
            p.reject_at = x;
        }
        if let Some(x) = self.premoderate_all {
            p.premoderate_all = x;
        }
        if let Some(x) = self.captcha_required {
            p.captcha.get_or_insert_with(Default::default).required = x;
        }
        p.blocked_terms.extend(self.add_blocked.iter().cloned());
        p.suspect_terms.extend(self.add_suspect.iter().cloned());
        if let Some(v) = &self.model_version {
            p.model_version = v.clone();
        }
        if let Some(n) = self.bootstrap_labels {
            p.bootstrap_labels = n;
        }
        p
    }
}

fn print_policy(site: &str, p: &Policy, inherited: bool) {
    let name = if site.is_empty() {
        "global default"
    } else {
        site
    };
    println!(
        "policy of {name} (version {}{})",
        p.version,
        if inherited { ", inherited" } else { "" }
    );
    println!("  approve_below     {:.3}", p.approve_below);
    println!("  reject_at         {:.3}", p.reject_at);
    println!("  premoderate_all   {}", p.premoderate_all);
    println!(
        "  captcha required  {}",
        p.captcha.as_ref().map(|c| c.required).unwrap_or_default()
    );
    for r in &p.rate_limits {
        println!(
            "  rate limit        {} {} per {} s, burst {}{}",
            crate::proto::LimitDescriptor::try_from(r.descriptor)
                .map(|d| d.as_str_name())
                .unwrap_or("?"),
            r.requests,
            r.period_seconds,
            r.burst,
            if r.shadow { " (shadow)" } else { "" }
        );
    }
    println!("  blocked terms     {}", p.blocked_terms.join(", "));
    println!("  suspect terms     {}", p.suspect_terms.join(", "));
    if let Some(f) = &p.field_limits {
        println!(
            "  max lengths       name {}, title {}, body {}",
            f.name_max, f.title_max, f.body_max
        );
    }
    println!(
        "  model             {}",
        if p.model_version.is_empty() {
            "(active model)"
        } else {
            &p.model_version
        }
    );
}

async fn current(c: &ClientArgs, site: &str) -> anyhow::Result<(Policy, bool)> {
    let r = AdminServiceClient::new(connect(c).await?)
        .get_policy(authed(c, GetPolicyRequest { site: site.into() })?)
        .await
        .map_err(status_error)?
        .into_inner();
    Ok((r.policy.unwrap_or_default(), r.inherited))
}

fn row(name: &str, a: u64, b: u64) {
    println!("  {name:<28} {a:>9} {b:>11} {:>+9}", b as i64 - a as i64);
}

fn table(cur: &OutcomeCounts, cand: &OutcomeCounts) {
    println!(
        "  {:<28} {:>9} {:>11} {:>9}",
        "", "current", "candidate", "change"
    );
    row("published", cur.published, cand.published);
    row("held for review", cur.pending_review, cand.pending_review);
    row("rejected", cur.rejected, cand.rejected);
    row(
        "labelled spam published",
        cur.labelled_spam_published,
        cand.labelled_spam_published,
    );
    row(
        "labelled ham rejected",
        cur.labelled_ham_rejected,
        cand.labelled_ham_rejected,
    );
}

pub async fn policy(c: PolicyCommand) -> anyhow::Result<()> {
    match c {
        PolicyCommand::Get(a) => {
            let (p, inherited) = current(&a.client, &a.site).await?;
            print_policy(&a.site, &p, inherited);
            Ok(())
        }
        PolicyCommand::Set(a) => {
            let (p, inherited) = current(&a.client, &a.site).await?;
            let expected = if inherited { 0 } else { p.version };
            let next = a.apply(p);
            let stored = AdminServiceClient::new(connect(&a.client).await?)
                .update_policy(authed(
                    &a.client,
                    UpdatePolicyRequest {
                        site: a.site.clone(),
                        policy: Some(next),
                        expected_version: expected,
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner()
                .policy
                .unwrap_or_default();
            print_policy(&a.site, &stored, false);
            Ok(())
        }
        PolicyCommand::Simulate(a) => {
            let (p, _) = current(&a.client, &a.site).await?;
            let cand = a.apply(p);
            let r = AdminServiceClient::new(connect(&a.client).await?)
                .simulate_policy(authed(
                    &a.client,
                    SimulatePolicyRequest {
                        site: a.site.clone(),
                        candidate: Some(cand),
                        window_seconds: a.window_hours.saturating_mul(3600),
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            println!(
                "replayed {} submissions of the last {} h ({} with a moderator label)",
                r.submissions, a.window_hours, r.labelled
            );
            table(
                &r.current.unwrap_or_default(),
                &r.candidate.unwrap_or_default(),
            );
            println!("  review queue volume change: {:+}", r.review_queue_delta);
            Ok(())
        }
    }
}

pub async fn model(c: ModelCommand) -> anyhow::Result<()> {
    match c {
        ModelCommand::List(a) => {
            let r = AdminServiceClient::new(connect(&a.client).await?)
                .list_models(authed(&a.client, ListModelsRequest {})?)
                .await
                .map_err(status_error)?
                .into_inner();
            for m in r.models {
                let f1 = m.metrics.get("macro_f1").copied().unwrap_or(f64::NAN);
                println!(
                    "{:<36} macro-F1 {:.3}  reject_at {:.3}  approve_below {:.3}  active: {}",
                    m.version,
                    f1,
                    m.recommended_reject_at,
                    m.recommended_approve_below,
                    if m.active_for.is_empty() {
                        "-".to_string()
                    } else {
                        m.active_for.join(", ")
                    }
                );
            }
            Ok(())
        }
        ModelCommand::Activate {
            client,
            version,
            site,
        } => {
            let r = AdminServiceClient::new(connect(&client).await?)
                .activate_model(authed(&client, ActivateModelRequest { site, version })?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_active(&r.active_version, &r.previous_version);
            Ok(())
        }
        ModelCommand::Rollback(a) => {
            let r = AdminServiceClient::new(connect(&a.client).await?)
                .rollback_model(authed(&a.client, RollbackModelRequest { site: a.site })?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_active(&r.active_version, &r.previous_version);
            Ok(())
        }
    }
}

/// `moderato stats --site S`: the queue figures of `moderato review stats`, for ops.
pub async fn stats(a: SiteArg) -> anyhow::Result<()> {
    super::review::print_stats(&a.client, &a.site).await?;
    println!("(per-site outcome, score and rate-limit figures are on /metrics)");
    Ok(())
}

/// The outcome of an activation or a rollback.
fn print_active(active: &str, previous: &str) {
    println!("active model: {active} (was {previous})");
}
