//! AdminService: live per-site policy with optimistic concurrency, the threshold lab, dry-run scoring and model
//! activation.

use tonic::{Request, Response, Status};

use crate::clock::Clock;

use super::{ApiError, Violations, convert, record_site};
use crate::audit::{AuditQuery, AuditService};
use crate::auth::caller;
use crate::comment::{Comments, DryRun};
use crate::policy::Policies;
use crate::policy::document::{FieldLimits, Policy};
use crate::policy::lab::Outcomes;
use crate::privacy::Privacy;
use crate::proto;
use crate::proto::admin_service_server::AdminService;
use crate::proto::{
    ActivateModelRequest, ActivateModelResponse, ClassifyRequest, ClassifyResponse,
    GetBootstrapStatusRequest, GetBootstrapStatusResponse, GetPolicyRequest, GetPolicyResponse,
    ListAuditEntriesRequest, ListAuditEntriesResponse, ListModelsRequest, ListModelsResponse,
    ModelInfo, OutcomeCounts, RollbackModelRequest, SimulatePolicyRequest, SimulatePolicyResponse,
    UpdatePolicyRequest, UpdatePolicyResponse,
};
use crate::proto::{
    EraseAuthorRequest, EraseAuthorResponse, ExportAuthorRequest, ExportAuthorResponse,
    GetWebhookRequest, GetWebhookResponse, ListWebhookDeadLettersRequest,
    ListWebhookDeadLettersResponse, RotateWebhookSecretRequest, SetWebhookRequest,
    WebhookDeadLetter, WebhookSecretResponse,
};
use crate::rate_limit::{Descriptor, LimitRule};
use crate::webhook::{Shown, Webhooks};

/// The AdminService handlers.
#[derive(Clone)]
pub struct AdminApi {
    audit: AuditService,
    privacy: Privacy,
    comments: Comments,
    policies: Policies,
    /// Captcha settings other than `required` are server-wide (configuration), reported with every policy.
    captcha: crate::captcha::Settings,
    /// Per-site webhooks.
    webhooks: Option<Webhooks>,
}

impl AdminApi {
    /// Handlers over `comments` (dry-run scoring) and `policies`; `captcha` is the server's captcha
    /// configuration.
    pub fn new(comments: Comments, policies: Policies, captcha: crate::captcha::Settings) -> Self {
        Self {
            audit: AuditService::new(comments.store.clone()),
            privacy: Privacy::new(
                comments.store.clone(),
                comments.ids.clone(),
                comments.announcer.clone(),
            ),
            comments,
            policies,
            captcha,
            webhooks: None,
        }
    }

