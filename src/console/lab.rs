//! The threshold lab (ops): the site's recent scores split by moderator label as a histogram drawn here as SVG,
//! with the current and the candidate thresholds on it; SimulatePolicy's counts before and after; and applying the
//! candidate with one click (audited, fenced by the policy version the page showed).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::i18n::T;
use super::{
    Deps, Fields, Flash, Nav, redirect, render, signed_in_ops, signed_in_ops_form, store_error,
};
use crate::policy::PolicyError;
use crate::policy::lab::{HISTOGRAM_BINS, Histogram, Simulation};

pub(super) fn routes() -> Router<Deps> {
    Router::new()
        .route("/console/lab", get(page))
        .route("/console/lab/apply", post(apply))
}

/// One row of the before/after table.
struct CountRow {
    label: &'static str,
    before: u64,
    after: u64,
    delta: String,
}

#[derive(Template)]
#[template(path = "console/lab.html")]
struct LabPage {
    nav: Option<Nav>,
    t: T,
    lang: &'static str,
    csrf: String,
    site: String,
    flash: Option<Flash>,
    version: u64,
    current_approve: String,
    current_reject: String,
    approve: String,
    reject: String,
    approve_error: String,
    reject_error: String,
    svg: String,
    rows: Vec<CountRow>,
    submissions: u64,
    labelled: u64,
    workload: String,
    /// The candidate is a valid policy: the apply button is shown.
    can_apply: bool,
}

#[derive(Deserialize, Default)]
struct LabQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    approve: String,
    #[serde(default)]
    reject: String,
}

fn parse_threshold(s: &str) -> Option<f32> {
    s.trim()
        .replace(',', ".")
        .parse::<f32>()
        .ok()
        .filter(|x| x.is_finite())
}

fn signed(d: i64) -> String {
    if d > 0 {
        format!("+{d}")
    } else {
        d.to_string()
    }
}

/// The histogram as an SVG image: stacked bars per label, the current thresholds dashed, the candidate solid.
pub fn histogram_svg(t: T, h: &Histogram, current: (f32, f32), candidate: (f32, f32)) -> String {
    use std::fmt::Write as _;
    const W: f32 = 640.0;
    const H: f32 = 240.0;
    const L: f32 = 44.0;
    const R: f32 = 12.0;
    const TOP: f32 = 28.0;
    const B: f32 = 36.0;
    let pw = W - L - R;
    let ph = H - TOP - B;
    let max = h
        .bins
        .iter()
        .map(|b| b.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1)
        .div_ceil(4)
        * 4;
    let colors = ["#a4161a", "#7b2cbf", "#0d6b2f", "#8a94a3"];
    let names = [
        t.s("lab.series.spam"),
        t.s("lab.series.abusive"),
        t.s("lab.series.ham"),
        t.s("lab.series.unlabelled"),
    ];
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="hist-title" font-family="Noto Sans, DejaVu Sans, sans-serif" font-size="12"><title id="hist-title">{}</title>"#,
        esc(t.s("lab.chart"))
    );
    // Axes and gridlines.
    for k in 0..=4 {
        let y = TOP + ph - ph * k as f32 / 4.0;
        let v = (max as f32 * k as f32 / 4.0).round() as u64;
        let _ = write!(
            s,
            r##"<line x1="{L}" x2="{}" y1="{y}" y2="{y}" stroke="#d5dae1"/><text x="{}" y="{}" text-anchor="end" fill="#1b1f24">{v}</text>"##,
            L + pw,
            L - 6.0,
            y + 4.0
        );
    }
    let bw = pw / HISTOGRAM_BINS as f32;
    for (i, bin) in h.bins.iter().enumerate() {
        let mut y = TOP + ph;
        for (k, n) in bin.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let hgt = ph * *n as f32 / max as f32;
            y -= hgt;
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{hgt:.1}" fill="{}"><title>{}: {n}</title></rect>"#,
                L + bw * i as f32 + 1.0,
                bw - 2.0,
                colors[k],
                esc(names[k])
            );
        }
    }
    for k in 0..=4 {
        let x = L + pw * k as f32 / 4.0;
        let _ = write!(
            s,
            r##"<text x="{x}" y="{}" text-anchor="middle" fill="#1b1f24">{:.2}</text>"##,
            TOP + ph + 16.0,
            k as f32 / 4.0
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#1b1f24">{}</text>"##,
        L + pw / 2.0,
        H - 4.0,
        esc(t.s("lab.axis"))
    );
    // Thresholds.
    let line = |s: &mut String, v: f32, dashed: bool, color: &str, name: &str| {
        let x = L + pw * v.clamp(0.0, 1.0);
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="{color}" stroke-width="2.5"{dash}><title>{}</title></line>"#,
            TOP + ph,
            esc(name)
        );
    };
    line(
        &mut s,
        current.0,
        true,
        "#1b1f24",
        t.s("lab.current_approve"),
    );
    line(
        &mut s,
        current.1,
        true,
        "#1b1f24",
        t.s("lab.current_reject"),
    );
    line(
        &mut s,
        candidate.0,
        false,
        "#0b4f9c",
        t.s("lab.candidate_approve"),
    );
    line(
        &mut s,
        candidate.1,
        false,
        "#0b4f9c",
        t.s("lab.candidate_reject"),
    );
    // Legend.
    let mut x = L;
    for (k, name) in names.iter().enumerate() {
        let _ = write!(
            s,
            r##"<rect x="{x}" y="6" width="12" height="12" fill="{}"/><text x="{}" y="16" fill="#1b1f24">{}</text>"##,
            colors[k],
            x + 16.0,
            esc(name)
        );
        x += 16.0 + 7.0 * name.chars().count() as f32 + 14.0;
    }
    let _ = write!(
        s,
        r##"<line x1="{x}" x2="{}" y1="12" y2="12" stroke="#1b1f24" stroke-width="2.5" stroke-dasharray="6 4"/><text x="{}" y="16" fill="#1b1f24">{}</text>"##,
        x + 22.0,
        x + 26.0,
        esc(t.s("lab.legend_current"))
    );
    let x = x + 26.0 + 7.0 * t.s("lab.legend_current").chars().count() as f32 + 14.0;
    let _ = write!(
        s,
        r##"<line x1="{x}" x2="{}" y1="12" y2="12" stroke="#0b4f9c" stroke-width="2.5"/><text x="{}" y="16" fill="#1b1f24">{}</text></svg>"##,
        x + 22.0,
        x + 26.0,
        esc(t.s("lab.legend_candidate"))
    );
    s
}

