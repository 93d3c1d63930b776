//! ModerationService: the review queue under leases, fenced decisions, overturns, statistics and label export.

use std::pin::Pin;
use std::sync::Arc;

use rand::RngCore;
use tokio::sync::Notify;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{ApiError, Violations, convert, record_site};
use crate::auth::caller;
use crate::clock::timestamp;
use crate::proto::moderation_service_server::ModerationService;
use crate::proto::{
    ClaimReviewsRequest, ClaimReviewsResponse, DecideReviewRequest, DecideReviewResponse,
    ExportLabelsRequest, ExtendLeaseRequest, ExtendLeaseResponse, LabelRecord,
    OverturnDecisionRequest, OverturnDecisionResponse, QueueStatsRequest, QueueStatsResponse,
    ReleaseClaimRequest, ReleaseClaimResponse, ReviewItem, Verdict,
};
use crate::review::{DecisionKind, Status as CommentStatus};
use crate::store::{Decide, Decided, Store};

/// Lease length when a request leaves it at 0.
pub const DEFAULT_LEASE_SECONDS: u32 = 300;

/// The ModerationService handlers.
#[derive(Clone)]
pub struct ModerationApi {
    store: Arc<dyn Store>,
    decided: Arc<Notify>,
    policies: crate::policy::Policies,
}

impl ModerationApi {
    /// Handlers over `store`; `decided` wakes local decision watchers; `policies` learns of new labels.
    pub fn new(
        store: Arc<dyn Store>,
        decided: Arc<Notify>,
        policies: crate::policy::Policies,
    ) -> Self {
        Self {
            store,
            decided,
            policies,
        }
    }
}

fn lease_ms(v: &mut Violations, secs: u32) -> u64 {
    let secs = if secs == 0 {
        DEFAULT_LEASE_SECONDS
    } else {
        secs
    };
    if secs > 3600 {
        v.add("lease_seconds", "must be between 1 and 3600 (0 means 300)");
    }
    u64::from(secs) * 1000
}

fn lease_token(v: &mut Violations, t: &str) {
    if t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        v.add("lease_token", "must be the token returned by ClaimReviews");
    }
}

/// Checks a moderator's label (required) and note (at most 2000 characters).
fn label_and_note(v: &mut Violations, label: i32, note: &str) -> Option<crate::review::Label> {
    let label = convert::label_from(label);
    if label.is_none() {
        v.add("label", "must be SPAM, HAM, ABUSIVE or OFF_TOPIC");
    }
    if note.chars().count() > 2000 {
        v.add("note", "must be at most 2000 characters");
    }
    label
}

fn lost() -> ApiError {
    ApiError::Aborted(
        "the lease is lost (expired, taken over, or the comment was decided); claim again".into(),
    )
}

fn new_token() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl ModerationApi {
    /// Records a moderator decision (review or overturn) and everything that follows from it: local watchers
    /// woken, the site's label count refreshed, decision metrics. `conflict` is the answer when fenced out.
    async fn record(
        &self,
        d: Decide<'_>,
        conflict: ApiError,
    ) -> Result<crate::review::Event, ApiError> {
        let (site, kind) = (d.site, d.kind);
        let event = match self.store.decide(d.clone()).await? {
            Decided::Done(e) => e,
            Decided::Conflict => return Err(conflict),
            Decided::NotFound => {
                return Err(ApiError::NotFound(format!("no comment {}", d.comment_id)));
            }
        };
        self.decided.notify_waiters();
        self.policies.labels_changed(site);
        if kind == DecisionKind::Review && event.submitted_ms > 0 {
            metrics::histogram!("moderato_time_to_human_decision_seconds", "site" => site.to_string())
                .record(event.decided_ms.saturating_sub(event.submitted_ms) as f64 / 1000.0);
        }
        metrics::counter!(
            "moderato_decisions_total",
            "site" => site.to_string(),
            "status" => event.status.as_str()
        )
        .increment(1);
        tracing::info!(
            moderator = d.actor,
            kind = kind.as_str(),
            status = event.status.as_str(),
            label = d.label.as_str(),
            "decision recorded"
        );
        Ok(event)
    }
}

