//! The policy editor (ops): every field of a site's policy, or of the global default, in one form. On a site each
//! field says whether the site sets it or follows the global default (with the global value beside it), and can be
//! returned to the default. Problems are shown next to their field; a version conflict names who changed the policy
//! and when, and which fields now differ from what was submitted. Saving goes through `Policies::update`, as
//! UpdatePolicy does; the rules (ranges, the threshold order, overrides) are the domain's.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::i18n::T;
use super::{Deps, Fields, Flash, Nav, redirect, signed_in_ops, signed_in_ops_form};
use crate::audit::action;
use crate::audit::service::AuditQuery;
use crate::policy::document::Policy;
use crate::policy::{PolicyError, PolicyView};
use crate::rate_limit::{Descriptor, LimitRule};

pub(super) fn routes() -> Router<Deps> {
    Router::new().route("/console/policy", get(page).post(save))
}

/// How a field is edited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A score between 0 and 1.
    Score,
    /// A whole number.
    Count,
    /// A checkbox.
    Flag,
    /// One entry per line.
    Lines,
    /// One line of text.
    Text,
    /// One rate limit per line, `descriptor requests/periods burst N [shadow]`.
    Limits,
}

/// The policy's fields in the order shown: the JSON path in [`Policy`] (a dot for `field_limits`) and its kind.
const FIELDS: &[(&str, Kind)] = &[
    ("approve_below", Kind::Score),
    ("reject_at", Kind::Score),
    ("premoderate_all", Kind::Flag),
    ("premoderation_auto_reject", Kind::Flag),
    ("bootstrap_labels", Kind::Count),
    ("use_lexicon", Kind::Flag),
    ("blocked_terms", Kind::Lines),
    ("suspect_terms", Kind::Lines),
    ("allowed_domains", Kind::Lines),
    ("denied_domains", Kind::Lines),
    ("trusted_after_approvals", Kind::Count),
    ("trust_clean_days", Kind::Count),
    ("premoderate_new_authors", Kind::Flag),
    ("detect_campaigns", Kind::Flag),
    ("campaign_authors", Kind::Count),
    ("campaign_window_hours", Kind::Count),
    ("captcha_required", Kind::Flag),
    ("rate_limits", Kind::Limits),
    ("field_limits.name_max", Kind::Count),
    ("field_limits.title_max", Kind::Count),
    ("field_limits.body_max", Kind::Count),
    ("retention_days", Kind::Count),
    ("idempotency_ttl_seconds", Kind::Count),
    ("model_version", Kind::Text),
];

/// One field as shown.
struct Row {
    /// Its path, also the form name.
    key: &'static str,
    /// The element id (`p-` and the path with `_` for `.`).
    id: String,
    label: &'static str,
    help: &'static str,
    /// "score", "count", "flag", "lines", "text" or "limits".
    kind: &'static str,
    /// The value in the form.
    value: String,
    checked: bool,
    /// The value as the page first showed it (`on`/empty for a flag): only a field whose submitted value differs
    /// from it is written, so a save never rewrites what nobody edited (a score shown to three decimals, a list
    /// shown trimmed, a global value that changed meanwhile).
    was: String,
    /// On a site: whether the site sets this field itself.
    overridden: bool,
    /// On a site: the global default's value, as text.
    global: String,
    /// The override this field belongs to (`field_limits` for its three), the name of its "follow" checkbox.
    top: &'static str,
    /// Whether the "follow the global default" box is shown on this row (once per override).
    follow_box: bool,
    /// A problem with the submitted value.
    error: String,
    /// After a conflict: the value now stored, when it differs from the submitted one.
    now: String,
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    csrf: String,
    site: String,
    flash: Option<Flash>,
    version: u64,
    global_version: u64,
    rows: Vec<Row>,
}

#[derive(Deserialize, Default)]
struct PolicyQuery {
    #[serde(default)]
    site: String,
}

fn top(key: &'static str) -> &'static str {
    key.split('.').next().unwrap_or(key)
}

fn at<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(v, |v, k| v.get(k))
}

