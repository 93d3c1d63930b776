//! The storage seam: one [`Store`] trait, an embedded [`memory`] store and a [`redis`] store, chosen once at
//! startup. Every key is built by [`Keys`], in this file only.

pub mod memory;
pub mod redis;
pub mod webhooks;

use async_trait::async_trait;

pub use webhooks::WebhookStore;

use crate::admission::{Admission, LimitCheck, LimitVerdict};
use crate::audit::{AuditEntry, AuditNote};
use crate::review::{
    Claimed, CommentRecord, DecisionKind, Event, Label, LabelRow, QueueStats, Status, StoredComment,
};

/// A failure of the store itself (never a business outcome). Every variant maps to UNAVAILABLE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer within the configured timeout.
    #[error("store did not answer within {0} ms")]
    Timeout(u64),
    /// The store refused or dropped the call.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The write was applied on the primary, but no replica acknowledged it within `store.replica_ack` ms.
    #[error(
        "the write was applied on the primary, but no replica acknowledged it within {0} ms (store.replica_ack): it may be lost if the primary fails now"
    )]
    NotReplicated(u64),
    /// The store answered with something this code did not write.
    #[error("store returned unexpected data: {0}")]
    Corrupt(String),
}

/// Builds every store key: `{prefix}{<site>}:<kind>:<id>`. The site is the Redis Cluster hash tag, so all keys one
/// request touches live in one slot. Sites are validated (`[a-z0-9._-]{1,64}`) before they reach here, so they
/// never contain braces.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (e.g. `moderato:`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn site_key(&self, site: &str, rest: &str) -> String {
        format!("{}{{{}}}:{}", self.prefix, site, rest)
    }

    /// One captcha challenge.
    pub fn challenge(&self, site: &str, challenge_id: &str) -> String {
        self.site_key(site, &format!("captcha:{challenge_id}"))
    }

    /// The live challenges of one client (a sorted set scored by expiry). `client` is a keyed hash.
    pub fn challenges_of_client(&self, site: &str, client: &str) -> String {
        self.site_key(site, &format!("captcha-live:{client}"))
    }

    /// One idempotency key (a keyed hash of the client's key).
    pub fn idempotency(&self, site: &str, key_hash: &str) -> String {
        self.site_key(site, &format!("idem:{key_hash}"))
    }

    /// Prefix of comment hashes; the comment id follows.
    pub fn comment_prefix(&self, site: &str) -> String {
        self.site_key(site, "comment:")
    }

    /// One comment (hash: data, status, lease fields).
    pub fn comment(&self, site: &str, comment_id: &str) -> String {
        format!("{}{comment_id}", self.comment_prefix(site))
    }

    /// Prefix of comment histories; the comment id follows.
    pub fn history_prefix(&self, site: &str) -> String {
        self.site_key(site, "hist:")
    }

    /// One comment's decision history (list of events).
    pub fn history(&self, site: &str, comment_id: &str) -> String {
        format!("{}{comment_id}", self.history_prefix(site))
    }

    /// Held comments not under a lease (sorted set scored by submission time).
    pub fn pending(&self, site: &str) -> String {
        self.site_key(site, "q:pending")
    }

    /// Held comments under a lease (sorted set scored by lease end).
    pub fn claims(&self, site: &str) -> String {
        self.site_key(site, "q:claims")
    }

    /// Every held comment, claimed or not (sorted set scored by submission time).
    pub fn queued(&self, site: &str) -> String {
        self.site_key(site, "q:queued")
    }

    /// Moderator decisions of the last 24 hours (sorted set scored by time), for the queue statistics.
    pub fn human_decisions(&self, site: &str) -> String {
        self.site_key(site, "q:human")
    }

    /// Queue counters (lease expiries).
    pub fn counters(&self, site: &str) -> String {
        self.site_key(site, "q:counters")
    }

    /// The site's decision stream.
    pub fn decisions(&self, site: &str) -> String {
        self.site_key(site, "decisions")
    }

    /// The site's moderator labels.
    pub fn labels(&self, site: &str) -> String {
        self.site_key(site, "labels")
    }

    /// The audit log of a site, or of [`GLOBAL_SCOPE`] (a stream trimmed to about
    /// [`crate::audit::AUDIT_MAXLEN`] entries).
    pub fn audit(&self, site: &str) -> String {
        self.site_key(site, "audit")
    }

    /// A versioned document (policy, model activation) of `scope`: a site id, or [`GLOBAL_SCOPE`].
    pub fn doc(&self, scope: &str, name: &str) -> String {
        self.site_key(scope, &format!("doc:{name}"))
    }

    /// The counter every document change bumps, so replicas notice changes with one read.
    pub fn epoch(&self) -> String {
        self.site_key(GLOBAL_SCOPE, "epoch")
    }

    /// A site's webhook endpoint and secrets (hash).
    pub fn webhook(&self, site: &str) -> String {
        self.site_key(site, "webhook")
    }

    /// A site's webhook delivery state: cursor, attempts, lease (hash).
    pub fn webhook_state(&self, site: &str) -> String {
        self.site_key(site, "webhook:state")
    }

    /// A site's webhook dead letters (stream).
    pub fn webhook_dead(&self, site: &str) -> String {
        self.site_key(site, "webhook:dead")
    }

    /// The sites with a webhook (set, global scope).
    pub fn webhook_sites(&self) -> String {
        self.site_key(GLOBAL_SCOPE, "webhook:sites")
    }

    /// One web console session (a string of 32 hex digits). All sessions share the global hash tag.
    pub fn session(&self, session_id: &str) -> String {
        self.site_key(GLOBAL_SCOPE, &format!("session:{session_id}"))
    }

    /// Prefix of author indexes; the author's keyed hash follows.
    pub fn author_index_prefix(&self, site: &str) -> String {
        self.site_key(site, "author:")
    }

    /// The comments of one author on one site (a sorted set of comment ids scored by when each entry expires,
    /// `+inf` while the comment is held). `author` is a keyed hash of a phone or an e-mail.
    pub fn author_index(&self, site: &str, author: &str) -> String {
        format!("{}{author}", self.author_index_prefix(site))
    }

    /// The registry of sites that ever had a comment (a set in the global scope's slot), so erasure over all
    /// sites enumerates them without scanning the keyspace.
    pub fn sites_seen(&self) -> String {
        self.site_key(GLOBAL_SCOPE, "sites-seen")
    }

    /// Prefix of the site's campaign sketch generations (a hash each, one campaign window long; the generation
    /// number, the time divided by the window, follows): field `band:value`, value the `time:comment_id:author;`
    /// entries of the comments whose body has that band value, newest last (see [`CampaignProbe`]).
    pub fn campaign_sketch(&self, site: &str) -> String {
        self.site_key(site, "camp:")
    }

    /// Prefix of campaign member sets; the campaign id follows.
    pub fn campaign_prefix(&self, site: &str) -> String {
        self.site_key(site, "campaign:")
    }

    /// The comments of one campaign (a sorted set of comment ids scored by when each joined).
    pub fn campaign(&self, site: &str, campaign_id: &str) -> String {
        format!("{}{campaign_id}", self.campaign_prefix(site))
    }

    /// The GCRA state of one rate limit for one subject. `subject` is a keyed hash or a thread/site id hash.
    pub fn limit(&self, site: &str, limit_name: &str, subject: &str) -> String {
        self.site_key(site, &format!("rl:{limit_name}:{subject}"))
    }
}

