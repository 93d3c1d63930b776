//! CommentService: submission, lookup and the decision stream. The submission path is not part of this
//! version yet; its RPCs answer UNIMPLEMENTED rather than invent data.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::ApiError;
use crate::proto::comment_service_server::CommentService;
use crate::proto::{
    Comment, DecisionEvent, GetCommentRequest, SubmitCommentRequest, SubmitCommentResponse,
    WatchDecisionsRequest,
};

/// The CommentService handlers.
#[derive(Clone, Default)]
pub struct CommentApi;

#[tonic::async_trait]
impl CommentService for CommentApi {
    async fn submit_comment(
        &self,
        _request: Request<SubmitCommentRequest>,
    ) -> Result<Response<SubmitCommentResponse>, Status> {
        Err(ApiError::NotAvailable("SubmitComment").into())
    }

    async fn get_comment(
        &self,
        _request: Request<GetCommentRequest>,
    ) -> Result<Response<Comment>, Status> {
        Err(ApiError::NotAvailable("GetComment").into())
    }

    type WatchDecisionsStream = Pin<Box<dyn Stream<Item = Result<DecisionEvent, Status>> + Send>>;

    async fn watch_decisions(
        &self,
        _request: Request<WatchDecisionsRequest>,
    ) -> Result<Response<Self::WatchDecisionsStream>, Status> {
        Err(ApiError::NotAvailable("WatchDecisions").into())
    }
}
