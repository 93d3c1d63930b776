//! AdminService: live per-site policy with optimistic concurrency, the threshold lab, dry-run scoring and model
//! activation.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{ApiError, Violations, convert, record_site};
use crate::auth::caller;
use crate::comment::{FieldLimits, Policy, classify, clean_text, normalize_phone};
use crate::policy::{Policies, PolicyError, simulate};
use crate::proto;
use crate::proto::admin_service_server::AdminService;
use crate::proto::{
    ActivateModelRequest, ActivateModelResponse, ClassifyRequest, ClassifyResponse,
    GetBootstrapStatusRequest, GetBootstrapStatusResponse, GetPolicyRequest, GetPolicyResponse,
    ListModelsRequest, ListModelsResponse, ModelInfo, OutcomeCounts, RollbackModelRequest,
    SimulatePolicyRequest, SimulatePolicyResponse, UpdatePolicyRequest, UpdatePolicyResponse,
};
use crate::rate_limit::{Descriptor, LimitRule};
use crate::store::Store;

/// Most submissions one SimulatePolicy replays.
pub const SIMULATE_MAX: usize = 100_000;

/// The AdminService handlers.
#[derive(Clone)]
pub struct AdminApi {
    store: Arc<dyn Store>,
    policies: Policies,
    /// Captcha settings other than `required` are server-wide (configuration), reported with every policy.
    captcha: crate::captcha::Settings,
}

impl AdminApi {
    /// Handlers over `store` and `policies`; `captcha` is the server's captcha configuration.
    pub fn new(
        store: Arc<dyn Store>,
        policies: Policies,
        captcha: crate::captcha::Settings,
    ) -> Self {
        Self {
            store,
            policies,
            captcha,
        }
    }

    fn to_proto(&self, p: &Policy) -> proto::Policy {
        let mut out = policy_to_proto(p);
        let c = &self.captcha;
        out.captcha = Some(proto::CaptchaSettings {
            required: p.captcha_required,
            length: c.length,
            difficulty: c.difficulty,
            ttl_seconds: c.ttl_seconds,
            max_live_per_client: c.max_live_per_client,
        });
        out
    }

    /// Server-wide captcha fields may be left at 0 or sent back unchanged; anything else is refused rather
    /// than silently ignored.
    fn check_captcha(&self, p: &proto::Policy, v: &mut Violations) {
        let Some(c) = &p.captcha else { return };
        let s = &self.captcha;
        for (field, got, server) in [
            ("length", c.length, s.length),
            ("difficulty", c.difficulty, s.difficulty),
            ("ttl_seconds", c.ttl_seconds, s.ttl_seconds),
            (
                "max_live_per_client",
                c.max_live_per_client,
                s.max_live_per_client,
            ),
        ] {
            if got != 0 && got != server {
                v.add(
                    &format!("policy.captcha.{field}"),
                    format!("is server-wide ({server}); change captcha.{field} in the server configuration"),
                );
            }
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Invalid(v) => ApiError::InvalidArgument(v),
            PolicyError::Conflict { current } => ApiError::Aborted(format!(
                "the policy changed since you read it (now version {current}); read it again and retry"
            )),
            PolicyError::UnknownModel(v) => {
                ApiError::NotFound(format!("no model {v:?}; see ListModels"))
            }
            PolicyError::NoPrevious => {
                ApiError::NotFound("no previous model to roll back to".into())
            }
            PolicyError::Model(m) => ApiError::Internal(format!("model cannot be loaded: {m}")),
            PolicyError::Store(s) => s.into(),
        }
    }
}

fn descriptor_to_proto(d: Descriptor) -> proto::LimitDescriptor {
    match d {
        Descriptor::ClientIp => proto::LimitDescriptor::ClientIp,
        Descriptor::Author => proto::LimitDescriptor::Author,
        Descriptor::Thread => proto::LimitDescriptor::Thread,
        Descriptor::Site => proto::LimitDescriptor::Site,
        Descriptor::CaptchaClient => proto::LimitDescriptor::CaptchaClient,
    }
}

