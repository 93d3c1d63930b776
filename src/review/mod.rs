//! The review domain: comment statuses, moderator labels and verdicts, the stored comment record and the
//! decision events the portal watches.

pub mod labels;
pub mod service;

use serde::{Deserialize, Serialize};

/// Where a comment stands. Spelled as in the store and in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Visible on the portal.
    Published,
    /// Held for a moderator.
    PendingReview,
    /// Not shown; kept for the retention period.
    Rejected,
}

impl Status {
    /// Store spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Published => "PUBLISHED",
            Status::PendingReview => "PENDING_REVIEW",
            Status::Rejected => "REJECTED",
        }
    }

    /// Parses the store spelling.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "PUBLISHED" => Some(Status::Published),
            "PENDING_REVIEW" => Some(Status::PendingReview),
            "REJECTED" => Some(Status::Rejected),
            _ => None,
        }
    }
}

/// A moderator's label, for retraining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Label {
    /// Advertising, scams, link drops.
    Spam,
    /// Legitimate.
    Ham,
    /// Abusive or hateful.
    Abusive,
    /// Legitimate but off topic.
    OffTopic,
}

impl Label {
    /// Store and CSV spelling (`spam`, `ham`, `abusive`, `off_topic`).
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Spam => "spam",
            Label::Ham => "ham",
            Label::Abusive => "abusive",
            Label::OffTopic => "off_topic",
        }
    }

    /// The spam model's class for this label: `Some(true)` spam, `Some(false)` not spam, `None` left out of spam
    /// training. Off-topic comments are legitimate (not advertising), so they train as ham; abusive comments are
    /// neither advertising nor legitimate, so they train neither class.
    pub fn spam_class(self) -> Option<bool> {
        match self {
            Label::Spam => Some(true),
            Label::Ham | Label::OffTopic => Some(false),
            Label::Abusive => None,
        }
    }

    /// Parses the store spelling.
    pub fn parse(s: &str) -> Option<Label> {
        match s {
            "spam" => Some(Label::Spam),
            "ham" => Some(Label::Ham),
            "abusive" => Some(Label::Abusive),
            "off_topic" => Some(Label::OffTopic),
            _ => None,
        }
    }
}

/// The actor of an automatic decision (policy and classifier at submission).
pub const AUTOMATIC_ACTOR: &str = "auto";

/// The actor of a reader's appeal.
pub const READER_ACTOR: &str = "reader";

/// How a status change came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecisionKind {
    /// Policy and classifier at submission.
    Automatic,
    /// A moderator from the queue.
    Review,
    /// A moderator reversing an automatic decision.
    Overturn,
    /// A reader's appeal putting a decided comment back in the review queue.
    Appeal,
}

impl DecisionKind {
    /// Store spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Automatic => "AUTOMATIC",
            DecisionKind::Review => "REVIEW",
            DecisionKind::Overturn => "OVERTURN",
            DecisionKind::Appeal => "APPEAL",
        }
    }
}

/// Where a reason comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// A policy rule.
    Rule,
    /// A classifier feature.
    ModelFeature,
    /// A lexicon category.
    Lexicon,
}

/// One explanation of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Machine-readable code.
    pub code: String,
    /// Human-readable detail.
    pub detail: String,
    /// Contribution in log-odds (0 for rules).
    pub contribution: f32,
    /// Origin.
    pub kind: ReasonKind,
    /// Where in the comment the reason matched (empty when it names no characters: a score, a length).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

/// Characters of one form field a reason matched: `[start, end)` in characters (Unicode scalar values) of the
/// field as stored (after clean-up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// `name`, `title` or `body`.
    pub field: String,
    /// First character.
    pub start: u32,
    /// One past the last character.
    pub end: u32,
}

