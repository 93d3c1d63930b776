//! `moderato policy`, `moderato model` and `moderato stats`: the ops client.

use clap::{Args, Subcommand};

use super::{ClientArgs, authed, connect, status_error};
use crate::proto::admin_service_client::AdminServiceClient;
use crate::proto::{
    ActivateModelRequest, GetPolicyRequest, ListAuditEntriesRequest, ListModelsRequest,
    OutcomeCounts, Policy, RollbackModelRequest, SimulatePolicyRequest, UpdatePolicyRequest,
};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show a site's policy (or the global default with --site "").
    Get(SiteArg),
    /// Change a site's policy: reads it, applies the flags, writes it back fenced by its version.
    Set(PolicyChange),
    /// Replay recent submissions under the changed policy and show before/after.
    Simulate(PolicyChange),
    /// Dry-run comments from a CSV (columns name, title, body; optional id, phone) through a site's live policy
    /// and model, storing nothing; prints one JSON line per row.
    Classify(ClassifyArgs),
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// CSV file with a header row.
    #[arg(long)]
    data: std::path::PathBuf,
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

/// `moderato stats`: one site's queue.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id (required: queues are per site).
    #[arg(long)]
    site: String,
}

/// `moderato audit`: the audit log.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id: its own entries and the global entries about it; omit (or `*`) for the global log.
    #[arg(long, default_value = "")]
    site: String,
    /// Only entries by this token name.
    #[arg(long, default_value = "")]
    actor: String,
    /// Only entries about this comment.
    #[arg(long, default_value = "")]
    comment: String,
    /// Only entries at or after this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Only entries before this instant (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Stop after this many entries (0: all).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// Show the documents before and after each policy or model change in full.
    #[arg(long)]
    full: bool,
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
    /// Remove a blocked term (repeatable).
    #[arg(long = "remove-blocked")]
    remove_blocked: Vec<String>,
    /// Remove a suspect term (repeatable).
    #[arg(long = "remove-suspect")]
    remove_suspect: Vec<String>,
    /// Set a rate limit, replacing the one of that descriptor (repeatable):
    /// DESCRIPTOR=REQUESTS/PERIOD_SECONDS[,burst=N][,shadow], e.g. client_ip=5/60,burst=2.
    #[arg(long = "limit", value_parser = parse_limit)]
    limits: Vec<crate::proto::RateLimit>,
    /// Remove the rate limit of a descriptor (client_ip, author, thread, site; repeatable).
    #[arg(long = "remove-limit", value_parser = parse_descriptor)]
    remove_limits: Vec<i32>,
    /// Maximum name length, characters.
    #[arg(long)]
    name_max: Option<u32>,
    /// Maximum title length, characters.
    #[arg(long)]
    title_max: Option<u32>,
    /// Maximum body length, characters.
    #[arg(long)]
    body_max: Option<u32>,
    /// Apply the shipped Vietnamese spam lexicon (true/false).
    #[arg(long)]
    lexicon: Option<bool>,
    /// Under premoderation or bootstrap, still reject what the score or the lexicon rejects (true/false).
    #[arg(long)]
    premoderation_auto_reject: Option<bool>,
    /// Keep comments this many days.
    #[arg(long)]
    retention_days: Option<u32>,
    /// Remember idempotency keys this many seconds.
    #[arg(long)]
    idempotency_ttl_seconds: Option<u32>,
    /// Pin a model version ("" unpins).
    #[arg(long)]
    model_version: Option<String>,
    /// Bootstrap mode: hold everything until this many moderator labels exist (0 turns it off).
    #[arg(long)]
    bootstrap_labels: Option<u32>,
    /// Add a domain whose links are ordinary on the site (repeatable; subdomains included).
    #[arg(long = "add-allowed-domain")]
    add_allowed_domain: Vec<String>,
    /// Remove an allowed domain (repeatable).
    #[arg(long = "remove-allowed-domain")]
    remove_allowed_domain: Vec<String>,
    /// Add a domain whose links reject outright (repeatable; subdomains included).
    #[arg(long = "add-denied-domain")]
    add_denied_domain: Vec<String>,
    /// Remove a denied domain (repeatable).
    #[arg(long = "remove-denied-domain")]
    remove_denied_domain: Vec<String>,
    /// Author trust: authors with this many published comments and no recent rejection are trusted (0: off).
    #[arg(long)]
    trusted_after_approvals: Option<u32>,
    /// The days without a rejected comment that author trust needs.
    #[arg(long)]
    trust_clean_days: Option<u32>,
    /// With author trust on, hold what would be published from authors not yet trusted (true/false).
    #[arg(long)]
    premoderate_new_authors: Option<bool>,
    /// Campaign detection: hold near-copies posted by many authors (true/false; on by default).
    #[arg(long)]
    detect_campaigns: Option<bool>,
    /// The distinct authors whose near-copies make a campaign (2-50).
    #[arg(long)]
    campaign_authors: Option<u32>,
    /// How far back near-copies count, hours (1-168).
    #[arg(long)]
    campaign_window_hours: Option<u32>,
    /// A site field to follow the global default again (repeatable; `policy get` lists the site's own fields).
    #[arg(long = "clear")]
    clear: Vec<String>,
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
        p.blocked_terms.retain(|t| !self.remove_blocked.contains(t));
        p.suspect_terms.retain(|t| !self.remove_suspect.contains(t));
        p.rate_limits.retain(|r| {
            !self.remove_limits.contains(&r.descriptor)
                && !self.limits.iter().any(|l| l.descriptor == r.descriptor)
        });
        p.rate_limits.extend(self.limits.iter().cloned());
        let f = p.field_limits.get_or_insert_with(Default::default);
        if let Some(x) = self.name_max {
            f.name_max = x;
        }
        if let Some(x) = self.title_max {
            f.title_max = x;
        }
        if let Some(x) = self.body_max {
            f.body_max = x;
        }
        if let Some(x) = self.lexicon {
            p.disable_lexicon = !x;
        }
        if let Some(x) = self.premoderation_auto_reject {
            p.premoderation_auto_reject = x;
        }
        if let Some(x) = self.retention_days {
            p.retention_days = x;
        }
        if let Some(x) = self.idempotency_ttl_seconds {
            p.idempotency_ttl_seconds = x;
        }
        if let Some(v) = &self.model_version {
            p.model_version = v.clone();
        }
        if let Some(n) = self.bootstrap_labels {
            p.bootstrap_labels = n;
        }
        p.allowed_domains
            .extend(self.add_allowed_domain.iter().cloned());
        p.allowed_domains
            .retain(|d| !self.remove_allowed_domain.contains(d));
        p.denied_domains
            .extend(self.add_denied_domain.iter().cloned());
        p.denied_domains
            .retain(|d| !self.remove_denied_domain.contains(d));
        if let Some(n) = self.trusted_after_approvals {
            p.trusted_after_approvals = n;
        }
        if let Some(n) = self.trust_clean_days {
            p.trust_clean_days = n;
        }
        if let Some(x) = self.premoderate_new_authors {
            p.premoderate_new_authors = x;
        }
        if let Some(x) = self.detect_campaigns {
            p.disable_campaigns = !x;
        }
        if let Some(n) = self.campaign_authors {
            p.campaign_authors = n;
        }
        if let Some(n) = self.campaign_window_hours {
            p.campaign_window_hours = n;
        }
        p
    }
}