/// Domain policy to protobuf.
pub fn policy_to_proto(p: &Policy) -> proto::Policy {
    proto::Policy {
        version: p.version,
        approve_below: f64::from(p.approve_below),
        reject_at: f64::from(p.reject_at),
        premoderate_all: p.premoderate_all,
        captcha: Some(proto::CaptchaSettings {
            required: p.captcha_required,
            ..Default::default()
        }),
        rate_limits: p
            .rate_limits
            .iter()
            .map(|r| proto::RateLimit {
                descriptor: descriptor_to_proto(r.descriptor) as i32,
                requests: r.requests,
                period_seconds: r.period_seconds,
                burst: r.burst,
                shadow: r.shadow,
            })
            .collect(),
        blocked_terms: p.blocked_terms.clone(),
        suspect_terms: p.suspect_terms.clone(),
        field_limits: Some(proto::FieldLimits {
            name_max: p.field_limits.name_max,
            title_max: p.field_limits.title_max,
            body_max: p.field_limits.body_max,
        }),
        model_version: p.model_version.clone(),
        disable_lexicon: !p.use_lexicon,
        bootstrap_labels: p.bootstrap_labels,
    }
}

/// Protobuf policy to domain, on top of `base` (fields the wire does not carry are kept); every shape problem
/// is recorded in `v`.
pub fn policy_from_proto(p: proto::Policy, base: &Policy, v: &mut Violations) -> Policy {
    let mut out = base.clone();
    let finite = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
    if !finite(p.approve_below) {
        v.add("policy.approve_below", "must be a number between 0 and 1");
    }
    if !finite(p.reject_at) {
        v.add("policy.reject_at", "must be a number between 0 and 1");
    }
    out.approve_below = p.approve_below as f32;
    out.reject_at = p.reject_at as f32;
    out.premoderate_all = p.premoderate_all;
    out.captcha_required = p
        .captcha
        .map(|c| c.required)
        .unwrap_or(base.captcha_required);
    out.rate_limits = Vec::with_capacity(p.rate_limits.len());
    for (i, r) in p.rate_limits.into_iter().enumerate() {
        let d = match proto::LimitDescriptor::try_from(r.descriptor) {
            Ok(proto::LimitDescriptor::ClientIp) => Descriptor::ClientIp,
            Ok(proto::LimitDescriptor::Author) => Descriptor::Author,
            Ok(proto::LimitDescriptor::Thread) => Descriptor::Thread,
            Ok(proto::LimitDescriptor::Site) => Descriptor::Site,
            _ => {
                v.add(
                    &format!("policy.rate_limits[{i}].descriptor"),
                    "must be CLIENT_IP, AUTHOR, THREAD or SITE",
                );
                continue;
            }
        };
        out.rate_limits.push(LimitRule {
            descriptor: d,
            requests: r.requests,
            period_seconds: r.period_seconds,
            burst: r.burst,
            shadow: r.shadow,
        });
    }
    out.blocked_terms = p.blocked_terms;
    out.suspect_terms = p.suspect_terms;
    if let Some(f) = p.field_limits {
        out.field_limits = FieldLimits {
            name_max: f.name_max,
            title_max: f.title_max,
            body_max: f.body_max,
        };
    }
    out.model_version = p.model_version;
    out.use_lexicon = !p.disable_lexicon;
    out.bootstrap_labels = p.bootstrap_labels;
    out
}

/// Records every value problem of `p` (field paths under `at`), skipping fields already reported.
fn add_problems(p: &Policy, at: &str, v: &mut Violations) {
    let mut problems = Vec::new();
    p.problems(at, &mut problems);
    for problem in problems {
        match problem.split_once(": ") {
            Some((f, m)) => v.add_once(f, m),
            None => v.add_once(at, &problem),
        }
    }
}

