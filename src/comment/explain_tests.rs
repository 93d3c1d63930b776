//! Explanations as people read them: labels for every code, spans that point at the matched characters, no offset
//! that reads as "this made it less spammy".

use std::sync::LazyLock;

use crate::policy::document::Policy;
use crate::review::{Reason, ReasonKind};
use crate::scoring::Scorer;
use crate::scoring::combiner::signal_names;

static SCORER: LazyLock<Scorer> = LazyLock::new(|| {
    Scorer::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default"))
        .expect("the shipped model and combiner")
});

fn classify(name: &str, title: &str, body: &str) -> Vec<Reason> {
    super::classify(
        &Policy::default(),
        &SCORER,
        u64::MAX,
        name,
        "",
        title,
        body,
        0,
    )
    .2
}

fn field<'a>(name: &'a str, title: &'a str, body: &'a str, f: &str) -> &'a str {
    match f {
        "name" => name,
        "title" => title,
        _ => body,
    }
}

fn chars(s: &str, a: u32, b: u32) -> String {
    s.chars().skip(a as usize).take((b - a) as usize).collect()
}

#[test]
fn every_signal_and_rule_code_has_a_vietnamese_and_an_english_label() {
    let mut codes: Vec<String> = signal_names()
        .iter()
        .map(|n| {
            n.strip_prefix(crate::scoring::combiner::LEX_PREFIX)
                .map_or_else(|| n.to_ascii_uppercase(), str::to_string)
        })
        .collect();
    codes.retain(|c| c != "MODEL_LOGIT");
    codes.extend(
        [
            "MODEL_SCORE",
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
            "ABUSE",
        ]
        .map(String::from),
    );
    for c in codes {
        let (vi, en) = crate::review::labels::labels(&c, 1.0);
        assert!(vi != c && en != c, "{c} has no label");
    }
}

#[test]
fn reasons_carry_spans_at_the_characters_they_matched_and_summarised_model_words() {
    let (name, title, body) = (
        "Shop",
        "Ưu đãi",
        "Vào NHÀ CÁI uy tín nhận thưởng, xem w88vip.example ngay, thằng ngu như bò",
    );
    let reasons = classify(name, title, body);
    let by = |code: &str| reasons.iter().find(|r| r.code == code);
    let lex = by("LEX_BETTING").unwrap_or_else(|| panic!("{reasons:?}"));
    assert!(!lex.spans.is_empty(), "{lex:?}");
    for s in &lex.spans {
        let got = chars(field(name, title, body, &s.field), s.start, s.end);
        assert_eq!(
            crate::text::skeleton::skeleton(&got).spaced,
            crate::text::skeleton::skeleton(&lex.detail).spaced,
            "{lex:?}"
        );
    }
    let url = by("URL_OTHER_DOMAIN").unwrap_or_else(|| panic!("{reasons:?}"));
    assert_eq!(
        url.spans
            .iter()
            .map(|s| chars(body, s.start, s.end))
            .collect::<Vec<_>>(),
        ["w88vip.example"]
    );
    let abuse = by("ABUSE").unwrap_or_else(|| panic!("{reasons:?}"));
    assert_eq!(
        chars(body, abuse.spans[0].start, abuse.spans[0].end),
        abuse.detail,
        "{abuse:?}"
    );
    for r in reasons
        .iter()
        .filter(|r| r.kind == ReasonKind::ModelFeature && r.code == "MODEL_FEATURE")
    {
        assert!(
            !r.detail.contains("char:") && !r.detail.contains("len:"),
            "{r:?}"
        );
    }
}