fn set(v: &mut Value, key: &str, x: Value) {
    let mut cur = v;
    let mut parts = key.split('.').peekable();
    while let Some(k) = parts.next() {
        let Value::Object(m) = cur else { return };
        if parts.peek().is_none() {
            m.insert(k.to_string(), x);
            return;
        }
        cur = m
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// A rate limit as the editor writes it: `client_ip 10/60s burst 5`, ` shadow` when it only counts.
fn limit_text(r: &LimitRule) -> String {
    format!(
        "{} {}/{}s burst {}{}",
        r.descriptor.name(),
        r.requests,
        r.period_seconds,
        r.burst,
        if r.shadow { " shadow" } else { "" }
    )
}

/// Reads one line of [`limit_text`]'s form (`s` after the period and the word `burst` are optional).
fn parse_limit(line: &str) -> Option<LimitRule> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let descriptor: Descriptor =
        serde_json::from_value(Value::String((*words.first()?).to_string())).ok()?;
    let (requests, period) = words.get(1)?.split_once('/')?;
    let rest: Vec<&str> = words[2..]
        .iter()
        .copied()
        .filter(|w| *w != "burst")
        .collect();
    let (burst, shadow) = match rest.as_slice() {
        [b] => (b, false),
        [b, "shadow"] => (b, true),
        _ => return None,
    };
    Some(LimitRule {
        descriptor,
        requests: requests.parse().ok()?,
        period_seconds: period.trim_end_matches('s').parse().ok()?,
        burst: burst.parse().ok()?,
        shadow,
    })
}

/// A field's value as the form shows it.
fn text_of(kind: Kind, v: Option<&Value>) -> String {
    let Some(v) = v else { return String::new() };
    match kind {
        Kind::Score => v.as_f64().map(super::score_text).unwrap_or_default(),
        Kind::Count => v.as_u64().map(|x| x.to_string()).unwrap_or_default(),
        Kind::Flag => String::new(),
        Kind::Text => v.as_str().unwrap_or_default().to_string(),
        Kind::Lines => v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        Kind::Limits => serde_json::from_value::<Vec<LimitRule>>(v.clone())
            .map(|rules| rules.iter().map(limit_text).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default(),
    }
}

/// A field's value as the form sends it back: a checked box sends `on`, an unchecked one nothing.
fn form_text(kind: Kind, v: Option<&Value>) -> String {
    if kind == Kind::Flag {
        if v.and_then(Value::as_bool) == Some(true) {
            "on".into()
        } else {
            String::new()
        }
    } else {
        text_of(kind, v)
    }
}

/// How a value reads in a sentence ("on", "off", "(none)", the lines joined by commas).
fn words_of(t: T, kind: Kind, v: Option<&Value>) -> String {
    match kind {
        Kind::Flag => t
            .s(if v.and_then(Value::as_bool) == Some(true) {
                "policy.on"
            } else {
                "policy.off"
            })
            .to_string(),
        _ => {
            let s = text_of(kind, v).replace('\n', ", ");
            if s.is_empty() {
                t.s("policy.none").to_string()
            } else {
                s
            }
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Score => "score",
        Kind::Count => "count",
        Kind::Flag => "flag",
        Kind::Lines => "lines",
        Kind::Text => "text",
        Kind::Limits => "limits",
    }
}

/// The rows for `policy` as shown on `site`, with `global` beside each field on a site.
fn rows(t: T, site: &str, view: &PolicyView, global: &Policy) -> Vec<Row> {
    let shown = serde_json::to_value(&*view.policy).unwrap_or_default();
    let global = serde_json::to_value(global).unwrap_or_default();
    let mut seen_top = Vec::new();
    FIELDS
        .iter()
        .map(|&(key, kind)| {
            let top = top(key);
            let follow_box = !site.is_empty() && !seen_top.contains(&top);
            seen_top.push(top);
            Row {
                key,
                id: format!("p-{}", key.replace('.', "_")),
                label: t.s(label_key(key)),
                help: t.s(help_key(key)),
                kind: kind_name(kind),
                value: text_of(kind, at(&shown, key)),
                checked: at(&shown, key).and_then(Value::as_bool) == Some(true),
                was: form_text(kind, at(&shown, key)),
                overridden: view.overridden.iter().any(|f| f == top),
                global: if site.is_empty() {
                    String::new()
                } else {
                    words_of(t, kind, at(&global, key))
                },
                top,
                follow_box,
                error: String::new(),
                now: String::new(),
            }
        })
        .collect()
}

fn label_key(key: &str) -> &'static str {
    catalogue_key("policy.f.", key)
}

fn help_key(key: &str) -> &'static str {
    catalogue_key("policy.h.", key)
}

/// `prefix` + `key`, as one of the catalogue's static keys (the catalogue test checks that each exists).
fn catalogue_key(prefix: &str, key: &str) -> &'static str {
    let wanted = format!("{prefix}{key}");
    super::i18n::VI
        .iter()
        .find(|(k, _)| *k == wanted)
        .map(|(k, _)| *k)
        .unwrap_or("policy.missing")
}