/// A comment's fields split into words once, to locate the phrases and hosts that reasons name (each reason is
/// located where it is made, from the phrase or host itself, never by reading its detail text back).
#[derive(Debug, Clone)]
pub struct Located<'a> {
    /// Each field's words are split on the first phrase looked for in it: most comments need none.
    fields: [(
        &'static str,
        &'a str,
        std::cell::OnceCell<crate::text::spans::Words>,
    ); 3],
    /// Per field: its phone numbers and its handles/e-mails, located on first use.
    found: [[std::cell::OnceCell<Vec<Span>>; 2]; 3],
}

impl<'a> Located<'a> {
    /// The cleaned name, title and body.
    pub fn new(name: &'a str, title: &'a str, body: &'a str) -> Located<'a> {
        Located {
            fields: [
                ("name", name, Default::default()),
                ("title", title, Default::default()),
                ("body", body, Default::default()),
            ],
            found: Default::default(),
        }
    }

    /// Where `phrase` sits, matched as the lexicon matches (case, accents, look-alikes ignored), in field order.
    pub fn phrase(&self, phrase: &str) -> Vec<Span> {
        self.spans(|text, w| {
            w.get_or_init(|| crate::text::spans::Words::of(text))
                .find(phrase)
        })
    }

    /// Where `needle` sits verbatim (ASCII case ignored), in field order.
    pub fn literal(&self, needle: &str) -> Vec<Span> {
        self.spans(|text, _| crate::text::spans::find_literal(text, needle))
    }

    /// Where phone-like numbers sit in `field` (`name`, `title` or `body`). Each field is scanned once, however many
    /// phone reasons name it.
    pub fn phones(&self, field: &str) -> Vec<Span> {
        self.found_in(field, 0, crate::text::spans::find_phones)
    }

    /// Where `@handles` and e-mail addresses sit in `field`.
    pub fn contacts(&self, field: &str) -> Vec<Span> {
        self.found_in(field, 1, crate::text::spans::find_contacts)
    }

    /// The spans `find` locates in `field`, found on first use and kept in slot `slot` of that field.
    fn found_in(
        &self,
        field: &str,
        slot: usize,
        find: fn(&str) -> Vec<(usize, usize)>,
    ) -> Vec<Span> {
        let Some(i) = self.fields.iter().position(|(name, _, _)| *name == field) else {
            return Vec::new();
        };
        let (name, text, _) = &self.fields[i];
        self.found[i][slot]
            .get_or_init(|| {
                find(text)
                    .into_iter()
                    .map(|(a, b)| Span {
                        field: (*name).to_string(),
                        start: u32::try_from(a).unwrap_or(u32::MAX),
                        end: u32::try_from(b).unwrap_or(u32::MAX),
                    })
                    .collect()
            })
            .clone()
    }

    fn spans(
        &self,
        find: impl Fn(&str, &std::cell::OnceCell<crate::text::spans::Words>) -> Vec<(usize, usize)>,
    ) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        for (field, text, words) in &self.fields {
            for (a, b) in find(text, words) {
                let s = Span {
                    field: (*field).to_string(),
                    start: u32::try_from(a).unwrap_or(u32::MAX),
                    end: u32::try_from(b).unwrap_or(u32::MAX),
                };
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }
}

/// The immutable part of a stored comment, written once at submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentRecord {
    /// Server-assigned id.
    pub comment_id: String,
    /// Site id.
    pub site: String,
    /// Article id.
    pub thread_id: String,
    /// Author name (NFC, invisible characters removed).
    pub name: String,
    /// Normalised phone, or empty.
    pub phone: String,
    /// E-mail, or empty.
    pub email: String,
    /// Title (NFC, invisible characters removed).
    pub title: String,
    /// Body (NFC, invisible characters removed).
    pub body: String,
    /// Spam probability.
    pub score: f32,
    /// Reasons of the automatic decision.
    pub reasons: Vec<Reason>,
    /// Model version that scored it.
    pub model_version: String,
    /// Policy version that decided it.
    pub policy_version: u64,
    /// The automatic decision.
    pub initial_status: Status,
    /// Submission time, epoch ms.
    pub created_ms: u64,
}

/// One status change, as stored in the site's decision stream and in the comment's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the site's decision stream.
    #[serde(default)]
    pub cursor: String,
    /// The comment.
    pub comment_id: String,
    /// Its article.
    pub thread_id: String,
    /// Status after the change.
    pub status: Status,
    /// How it came about.
    pub kind: DecisionKind,
    /// `auto` or the moderator's token name.
    pub actor: String,
    /// Label given, if any (store spelling).
    #[serde(default)]
    pub label: String,
    /// Moderator's note.
    #[serde(default)]
    pub note: String,
    /// When, epoch ms (store time).
    pub decided_ms: u64,
    /// Policy version of the automatic decision.
    pub policy_version: u64,
    /// Model version that scored the comment.
    pub model_version: String,
    /// When the comment was submitted, epoch ms (0 in events written before this field existed).
    #[serde(default)]
    pub submitted_ms: u64,
}

