//! Auth by role, over real gRPC.

use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::captcha_service_client::CaptchaServiceClient;
use moderato::proto::{CreateChallengeRequest, GetPolicyRequest};
use tonic::Code;

use crate::harness::{Backend, MODERATOR_TOKEN, OPS_TOKEN, PORTAL_TOKEN, authed, spawn_app};

fn challenge_req() -> CreateChallengeRequest {
    CreateChallengeRequest {
        site: "hcm".into(),
        client_ip: "203.0.113.9".into(),
    }
}

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let err = c.create_challenge(challenge_req()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("Bearer"), "{}", err.message());
}

#[tokio::test]
async fn a_bad_token_is_unauthenticated() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let err = c
        .create_challenge(authed("not-a-token", challenge_req()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_moderator_token_on_an_ops_rpc_is_permission_denied() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = AdminServiceClient::new(app.channel().await);
    let err = c
        .get_policy(authed(
            MODERATOR_TOKEN,
            GetPolicyRequest { site: "hcm".into() },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = CaptchaServiceClient::new(app.channel().await)
        .create_challenge(authed(OPS_TOKEN, challenge_req()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn the_portal_token_is_admitted_to_portal_services() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = CaptchaServiceClient::new(app.channel().await);
    let r = c
        .create_challenge(authed(PORTAL_TOKEN, challenge_req()))
        .await
        .expect("admitted")
        .into_inner();
    assert_eq!(r.challenge_id.len(), 32);
}