/// What `policy get` and `policy set` show: every field, and for a site, whether it is the site's own.
pub struct Shown {
    policy: Policy,
    inherited: bool,
    overridden: Vec<String>,
    global_version: u64,
}

fn print_policy(site: &str, p: &Shown) {
    let global = site.is_empty();
    let name = if global { "global default" } else { site };
    if global {
        println!("policy of {name} (version {})", p.policy.version);
    } else {
        println!(
            "policy of {name} (version {}{}; global default version {})",
            p.policy.version,
            if p.inherited {
                ", inherits every field"
            } else {
                ""
            },
            p.global_version
        );
    }
    let src = |field: &str| {
        if global {
            ""
        } else if p.overridden.iter().any(|f| f == field) {
            "  [site]"
        } else {
            "  [global]"
        }
    };
    let q = &p.policy;
    println!(
        "  approve_below              {:.3}{}",
        q.approve_below,
        src("approve_below")
    );
    println!(
        "  reject_at                  {:.3}{}",
        q.reject_at,
        src("reject_at")
    );
    println!(
        "  premoderate_all            {}{}",
        q.premoderate_all,
        src("premoderate_all")
    );
    println!(
        "  premoderation_auto_reject  {}{}",
        q.premoderation_auto_reject,
        src("premoderation_auto_reject")
    );
    println!(
        "  bootstrap_labels           {}{}",
        q.bootstrap_labels,
        src("bootstrap_labels")
    );
    println!(
        "  allowed_domains            {:?}{}",
        q.allowed_domains,
        src("allowed_domains")
    );
    println!(
        "  denied_domains             {:?}{}",
        q.denied_domains,
        src("denied_domains")
    );
    println!(
        "  trusted_after_approvals    {}{}",
        q.trusted_after_approvals,
        src("trusted_after_approvals")
    );
    println!(
        "  trust_clean_days           {}{}",
        q.trust_clean_days,
        src("trust_clean_days")
    );
    println!(
        "  premoderate_new_authors    {}{}",
        q.premoderate_new_authors,
        src("premoderate_new_authors")
    );
    println!(
        "  detect_campaigns           {}{}",
        !q.disable_campaigns,
        src("detect_campaigns")
    );
    println!(
        "  campaign_authors           {}{}",
        q.campaign_authors,
        src("campaign_authors")
    );
    println!(
        "  campaign_window_hours      {}{}",
        q.campaign_window_hours,
        src("campaign_window_hours")
    );
    println!(
        "  captcha_required           {}{}",
        q.captcha.as_ref().map(|c| c.required).unwrap_or_default(),
        src("captcha_required")
    );
    if let Some(c) = &q.captcha {
        println!(
            "  captcha (server-wide)      {} characters, difficulty {}, ttl {} s, {} live per client",
            c.length, c.difficulty, c.ttl_seconds, c.max_live_per_client
        );
    }
    if q.rate_limits.is_empty() {
        println!(
            "  rate_limits                none: submissions are not limited{}",
            src("rate_limits")
        );
    }
    for r in &q.rate_limits {
        println!(
            "  rate_limits                {} {} per {} s, burst {}{}{}",
            crate::proto::LimitDescriptor::try_from(r.descriptor)
                .map(|d| d.as_str_name())
                .unwrap_or("?"),
            r.requests,
            r.period_seconds,
            r.burst,
            if r.shadow { " (shadow)" } else { "" },
            src("rate_limits")
        );
    }
    println!(
        "  blocked_terms              {}{}",
        q.blocked_terms.join(", "),
        src("blocked_terms")
    );
    println!(
        "  suspect_terms              {}{}",
        q.suspect_terms.join(", "),
        src("suspect_terms")
    );
    if let Some(f) = &q.field_limits {
        println!(
            "  field_limits               name {}, title {}, body {}{}",
            f.name_max,
            f.title_max,
            f.body_max,
            src("field_limits")
        );
    }
    println!(
        "  retention_days             {}{}",
        q.retention_days,
        src("retention_days")
    );
    println!(
        "  idempotency_ttl_seconds    {}{}",
        q.idempotency_ttl_seconds,
        src("idempotency_ttl_seconds")
    );
    println!(
        "  lexicon                    {}{}",
        if q.disable_lexicon { "off" } else { "on" },
        src("use_lexicon")
    );
    println!(
        "  model_version              {}{}",
        if q.model_version.is_empty() {
            "(active model)"
        } else {
            &q.model_version
        },
        src("model_version")
    );
}

