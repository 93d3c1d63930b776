//! Policies, reviews and labels that do what their names say: premoderation, live site overrides, idempotency
//! fingerprints, leases tied to their moderator, consistent verdicts, takeovers, the audit log, the label export,
//! captcha settings and the smaller promises of the API; on every backend.

use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    ActivateModelRequest, AuditEntry, CommentStatus, DecisionEvent, ExportLabelsRequest,
    ExtendLeaseRequest, GetCommentRequest, GetPolicyRequest, GetPolicyResponse, Label, LabelRecord,
    ListAuditEntriesRequest, ListAuditEntriesResponse, ListModelsRequest, OverturnDecisionRequest,
    Policy, QueueStatsRequest, ReleaseClaimRequest, RollbackModelRequest, SubmitCommentRequest,
    TakeOverClaimRequest, UpdatePolicyRequest, Verdict,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::harness::{
    Backend, HAM, MODERATOR_TOKEN, MODERATOR2_TOKEN, OPS_TOKEN, PORTAL_TOKEN, authed, author_named,
    claim, cli, client_at, comment, decide, id_of, spawn_app, status_of, submit, violated_fields,
};

/// Names the harness gives the tokens.
const MOD_A: &str = "moderator-test";
const MOD_B: &str = "moderator-two";
const OPS: &str = "ops-test";

/// Loan spam the shipped model and lexicon reject with certainty.
const LOAN_SPAM: &str = "Vay tiền nhanh online giải ngân trong 5 phút, không cần thẩm định, không cần gặp mặt, lãi suất 0% tháng đầu. Liên hệ zalo 0912345678 hoặc vào http://vaynhanh24h.example để nhận tiền ngay!";

fn open(cfg: &mut moderato::config::Config) {
    cfg.captcha.required = false;
    cfg.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
}

fn premoderated(cfg: &mut moderato::config::Config) {
    open(cfg);
    cfg.policy.premoderate_all = true;
}

fn submission(site: &str, key: &str, body: &str) -> SubmitCommentRequest {
    SubmitCommentRequest {
        thread_id: "bai-viet-7".into(),
        author: author_named("Lê Văn Cường"),
        title: "Ý kiến".into(),
        client: client_at("198.51.100.7"),
        ..comment(site, key, body)
    }
}

fn moderation(ch: &Channel) -> ModerationServiceClient<Channel> {
    ModerationServiceClient::new(ch.clone())
}

fn admin(ch: &Channel) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(ch.clone())
}

async fn get_policy(ch: &Channel, site: &str) -> GetPolicyResponse {
    admin(ch)
        .get_policy(authed(OPS_TOKEN, GetPolicyRequest { site: site.into() }))
        .await
        .expect("get policy")
        .into_inner()
}

/// Sends back what GetPolicy showed after `change`, with the version it showed.
async fn change_policy(
    ch: &Channel,
    site: &str,
    change: impl FnOnce(&mut Policy),
) -> Result<Policy, tonic::Status> {
    let shown = get_policy(ch, site).await.policy.expect("policy");
    let mut p = shown.clone();
    change(&mut p);
    admin(ch)
        .update_policy(authed(
            OPS_TOKEN,
            UpdatePolicyRequest {
                site: site.into(),
                policy: Some(p),
                expected_version: shown.version,
                clear_overrides: Vec::new(),
            },
        ))
        .await
        .map(|r| r.into_inner().policy.expect("policy"))
}

async fn overturn(
    ch: &Channel,
    token: &str,
    site: &str,
    comment_id: &str,
    expected: CommentStatus,
    label: Label,
) -> Result<DecisionEvent, tonic::Status> {
    moderation(ch)
        .overturn_decision(authed(
            token,
            OverturnDecisionRequest {
                site: site.into(),
                comment_id: comment_id.into(),
                expected_status: expected as i32,
                label: label as i32,
                note: "second look".into(),
            },
        ))
        .await
        .map(|r| r.into_inner().event.expect("event"))
}

async fn comment_status(ch: &Channel, site: &str, id: &str) -> CommentStatus {
    let c = CommentServiceClient::new(ch.clone())
        .get_comment(authed(
            PORTAL_TOKEN,
            GetCommentRequest {
                site: site.into(),
                comment_id: id.into(),
            },
        ))
        .await
        .expect("get comment")
        .into_inner();
    CommentStatus::try_from(c.status).expect("known status")
}

async fn audit(
    ch: &Channel,
    q: ListAuditEntriesRequest,
) -> Result<ListAuditEntriesResponse, tonic::Status> {
    admin(ch)
        .list_audit_entries(authed(OPS_TOKEN, q))
        .await
        .map(|r| r.into_inner())
}

/// Every entry the query selects, following the pages.
async fn audit_all(ch: &Channel, mut q: ListAuditEntriesRequest) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = audit(ch, q.clone()).await.expect("list audit entries");
        out.extend(page.entries);
        if page.next_page_token.is_empty() {
            return out;
        }
        q.page_token = page.next_page_token;
    }
    panic!("the audit pages never ended");
}