#[test]
fn no_phone_link_or_chat_reason_lowers_the_score() {
    for body in [
        "Vay tiền nhanh giải ngân trong ngày, gọi 0912 345 678 hoặc zalo 0912345678",
        "Phường 5 có số trực 028 3855 1234 để báo cây ngã",
        "Xem thêm ở vnexpress.net/bai-viet và https://dichvucong.gov.vn",
    ] {
        let reasons = classify("Lan", "", body);
        for r in &reasons {
            let spam_only = r.code.starts_with("PHONE_")
                || r.code.starts_with("CHAT_APP")
                || [
                    "URL",
                    "URL_OTHER_DOMAIN",
                    "URL_SHORTENER",
                    "URL_IN_NAME_OR_TITLE",
                ]
                .contains(&r.code.as_str())
                || r.code.starts_with("LEX_");
            assert!(!(spam_only && r.contribution < 0.0), "{body}: {r:?}");
        }
    }
}

#[test]
fn lexicon_link_and_warning_reasons_are_located_where_they_are_made() {
    for body in [
        "Vay tiền nhanh giải ngân trong ngày, gọi 0912 345 678 hoặc zalo 0912345678",
        "Xem thêm ở vnexpress.net/bai-viet và https://dichvucong.gov.vn",
        "Vào NHÀ CÁI uy tín nhận thưởng, xem w88vip.example ngay, link w88vip.example/x",
        "Cảnh giác lừa đảo: nó bảo vay tiền nhanh ib zalo 0912345678 rồi chiếm đoạt",
    ] {
        for r in classify("Lan", "Ý kiến", body) {
            let located_where_made = r.code.starts_with("LEX_")
                || ["URL_OTHER_DOMAIN", "URL_KNOWN_DOMAIN", "SCAM_WARNING_WORDS"]
                    .contains(&r.code.as_str());
            if located_where_made {
                assert!(!r.spans.is_empty(), "{body}: {r:?}");
            }
        }
    }
}

#[test]
fn folding_an_offset_into_a_reason_keeps_its_spans() {
    let span = crate::review::Span {
        field: "body".into(),
        start: 5,
        end: 19,
    };
    let reason = |code: &str, contribution: f32, spans: Vec<crate::review::Span>| Reason {
        code: code.into(),
        detail: format!("{code} detail"),
        contribution,
        kind: ReasonKind::Rule,
        spans,
    };
    let folded = crate::scoring::combiner::fold_offsets(vec![
        reason("URL_OTHER_DOMAIN", 2.0, vec![span.clone()]),
        reason("URL", -0.5, Vec::new()),
    ]);
    assert_eq!(folded.len(), 1, "{folded:?}");
    assert!(folded[0].detail.contains("folded in"), "{folded:?}");
    assert_eq!(folded[0].spans, [span]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Random text around real phrases: every span of every reason lies inside its field and points at characters
    /// that read as the phrase, host or term the reason names.
    #[test]
    fn spans_point_inside_their_field_at_the_matched_characters(
        before in "[a-zA-Zđàáạ0-9 ,.\u{200B}]{0,30}",
        after in "[a-zA-Zđàáạ0-9 ,.!]{0,30}",
        phrase in proptest::sample::select(vec![
            "nhà cái uy tín", "vay tiền nhanh", "ngu như bò", "ib zalo", "lừa đảo", "xem abc.example/x",
        ]),
        in_title in proptest::bool::ANY,
    ) {
        let text = format!("{before} {phrase} {after}");
        let (title, body) = if in_title { (text.as_str(), "bình luận") } else { ("", text.as_str()) };
        for r in classify("Lan", title, body) {
            for s in &r.spans {
                let f = field("Lan", title, body, &s.field);
                let n = u32::try_from(f.chars().count()).unwrap();
                proptest::prop_assert!(s.start < s.end && s.end <= n, "{r:?} in {f:?}");
                let got = chars(f, s.start, s.end);
                let named = crate::text::skeleton::skeleton(&got).spaced;
                proptest::prop_assert!(!named.is_empty(), "{r:?} points at {got:?}");
                let detail = crate::text::skeleton::skeleton(&r.detail).spaced;
                proptest::prop_assert!(
                    detail.contains(&named) || got.eq_ignore_ascii_case(r.detail.rsplit(": ").next().unwrap_or("")),
                    "{r:?} points at {got:?}"
                );
            }
        }
    }
}
