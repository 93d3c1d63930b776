//! Readers' data on every backend: erasure leaves no trace of the reader (checked by reading every key and value
//! the store holds under the test's prefix) while decisions and audit entries stay; an interrupted erasure
//! completes when run again, on a new server; export; retention of records, queue, idempotency and author index
//! entries; the statement of reasons; appeals routed to another moderator.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use moderato::clock::ManualClock;
use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    AppealDecisionRequest, Author, AuthorSelector, ClaimReviewsRequest, CommentStatus,
    DecideReviewRequest, DecisionKind, EraseAuthorRequest, EraseAuthorResponse,
    ExportAuthorRequest, GetStatementOfReasonsRequest, Label, ListAuditEntriesRequest, ReviewItem,
    SubmitCommentRequest, Verdict,
};
use moderato::review::{CommentRecord, DecisionKind as Kind, Status};
use moderato::store::memory::MemoryStore;
use moderato::store::{Admit, Decide, Keys, Store};
use tonic::Code;
use tonic::transport::Channel;

use crate::harness::{
    BIN, Backend, MODERATOR_TOKEN, MODERATOR2_TOKEN, OPS_TOKEN, PORTAL_TOKEN, authed, cli,
    client_at, comment, get_comment as get, open_store, shared_cluster_urls, shared_redis_url,
    spawn_with, submit, test_config, unique_prefix,
};

/// The reader whose data is erased: every spelling of their data the store could hold.
const NAME: &str = "Trần Thị Erasable";
const PHONE: &str = "0912 345 678";
const EMAIL: &str = "Reader.Erase@Example.com";
const MARKERS: &[&str] = &[
    "Erasable",
    "0912345678",
    "0912 345 678",
    "Reader.Erase@Example.com",
    "reader.erase@example.com",
];
/// Another reader, who must be left alone.
const OTHER_NAME: &str = "Lê Văn Keepsake";
const OTHER_PHONE: &str = "0987654321";

const BODIES: &[&str] = &[
    "Đoạn đường Nguyễn Hữu Thọ ngập sâu mỗi khi mưa lớn, mong phường sớm khơi thông cống thoát nước.",
    "Bài viết rất hay, cảm ơn tác giả đã tổng hợp đầy đủ thông tin về lịch thi năm nay.",
    "Tôi nghĩ thành phố nên có thêm xe buýt vào giờ cao điểm cho người đi làm.",
    "Giá rau ở chợ gần nhà tôi tăng gần gấp đôi sau đợt mưa bão vừa rồi.",
];

/// A store of `backend` under a fresh prefix, with a handle on the memory store's contents when it is one.
async fn store_for(backend: Backend, prefix: &str) -> (Arc<dyn Store>, Option<MemoryStore>) {
    match backend {
        Backend::Memory => {
            let m = MemoryStore::default();
            (Arc::new(m.clone()), Some(m))
        }
        _ => (open_store(backend, prefix).await, None),
    }
}

