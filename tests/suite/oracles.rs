//! Independent oracles: expected values written here by hand, never computed with the code under test's own
//! helpers. The threshold lab over gRPC, the lexicon skeleton, and the phone scan.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use moderato::proto::admin_service_client::AdminServiceClient;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    ClaimReviewsRequest, CommentStatus, DecideReviewRequest, GetPolicyRequest, Label,
    OutcomeCounts, Policy, SimulatePolicyRequest, SubmitCommentRequest, UpdatePolicyRequest,
    Verdict,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use moderato::text::detect::{PhoneScan, scan_phones};
use moderato::text::skeleton::skeleton;
use tonic::transport::Channel;

use crate::harness::{
    Backend, MODERATOR_TOKEN, OPS_TOKEN, PORTAL_TOKEN, authed, author_named, client_at, comment,
    spawn_app,
};

/// Twelve ordinary comments. Exactly three mention "xe buýt" (2, 5, 8) and exactly two "ổ gà" (3, 9); no other
/// text contains either phrase, even without accents.
const TEXTS: [&str; 12] = [
    "Cảm ơn phường đã sửa đèn đường ở hẻm 12, tối nay đi lại yên tâm hơn nhiều.",
    "Chợ Bến Thành cuối tuần đông quá, nên có thêm chỗ gửi xe cho khách.",
    "Tuyến xe buýt số 8 dạo này chạy đúng giờ, tài xế lịch sự.",
    "Đoạn đường Lê Văn Lương có nhiều ổ gà, xe máy đi rất nguy hiểm.",
    "Mong thành phố trồng thêm cây xanh trên các tuyến đường mới mở.",
    "Trạm xe buýt trước trường học cần thêm mái che cho học sinh.",
    "Bài viết rất hay, cảm ơn tác giả đã phân tích kỹ vấn đề ngập nước.",
    "Giá rau ở chợ tăng mạnh sau đợt mưa lũ vừa rồi.",
    "Nên mở thêm tuyến xe buýt nhanh ra sân bay để giảm kẹt xe.",
    "Hẻm nhà tôi có ổ gà lớn, trời mưa là đọng nước cả tuần.",
    "Công viên gần nhà mới lắp thêm ghế đá, người già rất vui.",
    "Đề nghị kiểm tra lại giờ thu gom rác, xe rác đến lúc nửa đêm rất ồn.",
];
/// The texts with "xe buýt" and with "ổ gà".
const BUS: [usize; 3] = [2, 5, 8];
const POTHOLE: [usize; 2] = [3, 9];
/// Moderators label the comments of these score ranks (0: lowest) spam and ham.
const SPAM_RANKS: [usize; 2] = [0, 5];
const HAM_RANKS: [usize; 2] = [7, 11];

/// A threshold between two recorded scores (as the server reads it, an f32) that puts `lo` below and `hi` at or
/// above it.
fn between(lo: f64, hi: f64) -> f64 {
    let t = ((lo + hi) / 2.0) as f32;
    assert!(
        (lo as f32) < t && t <= hi as f32,
        "scores {lo} and {hi} are too close to split"
    );
    f64::from(t)
}

fn counts(o: &OutcomeCounts) -> [u64; 5] {
    [
        o.published,
        o.pending_review,
        o.rejected,
        o.labelled_spam_published,
        o.labelled_ham_rejected,
    ]
}

async fn simulate(ch: &Channel, candidate: &Policy) -> moderato::proto::SimulatePolicyResponse {
    AdminServiceClient::new(ch.clone())
        .simulate_policy(authed(
            OPS_TOKEN,
            SimulatePolicyRequest {
                site: "hcm".into(),
                candidate: Some(candidate.clone()),
                window_seconds: 3600,
            },
        ))
        .await
        .expect("simulate")
        .into_inner()
}