/// Parses `DESCRIPTOR=REQUESTS/PERIOD_SECONDS[,burst=N][,shadow]`.
fn parse_limit(s: &str) -> Result<crate::proto::RateLimit, String> {
    let usage = "expected DESCRIPTOR=REQUESTS/PERIOD_SECONDS[,burst=N][,shadow], e.g. client_ip=5/60,burst=2";
    let (d, rest) = s.split_once('=').ok_or(usage)?;
    let descriptor = parse_descriptor(d)?;
    let mut parts = rest.split(',');
    let (req, period) = parts.next().and_then(|r| r.split_once('/')).ok_or(usage)?;
    let requests = req.trim().parse().map_err(|_| usage.to_string())?;
    let period_seconds = period.trim().parse().map_err(|_| usage.to_string())?;
    let (mut burst, mut shadow) = (0, false);
    for p in parts {
        match p.trim().split_once('=') {
            Some(("burst", n)) => burst = n.trim().parse().map_err(|_| usage.to_string())?,
            None if p.trim() == "shadow" => shadow = true,
            _ => return Err(usage.to_string()),
        }
    }
    Ok(crate::proto::RateLimit {
        descriptor,
        requests,
        period_seconds,
        burst,
        shadow,
    })
}

/// Parses a limit descriptor name (`client_ip`, `author`, `thread`, `site`).
fn parse_descriptor(s: &str) -> Result<i32, String> {
    use crate::proto::LimitDescriptor as D;
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "client_ip" => D::ClientIp,
        "author" => D::Author,
        "thread" => D::Thread,
        "site" => D::Site,
        other => {
            return Err(format!(
                "{other:?} is not a limit descriptor; use client_ip, author, thread or site"
            ));
        }
    } as i32)
}

