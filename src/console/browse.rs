//! Browse and correct: a site's decided comments with filters (status, score range, author, date) and paging;
//! one comment with its events and audit entries; overturning it from there; a campaign's comments, and
//! rejecting those still held in one action.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::i18n::T;
use super::{
    Deps, Fields, Flash, Nav, enc, redirect, render, review_error, signed_in, signed_in_form,
    store_error,
};
use crate::audit::service::{AuditError, AuditQuery};
use crate::review::service::{BrowseQuery, Overturn, ReviewError};
use crate::review::{Label, Status};

pub(super) fn routes() -> Router<Deps> {
    Router::new()
        .route("/console/browse", get(list))
        .route("/console/comment", get(one))
        .route("/console/comment/overturn", post(overturn))
        .route("/console/campaign", get(campaign))
        .route("/console/campaign/reject", post(reject_campaign))
}

fn status_words(t: T, s: &str) -> String {
    t.get(&format!("status.{s}"))
        .map(str::to_string)
        .unwrap_or_else(|| s.to_string())
}

/// One row of the list.
struct Row {
    id: String,
    decided: String,
    status: String,
    score: String,
    author: String,
    title: String,
}

#[derive(Template)]
#[template(path = "console/browse.html")]
struct ListPage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    site: String,
    status: String,
    min: String,
    max: String,
    author: String,
    from: String,
    to: String,
    rows: Vec<Row>,
    page: usize,
    prev: String,
    next: String,
    error: String,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    min: String,
    #[serde(default)]
    max: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: usize,
}

async fn list(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let ctx = match signed_in(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let site = ctx.site_or_current(&q.site);
    let mut page = ListPage {
        nav: Some(ctx.nav("browse")),
        t,
        lang: t.lang.code(),
        site: site.clone(),
        status: q.status.clone(),
        min: q.min.clone(),
        max: q.max.clone(),
        author: q.author.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        rows: Vec::new(),
        page: q.page,
        prev: String::new(),
        next: String::new(),
        error: String::new(),
    };
    if site.is_empty() {
        return render(page);
    }
    let num = |s: &str| {
        let s = s.trim().replace(',', ".");
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse::<f32>()
                .ok()
                .filter(|x| (0.0..=1.0).contains(x))
                .map(Some)
                .ok_or(())
        }
    };
    let (Ok(min_score), Ok(max_score)) = (num(&q.min), num(&q.max)) else {
        page.error = t.s("browse.bad_score").to_string();
        return render(page);
    };
    let bq = BrowseQuery {
        status: Status::parse(&q.status).filter(|s| *s != Status::PendingReview),
        min_score,
        max_score,
        author: q.author.clone(),
        since_ms: deps.zone.day_start_ms(&q.from).unwrap_or(0),
        until_ms: deps
            .zone
            .day_start_ms(&q.to)
            .map(|d| d + 86_400_000)
            .unwrap_or(0),
        page: q.page,
        page_size: 20,
    };
    match deps.reviews.browse(&site, &bq).await {
        Ok(p) => {
            page.rows = p
                .comments
                .iter()
                .map(|c| Row {
                    id: c.record.comment_id.clone(),
                    decided: c
                        .history
                        .last()
                        .map(|e| deps.zone.show(e.decided_ms))
                        .unwrap_or_default(),
                    status: status_words(t, c.status.as_str()),
                    score: super::score_text(f64::from(c.record.score)),
                    author: c.record.name.clone(),
                    title: c.record.title.clone(),
                })
                .collect();
            let link = |n: usize| {
                format!(
                    "/console/browse?site={}&status={}&min={}&max={}&author={}&from={}&to={}&page={n}",
                    enc(&site),
                    enc(&q.status),
                    enc(&q.min),
                    enc(&q.max),
                    enc(&q.author),
                    enc(&q.from),
                    enc(&q.to)
                )
            };
            if q.page > 0 {
                page.prev = link(q.page - 1);
            }
            if p.more {
                page.next = link(q.page + 1);
            }
        }
        Err(ReviewError::Invalid(e)) => page.error = format!("{} {e}", t.s("error.invalid")),
        Err(e) => return review_error(t, &e),
    }
    render(page)
}