/// An entry's time, epoch ms.
fn ms(e: &AuditEntry) -> i64 {
    let t = e.at.expect("at");
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

fn site_query(site: &str) -> ListAuditEntriesRequest {
    ListAuditEntriesRequest {
        site: site.into(),
        ..Default::default()
    }
}

// ---- item 1: premoderation and bootstrap hold everything but site blocked terms ----

async fn premoderation_holds_even_certain_spam(backend: Backend) {
    let app = spawn_app(backend, open).await;
    let ch = app.channel().await;
    // The same spam is rejected outright where nothing is premoderated: it is certain spam.
    let r = submit(&ch, submission("plain", "k0", LOAN_SPAM))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::Rejected, "{r:?}");

    change_policy(&ch, "pre", |p| {
        p.premoderate_all = true;
        p.suspect_terms = vec!["inbox zalo".into()];
        p.blocked_terms = vec!["cá độ".into()];
    })
    .await
    .expect("premoderate the site");
    let r = submit(&ch, submission("pre", "k1", LOAN_SPAM))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::PendingReview, "{r:?}");
    assert!(r.reasons.iter().any(|x| x.code == "PREMODERATION"), "{r:?}");
    let r = submit(
        &ch,
        submission(
            "pre",
            "k2",
            "Ai biết chỗ sửa xe tốt thì inbox zalo giúp mình với",
        ),
    )
    .await
    .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::PendingReview, "{r:?}");
    // The site's own blocked terms still reject.
    let r = submit(
        &ch,
        submission("pre", "k3", "Vào đây cá độ bóng đá nhé anh em"),
    )
    .await
    .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::Rejected, "{r:?}");
    assert!(r.reasons.iter().any(|x| x.code == "BLOCKED_TERM"), "{r:?}");

    // Bootstrap mode holds the same way.
    change_policy(&ch, "boot", |p| p.bootstrap_labels = 50)
        .await
        .expect("bootstrap the site");
    let r = submit(&ch, submission("boot", "k4", LOAN_SPAM))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::PendingReview, "{r:?}");

    // Auto-reject during premoderation is an explicit policy field.
    let p = change_policy(&ch, "pre", |p| p.premoderation_auto_reject = true)
        .await
        .expect("auto-reject");
    assert!(p.premoderation_auto_reject && p.premoderate_all);
    let r = submit(&ch, submission("pre", "k5", LOAN_SPAM))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::Rejected, "{r:?}");
    let r = submit(&ch, submission("pre", "k6", HAM))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::PendingReview, "{r:?}");
}
on_every_backend!(premoderation, premoderation_holds_even_certain_spam);

// ---- item 2: a site policy stores only its overrides ----

async fn a_global_blocked_term_reaches_sites_with_own_policies(backend: Backend) {
    let app = spawn_app(backend, open).await;
    let ch = app.channel().await;
    // An inherited site: sending back what GetPolicy showed, with the version it showed, is accepted.
    let shown = get_policy(&ch, "nova").await;
    assert!(shown.inherited);
    assert!(shown.overridden_fields.is_empty());
    assert_eq!(shown.global_version, shown.policy.as_ref().unwrap().version);
    change_policy(&ch, "nova", |p| {
        p.approve_below = 0.3;
    })
    .await
    .expect("the version GetPolicy showed is accepted");
    let own = get_policy(&ch, "nova").await;
    assert!(!own.inherited);
    assert_eq!(own.overridden_fields, vec!["approve_below".to_string()]);

    // A later change of the global default reaches the site for every field it does not set.
    change_policy(&ch, "", |p| p.blocked_terms.push("w88".into()))
        .await
        .expect("global blocked term");
    // The global default takes back the version GetPolicy showed, and refuses an older one.
    let global = get_policy(&ch, "").await.policy.unwrap();
    let err = admin(&ch)
        .update_policy(authed(
            OPS_TOKEN,
            UpdatePolicyRequest {
                site: String::new(),
                policy: Some(global.clone()),
                expected_version: global.version - 1,
                clear_overrides: Vec::new(),
            },
        ))
        .await
        .expect_err("stale");
    assert_eq!(err.code(), Code::Aborted);
    change_policy(&ch, "", |p| p.suspect_terms.push("inbox".into()))
        .await
        .expect("the shown version again");
    let now = get_policy(&ch, "nova").await;
    assert_eq!(now.global_version, global.version + 1);
    assert!(
        now.policy
            .as_ref()
            .unwrap()
            .blocked_terms
            .contains(&"w88".to_string())
    );
    assert_eq!(now.overridden_fields, vec!["approve_below".to_string()]);
    for site in ["nova", "fresh"] {
        let r = submit(
            &ch,
            submission(site, &format!("w-{site}"), "Vào W88 chơi nhé"),
        )
        .await
        .expect("submit");
        assert_eq!(status_of(&r), CommentStatus::Rejected, "{site}: {r:?}");
        assert!(
            r.reasons.iter().any(|x| x.code == "BLOCKED_TERM"),
            "{site}: {r:?}"
        );
    }

    // Clearing the override follows the global default again.
    let shown = get_policy(&ch, "nova").await.policy.unwrap();
    let r = admin(&ch)
        .update_policy(authed(
            OPS_TOKEN,
            UpdatePolicyRequest {
                site: "nova".into(),
                policy: Some(shown.clone()),
                expected_version: shown.version,
                clear_overrides: vec!["approve_below".into()],
            },
        ))
        .await
        .expect("clear the override")
        .into_inner();
    assert!(r.overridden_fields.is_empty(), "{r:?}");
}
on_every_backend!(
    site_overrides,
    a_global_blocked_term_reaches_sites_with_own_policies
);

