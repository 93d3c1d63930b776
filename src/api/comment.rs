//! CommentService: submission, lookup and the resumable decision stream.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::{ApiError, convert, record_site};
use crate::comment::{Comments, SubmitInput};
use crate::privacy::Privacy;
use crate::proto::comment_service_server::CommentService;
use crate::proto::{
    AppealDecisionRequest, AppealDecisionResponse, Comment, DecisionEvent, GetCommentRequest,
    GetStatementOfReasonsRequest, StatementOfReasons, SubmitCommentRequest, SubmitCommentResponse,
    WatchDecisionsRequest,
};
use crate::review::service::ReviewService;

/// The CommentService handlers.
#[derive(Clone)]
pub struct CommentApi {
    comments: Comments,
    reviews: ReviewService,
    privacy: Privacy,
}

impl CommentApi {
    /// Handlers over `comments` (submissions) and `reviews` (lookups and the decision stream).
    pub fn new(comments: Comments, reviews: ReviewService) -> Self {
        let privacy = Privacy::new(
            comments.store.clone(),
            comments.ids.clone(),
            reviews.announcer(),
        );
        Self {
            comments,
            reviews,
            privacy,
        }
    }
}

#[tonic::async_trait]
impl CommentService for CommentApi {
    async fn submit_comment(
        &self,
        request: Request<SubmitCommentRequest>,
    ) -> Result<Response<SubmitCommentResponse>, Status> {
        let r = request.into_inner();
        // A bad site id is reported by the domain with every other violation; only a valid one is logged.
        if crate::validate::is_site_id(&r.site) {
            record_site(&r.site);
        }
        let author = r.author.unwrap_or_default();
        let client = r.client.unwrap_or_default();
        let input = SubmitInput {
            site: r.site,
            thread_id: r.thread_id,
            idempotency_key: r.idempotency_key,
            name: author.name,
            phone: author.phone,
            email: author.email,
            title: r.title,
            body: r.body,
            ip: client.ip,
            captcha: r.captcha.map(|c| (c.challenge_id, c.answer)),
        };
        let out = self.comments.submit(input).await.map_err(ApiError::from)?;
        tracing::Span::current().record("comment_id", out.comment_id.as_str());
        Ok(Response::new(SubmitCommentResponse {
            comment_id: out.comment_id,
            status: convert::status(out.status) as i32,
            score: f64::from(out.score),
            reasons: out.reasons.iter().map(convert::reason).collect(),
            model_version: out.model_version,
            policy_version: out.policy_version,
            replayed: out.replayed,
            created_at: Some(crate::clock::timestamp(out.created_ms)),
        }))
    }

    async fn get_comment(
        &self,
        request: Request<GetCommentRequest>,
    ) -> Result<Response<Comment>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        tracing::Span::current().record("comment_id", r.comment_id.as_str());
        let c = self
            .reviews
            .comment(&r.site, &r.comment_id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(convert::comment(&c)))
    }

    type WatchDecisionsStream = Pin<Box<dyn Stream<Item = Result<DecisionEvent, Status>> + Send>>;

    async fn watch_decisions(
        &self,
        request: Request<WatchDecisionsRequest>,
    ) -> Result<Response<Self::WatchDecisionsStream>, Status> {
        let r = request.into_inner();
        record_site(&r.site);
        let events = self
            .reviews
            .watch(&r.site, &r.after_cursor)
            .map_err(ApiError::from)?;
        Ok(Response::new(Box::pin(events.map(|e| {
            e.map(|e| convert::event(&e))
                .map_err(|e| ApiError::from(e).into())
        }))))
    }

    async fn get_statement_of_reasons(
        &self,
        request: Request<GetStatementOfReasonsRequest>,
    ) -> Result<Response<StatementOfReasons>, Status> {
        let r = request.into_inner();
        if crate::validate::is_site_id(&r.site) {
            record_site(&r.site);
        }
        let s = self
            .privacy
            .statement(&r.site, &r.comment_id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(super::privacy::statement(&s)))
    }

    async fn appeal_decision(
        &self,
        request: Request<AppealDecisionRequest>,
    ) -> Result<Response<AppealDecisionResponse>, Status> {
        let who = crate::auth::caller(&request)?.name.clone();
        let r = request.into_inner();
        if crate::validate::is_site_id(&r.site) {
            record_site(&r.site);
        }
        tracing::Span::current().record("comment_id", r.comment_id.as_str());
        let (event, _) = self
            .privacy
            .appeal(&r.site, &r.comment_id, &r.message, &who)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(AppealDecisionResponse {
            event: Some(convert::event(&event)),
        }))
    }
}
