//! The combiner: one calibrated spam probability from the base model's score and the rule signals (shipped
//! lexicon categories, URLs and their domains, phone numbers and chat handles in any field, obfuscation,
//! invisible characters). It is a small logistic regression over a fixed, named signal vector, the way rspamd
//! adds up symbol scores, except that the weights are fitted on labelled data ([`fit`]) and the output is a
//! probability. The artifact is `combiner.json` next to the model it was fitted for.
//!
//! # Signals
//! Index 0 is the base model's logit (clamped to ±[`LOGIT_CLAMP`]); then one 0/1 indicator per shipped lexicon
//! category (`lex:LEX_BETTING`, ...); then the fixed rules of [`RULES`]. The URL, phone, chat, handle and
//! obfuscation signals are read from the classifier's own signal extractor (`classifier::features`), so the
//! combiner and the model agree on what a URL or a phone number is.

pub mod artifact;
pub mod fit;
pub mod rules;
pub mod signals;

use std::path::Path;

use crate::classifier::Model;
use crate::review::{Reason, ReasonKind};

/// Code of the reason that carries the base model's score inside a combined score; a recorded decision with it
/// was made on the combiner's probability.
pub const MODEL_SCORE: &str = "MODEL_SCORE";

pub use artifact::*;
pub use rules::{Evidence, Observed, body_is_vietnamese, is_known_host, observe};
pub use signals::*;

/// A loaded combiner: the file plus its weights in this build's signal order.
#[derive(Debug, Clone)]
pub struct Combiner {
    file: CombinerFile,
    weights: Vec<f64>,
}