async fn current(c: &ClientArgs, site: &str) -> anyhow::Result<Shown> {
    let r = AdminServiceClient::new(connect(c).await?)
        .get_policy(authed(c, GetPolicyRequest { site: site.into() })?)
        .await
        .map_err(status_error)?
        .into_inner();
    Ok(Shown {
        policy: r.policy.unwrap_or_default(),
        inherited: r.inherited,
        overridden: r.overridden_fields,
        global_version: r.global_version,
    })
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

/// `policy classify`: every row through AdminService.Classify, one JSON line each.
async fn classify_csv(a: ClassifyArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut rd =
        csv::Reader::from_path(&a.data).with_context(|| format!("reading {}", a.data.display()))?;
    let headers = rd.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(title), Some(body)) = (col("title"), col("body")) else {
        anyhow::bail!("{} needs the columns title and body", a.data.display());
    };
    let (id, name, phone) = (col("id"), col("name"), col("phone"));
    let mut client = AdminServiceClient::new(connect(&a.client).await?);
    for (i, row) in rd.records().enumerate() {
        let row = row?;
        let get = |c: Option<usize>| c.and_then(|c| row.get(c)).unwrap_or("").to_string();
        let r = client
            .classify(authed(
                &a.client,
                crate::proto::ClassifyRequest {
                    site: a.site.clone(),
                    author: Some(crate::proto::Author {
                        name: get(name),
                        phone: get(phone),
                        email: String::new(),
                    }),
                    title: get(Some(title)),
                    body: get(Some(body)),
                },
            )?)
            .await
            .map_err(status_error)?
            .into_inner();
        let reasons: Vec<serde_json::Value> = r
            .reasons
            .iter()
            .map(|x| serde_json::json!({"code": x.code, "detail": x.detail, "contribution": x.contribution}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "row": i + 1,
                "id": get(id),
                "status": crate::proto::CommentStatus::try_from(r.status).map(|s| s.as_str_name()).unwrap_or("?"),
                "score": r.score,
                "model_version": r.model_version,
                "policy_version": r.policy_version,
                "reasons": reasons,
            })
        );
    }
    Ok(())
}

