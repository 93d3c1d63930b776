//! The review queue page: pick a site, claim a batch, then approve, reject with a label, skip, select several
//! for one bulk decision, and undo the last decision for a few seconds. Leases are extended while the page is
//! visible and released when it closes (`static/console.js`); a decision on a lost lease says so and changes
//! nothing, because the review service's fence refuses it.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::i18n::T;
use super::{
    Ctx, Deps, Fields, Flash, Nav, Seg, redirect, render, review_error, signed_in, signed_in_form,
};
use crate::clock::{Clock, SystemClock};
use crate::privacy::AuthorHistory;
use crate::review::service::{Decision, Overturn, ReviewError, Verdict};
use crate::review::{Label, Status, StoredComment};

/// How long a decision can be undone from the queue page, ms.
pub const UNDO_WINDOW_MS: u64 = 10_000;
/// The lease the console asks for, seconds; the page extends it while visible.
pub const LEASE_SECONDS: u32 = 300;
/// Most comments one claim from the page takes.
pub const MAX_BATCH: u32 = 20;

pub(super) fn routes() -> Router<Deps> {
    Router::new()
        .route("/console/queue", get(page))
        .route("/console/queue/claim", post(claim))
        .route("/console/queue/decide", post(decide))
        .route("/console/queue/bulk", post(bulk))
        .route("/console/queue/undo", post(undo))
        .route("/console/queue/extend", post(extend))
        .route("/console/queue/release", post(release))
}

fn now_ms() -> u64 {
    SystemClock.now_ms()
}

/// `0912345678` -> `091•••••78`: enough to recognise a repeat caller, not enough to call.
pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() <= 5 {
        return "•".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "•".repeat(chars.len() - 5))
}

/// One claimed comment as the page shows it.
pub struct ItemView {
    id: String,
    name: String,
    phone: String,
    title: Vec<Seg>,
    body: Vec<Seg>,
    score: String,
    reasons: Vec<String>,
    remaining_ms: u64,
    /// The author's other comments on the site, in words.
    history: String,
    /// The campaign the comment is part of (empty: none).
    campaign: String,
}

/// The author's history in one line: "3 đã đăng, 1 bị từ chối, 0 đang chờ".
fn history_words(t: T, h: &AuthorHistory) -> String {
    if h.unidentified {
        return t.s("queue.history_unknown").to_string();
    }
    if h.published + h.rejected + h.pending == 0 {
        return t.s("queue.history_none").to_string();
    }
    format!(
        "{} {}, {} {}, {} {}{}",
        h.published,
        t.s("queue.history_published"),
        h.rejected,
        t.s("queue.history_rejected"),
        h.pending,
        t.s("queue.history_pending"),
        if h.truncated {
            t.s("queue.history_more")
        } else {
            ""
        }
    )
}