// ---- item 3: an idempotency key names one request ----

async fn a_reused_key_with_another_comment_is_refused_and_consumes_nothing(backend: Backend) {
    let app = spawn_app(backend, |c| {
        open(c);
        // One submission per client IP per hour: a consumed allowance is visible.
        c.rate_limits = vec![LimitRule::new(Descriptor::ClientIp, 1, 3600, 1)];
    })
    .await;
    let ch = app.channel().await;
    let first = submit(&ch, submission("hcm", "same-key", HAM))
        .await
        .expect("first");
    assert_eq!(status_of(&first), CommentStatus::Published);
    // The same request again is a replay of the first answer.
    let again = submit(&ch, submission("hcm", "same-key", HAM))
        .await
        .expect("retry");
    assert!(again.replayed);
    assert_eq!(again.comment_id, first.comment_id);

    let events_before = app
        .store
        .read_decisions("hcm", "", 1000)
        .await
        .expect("events")
        .len();
    let mut other = submission("hcm", "same-key", LOAN_SPAM);
    other.author.as_mut().unwrap().name = "Người Khác".into();
    other.client.as_mut().unwrap().ip = "192.0.2.99".into();
    let err = submit(&ch, other.clone())
        .await
        .expect_err("another comment with a used key");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let info = err
        .get_error_details()
        .error_info()
        .cloned()
        .expect("ErrorInfo");
    assert_eq!(info.reason, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(info.domain, "moderato.v1");
    // Nothing stored...
    let events_after = app
        .store
        .read_decisions("hcm", "", 1000)
        .await
        .expect("events")
        .len();
    assert_eq!(events_before, events_after);
    // ...and nothing consumed: the other IP's single allowance is still there.
    other.idempotency_key = "fresh-key".into();
    let r = submit(&ch, other)
        .await
        .expect("the other IP was not charged");
    assert!(!r.replayed);
    assert_ne!(r.comment_id, first.comment_id);
}
on_every_backend!(
    idempotency,
    a_reused_key_with_another_comment_is_refused_and_consumes_nothing
);

// ---- item 5: leases belong to their moderator ----

async fn another_moderators_lease_is_refused(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ch = app.channel().await;
    submit(&ch, submission("hcm", "k1", HAM))
        .await
        .expect("submit");
    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 1).await;
    let item = &items[0];
    let id = id_of(item);

    let err = decide(
        &ch,
        MODERATOR2_TOKEN,
        "hcm",
        item,
        Verdict::Approve,
        Label::Ham,
    )
    .await
    .expect_err("B decides with A's lease");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = moderation(&ch)
        .extend_lease(authed(
            MODERATOR2_TOKEN,
            ExtendLeaseRequest {
                site: "hcm".into(),
                comment_id: id.clone(),
                lease_token: item.lease_token.clone(),
                lease_seconds: 60,
            },
        ))
        .await
        .expect_err("B extends A's lease");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = moderation(&ch)
        .release_claim(authed(
            MODERATOR2_TOKEN,
            ReleaseClaimRequest {
                site: "hcm".into(),
                comment_id: id.clone(),
                lease_token: item.lease_token.clone(),
            },
        ))
        .await
        .expect_err("B releases A's lease");
    assert_eq!(err.code(), Code::PermissionDenied);
    // Nothing changed: still held, still A's, and B sees nothing to claim.
    assert_eq!(
        comment_status(&ch, "hcm", &id).await,
        CommentStatus::PendingReview
    );
    assert!(claim(&ch, MODERATOR2_TOKEN, "hcm", 5).await.is_empty());
    let e = decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        item,
        Verdict::Approve,
        Label::Ham,
    )
    .await
    .expect("A decides with A's lease");
    assert_eq!(e.actor, MOD_A);
}
on_every_backend!(foreign_lease, another_moderators_lease_is_refused);

// ---- item 4: verdicts and labels agree; overturning a human decision ----

async fn contradictory_verdict_and_label_are_refused(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ch = app.channel().await;
    submit(&ch, submission("hcm", "k1", LOAN_SPAM))
        .await
        .expect("submit");
    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 1).await;
    let item = &items[0];
    for (verdict, label) in [
        (Verdict::Approve, Label::Spam),
        (Verdict::Approve, Label::Abusive),
        (Verdict::Approve, Label::OffTopic),
        (Verdict::Reject, Label::Ham),
        (Verdict::Reject, Label::Unspecified),
    ] {
        let err = decide(&ch, MODERATOR_TOKEN, "hcm", item, verdict, label)
            .await
            .expect_err("contradiction");
        assert_eq!(err.code(), Code::InvalidArgument, "{verdict:?} {label:?}");
        assert_eq!(violated_fields(&err), vec!["label".to_string()]);
    }
    assert_eq!(
        comment_status(&ch, "hcm", &id_of(item)).await,
        CommentStatus::PendingReview
    );
    // Approving without a label records HAM.
    let e = decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        item,
        Verdict::Approve,
        Label::Unspecified,
    )
    .await
    .expect("approve");
    assert_eq!(e.label, Label::Ham as i32);
    assert_eq!(e.status, CommentStatus::Published as i32);
}
on_every_backend!(contradictions, contradictory_verdict_and_label_are_refused);