/// A challenge to store.
#[derive(Debug, Clone)]
pub struct NewChallenge<'a> {
    /// Site id.
    pub site: &'a str,
    /// Random challenge id (hex).
    pub id: &'a str,
    /// Keyed hash of the client (never the IP in clear).
    pub client: &'a str,
    /// Keyed hash of the answer, hex.
    pub answer_hash: &'a str,
    /// Lifetime in ms.
    pub ttl_ms: u64,
    /// Live challenges one client may hold.
    pub max_live: u32,
    /// The per-client creation limit.
    pub create_limit: LimitCheck,
}

/// Outcome of storing a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Stored; expires at this epoch ms (store time).
    Created {
        /// Expiry, epoch ms.
        expires_at_ms: u64,
    },
    /// The client asked too often; retry after this many ms.
    RateLimited {
        /// Wait in ms.
        retry_after_ms: u64,
    },
    /// The client holds too many live challenges; the oldest expires in this many ms.
    TooManyLive {
        /// Wait in ms.
        retry_after_ms: u64,
    },
}

/// What taking (consuming) a challenge found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenChallenge {
    /// It was live; it is now consumed. The stored answer hash is returned for a constant-time comparison.
    Live {
        /// Stored answer hash, hex.
        answer_hash: String,
    },
    /// It existed but its lifetime had passed; it is now consumed.
    Expired,
    /// Never existed, already used, or long gone.
    Unknown,
}