fn item_view(t: T, c: &StoredComment, lease_until_ms: u64, history: &AuthorHistory) -> ItemView {
    let r = &c.record;
    // What pushed towards holding or rejecting, strongest first: the policy's rules, and the signals that
    // raised the score. The model's own score and its raw features are the score shown beside them.
    let mut pushing: Vec<&crate::review::Reason> = r
        .reasons
        .iter()
        .filter(|x| {
            !x.code.starts_with("MODEL_")
                && (x.kind == crate::review::ReasonKind::Rule || x.contribution > 0.0)
        })
        .collect();
    pushing.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
    let mut reasons: Vec<String> = Vec::new();
    for reason in pushing {
        let words = t
            .reason(&reason.code, reason.contribution)
            .unwrap_or_else(|| reason.detail.clone());
        if !reasons.contains(&words) {
            reasons.push(words);
        }
    }
    let (title, body) = super::marked_fields(t, r);
    ItemView {
        id: r.comment_id.clone(),
        name: r.name.clone(),
        phone: if r.phone.is_empty() {
            t.s("queue.no_phone").to_string()
        } else {
            mask_phone(&r.phone)
        },
        title,
        body,
        score: super::score_text(f64::from(r.score)),
        reasons,
        remaining_ms: lease_until_ms.saturating_sub(now_ms()),
        history: history_words(t, history),
        campaign: c.campaign.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    nav: Option<Nav>,
    csrf: String,
    t: T,
    lang: &'static str,
    site: String,
    flash: Option<Flash>,
    items: Vec<ItemView>,
    undo: bool,
    undo_approval: bool,
    undo_remaining_ms: u64,
    max_batch: u32,
}

#[derive(Deserialize)]
struct SiteQuery {
    #[serde(default)]
    site: String,
}

fn back(site: &str) -> Response {
    redirect("/console/queue", &[("site", site)])
}

async fn page(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Query(q): Query<SiteQuery>,
) -> Response {
    let mut ctx = match signed_in(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let site = ctx.site_or_current(&q.site);
    let who = ctx.actor();
    let mut items = Vec::new();
    let mut kept = Vec::new();
    for (s, id, token) in std::mem::take(&mut ctx.state.claims) {
        if s != site {
            kept.push((s, id, token));
            continue;
        }
        // Opening the page renews the lease, and drops the claims that were lost meanwhile.
        match deps
            .reviews
            .extend(&s, &id, &token, LEASE_SECONDS, &who)
            .await
        {
            Ok(until) => match deps.reviews.comment(&s, &id).await {
                Ok(c) if c.status == Status::PendingReview => {
                    let history = match deps.privacy.history(&s, &c.record).await {
                        Ok(h) => h,
                        Err(e) => return super::domain_error(t, e),
                    };
                    items.push(item_view(t, &c, until, &history));
                    kept.push((s, id, token));
                }
                Ok(_) | Err(ReviewError::NotFound(_)) => {}
                Err(e) => return review_error(t, &e),
            },
            Err(ReviewError::LeaseLost | ReviewError::NotYourLease) => {}
            Err(e) => return review_error(t, &e),
        }
    }
    ctx.state.claims = kept;
    if !site.is_empty() {
        ctx.state.site.clone_from(&site);
    }
    let flash = ctx.take_flash();
    let now = now_ms();
    let undo = ctx.state.undo.clone().filter(|u| u.3 > now);
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    let page = QueuePage {
        nav: Some(ctx.nav("queue")),
        csrf: ctx.session.csrf.clone(),
        t,
        lang: t.lang.code(),
        site,
        flash,
        items,
        undo: undo.is_some(),
        undo_approval: undo
            .as_ref()
            .is_some_and(|u| u.2 == Status::Published.as_str()),
        undo_remaining_ms: undo.map(|u| u.3.saturating_sub(now)).unwrap_or(0),
        max_batch: MAX_BATCH,
    };
    render(page)
}

async fn claim(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let site = f.get("site").trim().to_string();
    let n = f.get("n").parse::<u32>().unwrap_or(5).clamp(1, MAX_BATCH);
    match deps
        .reviews
        .claim(&site, n, LEASE_SECONDS, &ctx.actor())
        .await
    {
        Ok(items) => {
            if items.is_empty() {
                ctx.flash("queue.nothing_held", "", false);
            } else {
                ctx.flash("queue.claimed", items.len().to_string(), false);
            }
            for c in items {
                ctx.state
                    .claims
                    .push((site.clone(), c.comment.record.comment_id, c.lease_token));
            }
        }
        Err(ReviewError::Invalid(e)) => ctx.flash("error.invalid", e.to_string(), true),
        Err(e) => return review_error(ctx.t(), &e),
    }
    ctx.state.site.clone_from(&site);
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    back(&site)
}

/// What one decision on a claimed item came to.
enum Outcome {
    Done(Status),
    Skipped,
    Lost,
}

async fn decide_one(
    deps: &Deps,
    ctx: &mut Ctx,
    site: &str,
    id: &str,
    verdict: &str,
    label: Option<Label>,
) -> Result<Outcome, ReviewError> {
    let token = ctx
        .state
        .claims
        .iter()
        .find(|(s, i, _)| s == site && i == id)
        .map(|(_, _, t)| t.clone());
    let Some(token) = token else {
        return Ok(Outcome::Lost);
    };
    let who = ctx.actor();
    let result = if verdict == "skip" {
        deps.reviews
            .release(site, id, &token, &who)
            .await
            .map(|()| Outcome::Skipped)
    } else {
        let verdict = match verdict {
            "approve" => Some(Verdict::Approve),
            "reject" => Some(Verdict::Reject),
            _ => None,
        };
        deps.reviews
            .decide(
                Decision {
                    site,
                    comment_id: id,
                    lease_token: &token,
                    verdict,
                    label: if verdict == Some(Verdict::Approve) {
                        None
                    } else {
                        label
                    },
                    note: "",
                },
                &who,
            )
            .await
            .map(|e| Outcome::Done(e.status))
    };
    match result {
        Ok(o) => {
            ctx.state.claims.retain(|(s, i, _)| !(s == site && i == id));
            Ok(o)
        }
        Err(ReviewError::LeaseLost | ReviewError::NotYourLease) => {
            ctx.state.claims.retain(|(s, i, _)| !(s == site && i == id));
            Ok(Outcome::Lost)
        }
        Err(e) => Err(e),
    }
}

async fn decide(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let site = f.get("site").to_string();
    let id = f.get("id").to_string();
    let label = Label::parse(f.get("label"));
    match decide_one(&deps, &mut ctx, &site, &id, f.get("verdict"), label).await {
        Ok(Outcome::Done(status)) => {
            let key = if status == Status::Published {
                "queue.approved"
            } else {
                "queue.rejected"
            };
            ctx.flash(key, "", false);
            ctx.state.undo = Some((
                site.clone(),
                id,
                status.as_str().to_string(),
                now_ms() + UNDO_WINDOW_MS,
            ));
        }
        Ok(Outcome::Skipped) => ctx.flash("queue.skipped", "", false),
        Ok(Outcome::Lost) => ctx.flash("queue.lease_lost", "", true),
        Err(ReviewError::Invalid(e)) => ctx.flash("error.invalid", e.to_string(), true),
        Err(e) => return review_error(ctx.t(), &e),
    }
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    back(&site)
}

async fn bulk(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let site = f.get("site").to_string();
    let verdict = f.get("action").to_string();
    let label = Label::parse(f.get("label"));
    let ids: Vec<String> = f.all("sel").map(str::to_string).collect();
    let (mut done, mut lost) = (0usize, 0usize);
    for id in &ids {
        match decide_one(&deps, &mut ctx, &site, id, &verdict, label).await {
            Ok(Outcome::Done(_) | Outcome::Skipped) => done += 1,
            Ok(Outcome::Lost) => lost += 1,
            Err(ReviewError::Invalid(e)) => {
                ctx.flash("error.invalid", e.to_string(), true);
                break;
            }
            Err(e) => return review_error(ctx.t(), &e),
        }
    }
    if ids.is_empty() {
        ctx.flash("queue.bulk_none", "", true);
    } else if lost > 0 {
        ctx.flash("queue.bulk_lost", lost.to_string(), true);
    } else if ctx.state.flash.is_none() {
        ctx.flash("queue.bulk_done", done.to_string(), false);
    }
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    back(&site)
}

async fn undo(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let site = ctx.state.site.clone();
    match ctx.state.undo.take() {
        Some((s, id, status, until)) if until > now_ms() => {
            let expected = Status::parse(&status);
            // Undoing an approval rejects: the form's label is the reason (the domain refuses a rejection
            // without one); undoing a rejection publishes, labelled ham by the domain.
            let label = if expected == Some(Status::Published) {
                Label::parse(f.get("label"))
            } else {
                None
            };
            match deps
                .reviews
                .overturn(
                    Overturn {
                        site: &s,
                        comment_id: &id,
                        expected,
                        label,
                        note: "undo from the console",
                    },
                    &ctx.actor(),
                )
                .await
            {
                Ok(_) => ctx.flash("queue.undone", "", false),
                Err(ReviewError::Store(e)) => {
                    return super::store_error(ctx.t(), &e.to_string());
                }
                Err(e) => ctx.flash("queue.error", e.to_string(), true),
            }
        }
        _ => ctx.flash("queue.undo_expired", "", true),
    }
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    back(&site)
}

/// Extends every lease this session holds on the site; answers `{comment id: ms left}` (lost ones are left out).
async fn extend(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let site = f.get("site").to_string();
    let who = ctx.actor();
    let mut left = serde_json::Map::new();
    let mut kept = Vec::new();
    for (s, id, token) in std::mem::take(&mut ctx.state.claims) {
        if s == site {
            match deps
                .reviews
                .extend(&s, &id, &token, LEASE_SECONDS, &who)
                .await
            {
                Ok(until) => {
                    left.insert(id.clone(), until.saturating_sub(now_ms()).into());
                }
                Err(ReviewError::LeaseLost | ReviewError::NotYourLease) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "console: lease extension failed");
                }
            }
        }
        kept.push((s, id, token));
    }
    ctx.state.claims = kept;
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    Json(serde_json::Value::Object(left)).into_response()
}

/// Gives back every comment the session holds (on `site`, or everywhere).
pub(super) async fn release_all(deps: &Deps, ctx: &mut Ctx, site: Option<&str>) {
    let who = ctx.actor();
    let mut kept = Vec::new();
    for (s, id, token) in std::mem::take(&mut ctx.state.claims) {
        if site.is_some_and(|site| site != s) {
            kept.push((s, id, token));
            continue;
        }
        if let Err(e) = deps.reviews.release(&s, &id, &token, &who).await
            && !matches!(e, ReviewError::LeaseLost | ReviewError::NotYourLease)
        {
            tracing::warn!(error = %e, "console: release failed");
        }
    }
    ctx.state.claims = kept;
}

/// The page was closed: give its comments back to the queue at once.
async fn release(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let site = f.get("site").to_string();
    release_all(&deps, &mut ctx, Some(&site)).await;
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn a_phone_keeps_its_first_three_and_last_two_digits() {
        assert_eq!(mask_phone("0912345678"), "091•••••78");
        assert_eq!(mask_phone("12345"), "•••••");
        assert_eq!(mask_phone(""), "");
    }
}
