//! The web console for moderators and ops, served on the HTTP listener under `/console`.
//!
//! # Layout
//! - [`i18n`]: the string catalogues (Vietnamese first, English as a switch);
//! - this file: the routes, the session cookie, CSRF checks, role checks and the embedded assets;
//! - [`queue`]: the review queue (claim, decide, skip, bulk, undo, lease extension and release);
//! - [`browse`]: decided comments with filters and paging, one comment's events and audit entries, overturn;
//! - [`ops`]: the ops pages (queue health, audit log);
//! - [`lab`]: the threshold lab (ops).
//!
//! Every page calls the domain services in-process ([`Deps`]); sessions live in the store through
//! [`crate::auth::Sessions`], so any replica serves any session. The session cookie is HttpOnly and
//! SameSite=Strict (and Secure when the listener speaks TLS); every state-changing form carries the session's
//! CSRF token, and the sign-in form a double-submit token of its own.

// The `Err` of the helpers here is the page to answer instead (a redirect to sign-in, a refusal), handed
// straight to axum: boxing it would only add an allocation to every refusal.
#![allow(clippy::result_large_err)]

pub mod browse;
pub mod i18n;
pub mod lab;
pub mod ops;
pub mod policy;
pub mod queue;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::audit::service::AuditService;
use crate::auth::{Role, Session, SessionError, Sessions};
use crate::policy::Policies;
use crate::review::service::{ReviewError, ReviewService};

use i18n::{Lang, T};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "moderato_session";
/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "moderato_login";

/// What the console calls: the domain services, in-process.
#[derive(Clone)]
pub struct Deps {
    /// The review queue and comment lookups.
    pub reviews: ReviewService,
    /// Live policies.
    pub policies: Policies,
    /// The audit trail.
    pub audit: AuditService,
    /// Console sessions.
    pub sessions: Sessions,
    /// Readers' data: the author's history beside a held comment.
    pub privacy: crate::privacy::Privacy,
    /// Mark cookies Secure (the listener speaks TLS).
    pub secure_cookies: bool,
    /// Where times are shown.
    pub zone: Zone,
}

/// The console's routes. No fallback: the HTTP router owns it.
pub fn routes(deps: Deps) -> Router {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/lang", post(switch_lang))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .merge(queue::routes())
        .merge(ops::routes())
        .merge(lab::routes())
        .merge(policy::routes())
        .merge(browse::routes())
        .with_state(deps)
}

/// The console's state besides identity, kept inside the session document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConsoleState {
    /// Comments this session holds: (site, comment id, lease token).
    #[serde(default)]
    pub claims: Vec<(String, String, String)>,
    /// A message for the next page: (catalogue key, extra text).
    #[serde(default)]
    pub flash: Option<(String, String)>,
    /// Whether the flash reports a failure.
    #[serde(default)]
    pub flash_error: bool,
    /// The last decision, undoable until the given instant: (site, comment id, status it set, until ms).
    #[serde(default)]
    pub undo: Option<(String, String, String, u64)>,
    /// The site last worked on.
    #[serde(default)]
    pub site: String,
    /// The threshold lab's refused values: the errors by field, and what was typed.
    #[serde(default)]
    #[allow(clippy::type_complexity)]
    pub lab_errors: Option<(Vec<(String, String)>, Option<(String, String)>)>,
}

/// A signed-in request: the session and its console state.
pub struct Ctx {
    /// The session.
    pub session: Session,
    /// Its console state.
    pub state: ConsoleState,
}

impl Ctx {
    /// The catalogue of the session's language.
    pub fn t(&self) -> T {
        T {
            lang: Lang::parse(&self.session.lang),
        }
    }

    /// The site a page was asked for, or the session's current one when none was.
    pub fn site_or_current(&self, asked: &str) -> String {
        if asked.is_empty() {
            self.state.site.clone()
        } else {
            asked.to_string()
        }
    }

    /// True for an ops session.
    pub fn is_ops(&self) -> bool {
        self.session.role() == Some(Role::Ops)
    }