#[tonic::async_trait]
impl ModerationService for ModerationApi {
    async fn claim_reviews(
        &self,
        request: Request<ClaimReviewsRequest>,
    ) -> Result<Response<ClaimReviewsResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        if !(1..=100).contains(&r.max_items) {
            v.add("max_items", "must be between 1 and 100");
        }
        let lease = lease_ms(&mut v, r.lease_seconds);
        v.finish()?;
        record_site(&r.site);
        let tokens: Vec<String> = (0..r.max_items).map(|_| new_token()).collect();
        let (items, expired) = self
            .store
            .claim(&r.site, lease, &who, &tokens)
            .await
            .map_err(ApiError::from)?;
        if expired > 0 {
            metrics::counter!("moderato_lease_expiries_total", "site" => r.site.clone())
                .increment(expired);
        }
        Ok(Response::new(ClaimReviewsResponse {
            items: items
                .iter()
                .map(|c| ReviewItem {
                    comment: Some(convert::comment(&c.comment)),
                    lease_token: c.lease_token.clone(),
                    lease_expires_at: Some(timestamp(c.lease_until_ms)),
                })
                .collect(),
        }))
    }

    async fn extend_lease(
        &self,
        request: Request<ExtendLeaseRequest>,
    ) -> Result<Response<ExtendLeaseResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.comment_id("comment_id", &r.comment_id);
        lease_token(&mut v, &r.lease_token);
        let lease = lease_ms(&mut v, r.lease_seconds);
        v.finish()?;
        record_site(&r.site);
        let until = self
            .store
            .extend_lease(&r.site, &r.comment_id, &r.lease_token, lease)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(lost)?;
        Ok(Response::new(ExtendLeaseResponse {
            lease_expires_at: Some(timestamp(until)),
        }))
    }

    async fn release_claim(
        &self,
        request: Request<ReleaseClaimRequest>,
    ) -> Result<Response<ReleaseClaimResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.comment_id("comment_id", &r.comment_id);
        lease_token(&mut v, &r.lease_token);
        v.finish()?;
        record_site(&r.site);
        if !self
            .store
            .release(&r.site, &r.comment_id, &r.lease_token)
            .await
            .map_err(ApiError::from)?
        {
            return Err(lost().into());
        }
        Ok(Response::new(ReleaseClaimResponse {}))
    }

    async fn decide_review(
        &self,
        request: Request<DecideReviewRequest>,
    ) -> Result<Response<DecideReviewResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.comment_id("comment_id", &r.comment_id);
        lease_token(&mut v, &r.lease_token);
        let new_status = match Verdict::try_from(r.verdict) {
            Ok(Verdict::Approve) => Some(CommentStatus::Published),
            Ok(Verdict::Reject) => Some(CommentStatus::Rejected),
            _ => {
                v.add("verdict", "must be APPROVE or REJECT");
                None
            }
        };
        let label = label_and_note(&mut v, r.label, &r.note);
        v.finish()?;
        let (Some(new_status), Some(label)) = (new_status, label) else {
            return Err(ApiError::Internal("checked above".into()).into());
        };
        record_site(&r.site);
        tracing::Span::current().record("comment_id", r.comment_id.as_str());
        let event = self
            .record(
                Decide {
                    site: &r.site,
                    comment_id: &r.comment_id,
                    kind: DecisionKind::Review,
                    lease_token: &r.lease_token,
                    expected: CommentStatus::PendingReview,
                    new_status,
                    actor: &who,
                    label,
                    note: &r.note,
                },
                lost(),
            )
            .await?;
        Ok(Response::new(DecideReviewResponse {
            event: Some(convert::event(&event)),
        }))
    }

    async fn overturn_decision(
        &self,
        request: Request<OverturnDecisionRequest>,
    ) -> Result<Response<OverturnDecisionResponse>, Status> {
        let who = caller(&request)?.name.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.comment_id("comment_id", &r.comment_id);
        let expected = match convert::status_from(r.expected_status) {
            Some(s @ (CommentStatus::Published | CommentStatus::Rejected)) => Some(s),
            _ => {
                v.add("expected_status", "must be PUBLISHED or REJECTED");
                None
            }
        };
        let label = label_and_note(&mut v, r.label, &r.note);
        v.finish()?;
        let (Some(expected), Some(label)) = (expected, label) else {
            return Err(ApiError::Internal("checked above".into()).into());
        };
        record_site(&r.site);
        let new_status = if expected == CommentStatus::Published {
            CommentStatus::Rejected
        } else {
            CommentStatus::Published
        };
        let conflict = ApiError::Aborted(format!(
            "the comment is no longer {}; reload it and decide again",
            expected.as_str()
        ));
        let event = self
            .record(
                Decide {
                    site: &r.site,
                    comment_id: &r.comment_id,
                    kind: DecisionKind::Overturn,
                    lease_token: "",
                    expected,
                    new_status,
                    actor: &who,
                    label,
                    note: &r.note,
                },
                conflict,
            )
            .await?;
        Ok(Response::new(OverturnDecisionResponse {
            event: Some(convert::event(&event)),
        }))
    }

    async fn queue_stats(
        &self,
        request: Request<QueueStatsRequest>,
    ) -> Result<Response<QueueStatsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.finish()?;
        record_site(&r.site);
        let s = self
            .store
            .queue_stats(&r.site)
            .await
            .map_err(ApiError::from)?;
        metrics::gauge!("moderato_queue_depth", "site" => r.site.clone()).set(s.depth as f64);
        metrics::gauge!("moderato_queue_oldest_pending_seconds", "site" => r.site.clone())
            .set(s.oldest_pending_age_ms as f64 / 1000.0);
        Ok(Response::new(QueueStatsResponse {
            depth: s.depth,
            claimed: s.claimed,
            oldest_pending_age_seconds: s.oldest_pending_age_ms / 1000,
            decisions_last_hour: s.decisions_last_hour,
        }))
    }

    type ExportLabelsStream = Pin<Box<dyn Stream<Item = Result<LabelRecord, Status>> + Send>>;

    async fn export_labels(
        &self,
        request: Request<ExportLabelsRequest>,
    ) -> Result<Response<Self::ExportLabelsStream>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.finish()?;
        record_site(&r.site);
        let store = self.store.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            let mut cursor = String::new();
            loop {
                match store.labels(&r.site, &cursor, 500).await {
                    Ok(rows) if rows.is_empty() => return,
                    Ok(rows) => {
                        for (c, row) in rows {
                            cursor = c;
                            let rec = LabelRecord {
                                comment_id: row.comment_id,
                                text: row.text,
                                label: convert::label(row.label) as i32,
                                labelled_by: row.by,
                                labelled_at: Some(timestamp(row.at_ms)),
                            };
                            if tx.send(Ok(rec)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(ApiError::from(e).into())).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
