//! ModerationService: the review queue under leases. Not part of this version yet; its RPCs answer
//! UNIMPLEMENTED rather than invent data.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::ApiError;
use crate::proto::moderation_service_server::ModerationService;
use crate::proto::{
    ClaimReviewsRequest, ClaimReviewsResponse, DecideReviewRequest, DecideReviewResponse,
    ExportLabelsRequest, ExtendLeaseRequest, ExtendLeaseResponse, LabelRecord,
    OverturnDecisionRequest, OverturnDecisionResponse, QueueStatsRequest, QueueStatsResponse,
    ReleaseClaimRequest, ReleaseClaimResponse,
};

/// The ModerationService handlers.
#[derive(Clone, Default)]
pub struct ModerationApi;

#[tonic::async_trait]
impl ModerationService for ModerationApi {
    async fn claim_reviews(
        &self,
        _r: Request<ClaimReviewsRequest>,
    ) -> Result<Response<ClaimReviewsResponse>, Status> {
        Err(ApiError::NotAvailable("ClaimReviews").into())
    }

    async fn extend_lease(
        &self,
        _r: Request<ExtendLeaseRequest>,
    ) -> Result<Response<ExtendLeaseResponse>, Status> {
        Err(ApiError::NotAvailable("ExtendLease").into())
    }

    async fn release_claim(
        &self,
        _r: Request<ReleaseClaimRequest>,
    ) -> Result<Response<ReleaseClaimResponse>, Status> {
        Err(ApiError::NotAvailable("ReleaseClaim").into())
    }

    async fn decide_review(
        &self,
        _r: Request<DecideReviewRequest>,
    ) -> Result<Response<DecideReviewResponse>, Status> {
        Err(ApiError::NotAvailable("DecideReview").into())
    }

    async fn overturn_decision(
        &self,
        _r: Request<OverturnDecisionRequest>,
    ) -> Result<Response<OverturnDecisionResponse>, Status> {
        Err(ApiError::NotAvailable("OverturnDecision").into())
    }

    async fn queue_stats(
        &self,
        _r: Request<QueueStatsRequest>,
    ) -> Result<Response<QueueStatsResponse>, Status> {
        Err(ApiError::NotAvailable("QueueStats").into())
    }

    type ExportLabelsStream = Pin<Box<dyn Stream<Item = Result<LabelRecord, Status>> + Send>>;

    async fn export_labels(
        &self,
        _r: Request<ExportLabelsRequest>,
    ) -> Result<Response<Self::ExportLabelsStream>, Status> {
        Err(ApiError::NotAvailable("ExportLabels").into())
    }
}
