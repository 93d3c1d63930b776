//! The statement of reasons a reader gets for a rejected or held comment, in Vietnamese and English: what kind of
//! content or which rule of the site, whether the system or a moderator decided, and how to ask for a review.
//! Built only from reason codes and the moderator's label, never from model features or their details (which may
//! quote the text or expose how the model weighs words).

use crate::review::{DecisionKind, Label, ReasonKind, Status, StoredComment};

/// Who made the decision a statement explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    /// The automatic rules and classifier.
    System,
    /// A moderator.
    Moderator,
}

/// One ground of a decision, in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ground {
    /// The reason code (or `LABEL_<label>` for a moderator's label).
    pub code: String,
    /// Vietnamese.
    pub vi: String,
    /// English.
    pub en: String,
}

/// A statement of reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The comment's status.
    pub status: Status,
    /// Who decided.
    pub decided_by: DecidedBy,
    /// The grounds, most specific first.
    pub grounds: Vec<Ground>,
    /// The whole explanation in Vietnamese.
    pub text_vi: String,
    /// The whole explanation in English.
    pub text_en: String,
    /// True when the reader may still appeal (a rejected comment never appealed).
    pub appealable: bool,
    /// True when the comment is held on the reader's appeal.
    pub under_appeal: bool,
}

/// (Vietnamese, English) for a reason code of kind rule or lexicon; `None` for codes a reader is not told about.
fn ground_text(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "BLOCKED_TERM" => (
            "chứa từ hoặc cụm từ mà trang này không cho phép",
            "it contains a word or phrase this site does not allow",
        ),
        "SCORE_AT_OR_ABOVE_REJECT" => (
            "bộ lọc tự động đánh giá bình luận rất có khả năng là tin rác hoặc quảng cáo",
            "our automatic filter judged it very likely to be spam or advertising",
        ),
        "SCORE_BETWEEN_THRESHOLDS" => (
            "bộ lọc tự động chưa chắc chắn, nên kiểm duyệt viên sẽ xem bình luận",
            "our automatic filter was unsure, so a moderator will look at it",
        ),
        "DENIED_DOMAIN" => (
            "có liên kết tới một tên miền mà trang này không cho phép",
            "it links to a domain this site does not allow",
        ),
        "ABUSE" => (
            "có lời lẽ xúc phạm hoặc chửi bới, nên kiểm duyệt viên sẽ xem bình luận",
            "it contains insults or abusive words, so a moderator will look at it",
        ),
        "SUSPECT_TERM" => (
            "chứa từ hoặc cụm từ mà trang này xem xét trước khi đăng",
            "it contains a word or phrase this site checks before publishing",
        ),
        "PREMODERATION" => (
            "trang này duyệt mọi bình luận trước khi đăng",
            "this site checks every comment before publishing",
        ),
        "AUTHOR_NEW" => (
            "trang này duyệt trước bình luận của người viết chưa quen: người chưa có đủ bình luận được đăng, vừa có bình luận bị từ chối, hoặc không để lại số điện thoại hay e-mail",
            "this site checks comments of authors it does not know yet before publishing: those without enough published comments, with a comment rejected recently, or who give no phone or e-mail",
        ),
        "CAMPAIGN" => (
            "gần giống hệt bình luận mà nhiều người khác vừa gửi, nên kiểm duyệt viên sẽ xem bình luận",
            "it is nearly the same as comments many other people just posted, so a moderator will look at it",
        ),
        "BOOTSTRAP" => (
            "trang này đang duyệt mọi bình luận trước khi đăng trong thời gian thiết lập bộ lọc",
            "this site checks every comment before publishing while its filter is being set up",
        ),
        "LEX_LOAN" => (
            "có nội dung quảng cáo cho vay, tín dụng",
            "it looks like loan or credit advertising",
        ),
        "LEX_BETTING" => (
            "có nội dung cờ bạc, cá cược",
            "it looks like gambling or betting promotion",
        ),
        "LEX_SALES_INBOX" => (
            "có nội dung chào bán hàng, mời nhắn tin riêng",
            "it looks like a sales pitch asking readers to message privately",
        ),
        "LEX_CONTACT_WORD" => (
            "có lời mời liên hệ hoặc thông tin liên hệ",
            "it asks readers to get in touch or gives contact details",
        ),
        "LEX_JOB_SCAM" => (
            "có lời mời việc làm thường gặp trong lừa đảo",
            "it offers a job of a kind often used in scams",
        ),
        "LEX_CRYPTO_SCAM" => (
            "có nội dung đầu tư tiền ảo hoặc kiếm tiền dễ dàng",
            "it promotes crypto investment or easy money",
        ),
        "LEX_HEALTH_AD" => (
            "có nội dung quảng cáo sản phẩm sức khỏe",
            "it looks like health product advertising",
        ),
        "LEX_SEO_LINK" => ("có liên kết quảng cáo", "it carries advertising links"),
        // Filling in the form's phone field is not content the reader is told about.
        "PHONE_FIELD" => return None,
        // A link to a known news or public-service site is not a ground for holding or rejecting.
        "URL_KNOWN_DOMAIN" => return None,
        c if c.starts_with("URL") => ("có đường liên kết", "it contains links"),
        c if c.starts_with("PHONE") => ("có số điện thoại", "it contains a phone number"),
        c if c.starts_with("CHAT_APP") => (
            "mời liên hệ qua ứng dụng nhắn tin",
            "it invites contact through a chat app",
        ),
        "HANDLE_OR_EMAIL" => (
            "có tài khoản mạng xã hội hoặc địa chỉ e-mail",
            "it contains a social media handle or an e-mail address",
        ),
        "MONEY_AMOUNT" | "RATE_PER_DAY_OR_WEEK" => (
            "có số tiền hoặc mức thu nhập",
            "it mentions amounts of money or earnings",
        ),
        "SPACED_LETTERS" | "LEETSPEAK" | "HOMOGLYPH" | "INVISIBLE_CHARS" => (
            "chữ viết bị biến dạng để lách bộ lọc",
            "its letters are disguised to get past filters",
        ),
        _ => return None,
    })
}