/// The threshold lab over gRPC against counts written by hand: thresholds are placed between the recorded
/// scores by rank (so the counts per band are known without computing any decision), and term rules apply to
/// texts known to contain the terms.
async fn simulate_policy_matches_hand_counted_outcomes(backend: Backend) {
    let app = spawn_app(backend, |c| {
        c.captcha.required = false;
        c.policy.premoderate_all = true;
        c.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
    })
    .await;
    let ch = app.channel().await;
    let mut scores = Vec::new();
    let mut ids = Vec::new();
    for (i, body) in TEXTS.iter().enumerate() {
        let r = CommentServiceClient::new(ch.clone())
            .submit_comment(authed(
                PORTAL_TOKEN,
                SubmitCommentRequest {
                    thread_id: "t1".into(),
                    author: author_named("Phạm Minh"),
                    title: "Ý kiến".into(),
                    client: client_at(&format!("198.51.100.{}", i + 1)),
                    ..comment("hcm", &format!("o{i}"), body)
                },
            ))
            .await
            .expect("submit")
            .into_inner();
        assert_eq!(r.status, CommentStatus::PendingReview as i32);
        assert!(r.score < 1.0, "{}", r.score);
        scores.push(r.score);
        ids.push(r.comment_id);
    }
    // rank[k] = the text with the k-th lowest score.
    let mut rank: Vec<usize> = (0..TEXTS.len()).collect();
    rank.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let s = |k: usize| scores[rank[k]];

    // Labels: moderators decide four of the held comments.
    let items = ModerationServiceClient::new(ch.clone())
        .claim_reviews(authed(
            MODERATOR_TOKEN,
            ClaimReviewsRequest {
                site: "hcm".into(),
                max_items: 12,
                lease_seconds: 600,
            },
        ))
        .await
        .expect("claim")
        .into_inner()
        .items;
    assert_eq!(items.len(), 12);
    let tokens: BTreeMap<String, String> = items
        .into_iter()
        .map(|i| (i.comment.unwrap().comment_id, i.lease_token))
        .collect();
    for (ranks, verdict, label) in [
        (SPAM_RANKS, Verdict::Reject, Label::Spam),
        (HAM_RANKS, Verdict::Approve, Label::Ham),
    ] {
        for k in ranks {
            let t = rank[k];
            ModerationServiceClient::new(ch.clone())
                .decide_review(authed(
                    MODERATOR_TOKEN,
                    DecideReviewRequest {
                        site: "hcm".into(),
                        comment_id: ids[t].clone(),
                        lease_token: tokens[&ids[t]].clone(),
                        verdict: verdict as i32,
                        label: label as i32,
                        note: String::new(),
                    },
                ))
                .await
                .expect("decide");
        }
    }

    // The current policy: published below the 5th score, rejected from the 9th: 4 / 4 / 4.
    let inherited = AdminServiceClient::new(ch.clone())
        .get_policy(authed(OPS_TOKEN, GetPolicyRequest { site: "hcm".into() }))
        .await
        .expect("get policy")
        .into_inner()
        .policy
        .expect("policy");
    let mut current = inherited.clone();
    current.premoderate_all = false;
    current.disable_lexicon = true;
    current.approve_below = between(s(3), s(4));
    current.reject_at = between(s(7), s(8));
    AdminServiceClient::new(ch.clone())
        .update_policy(authed(
            OPS_TOKEN,
            UpdatePolicyRequest {
                site: "hcm".into(),
                policy: Some(current.clone()),
                expected_version: 0,
                clear_overrides: Vec::new(),
            },
        ))
        .await
        .expect("update policy");

    // Candidate A: published below the 7th score, rejected from the 11th: 6 / 4 / 2.
    let mut a = current.clone();
    a.approve_below = between(s(5), s(6));
    a.reject_at = between(s(9), s(10));
    // Candidate B: no score decides (every score is below 1), the terms do: 3 held, 2 rejected, 7 published.
    let mut b = current.clone();
    b.approve_below = 1.0;
    b.reject_at = 1.0;
    b.suspect_terms = vec!["xe buýt".into()];
    b.blocked_terms = vec!["ổ gà".into()];

    // Current: spam at rank 0 is published (rank 5 held); ham at rank 11 is rejected (rank 7 held).
    let want_current = [4, 4, 4, 1, 1];
    // A: spam at ranks 0 and 5 is published; ham at rank 11 is rejected (rank 7 held).
    let want_a = [6, 4, 2, 2, 1];
    // B: a labelled-spam text is published unless it has a term; a labelled-ham text is rejected when it has the
    // blocked one. Which texts got the labels depends on the scores, so this is counted from the term sets above.
    let spam_b = SPAM_RANKS
        .iter()
        .filter(|k| !BUS.contains(&rank[**k]) && !POTHOLE.contains(&rank[**k]))
        .count() as u64;
    let ham_b = HAM_RANKS
        .iter()
        .filter(|k| POTHOLE.contains(&rank[**k]))
        .count() as u64;
    let want_b = [7, 3, 2, spam_b, ham_b];

    // The update is in force on this replica once GetPolicy shows it; simulate until then would use the old one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sim_a = simulate(&ch, &a).await;
    while counts(sim_a.current.as_ref().unwrap()) != want_current {
        assert!(
            Instant::now() < deadline,
            "current policy counts {:?}, want {want_current:?}",
            sim_a.current
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        sim_a = simulate(&ch, &a).await;
    }
    assert_eq!((sim_a.submissions, sim_a.labelled), (12, 4));
    assert_eq!(counts(sim_a.candidate.as_ref().unwrap()), want_a);
    assert_eq!(sim_a.review_queue_delta, 0);

    let sim_b = simulate(&ch, &b).await;
    assert_eq!((sim_b.submissions, sim_b.labelled), (12, 4));
    assert_eq!(counts(sim_b.current.as_ref().unwrap()), want_current);
    assert_eq!(counts(sim_b.candidate.as_ref().unwrap()), want_b);
    assert_eq!(sim_b.review_queue_delta, 3 - 4);
}
on_every_backend!(
    simulate_by_hand,
    simulate_policy_matches_hand_counted_outcomes
);

/// The lexicon skeleton against hand-written expectations (spaced form; the compact form is the same words
/// without spaces). Rules, from the lexicon's documentation: lowercase; accents stripped (đ -> d); Cyrillic and
/// Greek look-alikes folded; invisible characters dropped without splitting a word; letters, digits, '@' and
/// '$' make words, anything else separates them; a word with two or more letters and two leet signs, or one
/// leet sign between letters, is decoded (0 o, 1 i, 3 e, 4 a, 5 s, 7 t, @ a, $ s); a two-character word of one
/// leet sign and one ASCII letter is decoded only next to a decoded word.
#[test]
fn the_lexicon_skeleton_matches_a_hand_written_table() {
    let table: &[(&str, &str)] = &[
        // Accents and case.
        ("Nhà cái uy tín", "nha cai uy tin"),
        ("ĐƯỜNG PHỐ", "duong pho"),
        ("Đắk Lắk", "dak lak"),
        ("Giá xăng tăng quá!", "gia xang tang qua"),
        ("Thuận Hóa", "thuan hoa"),
        ("nguyễn thị ỵ", "nguyen thi y"),
        ("Gia\u{301} xa\u{306}ng", "gia xang"),
        ("ắ ằ ẳ ẵ ặ", "a a a a a"),
        ("Crème brûlée", "creme brulee"),
        ("Ñandú", "nandu"),
        ("HỒ CHÍ MINH", "ho chi minh"),
        ("ĐĂNG KÝ NGAY!!!", "dang ky ngay"),
        ("Ơn trời, ưu đãi", "on troi uu dai"),
        // Spacing and separators.
        ("", ""),
        ("   ", ""),
        ("  nhà   cái  ", "nha cai"),
        ("n h à c á i", "n h a c a i"),
        ("N.h.à c.á.i", "n h a c a i"),
        ("nhà.cái-uy_tín", "nha cai uy tin"),
        ("tab\tand\nnewline", "tab and newline"),
        ("x...y!!!z", "x y z"),
        ("#hashtag và @user", "hashtag va @user"),
        ("Liên hệ: 0987 654 321", "lien he 0987 654 321"),
        ("(vay) [tiền] {nhanh}", "vay tien nhanh"),
        ("giá: 2023", "gia 2023"),
        // Invisible characters join what they split.
        ("nhà\u{200B}cái", "nhacai"),
        ("u\u{AD}y tín", "uy tin"),
        ("\u{FEFF}vay\u{2060}tien", "vaytien"),
        ("a\u{202E}b", "ab"),
        ("z\u{200D}a\u{200C}l\u{200B}o", "zalo"),
        // Leetspeak.
        ("fr33", "free"),
        ("v14gr4", "viagra"),
        ("n@m", "nam"),
        ("h4ng t0t", "hang tot"),
        ("ca$h", "cash"),
        ("l0@n", "loan"),
        ("t13n", "tien"),
        ("k3o nha c4i", "keo nha cai"),
        ("CH0 V4Y", "ch0 vay"),
        ("$ale", "$ale"),
        ("$$$", "$$$"),
        ("2023", "2023"),
        ("500k", "500k"),
        ("Z4L0 0912.345.678", "zalo 0912 345 678"),
        // Short leet words: decoded only beside a decoded word.
        ("1b m1nh nhé", "ib minh nhe"),
        ("m1nh 1b", "minh ib"),
        ("g1a r3", "gia re"),
        ("b0ng d4", "bong da"),
        ("4g m1nh", "ag minh"),
        ("1b 1b m1nh", "1b ib minh"),
        ("m1nh 1b 1b", "minh ib 1b"),
        ("Lớp 1B có 30 bạn", "lop 1b co 30 ban"),
        ("mạng 4g chậm", "mang 4g cham"),
        ("c4 d0", "c4 d0"),
        ("x0 s0", "x0 s0"),
        ("99 m1nh", "99 minh"),
        ("10 m1nh", "10 minh"),
        ("a1 b2", "a1 b2"),
        // Cyrillic and Greek look-alikes.
        ("nh\u{430} cái", "nha cai"),
        ("\u{412}\u{410}Y", "bay"),
        ("\u{441}as\u{456}n\u{43E}", "casino"),
        ("\u{3BD}\u{3B1}y", "vay"),
        ("\u{440}h\u{43E}n\u{435}", "phone"),
        ("\u{455}\u{4BB}\u{43E}\u{440}", "shop"),
        ("t\u{456}ền", "tien"),
        ("\u{41D}à Nội", "ha noi"),
        ("\u{443}êu", "yeu"),
        ("\u{3BA}\u{3BF}\u{3C4}\u{3B5}", "kote"),
        ("l\u{3BF}\u{3B1}n", "loan"),
    ];
    assert!(table.len() >= 60, "{}", table.len());
    let mut wrong = Vec::new();
    for (input, spaced) in table {
        let got = skeleton(input);
        let compact = spaced.replace(' ', "");
        if got.spaced != *spaced || got.compact != compact {
            wrong.push(format!(
                "{input:?}: got {:?} / {:?}, want {spaced:?} / {compact:?}",
                got.spaced, got.compact
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The phone scan against hand-written Vietnamese phone forms and non-phones. Rules, from its documentation: a
/// run of 9 to 12 ASCII digits, separated by at most three of space . , - ( ) _ in a row, is phone-like, unless
/// it is written as a thousands-grouped amount (a first group of 1 to 3 digits, then groups of exactly 3 after
/// single '.' or ','); Vietnamese mobile: 0 then 3/5/7/8/9 and 10 digits in all, or 84 then 3/5/7/8/9 and 11 in
/// all; digits written apart (three or more single-digit groups) are counted as obfuscated.
#[test]
fn the_phone_scan_matches_a_hand_written_table() {
    // (text, phone-like, Vietnamese mobile, obfuscated)
    let table: &[(&str, u32, u32, u32)] = &[
        // Mobiles in the usual forms.
        ("0912345678", 1, 1, 0),
        ("lh 0912 345 678 nhé", 1, 1, 0),
        ("0912.345.678", 1, 1, 0),
        ("0912-345-678", 1, 1, 0),
        ("0912_345_678", 1, 1, 0),
        ("091 234 5678", 1, 1, 0),
        ("091.234.5678", 1, 1, 0),
        ("09 12 34 56 78", 1, 1, 0),
        ("0912 34 56 78", 1, 1, 0),
        ("+84 912345678", 1, 1, 0),
        ("+84 912 345 678", 1, 1, 0),
        ("84912345678", 1, 1, 0),
        ("(+84) 912-345-678", 1, 1, 0),
        ("0352 123 456", 1, 1, 0),
        ("0512345678", 1, 1, 0),
        ("0705 123 456", 1, 1, 0),
        ("0812 345 678", 1, 1, 0),
        ("zalo: 0987.654.321", 1, 1, 0),
        ("Liên hệ ngay0912345678", 1, 1, 0),
        ("số 0912345678.", 1, 1, 0),
        ("0912345678 hoặc 0987654321", 2, 2, 0),
        // Digits written apart.
        ("0 9 1 2 3 4 5 6 7 8", 1, 1, 1),
        ("gọi 0 9 1 2 . 3 4 5 . 6 7 8 nhé", 1, 1, 1),
        ("0.9.1.2.3.4.5.6.7.8", 1, 1, 1),
        ("3 4 5 6 7 8 9 1 2", 1, 0, 1),
        // Landlines and service numbers: phone-like, not mobile.
        ("028 3822 1234", 1, 0, 0),
        ("(028) 3822 1234", 1, 0, 0),
        ("024.3825.3538", 1, 0, 0),
        ("+84 28 3822 1234", 1, 0, 0),
        ("84-28-3822-1234", 1, 0, 0),
        ("1800 588 888", 1, 0, 0),
        // Wrong lengths or prefixes for a mobile.
        ("0212345678", 1, 0, 0),
        ("0112345678", 1, 0, 0),
        ("091234567", 1, 0, 0),
        ("09123456789", 1, 0, 0),
        ("0123.456.789", 1, 0, 0),
        ("STK 0123456789 Vietcombank", 1, 0, 0),
        ("CCCD 079123456789", 1, 0, 0),
        ("mã đơn hàng 123456789", 1, 0, 0),
        // Not phone-like at all.
        ("1900 1234", 0, 0, 0),
        ("0084 912 345 678", 0, 0, 0),
        ("0 9 1 2 3 4 5 6 7 8 9 0 1", 0, 0, 0),
        ("mã vận đơn 8123456789012", 0, 0, 0),
        ("ID 1234567890123456", 0, 0, 0),
        ("năm 2023 và 2024", 0, 0, 0),
        ("từ 2019 đến 2023, rồi 2024", 0, 0, 0),
        ("năm 2019 và năm 2020, 2021", 0, 0, 0),
        ("tôi sinh năm 1990, cao 170 cm, nặng 65 kg", 0, 0, 0),
        ("07/12/2026 lúc 10:30", 0, 0, 0),
        ("10:30 ngày 12.05.2024", 0, 0, 0),
        ("giá 1.500.000đ", 0, 0, 0),
        ("giá 150.000.000 đồng", 0, 0, 0),
        ("giá 1.250.000.000 VNĐ", 0, 0, 0),
        ("123.456.789", 0, 0, 0),
        ("12.345.678.901", 0, 0, 0),
        ("1,884,034,783 lượt xem", 0, 0, 0),
        ("2.124.821.694 views", 0, 0, 0),
        ("lương 15,000,000 - 20,000,000", 0, 0, 0),
        ("giá 2.500.000 - 3.000.000", 0, 0, 0),
        ("1.000.000.000.000", 0, 0, 0),
        ("lh 09l2345678", 0, 0, 0),
        ("0912\u{1F600}345678", 0, 0, 0),
        ("đơn hàng #DH20231105", 0, 0, 0),
    ];
    assert!(table.len() >= 40, "{}", table.len());
    let mut wrong = Vec::new();
    for (text, any, vn, obfuscated) in table {
        let want = PhoneScan {
            any: *any,
            vn: *vn,
            obfuscated: *obfuscated,
        };
        let got = scan_phones(text);
        if got != want {
            wrong.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