/// A submission ready for the store's single admission step.
#[derive(Debug, Clone)]
pub struct Admit<'a> {
    /// Keyed hash of the idempotency key.
    pub idempotency_key: &'a str,
    /// Challenge id and expected answer hash, when the captcha is required.
    pub captcha: Option<(&'a str, &'a str)>,
    /// Rate limits to charge.
    pub limits: &'a [LimitCheck],
    /// The record to store.
    pub record: &'a CommentRecord,
    /// The answer to replay for a retry with the same key (opaque to the store).
    pub response: &'a str,
    /// How long the record is kept, ms.
    pub retention_ms: u64,
    /// How long the idempotency key is remembered, ms.
    pub idempotency_ttl_ms: u64,
    /// Keyed hashes of the author (phone, e-mail) whose indexes list this comment.
    pub authors: &'a [String],
    /// Campaign detection for this comment (`None`: off, or a body too short for a sketch).
    pub campaign: Option<CampaignProbe<'a>>,
}

/// Entries kept per band value (the newest) when `min_authors` make a campaign: enough to show that many earlier
/// copies with room for repeats by one author and chance look-alikes, and few enough that a long campaign (every
/// copy lands on the same band values) rewrites short fields.
pub fn campaign_band_keep(min_authors: usize) -> usize {
    (min_authors + 5).max(8)
}
/// Fields one sketch generation takes at most, [`crate::text::sketch::BANDS`] per comment with a new band value: past
/// it, the generation's existing fields still take entries but no new ones are added (Redis). Memory per site: two or
/// three generations alive (each until the end of the window after its own), about 1.3 KB per comment entered
/// (measured), so about 13 MB per full generation at the default 3 authors (each field keeps
/// [`campaign_band_keep`] entries of ~65 bytes).
pub const CAMPAIGN_SKETCH_FIELDS: usize = 80_000;
/// Comments kept per campaign member set (the newest).
pub const CAMPAIGN_MEMBERS_CAP: usize = 1000;

/// The sketch field of band `band` with value `value`.
pub fn campaign_band(band: usize, value: u64) -> String {
    format!("{band}:{value:016x}")
}

/// A submission's part in campaign detection, in the same step as its admission (see [`Store::admit`]).
///
/// The store reads, for each of the body's band values, the newest [`campaign_band_keep`] entries within the window
/// of the site's sketch (its current and previous generation, [`Keys::campaign_sketch`]), and takes as copies the comments found whose stored signature agrees with this one in
/// at least `min_agree` positions ([`crate::text::sketch::agreement_hex`]). The comment is part of a campaign when a
/// copy is already marked with one (it joins it; the search stops there), or when the copies' distinct authors,
/// this one's included, number at least `min_authors` (a new campaign, named after the oldest copy's comment id).
/// Then the `alternate` record and answer are stored instead of the primary ones, and the comment and the copies
/// found are marked and listed in the campaign's member set. Either way the comment enters the current generation
/// (one entry per band; a generation expires at the end of the window after its own; at most
/// [`CAMPAIGN_SKETCH_FIELDS`] fields) and its signature is kept with its record. A change of the window starts a new
/// generation series: copies posted before it are not found. The memory store keeps the same entries per window
/// and band, without the field cap.
#[derive(Debug, Clone)]
pub struct CampaignProbe<'a> {
    /// The body's band values as sketch fields, `band:value` ([`campaign_band`]).
    pub bands: &'a [String],
    /// The body's signature ([`crate::text::sketch::Sketch::signature_hex`]).
    pub signature: &'a str,
    /// Who posted it: a keyed hash of the phone or e-mail, else of the client.
    pub author: &'a str,
    /// How far back copies count, ms.
    pub window_ms: u64,
    /// Signature positions that must agree for a copy.
    pub min_agree: usize,
    /// Distinct authors, this one included, that make a campaign.
    pub min_authors: usize,
    /// The record and answer to store when the comment is part of a campaign (`None`: the primary ones).
    pub alternate: Option<(&'a CommentRecord, &'a str)>,
}

