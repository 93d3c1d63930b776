//! Detection as a site sees it over gRPC: per-site allowed and denied link domains, abuse held with reason ABUSE and
//! never rejected on words alone, reasons labelled for people with spans at the matched characters.

use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::{
    CommentStatus, GetPolicyRequest, Policy, SubmitCommentRequest, UpdatePolicyRequest,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use tonic::transport::Channel;

use crate::harness::{
    Backend, OPS_TOKEN, authed, client_at, comment, spawn_app, status_of, submit,
};

fn open(cfg: &mut moderato::config::Config) {
    cfg.captcha.required = false;
    cfg.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
}

fn submission(site: &str, key: &str, body: &str) -> SubmitCommentRequest {
    SubmitCommentRequest {
        thread_id: "bai-viet-19".into(),
        title: "Ý kiến".into(),
        client: client_at("198.51.100.9"),
        ..comment(site, key, body)
    }
}

async fn change_policy(ch: &Channel, site: &str, change: impl FnOnce(&mut Policy)) -> Policy {
    let mut admin = AdminServiceClient::new(ch.clone());
    let shown = admin
        .get_policy(authed(OPS_TOKEN, GetPolicyRequest { site: site.into() }))
        .await
        .expect("get policy")
        .into_inner()
        .policy
        .expect("policy");
    let mut p = shown.clone();
    change(&mut p);
    admin
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
        .expect("update policy")
        .into_inner()
        .policy
        .expect("policy")
}

async fn sites_allow_and_deny_link_domains_and_abuse_is_held_with_labelled_spans(backend: Backend) {
    let app = spawn_app(backend, open).await;
    let ch = app.channel().await;
    let link =
        "Bài này đọc thêm ở tinmoi-quan7.example/ngap-nuoc nhé mọi người, có ảnh hiện trường.";
    let before = submit(&ch, submission("q7", "k1", link))
        .await
        .expect("submit");

    let p = change_policy(&ch, "q7", |p| {
        p.allowed_domains = vec!["tinmoi-quan7.example".into()];
        p.denied_domains = vec!["w88vip.example".into()];
    })
    .await;
    assert_eq!(p.allowed_domains, ["tinmoi-quan7.example"]);
    assert_eq!(p.denied_domains, ["w88vip.example"]);
    let after = submit(&ch, submission("q7", "k2", link))
        .await
        .expect("submit");
    assert!(
        after.score < before.score,
        "an allowed domain weighs less than an unknown one: {} -> {}",
        before.score,
        after.score
    );
    assert!(
        after.reasons.iter().any(|r| r.code == "URL_KNOWN_DOMAIN"),
        "{:?}",
        after.reasons
    );

    // A denied domain rejects, subdomains included, and says which.
    let denied = submit(
        &ch,
        submission("q7", "k3", "Bình luận hay, xem thêm m.w88vip.example/tin"),
    )
    .await
    .expect("submit");
    assert_eq!(status_of(&denied), CommentStatus::Rejected, "{denied:?}");
    let r = denied
        .reasons
        .iter()
        .find(|r| r.code == "DENIED_DOMAIN")
        .unwrap_or_else(|| panic!("{denied:?}"));
    assert_eq!(r.detail, "m.w88vip.example");
    assert_eq!(r.label_en, "a link to a domain the site denies");
    let s = &r.spans[0];
    let body = "Bình luận hay, xem thêm m.w88vip.example/tin";
    let at: String = body
        .chars()
        .skip(s.start as usize)
        .take((s.end - s.start) as usize)
        .collect();
    assert_eq!(
        (s.field.as_str(), at.as_str()),
        ("body", "m.w88vip.example")
    );
    // Another site is not affected.
    let elsewhere = submit(
        &ch,
        submission("q1", "k4", "Bình luận hay, xem thêm m.w88vip.example/tin"),
    )
    .await
    .expect("submit");
    assert!(
        !elsewhere.reasons.iter().any(|r| r.code == "DENIED_DOMAIN"),
        "{elsewhere:?}"
    );

    // An insult at another reader is held for review, never rejected on its words alone.
    let insult = "Ông bình luận phía trên đúng là ngu như bò, không hiểu thì im mồm đi.";
    let held = submit(&ch, submission("q7", "k5", insult))
        .await
        .expect("submit");
    assert_eq!(status_of(&held), CommentStatus::PendingReview, "{held:?}");
    let abuse = held
        .reasons
        .iter()
        .find(|r| r.code == "ABUSE")
        .unwrap_or_else(|| panic!("{held:?}"));
    assert_eq!(abuse.label_vi, "lời lẽ xúc phạm, chửi bới");
    let s = &abuse.spans[0];
    let at: String = insult
        .chars()
        .skip(s.start as usize)
        .take((s.end - s.start) as usize)
        .collect();
    assert_eq!(at, abuse.detail);
    // Every reason has labels in both languages.
    for r in held.reasons.iter().chain(&denied.reasons) {
        assert!(!r.label_vi.is_empty() && !r.label_en.is_empty(), "{r:?}");
        assert!(!r.detail.contains("char:"), "{r:?}");
    }
}

on_every_backend!(
    links_abuse_and_labels,
    sites_allow_and_deny_link_domains_and_abuse_is_held_with_labelled_spans
);
