//! The ops pages: queue health per site and the audit log. Moderators are refused (403, in words).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::i18n::T;
use super::{
    Deps, Fields, Flash, Nav, redirect, render, review_error, signed_in_ops, signed_in_ops_form,
    store_error,
};
use crate::audit::service::{AuditError, AuditQuery};
use crate::policy::PolicyError;
use crate::review::HOURS_CHARTED;

pub(super) fn routes() -> Router<Deps> {
    Router::new()
        .route("/console/ops", get(page))
        .route("/console/ops/activate", post(activate))
        .route("/console/ops/rollback", post(rollback))
}

/// One model artifact as shown.
struct ModelRow {
    version: String,
    metrics: String,
    active_for: String,
    active_here: bool,
    problem: String,
}

/// One audit entry as shown.
struct AuditRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    note: String,
}

#[derive(Template)]
#[template(path = "console/ops.html")]
struct OpsPage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    site: String,
    stats: Option<crate::review::QueueStats>,
    oldest_s: u64,
    audit: Vec<AuditRow>,
    flash: Option<Flash>,
    csrf: String,
    models: Vec<ModelRow>,
    boot_labels: u64,
    boot_required: u32,
    boot_ready: bool,
    /// Moderator decisions per hour over the last day, as SVG.
    chart: String,
}

/// The card metrics people weigh a model by, in words, in this order; the card's other figures (per-class
/// counts, the confusion matrix) stay in the card.
const METRICS_SHOWN: &[&str] = &["macro_f1", "precision_spam", "recall_spam", "roc_auc", "n"];