    /// The signed-in person as the review queue's actor.
    pub fn actor(&self) -> crate::review::service::Actor {
        crate::auth::review_actor(
            &self.session.name,
            self.session.role().unwrap_or(Role::Moderator),
        )
    }

    /// The page chrome for this session.
    pub fn nav(&self, current: &'static str) -> Nav {
        let t = self.t();
        Nav {
            t,
            lang: t.lang.code(),
            name: self.session.name.clone(),
            role: t.s(if self.is_ops() {
                "role.ops"
            } else {
                "role.moderator"
            }),
            csrf: self.session.csrf.clone(),
            is_ops: self.is_ops(),
            current,
        }
    }

    /// Sets the message for the next page.
    pub fn flash(&mut self, key: &str, extra: impl Into<String>, error: bool) {
        self.state.flash = Some((key.to_string(), extra.into()));
        self.state.flash_error = error;
    }

    /// Takes the pending message, rendered.
    pub fn take_flash(&mut self) -> Option<Flash> {
        let t = self.t();
        let error = self.state.flash_error;
        self.state.flash.take().map(|(k, extra)| Flash {
            text: if extra.is_empty() {
                t.s(&k).to_string()
            } else {
                format!("{} {extra}", t.s(&k))
            },
            error,
        })
    }

    /// Stores the session back (console state changed), renewing its time to live.
    pub async fn save(&mut self, deps: &Deps) -> Result<(), Response> {
        self.session.data = serde_json::to_string(&self.state).unwrap_or_default();
        deps.sessions
            .save(&self.session)
            .await
            .map_err(|e| store_error(self.t(), &e.to_string()))
    }
}

/// A message shown once, at the top of the next page.
#[derive(Debug, Clone)]
pub struct Flash {
    /// The words.
    pub text: String,
    /// A failure (shown as an alert) rather than a confirmation.
    pub error: bool,
}

/// What every signed-in page shows around its content.
#[derive(Debug, Clone)]
pub struct Nav {
    /// The catalogue.
    pub t: T,
    /// `vi` or `en`.
    pub lang: &'static str,
    /// The token's name.
    pub name: String,
    /// The role, in words.
    pub role: &'static str,
    /// The session's CSRF token, for the sign-out and language forms.
    pub csrf: String,
    /// Show the ops link.
    pub is_ops: bool,
    /// Which nav entry is current: `queue` or `ops`.
    pub current: &'static str,
}

/// Who made a decision or an audit entry, as a moderator reads it: the system and the reader in words, a person
/// by name.
pub fn actor_words(t: T, actor: &str) -> String {
    match actor {
        crate::review::AUTOMATIC_ACTOR => t.s("actor.auto").to_string(),
        crate::review::READER_ACTOR => t.s("actor.reader").to_string(),
        name => name.to_string(),
    }
}

/// The console's time zone: a fixed offset from UTC (`server.console_utc_offset_minutes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// Minutes east of UTC.
    pub minutes: i32,
}

impl Zone {
    /// An instant as a moderator reads it there: `2026-12-08 01:19:10 (UTC+7)`.
    pub fn show(self, ms: u64) -> String {
        let shifted = ms as i64 + i64::from(self.minutes) * 60_000;
        let s = crate::clock::rfc3339(&crate::clock::timestamp(shifted.max(0) as u64));
        let d = s.get(..19).map_or(s.clone(), |d| d.replacen('T', " ", 1));
        let (h, m) = (self.minutes / 60, (self.minutes % 60).abs());
        if m == 0 {
            format!("{d} (UTC{h:+})")
        } else {
            format!("{d} (UTC{h:+}:{m:02})")
        }
    }

    /// Epoch ms of the start (local midnight) of the day `YYYY-MM-DD` there.
    pub fn day_start_ms(self, date: &str) -> Option<u64> {
        let ts = crate::clock::parse_rfc3339(&format!("{}T00:00:00Z", date.trim())).ok()?;
        let utc_midnight = ts.seconds.checked_mul(1000)?;
        u64::try_from(utc_midnight - i64::from(self.minutes) * 60_000).ok()
    }
}