async fn page(State(deps): State<Deps>, headers: HeaderMap, Query(q): Query<LabQuery>) -> Response {
    let mut ctx = match signed_in_ops(&deps, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let site = ctx.site_or_current(&q.site);
    let flash = ctx.take_flash();
    let (field_errors, kept_values) = ctx.state.lab_errors.take().unwrap_or_default();
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    let mut page = LabPage {
        nav: Some(ctx.nav("lab")),
        t,
        lang: t.lang.code(),
        csrf: ctx.session.csrf.clone(),
        site: site.clone(),
        flash,
        version: 0,
        current_approve: String::new(),
        current_reject: String::new(),
        approve: String::new(),
        reject: String::new(),
        approve_error: String::new(),
        reject_error: String::new(),
        svg: String::new(),
        rows: Vec::new(),
        submissions: 0,
        labelled: 0,
        workload: String::new(),
        can_apply: false,
    };
    if !site.is_empty() {
        let mut v = crate::validate::Violations::default();
        v.site("site", &site);
        if let Err(e) = v.finish() {
            page.flash = Some(Flash {
                text: format!("{} {e}", t.s("error.invalid")),
                error: true,
            });
            page.site.clear();
            return render(page);
        }
        let view = match deps.policies.view(&site).await {
            Ok(v) => v,
            Err(e) => return store_error(t, &e.to_string()),
        };
        let cur = (view.policy.approve_below, view.policy.reject_at);
        page.version = view.policy.version;
        page.current_approve = super::score_text(f64::from(cur.0));
        page.current_reject = super::score_text(f64::from(cur.1));
        let (qa, qr) = match &kept_values {
            Some((a, r)) => (a.clone(), r.clone()),
            None => (q.approve.clone(), q.reject.clone()),
        };
        page.approve = if qa.is_empty() {
            page.current_approve.clone()
        } else {
            qa
        };
        page.reject = if qr.is_empty() {
            page.current_reject.clone()
        } else {
            qr
        };
        for (f, m) in &field_errors {
            if f.ends_with("approve_below") {
                page.approve_error.clone_from(m);
            } else if f.ends_with("reject_at") {
                page.reject_error.clone_from(m);
            }
        }
        let cand = (
            parse_threshold(&page.approve),
            parse_threshold(&page.reject),
        );
        if cand.0.is_none() {
            page.approve_error = t.s("lab.not_a_number").to_string();
        }
        if cand.1.is_none() {
            page.reject_error = t.s("lab.not_a_number").to_string();
        }
        let cand = (cand.0.unwrap_or(cur.0), cand.1.unwrap_or(cur.1));
        let hist = match deps.policies.score_histogram(&site, 0).await {
            Ok(h) => h,
            Err(e) => return super::domain_error(t, e),
        };
        page.svg = histogram_svg(t, &hist, cur, cand);
        let mut candidate = (*view.policy).clone();
        candidate.approve_below = cand.0;
        candidate.reject_at = cand.1;
        // The domain's own check: a pair it would refuse is still simulated, but offers nothing to apply.
        let mut problems = Vec::new();
        candidate.problems("policy", &mut problems);
        for p in &problems {
            let (field, message) = p.split_once(": ").unwrap_or(("", p));
            let words = super::problem_words(t, message);
            if field == "policy.approve_below" && page.approve_error.is_empty() {
                page.approve_error = words;
            } else if field == "policy.reject_at" && page.reject_error.is_empty() {
                page.reject_error = words;
            }
        }
        page.can_apply =
            problems.is_empty() && page.approve_error.is_empty() && page.reject_error.is_empty();
        match deps.policies.simulate(&site, &candidate, 0).await {
            Ok(sim) => fill_counts(&mut page, t, &sim),
            Err(PolicyError::Store(e)) => return store_error(t, &e.to_string()),
            Err(e) => return super::domain_error(t, e),
        }
    }
    render(page)
}

fn fill_counts(page: &mut LabPage, t: T, sim: &Simulation) {
    let (a, b) = (&sim.current, &sim.candidate);
    let row = |key: &str, before: u64, after: u64| CountRow {
        label: t.get(key).unwrap_or("?"),
        before,
        after,
        delta: signed(after as i64 - before as i64),
    };
    page.rows = vec![
        row("lab.published", a.published, b.published),
        row("lab.held", a.pending, b.pending),
        row("lab.rejected", a.rejected, b.rejected),
        row(
            "lab.spam_published",
            a.labelled_spam_published,
            b.labelled_spam_published,
        ),
        row(
            "lab.ham_rejected",
            a.labelled_ham_rejected,
            b.labelled_ham_rejected,
        ),
    ];
    page.submissions = sim.submissions;
    page.labelled = sim.labelled;
    page.workload = signed(sim.review_queue_delta());
}

fn back(site: &str, approve: &str, reject: &str) -> Response {
    redirect(
        "/console/lab",
        &[("site", site), ("approve", approve), ("reject", reject)],
    )
}

async fn apply(State(deps): State<Deps>, headers: HeaderMap, Form(f): Form<Fields>) -> Response {
    let mut ctx = match signed_in_ops_form(&deps, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = ctx.t();
    let site = f.get("site").to_string();
    let (approve, reject) = (f.get("approve").to_string(), f.get("reject").to_string());
    let expected: u64 = f.get("version").parse().unwrap_or(0);
    let view = match deps.policies.view(&site).await {
        Ok(v) => v,
        Err(e) => return store_error(t, &e.to_string()),
    };
    let mut candidate = (*view.policy).clone();
    let mut errors = Vec::new();
    match parse_threshold(&approve) {
        Some(x) => candidate.approve_below = x,
        None => errors.push((
            "approve_below".to_string(),
            t.s("lab.not_a_number").to_string(),
        )),
    }
    match parse_threshold(&reject) {
        Some(x) => candidate.reject_at = x,
        None => errors.push(("reject_at".to_string(), t.s("lab.not_a_number").to_string())),
    }
    if errors.is_empty() {
        match deps
            .policies
            .update(&site, candidate, expected, &[], &ctx.session.name)
            .await
        {
            Ok(v) => ctx.flash("lab.applied", format!("v{}", v.policy.version), false),
            Err(PolicyError::Invalid(e)) => {
                errors = e
                    .into_iter()
                    .map(|(f, m)| {
                        let words = super::problem_words(t, &m);
                        (f, words)
                    })
                    .collect()
            }
            Err(PolicyError::Conflict { current }) => {
                let who = super::policy::last_change(&deps, t, &site).await;
                ctx.flash("lab.conflict", format!("(v{current}) {who}"), true);
            }
            Err(PolicyError::Store(e)) => return store_error(t, &e.to_string()),
            Err(e) => ctx.flash("queue.error", e.to_string(), true),
        }
    }
    if !errors.is_empty() {
        ctx.flash("lab.invalid", "", true);
        ctx.state.lab_errors = Some((errors, Some((approve.clone(), reject.clone()))));
    }
    if let Err(r) = ctx.save(&deps).await {
        return r;
    }
    back(&site, &approve, &reject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    #[test]
    fn the_histogram_is_one_well_formed_svg_with_four_threshold_lines() {
        let h = Histogram {
            bins: (0..HISTOGRAM_BINS as u64).map(|i| [i, 1, 2, 0]).collect(),
        };
        let svg = histogram_svg(T { lang: Lang::Vi }, &h, (0.5, 0.9), (0.3, 0.8));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(
            svg.matches("stroke-width=\"2.5\"").count(),
            6,
            "4 thresholds + 2 legend lines"
        );
        assert!(svg.contains("<title id=\"hist-title\">"));
        assert!(!svg.contains("NaN"));
    }
}