fn metric_words(t: T, metrics: &std::collections::BTreeMap<String, f64>) -> String {
    METRICS_SHOWN
        .iter()
        .filter_map(|k| {
            let v = metrics.get(*k)?;
            let shown = if v.fract() == 0.0 {
                super::display_number(*v)
            } else {
                format!("{v:.3}")
            };
            Some(format!("{} {shown}", t.s(&format!("ops.metric.{k}"))))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Moderator decisions per hour over the last [`HOURS_CHARTED`] hours as a small SVG bar chart, oldest hour on
/// the left; its title and description say the same in words for screen readers.
pub fn decisions_svg(t: T, by_hour: &[u64; HOURS_CHARTED]) -> String {
    use std::fmt::Write as _;
    const W: f32 = 480.0;
    const H: f32 = 140.0;
    const L: f32 = 32.0;
    const B: f32 = 22.0;
    const TOP: f32 = 10.0;
    let max = by_hour.iter().copied().max().unwrap_or(0).max(1);
    let step = (W - L - 4.0) / HOURS_CHARTED as f32;
    let ph = H - TOP - B;
    let total: u64 = by_hour.iter().sum();
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="hours-title hours-desc" font-size="11" font-family="sans-serif"><title id="hours-title">{}</title><desc id="hours-desc">{} {total}; {} {}</desc>"##,
        t.s("ops.chart_title"),
        t.s("ops.chart_total"),
        t.s("ops.chart_by_hour"),
        by_hour
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = write!(
        s,
        r##"<line x1="{L}" x2="{W}" y1="{y}" y2="{y}" stroke="#4a5260"/><text x="{}" y="{}" text-anchor="end" fill="#1b1f24">{max}</text><text x="{}" y="{y}" text-anchor="end" fill="#1b1f24">0</text>"##,
        L - 4.0,
        TOP + 8.0,
        L - 4.0,
        y = TOP + ph
    );
    for (k, n) in by_hour.iter().enumerate() {
        let h = ph * *n as f32 / max as f32;
        let _ = write!(
            s,
            r##"<rect class="hour" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#0b4f9c"><title>{n}</title></rect>"##,
            L + 2.0 + k as f32 * step,
            TOP + ph - h,
            step - 2.0,
        );
    }
    let _ = write!(
        s,
        r##"<text x="{L}" y="{}" fill="#1b1f24">{}</text><text x="{W}" y="{}" text-anchor="end" fill="#1b1f24">{}</text></svg>"##,
        H - 6.0,
        t.s("ops.chart_day_ago"),
        H - 6.0,
        t.s("ops.chart_now")
    );
    s
}

#[derive(Deserialize)]
struct OpsQuery {
    #[serde(default)]
    site: String,
}

async fn page(State(deps): State<Deps>, headers: HeaderMap, Query(q): Query<OpsQuery>) -> Response {
    let mut ctx = match signed_in_ops(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let site = ctx.site_or_current(&q.site);
    let flash = ctx.take_flash();
    if flash.is_some()
        && let Err(r) = ctx.save(&deps).await
    {
        return r;
    }
    let mut models = Vec::new();
    let (mut boot_labels, mut boot_required, mut boot_ready) = (0, 0, false);
    let mut stats = None;
    let mut chart = String::new();
    let mut audit = Vec::new();
    if !site.is_empty() {
        match deps.reviews.stats(&site).await {
            Ok(s) => {
                chart = decisions_svg(t, &s.decisions_by_hour);
                stats = Some(s);
            }
            Err(e) => return review_error(t, &e),
        }
        match deps.policies.bootstrap_status(&site).await {
            Ok(b) => (boot_labels, boot_required, boot_ready) = (b.labels, b.required, b.ready),
            Err(e) => return super::domain_error(t, e),
        }
        match deps.policies.models().await {
            Ok(list) => {
                models = list
                    .into_iter()
                    .map(|m| ModelRow {
                        active_here: m.active_for.contains(&site),
                        active_for: m
                            .active_for
                            .iter()
                            .map(|s| {
                                if s == "*" {
                                    t.s("ops.model_global")
                                } else {
                                    s.as_str()
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                        metrics: metric_words(t, &m.metrics),
                        problem: m.problem.unwrap_or_default(),
                        version: m.version,
                    })
                    .collect()
            }
            Err(e) => return super::domain_error(t, e),
        }
        // The newest entries, read page by page from the start (the log is bounded per site).
        let mut query = AuditQuery {
            site: site.clone(),
            page_size: 200,
            ..AuditQuery::default()
        };
        let mut entries = Vec::new();
        loop {
            match deps.audit.list(&query).await {
                Ok(p) => {
                    entries.extend(p.entries);
                    if p.next_page_token.is_empty() || entries.len() >= 5_000 {
                        break;
                    }
                    query.page_token = p.next_page_token;
                }
                Err(AuditError::Store(e)) => return store_error(t, &e.to_string()),
                Err(AuditError::Invalid(e)) => {
                    return review_error(t, &crate::review::service::ReviewError::Invalid(e));
                }
            }
        }
        audit = entries
            .iter()
            .rev()
            .take(100)
            .map(|e| AuditRow {
                at: deps.zone.show(e.at_ms),
                actor: super::actor_words(t, &e.actor),
                action: t
                    .get(&format!("action.{}", e.action))
                    .unwrap_or(&e.action)
                    .to_string(),
                target: if e.comment_id.is_empty() {
                    e.detail.clone()
                } else {
                    let status = |s: &str| {
                        t.get(&format!("status.{s}"))
                            .map(str::to_string)
                            .unwrap_or_else(|| s.to_string())
                    };
                    format!(
                        "{} ({} → {})",
                        e.comment_id,
                        status(&e.before),
                        status(&e.after)
                    )
                },
                note: [
                    t.get(&format!("label.short.{}", e.label)).unwrap_or(""),
                    e.note.as_str(),
                ]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" · "),
            })
            .collect();
    }
    let page = OpsPage {
        nav: Some(ctx.nav("ops")),
        t,
        lang: t.lang.code(),
        oldest_s: stats.map(|s| s.oldest_pending_age_ms / 1000).unwrap_or(0),
        flash,
        csrf: ctx.session.csrf.clone(),
        models,
        boot_labels,
        boot_required,
        boot_ready,
        chart,
        site,
        stats,
        audit,
    };
    render(page)
}

fn back(site: &str) -> Response {
    redirect("/console/ops", &[("site", site)])
}

async fn activate(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    model_change(deps, headers, f, false).await
}

async fn rollback(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    model_change(deps, headers, f, true).await
}

/// Activates a model for the site, or rolls the site back to its previous one (audited by the policy layer).
async fn model_change(deps: Deps, headers: HeaderMap, f: Fields, rollback: bool) -> Response {
    let mut ctx = match signed_in_ops_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let site = f.get("site").to_string();
    let who = ctx.session.name.clone();
    let r = if rollback {
        deps.policies.rollback(&site, &who).await
    } else {
        deps.policies.activate(&site, f.get("version"), &who).await
    };
    match r {
        Err(PolicyError::Invalid(v)) => ctx.flash(
            "error.invalid",
            crate::validate::Invalid(v).to_string(),
            true,
        ),
        // A site that pinned the version the global default uses, rolled back to following it: the model is the
        // same, only where it comes from changed.
        Ok((from, to)) if rollback && from == to => {
            ctx.flash("ops.model_follows_global", to, false)
        }
        Ok((from, to)) => {
            let from = if from.is_empty() {
                "—".to_string()
            } else {
                from
            };
            ctx.flash("ops.model_changed", format!("{from} → {to}"), false)
        }
        Err(PolicyError::NoPrevious) => ctx.flash("ops.no_previous", "", true),
        Err(PolicyError::UnknownModel(m)) => ctx.flash("ops.unknown_model", m, true),
        Err(PolicyError::Store(e)) => return store_error(ctx.t(), &e.to_string()),
        Err(e) => ctx.flash("queue.error", e.to_string(), true),
    }
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    back(&site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    #[test]
    fn the_hours_chart_has_a_bar_per_hour_scaled_to_the_busiest() {
        let mut h = [0u64; HOURS_CHARTED];
        h[HOURS_CHARTED - 1] = 10;
        h[0] = 5;
        let svg = decisions_svg(T { lang: Lang::En }, &h);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect class=\"hour\"").count(), HOURS_CHARTED);
        assert!(
            svg.contains("height=\"108.0\""),
            "the busiest hour fills the plot"
        );
        assert!(
            svg.contains("height=\"54.0\""),
            "half as busy, half as high"
        );
        assert!(svg.contains("Total: 15;"));
        assert!(!svg.contains("NaN"));
    }
}
