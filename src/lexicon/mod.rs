//! The shipped Vietnamese spam lexicon (`lexicon/vi-spam.toml`, data reviewed by people, not code): categories of
//! phrases, each a reason code, matched accent-insensitively and through the usual disguises (spaced letters,
//! dots, zero-width characters, leetspeak, Cyrillic/Greek look-alikes).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

pub mod links;

use crate::text::skeleton::{Skeleton, skeleton, whole_word_matches};

/// The lexicon file, compiled in.
pub const VI_SPAM_TOML: &str = include_str!("../../lexicon/vi-spam.toml");

/// The abuse lexicon file (insults, curses and slurs aimed at a person), compiled in.
pub const VI_ABUSE_TOML: &str = include_str!("../../lexicon/vi-abuse.toml");

/// Reason code of an abuse lexicon hit: it holds for review, never rejects, and never enters the spam score.
pub const ABUSE: &str = "ABUSE";

/// Code of the context category of readers' scam warnings ("lừa đảo", "cảnh giác", ...).
pub const SCAM_WARNING: &str = "CONTEXT_SCAM_WARNING";

/// Phrases whose folded form is shorter than this match only as whole words (short abbreviations such as
/// "ib" occur inside ordinary words); longer ones also match with spaces and dots squeezed out.
pub const COMPACT_MIN_CHARS: usize = 6;

/// What a hit does to a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Hold for review (never publish automatically).
    Suspect,
    /// Reject.
    Block,
    /// Context words that change how other signals read (readers warning each other about a scam); never a reason
    /// to hold or reject on their own, so they are not hits: the combiner reads them (`Lexicon::context_terms`).
    Context,
}

#[derive(Debug, Deserialize)]
struct RawCategory {
    code: String,
    severity: Severity,
    terms: Vec<String>,
}

/// One compiled phrase.
#[derive(Debug, Clone)]
struct Term {
    phrase: String,
    spaced: String,
    compact: String,
}

/// One category.
#[derive(Debug, Clone)]
pub struct Category {
    /// Reason code, e.g. `LEX_BETTING`.
    pub code: String,
    /// What a hit does.
    pub severity: Severity,
    terms: Vec<Term>,
}

/// A category that matched, with the phrase that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Reason code.
    pub code: String,
    /// Severity of the category.
    pub severity: Severity,
    /// The phrase as written in the lexicon.
    pub phrase: String,
}

/// A compiled lexicon: two Aho-Corasick automata (whole-word phrases, squeezed long phrases), so matching is
/// one pass over the text whatever the number of phrases.
#[derive(Debug, Clone)]
pub struct Lexicon {
    categories: Vec<Category>,
    spaced: aho_corasick::AhoCorasick,
    spaced_owner: Vec<(usize, usize)>,
    compact: aho_corasick::AhoCorasick,
    compact_owner: Vec<(usize, usize)>,
    /// Categories of `context` severity, by code: their phrases in skeleton (spaced) form, in file order.
    context: BTreeMap<String, Vec<String>>,
}

impl Lexicon {
    /// Parses a lexicon file: one table per category with `code`, `severity` and `terms`.
    pub fn parse(toml_text: &str) -> Result<Lexicon, String> {
        Self::parse_with(toml_text, true)
    }

