//! The threshold lab: recent submissions of a site replayed under the current and a candidate policy, with
//! the moderators' labels, so ops see what a change would do before applying it.

use crate::policy::document::Policy;
use crate::review::{CommentRecord, Label, Status};
use crate::scoring::{is_combined, prepare_recorded};

use super::{Policies, PolicyError};

/// Most submissions one simulation replays.
pub const SIMULATE_MAX: usize = 100_000;

/// The window replayed when the caller leaves it at 0, seconds.
pub const DEFAULT_WINDOW_SECONDS: u32 = 7 * 86_400;

/// What a candidate policy would have done to a site's recent submissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Simulation {
    /// Submissions replayed.
    pub submissions: u64,
    /// Of which labelled by a moderator.
    pub labelled: u64,
    /// Under the policy in force.
    pub current: Outcomes,
    /// Under the candidate.
    pub candidate: Outcomes,
}

impl Simulation {
    /// How many more (negative: fewer) comments the candidate holds for moderators.
    pub fn review_queue_delta(&self) -> i64 {
        self.candidate.pending as i64 - self.current.pending as i64
    }
}

impl Policies {
    /// Replays `site`'s submissions of the last `window_seconds` (0: seven days) under its policy and under
    /// `candidate`.
    pub async fn simulate(
        &self,
        site: &str,
        candidate: &Policy,
        window_seconds: u32,
    ) -> Result<Simulation, PolicyError> {
        let (current, _) = self.policy(site).await?;
        let mut rows = self.recent_rows(site, window_seconds).await?;
        // Comments of erased readers have no text left to replay (a submitted body is never empty).
        rows.retain(|(r, _)| !r.body.is_empty());
        let (a, b) = simulate(&rows, &current, candidate);
        Ok(Simulation {
            submissions: rows.len() as u64,
            labelled: rows.iter().filter(|(_, l)| l.is_some()).count() as u64,
            current: a,
            candidate: b,
        })
    }
}

/// Outcome counts of one policy over replayed submissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Would be published.
    pub published: u64,
    /// Would be held.
    pub pending: u64,
    /// Would be rejected.
    pub rejected: u64,
    /// Moderator-labelled spam that would be published.
    pub labelled_spam_published: u64,
    /// Moderator-labelled ham that would be rejected.
    pub labelled_ham_rejected: u64,
}

impl Outcomes {
    /// Counts one decision.
    pub fn add(&mut self, status: Status, label: Option<Label>) {
        match status {
            Status::Published => self.published += 1,
            Status::PendingReview => self.pending += 1,
            Status::Rejected => self.rejected += 1,
        }
        match (status, label) {
            (Status::Published, Some(Label::Spam)) => self.labelled_spam_published += 1,
            (Status::Rejected, Some(Label::Ham)) => self.labelled_ham_rejected += 1,
            _ => {}
        }
    }
}

/// Replays `rows` (recorded score, text and moderator label) under `current` and `candidate`.
/// The stored score is reused: the threshold lab answers "what would these thresholds and terms have done".
pub fn simulate(
    rows: &[(CommentRecord, Option<Label>)],
    current: &Policy,
    candidate: &Policy,
) -> (Outcomes, Outcomes) {
    let (mut a, mut b) = (Outcomes::default(), Outcomes::default());
    for (r, label) in rows {
        let t = prepare_recorded(&r.name, &r.title, &r.body, is_combined(&r.reasons));
        a.add(current.decide(r.score, &t).0, *label);
        b.add(candidate.decide(r.score, &t).0, *label);
    }
    (a, b)
}

/// Bins of [`Histogram`]: scores 0-1 in steps of 0.05.
pub const HISTOGRAM_BINS: usize = 20;

/// A site's recent scores by moderator label, for the threshold lab's picture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Per bin (score `i/20` to `(i+1)/20`): [spam, abusive, legitimate (ham, off-topic), unlabelled].
    pub bins: Vec<[u64; 4]>,
}

impl Histogram {
    /// Counts `rows` into [`HISTOGRAM_BINS`] bins.
    pub fn of(rows: &[(CommentRecord, Option<Label>)]) -> Histogram {
        let mut bins = vec![[0u64; 4]; HISTOGRAM_BINS];
        for (r, label) in rows {
            let s = if r.score.is_finite() {
                r.score.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let i = ((s * HISTOGRAM_BINS as f32) as usize).min(HISTOGRAM_BINS - 1);
            let k = match label {
                Some(Label::Spam) => 0,
                Some(Label::Abusive) => 1,
                Some(Label::Ham | Label::OffTopic) => 2,
                None => 3,
            };
            bins[i][k] += 1;
        }
        Histogram { bins }
    }
}

impl Policies {
    /// The scores of `site`'s submissions of the last `window_seconds` (0: seven days), binned by moderator
    /// label.
    pub async fn score_histogram(
        &self,
        site: &str,
        window_seconds: u32,
    ) -> Result<Histogram, PolicyError> {
        // Erased readers' comments keep their scores, so they are counted here (unlike in a replay).
        let rows = self.recent_rows(site, window_seconds).await?;
        Ok(Histogram::of(&rows))
    }

    /// `site`'s submissions of the last `window_seconds` (0: seven days), at most [`SIMULATE_MAX`], with their
    /// moderator labels: what the lab replays and bins.
    async fn recent_rows(
        &self,
        site: &str,
        window_seconds: u32,
    ) -> Result<Vec<(crate::review::CommentRecord, Option<crate::review::Label>)>, PolicyError>
    {
        let window = if window_seconds == 0 {
            DEFAULT_WINDOW_SECONDS
        } else {
            window_seconds
        };
        let since = self.clock.now_ms().saturating_sub(u64::from(window) * 1000);
        Ok(self.store.recent(site, since, SIMULATE_MAX).await?)
    }
}
