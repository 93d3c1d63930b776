//! The scoring floor: one calibrated spam probability per comment. [`Scorer`] is the base model
//! (`classifier::Model`) with the fitted [`combiner::Combiner`] of its directory; [`Scorer::score`] is the one
//! entry point to the served score: SubmitComment, Classify, `combiner eval` and `bootstrap train` reach it through
//! `comment::classify`. The base model alone is measured by `train`, `eval` and `score`, and `combiner fit`
//! observes the base score and the signals separately, since it fits the combination itself.

pub mod combiner;

use std::path::Path;

use crate::classifier::{CommentText, Model, ModelError};
use crate::lexicon::Hit;
use crate::review::{Reason, ReasonKind};

use combiner::{Combiner, CombinerError, CombinerFile};

/// Why a scorer could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    /// The base model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Its combiner.
    #[error(transparent)]
    Combiner(#[from] CombinerError),
}

/// A loaded base model with its combiner, if its directory has one. Immutable; share it in an `Arc`.
#[derive(Debug)]
pub struct Scorer {
    model: Model,
    combiner: Option<Combiner>,
}

/// What scoring found: the probability the policy decides on, and what the policy still has to act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoring {
    /// The spam probability: the combiner's when there is one, else the base model's.
    pub score: f32,
    /// The text in the forms the policy matches terms in, and the lexicon categories the policy still acts on
    /// (none with a combiner: they entered the score).
    pub prepared: Prepared,
    /// The combiner's signals (empty without a combiner), listed after the policy's rule reasons.
    pub signals: Vec<Reason>,
    /// The base model's strongest features, listed last.
    pub features: Vec<Reason>,
}

impl Scorer {
    /// Loads the artifact directory: `model.bin` + `card.json`, and `combiner.json` when present (a combiner
    /// fitted for another model version or by another build is refused).
    pub fn load(dir: &Path) -> Result<Scorer, ScoringError> {
        let model = Model::load(dir)?;
        let combiner = Combiner::load_for(dir, &model)?;
        Ok(Scorer { model, combiner })
    }

    /// The base model alone.
    pub fn base(model: Model) -> Scorer {
        Scorer {
            model,
            combiner: None,
        }
    }

    /// This scorer with `c` as its combiner (checked against the base model's version).
    pub fn with_combiner(mut self, c: CombinerFile) -> Result<Scorer, CombinerError> {
        self.combiner = Some(Combiner::from_file(c, self.model.version())?);
        Ok(self)
    }

    /// The base model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The fitted combiner, if any.
    pub fn combiner(&self) -> Option<&Combiner> {
        self.combiner.as_ref()
    }

    /// The base model's version (a combiner is fitted for exactly one).
    pub fn version(&self) -> &str {
        self.model.version()
    }

    /// Scores a comment whose fields are already cleaned (`text::clean_text`); `invisible` is the number of
    /// invisible characters the fields had before cleaning; `use_lexicon` is the policy's switch for the shipped
    /// lexicon; `allowed_domains` is the policy's list of domains whose links are ordinary on the site. `top`
    /// model features are reported. `located` is where the reasons' phrases are looked for: the same fields,
    /// split into words once for the caller's reasons and these.
    pub fn score(
        &self,
        fields: &CommentText<'_>,
        invisible: u32,
        use_lexicon: bool,
        allowed_domains: &[String],
        top: usize,
        located: &crate::review::Located<'_>,
    ) -> Scoring {
        let (scored, signals) = if self.combiner.is_some() && self.model.feature_config().signals {
            let (scored, signals) = self.model.score_with_signals(fields, top);
            (scored, Some(signals))
        } else {
            (self.model.score(fields, top), None)
        };
        let mut prepared = prepare(fields.name, fields.title, fields.body);
        let (score, combined) = match &self.combiner {
            Some(c) => {
                let lexicon = std::mem::take(&mut prepared.lexicon);
                let combined = c.combine_located(
                    scored.score,
                    &combiner::Evidence {
                        text: *fields,
                        lexicon: if use_lexicon { lexicon.as_slice() } else { &[] },
                        invisible,
                        signals: signals.as_deref(),
                        skeleton: Some(&prepared.head_and_body_spaced),
                        field_spaced: Some((&prepared.field_spaced.0, &prepared.field_spaced.1)),
                        hosts: Some(&prepared.field_hosts),
                        allowed_domains,
                    },
                    located,
                );
                (combined.score, combined.reasons)
            }
            None => (scored.score, Vec::new()),
        };
        Scoring {
            score,
            prepared,
            signals: combined,
            features: summarise_features(&scored.reasons, located),
        }
    }
}

/// The base model's strongest features summarised for people: the words and word pairs that pushed towards spam in
/// one reason ("advertising words: 'giảm cân', 'cấp tốc'"), those that pushed away in another, and the rest
/// (letter n-grams, length buckets, signals) summed into whichever of the two has their sign, or into a reason of
/// their own when no word has it. Raw n-grams such as `char:n>` are never shown.
pub fn summarise_features(
    features: &[crate::classifier::Reason],
    located: &crate::review::Located<'_>,
) -> Vec<Reason> {
    let mut out = Vec::new();
    for spammy in [true, false] {
        let same_sign = |c: f32| (c > 0.0) == spammy && c != 0.0;
        let mut words: Vec<String> = Vec::new();
        let mut total = 0f32;
        for f in features.iter().filter(|f| same_sign(f.contribution)) {
            total += f.contribution;
            let word = f
                .feature
                .strip_prefix("token:")
                .or_else(|| f.feature.strip_prefix("bigram:"))
                .filter(|w| !w.starts_with('<'));
            if let Some(w) = word
                && !words.iter().any(|x| x == w)
            {
                words.push(w.to_string());
            }
        }
        if total == 0.0 {
            continue;
        }
        let (what, none) = if spammy {
            (
                "words the model reads as advertising",
                "letter patterns the model reads as advertising",
            )
        } else {
            (
                "words the model reads as ordinary",
                "letter patterns the model reads as ordinary",
            )
        };
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let mut spans = Vec::new();
        for w in &words {
            for s in located.phrase(w) {
                if !spans.contains(&s) {
                    spans.push(s);
                }
            }
        }
        out.push(Reason {
            code: "MODEL_FEATURE".into(),
            detail: if quoted.is_empty() {
                none.to_string()
            } else {
                format!("{what}: {}", quoted.join(", "))
            },
            contribution: total,
            kind: ReasonKind::ModelFeature,
            spans,
        });
    }
    out
}

