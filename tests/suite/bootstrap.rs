//! A new site from bootstrap mode to a model of its own, end to end through gRPC.

use moderato::cli::bootstrap::{TrainSite, train_site_model};
use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    ActivateModelRequest, ClaimReviewsRequest, CommentStatus, DecideReviewRequest,
    ExportLabelsRequest, GetBootstrapStatusRequest, GetPolicyRequest, Label, SubmitCommentRequest,
    UpdatePolicyRequest, Verdict,
};

use crate::harness::{
    BIN, Backend, MODERATOR_TOKEN, OPS_TOKEN, PORTAL_TOKEN, authed, author_named, client_at,
    comment, spawn_app,
};

fn submission(i: usize, body: &str) -> SubmitCommentRequest {
    SubmitCommentRequest {
        thread_id: "t".into(),
        author: author_named("Bạn đọc"),
        title: "Ý kiến".into(),
        client: client_at(&format!("192.0.2.{}", i % 250 + 1)),
        ..comment("nova", &format!("b{i}"), body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_site_goes_from_bootstrap_to_its_own_model() {
    let root = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(moderato::startup::SHIPPED_MODEL_DIR);
    let default_dir = root.path().join("default");
    std::fs::create_dir_all(&default_dir).unwrap();
    for f in ["model.bin", "card.json"] {
        std::fs::copy(shipped.join(f), default_dir.join(f)).unwrap();
    }
    let app = spawn_app(Backend::Memory, |c| {
        c.captcha.required = false;
        c.model_dir = default_dir.display().to_string();
    })
    .await;
    let ch = app.channel().await;
    let mut admin = AdminServiceClient::new(ch.clone());

    // The site starts in bootstrap mode.
    let (mut p, _) = {
        let r = admin
            .get_policy(authed(
                OPS_TOKEN,
                GetPolicyRequest {
                    site: "nova".into(),
                },
            ))
            .await
            .expect("policy")
            .into_inner();
        (r.policy.unwrap(), r.inherited)
    };
    p.bootstrap_labels = 8;
    let stored = admin
        .update_policy(authed(
            OPS_TOKEN,
            UpdatePolicyRequest {
                site: "nova".into(),
                policy: Some(p),
                expected_version: 0,
                clear_overrides: Vec::new(),
            },
        ))
        .await
        .expect("bootstrap on")
        .into_inner()
        .policy
        .unwrap();

    // Everything is held until moderators have labelled enough.
    let all = crate::harness::dev_set();
    let rows: Vec<(String, bool)> = all
        .iter()
        .filter(|r| r.1)
        .take(12)
        .chain(all.iter().filter(|r| !r.1).take(12))
        .cloned()
        .collect();
    assert!(rows.iter().any(|r| r.1) && rows.iter().any(|r| !r.1));
    let mut comment = CommentServiceClient::new(ch.clone());
    let mut truth = std::collections::HashMap::new();
    let mut held = 0;
    for (i, (body, spam)) in rows.iter().enumerate() {
        let r = comment
            .submit_comment(authed(PORTAL_TOKEN, submission(i, body)))
            .await
            .expect("submit")
            .into_inner();
        if r.status != CommentStatus::Rejected as i32 {
            assert_eq!(r.status, CommentStatus::PendingReview as i32);
            assert!(
                r.reasons.iter().any(|x| x.code == "BOOTSTRAP"),
                "{:?}",
                r.reasons
            );
            held += 1;
        }
        truth.insert(r.comment_id, *spam);
    }
    assert!(held >= 8, "only {held} comments held for the bootstrap");
    let status = admin
        .get_bootstrap_status(authed(
            OPS_TOKEN,
            GetBootstrapStatusRequest {
                site: "nova".into(),
            },
        ))
        .await
        .expect("status")
        .into_inner();
    assert_eq!(
        (status.labels, status.required, status.ready),
        (0, 8, false)
    );

    // Moderators work the queue; their decisions are the labels.
    let mut m = ModerationServiceClient::new(ch.clone());
    let items = m
        .claim_reviews(authed(
            MODERATOR_TOKEN,
            ClaimReviewsRequest {
                site: "nova".into(),
                max_items: 100,
                lease_seconds: 300,
            },
        ))
        .await
        .expect("claim")
        .into_inner()
        .items;
    assert!(items.len() >= 8, "{} held", items.len());
    for item in &items {
        let c = item.comment.as_ref().unwrap();
        let spam = truth[&c.comment_id];
        m.decide_review(authed(
            MODERATOR_TOKEN,
            DecideReviewRequest {
                site: "nova".into(),
                comment_id: c.comment_id.clone(),
                lease_token: item.lease_token.clone(),
                verdict: if spam {
                    Verdict::Reject
                } else {
                    Verdict::Approve
                } as i32,
                label: if spam { Label::Spam } else { Label::Ham } as i32,
                note: String::new(),
            },
        ))
        .await
        .expect("decide");
    }
    let status = admin
        .get_bootstrap_status(authed(
            OPS_TOKEN,
            GetBootstrapStatusRequest {
                site: "nova".into(),
            },
        ))
        .await
        .expect("status")
        .into_inner();
    assert!(status.ready, "{status:?}");
    assert!(
        status
            .next_steps
            .iter()
            .any(|s| s.contains("bootstrap train"))
    );

    // The suggested site model is trained from the export, evaluated, and activated.
    let mut export = m
        .export_labels(authed(
            MODERATOR_TOKEN,
            ExportLabelsRequest {
                site: "nova".into(),
            },
        ))
        .await
        .expect("export")
        .into_inner();
    let labels_csv = root.path().join("nova-labels.csv");
    let mut w = csv::Writer::from_path(&labels_csv).unwrap();
    w.write_record(["text", "label"]).unwrap();
    while let Some(l) = export.message().await.expect("stream") {
        let label = if l.label == Label::Spam as i32 {
            "spam"
        } else {
            "ham"
        };
        w.write_record([l.text.as_str(), label]).unwrap();
    }
    w.flush().unwrap();
    let out = root.path().join("nova-site");
    let args = TrainSite {
        site: "nova".into(),
        labels: labels_csv,
        out: out.clone(),
        base: Vec::new(),
        holdout: 0.3,
        current: default_dir.clone(),
        seed: 7,
        combiner_data: concat!(env!("CARGO_MANIFEST_DIR"), "/data/vi-dev/comments.csv").into(),
        no_combiner: false,
    };
    let trained = tokio::task::spawn_blocking(move || train_site_model(&args))
        .await
        .expect("join")
        .expect("site model trained");
    assert!(trained.held_back > 0);
    assert!(trained.new_macro_f1.is_finite() && trained.current_macro_f1.is_finite());
    // The site model keeps a fitted combiner, so the lexicon and rule signals stay weighted, not hard rules.
    let site_model = moderato::scoring::Scorer::load(&out).expect("site model loads");
    assert!(site_model.combiner().is_some());
    admin
        .activate_model(authed(
            OPS_TOKEN,
            ActivateModelRequest {
                site: "nova".into(),
                version: trained.version.clone(),
            },
        ))
        .await
        .expect("activate");
    let mut p = stored;
    p.bootstrap_labels = 0;
    admin
        .update_policy(authed(
            OPS_TOKEN,
            UpdatePolicyRequest {
                site: "nova".into(),
                policy: Some(p),
                expected_version: 1,
                clear_overrides: Vec::new(),
            },
        ))
        .await
        .expect("bootstrap off");

    // Later submissions carry the site model's version and are no longer held for bootstrap.
    let r = comment
        .submit_comment(authed(
            PORTAL_TOKEN,
            submission(999, "Cảm ơn bài viết rất hữu ích."),
        ))
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(r.model_version, trained.version);
    assert!(!r.reasons.iter().any(|x| x.code == "BOOTSTRAP"));
}

/// Runs the `moderato` CLI with `args` against `addr` with `token`; its stdout, or a panic with its stderr.
async fn cli(addr: &str, token: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env("MODERATO_ADDR", addr)
        .env("MODERATO_TOKEN", token)
        .output()
        .await
        .expect("run the moderato CLI");
    assert!(
        out.status.success(),
        "moderato {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The same way on Redis, through the CLI, against `moderato serve`: bootstrap on with `policy set`, submissions
/// held, `review claim`/`review decide` as the labels, `bootstrap status`, `labels export`, `bootstrap train`,
/// `model activate`, bootstrap off; later submissions carry the site model's version. A second server on the same
/// Redis, started afterwards, serves the site with that model too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_site_goes_from_bootstrap_to_its_own_model_on_redis_through_the_cli() {
    use moderato::auth::{Role, hash_token};
    let root = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(moderato::startup::SHIPPED_MODEL_DIR);
    let default_dir = root.path().join("default");
    std::fs::create_dir_all(&default_dir).unwrap();
    for f in ["model.bin", "card.json", "combiner.json"] {
        std::fs::copy(shipped.join(f), default_dir.join(f)).unwrap();
    }
    let tokens = format!(
        "[{}]",
        [
            (Role::Portal, PORTAL_TOKEN),
            (Role::Moderator, MODERATOR_TOKEN),
            (Role::Ops, OPS_TOKEN),
        ]
        .iter()
        .map(|(r, t)| format!(
            "{{name=\"{0}\", role=\"{0}\", sha256=\"{1}\"}}",
            r.as_str(),
            hash_token(t)
        ))
        .collect::<Vec<_>>()
        .join(", ")
    );
    let model_dir = default_dir.display().to_string();
    let env = [
        ("MODERATO__AUTH__TOKENS", tokens.as_str()),
        ("MODERATO__MODEL_DIR", model_dir.as_str()),
    ];
    let urls = vec![crate::harness::shared_redis_url()];
    let prefix = crate::harness::unique_prefix();
    let serve = crate::load::Serve::start(&urls, &prefix, &env).await;
    let addr = format!("http://{}", serve.addr);

    cli(
        &addr,
        OPS_TOKEN,
        &["policy", "set", "--site", "nova", "--bootstrap-labels", "8"],
    )
    .await;
    let all = crate::harness::dev_set();
    let rows: Vec<(String, bool)> = all
        .iter()
        .filter(|r| r.1)
        .take(12)
        .chain(all.iter().filter(|r| !r.1).take(12))
        .cloned()
        .collect();
    let mut comment = CommentServiceClient::new(serve.channel.clone());
    let mut truth = std::collections::HashMap::new();
    let mut held = 0;
    for (i, (body, spam)) in rows.iter().enumerate() {
        let r = comment
            .submit_comment(authed(PORTAL_TOKEN, submission(i, body)))
            .await
            .expect("submit")
            .into_inner();
        if r.status != CommentStatus::Rejected as i32 {
            assert_eq!(r.status, CommentStatus::PendingReview as i32);
            assert!(
                r.reasons.iter().any(|x| x.code == "BOOTSTRAP"),
                "{:?}",
                r.reasons
            );
            held += 1;
        }
        truth.insert(r.comment_id, *spam);
    }
    assert!(held >= 8, "only {held} comments held for the bootstrap");
    let status = cli(&addr, OPS_TOKEN, &["bootstrap", "status", "--site", "nova"]).await;
    assert!(status.starts_with("nova: 0 of 8 labels\n"), "{status}");

    // Moderators work the queue through the CLI.
    let claimed = cli(
        &addr,
        MODERATOR_TOKEN,
        &["review", "claim", "--site", "nova", "--max", "100"],
    )
    .await;
    let mut held = Vec::new();
    let mut id = None;
    for line in claimed.lines() {
        if let Some(rest) = line.strip_prefix("comment ") {
            id = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(lease) = line.trim_start().strip_prefix("lease ") {
            held.push((
                id.clone().expect("a comment line first"),
                lease.trim().to_string(),
            ));
        }
    }
    assert!(held.len() >= 8, "{claimed}");
    for (id, lease) in &held {
        let spam = truth[id];
        cli(
            &addr,
            MODERATOR_TOKEN,
            &[
                "review",
                "decide",
                "--site",
                "nova",
                "--comment",
                id,
                "--lease",
                lease,
                "--verdict",
                if spam { "reject" } else { "approve" },
                "--label",
                if spam { "spam" } else { "ham" },
            ],
        )
        .await;
    }
    let status = cli(&addr, OPS_TOKEN, &["bootstrap", "status", "--site", "nova"]).await;
    assert!(status.contains("ready to train a site model"), "{status}");

    let labels = root.path().join("nova-labels.csv");
    let labels_arg = labels.display().to_string();
    cli(
        &addr,
        MODERATOR_TOKEN,
        &["labels", "export", "--site", "nova", "--out", &labels_arg],
    )
    .await;
    let out = root.path().join("nova-site").display().to_string();
    let trained = cli(
        &addr,
        OPS_TOKEN,
        &[
            "bootstrap",
            "train",
            "--site",
            "nova",
            "--labels",
            &labels_arg,
            "--out",
            &out,
            "--current",
            &model_dir,
            "--holdout",
            "0.3",
            "--seed",
            "7",
            "--combiner-data",
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/vi-dev/comments.csv"),
        ],
    )
    .await;
    let version = trained
        .lines()
        .find_map(|l| {
            l.strip_prefix("activate it with: moderato model activate --site nova --version ")
        })
        .unwrap_or_else(|| panic!("no activation hint in: {trained}"))
        .trim()
        .to_string();
    cli(
        &addr,
        OPS_TOKEN,
        &["model", "activate", "--site", "nova", "--version", &version],
    )
    .await;
    cli(
        &addr,
        OPS_TOKEN,
        &["policy", "set", "--site", "nova", "--bootstrap-labels", "0"],
    )
    .await;

    let r = comment
        .submit_comment(authed(
            PORTAL_TOKEN,
            submission(999, "Cảm ơn bài viết rất hữu ích."),
        ))
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(r.model_version, version);
    assert!(!r.reasons.iter().any(|x| x.code == "BOOTSTRAP"));

    // Everything above lives in Redis: a server started now on the same Redis serves the site the same way.
    let second = crate::load::Serve::start(&urls, &prefix, &env).await;
    let r = CommentServiceClient::new(second.channel.clone())
        .submit_comment(authed(
            PORTAL_TOKEN,
            submission(1000, "Bài viết hay, cảm ơn tác giả."),
        ))
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(r.model_version, version);
    assert!(!r.reasons.iter().any(|x| x.code == "BOOTSTRAP"));
    second.kill_9().await;
    serve.kill_9().await;
}