/// A piece of a comment's text as shown: `why` holds the words of every reason that matched it (empty: no
/// reason did, shown plain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    /// The characters.
    pub text: String,
    /// The reasons, in words, joined with "; ".
    pub why: String,
}

/// `text` cut where the reasons matched it: `hits` are character ranges `[start, end)` of `text` with the words
/// of the reason that matched there. Overlapping hits share a piece that names both; ranges past the end are
/// clipped.
pub fn highlight(text: &str, hits: &[(u32, u32, String)]) -> Vec<Seg> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut cuts = vec![0, n];
    for (a, b, _) in hits {
        cuts.push((*a as usize).min(n));
        cuts.push((*b as usize).min(n));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Seg> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a >= b {
            continue;
        }
        let mut why: Vec<&str> = Vec::new();
        for (s, e, words) in hits {
            if (*s as usize) <= a && (*e as usize) >= b && !why.contains(&words.as_str()) {
                why.push(words);
            }
        }
        let why = why.join("; ");
        let piece: String = chars[a..b].iter().collect();
        match out.last_mut() {
            Some(last) if last.why == why => last.text.push_str(&piece),
            _ => out.push(Seg { text: piece, why }),
        }
    }
    out
}

/// The title's and the body's pieces for `r`, each matched span marked with its reason in words.
pub fn marked_fields(t: T, r: &crate::review::CommentRecord) -> (Vec<Seg>, Vec<Seg>) {
    let mut title = Vec::new();
    let mut body = Vec::new();
    for reason in &r.reasons {
        if reason.spans.is_empty() {
            continue;
        }
        let words = t
            .reason(&reason.code, reason.contribution)
            .unwrap_or_else(|| reason.code.clone());
        for span in &reason.spans {
            let hit = (span.start, span.end, words.clone());
            match span.field.as_str() {
                "title" => title.push(hit),
                "body" => body.push(hit),
                _ => {}
            }
        }
    }
    (highlight(&r.title, &title), highlight(&r.body, &body))
}

/// A policy problem the domain reported (`Policy::problems`' message after the field), in the reader's language
/// where the catalogue has the sentence, else as the domain wrote it.
pub fn problem_words(t: T, message: &str) -> String {
    let key = if message.contains("between 0 and 1") {
        Some("lab.range")
    } else if message.contains("must not exceed") {
        Some("lab.order")
    } else {
        None
    };
    key.map(|k| t.s(k).to_string())
        .unwrap_or_else(|| message.to_string())
}

/// A spam score or threshold as every page shows it: on the thresholds' own scale, 0 to 1, to three decimals
/// without trailing zeros (stored as f32, 0.2 reads back as 0.200000003 and shows as 0.2).
pub fn score_text(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A figure as people read it: a whole number without decimals, anything else to three decimals.
pub fn display_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

fn random_hex16() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The value of cookie `name`, if sent.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(deps: &Deps, name: &str, value: &str, max_age_s: u64) -> HeaderValue {
    let secure = if deps.secure_cookies { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Form fields in the order sent; a name may repeat (checkboxes).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or empty.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    title: String,
    text: String,
}

fn message(status: StatusCode, t: T, nav: Option<Nav>, title_key: &str, text: &str) -> Response {
    let page = MessagePage {
        nav,
        t,
        lang: t.lang.code(),
        title: t.s(title_key).to_string(),
        text: text.to_string(),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, text.to_string()).into_response(),
    }
}

/// The store failed: a plain-words 503.
pub fn store_error(t: T, detail: &str) -> Response {
    tracing::warn!(error = detail, "console: store failed");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        t,
        None,
        "app",
        t.s("error.store"),
    )
}

/// A domain error that is not an expected outcome, through the one error table (`status.rs`, which also logs a
/// store failure, rate limited, under an error id): the HTTP code of its gRPC status, and its message in words.
pub fn domain_error(t: T, e: impl Into<crate::status::ApiError>) -> Response {
    let status: tonic::Status = e.into().into();
    let text = if status.code() == tonic::Code::Unavailable {
        t.s("error.store").to_string()
    } else {
        format!("{} {}", t.s("queue.error"), status.message())
    };
    message(
        crate::status::http_code(status.code()),
        t,
        None,
        "app",
        &text,
    )
}