/// A comment's text in the forms the policy matches terms in, and the site's label count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Name, title and body joined by newlines (folded by `Policy::decide` only when the policy has terms).
    pub joined: String,
    /// Shipped lexicon categories found in name, title and body.
    pub lexicon: Vec<Hit>,
    /// The lexicon skeleton (spaced form) of title and body, for the combiner's word signals.
    pub head_and_body_spaced: String,
    /// The skeletons (spaced forms) of the title and of the body on their own, for the body's language.
    pub field_spaced: (String, String),
    /// Moderator labels the site has (for bootstrap mode); `u64::MAX` when unknown or not needed.
    pub site_labels: u64,
    /// Abuse lexicon hits in name, title and body (they hold for review; they never enter the spam score).
    pub abuse: Vec<Hit>,
    /// Hosts of the URLs in name, title and body, lowercased (for the policy's denied domains).
    pub hosts: Vec<String>,
    /// The same per field: name, title, body (for the combiner's link signals).
    pub field_hosts: [Vec<String>; 3],
    /// The author's standing on the site, for the policy's trust rule (unknown unless the caller read it).
    pub author: AuthorStanding,
    /// The store found this body to be part of a campaign (near-copies from enough other authors), for the
    /// policy's campaign rule; false unless the caller asks for the campaign form of the decision.
    pub campaign: bool,
}

/// What the policy's author trust rule knows of a comment's author on its site, read from the author's indexed
/// comments (`privacy::author_standing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorStanding {
    /// The comment gives a phone or e-mail and its author's comments were read.
    pub known: bool,
    /// The author's published comments on the site (published automatically or approved).
    pub approved: u64,
    /// The author's comments rejected within the policy's `trust_clean_days`.
    pub rejected_recently: u64,
}

/// Prepares name, title and body for `Policy::decide`.
pub fn prepare(name: &str, title: &str, body: &str) -> Prepared {
    use crate::text::skeleton::{Skeleton, skeleton, skeleton_with_ends};
    // The title's and the body's skeletons are built once each (the body's language is decided on the body's
    // alone), and joined into the title-and-body form unless a leetspeak word reads across the newline.
    let title_sk = skeleton_with_ends(title);
    let body_sk = skeleton_with_ends(body);
    let head = crate::text::skeleton::joined(&title_sk, &body_sk)
        .unwrap_or_else(|| skeleton(&format!("{title}\n{body}")));
    // The skeleton of "name\ntitle\nbody" is taken as the name's and the title-and-body's joined by a space.
    let name_sk = skeleton(name);
    let lexicon = crate::lexicon::Lexicon::shipped();
    let abuse_lexicon = crate::lexicon::Lexicon::abuse();
    let (hits, abuse) = if name_sk.spaced.is_empty() {
        (lexicon.hits(&head), abuse_lexicon.hits(&head))
    } else if head.spaced.is_empty() {
        (lexicon.hits(&name_sk), abuse_lexicon.hits(&name_sk))
    } else {
        let all = Skeleton {
            spaced: format!("{} {}", name_sk.spaced, head.spaced),
            compact: format!("{}{}", name_sk.compact, head.compact),
        };
        (lexicon.hits(&all), abuse_lexicon.hits(&all))
    };
    let joined = format!("{name}\n{title}\n{body}");
    // Words spaced out letter by letter ("i n b o x") are read joined as well.
    let (mut hits, mut abuse_hits) = (hits, abuse);
    if let Some(j) = crate::text::detect::join_spaced_runs(&joined) {
        let sk = skeleton(&j);
        for (found, into) in [
            (lexicon.hits(&sk), &mut hits),
            (abuse_lexicon.hits(&sk), &mut abuse_hits),
        ] {
            for h in found {
                if !into.iter().any(|x| x.code == h.code) {
                    into.push(h);
                }
            }
        }
    }
    let field_hosts = [name, title, body].map(combiner::rules::hosts_in);
    let mut hosts: Vec<String> = Vec::new();
    for h in field_hosts.iter().flatten() {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    Prepared {
        joined,
        lexicon: hits,
        head_and_body_spaced: head.spaced,
        field_spaced: (title_sk.0.spaced, body_sk.0.spaced),
        site_labels: u64::MAX,
        abuse: abuse_hits,
        hosts,
        field_hosts,
        author: AuthorStanding::default(),
        campaign: false,
    }
}

/// Whether recorded `reasons` come from a decision on the combiner's probability.
pub fn is_combined(reasons: &[Reason]) -> bool {
    reasons.iter().any(|r| r.code == combiner::MODEL_SCORE)
}

/// [`prepare`] for replaying a recorded decision on its recorded score: when that score is the combiner's
/// probability (`combined`), the lexicon already acted through it, so its categories do not hold or reject again.
pub fn prepare_recorded(name: &str, title: &str, body: &str, combined: bool) -> Prepared {
    let mut t = prepare(name, title, body);
    if combined {
        t.lexicon.clear();
    }
    t
}