fn label_text(label: Label) -> (&'static str, &'static str) {
    match label {
        Label::Spam => (
            "kiểm duyệt viên xác định đây là tin rác hoặc quảng cáo",
            "a moderator found it to be spam or advertising",
        ),
        Label::Abusive => (
            "kiểm duyệt viên xác định bình luận có nội dung xúc phạm hoặc thù ghét",
            "a moderator found it abusive or hateful",
        ),
        Label::OffTopic => (
            "kiểm duyệt viên xác định bình luận không liên quan đến bài viết",
            "a moderator found it off topic",
        ),
        Label::Ham => (
            "kiểm duyệt viên đã xem bình luận",
            "a moderator reviewed it",
        ),
    }
}

const APPEAL_VI: &str = "Nếu bạn cho rằng quyết định này chưa đúng, bạn có thể yêu cầu xem xét lại một lần ngay trên trang bình luận; một kiểm duyệt viên khác với người đã quyết định sẽ xem lại.";
const APPEAL_EN: &str = "If you think this decision is wrong, you can ask for a review once, from the comment page; a moderator other than the one who decided will look at it again.";

/// The statement for a comment; `None` when it is published.
pub fn statement(c: &StoredComment) -> Option<Statement> {
    if c.status == Status::Published {
        return None;
    }
    let last = c.history.last();
    let under_appeal =
        c.status == Status::PendingReview && last.is_some_and(|e| e.kind == DecisionKind::Appeal);
    let appealed = c.history.iter().any(|e| e.kind == DecisionKind::Appeal);
    // The decision explained: the last one not an appeal.
    let decision = c
        .history
        .iter()
        .rev()
        .find(|e| e.kind != DecisionKind::Appeal);
    let human = decision.is_some_and(|e| e.kind != DecisionKind::Automatic);
    let mut grounds = Vec::new();
    if human {
        if let Some(l) = decision.and_then(|e| Label::parse(&e.label)) {
            let (vi, en) = label_text(l);
            grounds.push(Ground {
                code: format!("LABEL_{}", l.as_str().to_ascii_uppercase()),
                vi: vi.into(),
                en: en.into(),
            });
        }
    } else {
        for r in &c.record.reasons {
            let told = match r.kind {
                ReasonKind::Lexicon => true,
                // Policy rules (contribution 0) and rule signals that pushed towards spam.
                ReasonKind::Rule => r.contribution >= 0.0,
                ReasonKind::ModelFeature => false,
            };
            if !told || grounds.iter().any(|g: &Ground| g.code == r.code) {
                continue;
            }
            if let Some((vi, en)) = ground_text(&r.code) {
                grounds.push(Ground {
                    code: r.code.clone(),
                    vi: vi.into(),
                    en: en.into(),
                });
            }
        }
    }
    let (who_vi, who_en) = if human {
        ("một kiểm duyệt viên", "a moderator")
    } else {
        ("hệ thống tự động", "the automatic system")
    };
    let (what_vi, what_en) = match (c.status, under_appeal) {
        (Status::PendingReview, true) => (
            "Bình luận của bạn đang chờ kiểm duyệt viên xem xét lại theo yêu cầu của bạn."
                .to_string(),
            "Your comment is waiting for a moderator to review it again, as you asked.".to_string(),
        ),
        (Status::PendingReview, false) => (
            format!("Bình luận của bạn đang chờ kiểm duyệt (quyết định của {who_vi})."),
            format!("Your comment is held for review (decided by {who_en})."),
        ),
        _ => (
            format!("Bình luận của bạn không được đăng (quyết định của {who_vi})."),
            format!("Your comment was not published (decided by {who_en})."),
        ),
    };
    let list = |f: fn(&Ground) -> &str| grounds.iter().map(f).collect::<Vec<_>>().join("; ");
    let mut text_vi = what_vi;
    let mut text_en = what_en;
    if !grounds.is_empty() {
        text_vi.push_str(&format!(" Lý do: {}.", list(|g| &g.vi)));
        text_en.push_str(&format!(" Why: {}.", list(|g| &g.en)));
    }
    let appealable = c.status == Status::Rejected && !appealed;
    if appealable {
        text_vi.push(' ');
        text_vi.push_str(APPEAL_VI);
        text_en.push(' ');
        text_en.push_str(APPEAL_EN);
    } else if c.status == Status::Rejected {
        text_vi.push_str(" Yêu cầu xem xét lại của bạn đã được giải quyết.");
        text_en.push_str(" Your request for a review has been decided.");
    }
    Some(Statement {
        status: c.status,
        decided_by: if human {
            DecidedBy::Moderator
        } else {
            DecidedBy::System
        },
        grounds,
        text_vi,
        text_en,
        appealable,
        under_appeal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_domain_and_abuse_are_grounds_a_reader_is_told_and_a_known_domain_is_not() {
        assert!(ground_text("DENIED_DOMAIN").is_some());
        assert!(ground_text("ABUSE").is_some());
        assert!(ground_text("URL_KNOWN_DOMAIN").is_none());
        assert!(ground_text("URL_OTHER_DOMAIN").is_some());
    }
}