/// A review error that is not an expected outcome, in words.
pub fn review_error(t: T, e: &ReviewError) -> Response {
    domain_error(t, e.clone())
}

/// The signed-in session of a request, or a redirect to the sign-in page.
pub async fn signed_in(deps: &Deps, headers: &HeaderMap) -> Result<Ctx, Response> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Err(Redirect::to("/console/login").into_response());
    };
    match deps.sessions.get(&id).await {
        Ok(Some(session)) if session.role().is_some() => {
            let state = serde_json::from_str(&session.data).unwrap_or_default();
            Ok(Ctx { session, state })
        }
        Ok(_) => Err(Redirect::to("/console/login").into_response()),
        Err(SessionError::Store(e)) => Err(store_error(T { lang: Lang::Vi }, &e.to_string())),
        Err(e) => Err(store_error(T { lang: Lang::Vi }, &e.to_string())),
    }
}

/// A signed-in session whose form carries its CSRF token; anything else is refused with 403 and changes
/// nothing.
pub async fn signed_in_form(deps: &Deps, headers: &HeaderMap, f: &Fields) -> Result<Ctx, Response> {
    let ctx = signed_in(deps, headers).await?;
    if !ctx.session.csrf_ok(f.get("csrf")) {
        tracing::warn!(
            who = ctx.session.name,
            "console: form refused, bad CSRF token"
        );
        let t = ctx.t();
        return Err(message(
            StatusCode::FORBIDDEN,
            t,
            Some(ctx.nav("")),
            "app",
            t.s("csrf.refused"),
        ));
    }
    Ok(ctx)
}

/// A rendered page, or a 500 naming the template error.
pub fn render<P: Template>(page: P) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A query-string value, percent-encoded (unreserved characters kept).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A redirect to `path` with `query`'s pairs, their values percent-encoded.
pub fn redirect(path: &str, query: &[(&str, &str)]) -> Response {
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let to = if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    };
    Redirect::to(&to).into_response()
}

/// [`signed_in`] for an ops page: a moderator is refused ([`require_ops`]).
pub async fn signed_in_ops(deps: &Deps, headers: &HeaderMap) -> Result<Ctx, Response> {
    let ctx = signed_in(deps, headers).await?;
    require_ops(&ctx)?;
    Ok(ctx)
}

/// [`signed_in_form`] for an ops form: a moderator is refused ([`require_ops`]).
pub async fn signed_in_ops_form(
    deps: &Deps,
    headers: &HeaderMap,
    f: &Fields,
) -> Result<Ctx, Response> {
    let ctx = signed_in_form(deps, headers, f).await?;
    require_ops(&ctx)?;
    Ok(ctx)
}

/// Refuses a moderator on an ops page (403, in words).
pub fn require_ops(ctx: &Ctx) -> Result<(), Response> {
    if ctx.is_ops() {
        Ok(())
    } else {
        let t = ctx.t();
        Err(message(
            StatusCode::FORBIDDEN,
            t,
            Some(ctx.nav("")),
            "nav.ops",
            t.s("forbidden.ops"),
        ))
    }
}

