//! Conversions between the review domain and the protobuf types.

use crate::clock::timestamp;
use crate::proto;
use crate::review::{DecisionKind, Event, Label, Reason, ReasonKind, Status, StoredComment};

/// Domain status to protobuf.
pub fn status(s: Status) -> proto::CommentStatus {
    match s {
        Status::Published => proto::CommentStatus::Published,
        Status::PendingReview => proto::CommentStatus::PendingReview,
        Status::Rejected => proto::CommentStatus::Rejected,
    }
}

/// Protobuf status to domain (`None` for UNSPECIFIED or unknown values).
pub fn status_from(v: i32) -> Option<Status> {
    match proto::CommentStatus::try_from(v).ok()? {
        proto::CommentStatus::Published => Some(Status::Published),
        proto::CommentStatus::PendingReview => Some(Status::PendingReview),
        proto::CommentStatus::Rejected => Some(Status::Rejected),
        proto::CommentStatus::Unspecified => None,
    }
}

/// Domain label to protobuf.
pub fn label(l: Label) -> proto::Label {
    match l {
        Label::Spam => proto::Label::Spam,
        Label::Ham => proto::Label::Ham,
        Label::Abusive => proto::Label::Abusive,
        Label::OffTopic => proto::Label::OffTopic,
    }
}

/// Protobuf label to domain (`None` for UNSPECIFIED or unknown values).
pub fn label_from(v: i32) -> Option<Label> {
    match proto::Label::try_from(v).ok()? {
        proto::Label::Spam => Some(Label::Spam),
        proto::Label::Ham => Some(Label::Ham),
        proto::Label::Abusive => Some(Label::Abusive),
        proto::Label::OffTopic => Some(Label::OffTopic),
        proto::Label::Unspecified => None,
    }
}

/// Domain reason to protobuf.
pub fn reason(r: &Reason) -> proto::Reason {
    let (label_vi, label_en) = crate::review::labels::labels(&r.code, r.contribution);
    proto::Reason {
        label_vi,
        label_en,
        spans: r
            .spans
            .iter()
            .map(|s| proto::Span {
                field: s.field.clone(),
                start: s.start,
                end: s.end,
            })
            .collect(),
        code: r.code.clone(),
        detail: r.detail.clone(),
        contribution: f64::from(r.contribution),
        kind: match r.kind {
            ReasonKind::Rule => proto::ReasonKind::Rule,
            ReasonKind::ModelFeature => proto::ReasonKind::ModelFeature,
            ReasonKind::Lexicon => proto::ReasonKind::Lexicon,
        } as i32,
    }
}

/// Domain event to protobuf.
pub fn event(e: &Event) -> proto::DecisionEvent {
    proto::DecisionEvent {
        cursor: e.cursor.clone(),
        comment_id: e.comment_id.clone(),
        thread_id: e.thread_id.clone(),
        status: status(e.status) as i32,
        kind: match e.kind {
            DecisionKind::Automatic => proto::DecisionKind::Automatic,
            DecisionKind::Review => proto::DecisionKind::Review,
            DecisionKind::Overturn => proto::DecisionKind::Overturn,
            DecisionKind::Appeal => proto::DecisionKind::Appeal,
        } as i32,
        actor: e.actor.clone(),
        label: Label::parse(&e.label).map(|l| label(l) as i32).unwrap_or(0),
        note: e.note.clone(),
        decided_at: Some(timestamp(e.decided_ms)),
        policy_version: e.policy_version,
        model_version: e.model_version.clone(),
    }
}

/// Stored comment to protobuf.
pub fn comment(c: &StoredComment) -> proto::Comment {
    let r = &c.record;
    proto::Comment {
        comment_id: r.comment_id.clone(),
        site: r.site.clone(),
        thread_id: r.thread_id.clone(),
        author: Some(proto::Author {
            name: r.name.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
        }),
        title: r.title.clone(),
        body: r.body.clone(),
        status: status(c.status) as i32,
        score: f64::from(r.score),
        reasons: r.reasons.iter().map(reason).collect(),
        model_version: r.model_version.clone(),
        policy_version: r.policy_version,
        created_at: Some(timestamp(r.created_ms)),
        history: c.history.iter().map(event).collect(),
        campaign_id: c.campaign.clone().unwrap_or_default(),
    }
}
