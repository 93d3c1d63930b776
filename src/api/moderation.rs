//! ModerationService: converts the moderators' RPCs to [`ReviewService`] calls and back.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::{ApiError, convert, record_site};
use crate::auth::caller;
use crate::clock::timestamp;
use crate::proto::moderation_service_server::ModerationService;
use crate::proto::{
    ClaimReviewsRequest, ClaimReviewsResponse, DecideReviewRequest, DecideReviewResponse,
    ExportLabelsRequest, ExtendLeaseRequest, ExtendLeaseResponse, GetCampaignRequest,
    GetCampaignResponse, LabelRecord, OverturnDecisionRequest, OverturnDecisionResponse,
    QueueStatsRequest, QueueStatsResponse, RejectCampaignRequest, RejectCampaignResponse,
    ReleaseClaimRequest, ReleaseClaimResponse, ReviewItem, TakeOverClaimRequest,
    TakeOverClaimResponse,
};
use crate::review::service::{Actor, Decision, Overturn, ReviewService, Verdict};

/// The ModerationService handlers.
#[derive(Clone)]
pub struct ModerationApi {
    reviews: ReviewService,
}

impl ModerationApi {
    /// Handlers over `reviews`.
    pub fn new(reviews: ReviewService) -> Self {
        Self { reviews }
    }
}

/// The authenticated caller as a review actor: ops act as supervisors.
pub fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    let c = caller(request)?;
    Ok(crate::auth::review_actor(&c.name, c.role))
}

fn review_item(c: &crate::review::Claimed) -> ReviewItem {
    ReviewItem {
        comment: Some(convert::comment(&c.comment)),
        lease_token: c.lease_token.clone(),
        lease_expires_at: Some(timestamp(c.lease_until_ms)),
    }
}

fn verdict_from(v: i32) -> Option<Verdict> {
    match crate::proto::Verdict::try_from(v).ok()? {
        crate::proto::Verdict::Approve => Some(Verdict::Approve),
        crate::proto::Verdict::Reject => Some(Verdict::Reject),
        crate::proto::Verdict::Unspecified => None,
    }
}

#[tonic::async_trait]
impl ModerationService for ModerationApi {
    async fn claim_reviews(
        &self,
        request: Request<ClaimReviewsRequest>,
    ) -> Result<Response<ClaimReviewsResponse>, Status> {
        let who = actor(&request)?;
        let r = request.into_inner();
        record_site(&r.site);
        let items = self
            .reviews
            .claim(&r.site, r.max_items, r.lease_seconds, &who)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ClaimReviewsResponse {
            items: items.iter().map(review_item).collect(),
        }))
    }

    async fn extend_lease(
        &self,
        request: Request<ExtendLeaseRequest>,
    ) -> Result<Response<ExtendLeaseResponse>, Status> {
        let who = actor(&request)?;
        let r = request.into_inner();
        record_site(&r.site);
        let until = self
            .reviews
            .extend(
                &r.site,
                &r.comment_id,
                &r.lease_token,
                r.lease_seconds,
                &who,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ExtendLeaseResponse {
            lease_expires_at: Some(timestamp(until)),
        }))
    }

    async fn release_claim(
        &self,
        request: Request<ReleaseClaimRequest>,
    ) -> Result<Response<ReleaseClaimResponse>, Status> {
        let who = actor(&request)?;
        let r = request.into_inner();
        record_site(&r.site);
        self.reviews
            .release(&r.site, &r.comment_id, &r.lease_token, &who)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(ReleaseClaimResponse {}))
    }

    async fn decide_review(
        &self,
        request: Request<DecideReviewRequest>,
    ) -> Result<Response<DecideReviewResponse>, Status> {
        let who = actor(&request)?;
        let r = request.into_inner();
        record_site(&r.site);
        tracing::Span::current().record("comment_id", r.comment_id.as_str());
        let event = self
            .reviews
            .decide(
                Decision {
                    site: &r.site,
                    comment_id: &r.comment_id,
                    lease_token: &r.lease_token,
                    verdict: verdict_from(r.verdict),
                    label: convert::label_from(r.label),
                    note: &r.note,
                },
                &who,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(DecideReviewResponse {
            event: Some(convert::event(&event)),
        }))
    }

    async fn overturn_decision(
        &self,
        request: Request<OverturnDecisionRequest>,
    ) -> Result<Response<OverturnDecisionResponse>, Status> {
        let who = actor(&request)?;
        let r = request.into_inner();
        record_site(&r.site);
        tracing::Span::current().record("comment_id", r.comment_id.as_str());
        let event = self
            .reviews
            .overturn(
                Overturn {
                    site: &r.site,
                    comment_id: &r.comment_id,
                    expected: convert::status_from(r.expected_status),
                    label: convert::label_from(r.label),
                    note: &r.note,
                },
                &who,
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(OverturnDecisionResponse {
            event: Some(convert::event(&event)),
        }))
    }

    async fn take_over_claim(
        &self,
        request: Request<TakeOverClaimRequest>,
    ) -> Result<Response<TakeOverClaimResponse>, Status> {
        let who = actor(&request)?;
        let r = request.into_inner();
        record_site(&r.site);
        tracing::Span::current().record("comment_id", r.comment_id.as_str());
        let (c, from) = self
            .reviews
            .take_over(&r.site, &r.comment_id, r.lease_seconds, &r.note, &who)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(TakeOverClaimResponse {
            item: Some(review_item(&c)),
            previous_holder: from,
        }))
    }

    async fn get_campaign(
        &self,
        request: Request<GetCampaignRequest>,
    ) -> Result<Response<GetCampaignResponse>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let comments = self
            .reviews
            .campaign(&r.site, &r.campaign_id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(GetCampaignResponse {
            comments: comments.iter().map(convert::comment).collect(),
        }))
    }

    async fn reject_campaign(
        &self,
        request: Request<RejectCampaignRequest>,
    ) -> Result<Response<RejectCampaignResponse>, Status> {
        let who = actor(&request)?;
        let r = request.into_inner();
        record_site(&r.site);
        let done = self
            .reviews
            .reject_campaign(&r.site, &r.campaign_id, &r.note, &who)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(RejectCampaignResponse {
            rejected: done.rejected,
            not_held: done.not_held,
            own_appeals: done.own_appeals,
        }))
    }

    async fn queue_stats(
        &self,
        request: Request<QueueStatsRequest>,
    ) -> Result<Response<QueueStatsResponse>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let s = self.reviews.stats(&r.site).await.map_err(ApiError::from)?;
        Ok(Response::new(QueueStatsResponse {
            depth: s.depth,
            claimed: s.claimed,
            oldest_pending_age_seconds: s.oldest_pending_age_ms / 1000,
            decisions_last_hour: s.decisions_last_hour,
            decisions_by_hour: s.decisions_by_hour.to_vec(),
        }))
    }

    type ExportLabelsStream = Pin<Box<dyn Stream<Item = Result<LabelRecord, Status>> + Send>>;

    async fn export_labels(
        &self,
        request: Request<ExportLabelsRequest>,
    ) -> Result<Response<Self::ExportLabelsStream>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let rows = self
            .reviews
            .export_labels(&r.site)
            .map_err(ApiError::from)?;
        Ok(Response::new(Box::pin(rows.map(|row| {
            row.map(|row| LabelRecord {
                comment_id: row.comment_id,
                text: row.text,
                label: convert::label(row.label) as i32,
                labelled_by: row.by,
                labelled_at: Some(timestamp(row.at_ms)),
            })
            .map_err(|e| ApiError::from(e).into())
        }))))
    }
}