/// One event of the comment's history.
struct EventRow {
    at: String,
    status: String,
    kind: String,
    actor: String,
    label: String,
    note: String,
}

#[derive(Template)]
#[template(path = "console/comment.html")]
struct CommentPage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    csrf: String,
    flash: Option<Flash>,
    site: String,
    id: String,
    status: String,
    status_code: String,
    name: String,
    title: String,
    title_marked: Vec<super::Seg>,
    body: Vec<super::Seg>,
    score: String,
    reasons: Vec<String>,
    events: Vec<EventRow>,
    audit: Vec<EventRow>,
    can_overturn: bool,
    to_rejected: bool,
    campaign: String,
}

#[derive(Deserialize, Default)]
struct OneQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    id: String,
}

async fn one(State(deps): State<Deps>, headers: HeaderMap, Query(q): Query<OneQuery>) -> Response {
    let mut ctx = match signed_in(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let c = match deps.reviews.comment(&q.site, &q.id).await {
        Ok(c) => c,
        Err(e) => return review_error(t, &e),
    };
    let label_words = |l: &str| {
        if l.is_empty() {
            String::new()
        } else {
            t.get(&format!("label.short.{l}"))
                .map(str::to_string)
                .unwrap_or_else(|| l.to_string())
        }
    };
    let events = c
        .history
        .iter()
        .map(|e| EventRow {
            at: deps.zone.show(e.decided_ms),
            status: status_words(t, e.status.as_str()),
            kind: t
                .get(&format!("kind.{}", e.kind.as_str()))
                .unwrap_or(e.kind.as_str())
                .to_string(),
            actor: super::actor_words(t, &e.actor),
            label: label_words(&e.label),
            note: e.note.clone(),
        })
        .collect();
    let mut audit = Vec::new();
    let mut aq = AuditQuery {
        site: q.site.clone(),
        comment_id: q.id.clone(),
        page_size: 200,
        ..AuditQuery::default()
    };
    loop {
        match deps.audit.list(&aq).await {
            Ok(p) => {
                audit.extend(p.entries.into_iter().map(|e| {
                    EventRow {
                        at: deps.zone.show(e.at_ms),
                        status: format!(
                            "{} → {}",
                            status_words(t, &e.before),
                            status_words(t, &e.after)
                        ),
                        kind: t
                            .get(&format!("action.{}", e.action))
                            .unwrap_or(&e.action)
                            .to_string(),
                        actor: super::actor_words(t, &e.actor),
                        label: label_words(&e.label),
                        note: e.note,
                    }
                }));
                if p.next_page_token.is_empty() || audit.len() > 1000 {
                    break;
                }
                aq.page_token = p.next_page_token;
            }
            Err(AuditError::Store(e)) => return store_error(t, &e.to_string()),
            Err(AuditError::Invalid(e)) => return review_error(t, &ReviewError::Invalid(e)),
        }
    }
    let reasons = c
        .record
        .reasons
        .iter()
        .filter(|r| !r.code.starts_with("MODEL_"))
        .filter_map(|r| t.reason(&r.code, r.contribution))
        .fold(Vec::new(), |mut v, r| {
            if !v.contains(&r) {
                v.push(r);
            }
            v
        });
    let flash = ctx.take_flash();
    if flash.is_some()
        && let Err(r) = ctx.save(&deps).await
    {
        return r;
    }
    let (title_marked, body) = super::marked_fields(t, &c.record);
    render(CommentPage {
        nav: Some(ctx.nav("browse")),
        t,
        lang: t.lang.code(),
        csrf: ctx.session.csrf.clone(),
        flash,
        site: q.site.clone(),
        id: q.id.clone(),
        status: status_words(t, c.status.as_str()),
        status_code: c.status.as_str().to_string(),
        name: c.record.name.clone(),
        title: c.record.title.clone(),
        title_marked,
        body,
        score: super::score_text(f64::from(c.record.score)),
        reasons,
        events,
        audit,
        can_overturn: c.status != Status::PendingReview,
        to_rejected: c.status == Status::Published,
        campaign: c.campaign.clone().unwrap_or_default(),
    })
}

/// One comment of a campaign.
struct MemberRow {
    id: String,
    created: String,
    status: String,
    score: String,
    author: String,
    body: String,
}

#[derive(Template)]
#[template(path = "console/campaign.html")]
struct CampaignPage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    csrf: String,
    flash: Option<Flash>,
    site: String,
    id: String,
    rows: Vec<MemberRow>,
    held: usize,
    published: usize,
    rejected: usize,
    authors: usize,
}