    /// [`Lexicon::parse`], with `squeezed` off: phrases match as whole words only, never with spaces squeezed out.
    /// The abuse lexicon needs this: squeezed, "đó không" reads "dokhong" and holds "đồ khốn", and "đó chờ mấy"
    /// holds "đồ chó má".
    pub fn parse_with(toml_text: &str, squeezed: bool) -> Result<Lexicon, String> {
        let raw: BTreeMap<String, RawCategory> =
            toml::from_str(toml_text).map_err(|e| format!("lexicon: {e}"))?;
        let mut categories = Vec::new();
        let mut context: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, c) in raw {
            let mut terms = Vec::new();
            for t in c.terms {
                let s = skeleton(&t);
                if s.compact.is_empty() {
                    return Err(format!(
                        "lexicon [{name}]: term {t:?} has no letters or digits"
                    ));
                }
                terms.push(Term {
                    phrase: t,
                    spaced: s.spaced,
                    compact: s.compact,
                });
            }
            if c.severity == Severity::Context {
                context
                    .entry(c.code)
                    .or_default()
                    .extend(terms.into_iter().map(|t| t.spaced));
                continue;
            }
            categories.push(Category {
                code: c.code,
                severity: c.severity,
                terms,
            });
        }
        let (mut spaced, mut spaced_owner, mut compact, mut compact_owner) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (ci, c) in categories.iter().enumerate() {
            for (ti, t) in c.terms.iter().enumerate() {
                spaced.push(t.spaced.clone());
                spaced_owner.push((ci, ti));
                if squeezed && t.compact.chars().count() >= COMPACT_MIN_CHARS {
                    compact.push(t.compact.clone());
                    compact_owner.push((ci, ti));
                }
            }
        }
        let build = |p: &[String]| {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::Standard)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(p)
                .map_err(|e| format!("lexicon automaton: {e}"))
        };
        Ok(Lexicon {
            spaced: build(&spaced)?,
            compact: build(&compact)?,
            categories,
            spaced_owner,
            compact_owner,
            context,
        })
    }

    /// The phrases of the `context` category `code`, in skeleton (spaced) form and file order; empty when there
    /// is no such category.
    pub fn context_terms(&self, code: &str) -> &[String] {
        self.context.get(code).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The shipped Vietnamese lexicon.
    pub fn shipped() -> &'static Lexicon {
        static L: LazyLock<Lexicon> = LazyLock::new(|| {
            Lexicon::parse(VI_SPAM_TOML)
                .expect("the shipped lexicon is valid (checked by a unit test)")
        });
        &L
    }

    /// The shipped abuse lexicon (`lexicon/vi-abuse.toml`): its hits hold for review with reason [`ABUSE`].
    pub fn abuse() -> &'static Lexicon {
        static L: LazyLock<Lexicon> = LazyLock::new(|| {
            Lexicon::parse_with(VI_ABUSE_TOML, false)
                .expect("the shipped abuse lexicon is valid (checked by a unit test)")
        });
        &L
    }

    /// The distinct codes of the categories that hold or reject (not the `context` ones), sorted.
    pub fn category_codes(&self) -> Vec<String> {
        let mut c: Vec<String> = self.categories.iter().map(|c| c.code.clone()).collect();
        c.sort();
        c.dedup();
        c
    }

    /// Every category with a matching phrase (one hit per category; a block phrase wins over a suspect one).
    pub fn hits(&self, s: &Skeleton) -> Vec<Hit> {
        let found = whole_word_matches(&self.spaced, &s.spaced)
            .map(|m| self.spaced_owner[m.pattern().as_usize()])
            .chain(
                self.compact
                    .find_overlapping_iter(&s.compact)
                    .map(|m| self.compact_owner[m.pattern().as_usize()]),
            );
        let mut out: Vec<Hit> = Vec::new();
        for (ci, ti) in found {
            let c = &self.categories[ci];
            let phrase = &c.terms[ti].phrase;
            match out.iter_mut().find(|h| h.code == c.code) {
                Some(prev) => {
                    if c.severity == Severity::Block && prev.severity != Severity::Block {
                        prev.severity = Severity::Block;
                        prev.phrase = phrase.clone();
                    }
                }
                None => out.push(Hit {
                    code: c.code.clone(),
                    severity: c.severity,
                    phrase: phrase.clone(),
                }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize::{fold_homoglyph, for_each_nfc, is_invisible, strip_accent};

    /// The straightforward word-list implementation the one-pass [`skeleton`] must agree with.
    fn skeleton_by_words(text: &str) -> Skeleton {
        let mut words: Vec<String> = Vec::new();
        let mut cur = String::new();
        let flush = |cur: &mut String, words: &mut Vec<String>| {
            if cur.is_empty() {
                return;
            }
            words.push(std::mem::take(cur));
        };
        for_each_nfc(text, |c| {
            for c in c.to_lowercase() {
                if is_invisible(c) {
                    continue;
                }
                let c = fold_homoglyph(c).unwrap_or(c);
                let c = strip_accent(c);
                if c.is_alphanumeric() || c == '@' || c == '$' {
                    cur.push(c);
                } else {
                    flush(&mut cur, &mut words);
                }
            }
        });
        flush(&mut cur, &mut words);
        // Leetspeak words decoded; a short leet word ("1b") only next to one.
        let mut out = String::new();
        let leet: Vec<Option<String>> = words
            .iter()
            .map(|w| crate::text::detect::deleet(w, &mut out).then(|| out.clone()))
            .collect();
        let is_leet = |i: usize| leet.get(i).is_some_and(Option::is_some);
        let words: Vec<String> = (0..words.len())
            .map(|i| {
                if let Some(decoded) = &leet[i] {
                    return decoded.clone();
                }
                let beside = (i > 0 && is_leet(i - 1)) || is_leet(i + 1);
                if beside && crate::text::detect::deleet_short(&words[i], &mut out) {
                    return out.clone();
                }
                words[i].clone()
            })
            .collect();
        let spaced = words.join(" ");
        let compact = words.concat();
        Skeleton { spaced, compact }
    }

    #[test]
    fn one_pass_skeleton_equals_the_word_list_form() {
        let rows = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/vi-dev/comments.csv"
        ))
        .unwrap();
        for line in rows.lines().chain([
            "",
            "  ",
            "c4 d0 n h à c á i",
            "zalo\u{200B}0912.345.678 ВАY",
            "1b m1nh nh4",
            "g1a r3 1b 1b z4 m4y",
            "lớp 1B có 4g",
            "0k 1b",
        ]) {
            assert_eq!(skeleton(line), skeleton_by_words(line), "{line}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn one_pass_skeleton_equals_the_word_list_form_on_any_text(
            text in "[a-zđà1034 5$@.,B]{0,40}|\\PC{0,30}"
        ) {
            proptest::prop_assert_eq!(skeleton(&text), skeleton_by_words(&text));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Whole-word matching finds exactly the places where the phrase, padded with spaces, occurs in the padded
        /// text, in the order of their ends.
        #[test]
        fn whole_word_matches_are_the_padded_occurrences(words in proptest::collection::vec("a|b|ab|ba|aba|c", 0..12)) {
            const PHRASES: [&str; 5] = ["a", "a b", "ab", "b a", "ab a"];
            let text = words.join(" ");
            let ac = aho_corasick::AhoCorasick::new(PHRASES).unwrap();
            let found: Vec<(usize, usize)> = whole_word_matches(&ac, &text)
                .map(|m| (m.end(), m.pattern().as_usize()))
                .collect();
            let padded = format!(" {text} ");
            let mut expected = Vec::new();
            for end in 0..=text.len() {
                for (p, phrase) in PHRASES.iter().enumerate() {
                    let pad = format!(" {phrase} ");
                    // The padded phrase ends one past the match, at end + 2 in the padded text.
                    if end + 2 <= padded.len() && end + 2 >= pad.len() && padded[end + 2 - pad.len()..end + 2] == pad {
                        expected.push((end, p));
                    }
                }
            }
            let mut sorted = found.clone();
            sorted.sort_unstable();
            proptest::prop_assert_eq!(sorted, expected);
            proptest::prop_assert!(found.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }

    fn codes(text: &str) -> Vec<(String, Severity)> {
        Lexicon::shipped()
            .hits(&skeleton(text))
            .into_iter()
            .map(|h| (h.code, h.severity))
            .collect()
    }

    #[test]
    fn the_shipped_lexicon_parses_into_its_eight_categories() {
        assert_eq!(
            Lexicon::shipped().category_codes(),
            [
                "LEX_BETTING",
                "LEX_CONTACT_WORD",
                "LEX_CRYPTO_SCAM",
                "LEX_HEALTH_AD",
                "LEX_JOB_SCAM",
                "LEX_LOAN",
                "LEX_SALES_INBOX",
                "LEX_SEO_LINK",
            ]
        );
    }

    #[test]
    fn the_abuse_lexicon_holds_insults_written_any_way_and_not_the_ordinary_phrases_they_fold_into()
    {
        let abuse = |t: &str| {
            Lexicon::abuse()
                .hits(&skeleton(t))
                .into_iter()
                .map(|h| (h.code, h.severity))
                .collect::<Vec<_>>()
        };
        assert_eq!(Lexicon::abuse().category_codes(), [ABUSE]);
        for t in [
            "Ông kia ngu như bò",
            "ong kia ngu nhu bo",
            "loại óc chó như mày",
            "oc cho",
            "đm thằng kia",
            "vcl thật",
            "im mồm đi",
            "IM MỒM",
            "thằng súc vật",
            "bọn parky",
            "đi chết đi",
        ] {
            assert_eq!(abuse(t), [(ABUSE.to_string(), Severity::Suspect)], "{t}");
        }
        for t in [
            "Mua đồ ngủ cho con",
            "Khu tôi còn điện không?",
            "buổi sáng đi làm các con đường đều kẹt",
            "từ đó không còn mất xe nữa",
            "dân bên đó chờ mấy chục năm rồi",
            "cả nhà máy nghỉ Tết",
            "nhớ đeo khẩu trang",
            "ốc lớn nướng mỡ hành",
            "bác sĩ nói bé bị viêm tinh hoàn do quai bị",
            "kẻ giết người phải bị xử nghiêm",
        ] {
            assert!(abuse(t).is_empty(), "{t}: {:?}", abuse(t));
        }
    }

    #[test]
    fn disguises_are_seen_through() {
        for text in [
            "Vào nhà cái uy tín nhận thưởng",
            "vao nha cai uy tin nhan thuong",
            "n h à c á i u y t í n",
            "nhà\u{200B}cái uy\u{200B}tín",
            "nhа cái uy tín", // Cyrillic а
        ] {
            let hits = codes(text);
            assert!(
                hits.iter().any(|(c, _)| c == "LEX_BETTING"),
                "{text:?} -> {hits:?}"
            );
        }
    }

    #[test]
    fn a_short_leet_word_is_decoded_only_beside_leetspeak() {
        assert_eq!(skeleton("1b m1nh nhé").spaced, "ib minh nhe");
        assert_eq!(skeleton("h4ng t0t, z4l0 1b").spaced, "hang tot zalo ib");
        assert_eq!(skeleton("Lớp 1B có 30 bạn").spaced, "lop 1b co 30 ban");
        assert_eq!(
            skeleton("mạng 4g chậm, 1b hỏi").spaced,
            "mang 4g cham 1b hoi"
        );
        assert!(
            codes("th4nh ly t4 cu, 1b m1nh")
                .iter()
                .any(|(c, _)| c == "LEX_CONTACT_WORD"),
            "{:?}",
            codes("th4nh ly t4 cu, 1b m1nh")
        );
        assert!(codes("Con học lớp 1B trường Lê Lợi").is_empty());
    }

    #[test]
    fn ordinary_comments_do_not_match() {
        for text in [
            "Ngân hàng nên giảm lãi suất cho vay mua nhà",
            "Phường trả lời qua Zalo rất nhanh, cảm ơn",
            "Khuyến mãi điện nước mùa hè là tin vui",
            "Tôi thích ăn bibimbap",
        ] {
            assert!(codes(text).is_empty(), "{text:?} -> {:?}", codes(text));
        }
    }

    #[test]
    fn a_bare_contact_word_is_its_own_category_and_a_sales_phrase_adds_the_sales_one() {
        let bare = codes("Chó nhà mình đi lạc từ tối qua, ai thấy thì ib mình nhé");
        assert_eq!(
            bare,
            vec![("LEX_CONTACT_WORD".to_string(), Severity::Suspect)],
            "{bare:?}"
        );
        let pitch = codes("Váy mới về, ib zalo 0912 để xem mẫu");
        for code in ["LEX_CONTACT_WORD", "LEX_SALES_INBOX"] {
            assert!(pitch.iter().any(|(c, _)| c == code), "{code}: {pitch:?}");
        }
    }

    #[test]
    fn the_scam_warning_words_are_a_context_category_and_never_a_hit() {
        let l = Lexicon::shipped();
        assert_eq!(
            l.context_terms(SCAM_WARNING),
            [
                "lua dao",
                "canh bao",
                "bi lua",
                "mat tien",
                "bao cong an",
                "trinh bao",
                "to giac",
                "dung tin",
                "dung bam",
                "coi chung",
                "can than",
                "chan luon",
                "gia mao",
                "mao danh",
                "ke gian",
                "thu doan",
                "canh giac",
                "gia danh",
                "bi du",
                "bi gat",
                "nan nhan",
                "chieu tro",
                "chiem doat",
            ]
        );
        assert!(!l.category_codes().contains(&SCAM_WARNING.to_string()));
        assert!(codes("Cảnh giác lừa đảo nhé mọi người").is_empty());
        assert!(l.context_terms("NO_SUCH").is_empty());
    }
}
