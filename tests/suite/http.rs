//! JSON over HTTP on a real socket: every route's success and error shapes, the same messages and error details
//! as gRPC, long-poll and server-sent events, the OpenAPI document answered route by route.

use std::net::IpAddr;
use std::time::Duration;

use http_body_util::BodyExt;
use moderato::captcha::{Captchas, Settings};
use moderato::proto::captcha_service_client::CaptchaServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::{
    CreateChallengeRequest, CreateChallengeResponse, GetCommentRequest, SubmitCommentRequest,
    WatchDecisionsRequest,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use serde_json::{Value, json};
use tonic_types::StatusExt;

use crate::harness::{
    Backend, HAM, HttpReply, MODERATOR_TOKEN, PORTAL_TOKEN, TestApp, authed, http_call,
    http_client, http_request, spawn_app, violated_fields,
};

fn settings(app: &TestApp) -> Settings {
    let c = &app.cfg.captcha;
    Settings {
        length: c.length,
        difficulty: c.difficulty,
        ttl_seconds: c.ttl_seconds,
        max_live_per_client: c.max_live_per_client,
        create_limit: c.create_limit,
    }
}

/// A challenge with a known answer, issued through the store and keys the server uses.
async fn issue(app: &TestApp, answer: &str) -> String {
    let captchas = Captchas::new(app.store.clone(), app.ids.clone(), app.keys.clone());
    let ip: IpAddr = "198.51.100.4".parse().unwrap();
    captchas
        .create_with_answer("hcm", ip, &settings(app), answer)
        .await
        .expect("issue")
        .id
}

fn submission(key: &str, captcha: Option<(&str, &str)>) -> Value {
    let mut v = json!({
        "threadId": "bai-viet-42",
        "idempotencyKey": key,
        "author": {"name": "Trần Thị Mai"},
        "title": "Góp ý",
        "body": HAM,
        "client": {"ip": "203.0.113.20", "userAgent": "test"},
    });
    if let Some((id, answer)) = captcha {
        v["captcha"] = json!({"challengeId": id, "answer": answer});
    }
    v
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> HttpReply {
    let body = serde_json::to_vec(body).expect("json");
    http_call(
        "POST",
        &format!("{}{path}", app.http_base()),
        token,
        Some(&body),
        &[],
    )
    .await
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> HttpReply {
    http_call(
        "GET",
        &format!("{}{path}", app.http_base()),
        token,
        None,
        &[],
    )
    .await
}

/// Asserts a google.rpc.Status answer: HTTP code, gRPC code, JSON content type.
fn assert_status(r: &HttpReply, http: u16, grpc: i64) -> Value {
    assert_eq!(r.status, http, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json"),
        "{}",
        r.text()
    );
    let v = r.json();
    assert_eq!(v["code"], grpc, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}

fn detail<'a>(v: &'a Value, kind: &str) -> &'a Value {
    v["details"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find(|d| d["@type"] == format!("type.googleapis.com/google.rpc.{kind}"))
        })
        .unwrap_or_else(|| panic!("no {kind} in {v}"))
}

fn fields(v: &Value) -> Vec<String> {
    detail(v, "BadRequest")["fieldViolations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn to_json<T: serde::Serialize>(m: &T) -> Value {
    serde_json::to_value(m).expect("pbjson serializes")
}

async fn the_portal_flow_answers_the_messages_grpc_answers(backend: Backend) {
    let app = spawn_app(backend, |_| {}).await;
    let ch = app.channel().await;

    // A challenge over HTTP: the proto3 JSON of CreateChallengeResponse, and its image at the Location.
    let r = post(
        &app,
        "/v1/sites/hcm/captcha-challenges",
        Some(PORTAL_TOKEN),
        &json!({"clientIp": "198.51.100.7"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let created: CreateChallengeResponse = serde_json::from_value(v.clone()).expect("the message");
    assert_eq!(created.challenge_id.len(), 32);
    assert!(created.image_png.starts_with(&[0x89, b'P', b'N', b'G']));
    assert!(v["imagePng"].is_string(), "bytes are base64: {v}");
    assert!(
        v["expiresAt"].as_str().is_some_and(|t| t.contains('T')),
        "{v}"
    );
    assert_eq!(v["answerLength"], app.cfg.captcha.length);
    let location = r.header("location").expect("Location");
    assert_eq!(
        location,
        format!(
            "/v1/sites/hcm/captcha-challenges/{}/image.png",
            created.challenge_id
        )
    );
    let img = get(&app, &location, Some(PORTAL_TOKEN)).await;
    assert_eq!(img.status, 200);
    assert_eq!(img.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(img.body, created.image_png);

    // A submission with a right answer, then its replay.
    let id = issue(&app, "m4kx9").await;
    let body = submission("k-http-1", Some((&id, "M4KX9")));
    let r = post(&app, "/v1/sites/hcm/comments", Some(PORTAL_TOKEN), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json();
    let comment_id = first["commentId"].as_str().expect("commentId").to_string();
    assert!(
        [
            "COMMENT_STATUS_PUBLISHED",
            "COMMENT_STATUS_PENDING_REVIEW",
            "COMMENT_STATUS_REJECTED"
        ]
        .contains(&first["status"].as_str().unwrap_or_default()),
        "{first}"
    );
    // uint64 as a string when set (the configuration's default policy is version 0, left out).
    assert!(
        first.get("policyVersion").is_none_or(Value::is_string),
        "{first}"
    );
    assert!(
        first.get("replayed").is_none(),
        "false is left out: {first}"
    );
    let r = post(&app, "/v1/sites/hcm/comments", Some(PORTAL_TOKEN), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let again = r.json();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["commentId"], first["commentId"]);

    // The comment over HTTP is the gRPC GetComment answer, field for field.
    let r = get(
        &app,
        &format!("/v1/sites/hcm/comments/{comment_id}"),
        Some(PORTAL_TOKEN),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let grpc = CommentServiceClient::new(ch.clone())
        .get_comment(authed(
            PORTAL_TOKEN,
            GetCommentRequest {
                site: "hcm".into(),
                comment_id: comment_id.clone(),
            },
        ))
        .await
        .expect("gRPC GetComment")
        .into_inner();
    // Byte for byte: the same message in the same mapping.
    assert_eq!(r.text(), serde_json::to_string(&grpc).expect("json"));
    assert_eq!(r.json()["author"]["name"], "Trần Thị Mai");

    // Decisions by long-poll are WatchDecisions' events.
    let r = get(
        &app,
        "/v1/sites/hcm/decisions?timeout=5",
        Some(PORTAL_TOKEN),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    let events = page["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["commentId"], comment_id.as_str());
    assert_eq!(events[0]["kind"], "DECISION_KIND_AUTOMATIC");
    assert_eq!(page["nextCursor"], events[0]["cursor"]);
    let mut watch = CommentServiceClient::new(ch.clone())
        .watch_decisions(authed(
            PORTAL_TOKEN,
            WatchDecisionsRequest {
                site: "hcm".into(),
                after_cursor: String::new(),
            },
        ))
        .await
        .expect("watch")
        .into_inner();
    let e = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("an event in time")
        .expect("stream")
        .expect("one event");
    assert_eq!(events[0], to_json(&e));

    // Nothing after the last cursor: an empty page that keeps the cursor.
    let cursor = page["nextCursor"].as_str().expect("cursor").to_string();
    let r = get(
        &app,
        &format!("/v1/sites/hcm/decisions?after={cursor}&timeout=1"),
        Some(PORTAL_TOKEN),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"nextCursor": cursor}));

    // A long-poll in progress returns with a decision recorded while it waits.
    let poll = {
        let url = format!(
            "{}/v1/sites/hcm/decisions?after={cursor}&timeout=30",
            app.http_base()
        );
        tokio::spawn(async move { http_call("GET", &url, Some(PORTAL_TOKEN), None, &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Still waiting: nothing after `cursor` yet, so an answer now would be an empty page, not the new decision.
    assert!(
        !poll.is_finished(),
        "the long-poll answered before any decision"
    );
    let id = issue(&app, "p2wz7").await;
    let r = post(
        &app,
        "/v1/sites/hcm/comments",
        Some(PORTAL_TOKEN),
        &submission("k-http-2", Some((&id, "p2wz7"))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let second = r.json()["commentId"].clone();
    let polled = poll.await.expect("join");
    assert_eq!(polled.status, 200, "{}", polled.text());
    let page = polled.json();
    assert_eq!(page["events"][0]["commentId"], second, "{page}");

    // CheckChallenge over HTTP: right once, then gone.
    let id = issue(&app, "q8rt2").await;
    let r = post(
        &app,
        &format!("/v1/sites/hcm/captcha-challenges/{id}/check"),
        Some(PORTAL_TOKEN),
        &json!({"answer": "q8rt2"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({}));
    let r = post(
        &app,
        &format!("/v1/sites/hcm/captcha-challenges/{id}/check"),
        Some(PORTAL_TOKEN),
        &json!({"answer": "q8rt2"}),
    )
    .await;
    let v = assert_status(&r, 400, 9);
    assert_eq!(detail(&v, "ErrorInfo")["reason"], "CAPTCHA_INVALID");
    app.stop().await;
}
on_every_backend!(
    portal_flow,
    the_portal_flow_answers_the_messages_grpc_answers
);

async fn every_error_carries_the_grpc_status_and_its_details(backend: Backend) {
    let app = spawn_app(backend, |_| {}).await;
    let ch = app.channel().await;
    let path = "/v1/sites/hcm/comments";
    let body = submission("k-err", None);

    // Tokens and roles, as on gRPC.
    let r = post(&app, path, None, &body).await;
    assert_status(&r, 401, 16);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );
    let r = post(&app, path, Some("not-a-token"), &body).await;
    assert_status(&r, 401, 16);
    let r = post(&app, path, Some(MODERATOR_TOKEN), &body).await;
    let v = assert_status(&r, 403, 7);
    assert!(
        v["message"].as_str().unwrap_or_default().contains("portal"),
        "{v}"
    );

    // Bad fields: the same BadRequest as gRPC's for the same request.
    let bad = json!({"idempotencyKey": "", "title": "", "body": "", "client": {"ip": "nope"}});
    let r = post(&app, path, Some(PORTAL_TOKEN), &bad).await;
    let v = assert_status(&r, 400, 3);
    let grpc = CommentServiceClient::new(ch.clone())
        .submit_comment(authed(
            PORTAL_TOKEN,
            SubmitCommentRequest {
                site: "hcm".into(),
                client: Some(moderato::proto::Client {
                    ip: "nope".into(),
                    user_agent: String::new(),
                }),
                ..Default::default()
            },
        ))
        .await
        .expect_err("refused");
    assert!(!violated_fields(&grpc).is_empty());
    assert_eq!(fields(&v), violated_fields(&grpc));
    assert_eq!(v["message"], grpc.message());

    // A wrong captcha, then a reused idempotency key: ErrorInfo with the gRPC reason and domain.
    let id = issue(&app, "m4kx9").await;
    let r = post(
        &app,
        path,
        Some(PORTAL_TOKEN),
        &submission("k-wrong", Some((&id, "zzzzz"))),
    )
    .await;
    let v = assert_status(&r, 400, 9);
    assert_eq!(detail(&v, "ErrorInfo")["reason"], "CAPTCHA_INVALID");
    assert_eq!(detail(&v, "ErrorInfo")["domain"], "moderato.v1");
    let id = issue(&app, "m4kx9").await;
    let r = post(
        &app,
        path,
        Some(PORTAL_TOKEN),
        &submission("k-reuse", Some((&id, "m4kx9"))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut other = submission("k-reuse", Some((&id, "m4kx9")));
    other["body"] = json!("Một bình luận khác hẳn.");
    let r = post(&app, path, Some(PORTAL_TOKEN), &other).await;
    let v = assert_status(&r, 400, 9);
    assert_eq!(detail(&v, "ErrorInfo")["reason"], "IDEMPOTENCY_KEY_REUSED");

    // Bodies that are not the message, a site that disagrees with the path, a body too large.
    let r = http_call(
        "POST",
        &format!("{}{path}", app.http_base()),
        Some(PORTAL_TOKEN),
        Some(b"{\"title\": "),
        &[],
    )
    .await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["body"]);
    let r = post(&app, path, Some(PORTAL_TOKEN), &json!({"title": 5})).await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["body"]);
    let mut elsewhere = submission("k-site", None);
    elsewhere["site"] = json!("hn");
    let r = post(&app, path, Some(PORTAL_TOKEN), &elsewhere).await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["site"]);
    let huge = vec![b' '; moderato::http::MAX_BODY_BYTES + 1];
    let r = http_call(
        "POST",
        &format!("{}{path}", app.http_base()),
        Some(PORTAL_TOKEN),
        Some(&huge),
        &[],
    )
    .await;
    assert_status(&r, 413, 3);
    let r = post(
        &app,
        "/v1/sites/Not%20A%20Site/comments",
        Some(PORTAL_TOKEN),
        &body,
    )
    .await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["site"]);

    // Lookups.
    let r = get(
        &app,
        "/v1/sites/hcm/comments/0123456789abcdef0123456789abcdef",
        Some(PORTAL_TOKEN),
    )
    .await;
    let v = assert_status(&r, 404, 5);
    let grpc = CommentServiceClient::new(ch.clone())
        .get_comment(authed(
            PORTAL_TOKEN,
            GetCommentRequest {
                site: "hcm".into(),
                comment_id: "0123456789abcdef0123456789abcdef".into(),
            },
        ))
        .await
        .expect_err("unknown");
    assert_eq!(grpc.code(), tonic::Code::NotFound);
    assert_eq!(v["message"], grpc.message());
    let r = get(&app, "/v1/sites/hcm/comments/..%2Fetc", Some(PORTAL_TOKEN)).await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["comment_id"]);
    let r = get(
        &app,
        "/v1/sites/hcm/captcha-challenges/0123456789abcdef0123456789abcdef/image.png",
        Some(PORTAL_TOKEN),
    )
    .await;
    assert_status(&r, 404, 5);
    let r = get(
        &app,
        "/v1/sites/hcm/captcha-challenges/xyz/image.png",
        Some(PORTAL_TOKEN),
    )
    .await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["challenge_id"]);
    let r = post(
        &app,
        "/v1/sites/hcm/captcha-challenges",
        Some(PORTAL_TOKEN),
        &json!({"clientIp": "not-an-ip"}),
    )
    .await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["client_ip"]);
    let r = post(
        &app,
        "/v1/sites/hcm/captcha-challenges/xyz/check",
        Some(PORTAL_TOKEN),
        &json!({}),
    )
    .await;
    assert_eq!(
        fields(&assert_status(&r, 400, 3)),
        ["challenge_id", "answer"]
    );

    // Decisions: the cursor is named as this route's parameter.
    let r = get(
        &app,
        "/v1/sites/hcm/decisions?after=nope",
        Some(PORTAL_TOKEN),
    )
    .await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["after"]);
    let r = get(
        &app,
        "/v1/sites/hcm/decisions?timeout=600&max=0",
        Some(PORTAL_TOKEN),
    )
    .await;
    assert_eq!(fields(&assert_status(&r, 400, 3)), ["timeout", "max"]);
    let r = get(&app, "/v1/sites/hcm/decisions", Some(MODERATOR_TOKEN)).await;
    assert_status(&r, 403, 7);

    // Unknown routes and methods.
    let r = get(&app, "/v1/nothing-here", Some(PORTAL_TOKEN)).await;
    assert_status(&r, 404, 5);
    let r = http_call(
        "DELETE",
        &format!("{}{path}", app.http_base()),
        Some(PORTAL_TOKEN),
        None,
        &[],
    )
    .await;
    assert_status(&r, 405, 12);
    app.stop().await;
}
on_every_backend!(errors, every_error_carries_the_grpc_status_and_its_details);

async fn a_rate_limit_is_429_with_retry_after_and_the_grpc_details(backend: Backend) {
    let app = spawn_app(backend, |c| {
        c.captcha.create_limit = LimitRule::new(Descriptor::CaptchaClient, 1, 3600, 1);
    })
    .await;
    let body = json!({"clientIp": "198.51.100.30"});
    let path = "/v1/sites/hcm/captcha-challenges";
    let r = post(&app, path, Some(PORTAL_TOKEN), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(&app, path, Some(PORTAL_TOKEN), &body).await;
    let v = assert_status(&r, 429, 8);
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    assert_eq!(detail(&v, "RetryInfo")["retryDelay"], format!("{retry}s"));
    let grpc = CaptchaServiceClient::new(app.channel().await)
        .create_challenge(authed(
            PORTAL_TOKEN,
            CreateChallengeRequest {
                site: "hcm".into(),
                client_ip: "198.51.100.30".into(),
            },
        ))
        .await
        .expect_err("limited on gRPC too");
    let d = grpc.get_error_details();
    let q = d.quota_failure().expect("QuotaFailure");
    let violations = detail(&v, "QuotaFailure")["violations"].clone();
    assert_eq!(violations[0]["subject"], q.violations[0].subject.as_str());
    assert_eq!(
        violations[0]["description"],
        q.violations[0].description.as_str()
    );
    assert_eq!(v["message"], grpc.message());
    app.stop().await;
}
on_every_backend!(
    rate_limited,
    a_rate_limit_is_429_with_retry_after_and_the_grpc_details
);

/// Reads a server-sent event stream until `done` holds for the text read so far.
async fn read_events(
    body: &mut hyper::body::Incoming,
    text: &mut String,
    done: impl Fn(&str) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(text) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no matching event in time; got: {text}"));
        match frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    text.push_str(&String::from_utf8_lossy(d));
                }
            }
            other => panic!("the stream ended ({other:?}); got: {text}"),
        }
    }
}

async fn server_sent_events_stream_decisions_and_resume_from_the_last_id(backend: Backend) {
    let app = spawn_app(backend, |c| c.captcha.required = false).await;
    let first = post(
        &app,
        "/v1/sites/hcm/comments",
        Some(PORTAL_TOKEN),
        &submission("k-sse-1", None),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first_id = first.json()["commentId"].as_str().expect("id").to_string();
    let url = format!("{}/v1/sites/hcm/decisions", app.http_base());
    let resp = http_client()
        .request(http_request(
            "GET",
            &url,
            Some(PORTAL_TOKEN),
            None,
            &[("accept", "text/event-stream")],
        ))
        .await
        .expect("stream");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap_or_default(),
        "text/event-stream"
    );
    let mut body = resp.into_body();
    let mut text = String::new();
    read_events(&mut body, &mut text, |t| {
        t.contains(&first_id) && t.contains("\n\n")
    })
    .await;
    assert!(text.contains("event: decision\n"), "{text}");
    // The id is the cursor, the data a DecisionEvent in JSON.
    let id_line = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("an id line")
        .to_string();
    let data: Value = serde_json::from_str(
        text.lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("a data line"),
    )
    .expect("JSON data");
    assert_eq!(data["cursor"], id_line.as_str());
    assert_eq!(data["commentId"], first_id.as_str());

    // A decision recorded while the stream is open arrives on it.
    let second = post(
        &app,
        "/v1/sites/hcm/comments",
        Some(PORTAL_TOKEN),
        &submission("k-sse-2", None),
    )
    .await;
    let second_id = second.json()["commentId"].as_str().expect("id").to_string();
    read_events(&mut body, &mut text, |t| t.contains(&second_id)).await;

    // Reconnecting with Last-Event-ID resumes after it: the first event is not sent again.
    let resp = http_client()
        .request(http_request(
            "GET",
            &url,
            Some(PORTAL_TOKEN),
            None,
            &[("accept", "text/event-stream"), ("last-event-id", &id_line)],
        ))
        .await
        .expect("stream");
    let mut resumed_body = resp.into_body();
    let mut resumed = String::new();
    read_events(&mut resumed_body, &mut resumed, |t| t.contains(&second_id)).await;
    assert!(!resumed.contains(&first_id), "{resumed}");

    // On shutdown the stream ends with an UNAVAILABLE error event.
    app.stop().await;
    read_events(&mut body, &mut text, |t| t.contains("event: error")).await;
    let err_data = text
        .split("event: error\n")
        .nth(1)
        .and_then(|rest| rest.lines().find_map(|l| l.strip_prefix("data: ")))
        .expect("error data");
    let status: Value = serde_json::from_str(err_data).expect("a Status");
    assert_eq!(status["code"], 14, "{status}");
}
on_every_backend!(
    sse,
    server_sent_events_stream_decisions_and_resume_from_the_last_id
);

/// The properties of `value` that `schema` (resolved in `doc`) does not name, with their paths.
fn undocumented(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    };
    match value {
        Value::Object(m) => {
            let props = &schema["properties"];
            for (k, v) in m {
                if props.get(k).is_none() && schema["additionalProperties"].is_null() {
                    out.push(format!("{at}.{k}"));
                } else if let Some(s) = props.get(k) {
                    undocumented(doc, s, v, &format!("{at}.{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                undocumented(doc, &schema["items"], v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {
            let ty = schema["type"].as_str();
            let ok = match ty {
                Some("string") => value.is_string(),
                Some("integer") => value.is_i64() || value.is_u64(),
                Some("number") => value.is_number(),
                Some("boolean") => value.is_boolean(),
                _ => true,
            };
            if !ok {
                out.push(format!("{at}: {value} is not {ty:?}"));
            }
            if let (Some(allowed), Some(s)) = (schema["enum"].as_array(), value.as_str())
                && !allowed.iter().any(|a| a == s)
            {
                out.push(format!("{at}: {s} is not one of the enum's values"));
            }
        }
    }
}

async fn every_route_in_the_openapi_document_answers_as_it_says(backend: Backend) {
    let app = spawn_app(backend, |c| c.captcha.required = false).await;
    let r = get(&app, "/v1/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    // What is served is the document the code describes (docs/openapi.json, committed, must not have drifted).
    assert_eq!(doc, moderato::http::openapi::document());

    // Fixtures the routes' parameters need.
    let created = post(
        &app,
        "/v1/sites/hcm/captcha-challenges",
        Some(PORTAL_TOKEN),
        &json!({"clientIp": "198.51.100.40"}),
    )
    .await
    .json();
    let image_id = created["challengeId"].as_str().expect("id").to_string();
    let submitted = post(
        &app,
        "/v1/sites/hcm/comments",
        Some(PORTAL_TOKEN),
        &submission("k-doc-0", None),
    )
    .await
    .json();
    let comment_id = submitted["commentId"].as_str().expect("id").to_string();

    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), 7, "a route was added: give it a case here");
    let mut n = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            let op_id = op["operationId"].as_str().expect("operationId");
            let (id, body, query) = match op_id {
                "GetOpenApi" => (String::new(), None, ""),
                "CreateChallenge" => (
                    String::new(),
                    Some(json!({"clientIp": "198.51.100.41"})),
                    "",
                ),
                "GetChallengeImage" => (image_id.clone(), None, ""),
                "CheckChallenge" => (
                    issue(&app, "w3ck9").await,
                    Some(json!({"answer": "w3ck9"})),
                    "",
                ),
                "SubmitComment" => (
                    String::new(),
                    Some(submission(&format!("k-doc-{n}"), None)),
                    "",
                ),
                "GetComment" => (comment_id.clone(), None, ""),
                "ListDecisions" => (String::new(), None, "?timeout=5"),
                other => panic!("no case for {other}"),
            };
            let url = format!(
                "{}{}{query}",
                app.http_base(),
                path.replace("{site}", "hcm").replace("{id}", &id)
            );
            let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
            let m = method.to_uppercase();
            let r = http_call(&m, &url, Some(PORTAL_TOKEN), bytes.as_deref(), &[]).await;
            let documented = &op["responses"][r.status.to_string()];
            assert!(
                !documented.is_null(),
                "{m} {path} answered {} which is not documented: {}",
                r.status,
                r.text()
            );
            assert_eq!(r.status, 200, "{m} {path}: {}", r.text());
            let ctype = r.header("content-type").expect("content type");
            let content = &documented["content"][&ctype];
            assert!(!content.is_null(), "{m} {path}: {ctype} is not documented");
            if ctype == "application/json" && op_id != "GetOpenApi" {
                let mut extra = Vec::new();
                undocumented(&doc, &content["schema"], &r.json(), "", &mut extra);
                assert!(extra.is_empty(), "{m} {path}: {extra:?}");
            }
            // A bad site id: 400 with a google.rpc.Status, as documented.
            if path.contains("{site}") {
                let bad_url = url.replacen("/sites/hcm/", "/sites/Not%20A%20Site/", 1);
                let r = http_call(&m, &bad_url, Some(PORTAL_TOKEN), bytes.as_deref(), &[]).await;
                assert_eq!(r.status, 400, "{m} {path}: {}", r.text());
                assert!(
                    !op["responses"]["400"].is_null(),
                    "{m} {path}: 400 undocumented"
                );
                let mut extra = Vec::new();
                undocumented(
                    &doc,
                    &json!({"$ref": "#/components/schemas/Status"}),
                    &r.json(),
                    "",
                    &mut extra,
                );
                assert!(extra.is_empty(), "{m} {path}: {extra:?}");
                assert_eq!(fields(&r.json()), ["site"], "{m} {path}");
            }
            // Without a token: 401 where the document says a token is needed.
            let r = http_call(&m, &url, None, bytes.as_deref(), &[]).await;
            if op["security"] == json!([]) {
                assert_eq!(r.status, 200, "{m} {path} needs no token");
            } else {
                assert_eq!(r.status, 401, "{m} {path}");
                assert!(
                    !op["responses"]["401"].is_null(),
                    "{m} {path}: 401 undocumented"
                );
                let mut extra = Vec::new();
                undocumented(
                    &doc,
                    &json!({"$ref": "#/components/schemas/Status"}),
                    &r.json(),
                    "",
                    &mut extra,
                );
                assert!(extra.is_empty(), "{m} {path}: {extra:?}");
            }
            n += 1;
        }
    }
    assert_eq!(n, 7);
    app.stop().await;
}
on_every_backend!(
    openapi,
    every_route_in_the_openapi_document_answers_as_it_says
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_http_listen_disables_http_and_a_silent_connection_is_closed() {
    let app = spawn_app(Backend::Memory, |c| c.server.http_listen = String::new()).await;
    assert!(app.http_addr.is_none());
    app.stop().await;

    let app = spawn_app(Backend::Memory, |c| {
        c.server.handshake_timeout_ms = 300;
        c.server.idle_timeout_ms = 300;
    })
    .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.http_addr.expect("http");
    // No request at all: closed after the handshake timeout.
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
        .await
        .expect("the server closed the silent connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "{:?}", &buf[..n]);
    // One keep-alive request answered, then nothing: closed after the idle timeout.
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut got))
        .await
        .expect("the server closed the idle connection")
        .expect("read");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got[..got.len().min(200)])
    );
    app.stop().await;
}

/// One HTTP/1.1 request over TLS to `addr`, trusting the test CA; `client` is a PEM certificate and key for mTLS.
async fn https_get(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    client: Option<(&str, &str)>,
    path: &str,
) -> Result<(u16, Vec<u8>), String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA pem")).expect("CA");
    }
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("client cert"),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key"),
            )
            .expect("client auth"),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_configured_http_speaks_https_with_the_same_certificate_and_mtls() {
    let pki = crate::wire::make_pki();
    let app = crate::wire::TlsApp::start(&pki, false).await;
    crate::wire::wait_tls_serving(app.addr, &pki, None).await;
    let addr = app.http_addr.expect("http");
    let (status, body) = https_get(addr, &pki.ca_pem, None, "/v1/openapi.json")
        .await
        .expect("an HTTPS request");
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    // A plaintext request gets no answer from the TLS port.
    let plain = http_client()
        .request(http_request(
            "GET",
            &format!("http://{addr}/v1/openapi.json"),
            None,
            None,
            &[],
        ))
        .await;
    assert!(plain.is_err(), "{plain:?}");
    app.stop().await;

    // With a client CA, only clients with a certificate it signed get through.
    let app = crate::wire::TlsApp::start(&pki, true).await;
    let addr = app.http_addr.expect("http");
    let without = https_get(addr, &pki.ca_pem, None, "/v1/openapi.json").await;
    assert!(without.is_err(), "{without:?}");
    let (status, _) = https_get(
        addr,
        &pki.ca_pem,
        Some((&pki.client_cert_pem, &pki.client_key_pem)),
        "/v1/openapi.json",
    )
    .await
    .expect("an mTLS request");
    assert_eq!(status, 200);
    app.stop().await;
}