/// A campaign: its comments (oldest first) with their status, and one action for all that are still held.
async fn campaign(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Query(q): Query<OneQuery>,
) -> Response {
    let mut ctx = match signed_in(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let comments = match deps.reviews.campaign(&q.site, &q.id).await {
        Ok(c) => c,
        Err(e) => return review_error(t, &e),
    };
    let count = |s: Status| comments.iter().filter(|c| c.status == s).count();
    let (held, published, rejected) = (
        count(Status::PendingReview),
        count(Status::Published),
        count(Status::Rejected),
    );
    let authors = crate::review::service::campaign_authors(&comments);
    let rows = comments
        .iter()
        .map(|c| MemberRow {
            id: c.record.comment_id.clone(),
            created: deps.zone.show(c.record.created_ms),
            status: status_words(t, c.status.as_str()),
            score: super::score_text(f64::from(c.record.score)),
            author: c.record.name.clone(),
            body: excerpt(&c.record.body, 160),
        })
        .collect();
    let flash = ctx.take_flash();
    if flash.is_some()
        && let Err(r) = ctx.save(&deps).await
    {
        return r;
    }
    render(CampaignPage {
        nav: Some(ctx.nav("browse")),
        t,
        lang: t.lang.code(),
        csrf: ctx.session.csrf.clone(),
        flash,
        site: q.site.clone(),
        id: q.id.clone(),
        rows,
        held,
        published,
        rejected,
        authors,
    })
}

/// The first `max` characters of `text`, with an ellipsis when cut.
fn excerpt(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Rejects every comment of the campaign still held (the review service takes each over and decides it).
async fn reject_campaign(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (site, id) = (f.get("site").to_string(), f.get("id").to_string());
    let note = f.get("note").to_string();
    match deps
        .reviews
        .reject_campaign(&site, &id, &note, &ctx.actor())
        .await
    {
        Ok(done) => {
            let t = ctx.t();
            let mut words = format!(
                "{} {}, {} {}",
                done.rejected,
                t.s("campaign.n_rejected"),
                done.not_held,
                t.s("campaign.n_not_held"),
            );
            if done.own_appeals > 0 {
                words.push_str(&format!(
                    ", {} {}",
                    done.own_appeals,
                    t.s("campaign.n_own_appeals")
                ));
            }
            ctx.flash("campaign.done", words, false)
        }
        Err(ReviewError::Store(e)) => return store_error(ctx.t(), &e.to_string()),
        Err(e) => ctx.flash("queue.error", e.to_string(), true),
    }
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    redirect("/console/campaign", &[("site", &site), ("id", &id)])
}

async fn overturn(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (site, id) = (f.get("site").to_string(), f.get("id").to_string());
    let expected = Status::parse(f.get("expected"));
    let label = Label::parse(f.get("label"));
    let label = if expected == Some(Status::Rejected) {
        None
    } else {
        label
    };
    let note = f.get("note").to_string();
    match deps
        .reviews
        .overturn(
            Overturn {
                site: &site,
                comment_id: &id,
                expected,
                label,
                note: &note,
            },
            &ctx.actor(),
        )
        .await
    {
        Ok(_) => ctx.flash("browse.overturned", "", false),
        Err(ReviewError::Store(e)) => return store_error(ctx.t(), &e.to_string()),
        Err(ReviewError::StatusChanged { .. }) => ctx.flash("browse.changed", "", true),
        Err(ReviewError::NotYourDecision { by }) => ctx.flash("browse.not_yours", by, true),
        Err(e) => ctx.flash("queue.error", e.to_string(), true),
    }
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    redirect("/console/comment", &[("site", &site), ("id", &id)])
}
