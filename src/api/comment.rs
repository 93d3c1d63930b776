//! CommentService: submission, lookup and the resumable decision stream.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{ApiError, Violations, convert, record_site};
use crate::comment::{Comments, SubmitError, SubmitInput};
use crate::proto::comment_service_server::CommentService;
use crate::proto::{
    Comment, DecisionEvent, GetCommentRequest, SubmitCommentRequest, SubmitCommentResponse,
    WatchDecisionsRequest,
};

/// How often a watcher polls the store when nothing was announced locally (other replicas' decisions).
pub const WATCH_POLL: Duration = Duration::from_millis(250);

/// The CommentService handlers.
#[derive(Clone)]
pub struct CommentApi {
    comments: Comments,
    /// Wakes watchers when this process records a decision; other replicas are seen by polling.
    pub decided: Arc<Notify>,
}

impl CommentApi {
    /// Handlers over `comments`.
    pub fn new(comments: Comments, decided: Arc<Notify>) -> Self {
        Self { comments, decided }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Invalid(v) => ApiError::InvalidArgument(v),
            SubmitError::CaptchaInvalid => ApiError::CaptchaInvalid,
            SubmitError::CaptchaExpired => ApiError::CaptchaExpired,
            SubmitError::RateLimited(r) => r.into(),
            SubmitError::Store(s) => s.into(),
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
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.finish()?;
        record_site(&r.site);
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
        if !out.replayed {
            self.decided.notify_waiters();
        }
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
        let mut v = Violations::default();
        v.site("site", &r.site);
        v.comment_id("comment_id", &r.comment_id);
        v.finish()?;
        record_site(&r.site);
        tracing::Span::current().record("comment_id", r.comment_id.as_str());
        let c = self
            .comments
            .store
            .get_comment(&r.site, &r.comment_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no comment {} on site {} (unknown, or past its retention)",
                    r.comment_id, r.site
                ))
            })?;
        Ok(Response::new(convert::comment(&c)))
    }

    type WatchDecisionsStream = Pin<Box<dyn Stream<Item = Result<DecisionEvent, Status>> + Send>>;

    async fn watch_decisions(
        &self,
        request: Request<WatchDecisionsRequest>,
    ) -> Result<Response<Self::WatchDecisionsStream>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        if !convert::is_cursor(&r.after_cursor) {
            v.add(
                "after_cursor",
                "must be empty or a cursor from an earlier DecisionEvent",
            );
        }
        v.finish()?;
        record_site(&r.site);
        let store = self.comments.store.clone();
        let notify = self.decided.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let (site, mut cursor) = (r.site, r.after_cursor);
        tokio::spawn(async move {
            loop {
                // Register for a wake-up before reading, so a decision recorded in between is not missed.
                let woken = notify.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                match store.read_decisions(&site, &cursor, 200).await {
                    Ok(events) if !events.is_empty() => {
                        for e in events {
                            cursor = e.cursor.clone();
                            if tx.send(Ok(convert::event(&e))).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(ApiError::from(e).into())).await;
                        return;
                    }
                }
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(WATCH_POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