async fn a_human_decision_is_overturned_only_by_its_moderator_or_ops(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ch = app.channel().await;
    submit(&ch, submission("hcm", "k1", HAM))
        .await
        .expect("submit");
    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 1).await;
    let id = id_of(&items[0]);
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        &items[0],
        Verdict::Reject,
        Label::Spam,
    )
    .await
    .expect("A rejects");
    let err = overturn(
        &ch,
        MODERATOR2_TOKEN,
        "hcm",
        &id,
        CommentStatus::Rejected,
        Label::Ham,
    )
    .await
    .expect_err("B may not overturn A's decision");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(
        comment_status(&ch, "hcm", &id).await,
        CommentStatus::Rejected
    );
    // A undoes it; ops may reverse anyone's.
    let e = overturn(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        &id,
        CommentStatus::Rejected,
        Label::Ham,
    )
    .await
    .expect("A undoes");
    assert_eq!(e.status, CommentStatus::Published as i32);
    let e = overturn(
        &ch,
        OPS_TOKEN,
        "hcm",
        &id,
        CommentStatus::Published,
        Label::Spam,
    )
    .await
    .expect("ops overturns");
    assert_eq!(
        (e.actor.as_str(), e.status),
        (OPS, CommentStatus::Rejected as i32)
    );
    // An automatic decision may be reversed by any moderator.
    change_policy(&ch, "plain", |p| p.premoderate_all = false)
        .await
        .expect("no premoderation on plain");
    let auto = submit(&ch, submission("plain", "k2", HAM))
        .await
        .expect("submit");
    assert_eq!(status_of(&auto), CommentStatus::Published);
    let e = overturn(
        &ch,
        MODERATOR2_TOKEN,
        "plain",
        &auto.comment_id,
        CommentStatus::Published,
        Label::OffTopic,
    )
    .await
    .expect("B reverses an automatic decision");
    assert_eq!(
        (e.actor.as_str(), e.status),
        (MOD_B, CommentStatus::Rejected as i32)
    );
}
on_every_backend!(
    overturn_rights,
    a_human_decision_is_overturned_only_by_its_moderator_or_ops
);

// ---- item 5, rest: takeovers ----

async fn a_takeover_is_audited_and_fences_the_old_lease(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ch = app.channel().await;
    submit(&ch, submission("hcm", "k1", HAM))
        .await
        .expect("submit");
    submit(&ch, submission("hcm", "k2", LOAN_SPAM))
        .await
        .expect("submit");
    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 2).await;
    assert_eq!(items.len(), 2);
    let old = &items[0];
    let id = id_of(old);

    let taken = moderation(&ch)
        .take_over_claim(authed(
            MODERATOR2_TOKEN,
            TakeOverClaimRequest {
                site: "hcm".into(),
                comment_id: id.clone(),
                lease_seconds: 120,
                note: "A went home".into(),
            },
        ))
        .await
        .expect("B takes over")
        .into_inner();
    assert_eq!(taken.previous_holder, MOD_A);
    let new = taken.item.expect("item");
    assert_eq!(id_of(&new), id);
    assert_ne!(new.lease_token, old.lease_token);

    // The old holder's token is dead: deciding, extending and releasing are ABORTED and change nothing.
    let err = decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        old,
        Verdict::Approve,
        Label::Ham,
    )
    .await
    .expect_err("A's lease is gone");
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    let err = moderation(&ch)
        .extend_lease(authed(
            MODERATOR_TOKEN,
            ExtendLeaseRequest {
                site: "hcm".into(),
                comment_id: id.clone(),
                lease_token: old.lease_token.clone(),
                lease_seconds: 60,
            },
        ))
        .await
        .expect_err("A's lease is gone");
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(
        comment_status(&ch, "hcm", &id).await,
        CommentStatus::PendingReview
    );
    // The new lease is B's alone.
    let err = decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        &new,
        Verdict::Approve,
        Label::Ham,
    )
    .await
    .expect_err("A cannot use B's new token");
    assert_eq!(err.code(), Code::PermissionDenied);
    let e = decide(
        &ch,
        MODERATOR2_TOKEN,
        "hcm",
        &new,
        Verdict::Approve,
        Label::Ham,
    )
    .await
    .expect("B decides");
    assert_eq!(e.actor, MOD_B);
    // A's other item is untouched.
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        &items[1],
        Verdict::Reject,
        Label::Spam,
    )
    .await
    .expect("A's other lease still holds");

    // A decided comment has no claim to take over.
    let err = moderation(&ch)
        .take_over_claim(authed(
            OPS_TOKEN,
            TakeOverClaimRequest {
                site: "hcm".into(),
                comment_id: id.clone(),
                lease_seconds: 0,
                note: String::new(),
            },
        ))
        .await
        .expect_err("decided");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

    // The audit log says who took it from whom, and why.
    let entries = audit_all(
        &ch,
        ListAuditEntriesRequest {
            site: "hcm".into(),
            comment_id: id.clone(),
            ..Default::default()
        },
    )
    .await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["TAKEOVER", "REVIEW"], "{entries:?}");
    let t = &entries[0];
    assert_eq!(
        (
            t.actor.as_str(),
            t.before.as_str(),
            t.after.as_str(),
            t.note.as_str()
        ),
        (MOD_B, MOD_A, MOD_B, "A went home")
    );
    assert_eq!(t.site, "hcm");
    assert!(t.at.is_some());
}
on_every_backend!(takeover, a_takeover_is_audited_and_fences_the_old_lease);