    /// Serves the webhook RPCs through `webhooks`.
    pub fn with_webhooks(mut self, webhooks: Webhooks) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    fn webhooks(&self) -> Result<&Webhooks, Status> {
        self.webhooks.as_ref().ok_or_else(|| {
            ApiError::FailedPrecondition("webhooks are not served here".into()).into()
        })
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

/// A timestamp filter as epoch ms (unset: 0); a negative or out-of-range instant is a violation.
fn instant_ms(v: &mut Violations, field: &str, t: Option<&pbjson_types::Timestamp>) -> u64 {
    let Some(t) = t else { return 0 };
    if t.seconds < 0 || !(0..1_000_000_000).contains(&t.nanos) {
        v.add(field, "must be an instant after 1970-01-01T00:00:00Z");
        return 0;
    }
    (t.seconds as u64)
        .saturating_mul(1000)
        .saturating_add(t.nanos as u64 / 1_000_000)
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
        premoderation_auto_reject: p.premoderation_auto_reject,
        retention_days: p.retention_days,
        idempotency_ttl_seconds: p.idempotency_ttl_seconds,
        allowed_domains: p.allowed_domains.clone(),
        denied_domains: p.denied_domains.clone(),
        trusted_after_approvals: p.trusted_after_approvals,
        trust_clean_days: p.trust_clean_days,
        premoderate_new_authors: p.premoderate_new_authors,
        disable_campaigns: !p.detect_campaigns,
        campaign_authors: p.campaign_authors,
        campaign_window_hours: p.campaign_window_hours,
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
    out.premoderation_auto_reject = p.premoderation_auto_reject;
    out.allowed_domains = p.allowed_domains;
    out.denied_domains = p.denied_domains;
    out.trusted_after_approvals = p.trusted_after_approvals;
    out.premoderate_new_authors = p.premoderate_new_authors;
    out.detect_campaigns = !p.disable_campaigns;
    if p.campaign_authors != 0 {
        out.campaign_authors = p.campaign_authors;
    }
    if p.campaign_window_hours != 0 {
        out.campaign_window_hours = p.campaign_window_hours;
    }
    if p.trust_clean_days != 0 {
        out.trust_clean_days = p.trust_clean_days;
    }
    if p.retention_days != 0 {
        out.retention_days = p.retention_days;
    }
    if p.idempotency_ttl_seconds != 0 {
        out.idempotency_ttl_seconds = p.idempotency_ttl_seconds;
    }
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
    v.site_or_global("site", site);
}

fn counts(o: &Outcomes) -> OutcomeCounts {
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
    async fn list_audit_entries(
        &self,
        request: Request<ListAuditEntriesRequest>,
    ) -> Result<Response<ListAuditEntriesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let since_ms = instant_ms(&mut v, "since", r.since.as_ref());
        let until_ms = instant_ms(&mut v, "until", r.until.as_ref());
        v.finish()?;
        record_site(&r.site);
        let page = self
            .audit
            .list(&AuditQuery {
                site: r.site,
                actor: r.actor,
                comment_id: r.comment_id,
                since_ms,
                until_ms,
                page_size: r.page_size,
                page_token: r.page_token,
            })
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ListAuditEntriesResponse {
            entries: page
                .entries
                .into_iter()
                .map(|e| proto::AuditEntry {
                    site: e.site,
                    at: Some(crate::clock::timestamp(e.at_ms)),
                    actor: e.actor,
                    action: e.action,
                    comment_id: e.comment_id,
                    before: e.before,
                    after: e.after,
                    label: e.label,
                    note: e.note,
                    detail: e.detail,
                })
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_policy(
        &self,
        request: Request<GetPolicyRequest>,
    ) -> Result<Response<GetPolicyResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        site_or_global(&mut v, &r.site);
        v.finish()?;
        record_site(&r.site);
        let view = self.policies.view(&r.site).await.map_err(ApiError::from)?;
        Ok(Response::new(GetPolicyResponse {
            policy: Some(self.to_proto(&view.policy)),
            inherited: view.inherited,
            overridden_fields: view.overridden,
            global_version: view.global_version,
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
            return Err(v.into_invalid().into());
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
        let updated = self
            .policies
            .update(
                &r.site,
                policy,
                r.expected_version,
                &r.clear_overrides,
                &who,
            )
            .await
            .map_err(ApiError::from)?;
        tracing::info!(who = %who, version = updated.policy.version, overridden = ?updated.overridden, "policy updated");
        Ok(Response::new(UpdatePolicyResponse {
            policy: Some(self.to_proto(&updated.policy)),
            overridden_fields: updated.overridden,
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
            return Err(v.into_invalid().into());
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
        let sim = self
            .policies
            .simulate(&r.site, &candidate, r.window_seconds)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(SimulatePolicyResponse {
            submissions: sim.submissions,
            labelled: sim.labelled,
            current: Some(counts(&sim.current)),
            candidate: Some(counts(&sim.candidate)),
            review_queue_delta: sim.review_queue_delta(),
        }))
    }

    async fn classify(
        &self,
        request: Request<ClassifyRequest>,
    ) -> Result<Response<ClassifyResponse>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let author = r.author.unwrap_or_default();
        let DryRun {
            score,
            status,
            reasons,
            model_version,
            policy_version,
        } = self
            .comments
            .dry_run(&r.site, &author.name, &author.phone, &r.title, &r.body)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ClassifyResponse {
            status: convert::status(status) as i32,
            score: f64::from(score),
            reasons: reasons.iter().map(convert::reason).collect(),
            model_version,
            policy_version,
        }))
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let models = self.policies.models().await.map_err(ApiError::from)?;
        Ok(Response::new(ListModelsResponse {
            models: models
                .into_iter()
                .map(|m| ModelInfo {
                    version: m.version,
                    created_at: m.created_ms.map(crate::clock::timestamp),
                    training_data: m.training,
                    metrics: m.metrics.into_iter().collect(),
                    recommended_reject_at: m.recommended.0,
                    recommended_approve_below: m.recommended.1,
                    active_for: m.active_for,
                    activatable: m.problem.is_none(),
                    problem: m.problem.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn activate_model(
        &self,
        request: Request<ActivateModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
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
        let b = self
            .policies
            .bootstrap_status(&r.site)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(GetBootstrapStatusResponse {
            labels: b.labels,
            required: b.required,
            ready: b.ready,
            next_steps: b.next_steps,
        }))
    }

    async fn erase_author(
        &self,
        request: Request<EraseAuthorRequest>,
    ) -> Result<Response<EraseAuthorResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
        let (scope, selector) = super::privacy::target(&r.site, r.author.as_ref())?;
        let max = (r.max_batches > 0).then_some(r.max_batches as usize);
        let report = self
            .privacy
            .erase(&scope, &selector, &who, max)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(EraseAuthorResponse {
            tombstone: report.tombstone.clone(),
            records_erased: report.total(),
            sites: report.sites.iter().map(|(s, _)| s.clone()).collect(),
            complete: report.complete,
        }))
    }

    type ExportAuthorStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<ExportAuthorResponse, Status>> + Send>,
    >;

    async fn export_author(
        &self,
        request: Request<ExportAuthorRequest>,
    ) -> Result<Response<Self::ExportAuthorStream>, Status> {
        let r = request.into_inner();
        let (scope, selector) = super::privacy::target(&r.site, r.author.as_ref())?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let privacy = self.privacy.clone();
        tokio::spawn(async move {
            if let Err(e) = privacy.export(&scope, &selector, tx.clone()).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(tokio_stream::StreamExt::map(
            stream,
            |item| match item {
                Ok(e) => serde_json::to_string(&e)
                    .map(|json| ExportAuthorResponse { json })
                    .map_err(|e| ApiError::Internal(format!("export encoding: {e}")).into()),
                Err(e) => Err(ApiError::from(e).into()),
            },
        ))))
    }

    async fn rollback_model(
        &self,
        request: Request<RollbackModelRequest>,
    ) -> Result<Response<ActivateModelResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
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

    async fn set_webhook(
        &self,
        request: Request<SetWebhookRequest>,
    ) -> Result<Response<WebhookSecretResponse>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let hooks = self.webhooks()?;
        let config = hooks
            .set(&r.site, &r.url, &r.secret)
            .await
            .map_err(ApiError::from)?;
        secret_response(hooks, &r.site, config).await
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<RotateWebhookSecretRequest>,
    ) -> Result<Response<WebhookSecretResponse>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let hooks = self.webhooks()?;
        let config = hooks
            .rotate(&r.site, &r.secret, r.overlap_seconds)
            .await
            .map_err(ApiError::from)?;
        secret_response(hooks, &r.site, config).await
    }

    async fn get_webhook(
        &self,
        request: Request<GetWebhookRequest>,
    ) -> Result<Response<GetWebhookResponse>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let shown = self
            .webhooks()?
            .show(&r.site)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(GetWebhookResponse {
            webhook: Some(webhook_to_proto(&r.site, &shown)),
        }))
    }

    async fn list_webhook_dead_letters(
        &self,
        request: Request<ListWebhookDeadLettersRequest>,
    ) -> Result<Response<ListWebhookDeadLettersResponse>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let size = if r.page_size == 0 {
            100
        } else {
            r.page_size as usize
        };
        let page = self
            .webhooks()?
            .dead_letters(&r.site, &r.page_token, size)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = if page.len() == size {
            page.last().map(|(p, _)| p.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListWebhookDeadLettersResponse {
            dead_letters: page
                .into_iter()
                .map(|(_, d)| WebhookDeadLetter {
                    event_id: d.event_id,
                    cursor: d.cursor,
                    attempts: d.attempts,
                    failing_since: Some(crate::clock::timestamp(d.failing_since_ms)),
                    dead_at: Some(crate::clock::timestamp(d.dead_ms)),
                    last_error: d.last_error,
                    body: d.body,
                })
                .collect(),
            next_page_token,
        }))
    }
}

/// The answer to a webhook change: the webhook as now stored, and the secret it was given (shown this once).
async fn secret_response(
    hooks: &Webhooks,
    site: &str,
    config: crate::store::webhooks::WebhookConfig,
) -> Result<Response<WebhookSecretResponse>, Status> {
    let shown = hooks.show(site).await.map_err(ApiError::from)?;
    Ok(Response::new(WebhookSecretResponse {
        webhook: Some(webhook_to_proto(site, &shown)),
        secret: config.secret,
    }))
}

/// A webhook as shown to ops: no secrets.
fn webhook_to_proto(site: &str, s: &Shown) -> proto::Webhook {
    let (c, st) = (&s.config, &s.state);
    let now = crate::clock::SystemClock.now_ms();
    let failing = st.attempts > 0;
    proto::Webhook {
        site: site.to_string(),
        url: c.url.clone(),
        version: c.version,
        previous_secret_until: (!c.previous_secret.is_empty() && c.previous_until_ms > now)
            .then(|| crate::clock::timestamp(c.previous_until_ms)),
        delivered_cursor: st.cursor.clone(),
        attempts: st.attempts,
        failing_since: failing.then(|| crate::clock::timestamp(st.failing_since_ms)),
        next_attempt: failing.then(|| crate::clock::timestamp(st.next_attempt_ms)),
        last_error: st.last_error.clone(),
        dead_letters: st.dead_letters,
    }
}
