//! Short labels for people, in Vietnamese and English, for every reason code a decision can carry. Codes are stable
//! (stored with decisions, counted in metrics); labels may be reworded.

/// (code, Vietnamese label, English label).
const LABELS: &[(&str, &str, &str)] = &[
    (
        "SCORE_AT_OR_ABOVE_REJECT",
        "điểm spam vượt ngưỡng từ chối",
        "spam score at or above the reject threshold",
    ),
    (
        "SCORE_BELOW_APPROVE",
        "điểm spam dưới ngưỡng duyệt",
        "spam score below the approve threshold",
    ),
    (
        "SCORE_BETWEEN_THRESHOLDS",
        "điểm spam giữa hai ngưỡng: chờ duyệt",
        "spam score between the thresholds: held for review",
    ),
    (
        "BLOCKED_TERM",
        "từ bị chặn của trang",
        "a term the site blocks",
    ),
    (
        "SUSPECT_TERM",
        "từ cần xem xét của trang",
        "a term the site holds for review",
    ),
    (
        "DENIED_DOMAIN",
        "liên kết tới tên miền bị chặn",
        "a link to a domain the site denies",
    ),
    (
        "PREMODERATION",
        "trang duyệt trước mọi bình luận",
        "the site reviews every comment first",
    ),
    (
        "BOOTSTRAP",
        "trang mới: duyệt tay cho tới khi đủ nhãn",
        "new site: reviewed by hand until enough labels",
    ),
    (
        "AUTHOR_TRUSTED",
        "người viết quen, đáng tin cậy",
        "a trusted regular author",
    ),
    (
        "AUTHOR_NEW",
        "người viết chưa được tin cậy",
        "an author not yet trusted",
    ),
    (
        "CAMPAIGN",
        "bản gần giống của bình luận nhiều người khác vừa gửi",
        "a near-copy of comments many other authors just posted",
    ),
    (
        "ABUSE",
        "lời lẽ xúc phạm, chửi bới",
        "insult, curse or slur",
    ),
    ("LEX_BETTING", "quảng cáo cá cược", "betting promotion"),
    ("LEX_LOAN", "quảng cáo cho vay", "loan promotion"),
    (
        "LEX_SALES_INBOX",
        "rao bán, mời nhắn tin",
        "sales pitch asking for a private message",
    ),
    (
        "LEX_CONTACT_WORD",
        "mời liên hệ riêng",
        "asks for private contact",
    ),
    ("LEX_JOB_SCAM", "tuyển dụng lừa đảo", "job scam"),
    (
        "LEX_CRYPTO_SCAM",
        "mời đầu tư, tiền ảo",
        "investment or crypto pitch",
    ),
    (
        "LEX_HEALTH_AD",
        "quảng cáo thuốc, mỹ phẩm",
        "health or cosmetics ad",
    ),
    (
        "LEX_SEO_LINK",
        "chèn liên kết quảng cáo",
        "advertising link drop",
    ),
    ("MODEL_SCORE", "điểm của mô hình", "the model's score"),
    (
        "MODEL_LOGIT_VIETNAMESE",
        "điểm của mô hình trên tiếng Việt",
        "the model's score on Vietnamese text",
    ),
    (
        "LEXICON_BLOCK",
        "cụm từ quảng cáo bị chặn",
        "a blocked advertising phrase",
    ),
    ("URL", "có liên kết", "a link"),
    (
        "URL_IN_NAME_OR_TITLE",
        "liên kết trong tên hoặc tiêu đề",
        "a link in the name or title",
    ),
    (
        "URL_KNOWN_DOMAIN",
        "liên kết tới trang báo, cơ quan, trường học",
        "a link to a news, public or school site",
    ),
    (
        "URL_OTHER_DOMAIN",
        "liên kết tới trang lạ",
        "a link to an unknown site",
    ),
    ("URL_SHORTENER", "liên kết rút gọn", "a shortened link"),
    (
        "PHONE_IN_BODY",
        "số điện thoại trong nội dung",
        "a phone number in the body",
    ),
    (
        "PHONE_IN_NAME_OR_TITLE",
        "số điện thoại trong tên hoặc tiêu đề",
        "a phone number in the name or title",
    ),
    ("PHONE_MOBILE", "số di động", "a mobile number"),
    (
        "PHONE_OBFUSCATED",
        "số điện thoại viết tách rời",
        "a phone number written digit by digit",
    ),
    (
        "PHONE_FIELD",
        "có điền số điện thoại",
        "the phone field was filled in",
    ),
    ("CHAT_APP", "nhắc tới ứng dụng nhắn tin", "names a chat app"),
    (
        "CHAT_APP_IN_NAME_OR_TITLE",
        "ứng dụng nhắn tin trong tên hoặc tiêu đề",
        "a chat app in the name or title",
    ),
    (
        "HANDLE_OR_EMAIL",
        "tài khoản @ hoặc email",
        "an @handle or e-mail address",
    ),
    ("SPACED_LETTERS", "chữ viết tách rời", "letters spaced out"),
    ("LEETSPEAK", "chữ lẫn số (c4 d0)", "leetspeak"),
    (
        "HOMOGLYPH",
        "chữ giả dạng (ký tự Kirin)",
        "look-alike letters",
    ),
    ("INVISIBLE_CHARS", "ký tự ẩn", "invisible characters"),
    ("MONEY_AMOUNT", "số tiền", "an amount of money"),
    (
        "RATE_PER_DAY_OR_WEEK",
        "lãi theo ngày hoặc tuần",
        "a rate per day or week",
    ),
    (
        "QUOTED_TEXT",
        "trích dẫn trong ngoặc kép",
        "a quoted passage",
    ),
    (
        "SCAM_WARNING_WORDS",
        "lời cảnh báo lừa đảo",
        "words of a scam warning",
    ),
    ("VIETNAMESE_BODY", "nội dung tiếng Việt", "Vietnamese body"),
    ("SHORT_BODY", "nội dung ngắn", "a short body"),
    ("LONG_BODY", "nội dung dài", "a long body"),
];