async fn home(State(deps): State<Deps>, headers: HeaderMap) -> Response {
    match signed_in(&deps, &headers).await {
        Ok(_) => Redirect::to("/console/queue").into_response(),
        Err(r) => r,
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    out: String,
}

fn login_form(
    deps: &Deps,
    status: StatusCode,
    lang: Lang,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let csrf = random_hex16();
    let t = T { lang };
    let page = LoginPage {
        nav: None,
        t,
        lang: lang.code(),
        csrf: csrf.clone(),
        error,
        notice,
    };
    match page.render() {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(deps, LOGIN_COOKIE, &csrf, 3600),
            );
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn login_page(
    State(deps): State<Deps>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    let lang = Lang::parse(&q.lang);
    let notice = (q.out == "1").then(|| T { lang }.s("login.signed_out").to_string());
    login_form(&deps, StatusCode::OK, lang, None, notice)
}

async fn login(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let lang = Lang::parse(f.get("lang"));
    let t = T { lang };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let presented = f.get("csrf");
    if expected.is_empty() || presented.is_empty() || expected != presented {
        return message(
            StatusCode::FORBIDDEN,
            t,
            None,
            "login.title",
            t.s("csrf.refused"),
        );
    }
    match deps.sessions.sign_in(f.get("token"), lang.code()).await {
        Ok(s) => {
            tracing::info!(who = s.name, role = s.role, "console: signed in");
            let mut r = Redirect::to("/console/queue").into_response();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    &deps,
                    SESSION_COOKIE,
                    &s.id,
                    crate::auth::SESSION_TTL_MS / 1000,
                ),
            );
            h.append(header::SET_COOKIE, set_cookie(&deps, LOGIN_COOKIE, "", 0));
            r
        }
        Err(SessionError::BadToken) => login_form(
            &deps,
            StatusCode::UNAUTHORIZED,
            lang,
            Some(t.s("login.bad_token").to_string()),
            None,
        ),
        Err(SessionError::Store(e)) => store_error(t, &e.to_string()),
    }
}

async fn logout(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // Give back what this session still holds, so colleagues get it now rather than when the leases expire.
    queue::release_all(&deps, &mut ctx, None).await;
    if let Err(e) = deps.sessions.sign_out(&ctx.session.id).await {
        return store_error(ctx.t(), &e.to_string());
    }
    let mut r = Redirect::to(&format!(
        "/console/login?out=1&lang={}",
        ctx.t().lang.code()
    ))
    .into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&deps, SESSION_COOKIE, "", 0));
    r
}

async fn switch_lang(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    let mut ctx = match signed_in_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    ctx.session.lang = Lang::parse(f.get("lang")).code().to_string();
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    // Back to one of the console's own pages only (never an address taken from the form as is).
    let next = match f.get("next") {
        n @ ("/console/ops" | "/console/lab" | "/console/browse") => n,
        _ => "/console/queue",
    };
    Redirect::to(next).into_response()
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/console.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_cut_the_text_where_reasons_matched_and_merge_overlaps() {
        let segs = highlight(
            "gọi 0912 345 678 nhé",
            &[(4, 16, "phone".into()), (9, 20, "tail".into())],
        );
        let shown: Vec<(&str, &str)> = segs
            .iter()
            .map(|s| (s.text.as_str(), s.why.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("gọi ", ""),
                ("0912 ", "phone"),
                ("345 678", "phone; tail"),
                (" nhé", "tail"),
            ]
        );
        let plain = highlight("không có gì", &[]);
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].text, "không có gì");
        // Out of range and empty spans change nothing.
        assert_eq!(
            highlight("abc", &[(5, 9, "x".into()), (1, 1, "y".into())]),
            plain_of("abc")
        );
    }

    fn plain_of(s: &str) -> Vec<Seg> {
        vec![Seg {
            text: s.into(),
            why: String::new(),
        }]
    }

    #[test]
    fn times_and_figures_read_as_people_write_them() {
        let vn = Zone { minutes: 420 };
        assert_eq!(vn.show(1_796_667_550_576), "2026-12-08 01:19:10 (UTC+7)");
        assert_eq!(
            Zone { minutes: 0 }.show(1_796_667_550_576),
            "2026-12-07 18:19:10 (UTC+0)"
        );
        assert_eq!(
            Zone { minutes: -570 }.show(1_796_667_550_576),
            "2026-12-07 08:49:10 (UTC-9:30)"
        );
        // 8 December in Vietnam starts at 17:00 UTC on the 7th.
        assert_eq!(vn.day_start_ms("2026-12-08"), Some(1_796_662_800_000));
        assert_eq!(vn.day_start_ms("8/12/2026"), None);
        assert_eq!(display_number(1380.0), "1380");
        assert_eq!(score_text(f64::from(0.2f32)), "0.2");
        assert_eq!(score_text(0.0312), "0.031");
        assert_eq!(score_text(1.0), "1");
        assert_eq!(display_number(0.98512), "0.985");
    }
}