// ---- item 6: the audit log ----

async fn audit_entries_can_be_listed_and_filtered(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ch = app.channel().await;
    change_policy(&ch, "hcm", |p| p.suspect_terms = vec!["inbox".into()])
        .await
        .expect("site policy");
    let models = admin(&ch)
        .list_models(authed(OPS_TOKEN, ListModelsRequest {}))
        .await
        .expect("models")
        .into_inner()
        .models;
    let version = models
        .iter()
        .find(|m| m.activatable)
        .expect("an activatable model")
        .version
        .clone();
    admin(&ch)
        .activate_model(authed(
            OPS_TOKEN,
            ActivateModelRequest {
                site: "hcm".into(),
                version: version.clone(),
            },
        ))
        .await
        .expect("activate for hcm");
    for k in ["a", "b"] {
        submit(&ch, submission("hcm", k, HAM))
            .await
            .expect("submit");
    }
    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 2).await;
    let first = id_of(&items[0]);
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        &items[0],
        Verdict::Reject,
        Label::OffTopic,
    )
    .await
    .expect("decide");
    overturn(
        &ch,
        OPS_TOKEN,
        "hcm",
        &first,
        CommentStatus::Rejected,
        Label::Ham,
    )
    .await
    .expect("overturn");
    moderation(&ch)
        .take_over_claim(authed(
            MODERATOR2_TOKEN,
            TakeOverClaimRequest {
                site: "hcm".into(),
                comment_id: id_of(&items[1]),
                lease_seconds: 0,
                note: String::new(),
            },
        ))
        .await
        .expect("takeover");
    // Another site's entries stay out of hcm's log.
    change_policy(&ch, "other", |p| p.premoderate_all = false)
        .await
        .expect("other site");

    let full = audit_all(&ch, site_query("hcm")).await;
    let all = full.clone();
    // The site's log with the global entries about it (the site index, the activation), by time.
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "POLICY_SITES").count(),
        1,
        "{all:?}"
    );
    let all: Vec<AuditEntry> = all
        .into_iter()
        .filter(|e| e.action != "POLICY_SITES")
        .collect();
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "POLICY_UPDATE",
            "MODEL_ACTIVATE",
            "REVIEW",
            "OVERTURN",
            "TAKEOVER"
        ],
        "{all:?}"
    );
    assert!(all.iter().all(|e| e.site == "hcm"), "{all:?}");
    assert!(
        all.windows(2).all(|w| ms(&w[0]) <= ms(&w[1])),
        "oldest first"
    );
    let activation = &all[1];
    assert_eq!(activation.actor, OPS);
    assert!(activation.detail.ends_with(&version), "{activation:?}");
    let review = &all[2];
    assert_eq!(
        (
            review.actor.as_str(),
            review.before.as_str(),
            review.after.as_str(),
            review.label.as_str()
        ),
        (MOD_A, "PENDING_REVIEW", "REJECTED", "off_topic")
    );
    assert_eq!(
        (all[3].actor.as_str(), all[3].after.as_str()),
        (OPS, "PUBLISHED")
    );

    // Filters: actor, comment, time; every filter that is set must match.
    let by_ops = audit_all(
        &ch,
        ListAuditEntriesRequest {
            actor: OPS.into(),
            ..site_query("hcm")
        },
    )
    .await;
    assert_eq!(
        by_ops
            .iter()
            .map(|e| e.action.as_str())
            .filter(|a| *a != "POLICY_SITES")
            .collect::<Vec<_>>(),
        vec!["POLICY_UPDATE", "MODEL_ACTIVATE", "OVERTURN"]
    );
    assert!(by_ops.iter().all(|e| e.actor == OPS));
    let of_first = audit_all(
        &ch,
        ListAuditEntriesRequest {
            comment_id: first.clone(),
            ..site_query("hcm")
        },
    )
    .await;
    assert_eq!(
        of_first
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        vec!["REVIEW", "OVERTURN"]
    );
    let since = all[2].at;
    let recent = audit_all(
        &ch,
        ListAuditEntriesRequest {
            since,
            ..site_query("hcm")
        },
    )
    .await;
    let expected: Vec<&AuditEntry> = full.iter().filter(|e| ms(e) >= ms(&all[2])).collect();
    assert_eq!(recent.iter().collect::<Vec<_>>(), expected);
    let until = all[2].at;
    let earlier = audit_all(
        &ch,
        ListAuditEntriesRequest {
            until,
            ..site_query("hcm")
        },
    )
    .await;
    let expected: Vec<&AuditEntry> = full.iter().filter(|e| ms(e) < ms(&all[2])).collect();
    assert_eq!(earlier.iter().collect::<Vec<_>>(), expected);
    assert!(expected.len() >= 2);

    // Paging: one entry per page gives the same entries, in the same order.
    let mut paged = Vec::new();
    let mut q = ListAuditEntriesRequest {
        page_size: 1,
        ..site_query("hcm")
    };
    loop {
        let page = audit(&ch, q.clone()).await.expect("page");
        assert!(page.entries.len() <= 1);
        paged.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        q.page_token = page.next_page_token;
    }
    assert_eq!(paged, full);

    // The global log: the default policy's site index and every activation.
    let global = audit_all(&ch, site_query("")).await;
    assert!(
        global
            .iter()
            .any(|e| e.action == "POLICY_SITES" && e.site == "hcm"),
        "{global:?}"
    );
    assert!(
        global
            .iter()
            .any(|e| e.action == "POLICY_SITES" && e.site == "other")
    );
    assert!(
        global
            .iter()
            .any(|e| e.action == "MODEL_ACTIVATE" && e.site == "hcm")
    );

    // Bad requests name every bad field.
    let err = audit(
        &ch,
        ListAuditEntriesRequest {
            site: "Not A Site".into(),
            page_size: 5000,
            page_token: "garbage".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        vec!["site", "page_size", "page_token"]
    );
    // Moderators do not read the audit log.
    let err = admin(&ch)
        .list_audit_entries(authed(MODERATOR_TOKEN, site_query("hcm")))
        .await
        .expect_err("ops only");
    assert_eq!(err.code(), Code::PermissionDenied);
}
on_every_backend!(audit_log, audit_entries_can_be_listed_and_filtered);

