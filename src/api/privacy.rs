//! protobuf <-> domain for the privacy requests (AdminService.EraseAuthor / ExportAuthor) and the reader's side
//! (CommentService.GetStatementOfReasons / AppealDecision).

use super::{Violations, convert};
use crate::privacy::statement::{DecidedBy, Statement};
use crate::privacy::{Scope, Selector};
use crate::proto;

/// The scope and selector of a request; every bad field reported at once.
pub fn target(
    site: &str,
    author: Option<&proto::AuthorSelector>,
) -> Result<(Scope, Selector), crate::validate::Invalid> {
    let mut v = Violations::default();
    let scope = Scope::parse(site, &mut v);
    let a = author.cloned().unwrap_or_default();
    let set: Vec<Selector> = [
        (!a.phone.trim().is_empty()).then(|| Selector::Phone(a.phone.clone())),
        (!a.email.trim().is_empty()).then(|| Selector::Email(a.email.clone())),
        (!a.comment_id.trim().is_empty())
            .then(|| Selector::Comment(a.comment_id.trim().to_string())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if set.len() != 1 {
        v.add("author", "set exactly one of phone, email and comment_id");
    }
    v.finish()?;
    let selector = set
        .into_iter()
        .next()
        .ok_or_else(|| crate::validate::Invalid(Vec::new()))?;
    Ok((scope, selector))
}

/// Statement to protobuf.
pub fn statement(s: &Statement) -> proto::StatementOfReasons {
    proto::StatementOfReasons {
        status: convert::status(s.status) as i32,
        decided_by_human: s.decided_by == DecidedBy::Moderator,
        grounds: s
            .grounds
            .iter()
            .map(|g| proto::StatementGround {
                code: g.code.clone(),
                text_vi: g.vi.clone(),
                text_en: g.en.clone(),
            })
            .collect(),
        text_vi: s.text_vi.clone(),
        text_en: s.text_en.clone(),
        appealable: s.appealable,
        under_appeal: s.under_appeal,
    }
}