/// A combined probability and its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    pub score: f32,
    /// Present signals with their contribution (weight x value) to the logit, largest magnitude first.
    pub reasons: Vec<Reason>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Combiner {
    /// Checks `file` against this build and the base model version `model_version`.
    pub fn from_file(file: CombinerFile, model_version: &str) -> Result<Combiner, CombinerError> {
        if file.format != COMBINER_FORMAT {
            return Err(CombinerError::Format {
                found: file.format,
                expected: COMBINER_FORMAT,
            });
        }
        if file.signals_version != SIGNALS_VERSION {
            return Err(CombinerError::SignalsVersion {
                found: file.signals_version,
                expected: SIGNALS_VERSION.into(),
            });
        }
        if file.base_model_version != model_version {
            return Err(CombinerError::BaseModel {
                fitted_for: file.base_model_version,
                model: model_version.into(),
            });
        }
        let names = signal_names();
        let unknown: Vec<&str> = file
            .weights
            .iter()
            .filter(|w| !names.contains(&w.name))
            .map(|w| w.name.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(CombinerError::UnknownSignals(unknown.join(", ")));
        }
        let mut weights = vec![0f64; names.len()];
        let mut seen = vec![false; names.len()];
        for w in &file.weights {
            let i = index_of(&w.name).expect("checked above");
            if seen[i] {
                return Err(CombinerError::Invalid(format!(
                    "signal {} listed twice",
                    w.name
                )));
            }
            seen[i] = true;
            if !w.weight.is_finite() {
                return Err(CombinerError::Invalid(format!(
                    "weight of {} is not finite",
                    w.name
                )));
            }
            weights[i] = w.weight;
        }
        if !file.intercept.is_finite() {
            return Err(CombinerError::Invalid("intercept is not finite".into()));
        }
        let t = &file.thresholds;
        if !(0.0..=1.0).contains(&t.approve_below)
            || !(0.0..=1.0).contains(&t.reject_at)
            || t.approve_below > t.reject_at
        {
            return Err(CombinerError::Invalid(
                "thresholds must satisfy 0 <= approve_below <= reject_at <= 1".into(),
            ));
        }
        Ok(Combiner { file, weights })
    }

    /// Reads `path` and checks it against the base model version.
    pub fn load(path: &Path, model_version: &str) -> Result<Combiner, CombinerError> {
        let bytes = std::fs::read(path).map_err(|source| CombinerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: CombinerFile =
            serde_json::from_slice(&bytes).map_err(|source| CombinerError::Decode {
                path: path.display().to_string(),
                source,
            })?;
        Combiner::from_file(file, model_version)
    }

    /// The combiner in model directory `dir` for `model`, if the directory has one.
    pub fn load_for(dir: &Path, model: &Model) -> Result<Option<Combiner>, CombinerError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        Combiner::load(&path, model.version()).map(Some)
    }

    /// The artifact.
    pub fn file(&self) -> &CombinerFile {
        &self.file
    }

    /// The combined probability of a signal vector.
    pub fn probability(&self, values: &[f64]) -> f64 {
        let z = self.file.intercept
            + self
                .weights
                .iter()
                .zip(values)
                .map(|(w, v)| w * v)
                .sum::<f64>();
        sigmoid(z)
    }

    /// Combines the base model's score with the rule signals of `e`.
    pub fn combine(&self, model_score: f32, e: &Evidence<'_>) -> Combined {
        let located = crate::review::Located::new(e.text.name, e.text.title, e.text.body);
        self.combine_located(model_score, e, &located)
    }

    /// [`Combiner::combine`], locating its reasons in `located` (`e`'s fields), which the caller shares with
    /// whatever else locates reasons in the same comment.
    pub fn combine_located(
        &self,
        model_score: f32,
        e: &Evidence<'_>,
        located: &crate::review::Located<'_>,
    ) -> Combined {
        let o = observe(model_score, e);
        let score = self.probability(&o.values) as f32;
        let names = signal_names();
        let mut reasons: Vec<Reason> = Vec::new();
        for (i, (&v, &w)) in o.values.iter().zip(&self.weights).enumerate() {
            // The model's score is always listed: it marks a decision made by the combiner.
            if v == 0.0 && i != 0 {
                continue;
            }
            let name = &names[i];
            let contribution = (w * v) as f32;
            let detail = &o.details[i];
            let r = if i == 0 {
                Reason {
                    code: MODEL_SCORE.into(),
                    detail: detail.clone(),
                    contribution,
                    kind: ReasonKind::ModelFeature,
                    spans: Vec::new(),
                }
            } else if let Some(code) = name.strip_prefix(LEX_PREFIX) {
                Reason {
                    code: code.to_string(),
                    detail: detail.clone(),
                    contribution,
                    kind: ReasonKind::Lexicon,
                    spans: located.phrase(detail),
                }
            } else {
                // The phrase or host a signal found is located here, from `observe`'s own finding.
                let spans = match name.as_str() {
                    "scam_warning_words" => located.phrase(detail),
                    "lexicon_block" => {
                        located.phrase(detail.split_once(": ").map_or(detail.as_str(), |d| d.1))
                    }
                    "url_known_domain" | "url_other_domain" => located.literal(detail),
                    "phone_in_body"
                    | "phone_in_name_or_title"
                    | "phone_mobile"
                    | "phone_obfuscated" => located.phones(detail),
                    "handle_or_email" => located.contacts(detail),
                    _ => Vec::new(),
                };
                Reason {
                    code: name.to_ascii_uppercase(),
                    detail: if detail.is_empty() {
                        describe(name)
                    } else {
                        format!("{}: {detail}", describe(name))
                    },
                    contribution,
                    kind: ReasonKind::Rule,
                    spans,
                }
            };
            reasons.push(r);
        }
        let mut reasons = fold_offsets(reasons);
        reasons.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        Combined { score, reasons }
    }
}

/// The family of a signal that can only point towards spam (a phone number, a link, a chat app, a lexicon category,
/// a disguise): a negative fitted contribution of one of them only offsets another signal that fired with it (a
/// phone number is counted by several signals at once), so it is folded into that one. `None` for signals that may
/// honestly lower the score (a known domain, a quotation, warning words, the language, the length).
fn offset_family(code: &str) -> Option<&'static str> {
    if code.starts_with("PHONE_") {
        Some("PHONE")
    } else if code == "URL"
        || code == "URL_IN_NAME_OR_TITLE"
        || code == "URL_OTHER_DOMAIN"
        || code == "URL_SHORTENER"
    {
        Some("URL")
    } else if code.starts_with("CHAT_APP") || code == "HANDLE_OR_EMAIL" {
        Some("CHAT")
    } else if code.starts_with("LEX_") || code == "LEXICON_BLOCK" {
        Some("LEX")
    } else if matches!(
        code,
        "SPACED_LETTERS"
            | "LEETSPEAK"
            | "HOMOGLYPH"
            | "INVISIBLE_CHARS"
            | "MONEY_AMOUNT"
            | "RATE_PER_DAY_OR_WEEK"
    ) {
        Some("DISGUISE")
    } else {
        None
    }
}