// ---- item 7: the label export ----

async fn export(ch: &Channel, site: &str) -> Vec<LabelRecord> {
    let mut s = moderation(ch)
        .export_labels(authed(
            MODERATOR_TOKEN,
            ExportLabelsRequest { site: site.into() },
        ))
        .await
        .expect("export")
        .into_inner();
    let mut out = Vec::new();
    while let Some(r) = s.message().await.expect("stream") {
        out.push(r);
    }
    out
}

async fn the_label_export_has_one_row_per_comment_with_its_latest_label(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ch = app.channel().await;
    let bodies = [
        LOAN_SPAM,
        HAM,
        "Đồ ngu, cút khỏi đây đi, loại như mày không đáng đọc báo.",
        "Mình bán xe máy cũ, ai cần liên hệ nhé, không liên quan bài nhưng tiện hỏi.",
        "Nhận làm bằng đại học giá rẻ, liên hệ 0987654321 zalo ngay.",
    ];
    for (i, b) in bodies.iter().enumerate() {
        submit(&ch, submission("hcm", &format!("k{i}"), b))
            .await
            .expect("submit");
    }
    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 5).await;
    assert_eq!(items.len(), 5);
    let by_body = |b: &str| {
        items
            .iter()
            .find(|i| i.comment.as_ref().unwrap().body == b)
            .expect("claimed")
    };
    let loan = by_body(bodies[0]);
    // The loan comment is first rejected as spam, then overturned by the same moderator as ham.
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        loan,
        Verdict::Reject,
        Label::Spam,
    )
    .await
    .unwrap();
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        by_body(bodies[1]),
        Verdict::Approve,
        Label::Ham,
    )
    .await
    .unwrap();
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        by_body(bodies[2]),
        Verdict::Reject,
        Label::Abusive,
    )
    .await
    .unwrap();
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        by_body(bodies[3]),
        Verdict::Reject,
        Label::OffTopic,
    )
    .await
    .unwrap();
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        by_body(bodies[4]),
        Verdict::Reject,
        Label::Spam,
    )
    .await
    .unwrap();
    overturn(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        &id_of(loan),
        CommentStatus::Rejected,
        Label::Ham,
    )
    .await
    .expect("overturn");

    let rows = export(&ch, "hcm").await;
    assert_eq!(rows.len(), 5, "one row per comment: {rows:?}");
    let mut ids: Vec<&str> = rows.iter().map(|r| r.comment_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    // Ordered by when the latest label was given: the overturned comment comes last, with its new label.
    let last = rows.last().unwrap();
    assert_eq!(last.comment_id, id_of(loan));
    assert_eq!(last.label, Label::Ham as i32);
    assert_eq!(last.labelled_by, MOD_A);
    assert!(last.labelled_at.is_some());
    assert!(last.text.ends_with(bodies[0]), "{:?}", last.text);
    let label_of = |b: &str| rows.iter().find(|r| r.text.ends_with(b)).unwrap().label;
    assert_eq!(
        label_of(bodies[2]),
        Label::Abusive as i32,
        "labels keep their meaning"
    );
    assert_eq!(label_of(bodies[3]), Label::OffTopic as i32);
    assert_eq!(label_of(bodies[4]), Label::Spam as i32);

    // The CSV the CLI writes, read back as training data: spam is spam, ham and off_topic are ham, abusive is out.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.csv");
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(moderato::cli::bootstrap::LABEL_CSV_HEADER)
        .unwrap();
    for r in &rows {
        w.write_record(moderato::cli::bootstrap::label_csv_record(r).expect("known label"))
            .unwrap();
    }
    w.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("comment_id,text,label,labelled_by,labelled_at\n"),
        "{text}"
    );
    assert_eq!(text.matches(",off_topic,").count(), 1, "{text}");
    let training =
        moderato::cli::bootstrap::read_label_csv(&path).expect("bootstrap train reads it");
    assert_eq!(training.len(), 4, "{training:?}");
    let class = |b: &str| {
        training
            .iter()
            .find(|(t, _)| t.ends_with(b))
            .map(|(_, s)| *s)
    };
    assert_eq!(class(bodies[0]), Some(false));
    assert_eq!(class(bodies[1]), Some(false));
    assert_eq!(class(bodies[2]), None, "abusive rows are left out");
    assert_eq!(class(bodies[3]), Some(false), "off_topic trains as ham");
    assert_eq!(class(bodies[4]), Some(true));
    let spec: moderato::classifier::data::DataSpec = format!("csv:{}", path.display())
        .parse()
        .expect("data spec");
    let examples = moderato::classifier::data::load(&spec).expect("train --data csv: reads it");
    assert_eq!(examples.len(), 4);
    assert_eq!(examples.iter().filter(|e| e.spam).count(), 1);
}
on_every_backend!(
    label_export,
    the_label_export_has_one_row_per_comment_with_its_latest_label
);