/// The policy in force for `site` (checked first) with where each field comes from, and the global default it
/// inherits from.
async fn views(deps: &Deps, t: T, site: &str) -> Result<(PolicyView, PolicyView), Response> {
    check_site(t, site)?;
    let load = |s: &str| {
        let s = s.to_string();
        async move { deps.policies.view(&s).await }
    };
    match (load(site).await, load("").await) {
        (Ok(v), Ok(g)) => Ok((v, g)),
        (Err(e), _) | (_, Err(e)) => Err(super::store_error(t, &e.to_string())),
    }
}

async fn page(
    State(deps): State<Deps>,
    headers: HeaderMap,
    Query(q): Query<PolicyQuery>,
) -> Response {
    let mut ctx = match signed_in_ops(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    // An empty site is the global default here, so a site is never filled in from the last one worked on.
    let site = q.site.trim().to_string();
    let flash = ctx.take_flash();
    if flash.is_some()
        && let Err(r) = ctx.save(&deps).await
    {
        return r;
    }
    let (view, global) = match views(&deps, t, &site).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    super::render(PolicyPage {
        nav: Some(ctx.nav("policy")),
        t,
        lang: t.lang.code(),
        csrf: ctx.session.csrf.clone(),
        site: site.clone(),
        flash,
        version: view.policy.version,
        global_version: view.global_version,
        rows: rows(t, &site, &view, &global.policy),
    })
}

fn check_site(t: T, site: &str) -> Result<(), Response> {
    if site.is_empty() {
        return Ok(());
    }
    let mut v = crate::validate::Violations::default();
    v.site("site", site);
    v.finish().map_err(|e| {
        super::message(
            StatusCode::BAD_REQUEST,
            t,
            None,
            "policy.title",
            &format!("{} {e}", t.s("error.invalid")),
        )
    })
}

/// Whether two texts of a field are the same value as typed (browsers send a textarea's lines with CRLF).
fn same(a: &str, b: &str) -> bool {
    a.replace("\r\n", "\n").trim() == b.replace("\r\n", "\n").trim()
}

/// The candidate policy from the form: the policy stored now with every field set that was edited (its submitted
/// value differs from the one the page showed, `was.<field>`). Values that are not numbers or limits are returned
/// as problems by field; the domain checks the rest.
fn candidate(t: T, shown: &Policy, f: &Fields) -> Result<Policy, Vec<(String, String)>> {
    let mut v = serde_json::to_value(shown).unwrap_or_default();
    let mut errors = Vec::new();
    for &(key, kind) in FIELDS {
        let raw = f.get(key).trim();
        // Untouched: keep the stored value as it is (browsers send a textarea's lines with CRLF).
        if same(raw, f.get(&format!("was.{key}"))) {
            continue;
        }
        let value = match kind {
            Kind::Score => match raw.replace(',', ".").parse::<f64>() {
                Ok(x) if x.is_finite() => serde_json::json!(x),
                _ => {
                    errors.push((key.to_string(), t.s("policy.not_a_score").to_string()));
                    continue;
                }
            },
            Kind::Count => match raw.parse::<u32>() {
                Ok(x) => serde_json::json!(x),
                Err(_) => {
                    errors.push((key.to_string(), t.s("policy.not_a_count").to_string()));
                    continue;
                }
            },
            Kind::Flag => Value::Bool(raw == "on"),
            Kind::Text => Value::String(raw.to_string()),
            Kind::Lines => Value::Array(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| Value::String(l.to_string()))
                    .collect(),
            ),
            Kind::Limits => {
                let mut rules = Vec::new();
                for (i, line) in raw.lines().map(str::trim).enumerate() {
                    if line.is_empty() {
                        continue;
                    }
                    match parse_limit(line) {
                        Some(r) => rules.push(r),
                        None => errors.push((
                            key.to_string(),
                            format!(
                                "{} {} ({line:?}): {}",
                                t.s("policy.line"),
                                i + 1,
                                t.s("policy.not_a_limit")
                            ),
                        )),
                    }
                }
                serde_json::to_value(rules).unwrap_or_default()
            }
        };
        set(&mut v, key, value);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value(v).map_err(|e| vec![("policy".into(), e.to_string())])
}

/// The form field a domain problem belongs to: `policy.field_limits.name_max` -> `field_limits.name_max`,
/// `policy.blocked_terms[2]` -> `blocked_terms`, `policy.rate_limits[1].burst` -> `rate_limits`.
fn field_of(path: &str) -> &'static str {
    let p = path.strip_prefix("policy.").unwrap_or(path);
    FIELDS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| {
            p == *k
                || p.strip_prefix(k)
                    .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'))
        })
        .max_by_key(|k| k.len())
        .unwrap_or("")
}

