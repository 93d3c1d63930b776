//! Detection as a site sees it over gRPC: per-site allowed and denied link domains, abuse held with reason ABUSE and
//! never rejected on words alone, reasons labelled for people with spans at the matched characters, and author
//! trust (new authors premoderated until approved, trust lost on a rejection).

use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::{
    Author, AuthorSelector, ClassifyRequest, CommentStatus, EraseAuthorRequest, GetPolicyRequest,
    Label, Policy, SubmitCommentRequest, UpdatePolicyRequest, Verdict,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use tonic::transport::Channel;

use crate::harness::{
    Backend, MODERATOR_TOKEN, OPS_TOKEN, authed, claim, client_at, comment, decide, spawn_app,
    status_of, submit,
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

/// Claims the one held comment of `site` and decides it.
async fn review_one(ch: &Channel, site: &str, verdict: Verdict, label: Label) {
    let items = claim(ch, MODERATOR_TOKEN, site, 5).await;
    assert_eq!(items.len(), 1, "one held comment: {items:?}");
    decide(ch, MODERATOR_TOKEN, site, &items[0], verdict, label)
        .await
        .expect("decide");
}

async fn an_author_goes_from_new_to_trusted_and_back_after_a_rejection(backend: Backend) {
    let app = spawn_app(backend, open).await;
    let ch = app.channel().await;
    let p = change_policy(&ch, "tin", |p| {
        p.trusted_after_approvals = 2;
        p.premoderate_new_authors = true;
    })
    .await;
    assert_eq!(
        (
            p.trusted_after_approvals,
            p.trust_clean_days,
            p.premoderate_new_authors
        ),
        (2, 30, true)
    );
    let by = |phone: &str, key: &str, body: &str| SubmitCommentRequest {
        author: Some(Author {
            name: "Lê Văn Tám".into(),
            phone: phone.into(),
            ..Default::default()
        }),
        ..submission("tin", key, body)
    };
    let reason = |r: &moderato::proto::SubmitCommentResponse, code: &str| {
        r.reasons
            .iter()
            .find(|x| x.code == code)
            .map(|x| x.detail.clone())
            .unwrap_or_else(|| panic!("no {code}: {r:?}"))
    };
    let regular = "0912 345 678";
    let ordinary = [
        "Cảm ơn tác giả, bài viết rất rõ ràng về lịch cắt điện tuần này.",
        "Mong phường sớm sửa lại đoạn đường trước chợ, trời mưa là ngập.",
        "Tôi đồng ý với ý kiến trên, nên có thêm đèn tín hiệu ở ngã tư.",
        "Thông tin hữu ích, tôi sẽ chia sẻ cho hàng xóm cùng biết.",
        "Năm nào cũng vậy, mong năm nay thành phố làm sớm hơn.",
    ];
    // New: held until two comments are approved, each time told how far along the author is.
    for (i, body) in ordinary[..2].iter().enumerate() {
        let r = submit(&ch, by(regular, &format!("n{i}"), body))
            .await
            .expect("submit");
        assert_eq!(status_of(&r), CommentStatus::PendingReview, "{r:?}");
        assert_eq!(
            reason(&r, "AUTHOR_NEW"),
            format!("{i} of 2 published comments needed for trust")
        );
        review_one(&ch, "tin", Verdict::Approve, Label::Ham).await;
    }
    // Trusted: published at once, and said so.
    let r = submit(&ch, by(regular, "t1", ordinary[2]))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::Published, "{r:?}");
    assert_eq!(
        reason(&r, "AUTHOR_TRUSTED"),
        "2 published comments on this site, none rejected in 30 days"
    );
    // Classify answers as a submission would be decided, the author's standing included.
    let classify = |phone: &str| {
        let ch = ch.clone();
        let phone = phone.to_string();
        async move {
            AdminServiceClient::new(ch)
                .classify(authed(
                    OPS_TOKEN,
                    ClassifyRequest {
                        site: "tin".into(),
                        author: Some(Author {
                            name: "Lê Văn Tám".into(),
                            phone,
                            ..Default::default()
                        }),
                        title: "Ý kiến".into(),
                        body: ordinary[3].into(),
                    },
                ))
                .await
                .expect("classify")
                .into_inner()
        }
    };
    let dry = classify(regular).await;
    assert_eq!(dry.status, CommentStatus::Published as i32, "{dry:?}");
    assert!(
        dry.reasons.iter().any(|r| r.code == "AUTHOR_TRUSTED"),
        "{dry:?}"
    );
    let dry = classify("0987 654 321").await;
    assert_eq!(dry.status, CommentStatus::PendingReview as i32, "{dry:?}");
    // The same words from another phone are a new author's.
    let other = submit(&ch, by("0987 654 321", "o1", ordinary[2]))
        .await
        .expect("submit");
    assert_eq!(status_of(&other), CommentStatus::PendingReview);
    assert_eq!(
        reason(&other, "AUTHOR_NEW"),
        "0 of 2 published comments needed for trust"
    );
    review_one(&ch, "tin", Verdict::Reject, Label::OffTopic).await;
    // Trust does not let abuse through: held, and a moderator rejects it.
    let insult = "Ông bình luận phía trên đúng là ngu như bò, không hiểu thì im mồm đi.";
    let r = submit(&ch, by(regular, "a1", insult))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::PendingReview, "{r:?}");
    reason(&r, "ABUSE");
    review_one(&ch, "tin", Verdict::Reject, Label::Abusive).await;
    // Back to new after the rejection, however many comments were published.
    let r = submit(&ch, by(regular, "b1", ordinary[3]))
        .await
        .expect("submit");
    assert_eq!(status_of(&r), CommentStatus::PendingReview, "{r:?}");
    assert_eq!(
        reason(&r, "AUTHOR_NEW"),
        "a comment of this author was rejected in the last 30 days"
    );
    // Without a phone or e-mail nobody can earn trust.
    let anon = submit(&ch, submission("tin", "x1", ordinary[4]))
        .await
        .expect("submit");
    assert_eq!(status_of(&anon), CommentStatus::PendingReview);
    assert_eq!(
        reason(&anon, "AUTHOR_NEW"),
        "the comment gives no phone or e-mail, so its author cannot earn trust"
    );
    // Erasing the author's data erases their standing: a new author again, with nothing to their name.
    AdminServiceClient::new(ch.clone())
        .erase_author(authed(
            OPS_TOKEN,
            EraseAuthorRequest {
                site: "tin".into(),
                author: Some(AuthorSelector {
                    phone: regular.into(),
                    ..Default::default()
                }),
                max_batches: 0,
            },
        ))
        .await
        .expect("erase");
    let r = submit(&ch, by(regular, "e1", ordinary[4]))
        .await
        .expect("submit");
    assert_eq!(
        reason(&r, "AUTHOR_NEW"),
        "0 of 2 published comments needed for trust"
    );
}

on_every_backend!(
    author_trust,
    an_author_goes_from_new_to_trusted_and_back_after_a_rejection
);