/// A comment with its current state and history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredComment {
    /// The immutable record.
    pub record: CommentRecord,
    /// Current status.
    pub status: Status,
    /// Every status change, oldest first.
    pub history: Vec<Event>,
    /// The campaign the comment was found part of (when it was submitted or when a later copy was), if any.
    pub campaign: Option<String>,
}

/// A claimed review item.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The comment.
    pub comment: StoredComment,
    /// Lease token.
    pub lease_token: String,
    /// Lease end, epoch ms (store time).
    pub lease_until_ms: u64,
}

/// A moderator label for export.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRow {
    /// The comment.
    pub comment_id: String,
    /// Title and body as the classifier saw them.
    pub text: String,
    /// The label.
    pub label: Label,
    /// Moderator.
    pub by: String,
    /// When, epoch ms.
    pub at_ms: u64,
}

/// Queue statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Held, not under a live lease.
    pub depth: u64,
    /// Under a live lease.
    pub claimed: u64,
    /// Age of the oldest held comment, ms.
    pub oldest_pending_age_ms: u64,
    /// Moderator decisions in the last hour.
    pub decisions_last_hour: u64,
    /// Moderator decisions per hour over the last [`HOURS_CHARTED`] hours, oldest first: element `k` counts
    /// those from `24 - k` hours ago up to (not including) `23 - k` hours ago; the last element is
    /// `decisions_last_hour`.
    pub decisions_by_hour: [u64; HOURS_CHARTED],
}

/// How many hours of moderator decisions the queue statistics break down by hour.
pub const HOURS_CHARTED: usize = 24;

/// The hour (index into [`QueueStats::decisions_by_hour`]) a decision made at `at_ms` falls in at `now_ms`, if
/// within the charted hours: the last hour, its start included, is the last index.
pub fn hour_bucket(now_ms: u64, at_ms: u64) -> Option<usize> {
    const H: u64 = 3_600_000;
    if at_ms > now_ms {
        return Some(HOURS_CHARTED - 1);
    }
    let age = now_ms - at_ms;
    if age <= H {
        return Some(HOURS_CHARTED - 1);
    }
    // Older than an hour: hour k (from the end) holds ages in (k h, (k + 1) h].
    let back = (age - 1) / H;
    (back < HOURS_CHARTED as u64).then(|| HOURS_CHARTED - 1 - back as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_fall_in_the_hour_the_queue_statistics_chart() {
        const H: u64 = 3_600_000;
        let now = 100 * H;
        let last = HOURS_CHARTED - 1;
        assert_eq!(hour_bucket(now, now), Some(last));
        assert_eq!(
            hour_bucket(now, now + 5),
            Some(last),
            "a clock slightly behind"
        );
        assert_eq!(
            hour_bucket(now, now - H),
            Some(last),
            "the hour's start included"
        );
        assert_eq!(hour_bucket(now, now - H - 1), Some(last - 1));
        assert_eq!(hour_bucket(now, now - 2 * H), Some(last - 1));
        assert_eq!(hour_bucket(now, now - 24 * H), Some(0));
        assert_eq!(hour_bucket(now, now - 24 * H - 1), None);
        assert_eq!(hour_bucket(5, 0), Some(last), "no underflow near the epoch");
    }
}