async fn save(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_ops_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let site = f.get("site").trim().to_string();
    let expected: u64 = f.get("version").parse().unwrap_or(0);
    let (view, global) = match views(&deps, t, &site).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let clear: Vec<String> = f.all("follow").map(str::to_string).collect();
    let mut rows = rows(t, &site, &view, &global.policy);
    // The form's values, shown again as typed whatever happens next, with what the page first showed.
    for r in &mut rows {
        r.value = f.get(r.key).to_string();
        r.checked = f.get(r.key) == "on";
        r.was = f.get(&format!("was.{}", r.key)).to_string();
    }
    let mut version = expected;
    let mut flash = Flash {
        text: t.s("policy.invalid").to_string(),
        error: true,
    };
    let errors = match candidate(t, &view.policy, &f) {
        Err(errors) => errors,
        Ok(c) => {
            match deps
                .policies
                .update(&site, c.clone(), expected, &clear, &ctx.session.name)
                .await
            {
                Ok(v) => {
                    ctx.flash("policy.saved", v.policy.version.to_string(), false);
                    if let Err(r) = ctx.save(&deps).await {
                        return r;
                    }
                    return redirect("/console/policy", &[("site", &site)]);
                }
                Err(PolicyError::Invalid(e)) => e,
                Err(PolicyError::Conflict { current }) => {
                    // Saved again, the form applies the fields edited here over what is stored now.
                    version = current;
                    let who = last_change(&deps, t, &site).await;
                    flash.text = format!("{} (v{current}) {who}", t.s("policy.conflict"));
                    // Beside each field: what is stored now, where it changed since the page was shown.
                    let now = serde_json::to_value(&*view.policy).unwrap_or_default();
                    for (r, &(key, kind)) in rows.iter_mut().zip(FIELDS) {
                        let stored = form_text(kind, at(&now, key));
                        if !same(&stored, &r.was) {
                            r.now = words_of(t, kind, at(&now, key));
                            // Saved again, the form compares with what is stored now.
                            r.was = stored;
                        }
                    }
                    Vec::new()
                }
                Err(PolicyError::Store(e)) => return super::store_error(t, &e.to_string()),
                Err(e) => vec![("model_version".into(), e.to_string())],
            }
        }
    };
    for (path, message) in errors {
        let field = field_of(&path);
        let words = super::problem_words(t, &message);
        match rows.iter_mut().find(|r| r.key == field) {
            Some(r) if r.error.is_empty() => r.error = words,
            Some(r) => {
                r.error.push_str("; ");
                r.error.push_str(&words);
            }
            None => {
                flash.text.push(' ');
                flash.text.push_str(&words);
            }
        }
    }
    // The flash names the fields to look at (the form is long).
    let named: Vec<String> = rows
        .iter()
        .filter(|r| !r.error.is_empty() || !r.now.is_empty())
        .map(|r| r.label.to_string())
        .collect();
    if !named.is_empty() {
        flash.text = format!("{} ({})", flash.text, named.join(", "));
    }
    let page = PolicyPage {
        nav: Some(ctx.nav("policy")),
        t,
        lang: t.lang.code(),
        csrf: ctx.session.csrf.clone(),
        site,
        flash: Some(flash),
        version,
        global_version: view.global_version,
        rows,
    };
    match page.render() {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, axum::response::Html(html)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// "— X YYYY-MM-DD HH:MM · what" of the latest policy change for `site` (empty: the global default), from the
/// audit log.
pub(super) async fn last_change(deps: &Deps, t: T, site: &str) -> String {
    let mut q = AuditQuery {
        site: site.to_string(),
        page_size: 500,
        ..AuditQuery::default()
    };
    let mut last = None;
    while let Ok(p) = deps.audit.list(&q).await {
        if let Some(e) = p
            .entries
            .iter()
            .rev()
            .find(|e| e.action == action::POLICY_UPDATE)
        {
            last = Some(e.clone());
        }
        if p.next_page_token.is_empty() {
            break;
        }
        q.page_token = p.next_page_token;
    }
    match last {
        Some(e) => format!(
            "— {} {} · {}",
            e.actor,
            deps.zone.show(e.at_ms),
            change_words(t, &e.detail)
        ),
        None => String::new(),
    }
}

/// A policy change's audit detail in words: the fields a site now sets, by their labels.
fn change_words(t: T, detail: &str) -> String {
    match detail.strip_prefix("overrides: ") {
        Some("") => t.s("policy.change_none").to_string(),
        Some(fields) => {
            let labels: Vec<String> = fields
                .split(", ")
                .map(|f| {
                    // An override names a top-level field; field_limits stands for its three.
                    FIELDS
                        .iter()
                        .map(|(k, _)| *k)
                        .find(|k| *k == f || k.starts_with(&format!("{f}.")))
                        .map_or_else(|| f.to_string(), |k| t.s(label_key(top(k))).to_string())
                })
                .collect();
            format!("{} {}", t.s("policy.change_own"), labels.join(", "))
        }
        None if detail == "global default replaced" => t.s("policy.change_global").to_string(),
        None => detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_reads_back_as_written() {
        let r = LimitRule::new(Descriptor::Author, 3, 600, 2);
        assert_eq!(limit_text(&r), "author 3/600s burst 2");
        assert_eq!(parse_limit(&limit_text(&r)), Some(r));
        let shadow = LimitRule {
            shadow: true,
            ..LimitRule::new(Descriptor::Site, 100, 60, 50)
        };
        assert_eq!(parse_limit("site 100/60 50 shadow"), Some(shadow));
        // Read as written; whether a descriptor may limit submissions is the domain's to say.
        assert_eq!(
            parse_limit("captcha_client 1/1s burst 1").map(|r| r.descriptor),
            Some(Descriptor::CaptchaClient)
        );
        for bad in [
            "",
            "ip 3/600s burst 2",
            "author 3/600s",
            "author x/600s burst 2",
            "author 3/600s burst 2 loud",
        ] {
            assert_eq!(parse_limit(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_change_is_told_in_the_fields_labels() {
        use crate::console::i18n::Lang;
        let t = T { lang: Lang::En };
        assert_eq!(
            change_words(t, "overrides: approve_below, field_limits"),
            "the site now sets: Publish below score, Field length limits"
        );
        assert_eq!(
            change_words(t, "overrides: "),
            "the site follows the global default again"
        );
        assert_eq!(
            change_words(t, "global default replaced"),
            "the global default changed"
        );
    }

    #[test]
    fn domain_problems_land_on_their_field() {
        assert_eq!(field_of("policy.approve_below"), "approve_below");
        assert_eq!(
            field_of("policy.field_limits.name_max"),
            "field_limits.name_max"
        );
        assert_eq!(field_of("policy.rate_limits[1].burst"), "rate_limits");
        assert_eq!(field_of("policy.blocked_terms[0]"), "blocked_terms");
        assert_eq!(field_of("policy"), "");
    }

    #[test]
    fn every_field_has_a_label_and_a_help_in_both_languages() {
        use crate::console::i18n::{EN, VI};
        for (key, _) in FIELDS {
            for cat in [VI, EN] {
                for prefix in ["policy.f.", "policy.h."] {
                    let k = format!("{prefix}{key}");
                    assert!(cat.iter().any(|(c, _)| *c == k), "{k} missing");
                }
            }
        }
    }
}