/// Folds every negative contribution of a spam-only signal into the strongest positive reason of its family, or
/// into the model's score reason when its family has none: no reason reads "a phone number made this less spammy".
/// The contributions still add up to the same logit.
pub fn fold_offsets(reasons: Vec<Reason>) -> Vec<Reason> {
    let (offsets, mut kept): (Vec<Reason>, Vec<Reason>) = reasons
        .into_iter()
        .partition(|r| r.contribution < 0.0 && offset_family(&r.code).is_some());
    for o in offsets {
        let family = offset_family(&o.code);
        let target = kept
            .iter()
            .enumerate()
            .filter(|(_, r)| r.contribution > 0.0 && offset_family(&r.code) == family)
            .max_by(|a, b| a.1.contribution.total_cmp(&b.1.contribution))
            .map(|(i, _)| i)
            .or_else(|| kept.iter().position(|r| r.code == MODEL_SCORE));
        match target {
            Some(i) => {
                kept[i].contribution += o.contribution;
                kept[i].detail = format!(
                    "{} (with {} {:+.2} folded in)",
                    kept[i].detail, o.code, o.contribution
                );
            }
            None => kept.push(o),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::fit::{FitOptions, fit, load_rows};
    use super::rules::*;
    use super::*;
    use crate::classifier::CommentText;
    use crate::comment::classify;
    use crate::lexicon::Lexicon;
    use crate::policy::document::Policy;
    use crate::review::Status;
    use crate::scoring::prepare;
    use std::path::PathBuf;
    use std::sync::LazyLock;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn base_model() -> Model {
        Model::load(&root().join("models/default")).unwrap()
    }

    /// The shipped model with its combiner, as the server loads it.
    fn shipped_model() -> crate::scoring::Scorer {
        crate::scoring::Scorer::load(&root().join("models/default")).unwrap()
    }

    fn fitted(model: &Model) -> CombinerFile {
        let data = root().join("data/vi-dev/comments.csv");
        let rows = load_rows(data.to_str().unwrap(), "dev").unwrap();
        let on = FittedOn {
            data: "data/vi-dev/comments.csv".into(),
            data_sha256: String::new(),
            split: "dev".into(),
            rows: rows.len(),
            spam: rows.iter().filter(|r| r.spam).count(),
            ham: rows.iter().filter(|r| !r.spam).count(),
        };
        let opts = FitOptions {
            alphas: vec![0.3, 1.0, 3.0],
            ..FitOptions::default()
        };
        fit(model, &rows, on, "2026-01-01".into(), &opts).unwrap().0
    }

    fn score(c: &Combiner, name: &str, title: &str, body: &str) -> f32 {
        let hits = prepare(name, title, body).lexicon;
        c.combine(
            0.2,
            &Evidence {
                text: CommentText {
                    name,
                    phone: "",
                    title,
                    body,
                },
                lexicon: &hits,
                invisible: 0,
                signals: None,
                skeleton: None,
                field_spaced: None,
                hosts: None,
                allowed_domains: &[],
            },
        )
        .score
    }

    #[test]
    fn warning_terms_match_whole_words_anywhere_in_the_skeleton() {
        assert_eq!(warning_term("canh giac nhe moi nguoi"), Some("canh giac"));
        assert_eq!(warning_term("toi bi du vao nhom"), Some("bi du"));
        assert_eq!(warning_term("chau toi bi lua"), Some("bi lua"));
        assert_eq!(warning_term("bi luat phat"), None);
        assert_eq!(warning_term("abi lua"), None);
        assert_eq!(warning_term("xcanh giac"), None);
        // An overlapping non-word match does not hide a word match that follows it.
        assert_eq!(warning_term("abi lua dao"), Some("lua dao"));
        assert_eq!(warning_term("giamao danh"), None);
        assert_eq!(warning_term(""), None);
    }

    #[test]
    fn a_rate_per_day_or_week_is_found_in_its_written_forms_and_a_yearly_rate_is_not() {
        let found = |t: &str| rate_per_day_or_week(t);
        assert_eq!(found("lãi 1,2%/ngày, rút gốc"), Some("1,2%/ngay".into()));
        assert_eq!(found("LÃI 2% MỖI NGÀY"), Some("2%/ngay".into()));
        assert_eq!(found("lợi nhuận 8 % / tuần"), Some("8%/tuan".into()));
        assert_eq!(found("lãi 5% hàng tuần."), Some("5%/tuan".into()));
        assert_eq!(found("earn 3% a day"), Some("3%/day".into()));
        assert_eq!(found("lai 0.5%/ngay"), Some("0.5%/ngay".into()));
        assert_eq!(found("lãi 2%/ngày."), Some("2%/ngay".into()));
        assert_eq!(found("lãi suất 4,7%/năm"), None);
        assert_eq!(found("lãi 1%/tháng"), None);
        assert_eq!(found("tăng 30% trong 2 ngày"), None);
        // A bare period, or a per word that is also something else, is not a rate.
        assert_eq!(found("giảm 50% ngay hôm nay"), None);
        assert_eq!(found("lãi 2% ngày"), None);
        assert_eq!(found("Giảm 50% ngày 8/3"), None);
        assert_eq!(found("Chuẩn 100% a Tuấn ơi"), None);
        assert_eq!(found("Giảm 50% ạ. Ngày mai hết hàng"), None);
        assert_eq!(found("Giảm 50% mới ngày đầu đã hết"), None);
        assert_eq!(found("Giảm 50% 1 ngày duy nhất"), None);
        assert_eq!(found("lai 2% moi ngay"), None);
        assert_eq!(found("100%"), None);
        assert_eq!(found("%/ngày"), None);
        assert_eq!(found("abc%ngày"), None);
        // Many '%' in a long text: each looks at a bounded window (this would take minutes otherwise).
        let long = "1%".repeat(50_000);
        assert_eq!(found(&long), None);
    }

    #[test]
    fn fitting_is_deterministic_and_a_betting_hit_with_a_url_scores_higher() {
        let model = base_model();
        let a = fitted(&model);
        let b = fitted(&model);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let names: Vec<&str> = a.weights.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            signal_names()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        let c = Combiner::from_file(a, model.version()).unwrap();
        let spam = score(
            &c,
            "Minh",
            "",
            "Trận này kèo thơm, vào nhà cái uy tín nhận thưởng tại https://w88vip.example",
        );
        let ham = score(&c, "Minh", "", "Trận này đội nhà đá hay, mong giữ phong độ");
        assert!(spam > ham, "{spam} <= {ham}");
        assert!(spam > 0.5, "{spam}");
    }

    #[test]
    fn a_combiner_for_another_model_or_with_unknown_signals_is_refused() {
        let model = base_model();
        let good = fitted(&model);
        let err = Combiner::from_file(good.clone(), "some-other-model").unwrap_err();
        assert!(matches!(err, CombinerError::BaseModel { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("some-other-model") && msg.contains(model.version()),
            "{msg}"
        );

        let mut unknown = good.clone();
        unknown.weights.push(SignalWeight {
            name: "lex:LEX_NOT_A_CATEGORY".into(),
            weight: 1.0,
            rows_with_signal: 0,
            description: String::new(),
        });
        let err = Combiner::from_file(unknown, model.version()).unwrap_err();
        assert!(err.to_string().contains("lex:LEX_NOT_A_CATEGORY"), "{err}");

        let mut old = good;
        old.signals_version = "moderato-combiner-signals-v0".into();
        assert!(matches!(
            Combiner::from_file(old, model.version()),
            Err(CombinerError::SignalsVersion { .. })
        ));
    }

    #[test]
    fn classify_uses_the_combined_probability_and_explains_rules_and_features() {
        let model = base_model();
        let file = fitted(&model);
        let model = crate::scoring::Scorer::base(model)
            .with_combiner(file)
            .unwrap();
        let p = Policy::default();
        let (score, status, reasons) = classify(
            &p,
            &model,
            u64::MAX,
            "Zalo 0912 345 678",
            "",
            "",
            "Nhà cái uy tín, nạp lần đầu nhận thưởng 100%, vào w88vip.example",
            0,
        );
        assert!(score >= p.reject_at, "{score} {reasons:?}");
        assert_eq!(status, Status::Rejected);
        assert!(
            reasons
                .iter()
                .any(|r| r.kind == ReasonKind::Lexicon && r.contribution > 0.0),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.kind == ReasonKind::Rule && r.code.starts_with("URL")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.code == "MODEL_FEATURE"),
            "{reasons:?}"
        );
        // Site blocked terms stay outright rejects.
        let blocked = Policy {
            blocked_terms: vec!["thời tiết".into()],
            ..Policy::default()
        };
        let (_, status, _) = classify(&blocked, &model, u64::MAX, "An", "", "", "Thời tiết đẹp", 0);
        assert_eq!(status, Status::Rejected);
    }

    #[test]
    fn signals_and_skeleton_from_earlier_passes_equal_computing_them_here() {
        let model = base_model();
        let data = root().join("data/vi-dev/comments.csv");
        let mut rows = load_rows(data.to_str().unwrap(), "").unwrap();
        rows.push(super::fit::Row {
            id: "en".into(),
            name: "Call 0912345678".into(),
            phone: "0912 345 678".into(),
            title: "FREE http://bit.ly/x".into(),
            body: "WIN £500 cash, text @winner on telegram, see www.prize.example/claim".into(),
            spam: true,
            hard: false,
            abusive: false,
        });
        for r in &rows {
            let text = CommentText {
                name: &r.name,
                phone: &r.phone,
                title: &r.title,
                body: &r.body,
            };
            let prepared = prepare(&r.name, &r.title, &r.body);
            // The lexicon sees the same skeleton as one pass over the joined fields would give.
            let joined = format!("{}\n{}\n{}", r.name, r.title, r.body);
            assert_eq!(
                prepared.lexicon,
                Lexicon::shipped().hits(&crate::text::skeleton::skeleton(&joined)),
                "{}",
                r.id
            );
            let hits = &prepared.lexicon;
            let (scored, names) = model.score_with_signals(&text, 0);
            let e = |signals, skeleton, field_spaced, hosts| Evidence {
                text,
                lexicon: hits,
                invisible: 0,
                signals,
                skeleton,
                field_spaced,
                hosts,
                allowed_domains: &[],
            };
            // What the scorer hands over (built once in `prepare`) is what `observe` would build itself.
            assert_eq!(
                observe(scored.score, &e(None, None, None, None)),
                observe(
                    scored.score,
                    &e(
                        Some(&names),
                        Some(&prepared.head_and_body_spaced),
                        Some((&prepared.field_spaced.0, &prepared.field_spaced.1)),
                        Some(&prepared.field_hosts),
                    )
                ),
                "{}",
                r.id
            );
        }
    }

    #[test]
    fn vietnamese_is_told_from_english_with_and_without_accents() {
        let vi = |t: &str| body_is_vietnamese("", t, None);
        assert!(vi("Đường Nguyễn Huệ kẹt xe"));
        assert!(vi("duong nay ko duoc sua a, nguoi dan kho qua"));
        assert!(vi("Cảm ơn!"));
        assert!(!vi("WIN a FREE prize, call now to claim your reward"));
        assert!(!vi("Check out my channel, la la la"));
        // Accents added to English do not make it Vietnamese; the title does not decide for the body.
        assert!(!vi("Eạrn $300 ạ dạy from hộme, messạge me now"));
        assert!(!body_is_vietnamese(
            "Ý kiến của tôi",
            "Earn $300 a day from home, message me on WhatsApp",
            None
        ));
        assert!(body_is_vietnamese("Ý kiến", "", None));
    }

    #[test]
    fn the_shipped_combiner_rejects_english_spam_and_publishes_vietnamese_ham() {
        let model = shipped_model();
        assert!(model.combiner().is_some());
        let p = Policy::default();
        let run = |body: &str| classify(&p, &model, u64::MAX, "Anna", "", "", body, 0);
        let (score, status, reasons) =
            run("WINNER!! You have won a FREE prize of 1000 cash, call 09061701461 now to claim");
        assert_eq!(status, Status::Rejected, "{score} {reasons:?}");
        let (score, status, reasons) =
            run("Cảm ơn phóng viên, mong thành phố sớm sửa đoạn đường này trước mùa mưa.");
        assert_eq!(status, Status::Published, "{score} {reasons:?}");
    }

    #[test]
    fn the_shipped_combiner_does_not_auto_reject_a_readers_bare_ib_but_rejects_the_pitch() {
        let model = shipped_model();
        let p = Policy::default();
        let run = |body: &str| classify(&p, &model, u64::MAX, "Thu Hà", "", "", body, 0);
        let (score, status, reasons) = run(
            "Chó nhà mình đi lạc ở khu cư xá Bắc Hải từ tối qua, lông vàng, đeo vòng cổ đỏ, tên Mực. Ai thấy \
             thì ib mình, mình hậu tạ. Cảm ơn mọi người.",
        );
        assert_ne!(status, Status::Rejected, "{score} {reasons:?}");
        assert!(
            reasons.iter().any(|r| r.code == "LEX_CONTACT_WORD"),
            "the hit is still explained: {reasons:?}"
        );
        let (score, status, reasons) = run(
            "Xả kho váy đầm giá sỉ chỉ từ 59k, freeship toàn quốc, ib zalo 0 9 1 2 . 3 4 5 . 6 7 8 xem mẫu nha",
        );
        assert_eq!(status, Status::Rejected, "{score} {reasons:?}");
    }

    #[test]
    fn the_shipped_combiner_holds_a_victims_story_that_quotes_a_pitch_and_weighs_a_daily_return() {
        let model = shipped_model();
        // At the thresholds the shipped combiner recommends (reject_at 0.916). The signals-v5 fit scores the story
        // below 0.913: under the default policy's reject_at 0.9 it is rejected (the v4 fit scored it under 0.9).
        let t = &model.combiner().unwrap().file().thresholds;
        let p = Policy {
            approve_below: t.approve_below as f32,
            reject_at: t.reject_at as f32,
            ..Policy::default()
        };
        let run = |body: &str| classify(&p, &model, u64::MAX, "Thu Hà", "", "", body, 0);
        // The previous combiner (signals v3, without "bị dụ" as a warning word) rejected this at 0.98.
        let (score, status, reasons) = run(
            "Chị họ tôi bị dụ ib zalo nhận việc chấm điểm khách sạn, làm ba nhiệm vụ đầu được trả tiền, tới lần \
             thứ tư bị bắt nạp 15 triệu rồi mất luôn.",
        );
        assert_ne!(status, Status::Rejected, "{score} {reasons:?}");
        assert!(
            reasons.iter().any(|r| r.code == "SCAM_WARNING_WORDS"),
            "{reasons:?}"
        );
        // The rate alone is one signal among many: it raises the score, it does not decide.
        let (plain, _, _) = run(
            "Quỹ đầu tư vàng trả lãi cao, vốn tối thiểu 5 triệu, rút lãi mỗi sáng, ai quan tâm nhắn mình.",
        );
        let (score, _, reasons) = run(
            "Quỹ đầu tư vàng trả 2,5%/ngày, vốn tối thiểu 5 triệu, rút lãi mỗi sáng, ai quan tâm nhắn mình.",
        );
        assert!(score > plain + 0.1, "{plain} -> {score}");
        let rate = reasons
            .iter()
            .find(|r| r.code == "RATE_PER_DAY_OR_WEEK")
            .unwrap_or_else(|| panic!("{reasons:?}"));
        assert!(rate.detail.contains("2,5%/ngay"), "{rate:?}");
    }

    #[test]
    fn signals_see_urls_phones_and_chat_in_every_field() {
        let o = observe(
            0.5,
            &Evidence {
                text: CommentText {
                    name: "Shop 0912345678",
                    phone: "",
                    title: "xem tại http://abc.example/x",
                    body: "Tin từ https://hcmcpv.org.vn và https://dichvucong.gov.vn/p, liên hệ zalo",
                },
                lexicon: &[],
                invisible: 2,
                signals: None,
                skeleton: None,
                field_spaced: None,
                hosts: None,
                allowed_domains: &[],
            },
        );
        let on = |n: &str| o.values[index_of(n).unwrap()] == 1.0;
        for n in [
            "url",
            "url_in_name_or_title",
            "url_known_domain",
            "url_other_domain",
            "phone_in_name_or_title",
            "phone_mobile",
            "chat_app",
            "invisible_chars",
        ] {
            assert!(on(n), "{n}: {o:?}");
        }
        assert!(!on("phone_in_body") && !on("spaced_letters"), "{o:?}");
        assert_eq!(o.values[0], 0.0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Any text, in any field, gets a probability and reasons from the whole decision path (model, lexicon,
        /// combiner rules), the same twice, without a panic.
        #[test]
        fn the_decision_path_takes_any_text(
            name in "\\PC{0,40}",
            phone in "[0-9 +.]{0,14}",
            title in "\\PC{0,60}|[0-9%/ ngàyuầtmỗi.,]{0,40}",
            body in "\\PC{0,300}|[0-9%/ ngàyuầtmỗihàw.,:!?]{0,200}",
        ) {
            static MODEL: LazyLock<crate::scoring::Scorer> = LazyLock::new(shipped_model);
            let p = Policy::default();
            let a = classify(&p, &MODEL, u64::MAX, &name, &phone, &title, &body, 0);
            let b = classify(&p, &MODEL, u64::MAX, &name, &phone, &title, &body, 0);
            proptest::prop_assert!((0.0..=1.0).contains(&a.0), "{}", a.0);
            proptest::prop_assert_eq!(a.0, b.0);
            proptest::prop_assert_eq!(a.1, b.1);
            proptest::prop_assert_eq!(a.2, b.2);
        }
    }
}