pub async fn policy(c: PolicyCommand) -> anyhow::Result<()> {
    match c {
        PolicyCommand::Classify(a) => classify_csv(a).await,
        PolicyCommand::Get(a) => {
            print_policy(&a.site, &current(&a.client, &a.site).await?);
            Ok(())
        }
        PolicyCommand::Set(a) => {
            let shown = current(&a.client, &a.site).await?;
            let expected = shown.policy.version;
            let next = a.apply(shown.policy);
            let r = AdminServiceClient::new(connect(&a.client).await?)
                .update_policy(authed(
                    &a.client,
                    UpdatePolicyRequest {
                        site: a.site.clone(),
                        policy: Some(next),
                        expected_version: expected,
                        clear_overrides: a.clear.clone(),
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_policy(
                &a.site,
                &Shown {
                    inherited: r.overridden_fields.is_empty(),
                    policy: r.policy.unwrap_or_default(),
                    overridden: r.overridden_fields,
                    global_version: shown.global_version,
                },
            );
            Ok(())
        }
        PolicyCommand::Simulate(a) => {
            let cand = a.apply(current(&a.client, &a.site).await?.policy);
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
pub async fn stats(a: StatsArgs) -> anyhow::Result<()> {
    super::review::print_stats(&a.client, &a.site).await?;
    println!("(per-site outcome, score and rate-limit figures are on /metrics)");
    Ok(())
}

/// The outcome of an activation or a rollback.
fn print_active(active: &str, previous: &str) {
    println!("active model: {active} (was {previous})");
}

fn parse_instant(flag: &str, v: Option<&str>) -> anyhow::Result<Option<pbjson_types::Timestamp>> {
    v.map(|s| {
        crate::clock::parse_rfc3339(s)
            .map_err(|e| anyhow::anyhow!("--{flag} {s:?} is not an RFC 3339 instant: {e}"))
    })
    .transpose()
}

/// Shortens a document for one line of output.
fn short(s: &str, full: bool) -> String {
    const MAX: usize = 80;
    if full || s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

/// Prints audit entries, oldest first, following the pages.
pub async fn audit(a: AuditArgs) -> anyhow::Result<()> {
    let since = parse_instant("since", a.since.as_deref())?;
    let until = parse_instant("until", a.until.as_deref())?;
    let mut admin = AdminServiceClient::new(connect(&a.client).await?);
    let mut token = String::new();
    let mut shown = 0usize;
    loop {
        let r = admin
            .list_audit_entries(authed(
                &a.client,
                ListAuditEntriesRequest {
                    site: a.site.clone(),
                    actor: a.actor.clone(),
                    comment_id: a.comment.clone(),
                    since,
                    until,
                    page_size: 500,
                    page_token: token,
                },
            )?)
            .await
            .map_err(status_error)?
            .into_inner();
        for e in r.entries {
            if a.limit > 0 && shown >= a.limit {
                eprintln!("(stopped after {shown} entries; --limit 0 shows all)");
                return Ok(());
            }
            let at = e.at.map(|t| crate::clock::rfc3339(&t)).unwrap_or_default();
            let mut line = format!("{at}  {:<14} {:<16} site={}", e.action, e.actor, e.site);
            if !e.comment_id.is_empty() {
                line.push_str(&format!(" comment={}", e.comment_id));
            }
            if !e.label.is_empty() {
                line.push_str(&format!(" label={}", e.label));
            }
            if !e.before.is_empty() || !e.after.is_empty() {
                line.push_str(&format!(
                    " before={} after={}",
                    short(&e.before, a.full),
                    short(&e.after, a.full)
                ));
            }
            if !e.detail.is_empty() {
                line.push_str(&format!(" ({})", e.detail));
            }
            if !e.note.is_empty() {
                line.push_str(&format!(" note={:?}", e.note));
            }
            println!("{line}");
            shown += 1;
        }
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    if shown == 0 {
        eprintln!("no audit entries match");
    }
    Ok(())
}
