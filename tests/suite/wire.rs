//! The listener's edge, over real sockets: reflection for v1 and v1alpha clients, malformed requests sent as raw
//! HTTP/2 frames, silent connections, TLS and mTLS, store errors as callers and the log see them, and startup
//! refusals of the `moderato` binary.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use moderato::proto::CreateChallengeRequest;
use moderato::proto::captcha_service_client::CaptchaServiceClient;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{
    BIN, Backend, PORTAL_TOKEN, RedisProcess, TestApp, authed, free_port, spawn_app, test_config,
    unique_prefix,
};

const CREATE_CHALLENGE: &str = "/moderato.v1.CaptchaService/CreateChallenge";

// ---------------------------------------------------------------------------------------------------------------
// Reflection

#[tokio::test]
async fn a_v1alpha_reflection_client_lists_and_describes_every_service() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut c = ServerReflectionClient::new(app.channel().await);
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    let mut stream = c
        .server_reflection_info(tokio_stream::iter(vec![ask(MessageRequest::ListServices(
            String::new(),
        ))]))
        .await
        .expect("v1alpha reflection answers")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("message")
        .expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer: {resp:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    let wanted: Vec<&str> = moderato::startup::SERVICE_NAMES
        .iter()
        .copied()
        .chain([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ])
        .collect();
    for want in &wanted {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // `describe`: each service's file is served.
    let asks: Vec<_> = wanted
        .iter()
        .map(|s| ask(MessageRequest::FileContainingSymbol(s.to_string())))
        .collect();
    let mut stream = c
        .server_reflection_info(tokio_stream::iter(asks))
        .await
        .expect("reflection")
        .into_inner();
    for want in &wanted {
        let resp = stream.message().await.expect("message").expect("answer");
        match resp.message_response {
            Some(MessageResponse::FileDescriptorResponse(f)) => {
                assert!(!f.file_descriptor_proto.is_empty(), "{want}: no file")
            }
            other => panic!("{want}: unexpected answer {other:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn v1_reflection_lists_both_reflection_services_too() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app(Backend::Memory, |_| {}).await;
    let mut stream = ServerReflectionClient::new(app.channel().await)
        .server_reflection_info(tokio_stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("v1 reflection")
        .into_inner();
    let resp = stream.message().await.expect("message").expect("answer");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer: {resp:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "moderato.v1.CommentService",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// Raw HTTP/2: requests no generated client would send

/// What came back for one raw request.
#[derive(Debug)]
struct RawAnswer {
    http: http::StatusCode,
    grpc_status: Option<i32>,
    grpc_message: String,
}

/// A gRPC frame: flag, 4-byte length, payload.
fn frame(payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + payload.len());
    b.put_u8(0);
    b.put_u32(payload.len() as u32);
    b.put_slice(payload);
    b.freeze()
}

/// Sends `body` to `path` over a fresh HTTP/2 connection with the portal token and `content_type`.
async fn raw_call(addr: SocketAddr, path: &str, content_type: &str, body: Bytes) -> RawAnswer {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.expect("h2 ready");
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .header("te", "trailers")
        .header("authorization", format!("Bearer {PORTAL_TOKEN}"))
        .body(())
        .expect("request");
    let (resp, mut send) = client.send_request(req, false).expect("send headers");
    // The server may answer (and reset the stream) before it has read everything: ignore send errors.
    let _ = send.send_data(body, true);
    let resp = tokio::time::timeout(Duration::from_secs(20), resp)
        .await
        .expect("an answer in time")
        .expect("response headers");
    let http = resp.status();
    let mut headers = resp.headers().clone();
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(c) => {
                let _ = body.flow_control().release_capacity(c.len());
            }
            Err(_) => break,
        }
    }
    if let Ok(Some(t)) = body.trailers().await {
        headers.extend(t);
    }
    let grpc_status = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let grpc_message = headers
        .get("grpc-message")
        .map(|v| percent_decode(v.as_bytes()))
        .unwrap_or_default();
    RawAnswer {
        http,
        grpc_status,
        grpc_message,
    }
}

fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(&b[i + 1..i + 3]), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `moderato_rpc_requests_total` for `method` and `code`, 0 when absent.
async fn rpc_count(app: &TestApp, method: &str, code: &str) -> u64 {
    let body = app.metrics_text().await;
    let key = format!("moderato_rpc_requests_total{{method=\"{method}\",code=\"{code}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_requests_are_invalid_argument_and_counted_as_such() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let invalid_before = rpc_count(&app, CREATE_CHALLENGE, "InvalidArgument").await;
    let internal_before = rpc_count(&app, CREATE_CHALLENGE, "Internal").await;

    // 200 nested groups in an unknown field (15): start-group tags, then end-group tags.
    let mut deep = vec![0x7b_u8; 200];
    deep.extend(std::iter::repeat_n(0x7c_u8, 200));
    let cases: Vec<(&str, Bytes)> = vec![
        // site = bytes 0xff 0xfe: not UTF-8.
        ("invalid UTF-8", frame(&[0x0a, 0x02, 0xff, 0xfe])),
        // site declares 5 bytes, 2 follow.
        ("truncated message", frame(&[0x0a, 0x05, b'h', b'c'])),
        // site (a string) sent as a varint.
        ("wrong wire type", frame(&[0x08, 0x01])),
        ("deep nesting", frame(&deep)),
        // The frame header announces 10 bytes; the stream ends after 3.
        ("truncated frame", {
            let mut b = BytesMut::new();
            b.put_u8(0);
            b.put_u32(10);
            b.put_slice(&[0x0a, 0x01, b'h']);
            b.freeze()
        }),
        ("no message at all", Bytes::new()),
    ];
    for (what, body) in &cases {
        let a = raw_call(app.addr, CREATE_CHALLENGE, "application/grpc", body.clone()).await;
        assert_eq!(a.http, http::StatusCode::OK, "{what}: {a:?}");
        assert_eq!(
            a.grpc_status,
            Some(Code::InvalidArgument as i32),
            "{what}: {a:?}"
        );
        assert!(
            a.grpc_message.starts_with("undecodable request"),
            "{what}: {a:?}"
        );
    }
    let invalid_after = rpc_count(&app, CREATE_CHALLENGE, "InvalidArgument").await;
    let internal_after = rpc_count(&app, CREATE_CHALLENGE, "Internal").await;
    assert!(
        invalid_after >= invalid_before + cases.len() as u64,
        "InvalidArgument count went from {invalid_before} to {invalid_after}"
    );
    assert_eq!(internal_after, internal_before, "counted as Internal");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_content_type_is_http_415() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let before = rpc_count(&app, CREATE_CHALLENGE, "Http415").await;
    let a = raw_call(
        app.addr,
        CREATE_CHALLENGE,
        "text/plain",
        Bytes::from_static(b"site=hcm&client_ip=192.0.2.1"),
    )
    .await;
    assert_eq!(a.http, http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "{a:?}");
    assert_eq!(a.grpc_status, None, "{a:?}");
    let after = rpc_count(&app, CREATE_CHALLENGE, "Http415").await;
    assert!(after > before, "415 not counted: {before} -> {after}");
    // The same bytes as a real gRPC request pass.
    let ok = raw_call(
        app.addr,
        CREATE_CHALLENGE,
        "application/grpc+proto",
        frame(&prost::Message::encode_to_vec(&CreateChallengeRequest {
            site: "hcm".into(),
            client_ip: "192.0.2.1".into(),
        })),
    )
    .await;
    assert_eq!(ok.grpc_status, Some(0), "{ok:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_resource_exhausted_with_the_limit() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let payload = vec![0u8; 5 * 1024 * 1024];
    let a = raw_call(
        app.addr,
        CREATE_CHALLENGE,
        "application/grpc",
        frame(&payload),
    )
    .await;
    assert_eq!(a.grpc_status, Some(Code::ResourceExhausted as i32), "{a:?}");
    assert!(
        a.grpc_message.contains("5242880 bytes") && a.grpc_message.contains("limit is 4194304"),
        "{a:?}"
    );
    // Unknown paths are counted under one label, whatever a caller makes up.
    let before = rpc_count(&app, "unknown", "Unimplemented").await;
    for i in 0..3 {
        let a = raw_call(
            app.addr,
            &format!("/made.up.Service{i}/Method"),
            "application/grpc",
            frame(&[]),
        )
        .await;
        assert_eq!(a.grpc_status, Some(Code::Unimplemented as i32), "{a:?}");
    }
    assert!(rpc_count(&app, "unknown", "Unimplemented").await >= before + 3);
    assert!(!app.metrics_text().await.contains("made.up.Service"));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// Silent connections

/// Reads until the server closes the connection (EOF or reset), or `within` of `started` passes; returns when
/// it closed, counted from `started`.
async fn closed_within(mut s: TcpStream, started: Instant, within: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + within),
            s.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_after_the_handshake_timeout() {
    let app = spawn_app(Backend::Memory, |c| {
        c.server.handshake_timeout_ms = 500;
        c.server.idle_timeout_ms = 60_000;
    })
    .await;
    // Nothing at all; only the preface; the preface and an empty SETTINGS frame.
    let opened = Instant::now();
    let nothing = TcpStream::connect(app.addr).await.expect("connect");
    let mut preface = TcpStream::connect(app.addr).await.expect("connect");
    preface.write_all(PREFACE).await.expect("write");
    let mut settings = TcpStream::connect(app.addr).await.expect("connect");
    settings.write_all(PREFACE).await.expect("write");
    settings
        .write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0])
        .await
        .expect("write");
    // The configured 500 ms, not the 10 s default (room for a loaded machine).
    let bound = Duration::from_secs(5);
    for (what, s) in [
        ("nothing", nothing),
        ("preface", preface),
        ("settings", settings),
    ] {
        let closed = closed_within(s, opened, bound).await;
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after {bound:?}"));
        assert!(
            closed >= Duration::from_millis(400),
            "{what}: closed after {closed:?}, before the timeout"
        );
    }
    // A client that completes the HTTP/2 handshake and never sends a request is closed too.
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let ended = tokio::time::timeout(bound, conn).await;
    drop(client);
    assert!(
        ended.is_ok(),
        "an HTTP/2 connection without requests stayed open"
    );
    // A working client is unaffected.
    HealthClient::new(app.channel().await)
        .check(HealthCheckRequest::default())
        .await
        .expect("health");
    app.stop().await;
}

fn health_check_frame() -> Bytes {
    frame(&prost::Message::encode_to_vec(
        &HealthCheckRequest::default(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_but_busy_ones_are_not() {
    let app = spawn_app(Backend::Memory, |c| {
        c.server.idle_timeout_ms = 600;
        c.server.max_concurrent_streams = 7;
    })
    .await;
    let health = |addr: SocketAddr, path: &str| {
        http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("request")
    };
    // One call, then silence: the connection ends after the idle timeout.
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2");
    let mut conn = Box::pin(conn);
    let call = async {
        let mut client = client.ready().await.expect("ready");
        let (resp, mut send) = client
            .send_request(health(app.addr, "/grpc.health.v1.Health/Check"), false)
            .expect("send");
        send.send_data(health_check_frame(), true).expect("data");
        let resp = resp.await.expect("answer");
        let mut body = resp.into_body();
        while body.data().await.is_some() {}
        let _ = body.trailers().await;
        client
    };
    // The client handle is kept: an h2 connection whose handles are all dropped closes by itself.
    let _client = tokio::select! {
        r = &mut conn => panic!("connection ended during the call: {r:?}"),
        c = call => c,
    };
    // The server's SETTINGS have arrived by now.
    assert_eq!(
        conn.max_concurrent_send_streams(),
        7,
        "server.max_concurrent_streams is advertised"
    );
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await;
    assert!(ended.is_ok(), "idle connection was not closed");

    // A connection with a stream open (a health Watch) stays up past the idle timeout and still takes calls.
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2");
    let conn = tokio::spawn(conn);
    let mut client = client.ready().await.expect("ready");
    let (watch, mut send) = client
        .send_request(health(app.addr, "/grpc.health.v1.Health/Watch"), false)
        .expect("send");
    send.send_data(health_check_frame(), true).expect("data");
    let watch = watch.await.expect("watch answer");
    assert_eq!(watch.status(), http::StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(
        !conn.is_finished(),
        "a connection with an open stream was closed"
    );
    let mut client = client.ready().await.expect("still ready");
    let (resp, mut send) = client
        .send_request(health(app.addr, "/grpc.health.v1.Health/Check"), false)
        .expect("send on the busy connection");
    send.send_data(health_check_frame(), true).expect("data");
    let resp = resp.await.expect("answer on the busy connection");
    assert_eq!(resp.status(), http::StatusCode::OK);
    drop(watch);
    app.stop().await;
}

/// One HPACK literal header field without indexing, plain (non-Huffman) strings shorter than 127 bytes.
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

/// An HTTP/2 frame header: 24-bit length, type, flags, stream id.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_answer_keepalive_pings_is_dropped() {
    let app = spawn_app(Backend::Memory, |c| {
        c.server.keepalive_interval_ms = 300;
        c.server.keepalive_timeout_ms = 300;
        c.server.idle_timeout_ms = 600_000;
    })
    .await;
    // A hand-made client: preface, SETTINGS, a health Watch (an open stream, so the connection is not idle),
    // then it reads and never answers anything.
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    let mut out = PREFACE.to_vec();
    out.extend(h2_frame(0x4, 0, 0, &[]));
    let mut headers = Vec::new();
    hpack_literal(&mut headers, ":method", "POST");
    hpack_literal(&mut headers, ":scheme", "http");
    hpack_literal(&mut headers, ":path", "/grpc.health.v1.Health/Watch");
    hpack_literal(&mut headers, ":authority", "localhost");
    hpack_literal(&mut headers, "content-type", "application/grpc");
    hpack_literal(&mut headers, "te", "trailers");
    out.extend(h2_frame(0x1, 0x4, 1, &headers)); // HEADERS, END_HEADERS
    out.extend(h2_frame(0x0, 0x1, 1, &health_check_frame())); // DATA, END_STREAM
    s.write_all(&out).await.expect("write");

    let started = Instant::now();
    let mut seen: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    };
    // Walk the frames the server sent.
    let (mut kinds, mut at) = (Vec::new(), 0);
    while at + 9 <= seen.len() {
        let len = (usize::from(seen[at]) << 16)
            | (usize::from(seen[at + 1]) << 8)
            | usize::from(seen[at + 2]);
        kinds.push(seen[at + 3]);
        at += 9 + len;
    }
    assert!(
        kinds.contains(&0x1),
        "the watch was answered with headers: {kinds:?}"
    );
    assert!(kinds.contains(&0x6), "the server sent a PING: {kinds:?}");
    assert!(
        closed,
        "still open {:?} after the unanswered PING",
        started.elapsed()
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// TLS

pub(crate) struct Pki {
    dir: tempfile::TempDir,
    pub(crate) ca_pem: String,
    pub(crate) client_cert_pem: String,
    pub(crate) client_key_pem: String,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, all made here.
pub(crate) fn make_pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "moderato test CA");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().expect("key");
    let server_cert = server.signed_by(&server_key, &ca).expect("server cert");
    let mut client = CertificateParams::new(vec!["portal.example".to_string()]).expect("params");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().expect("key");
    let client_cert = client.signed_by(&client_key, &ca).expect("client cert");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
    std::fs::write(dir.path().join("server.pem"), server_cert.pem()).expect("write");
    std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).expect("write");
    Pki {
        dir,
        ca_pem: ca.pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// A TLS server run in-process (the harness's plaintext readiness probe cannot reach it).
pub(crate) struct TlsApp {
    pub(crate) addr: SocketAddr,
    /// The HTTP listener, speaking TLS with the same certificate.
    pub(crate) http_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<()>,
}

impl TlsApp {
    pub(crate) async fn start(pki: &Pki, mtls: bool) -> Self {
        let prefix = unique_prefix();
        let mut cfg = test_config(&prefix);
        cfg.server.tls_cert = pki.path("server.pem");
        cfg.server.tls_key = pki.path("server.key");
        if mtls {
            cfg.server.tls_client_ca = pki.path("ca.pem");
        }
        let store = crate::harness::open_store(Backend::Memory, &prefix).await;
        let ids = moderato::rate_limit::Identifiers::new(crate::harness::HMAC_KEY.as_bytes(), 64);
        let tokens = moderato::auth::Tokens::from_config(&cfg.auth.tokens);
        let app = moderato::startup::Application::build(cfg, store, tokens, ids)
            .await
            .expect("build a TLS app");
        let addr = app.addr();
        let http_addr = app.http_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            app.run_until_stopped(async move {
                let _ = rx.await;
            })
            .await
            .expect("server ran");
        });
        Self {
            addr,
            http_addr,
            stop: Some(tx),
            handle,
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.handle.await.expect("the server task panicked");
    }
}

/// Health Check over TLS; `identity` is the client certificate for mTLS.
async fn tls_health(
    addr: SocketAddr,
    pki: &Pki,
    identity: Option<Identity>,
) -> Result<i32, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(id);
    }
    let ch = Channel::from_shared(format!("https://{addr}"))
        .expect("uri")
        .tls_config(tls)
        .map_err(|e| format!("{e:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    HealthClient::new(ch)
        .check(HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status)
        .map_err(|e| format!("{e:?}"))
}

pub(crate) async fn wait_tls_serving(addr: SocketAddr, pki: &Pki, identity: Option<Identity>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tls_health(addr, pki, identity.clone()).await == Ok(1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "TLS server did not become SERVING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip_and_plaintext_is_refused() {
    let pki = make_pki();
    let app = TlsApp::start(&pki, false).await;
    wait_tls_serving(app.addr, &pki, None).await;
    // An authenticated call over TLS.
    let ch = Channel::from_shared(format!("https://{}", app.addr))
        .expect("uri")
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&pki.ca_pem))
                .domain_name("localhost"),
        )
        .expect("tls")
        .connect()
        .await
        .expect("connect over TLS");
    let r = CaptchaServiceClient::new(ch)
        .create_challenge(authed(
            PORTAL_TOKEN,
            CreateChallengeRequest {
                site: "hcm".into(),
                client_ip: "192.0.2.7".into(),
            },
        ))
        .await
        .expect("a call over TLS")
        .into_inner();
    assert!(!r.image_png.is_empty());
    // A plaintext HTTP/2 client gets nothing from the TLS port.
    let plain = async {
        let ch = Channel::from_shared(format!("http://{}", app.addr))
            .expect("uri")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .map_err(|e| format!("{e:?}"))?;
        HealthClient::new(ch)
            .check(HealthCheckRequest::default())
            .await
            .map_err(|e| format!("{e:?}"))
    };
    assert!(
        plain.await.is_err(),
        "a plaintext client was served on the TLS port"
    );
    // The client commands speak https with --ca-file.
    let out = tokio::process::Command::new(BIN)
        .args([
            "health",
            "--addr",
            &format!("https://127.0.0.1:{}", app.addr.port()),
            "--ca-file",
            &pki.path("ca.pem"),
        ])
        .output()
        .await
        .expect("run moderato health");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("server: SERVING"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_admits_a_client_certificate_and_refuses_a_client_without_one() {
    let pki = make_pki();
    let app = TlsApp::start(&pki, true).await;
    let id = Identity::from_pem(&pki.client_cert_pem, &pki.client_key_pem);
    wait_tls_serving(app.addr, &pki, Some(id.clone())).await;
    assert_eq!(tls_health(app.addr, &pki, Some(id)).await, Ok(1));
    let without = tls_health(app.addr, &pki, None).await;
    assert!(
        without.is_err(),
        "a client without a certificate was served"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// Store errors, startup refusals (the `moderato` binary)

/// `moderato serve` on a Redis that then goes away: the caller gets a short, stable message with an error id, and
/// the log line with that id carries the detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_reach_callers_as_a_stable_message_with_an_id_found_in_the_log() {
    use tonic_types::StatusExt;
    let mut redis = RedisProcess::start(free_port(false), &[]);
    let port = free_port(false);
    let token_hash = moderato::auth::hash_token(PORTAL_TOKEN);
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "",
            "--redis-url",
            &format!("redis://127.0.0.1:{}", redis.port),
            "--key-prefix",
            &unique_prefix(),
        ])
        .env(
            "MODERATO__AUTH__TOKENS",
            format!("[{{name=\"portal\", role=\"portal\", sha256=\"{token_hash}\"}}]"),
        )
        .env("MODERATO__IDENTIFIER_HMAC_KEY", crate::harness::HMAC_KEY)
        .env("MODERATO__STORE__TIMEOUT_MS", "300")
        .env("RUST_LOG", "info")
        .arg("--log-json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn moderato serve");
    // Keep draining the log into a channel.
    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let _ = log_tx.send(l);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let ch = loop {
        if let Ok(ch) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect()
            .await
        {
            break ch;
        }
        assert!(Instant::now() < deadline, "moderato serve did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut c = CaptchaServiceClient::new(ch);
    let req = |ip: &str| {
        authed(
            PORTAL_TOKEN,
            CreateChallengeRequest {
                site: "hcm".into(),
                client_ip: ip.into(),
            },
        )
    };
    c.create_challenge(req("192.0.2.1"))
        .await
        .expect("works while redis is up");
    redis.kill();
    let err = c.create_challenge(req("192.0.2.2")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let msg = err.message().to_string();
    let id = msg
        .strip_prefix("store unavailable, retry later (error id ")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected message {msg:?}"))
        .to_string();
    assert_eq!(id.len(), 16, "{msg}");
    let details = err.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "STORE_UNAVAILABLE");
    assert_eq!(info.metadata.get("error_id"), Some(&id));
    assert_eq!(
        details.request_info().map(|r| r.request_id.clone()),
        Some(id.clone())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let l = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), log_rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no log line carries error id {id}"))
            .expect("log open");
        if l.contains(&id) {
            break l;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    let fields = &v["fields"];
    assert_eq!(fields["error_id"], id.as_str(), "{line}");
    assert!(
        fields["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "the log line lacks the detail: {line}"
    );
    // The detail stays in the log: the caller's message has none of it.
    assert!(!msg.contains(fields["detail"].as_str().unwrap_or("?")));
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[tokio::test]
async fn a_redis_store_without_tokens_refuses_to_start_with_the_fix() {
    let out = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .env("MODERATO__IDENTIFIER_HMAC_KEY", crate::harness::HMAC_KEY)
        .output()
        .await
        .expect("run moderato");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("tokens for this run"), "{stdout}");
    for fix in [
        "moderato token new",
        "[[auth.tokens]]",
        "embedded memory store",
    ] {
        assert!(stderr.contains(fix), "{fix:?} not in: {stderr}");
    }
}

#[tokio::test]
async fn every_unknown_key_and_bad_value_is_named_in_one_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("moderato.toml");
    std::fs::write(
        &path,
        "[server]\nlisn = \"127.0.0.1:1\"\nidle_timeout_ms = \"long\"\n[captcha]\nlenght = 5\ndifficulty = 9\n",
    )
    .expect("write");
    let out = tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("MODERATO__STORE__TIMEOUT_MS", "0")
        .output()
        .await
        .expect("run moderato");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for named in [
        "server.lisn: unknown key",
        "captcha.lenght: unknown key",
        "server.idle_timeout_ms:",
        "captcha.difficulty:",
        "store.timeout_ms:",
    ] {
        assert!(stderr.contains(named), "{named:?} not in: {stderr}");
    }
}

/// A Python grpcio client that sends raw bytes (no generated stubs): a CreateChallengeRequest whose `site` field
/// (1, length-delimited) holds invalid UTF-8. The answer is INVALID_ARGUMENT, and the metrics count it as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_raw_bytes_client_sending_invalid_utf8_gets_invalid_argument() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import grpc"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with grpcio is required (pip install grpcio, or run scripts/test.sh, which installs it)"
    );
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let invalid_before = rpc_count(&app, CREATE_CHALLENGE, "InvalidArgument").await;
    let internal_before = rpc_count(&app, CREATE_CHALLENGE, "Internal").await;
    let script = r#"
import sys, grpc
addr, token, method = sys.argv[1], sys.argv[2], sys.argv[3]
ch = grpc.insecure_channel(addr)
call = ch.unary_unary(method, request_serializer=None, response_deserializer=None)
body = bytes([0x0a, 0x03, 0xff, 0xfe, 0x41])  # field 1 (site), 3 bytes, not UTF-8
try:
    call(body, metadata=[("authorization", "Bearer " + token)], timeout=10)
    print("OK")
except grpc.RpcError as e:
    print(e.code().name)
    print(e.details())
"#;
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            script,
            &app.addr.to_string(),
            crate::harness::PORTAL_TOKEN,
            CREATE_CHALLENGE,
        ])
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("INVALID_ARGUMENT"), "{stdout}");
    assert!(
        lines
            .next()
            .is_some_and(|d| d.contains("undecodable request")),
        "{stdout}"
    );
    // Other tests in this process share the metrics registry: this call adds at least one.
    assert!(rpc_count(&app, CREATE_CHALLENGE, "InvalidArgument").await > invalid_before);
    assert_eq!(
        rpc_count(&app, CREATE_CHALLENGE, "Internal").await,
        internal_before
    );
}