/// Every key under `prefix` with every value it holds, as text: the memory store's contents, or for Redis each
/// node's keys (SCAN of the test's own prefix) read with the command of each type.
fn dump(backend: Backend, prefix: &str, mem: Option<&MemoryStore>) -> String {
    if let Some(m) = mem {
        return m.contents().join("\n");
    }
    let ports: Vec<String> = match backend {
        Backend::Memory => Vec::new(),
        Backend::Redis => vec![shared_redis_url()],
        Backend::Cluster => shared_cluster_urls(),
    }
    .into_iter()
    .map(|u| u.rsplit(':').next().unwrap_or_default().to_string())
    .collect();
    let mut out = String::new();
    for p in ports {
        let keys = Command::new("redis-cli")
            .args(["-p", &p, "--scan", "--pattern", &format!("{prefix}*")])
            .output()
            .expect("redis-cli --scan");
        assert!(keys.status.success(), "redis-cli --scan on port {p} failed");
        let keys = String::from_utf8_lossy(&keys.stdout).to_string();
        let mut script = String::new();
        for k in keys.lines().filter(|k| !k.is_empty()) {
            out.push_str(k);
            out.push('\n');
            let q = format!("\"{k}\"");
            for cmd in [
                format!("GET {q}"),
                format!("HGETALL {q}"),
                format!("ZRANGE {q} 0 -1 WITHSCORES"),
                format!("XRANGE {q} - +"),
                format!("LRANGE {q} 0 -1"),
                format!("SMEMBERS {q}"),
            ] {
                script.push_str(&cmd);
                script.push('\n');
            }
        }
        let mut child = Command::new("redis-cli")
            .args(["-p", &p, "--raw"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli");
        // Written from another thread: redis-cli answers while it reads, and a full pipe must not stall either.
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
        let values = child.wait_with_output().expect("redis-cli output");
        writer.join().expect("writer").expect("write commands");
        assert!(values.status.success(), "redis-cli on port {p} failed");
        out.push_str(&String::from_utf8_lossy(&values.stdout));
    }
    out
}

/// The members of the sorted set `key` (the memory store: of the set it keeps for that key).
fn members(backend: Backend, key: &str, mem: Option<&MemoryStore>) -> Vec<String> {
    if let Some(m) = mem {
        return m
            .contents()
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{key} ")))
            .filter_map(|rest| rest.rsplit(' ').next().map(str::to_string))
            .collect();
    }
    let port = match backend {
        Backend::Cluster => shared_cluster_urls().first().cloned().unwrap_or_default(),
        _ => shared_redis_url(),
    };
    let port = port.rsplit(':').next().unwrap_or_default().to_string();
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &port, "--raw", "ZRANGE", key, "0", "-1"])
        .output()
        .expect("redis-cli ZRANGE");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn open(cfg: &mut moderato::config::Config) {
    cfg.captcha.required = false;
    cfg.rate_limits = vec![moderato::rate_limit::LimitRule::new(
        moderato::rate_limit::Descriptor::Site,
        100_000,
        1,
        100_000,
    )];
}

fn request(
    site: &str,
    key: &str,
    name: &str,
    phone: &str,
    email: &str,
    body: &str,
) -> SubmitCommentRequest {
    SubmitCommentRequest {
        thread_id: format!("bai-{key}"),
        author: Some(Author {
            name: name.into(),
            phone: phone.into(),
            email: email.into(),
        }),
        title: "Ý kiến bạn đọc".into(),
        client: client_at("203.0.113.30"),
        ..comment(site, key, body)
    }
}

async fn claim(ch: &Channel, token: &str, site: &str, max: u32) -> Vec<ReviewItem> {
    ModerationServiceClient::new(ch.clone())
        .claim_reviews(authed(
            token,
            ClaimReviewsRequest {
                site: site.into(),
                max_items: max,
                lease_seconds: 300,
            },
        ))
        .await
        .expect("claim")
        .into_inner()
        .items
}

async fn decide(ch: &Channel, token: &str, site: &str, item: &ReviewItem, approve: bool) {
    let id = item.comment.as_ref().expect("comment").comment_id.clone();
    ModerationServiceClient::new(ch.clone())
        .decide_review(authed(
            token,
            DecideReviewRequest {
                site: site.into(),
                comment_id: id,
                lease_token: item.lease_token.clone(),
                verdict: if approve {
                    Verdict::Approve
                } else {
                    Verdict::Reject
                } as i32,
                label: if approve { Label::Ham } else { Label::Spam } as i32,
                note: "checked".into(),
            },
        ))
        .await
        .expect("decide");
}

fn selector_phone(phone: &str) -> Option<AuthorSelector> {
    Some(AuthorSelector {
        phone: phone.into(),
        ..AuthorSelector::default()
    })
}

async fn erase(
    ch: &Channel,
    site: &str,
    author: Option<AuthorSelector>,
    max_batches: u32,
) -> EraseAuthorResponse {
    AdminServiceClient::new(ch.clone())
        .erase_author(authed(
            OPS_TOKEN,
            EraseAuthorRequest {
                site: site.into(),
                author,
                max_batches,
            },
        ))
        .await
        .expect("erase")
        .into_inner()
}

async fn export(
    ch: &Channel,
    site: &str,
    author: Option<AuthorSelector>,
) -> Vec<serde_json::Value> {
    let mut stream = AdminServiceClient::new(ch.clone())
        .export_author(authed(
            OPS_TOKEN,
            ExportAuthorRequest {
                site: site.into(),
                author,
            },
        ))
        .await
        .expect("export")
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await.expect("export message") {
        out.push(serde_json::from_str(&m.json).expect("a JSON line"));
    }
    out
}

async fn audit_actions(ch: &Channel, site: &str) -> Vec<(String, String, String)> {
    let r = AdminServiceClient::new(ch.clone())
        .list_audit_entries(authed(
            OPS_TOKEN,
            ListAuditEntriesRequest {
                site: site.into(),
                page_size: 1000,
                ..ListAuditEntriesRequest::default()
            },
        ))
        .await
        .expect("audit")
        .into_inner();
    r.entries
        .into_iter()
        .map(|e| (e.action, e.actor, e.detail))
        .collect()
}

const SITES: [&str; 3] = ["hcm", "hn", "dn"];

async fn erasing_a_reader_leaves_no_trace_but_keeps_decisions_and_audit(backend: Backend) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    open(&mut cfg);
    cfg.policy.premoderate_all = true;
    let (store, mem) = store_for(backend, &prefix).await;
    let app = spawn_with(cfg, store).await;
    let ch = app.channel().await;

    let mut mine = Vec::new();
    for i in 0..50 {
        let site = SITES[i % 3];
        let body = format!("{} (ý kiến số {i})", BODIES[i % BODIES.len()]);
        let r = submit(
            &ch,
            request(site, &format!("r-{i}"), NAME, PHONE, EMAIL, &body),
        )
        .await
        .expect("submit");
        mine.push((site, r.comment_id));
    }
    for i in 0..6 {
        let site = SITES[i % 3];
        submit(
            &ch,
            request(
                site,
                &format!("o-{i}"),
                OTHER_NAME,
                OTHER_PHONE,
                "",
                BODIES[i % BODIES.len()],
            ),
        )
        .await
        .expect("submit");
    }
    // Moderators decide some of them on every site: label rows with the text, audit entries, events.
    let mut rejected = None;
    for site in SITES {
        for (n, item) in claim(&ch, MODERATOR_TOKEN, site, 6)
            .await
            .iter()
            .enumerate()
        {
            let approve = n % 2 == 0;
            decide(&ch, MODERATOR_TOKEN, site, item, approve).await;
            let c = item.comment.as_ref().expect("comment");
            if !approve && c.author.as_ref().is_some_and(|a| a.name == NAME) {
                rejected = Some((site, c.comment_id.clone()));
            }
        }
    }
    // The reader appeals one rejection, writing their own name in the message.
    let (asite, aid) = rejected.expect("a rejected comment of the reader");
    CommentServiceClient::new(ch.clone())
        .appeal_decision(authed(
            PORTAL_TOKEN,
            AppealDecisionRequest {
                site: asite.into(),
                comment_id: aid.clone(),
                message: format!("Tôi là {NAME}, số {PHONE}, xin xem lại"),
            },
        ))
        .await
        .expect("appeal");

    let before = dump(backend, &prefix, mem.as_ref());
    for m in MARKERS.iter().take(2) {
        assert!(before.contains(m), "the scan must see {m} before erasure");
    }
    let reviews_before: Vec<usize> = {
        let mut v = Vec::new();
        for site in SITES {
            v.push(
                audit_actions(&ch, site)
                    .await
                    .iter()
                    .filter(|(a, _, _)| a == "REVIEW")
                    .count(),
            );
        }
        v
    };
    assert_eq!(reviews_before.iter().sum::<usize>(), 18);

    // Export first: every comment, once, with its decisions.
    let lines = export(&ch, "", selector_phone("+84 912 345 678")).await;
    assert_eq!(lines.len(), 50, "{lines:?}");
    let ids: BTreeSet<String> = lines
        .iter()
        .map(|l| l["comment_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), 50);
    assert!(
        lines
            .iter()
            .all(|l| l["phone"] == "0912345678" && l["name"] == NAME)
    );
    let appealed = lines
        .iter()
        .find(|l| l["comment_id"] == aid.as_str())
        .expect("the appealed comment");
    let decisions = appealed["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.last().expect("appeal")["kind"], "APPEAL");
    assert!(
        decisions.last().expect("appeal")["appeal_message"]
            .as_str()
            .is_some_and(|m| m.contains("xin xem lại"))
    );

    let histories_before: Vec<usize> = {
        let mut v = Vec::new();
        for (site, id) in &mine {
            v.push(get(&ch, site, id).await.history.len());
        }
        v
    };

    // Erase by e-mail on all sites.
    let r = erase(
        &ch,
        "",
        Some(AuthorSelector {
            email: EMAIL.to_lowercase(),
            ..AuthorSelector::default()
        }),
        0,
    )
    .await;
    assert!(r.complete);
    assert_eq!(r.records_erased, 50);
    for s in SITES {
        assert!(r.sites.iter().any(|x| x == s), "{:?}", r.sites);
    }
    assert!(r.tombstone.starts_with("erased-"));

    let after = dump(backend, &prefix, mem.as_ref());
    for m in MARKERS {
        assert!(!after.contains(m), "{m} is still stored after erasure");
    }
    for body in BODIES {
        let with_n = format!("{body} (ý kiến số");
        assert!(
            !after.contains(&with_n),
            "the reader's text is still stored"
        );
    }
    assert!(
        after.contains(OTHER_NAME) && after.contains(OTHER_PHONE),
        "the other reader is kept"
    );

    // Decisions stay: every comment keeps its status and its whole history, under the tombstone.
    for ((site, id), n) in mine.iter().zip(&histories_before) {
        let c = get(&ch, site, id).await;
        assert_eq!(c.history.len(), *n);
        let a = c.author.expect("author");
        assert_eq!(a.name, r.tombstone);
        assert!(a.phone.is_empty() && a.email.is_empty() && c.body.is_empty());
        assert!(!c.reasons.is_empty(), "reason codes stay");
    }
    // Audit entries stay, and the erasure is audited with who and how many.
    for (site, n) in SITES.iter().zip(&reviews_before) {
        let entries = audit_actions(&ch, site).await;
        assert_eq!(entries.iter().filter(|(a, _, _)| a == "REVIEW").count(), *n);
        let erased: Vec<_> = entries.iter().filter(|(a, _, _)| a == "ERASE").collect();
        assert_eq!(erased.len(), 1, "{entries:?}");
        assert_eq!(erased[0].1, "ops-test");
        let count = mine.iter().filter(|(s, _)| s == site).count();
        assert_eq!(erased[0].2, format!("{count} records erased"));
    }
    // Idempotent: again, nothing to do; the export is empty.
    let again = erase(&ch, "", selector_phone(PHONE), 0).await;
    assert_eq!((again.records_erased, again.complete), (0, true));
    assert!(export(&ch, "", selector_phone(PHONE)).await.is_empty());
    app.stop().await;
}
on_every_backend!(
    erasure_leaves_no_trace,
    erasing_a_reader_leaves_no_trace_but_keeps_decisions_and_audit
);

async fn an_interrupted_erasure_completes_on_a_new_server(backend: Backend) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    open(&mut cfg);
    let (store, mem) = store_for(backend, &prefix).await;
    let app = spawn_with(cfg.clone(), store.clone()).await;
    let ch = app.channel().await;
    for i in 0..130 {
        let body = format!("{} (ý kiến số {i})", BODIES[i % BODIES.len()]);
        submit(
            &ch,
            request("hcm", &format!("k-{i}"), NAME, PHONE, "", &body),
        )
        .await
        .expect("submit");
    }
    // The first run stops after one batch of 100, as a crash between batches would leave it.
    let first = erase(&ch, "hcm", selector_phone(PHONE), 1).await;
    assert_eq!((first.records_erased, first.complete), (100, false));
    let midway = dump(backend, &prefix, mem.as_ref());
    assert_eq!(
        midway.matches("(ý kiến số").count(),
        30,
        "30 records remain"
    );
    app.stop().await;

    let app = spawn_with(cfg, store).await;
    let ch = app.channel().await;
    let second = erase(&ch, "hcm", selector_phone(PHONE), 0).await;
    assert_eq!((second.records_erased, second.complete), (30, true));
    assert_eq!(
        second.tombstone, first.tombstone,
        "the same reader, the same tombstone"
    );
    let after = dump(backend, &prefix, mem.as_ref());
    for m in MARKERS {
        assert!(!after.contains(m), "{m} is still stored");
    }
    assert!(!after.contains("(ý kiến số"));
    let third = erase(&ch, "hcm", selector_phone(PHONE), 0).await;
    assert_eq!((third.records_erased, third.complete), (0, true));
    let details: Vec<String> = audit_actions(&ch, "hcm")
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "ERASE")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(
        details,
        [
            "100 records erased (stopped at the batch limit; run again to finish)",
            "30 records erased",
            "0 records erased"
        ]
    );
    app.stop().await;
}
on_every_backend!(
    interrupted_erasure_completes,
    an_interrupted_erasure_completes_on_a_new_server
);

async fn statement(
    ch: &Channel,
    site: &str,
    id: &str,
) -> Result<moderato::proto::StatementOfReasons, tonic::Status> {
    CommentServiceClient::new(ch.clone())
        .get_statement_of_reasons(authed(
            PORTAL_TOKEN,
            GetStatementOfReasonsRequest {
                site: site.into(),
                comment_id: id.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn appeal(
    ch: &Channel,
    site: &str,
    id: &str,
    message: &str,
) -> Result<moderato::proto::DecisionEvent, tonic::Status> {
    CommentServiceClient::new(ch.clone())
        .appeal_decision(authed(
            PORTAL_TOKEN,
            AppealDecisionRequest {
                site: site.into(),
                comment_id: id.into(),
                message: message.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().event.expect("event"))
}

async fn an_appeal_goes_to_a_moderator_other_than_the_decider(backend: Backend) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    open(&mut cfg);
    cfg.policy.premoderate_all = true;
    cfg.policy.blocked_terms = vec!["casino88".into()];
    let (store, _mem) = store_for(backend, &prefix).await;
    let app = spawn_with(cfg, store).await;
    let ch = app.channel().await;
    let a = submit(&ch, request("hcm", "a", NAME, PHONE, "", BODIES[0]))
        .await
        .expect("submit");
    let b = submit(&ch, request("hcm", "b", NAME, PHONE, "", BODIES[1]))
        .await
        .expect("submit");
    let held = statement(&ch, "hcm", &a.comment_id)
        .await
        .expect("statement of a held comment");
    assert_eq!(held.status, CommentStatus::PendingReview as i32);
    assert!(!held.decided_by_human && !held.appealable);
    assert!(
        held.grounds.iter().any(|g| g.code == "PREMODERATION"),
        "{held:?}"
    );

    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 10).await;
    assert_eq!(items.len(), 2);
    for item in &items {
        let id = &item.comment.as_ref().expect("comment").comment_id;
        decide(&ch, MODERATOR_TOKEN, "hcm", item, *id == b.comment_id).await;
    }
    let s = statement(&ch, "hcm", &a.comment_id)
        .await
        .expect("statement");
    assert_eq!(s.status, CommentStatus::Rejected as i32);
    assert!(s.decided_by_human && s.appealable && !s.under_appeal);
    assert_eq!(s.grounds.len(), 1);
    assert_eq!(s.grounds[0].code, "LABEL_SPAM");
    assert!(
        s.text_vi.contains("kiểm duyệt viên") && s.text_vi.contains("xem xét lại"),
        "{}",
        s.text_vi
    );
    assert!(
        s.text_en.contains("a moderator") && s.text_en.contains("ask for a review"),
        "{}",
        s.text_en
    );
    let published = statement(&ch, "hcm", &b.comment_id)
        .await
        .expect_err("published");
    assert_eq!(published.code(), Code::FailedPrecondition);

    let e = appeal(
        &ch,
        "hcm",
        &a.comment_id,
        "Bình luận của tôi không phải quảng cáo",
    )
    .await
    .expect("appeal");
    assert_eq!(e.kind, DecisionKind::Appeal as i32);
    assert_eq!(e.status, CommentStatus::PendingReview as i32);
    assert!(
        e.note.is_empty(),
        "the reader's message stays out of the decision stream"
    );
    let s = statement(&ch, "hcm", &a.comment_id)
        .await
        .expect("statement");
    assert!(s.under_appeal && !s.appealable);
    // Once only; a published comment has nothing to appeal.
    assert_eq!(
        appeal(&ch, "hcm", &a.comment_id, "")
            .await
            .expect_err("twice")
            .code(),
        Code::FailedPrecondition
    );
    assert_eq!(
        appeal(&ch, "hcm", &b.comment_id, "")
            .await
            .expect_err("published")
            .code(),
        Code::FailedPrecondition
    );

    // The moderator who rejected it never gets it, neither by a claim nor by a takeover; the other one does, with
    // the reader's message.
    assert!(claim(&ch, MODERATOR_TOKEN, "hcm", 10).await.is_empty());
    let own = ModerationServiceClient::new(ch.clone())
        .take_over_claim(authed(
            MODERATOR_TOKEN,
            moderato::proto::TakeOverClaimRequest {
                site: "hcm".into(),
                comment_id: a.comment_id.clone(),
                lease_seconds: 60,
                note: String::new(),
            },
        ))
        .await
        .expect_err("a takeover of an appeal against oneself");
    assert_eq!(own.code(), Code::PermissionDenied);
    let got = claim(&ch, MODERATOR2_TOKEN, "hcm", 10).await;
    assert_eq!(got.len(), 1);
    let c = got[0].comment.as_ref().expect("comment");
    assert_eq!(c.comment_id, a.comment_id);
    let last = c.history.last().expect("history");
    assert_eq!(last.kind, DecisionKind::Appeal as i32);
    assert_eq!(last.note, "Bình luận của tôi không phải quảng cáo");
    decide(&ch, MODERATOR2_TOKEN, "hcm", &got[0], true).await;
    assert_eq!(
        get(&ch, "hcm", &a.comment_id).await.status,
        CommentStatus::Published as i32
    );
    let appeals: Vec<_> = audit_actions(&ch, "hcm")
        .await
        .into_iter()
        .filter(|(x, _, _)| x == "APPEAL")
        .collect();
    assert_eq!(appeals.len(), 1);
    assert_eq!(appeals[0].1, "portal-test");
    assert_eq!(appeals[0].2, "appeal against moderator-test");

    // An automatic rejection: the system decided, the ground is the rule's code (never the matched text), and
    // any moderator may take its appeal.
    let c = submit(
        &ch,
        request(
            "hcm",
            "c",
            NAME,
            PHONE,
            "",
            "Vào casino88 chơi ngay hôm nay",
        ),
    )
    .await
    .expect("submit");
    assert_eq!(c.status, CommentStatus::Rejected as i32);
    let s = statement(&ch, "hcm", &c.comment_id)
        .await
        .expect("statement");
    assert!(!s.decided_by_human && s.appealable);
    assert_eq!(
        s.grounds
            .iter()
            .map(|g| g.code.as_str())
            .collect::<Vec<_>>(),
        ["BLOCKED_TERM"]
    );
    assert!(!s.text_vi.contains("casino88") && !s.text_en.contains("casino88"));
    assert!(s.text_en.contains("does not allow"), "{}", s.text_en);
    appeal(&ch, "hcm", &c.comment_id, "").await.expect("appeal");
    let got = claim(&ch, MODERATOR_TOKEN, "hcm", 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].comment.as_ref().expect("comment").comment_id,
        c.comment_id
    );
    app.stop().await;
}
on_every_backend!(
    appeals_go_to_another_moderator,
    an_appeal_goes_to_a_moderator_other_than_the_decider
);

fn record(id: &str, status: Status, phone: &str) -> CommentRecord {
    CommentRecord {
        comment_id: id.into(),
        site: "hcm".into(),
        thread_id: "t".into(),
        name: format!("name-{id}"),
        phone: phone.into(),
        email: String::new(),
        title: "title".into(),
        body: format!("body-{id}"),
        score: 0.5,
        reasons: Vec::new(),
        model_version: "m".into(),
        policy_version: 1,
        initial_status: status,
        created_ms: 1,
    }
}

const RETENTION_MS: u64 = 1500;

async fn retention_removes_the_record_queue_idempotency_and_index_entries_and_keeps_held(
    backend: Backend,
) {
    let prefix = unique_prefix();
    let clock = ManualClock::at(1_000_000);
    let (store, mem): (Arc<dyn Store>, Option<MemoryStore>) = match backend {
        Backend::Memory => {
            let m = MemoryStore::new(Arc::new(clock.clone()));
            (Arc::new(m.clone()), Some(m))
        }
        _ => (open_store(backend, &prefix).await, None),
    };
    // The memory store spells its keys without a prefix.
    let keys = Keys::new(if mem.is_some() { "" } else { prefix.as_str() });
    let ids: Vec<String> = (0..3).map(|i| format!("{i:032x}")).collect();
    // P published at once (author pa), H held (author ha), D held and then decided (author da).
    let cases = [
        (&ids[0], Status::Published, "pa"),
        (&ids[1], Status::PendingReview, "ha"),
        (&ids[2], Status::PendingReview, "da"),
    ];
    for (id, status, author) in cases {
        let rec = record(id, status, "");
        let out = store
            .admit(Admit {
                idempotency_key: &format!("idem-{author}"),
                captcha: None,
                limits: &[],
                record: &rec,
                response: "{}",
                retention_ms: RETENTION_MS,
                idempotency_ttl_ms: RETENTION_MS,
                authors: &[format!("author-{author}")],
                campaign: None,
            })
            .await
            .expect("admit");
        assert!(matches!(
            out,
            moderato::admission::Admission::Recorded { .. }
        ));
    }
    let (claimed, _) = store
        .claim("hcm", 60_000, "mod", &["tok-1".into(), "tok-2".into()])
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let d = store
        .decide(Decide {
            site: "hcm",
            comment_id: &ids[2],
            kind: Kind::Review,
            lease_token: claimed
                .iter()
                .find(|c| c.comment.record.comment_id == ids[2])
                .expect("D claimed")
                .lease_token
                .as_str(),
            expected: Status::PendingReview,
            new_status: Status::Rejected,
            actor: "mod",
            label: moderato::review::Label::Spam,
            note: "",
        })
        .await
        .expect("decide");
    assert!(matches!(d, moderato::store::Decided::Done(_)));
    let before = dump(backend, &prefix, mem.as_ref());
    for id in &ids {
        assert!(before.contains(&keys.comment("hcm", id)), "{id} stored");
    }
    for a in ["pa", "ha", "da"] {
        assert!(before.contains(&keys.author_index("hcm", &format!("author-{a}"))));
        assert!(before.contains(&keys.idempotency("hcm", &format!("idem-{a}"))));
    }

    // Past the retention period: the injected clock on memory, Redis' own expiry on Redis.
    // On Redis: polled until the decided comments' records are gone (a deadline, never a fixed sleep).
    if backend == Backend::Memory {
        clock.advance_ms(RETENTION_MS + 1);
    } else {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while {
            let now = dump(backend, &prefix, mem.as_ref());
            [&ids[0], &ids[2]].iter().any(|id| {
                now.lines()
                    .any(|l| l.starts_with(keys.comment("hcm", id).as_str()))
            })
        } {
            assert!(
                std::time::Instant::now() < deadline,
                "the decided comments never expired"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let after = dump(backend, &prefix, mem.as_ref());
    let lines: Vec<&str> = after.lines().collect();
    let key_exists = |k: &str| {
        lines
            .iter()
            .any(|l| *l == k || l.starts_with(&format!("{k} ")))
    };
    for gone in [&ids[0], &ids[2]] {
        assert!(
            !key_exists(&keys.comment("hcm", gone)),
            "record {gone} left behind:\n{after}"
        );
        assert!(
            !key_exists(&keys.history("hcm", gone)),
            "history {gone} left behind"
        );
    }
    for a in ["pa", "da"] {
        assert!(
            !key_exists(&keys.author_index("hcm", &format!("author-{a}"))),
            "author index {a} left behind"
        );
    }
    for a in ["pa", "ha", "da"] {
        assert!(
            !key_exists(&keys.idempotency("hcm", &format!("idem-{a}"))),
            "idempotency entry {a} left behind"
        );
    }
    // No queue lists the decided comment.
    for q in [keys.pending("hcm"), keys.claims("hcm"), keys.queued("hcm")] {
        assert!(
            !members(backend, &q, mem.as_ref()).contains(&ids[2]),
            "{q} still lists it"
        );
    }
    // Redis keeps every held comment in a `queued` set too; the memory store has no such set (its pending and
    // claimed entries are the queue), so there the claims check below is the one.
    if mem.is_none() {
        assert!(members(backend, &keys.queued("hcm"), mem.as_ref()).contains(&ids[1]));
    }
    assert!(members(backend, &keys.claims("hcm"), mem.as_ref()).contains(&ids[1]));
    // The held comment stays, with its queue entry and its author index entry.
    assert!(after.contains(&keys.comment("hcm", &ids[1])));
    assert!(after.contains(&keys.author_index("hcm", "author-ha")));
    let held = store.get_comment("hcm", &ids[1]).await.expect("get");
    assert_eq!(held.map(|c| c.status), Some(Status::PendingReview));
    let listed = store
        .author_comments("hcm", "author-ha", 0, 10)
        .await
        .expect("index");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].1.is_some());
    assert!(
        store
            .author_comments("hcm", "author-da", 0, 10)
            .await
            .expect("index")
            .is_empty()
    );
}
on_every_backend!(
    retention_is_complete,
    retention_removes_the_record_queue_idempotency_and_index_entries_and_keeps_held
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_and_erases_a_reader() {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    open(&mut cfg);
    let (store, _) = store_for(Backend::Memory, &prefix).await;
    let app = spawn_with(cfg, store).await;
    let ch = app.channel().await;
    for (i, site) in ["hcm", "hn", "hcm"].iter().enumerate() {
        submit(
            &ch,
            request(site, &format!("c-{i}"), NAME, PHONE, EMAIL, BODIES[i]),
        )
        .await
        .expect("submit");
    }
    let dir = std::env::temp_dir().join(format!("moderato-privacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("reader.jsonl");
    let o = cli(
        &app,
        OPS_TOKEN,
        &[
            "privacy",
            "export",
            "--phone",
            PHONE,
            "--out",
            out.to_str().expect("path"),
        ],
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).expect("export file");
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().all(|l| l.contains("\"phone\":\"0912345678\"")));

    let o = cli(
        &app,
        OPS_TOKEN,
        &["privacy", "erase", "--site", "hcm", "--email", EMAIL],
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.starts_with("2 records erased on 1 site(s) (hcm)"),
        "{said}"
    );
    let o = cli(&app, OPS_TOKEN, &["privacy", "export", "--phone", PHONE]).await;
    assert!(o.status.success());
    let left = String::from_utf8_lossy(&o.stdout);
    assert_eq!(left.lines().count(), 1, "the comment on hn is left: {left}");
    assert!(left.contains("\"site\":\"hn\""));

    let o = cli(
        &app,
        OPS_TOKEN,
        &["privacy", "erase", "--phone", PHONE, "--email", EMAIL],
    )
    .await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("InvalidArgument") && err.contains("author"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

/// `kill -9` of `moderato serve` in the middle of an erasure on Redis: a rerun on a new server erases exactly what
/// was left, and nothing of the reader remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_killed_midway_completes_on_a_new_server() {
    use moderato::rate_limit::Identifiers;
    const N: usize = 6000;
    let prefix = unique_prefix();
    let store = open_store(Backend::Redis, &prefix).await;
    let ids = Identifiers::new(crate::harness::HMAC_KEY.as_bytes(), 64);
    let authors = moderato::privacy::author_hashes(&ids, "0912345678", "");
    store.register_site("hcm").await.expect("register");
    // Stored straight through the store: the same admission step a submission takes, without scoring.
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (store, authors) = (store.clone(), authors.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..N).step_by(16) {
                let mut rec = record(&format!("{i:032x}"), Status::Published, "0912345678");
                rec.name = NAME.into();
                store
                    .admit(Admit {
                        idempotency_key: &format!("k{i}"),
                        captcha: None,
                        limits: &[],
                        record: &rec,
                        response: "{}",
                        retention_ms: 3_600_000,
                        idempotency_ttl_ms: 3_600_000,
                        authors: &authors,
                        campaign: None,
                    })
                    .await
                    .expect("admit");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let index = Keys::new(prefix.clone()).author_index("hcm", &authors[0]);
    let url = shared_redis_url();
    let redis_port = url.rsplit(':').next().unwrap_or_default();
    let remaining = || {
        let out = Command::new("redis-cli")
            .args(["-p", redis_port, "ZCARD", &index])
            .output()
            .expect("redis-cli ZCARD");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<usize>()
            .expect("a count")
    };
    assert_eq!(remaining(), N);
    let before = dump(Backend::Redis, &prefix, None);
    for m in ["Erasable", "0912345678"] {
        assert!(before.contains(m), "the scan must see {m} before erasure");
    }

    let port = crate::harness::free_port(false);
    let ops_hash = moderato::auth::hash_token(OPS_TOKEN);
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            "",
            "--http-listen",
            "",
            "--redis-url",
            &shared_redis_url(),
            "--key-prefix",
            &prefix,
        ])
        .env(
            "MODERATO__AUTH__TOKENS",
            format!("[{{name=\"ops-test\", role=\"ops\", sha256=\"{ops_hash}\"}}]"),
        )
        .env("MODERATO__IDENTIFIER_HMAC_KEY", crate::harness::HMAC_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn moderato serve");
    let started = std::time::Instant::now();
    let ch = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moderato serve did not start"
        );
        if let Ok(ch) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect()
            .await
        {
            break ch;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let call = tokio::spawn(async move {
        AdminServiceClient::new(ch)
            .erase_author(authed(
                OPS_TOKEN,
                EraseAuthorRequest {
                    site: "hcm".into(),
                    author: selector_phone(PHONE),
                    max_batches: 0,
                },
            ))
            .await
    });
    // Kill it once the first batches are done.
    let started = std::time::Instant::now();
    while remaining() > N - 300 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the erasure did not start"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    assert!(
        call.await.expect("join").is_err(),
        "the call must not have completed"
    );
    let left = remaining();
    assert!(left > 0 && left < N, "killed midway: {left} of {N} left");

    let mut cfg = test_config(&prefix);
    open(&mut cfg);
    let app = spawn_with(cfg, store).await;
    let ch = app.channel().await;
    let r = erase(&ch, "hcm", selector_phone(PHONE), 0).await;
    assert!(r.complete);
    assert_eq!(r.records_erased as usize, left, "exactly what was left");
    assert_eq!(remaining(), 0);
    let after = dump(Backend::Redis, &prefix, None);
    for m in MARKERS {
        assert!(!after.contains(m), "{m} is still stored");
    }
    app.stop().await;
}