/// The label of a reason in one language (`vietnamese` or English), or `None` for a code this catalogue does
/// not know (a front door then shows the reason's own detail, or nothing).
pub fn label(code: &str, contribution: f32, vietnamese: bool) -> Option<String> {
    if code != "MODEL_FEATURE" && !LABELS.iter().any(|(c, _, _)| *c == code) {
        return None;
    }
    let (vi, en) = labels(code, contribution);
    Some(if vietnamese { vi } else { en })
}

/// (Vietnamese, English) label of a reason: by its code, and for the model's words by the sign of their
/// contribution. An unknown code is its own label.
pub fn labels(code: &str, contribution: f32) -> (String, String) {
    if code == "MODEL_FEATURE" {
        return if contribution >= 0.0 {
            ("từ ngữ quảng cáo".into(), "advertising words".into())
        } else {
            ("từ ngữ thông thường".into(), "ordinary words".into())
        };
    }
    LABELS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, vi, en)| ((*vi).to_string(), (*en).to_string()))
        .unwrap_or_else(|| (code.to_string(), code.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_both_labels_and_codes_are_unique() {
        for (i, (c, vi, en)) in LABELS.iter().enumerate() {
            assert!(!vi.is_empty() && !en.is_empty(), "{c}");
            assert!(!LABELS[..i].iter().any(|(d, _, _)| d == c), "{c} twice");
        }
        assert_eq!(labels("ABUSE", 0.0).0, "lời lẽ xúc phạm, chửi bới");
        assert_eq!(labels("MODEL_FEATURE", 1.0).0, "từ ngữ quảng cáo");
        assert_eq!(labels("NEW_CODE", 0.0).1, "NEW_CODE");
    }

    #[test]
    fn every_code_a_decision_can_carry_has_a_label() {
        use crate::scoring::combiner::{LEX_PREFIX, MODEL_LOGIT, signal_names};
        let mut codes: Vec<String> = signal_names()
            .iter()
            .filter(|n| n.as_str() != MODEL_LOGIT)
            .map(|n| match n.strip_prefix(LEX_PREFIX) {
                Some(c) => c.to_string(),
                None => n.to_ascii_uppercase(),
            })
            .collect();
        codes.extend(
            [
                "MODEL_SCORE",
                "MODEL_FEATURE",
                "SCORE_AT_OR_ABOVE_REJECT",
                "SCORE_BELOW_APPROVE",
                "SCORE_BETWEEN_THRESHOLDS",
                "BLOCKED_TERM",
                "SUSPECT_TERM",
                "DENIED_DOMAIN",
                "PREMODERATION",
                "BOOTSTRAP",
                "AUTHOR_TRUSTED",
                "AUTHOR_NEW",
                "CAMPAIGN",
                crate::lexicon::ABUSE,
            ]
            .map(String::from),
        );
        for c in codes {
            assert!(label(&c, 1.0, true).is_some(), "{c} has no label");
        }
        assert_eq!(label("NO_SUCH_CODE", 0.0, true), None);
    }
}
