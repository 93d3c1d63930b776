//! Campaigns over gRPC: near-copies of one pitch posted by many authors across two replicas are held with reason
//! CAMPAIGN from the third author on, earlier copies still held are marked with the campaign, and a look-alike
//! group of readers (the same condolences from many people) is published.

use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    Author, CommentStatus, GetCampaignRequest, RejectCampaignRequest, SubmitCommentRequest,
    SubmitCommentResponse,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use tonic::transport::Channel;

use crate::harness::{
    Backend, MODERATOR_TOKEN, authed, client_at, comment, open_store, spawn_with, status_of,
    submit, test_config, unique_prefix,
};

/// Copy `i` of one pitch, as a campaign varies it: another phone number, a word changed, accents dropped.
pub fn variant(i: usize) -> String {
    let phone = format!("09{:08}", 12_345_000 + i * 7919);
    let contact = ["liên hệ", "nhắn tin", "gọi ngay", "ib"][i % 4];
    let close = ["nhé", "nha", "ạ", "nhé các bác"][i % 3];
    let text = format!(
        "Mình bán lại suất mua căn hộ chung cư giá gốc chủ đầu tư, vị trí đẹp gần trung tâm, ai quan tâm \
         {contact} {phone} để xem nhà {close}"
    );
    if i % 5 == 4 {
        moderato::text::fold(&text)
    } else {
        text
    }
}

pub fn by(site: &str, i: usize, body: &str, key: &str) -> SubmitCommentRequest {
    SubmitCommentRequest {
        author: Some(Author {
            name: format!("Người đọc {i}"),
            phone: format!("0987 {:06}", 100_000 + i),
            email: String::new(),
        }),
        client: client_at(&format!("198.51.100.{}", 10 + i)),
        title: "Ý kiến".into(),
        ..comment(site, key, body)
    }
}

fn codes(r: &SubmitCommentResponse) -> Vec<String> {
    r.reasons.iter().map(|x| x.code.clone()).collect()
}

async fn campaign_of(ch: &Channel, site: &str, id: &str) -> String {
    crate::harness::get_comment(ch, site, id).await.campaign_id
}