/// One pass of an erasure over comments of one author on one site (see [`Store::erase`]).
#[derive(Debug, Clone)]
pub struct Erase<'a> {
    /// Site id.
    pub site: &'a str,
    /// The author index the comment ids are removed from, in the same step (`None`: no index).
    pub author: Option<&'a str>,
    /// The comments' records with the author's data already replaced; each is written only if its comment still
    /// exists and was not erased before.
    pub records: &'a [CommentRecord],
    /// Ids listed in the index whose comments no longer exist (removed from the index only).
    pub gone: &'a [String],
}

/// What filing an appeal found.
#[derive(Debug, Clone, PartialEq)]
pub enum Appealed {
    /// The comment is held for review again, marked as an appeal against `decider`; the event is returned.
    Done {
        /// The appeal's decision event.
        event: Box<Event>,
        /// Who made the decision appealed against (`auto` or a moderator).
        decider: String,
    },
    /// Its status is not the one an appeal may start from (the current status is given); nothing changed.
    WrongStatus(Status),
    /// The comment was appealed before; nothing changed.
    AlreadyAppealed,
    /// No such comment.
    NotFound,
}

/// A moderator decision for the store.
#[derive(Debug, Clone)]
pub struct Decide<'a> {
    /// Site id.
    pub site: &'a str,
    /// The comment.
    pub comment_id: &'a str,
    /// Review (fenced by `lease_token`) or overturn (fenced by `expected`).
    pub kind: DecisionKind,
    /// Lease token (review).
    pub lease_token: &'a str,
    /// Status the caller saw (overturn).
    pub expected: Status,
    /// Status to set.
    pub new_status: Status,
    /// Moderator name.
    pub actor: &'a str,
    /// The label.
    pub label: Label,
    /// The note.
    pub note: &'a str,
}

/// What a takeover found.
#[derive(Debug, Clone, PartialEq)]
pub enum TakenOver {
    /// The caller holds the comment now under a new lease; `from` held it before (empty: nobody held a live
    /// lease).
    Done {
        /// The claimed comment under its new lease.
        claimed: Box<Claimed>,
        /// The previous holder's name, or empty.
        from: String,
    },
    /// The comment is no longer held for review (its status is given); nothing changed.
    NotHeld(Status),
    /// The comment is held on a reader's appeal against the caller's own decision, which the caller never gets
    /// (as [`Store::claim`] never hands it to them); nothing changed.
    AppealedAgainst,
    /// No such comment.
    NotFound,
}

/// What a decision found.
#[derive(Debug, Clone, PartialEq)]
pub enum Decided {
    /// Recorded.
    Done(Event),
    /// Fenced out: lease lost or status changed; nothing changed.
    Conflict,
    /// No such comment.
    NotFound,
}

/// How far past its entry's `at` an audit cursor's time may be (Redis stamps the stream id after the script read
/// its clock).
pub const AUDIT_TIME_SLACK_MS: u64 = 1000;

/// The scope of global documents; `*` is never a valid site id.
pub const GLOBAL_SCOPE: &str = "*";

/// How many held comments past the ones it hands out a claim looks through, passing over appeals against the
/// claiming moderator (they stay at the head of the queue for the others).
pub const APPEAL_SKIP_WINDOW: usize = 200;

/// Decision and label streams keep about this many entries per site.
pub const STREAM_MAXLEN: u64 = 1_000_000;

/// How long an expired challenge is remembered (to say "expired" rather than "invalid").
pub const EXPIRED_CHALLENGE_MEMORY_MS: u64 = 10 * 60 * 1000;