fn site_or_global(v: &mut Violations, site: &str) {
    if !site.is_empty() {
        v.site("site", site);
    }
}

fn counts(o: &crate::policy::Outcomes) -> OutcomeCounts {
    OutcomeCounts {
        published: o.published,
        pending_review: o.pending,
        rejected: o.rejected,
        labelled_spam_published: o.labelled_spam_published,
        labelled_ham_rejected: o.labelled_ham_rejected,
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn get_policy(
        &self,
        request: Request<GetPolicyRequest>,
    ) -> Result<Response<GetPolicyResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        site_or_global(&mut v, &r.site);
        v.finish()?;
        record_site(&r.site);
        let (p, inherited) = self
            .policies
            .policy(&r.site)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(GetPolicyResponse {
            policy: Some(self.to_proto(&p)),
            inherited,
        }))
    }

    async fn update_policy(
        &self,
        request: Request<UpdatePolicyRequest>,
    ) -> Result<Response<UpdatePolicyResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        site_or_global(&mut v, &r.site);
        let Some(candidate) = r.policy else {
            v.add("policy", "is required");
            return Err(v
                .finish()
                .err()
                .unwrap_or(ApiError::Internal("unreachable".into()))
                .into());
        };
        let (base, _) = self
            .policies
            .policy(&r.site)
            .await
            .map_err(ApiError::from)?;
        self.check_captcha(&candidate, &mut v);
        let policy = policy_from_proto(candidate, &base, &mut v);
        add_problems(&policy, "policy", &mut v);
        v.finish()?;
        record_site(&r.site);
        let stored = self
            .policies
            .update(&r.site, policy, r.expected_version, &who)
            .await
            .map_err(ApiError::from)?;
        tracing::info!(who = %who, version = stored.version, "policy updated");
        Ok(Response::new(UpdatePolicyResponse {
            policy: Some(self.to_proto(&stored)),
        }))
    }

    async fn simulate_policy(
        &self,
        request: Request<SimulatePolicyRequest>,
    ) -> Result<Response<SimulatePolicyResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        let Some(candidate) = r.candidate else {
            v.add("candidate", "is required");
            return Err(v
                .finish()
                .err()
                .unwrap_or(ApiError::Internal("unreachable".into()))
                .into());
        };
        let (current, _) = self
            .policies
            .policy(&r.site)
            .await
            .map_err(ApiError::from)?;
        let candidate = policy_from_proto(candidate, &current, &mut v);
        add_problems(&candidate, "candidate", &mut v);
        v.finish()?;
        record_site(&r.site);
        let window_ms = u64::from(if r.window_seconds == 0 {
            7 * 86_400
        } else {
            r.window_seconds
        }) * 1000;
        let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
        let rows = self
            .store
            .recent(&r.site, now.saturating_sub(window_ms), SIMULATE_MAX)
            .await
            .map_err(ApiError::from)?;
        let (a, b) = simulate(&rows, &current, &candidate);
        Ok(Response::new(SimulatePolicyResponse {
            submissions: rows.len() as u64,
            labelled: rows.iter().filter(|(_, l)| l.is_some()).count() as u64,
            current: Some(counts(&a)),
            candidate: Some(counts(&b)),
            review_queue_delta: b.pending as i64 - a.pending as i64,
        }))
    }

    async fn classify(
        &self,
        request: Request<ClassifyRequest>,
    ) -> Result<Response<ClassifyResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.finish()?;
        record_site(&r.site);
        let (p, model) = self
            .policies
            .for_site(&r.site)
            .await
            .map_err(ApiError::from)?;
        let author = r.author.unwrap_or_default();
        let phone = normalize_phone(&author.phone).unwrap_or_default();
        let site_labels = self
            .policies
            .site_labels(&r.site, &p)
            .await
            .map_err(ApiError::from)?;
        let (score, status, reasons) = classify(
            &p,
            &model,
            site_labels,
            &clean_text(&author.name),
            &phone,
            &clean_text(&r.title),
            &clean_text(&r.body),
            crate::combiner::invisible_count(&[&author.name, &r.title, &r.body]),
        );
        Ok(Response::new(ClassifyResponse {
            status: convert::status(status) as i32,
            score: f64::from(score),
            reasons: reasons.iter().map(convert::reason).collect(),
            model_version: model.version().to_string(),
            policy_version: p.version,
        }))
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let active = self.policies.active_where().await.map_err(ApiError::from)?;
        let mut models = Vec::new();
        for (version, dir) in self.policies.list_artifacts() {
            let card: serde_json::Value = std::fs::read_to_string(dir.join("card.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            let mut metrics = std::collections::HashMap::new();
            if let Some(m) = card.get("metrics").and_then(|m| m.as_object()) {
                for (k, val) in m {
                    if let Some(x) = val.as_f64() {
                        metrics.insert(k.clone(), x);
                    }
                }
            }
            let num = |path: &[&str]| {
                let mut c = &card;
                for p in path {
                    c = c.get(*p).unwrap_or(&serde_json::Value::Null);
                }
                c.as_f64().unwrap_or(0.0)
            };
            models.push(ModelInfo {
                version: version.clone(),
                created_at: None,
                training_data: card
                    .get("training")
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                metrics,
                recommended_reject_at: num(&["thresholds", "auto_reject"]),
                recommended_approve_below: num(&["thresholds", "auto_approve"]),
                active_for: active.get(&version).cloned().unwrap_or_default(),
            });
        }
        Ok(Response::new(ListModelsResponse { models }))
    }

    async fn activate_model(
        &self,
        request: Request<ActivateModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        site_or_global(&mut v, &r.site);
        if r.version.is_empty() {
            v.add("version", "is required (see ListModels)");
        }
        v.finish()?;
        let (previous, active) = self
            .policies
            .activate(&r.site, &r.version, &who)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ActivateModelResponse {
            previous_version: previous,
            active_version: active,
        }))
    }

    async fn get_bootstrap_status(
        &self,
        request: Request<GetBootstrapStatusRequest>,
    ) -> Result<Response<GetBootstrapStatusResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.finish()?;
        record_site(&r.site);
        let (p, _) = self
            .policies
            .policy(&r.site)
            .await
            .map_err(ApiError::from)?;
        let labels = self
            .store
            .label_count(&r.site)
            .await
            .map_err(ApiError::from)?;
        let required = p.bootstrap_labels;
        let ready = required > 0 && labels >= u64::from(required);
        let site = &r.site;
        let next_steps = if required == 0 {
            vec![format!(
                "bootstrap mode is off for {site}; turn it on with: moderato policy set --site {site} --bootstrap-labels 200"
            )]
        } else if !ready {
            vec![format!(
                "moderators label {} more comments with: moderato review claim --site {site} / moderato review decide ...",
                u64::from(required) - labels
            )]
        } else {
            vec![
                format!("moderato labels export --site {site} --out {site}-labels.csv"),
                format!(
                    "moderato bootstrap train --site {site} --labels {site}-labels.csv --out models/{site}-site"
                ),
                format!(
                    "moderato model activate --site {site} --version <version printed by the train step>"
                ),
                format!("moderato policy set --site {site} --bootstrap-labels 0"),
            ]
        };
        Ok(Response::new(GetBootstrapStatusResponse {
            labels,
            required,
            ready,
            next_steps,
        }))
    }

    async fn rollback_model(
        &self,
        request: Request<RollbackModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        site_or_global(&mut v, &r.site);
        v.finish()?;
        let (previous, active) = self
            .policies
            .rollback(&r.site, &who)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ActivateModelResponse {
            previous_version: previous,
            active_version: active,
        }))
    }
}