// ---- item 8: captcha settings ----

async fn captcha_settings_other_than_required_are_server_wide(backend: Backend) {
    let app = spawn_app(backend, |c| {
        c.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
        c.captcha.required = true;
        c.captcha.length = 6;
    })
    .await;
    let ch = app.channel().await;
    let shown = get_policy(&ch, "hcm").await.policy.unwrap();
    let c = shown.captcha.unwrap();
    assert!(c.required);
    assert_eq!(c.length, 6, "the server's value is reported");
    let err = change_policy(&ch, "hcm", |p| p.captcha.as_mut().unwrap().length = 7)
        .await
        .expect_err("per-site length is not offered");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), vec!["policy.captcha.length"]);
    // `required` is the site's own: sent back unchanged the others are accepted.
    let p = change_policy(&ch, "hcm", |p| p.captcha.as_mut().unwrap().required = false)
        .await
        .expect("required is per site");
    assert!(!p.captcha.unwrap().required);
    let r = submit(&ch, submission("hcm", "k1", HAM))
        .await
        .expect("no captcha needed on hcm");
    assert_eq!(status_of(&r), CommentStatus::Published);
    let err = submit(&ch, submission("elsewhere", "k2", HAM))
        .await
        .expect_err("captcha required");
    assert_eq!(violated_fields(&err), vec!["captcha"]);
}
on_every_backend!(
    captcha_settings,
    captcha_settings_other_than_required_are_server_wide
);

// ---- item 9: the smaller promises ----

async fn ops_read_queue_stats_of_a_named_site(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ch = app.channel().await;
    submit(&ch, submission("hcm", "k1", HAM))
        .await
        .expect("submit");
    submit(&ch, submission("hcm", "k2", HAM))
        .await
        .expect("submit");
    claim(&ch, MODERATOR_TOKEN, "hcm", 1).await;
    let s = moderation(&ch)
        .queue_stats(authed(OPS_TOKEN, QueueStatsRequest { site: "hcm".into() }))
        .await
        .expect("ops may read queue stats")
        .into_inner();
    assert_eq!((s.depth, s.claimed), (1, 1));
    let err = moderation(&ch)
        .queue_stats(authed(
            OPS_TOKEN,
            QueueStatsRequest {
                site: String::new(),
            },
        ))
        .await
        .expect_err("a site is required");
    assert_eq!(violated_fields(&err), vec!["site"]);
    // The claimed gauge is published while items are claimed.
    let body = app.metrics_text().await;
    assert!(
        body.contains("moderato_queue_claimed{site=\"hcm\"} 1"),
        "{body}"
    );
}
on_every_backend!(ops_stats, ops_read_queue_stats_of_a_named_site);

async fn a_bad_site_id_is_reported_with_every_other_violation(backend: Backend) {
    let app = spawn_app(backend, open).await;
    let ch = app.channel().await;
    let mut r = submission("Not A Site!", "", "");
    r.client.as_mut().unwrap().ip = "nowhere".into();
    r.title = "t".repeat(201);
    let err = submit(&ch, r).await.expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        vec!["site", "idempotency_key", "title", "body", "client.ip"],
        "{err:?}"
    );
}
on_every_backend!(
    bad_site,
    a_bad_site_id_is_reported_with_every_other_violation
);