/// The storage operations of moderato. Implementations must be atomic per call: each method is one
/// indivisible step even under concurrent callers on several replicas.
#[async_trait]
pub trait Store: WebhookStore + Send + Sync + 'static {
    /// Which implementation this is (`memory`, `redis`, `redis-cluster`), for logs and health.
    fn kind(&self) -> &'static str;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a challenge if the client's creation limit and live-challenge bound allow it, in one step.
    async fn create_challenge(&self, c: NewChallenge<'_>) -> Result<CreateOutcome, StoreError>;

    /// Consumes a challenge, whatever the answer will turn out to be: a second take finds it `Unknown`.
    async fn take_challenge(
        &self,
        site: &str,
        challenge_id: &str,
    ) -> Result<TakenChallenge, StoreError>;

    /// Checks every limit and, only if no enforced limit refuses, charges all that allow, in one step.
    async fn charge_limits(&self, checks: &[LimitCheck]) -> Result<LimitVerdict, StoreError>;

    /// Admits a submission in one step: idempotency, limits, captcha, campaign lookup ([`CampaignProbe`]),
    /// record, queue entry, decision event.
    async fn admit(&self, a: Admit<'_>) -> Result<Admission, StoreError>;

    /// One comment with its status and history.
    async fn get_comment(
        &self,
        site: &str,
        comment_id: &str,
    ) -> Result<Option<StoredComment>, StoreError>;

    /// Decision events after `after` (empty: from the start), oldest first, at most `max`.
    async fn read_decisions(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<Event>, StoreError>;

    /// Claims up to `tokens.len()` held comments, oldest first, for `lease_ms`; returns them and how many
    /// expired leases went back to the queue first.
    async fn claim(
        &self,
        site: &str,
        lease_ms: u64,
        moderator: &str,
        tokens: &[String],
    ) -> Result<(Vec<Claimed>, u64), StoreError>;

    /// Extends a held lease; `None` when it is lost.
    async fn extend_lease(
        &self,
        site: &str,
        comment_id: &str,
        token: &str,
        lease_ms: u64,
    ) -> Result<Option<u64>, StoreError>;

    /// Releases a held lease; false when it is lost.
    async fn release(&self, site: &str, comment_id: &str, token: &str) -> Result<bool, StoreError>;

    /// Records a moderator decision, fenced.
    async fn decide(&self, d: Decide<'_>) -> Result<Decided, StoreError>;

    /// Queue statistics.
    async fn queue_stats(&self, site: &str) -> Result<QueueStats, StoreError>;

    /// A versioned document: (version, content), or `None` when never written.
    async fn get_doc(&self, scope: &str, name: &str) -> Result<Option<(u64, String)>, StoreError>;

    /// Replaces a document if its version is still `expected` (0: never written), records who did it and `note`
    /// in the scope's audit log (same step), and bumps the change epoch. `Ok(Err(current))` when the version is
    /// stale.
    async fn put_doc(
        &self,
        scope: &str,
        name: &str,
        expected: u64,
        doc: &str,
        who: &str,
        note: AuditNote<'_>,
    ) -> Result<Result<u64, u64>, StoreError>;

    /// The comment ids of a campaign, oldest first (empty when unknown or expired).
    async fn campaign(&self, site: &str, campaign_id: &str) -> Result<Vec<String>, StoreError>;

    /// Gives a held comment to `moderator` under a new lease `token` for `lease_ms`, whoever held it; the old
    /// token is dead. Appends a `TAKEOVER` audit entry naming both holders and `note`, in the same step. A comment
    /// held on an appeal against `moderator` is refused ([`TakenOver::AppealedAgainst`]), as in [`Store::claim`].
    async fn take_over(
        &self,
        site: &str,
        comment_id: &str,
        lease_ms: u64,
        moderator: &str,
        token: &str,
        note: &str,
    ) -> Result<TakenOver, StoreError>;

    /// Audit entries of `scope` after cursor `after` (empty: from the start), oldest first, at most `max`, selected
    /// by cursor time: from `since_ms` to [`AUDIT_TIME_SLACK_MS`] past `until_ms` (a cursor's time is its entry's
    /// `at` or a little later, never earlier). The caller filters on `at` exactly; the store does not, so a batch
    /// shorter than `max` always means the range is exhausted.
    async fn audit(
        &self,
        scope: &str,
        after: &str,
        since_ms: u64,
        until_ms: u64,
        max: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// The change epoch (see [`Keys::epoch`]).
    async fn epoch(&self) -> Result<u64, StoreError>;

    /// Comments submitted at or after `since_ms`, with the last moderator label of each, oldest first.
    async fn recent(
        &self,
        site: &str,
        since_ms: u64,
        max: usize,
    ) -> Result<Vec<(CommentRecord, Option<Label>)>, StoreError>;

    /// How many comments of the site moderators have labelled (a comment relabelled by an overturn or an undo
    /// counts once, as the label export lists it once; an erased comment's labels are gone).
    async fn label_count(&self, site: &str) -> Result<u64, StoreError>;

    /// Labels after cursor `after` (empty: from the start), at most `max`, with their cursors.
    async fn labels(
        &self,
        site: &str,
        after: &str,
        max: usize,
    ) -> Result<Vec<(String, LabelRow)>, StoreError>;

    /// Stores a web console session's document under `session_id` for `ttl_ms`, replacing any previous one.
    async fn put_session(&self, session_id: &str, doc: &str, ttl_ms: u64)
    -> Result<(), StoreError>;

    /// A session's document, or `None` once it expired or was deleted.
    async fn get_session(&self, session_id: &str) -> Result<Option<String>, StoreError>;

    /// Deletes a session; false when there was none.
    async fn delete_session(&self, session_id: &str) -> Result<bool, StoreError>;

    /// Adds `site` to the registry of sites seen ([`Keys::sites_seen`]).
    async fn register_site(&self, site: &str) -> Result<(), StoreError>;

    /// Every site in the registry of sites seen.
    async fn sites(&self) -> Result<Vec<String>, StoreError>;

    /// The author index of `author` on `site` from position `offset`, at most `max` entries, in index order: each
    /// comment id with its comment, or `None` when the comment no longer exists.
    async fn author_comments(
        &self,
        site: &str,
        author: &str,
        offset: usize,
        max: usize,
    ) -> Result<Vec<(String, Option<StoredComment>)>, StoreError>;

    /// The last `max` entries of `author`'s index on `site` (those that expire last: the held comments, then the
    /// most recently decided), in index order, each as its comment's status and last event: what author trust
    /// counts, without reading the comments' text. Comments gone from the store are left out. The default reads
    /// the whole index through [`Store::author_comments`].
    async fn author_statuses(
        &self,
        site: &str,
        author: &str,
        max: usize,
    ) -> Result<Vec<IndexedStatus>, StoreError> {
        let all = self.author_comments(site, author, 0, usize::MAX).await?;
        let skip = all.len().saturating_sub(max);
        Ok(all
            .into_iter()
            .skip(skip)
            .filter_map(|(id, c)| c.map(|c| IndexedStatus::of(id, &c)))
            .collect())
    }

    /// One erasure step: replaces the records given (unless erased before or gone), marks them erased, removes
    /// their label rows, their idempotency entries, the reader's messages of their appeals and their entries in
    /// every author index, and removes every id given from `author`'s index, all in one step. Returns how many
    /// records it replaced.
    async fn erase(&self, e: Erase<'_>) -> Result<u64, StoreError>;

    /// Appends one audit entry to `scope`'s log.
    async fn append_audit(&self, scope: &str, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Puts a decided comment back in the review queue as an appeal, fenced by its status (`expected`) and by no
    /// earlier appeal: appends the appeal's event (with `message` in the comment's history only, never in the
    /// decision stream), and a site audit entry by `who`, in one step. Claims never hand the appeal to the
    /// decider it is against.
    async fn appeal(
        &self,
        site: &str,
        comment_id: &str,
        expected: Status,
        message: &str,
        who: &str,
    ) -> Result<Appealed, StoreError>;
}

/// One comment of an author index as author trust reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedStatus {
    /// The comment.
    pub comment_id: String,
    /// Its status now.
    pub status: Status,
    /// When its last event happened (the automatic decision is the first), epoch ms; its submission time if it has
    /// none.
    pub changed_ms: u64,
    /// What its last event was (an appeal puts a rejected comment back in the queue).
    pub last: DecisionKind,
}

impl IndexedStatus {
    /// The entry of comment `id` as its full record says.
    pub fn of(id: String, c: &StoredComment) -> IndexedStatus {
        let last = c.history.last();
        IndexedStatus {
            comment_id: id,
            status: c.status,
            changed_ms: last.map_or(c.record.created_ms, |e| e.decided_ms),
            last: last.map_or(DecisionKind::Automatic, |e| e.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_put_the_site_in_a_hash_tag() {
        let k = Keys::new("m:");
        assert_eq!(k.challenge("hcm", "ab"), "m:{hcm}:captcha:ab");
        assert_eq!(k.limit("hcm", "client_ip", "x"), "m:{hcm}:rl:client_ip:x");
    }
}