async fn get_campaign(
    ch: &Channel,
    site: &str,
    id: &str,
) -> Result<Vec<moderato::proto::Comment>, tonic::Status> {
    ModerationServiceClient::new(ch.clone())
        .get_campaign(authed(
            MODERATOR_TOKEN,
            GetCampaignRequest {
                site: site.into(),
                campaign_id: id.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().comments)
}

async fn thirty_near_copies_from_thirty_authors_across_two_replicas(backend: Backend) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    cfg.captcha.required = false;
    cfg.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
    let store_a = open_store(backend, &prefix).await;
    let store_b = if backend == Backend::Memory {
        store_a.clone()
    } else {
        open_store(backend, &prefix).await
    };
    let a = spawn_with(cfg.clone(), store_a).await;
    let b = spawn_with(cfg, store_b).await;
    let (cha, chb) = (a.channel().await, b.channel().await);
    let site = "rao";
    let mut answers = Vec::new();
    for i in 0..30 {
        let ch = if i % 2 == 0 { &cha } else { &chb };
        let r = submit(ch, by(site, i, &variant(i), &format!("c{i}")))
            .await
            .expect("submit");
        answers.push(r);
    }
    // The first copy, alone, is the kind that passes one by one: its score is between the campaign floor and
    // approve_below, so only the campaign holds the later ones.
    assert_eq!(
        status_of(&answers[0]),
        CommentStatus::Published,
        "{:?}",
        answers[0]
    );
    assert!((0.1..0.5).contains(&answers[0].score), "{:?}", answers[0]);
    // Two authors are not a campaign; from the third author on, every copy is held with reason CAMPAIGN.
    for (i, r) in answers.iter().enumerate() {
        let flagged = codes(r).contains(&"CAMPAIGN".to_string());
        if i < 2 {
            assert!(!flagged, "copy {i}: {r:?}");
        } else {
            assert!(flagged, "copy {i}: {r:?}");
            assert_ne!(status_of(r), CommentStatus::Published, "copy {i}: {r:?}");
            let reason = r
                .reasons
                .iter()
                .find(|x| x.code == "CAMPAIGN")
                .expect("reason");
            assert_eq!(
                reason.detail,
                "near-copies from 3 or more authors within 6 h"
            );
            assert!(!reason.label_en.is_empty() && !reason.label_vi.is_empty());
        }
    }
    // Every copy, the first two included, is marked with one campaign, read on either replica.
    let first = campaign_of(&cha, site, &answers[0].comment_id).await;
    assert!(!first.is_empty());
    for (i, r) in answers.iter().enumerate() {
        let ch = if i % 2 == 0 { &chb } else { &cha };
        assert_eq!(
            campaign_of(ch, site, &r.comment_id).await,
            first,
            "copy {i}"
        );
    }
    // The moderators' view of the campaign: every copy, oldest first; then its held copies rejected at once.
    let mut moderation = ModerationServiceClient::new(chb.clone());
    let listed = get_campaign(&chb, site, &first)
        .await
        .expect("get campaign");
    // Oldest first (copies submitted in one millisecond may come in either order).
    let created: Vec<i64> = listed
        .iter()
        .map(|c| {
            c.created_at
                .as_ref()
                .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        })
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    let mut ids: Vec<&str> = listed.iter().map(|c| c.comment_id.as_str()).collect();
    let mut want: Vec<&str> = answers.iter().map(|r| r.comment_id.as_str()).collect();
    ids.sort_unstable();
    want.sort_unstable();
    assert_eq!(ids, want);
    let held = answers
        .iter()
        .filter(|r| status_of(r) == CommentStatus::PendingReview)
        .count();
    assert!(held >= 20, "{held} held");
    let done = moderation
        .reject_campaign(authed(
            MODERATOR_TOKEN,
            RejectCampaignRequest {
                site: site.into(),
                campaign_id: first.clone(),
                note: "one pitch, thirty phones".into(),
            },
        ))
        .await
        .expect("reject campaign")
        .into_inner();
    assert_eq!(done.rejected as usize, held);
    assert_eq!(done.not_held as usize, 30 - held);
    let after = get_campaign(&cha, site, &first)
        .await
        .expect("get campaign");
    assert!(
        after
            .iter()
            .all(|c| c.status != CommentStatus::PendingReview as i32)
    );
    // An unknown campaign is NOT_FOUND; a malformed id is INVALID_ARGUMENT.
    for (id, code) in [
        ("0123456789abcdef0123456789abcdef", tonic::Code::NotFound),
        ("not an id", tonic::Code::InvalidArgument),
    ] {
        let e = get_campaign(&cha, site, id).await.expect_err("refused");
        assert_eq!(e.code(), code, "{id}: {e:?}");
    }
    // A retry of a held copy is answered as it was recorded.
    let again = submit(&cha, by(site, 7, &variant(7), "c7"))
        .await
        .expect("retry");
    assert!(again.replayed);
    assert_eq!(codes(&again), codes(&answers[7]));
}

on_every_backend!(
    campaign_across_replicas,
    thirty_near_copies_from_thirty_authors_across_two_replicas
);

async fn look_alike_readers_are_published_and_one_author_repeating_is_no_campaign(
    backend: Backend,
) {
    let prefix = unique_prefix();
    let mut cfg = test_config(&prefix);
    cfg.captcha.required = false;
    cfg.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
    let app = spawn_with(cfg, open_store(backend, &prefix).await).await;
    let ch = app.channel().await;
    // Ten readers send the same condolences, in their own small variations: a look-alike group, published.
    for i in 0..10 {
        let body = format!(
            "Thành kính phân ưu cùng gia đình các nạn nhân, cầu mong các bạn ra đi thanh thản{}",
            ["", ".", "!", " ạ", "..."][i % 5]
        );
        let r = submit(&ch, by("tang", i, &body, &format!("p{i}")))
            .await
            .expect("submit");
        assert_eq!(status_of(&r), CommentStatus::Published, "reader {i}: {r:?}");
        assert!(!codes(&r).contains(&"CAMPAIGN".to_string()), "{r:?}");
    }
    // One author posting the same pitch again and again is one author: no campaign (rate limits are for that).
    for i in 0..5 {
        let r = submit(&ch, by("mot", 1, &variant(i), &format!("m{i}")))
            .await
            .expect("submit");
        assert!(
            !codes(&r).contains(&"CAMPAIGN".to_string()),
            "copy {i}: {r:?}"
        );
    }
}

on_every_backend!(
    campaign_look_alikes,
    look_alike_readers_are_published_and_one_author_repeating_is_no_campaign
);