async fn models_list_their_date_and_a_site_rollback_follows_the_global_model(backend: Backend) {
    // The models directory: a copy of the shipped model, and beside it one whose combiner does not load.
    let root = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(moderato::startup::SHIPPED_MODEL_DIR);
    for (name, version) in [("default", None), ("broken", Some("broken-combiner"))] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).expect("model dir");
        std::fs::copy(shipped.join("model.bin"), dir.join("model.bin")).expect("model.bin");
        let mut card: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(shipped.join("card.json")).expect("card"),
        )
        .expect("card json");
        let combiner = match version {
            Some(v) => {
                card["version"] = serde_json::Value::from(v);
                "{}".to_string()
            }
            None => std::fs::read_to_string(shipped.join("combiner.json")).expect("combiner"),
        };
        std::fs::write(dir.join("card.json"), card.to_string()).expect("write card");
        std::fs::write(dir.join("combiner.json"), combiner).expect("write combiner");
    }
    let model_dir = root.path().join("default").display().to_string();
    let app = spawn_app(backend, move |c| {
        open(c);
        c.model_dir = model_dir.clone();
    })
    .await;
    let ch = app.channel().await;
    let models = admin(&ch)
        .list_models(authed(OPS_TOKEN, ListModelsRequest {}))
        .await
        .expect("models")
        .into_inner()
        .models;
    let m = models
        .iter()
        .find(|m| m.activatable)
        .expect("activatable model");
    assert!(
        m.created_at.as_ref().is_some_and(|t| t.seconds > 0),
        "{m:?}"
    );
    assert!(m.problem.is_empty());
    assert!(
        m.recommended_reject_at > m.recommended_approve_below,
        "{m:?}"
    );
    assert!(
        models
            .iter()
            .any(|m| m.version == "broken-combiner" && !m.activatable),
        "{models:?}"
    );
    for m in models.iter().filter(|m| !m.activatable) {
        assert!(!m.problem.is_empty(), "{m:?}");
        let err = admin(&ch)
            .activate_model(authed(
                OPS_TOKEN,
                ActivateModelRequest {
                    site: "hcm".into(),
                    version: m.version.clone(),
                },
            ))
            .await
            .expect_err("not activatable");
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    }
    admin(&ch)
        .activate_model(authed(
            OPS_TOKEN,
            ActivateModelRequest {
                site: "hcm".into(),
                version: m.version.clone(),
            },
        ))
        .await
        .expect("pin hcm");
    admin(&ch)
        .rollback_model(authed(
            OPS_TOKEN,
            RollbackModelRequest { site: "hcm".into() },
        ))
        .await
        .expect("roll hcm back");
    let after = admin(&ch)
        .list_models(authed(OPS_TOKEN, ListModelsRequest {}))
        .await
        .expect("models")
        .into_inner()
        .models;
    assert!(
        after
            .iter()
            .all(|m| !m.active_for.contains(&"hcm".to_string())),
        "hcm follows the global model again: {after:?}"
    );
    let audit = audit_all(&ch, site_query("hcm")).await;
    assert_eq!(
        audit.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["MODEL_ACTIVATE", "MODEL_ROLLBACK"]
    );
}
on_every_backend!(
    models,
    models_list_their_date_and_a_site_rollback_follows_the_global_model
);

async fn the_author_limit_ignores_spacing_and_case_of_the_name(backend: Backend) {
    let app = spawn_app(backend, |c| {
        open(c);
        c.rate_limits = vec![LimitRule::new(Descriptor::Author, 1, 3600, 1)];
    })
    .await;
    let ch = app.channel().await;
    let named = |key: &str, name: &str| {
        let mut s = submission("hcm", key, HAM);
        s.author.as_mut().unwrap().name = name.into();
        s
    };
    submit(&ch, named("k1", "Lê Văn C")).await.expect("first");
    for (k, name) in [
        ("k2", "Lê  Văn C"),
        ("k3", "lê văn c"),
        ("k4", " LÊ VĂN   C "),
    ] {
        let err = submit(&ch, named(k, name))
            .await
            .expect_err("the same author");
        assert_eq!(err.code(), Code::ResourceExhausted, "{name:?}: {err:?}");
    }
    submit(&ch, named("k5", "Lê Văn D"))
        .await
        .expect("another author");
}
on_every_backend!(
    author_limit,
    the_author_limit_ignores_spacing_and_case_of_the_name
);

// ---- the client commands ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_over_exports_labels_and_shows_stats_and_the_audit_log() {
    let app = spawn_app(Backend::Memory, premoderated).await;
    let ch = app.channel().await;
    submit(&ch, submission("hcm", "k1", HAM))
        .await
        .expect("submit");
    submit(&ch, submission("hcm", "k2", LOAN_SPAM))
        .await
        .expect("submit");
    let items = claim(&ch, MODERATOR_TOKEN, "hcm", 2).await;
    decide(
        &ch,
        MODERATOR_TOKEN,
        "hcm",
        &items[0],
        Verdict::Approve,
        Label::Ham,
    )
    .await
    .expect("decide");
    let id = id_of(&items[1]);

    let out = cli(
        &app,
        MODERATOR2_TOKEN,
        &[
            "review",
            "takeover",
            "--site",
            "hcm",
            "--comment",
            &id,
            "--note",
            "An left",
        ],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("taken from {MOD_A}")), "{text}");

    // stats: ops may call it, and --site is required.
    let out = cli(&app, OPS_TOKEN, &["stats", "--site", "hcm"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("claimed               1"), "{text}");
    let out = cli(&app, OPS_TOKEN, &["stats"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--site"));

    let out = cli(
        &app,
        OPS_TOKEN,
        &["audit", "--site", "hcm", "--actor", MOD_B],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("TAKEOVER") && text.contains(&id) && text.contains("An left"),
        "{text}"
    );
    let out = cli(
        &app,
        OPS_TOKEN,
        &["audit", "--site", "hcm", "--since", "yesterday"],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.csv");
    let out = cli(
        &app,
        MODERATOR_TOKEN,
        &[
            "labels",
            "export",
            "--site",
            "hcm",
            "--out",
            path.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("comment_id,text,label,labelled_by,labelled_at")
    );
    let row = lines.collect::<Vec<_>>().join("\n");
    assert!(row.starts_with(&id_of(&items[0])), "{csv}");
    assert!(row.contains(&format!(",ham,{MOD_A},")), "{csv}");
}
