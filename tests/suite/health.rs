//! Health, reflection and metrics of a running server.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::harness::{Backend, spawn_app};

#[tokio::test]
async fn every_service_reports_serving_on_the_memory_store() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut h = HealthClient::new(app.channel().await);
    for svc in std::iter::once("").chain(moderato::startup::SERVICE_NAMES) {
        let r = h
            .check(HealthCheckRequest {
                service: svc.to_string(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "service {svc:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_four_services_and_health() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = ServerReflectionClient::new(app.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = c
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer: {resp:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in moderato::startup::SERVICE_NAMES
        .iter()
        .chain(&["grpc.health.v1.Health"])
    {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_method_and_code() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut h = HealthClient::new(app.channel().await);
    for _ in 0..3 {
        h.check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("unknown service is NOT_FOUND");
    }
    let body = app.metrics_text().await;
    assert!(
        body.contains(
            "moderato_rpc_requests_total{method=\"/grpc.health.v1.Health/Check\",code=\"NotFound\"}"
        ),
        "{body}"
    );
    assert!(
        body.contains("moderato_rpc_duration_seconds_bucket"),
        "{body}"
    );
    app.stop().await;
}
