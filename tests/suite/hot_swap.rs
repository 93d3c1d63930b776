//! Hot swap for real: a genuinely different model (trained here, with its own fitted combiner) activated on Redis
//! while two replicas are under load: no request fails, every answer's score is the one the model it names gives,
//! and the second replica switches by itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moderato::cli::bootstrap::{TrainSite, train_site_model};
use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::{ActivateModelRequest, SubmitCommentRequest};
use moderato::rate_limit::{Descriptor, LimitRule};
use tonic::transport::Channel;

use crate::harness::{
    Backend, OPS_TOKEN, PORTAL_TOKEN, authed, author_named, client_at, comment, open_store,
    spawn_with, submit, test_config, unique_prefix,
};

const DEV_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/vi-dev/comments.csv");

/// (body, label) rows of one split of the development set.
fn split(name: &str) -> Vec<(String, String)> {
    csv::Reader::from_path(DEV_CSV)
        .expect("the development set")
        .records()
        .filter_map(Result::ok)
        .filter(|r| r.get(5) == Some(name))
        .map(|r| {
            (
                r.get(3).unwrap_or_default().to_string(),
                r.get(4).unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn submission(key: String, body: &str) -> SubmitCommentRequest {
    SubmitCommentRequest {
        thread_id: "t".into(),
        author: author_named("Phạm Minh"),
        title: "Ý kiến".into(),
        client: client_at("203.0.113.7"),
        ..comment("hcm", &key, body)
    }
}

/// (model version, score) of one submission.
async fn score(ch: &Channel, key: String, body: &str) -> (String, f64) {
    let r = submit(ch, submission(key, body)).await.expect("submit");
    (r.model_version, r.score)
}

struct Answer {
    replica: usize,
    body: usize,
    sent: Instant,
    answered: Instant,
    version: String,
    score: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_model_with_its_combiner_is_activated_under_load_on_two_replicas() {
    // The served model: a copy of the shipped one. The new one: trained here on the `test` split, with its combiner
    // fitted on the `dev` split.
    let root = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(moderato::startup::SHIPPED_MODEL_DIR);
    let default_dir = root.path().join("default");
    std::fs::create_dir_all(&default_dir).unwrap();
    for f in ["model.bin", "card.json", "combiner.json"] {
        std::fs::copy(shipped.join(f), default_dir.join(f)).unwrap();
    }
    let labels = root.path().join("labels.csv");
    let mut w = csv::Writer::from_path(&labels).unwrap();
    w.write_record(["text", "label"]).unwrap();
    for (body, label) in split("test") {
        w.write_record([body, label]).unwrap();
    }
    w.flush().unwrap();
    let args = TrainSite {
        site: "hcm".into(),
        labels,
        out: root.path().join("hcm-site"),
        base: Vec::new(),
        holdout: 0.25,
        current: default_dir.clone(),
        seed: 11,
        combiner_data: DEV_CSV.into(),
        no_combiner: false,
    };
    let trained = tokio::task::spawn_blocking(move || train_site_model(&args))
        .await
        .expect("join")
        .expect("the new model is trained");
    let old = moderato::scoring::Scorer::load(&default_dir).expect("the served model loads");
    let new = moderato::scoring::Scorer::load(&root.path().join("hcm-site")).expect("loads");
    assert_ne!(old.version(), new.version());
    assert!(
        old.combiner().is_some() && new.combiner().is_some(),
        "both models have a combiner"
    );
    assert_ne!(
        std::fs::read(default_dir.join("model.bin")).unwrap(),
        std::fs::read(root.path().join("hcm-site/model.bin")).unwrap(),
        "the new model is a different artifact"
    );

    // Two replicas on one Redis.
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    cfg.captcha.required = false;
    cfg.model_dir = default_dir.display().to_string();
    cfg.rate_limits = [
        Descriptor::Site,
        Descriptor::ClientIp,
        Descriptor::Author,
        Descriptor::Thread,
    ]
    .into_iter()
    .map(|d| LimitRule::new(d, 1_000_000, 1, 1_000_000))
    .collect();
    let a = spawn_with(cfg.clone(), open_store(Backend::Redis, &prefix).await).await;
    let b = spawn_with(cfg, open_store(Backend::Redis, &prefix).await).await;
    let chans = [a.channel().await, b.channel().await];

    // What each model answers for each body, measured through the server.
    let bodies: Vec<String> = split("dev").into_iter().take(12).map(|(b, _)| b).collect();
    let mut expected: HashMap<(String, usize), f64> = HashMap::new();
    for (i, body) in bodies.iter().enumerate() {
        let (v, s) = score(&chans[0], format!("before-{i}"), body).await;
        assert_eq!(v, old.version());
        expected.insert((v, i), s);
    }

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let failures = Arc::new(Mutex::new(Vec::<tonic::Status>::new()));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (ch, stop, answers, failures) = (
                chans[w % 2].clone(),
                stop.clone(),
                answers.clone(),
                failures.clone(),
            );
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let mut client = CommentServiceClient::new(ch);
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let body = (w + n) % bodies.len();
                    let sent = Instant::now();
                    match client
                        .submit_comment(authed(
                            PORTAL_TOKEN,
                            submission(format!("load-{w}-{n}"), &bodies[body]),
                        ))
                        .await
                    {
                        Ok(r) => {
                            let r = r.into_inner();
                            answers.lock().unwrap().push(Answer {
                                replica: w % 2,
                                body,
                                sent,
                                answered: Instant::now(),
                                version: r.model_version,
                                score: r.score,
                            });
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();
    let count = |answers: &Mutex<Vec<Answer>>| answers.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&answers) < 100 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Activated through replica A; B must switch by itself.
    AdminServiceClient::new(chans[0].clone())
        .activate_model(authed(
            OPS_TOKEN,
            ActivateModelRequest {
                site: "hcm".into(),
                version: trained.version.clone(),
            },
        ))
        .await
        .expect("activate");
    let activated = Instant::now();
    // The deadline only catches a replica that never switches; how fast it does is printed.
    let deadline = activated + Duration::from_secs(10);
    let switched_b = loop {
        let first_new_on_b = answers
            .lock()
            .unwrap()
            .iter()
            .filter(|x| x.replica == 1 && x.version == new.version())
            .map(|x| x.sent)
            .min();
        if let Some(t) = first_new_on_b {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "replica B never switched to the new model"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let settled = count(&answers);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&answers) < settled + 100 {
        assert!(
            Instant::now() < deadline,
            "the load stalled after the switch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        w.await.expect("join");
    }

    // What the new model answers for each body, measured after the load.
    for (i, body) in bodies.iter().enumerate() {
        let (v, s) = score(&chans[0], format!("after-{i}"), body).await;
        assert_eq!(v, new.version());
        expected.insert((v, i), s);
    }
    let differ = (0..bodies.len())
        .filter(|i| {
            (expected[&(old.version().to_string(), *i)]
                - expected[&(new.version().to_string(), *i)])
                .abs()
                > 1e-6
        })
        .count();
    assert!(
        differ * 2 >= bodies.len(),
        "the two models score only {differ} of {} bodies differently: the check below would prove little",
        bodies.len()
    );

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} requests failed during the switch, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    let answers = answers.lock().unwrap();
    for x in answers.iter() {
        let want = expected
            .get(&(x.version.clone(), x.body))
            .unwrap_or_else(|| panic!("an answer names an unknown model version {:?}", x.version));
        assert!(
            (x.score - want).abs() < 1e-9,
            "an answer labelled {} has score {} where that model gives {want}: scored by one model, labelled with the other",
            x.version,
            x.score
        );
    }
    // Once a replica answered with the new model, every call sent to it afterwards was scored by it.
    for r in 0..2 {
        let first_new = answers
            .iter()
            .filter(|x| x.replica == r && x.version == new.version())
            .map(|x| x.answered)
            .min()
            .expect("each replica switched");
        let back = answers
            .iter()
            .filter(|x| x.replica == r && x.sent > first_new && x.version == old.version())
            .count();
        assert_eq!(back, 0, "replica {r} went back to the old model");
    }
    let on_new = answers
        .iter()
        .filter(|x| x.version == new.version())
        .count();
    eprintln!(
        "hot swap: {} answers ({on_new} by the new model), 0 failed; replica B's first call scored by the new model was sent {} ms after the activation returned",
        answers.len(),
        switched_b.saturating_duration_since(activated).as_millis()
    );
}
