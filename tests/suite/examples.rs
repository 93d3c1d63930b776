//! The client examples run against a live server and their output is checked, so the integration guide they
//! back cannot rot.

use std::process::{Command, Stdio};

use moderato::proto::GetCommentRequest;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::rate_limit::{Descriptor, LimitRule};

use crate::harness::{BIN, Backend, PORTAL_TOKEN, authed, comment, spawn_app};

const PHP_HINT: &str = "php with php-curl is required by the example tests and was not found. Install it with \
`apt-get install -y php8.2-cli php8.2-curl` (Debian), or run `scripts/test.sh`, which installs it.";

fn require_php() {
    let ok = Command::new("php")
        .args(["-r", "exit(function_exists('curl_init') ? 0 : 1);"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{PHP_HINT}");
}

const NODE_HINT: &str = "node 18 or later (for its built-in fetch) is required by the example tests and was not \
found. Install it with `apt-get install -y nodejs` (Debian), or run `scripts/test.sh`, which installs it.";

fn require_node() {
    let ok = Command::new("node")
        .args(["-e", "process.exit(typeof fetch === 'function' ? 0 : 1)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{NODE_HINT}");
}

/// Runs `program script out-dir` against a live server allowing three submissions per client IP, and checks
/// its transcript line by line against the server's state. `image_line` is what it says of the image route.
async fn run_example(program: &str, script: &str, env: &[(&str, &str)], image_line: &str) {
    let app = spawn_app(Backend::Memory, |c| {
        c.captcha.test_answer_header = true;
        c.rate_limits = vec![LimitRule::new(Descriptor::ClientIp, 3, 600, 3)];
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = format!("{}/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(program)
        .arg(&script)
        .arg(dir.path())
        .env("MODERATO_HTTP", app.http_base())
        .env("MODERATO_TOKEN", PORTAL_TOKEN)
        .env("MODERATO_SITE", "hcm")
        .env("MODERATO_ADDR", app.addr.to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 8, "{stdout}");
    assert!(lines[0].starts_with("challenge "), "{stdout}");
    assert!(lines[0].contains("(5 characters)"), "{stdout}");
    let png = std::fs::read(dir.path().join("captcha.png")).expect("the saved image");
    assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
    assert_eq!(lines[1], image_line);
    // The comment the script submitted is really there, as the script reported it.
    let submitted = lines[2]
        .strip_prefix("submitted ")
        .unwrap_or_else(|| panic!("no submission line: {stdout}"));
    let (comment_id, rest) = submitted.split_once(": ").expect("id: status");
    let c = CommentServiceClient::new(app.channel().await)
        .get_comment(authed(
            PORTAL_TOKEN,
            GetCommentRequest {
                site: "hcm".into(),
                comment_id: comment_id.into(),
            },
        ))
        .await
        .expect("the submitted comment")
        .into_inner();
    let status = moderato::proto::CommentStatus::try_from(c.status).expect("status");
    assert!(
        rest.starts_with(status.as_str_name()),
        "{rest} vs {status:?}"
    );
    assert_eq!(c.author.map(|a| a.name).as_deref(), Some("Trần Thị Mai"));
    assert_eq!(lines[3], "fix the form: title: is required", "{stdout}");
    assert_eq!(
        lines[4], "captcha refused (CAPTCHA_INVALID): show a new challenge",
        "{stdout}"
    );
    // Three submissions per client IP: the script's loop is refused after the first one's two successors.
    assert!(
        lines[5].starts_with("rate limited: retry after ") && lines[5].ends_with(" s (client_ip)"),
        "{stdout}"
    );
    let secs: u64 = lines[5]
        .trim_start_matches("rate limited: retry after ")
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("seconds");
    assert!(secs > 0 && secs <= 600, "{secs}");
    let decisions: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("decision "))
        .copied()
        .collect();
    assert_eq!(decisions.len(), 3, "{stdout}");
    assert_eq!(
        decisions[0],
        format!(
            "decision {comment_id}: {} (DECISION_KIND_AUTOMATIC)",
            status.as_str_name()
        )
    );
    assert_eq!(lines.last().copied(), Some("next cursor 0-3"), "{stdout}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_php_example_completes_the_portal_flow_and_handles_each_error() {
    require_php();
    run_example("php", "examples/php/portal.php", &[], HTTP_IMAGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_example_completes_the_portal_flow_and_handles_each_error() {
    require_node();
    run_example("node", "examples/node/portal.mjs", &[], HTTP_IMAGE).await;
}

const HTTP_IMAGE: &str = "image route: the same image";

const GRPC_IMAGE: &str = "image route: not on gRPC, the image came with the challenge";

const NODE_GRPC_HINT: &str = "the Node gRPC example needs its packages (@grpc/grpc-js, @grpc/proto-loader, \
protobufjs), which were not found under examples/node/node_modules. Install them with `npm ci --prefix \
examples/node`, or run `scripts/test.sh`, which installs them.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_grpc_example_completes_the_portal_flow_and_handles_each_error() {
    require_node();
    let ok = Command::new("node")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/node"))
        .args([
            "--input-type=module",
            "-e",
            "await import('@grpc/grpc-js'); await import('@grpc/proto-loader'); await import('protobufjs');",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{NODE_GRPC_HINT}");
    run_example("node", "examples/node/grpc.mjs", &[], GRPC_IMAGE).await;
}

const PYTHON_HINT: &str = "python3 with grpcio, grpcio-tools and grpcio-status is required by the example tests \
and was not found. Install them with `pip install grpcio grpcio-tools grpcio-status`, or run `scripts/test.sh`, \
which installs them.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_grpc_example_completes_the_portal_flow_and_handles_each_error() {
    let ok = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, grpc_status"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{PYTHON_HINT}");
    // Stubs generated from proto/, as the example's instructions say.
    let gen_dir = tempfile::tempdir().expect("tempdir");
    let gen_path = gen_dir.path().display().to_string();
    let status = Command::new("python3")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "-m",
            "grpc_tools.protoc",
            "-Iproto",
            &format!("--python_out={gen_path}"),
            &format!("--grpc_python_out={gen_path}"),
            "proto/moderato/v1/common.proto",
            "proto/moderato/v1/captcha.proto",
            "proto/moderato/v1/comment.proto",
        ])
        .status()
        .expect("run grpc_tools.protoc");
    assert!(status.success(), "stub generation failed");
    run_example(
        "python3",
        "examples/python/portal.py",
        &[("PYTHONPATH", gen_path.as_str())],
        GRPC_IMAGE,
    )
    .await;
}

#[tokio::test]
async fn the_test_answer_header_is_refused_with_a_redis_store() {
    let out = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "",
            "--http-listen",
            "",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .env("MODERATO__CAPTCHA__TEST_ANSWER_HEADER", "true")
        .env("MODERATO__IDENTIFIER_HMAC_KEY", crate::harness::HMAC_KEY)
        .output()
        .await
        .expect("run moderato");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("captcha.test_answer_header") && stderr.contains("Redis"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_test_hook_no_answer_is_handed_out() {
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let r = crate::harness::http_call(
        "POST",
        &format!("{}/v1/sites/hcm/captcha-challenges", app.http_base()),
        Some(PORTAL_TOKEN),
        Some(br#"{"clientIp":"198.51.100.9"}"#),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header(moderato::http::portal::TEST_ANSWER_HEADER), None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_php_webhook_receiver_verifies_every_delivery_and_refuses_a_forged_one() {
    require_php();
    webhook_receiver(|addr| {
        let mut c = tokio::process::Command::new("php");
        c.args(["-S", addr]).arg(format!(
            "{}/examples/php/webhook.php",
            env!("CARGO_MANIFEST_DIR")
        ));
        c
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_webhook_receiver_verifies_every_delivery_and_refuses_a_forged_one() {
    require_node();
    webhook_receiver(|addr| {
        let mut c = tokio::process::Command::new("node");
        c.arg(format!(
            "{}/examples/node/webhook.mjs",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(addr);
        c
    })
    .await;
}

/// Runs a webhook receiver example (`receiver` builds its command for a listen address) and checks that it logs
/// every delivery once, in order, and refuses a forged signature and a replay from an hour ago.
async fn webhook_receiver(receiver: impl FnOnce(&str) -> tokio::process::Command) {
    use moderato::proto::SetWebhookRequest;
    use moderato::proto::admin_service_client::AdminServiceClient;
    let app = spawn_app(Backend::Memory, |c| {
        c.captcha.required = false;
        c.rate_limits.clear();
        c.webhooks.initial_backoff_ms = 20;
        c.webhooks.max_backoff_ms = 200;
    })
    .await;
    let ch = app.channel().await;
    let secret = "whsec_php-example-secret-0123456789";
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.jsonl");
    let port = crate::harness::free_port(false);
    let mut receiver = receiver(&format!("127.0.0.1:{port}"))
        .env("MODERATO_WEBHOOK_SECRET", secret)
        .env("MODERATO_WEBHOOK_LOG", &log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the receiver");
    let url = format!("http://127.0.0.1:{port}/moderato");
    AdminServiceClient::new(ch.clone())
        .set_webhook(authed(
            crate::harness::OPS_TOKEN,
            SetWebhookRequest {
                site: "hcm".into(),
                url: url.clone(),
                secret: secret.into(),
            },
        ))
        .await
        .expect("set webhook");
    let mut ids = Vec::new();
    for key in ["php-1", "php-2"] {
        let r = CommentServiceClient::new(ch.clone())
            .submit_comment(authed(
                PORTAL_TOKEN,
                comment("hcm", key, "Bài viết rất hữu ích, cảm ơn tòa soạn."),
            ))
            .await
            .expect("submit");
        ids.push(r.into_inner().comment_id);
    }
    // The receiver logs an event only once its signature verified (the first call may meet a receiver still
    // starting: delivery retries).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let logged = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        if rows.len() >= 2 {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the receiver logged {text:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let logged_ids: Vec<&str> = logged
        .iter()
        .map(|r| r["commentId"].as_str().expect("commentId"))
        .collect();
    assert_eq!(logged_ids, ids, "both decisions verified, in order");
    // A forged signature, and a genuine one replayed from an hour ago, are refused.
    let body =
        br#"{"id":"hcm/9-9","type":"comment.decision","site":"hcm","event":{"commentId":"x"}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    for (ts, sig) in [
        (now, "v1=00".to_string()),
        (
            now - 3600,
            format!("v1={}", moderato::webhook::sign(secret, now - 3600, body)),
        ),
    ] {
        let r = crate::harness::http_call(
            "POST",
            &url,
            None,
            Some(body),
            &[
                ("moderato-timestamp", &ts.to_string()),
                ("moderato-signature", &sig),
            ],
        )
        .await;
        assert_eq!(r.status, 400, "{ts} {sig}");
    }
    // The same, signed now, is accepted: the check is the signature and the window, nothing else.
    let sig = format!("v1={}", moderato::webhook::sign(secret, now, body));
    let r = crate::harness::http_call(
        "POST",
        &url,
        None,
        Some(body),
        &[
            ("moderato-timestamp", &now.to_string()),
            ("moderato-signature", &sig),
        ],
    )
    .await;
    assert_eq!(r.status, 204);
    let _ = receiver.kill().await;
    app.stop().await;
}
