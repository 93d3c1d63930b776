//! CaptchaService: converts protobuf to the captcha domain and back.

use tonic::{Request, Response, Status};

use super::{ApiError, Violations, record_site};
use crate::captcha::{Captchas, MAX_ANSWER_CHARS, Settings, is_challenge_id};
use crate::clock::timestamp;
use crate::proto::captcha_service_server::CaptchaService;
use crate::proto::{
    CheckChallengeRequest, CheckChallengeResponse, CreateChallengeRequest, CreateChallengeResponse,
};

/// The response metadata (gRPC) and header (HTTP) carrying a new challenge's answer when
/// `captcha.test_answer_header` is on (tests of client examples only).
pub const TEST_ANSWER_HEADER: &str = "x-moderato-test-captcha-answer";

/// The CaptchaService handlers.
#[derive(Clone)]
pub struct CaptchaApi {
    captchas: Captchas,
    settings: Settings,
    test_answers: bool,
}

impl CaptchaApi {
    /// Handlers issuing challenges with `settings`.
    pub fn new(captchas: Captchas, settings: Settings) -> Self {
        Self {
            captchas,
            settings,
            test_answers: false,
        }
    }

    /// With `on`, every new challenge's answer is sent back in [`TEST_ANSWER_HEADER`] (tests only).
    pub fn with_test_answers(mut self, on: bool) -> Self {
        self.test_answers = on;
        self
    }
}

#[tonic::async_trait]
impl CaptchaService for CaptchaApi {
    async fn create_challenge(
        &self,
        request: Request<CreateChallengeRequest>,
    ) -> Result<Response<CreateChallengeResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        let ip = v.ip("client_ip", &r.client_ip);
        v.finish()?;
        record_site(&r.site);
        let ip = ip.ok_or_else(|| ApiError::Internal("ip checked above".into()))?;
        let answer = crate::captcha::random_answer(self.settings.length);
        let issued = self
            .captchas
            .create_with_answer(&r.site, ip, &self.settings, &answer)
            .await
            .map_err(ApiError::from)?;
        let mut resp = Response::new(CreateChallengeResponse {
            challenge_id: issued.id,
            image_png: issued.png,
            expires_at: Some(timestamp(issued.expires_at_ms)),
            answer_length: issued.answer_length,
        });
        if self.test_answers
            && let Ok(v) = answer.parse()
        {
            resp.metadata_mut().insert(TEST_ANSWER_HEADER, v);
        }
        Ok(resp)
    }

    async fn check_challenge(
        &self,
        request: Request<CheckChallengeRequest>,
    ) -> Result<Response<CheckChallengeResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        v.site("site", &r.site);
        check_captcha_fields(&mut v, "", &r.challenge_id, &r.answer);
        v.finish()?;
        record_site(&r.site);
        self.captchas
            .check(&r.site, &r.challenge_id, &r.answer)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(CheckChallengeResponse {}))
    }
}

/// Validates a challenge id and an answer; `prefix` is prepended to field paths (e.g. `captcha.`).
pub fn check_captcha_fields(v: &mut Violations, prefix: &str, challenge_id: &str, answer: &str) {
    if !is_challenge_id(challenge_id) {
        v.add(
            &format!("{prefix}challenge_id"),
            "must be the 32-hex-digit id returned by CreateChallenge",
        );
    }
    let n = answer.trim().chars().count();
    if n == 0 {
        v.add(&format!("{prefix}answer"), "must not be empty");
    } else if n > MAX_ANSWER_CHARS {
        v.add(
            &format!("{prefix}answer"),
            format!("must be at most {MAX_ANSWER_CHARS} characters"),
        );
    }
}
