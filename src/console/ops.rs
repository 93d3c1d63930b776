//! The ops pages: queue health per site and the audit log. Moderators are refused (403, in words).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::i18n::T;
use super::{Deps, Nav, require_ops, review_error, signed_in, store_error};
use crate::audit::service::{AuditError, AuditQuery};

pub(super) fn routes() -> Router<Deps> {
    Router::new().route("/console/ops", get(page))
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
}

#[derive(Deserialize)]
struct OpsQuery {
    #[serde(default)]
    site: String,
}

async fn page(State(deps): State<Deps>, headers: HeaderMap, Query(q): Query<OpsQuery>) -> Response {
    let ctx = match signed_in(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = require_ops(&ctx) {
        return r;
    }
    let t = ctx.t();
    let site = if q.site.is_empty() {
        ctx.state.site.clone()
    } else {
        q.site
    };
    let mut stats = None;
    let mut audit = Vec::new();
    if !site.is_empty() {
        match deps.reviews.stats(&site).await {
            Ok(s) => stats = Some(s),
            Err(e) => return review_error(t, &e),
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
                at: crate::clock::rfc3339(&crate::clock::timestamp(e.at_ms)),
                actor: e.actor.clone(),
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
        site,
        stats,
        audit,
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
