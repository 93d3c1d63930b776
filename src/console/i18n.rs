//! The console's words: one catalogue per language (Vietnamese first, English as the switch). Templates and
//! handlers look strings up by key; none is written in a template.

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt, the default.
    Vi,
    /// English.
    En,
}

impl Lang {
    /// `en` is English; anything else is Vietnamese.
    pub fn parse(s: &str) -> Lang {
        if s == "en" { Lang::En } else { Lang::Vi }
    }

    /// The `lang` attribute and session spelling.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
}

/// The catalogue of one language, looked up by key.
#[derive(Debug, Clone, Copy)]
pub struct T {
    /// The language.
    pub lang: Lang,
}

impl T {
    /// The string for `key`; the key itself when the catalogue lacks it (a test checks that none is missing).
    pub fn s<'a>(&self, key: &'a str) -> &'a str {
        self.get(key).unwrap_or(key)
    }

    /// The string for `key`, if the catalogue has it.
    pub fn get(&self, key: &str) -> Option<&'static str> {
        let cat = match self.lang {
            Lang::Vi => VI,
            Lang::En => EN,
        };
        cat.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// A reason code in plain words, from the one catalogue of reason labels (`review::labels`), or `None` for
    /// a code it does not know.
    pub fn reason(&self, code: &str, contribution: f32) -> Option<String> {
        crate::review::labels::label(code, contribution, self.lang == Lang::Vi)
    }
}

/// Vietnamese.
pub const VI: &[(&str, &str)] = &[
    ("app", "moderato — bảng điều khiển kiểm duyệt"),
    ("skip_to_main", "Chuyển tới nội dung chính"),
    ("nav.queue", "Hàng chờ duyệt"),
    ("nav.ops", "Vận hành"),
    ("nav.signed_in_as", "Đăng nhập với tên"),
    ("nav.sign_out", "Đăng xuất"),
    ("nav.language", "Ngôn ngữ"),
    ("nav.switch_lang", "English"),
    ("role.moderator", "kiểm duyệt viên"),
    ("role.ops", "vận hành"),
    ("login.title", "Đăng nhập"),
    (
        "login.token",
        "Mã truy cập (token) của kiểm duyệt viên hoặc vận hành",
    ),
    ("login.lang", "Ngôn ngữ giao diện"),
    ("login.submit", "Đăng nhập"),
    (
        "login.bad_token",
        "Mã truy cập không đúng, hoặc không phải mã của kiểm duyệt viên hay vận hành.",
    ),
    ("login.signed_out", "Bạn đã đăng xuất."),
    ("lang.vi", "Tiếng Việt"),
    ("lang.en", "English"),
    ("queue.title", "Hàng chờ duyệt"),
    ("queue.site", "Trang (site)"),
    ("queue.count", "Số bình luận nhận về"),
    ("queue.claim", "Nhận bình luận để duyệt"),
    (
        "queue.empty",
        "Bạn chưa giữ bình luận nào của trang này. Chọn trang và bấm “Nhận bình luận để duyệt”.",
    ),
    (
        "queue.nothing_held",
        "Không còn bình luận nào chờ duyệt ở trang này.",
    ),
    ("queue.claimed", "Đã nhận bình luận:"),
    ("queue.name", "Người gửi"),
    ("queue.phone", "Điện thoại"),
    ("queue.no_phone", "không có"),
    ("queue.title_field", "Tiêu đề"),
    ("queue.score", "Điểm spam"),
    ("queue.reasons", "Lý do"),
    ("queue.no_reasons", "Không có lý do cụ thể."),
    ("queue.history", "Lịch sử của người gửi trên trang này"),
    ("queue.history_missing", "chưa có dữ liệu"),
    ("queue.lease", "Thời gian giữ còn lại"),
    ("queue.lease_expired", "đã hết hạn"),
    ("queue.approve", "Duyệt (a)"),
    ("queue.reject", "Từ chối (r)"),
    ("queue.skip", "Bỏ qua (s)"),
    ("queue.select", "Chọn bình luận này (x)"),
    ("queue.label", "Nhãn khi từ chối"),
    ("queue.bulk", "Với các bình luận đã chọn"),
    ("queue.bulk_approve", "Duyệt các bình luận đã chọn"),
    ("queue.bulk_reject", "Từ chối các bình luận đã chọn"),
    ("queue.undo", "Hoàn tác"),
    ("queue.undo_label", "Nhãn khi hoàn tác một lần duyệt"),
    ("queue.approved", "Đã duyệt bình luận."),
    ("queue.rejected", "Đã từ chối bình luận."),
    ("queue.skipped", "Đã trả bình luận về hàng chờ."),
    (
        "queue.undone",
        "Đã hoàn tác quyết định (được ghi vào nhật ký kiểm tra).",
    ),
    (
        "queue.undo_expired",
        "Đã quá thời gian hoàn tác; hãy sửa quyết định ở trang xem lại.",
    ),
    ("queue.bulk_done", "Số bình luận đã xử lý:"),
    ("queue.bulk_none", "Bạn chưa chọn bình luận nào."),
    (
        "queue.lease_lost",
        "Bạn không còn giữ bình luận này (đã hết thời gian giữ, hoặc người khác đã nhận nó). Không có gì thay đổi. Hãy nhận bình luận mới.",
    ),
    (
        "queue.bulk_lost",
        "Số bình luận đã mất quyền giữ, không thay đổi:",
    ),
    (
        "queue.not_yours",
        "Bình luận này không do bạn nhận. Không có gì thay đổi.",
    ),
    ("queue.error", "Không thực hiện được:"),
    ("queue.shortcuts_on", "Bật phím tắt"),
    ("queue.help_button", "Phím tắt (?)"),
    ("help.title", "Phím tắt"),
    ("help.j", "j — bình luận tiếp theo"),
    ("help.k", "k — bình luận trước"),
    ("help.a", "a — duyệt bình luận đang chọn"),
    (
        "help.r",
        "r — từ chối với nhãn đang chọn trong ô “Nhãn khi từ chối”",
    ),
    ("help.s", "s — bỏ qua, trả về hàng chờ"),
    ("help.x", "x — đánh dấu để xử lý hàng loạt"),
    ("help.u", "u — hoàn tác quyết định vừa rồi"),
    ("help.q", "? — mở hoặc đóng bảng này"),
    (
        "help.mods",
        "Phím tắt không chạy khi đang giữ Ctrl, Alt, Meta hoặc khi đang gõ vào ô nhập liệu. Có thể tắt bằng ô “Bật phím tắt”.",
    ),
    ("help.close", "Đóng"),
    ("label.spam", "Spam, quảng cáo"),
    ("label.abusive", "Lăng mạ, xúc phạm"),
    ("label.off_topic", "Lạc đề"),
    ("label.ham", "Hợp lệ"),
    ("status.PENDING_REVIEW", "chờ duyệt"),
    ("status.PUBLISHED", "đã đăng"),
    ("status.REJECTED", "bị từ chối"),
    (
        "csrf.refused",
        "Biểu mẫu này thiếu mã bảo vệ hoặc mã đã cũ, nên bị từ chối. Không có gì thay đổi. Hãy tải lại trang và thử lại.",
    ),
    (
        "forbidden.ops",
        "Trang này chỉ dành cho vận hành (ops). Mã của bạn là mã kiểm duyệt viên.",
    ),
    (
        "error.store",
        "Kho dữ liệu đang không trả lời; hãy thử lại sau giây lát.",
    ),
    ("error.invalid", "Dữ liệu không hợp lệ:"),
    ("ops.title", "Vận hành"),
    ("ops.health", "Tình trạng hàng chờ"),
    ("ops.depth", "Đang chờ"),
    ("ops.claimed", "Đang được giữ"),
    ("ops.oldest", "Bình luận chờ lâu nhất (giây)"),
    ("ops.per_hour", "Quyết định trong giờ qua"),
    ("ops.audit", "Nhật ký kiểm tra"),
    ("ops.audit_at", "Thời điểm"),
    ("ops.audit_actor", "Người thực hiện"),
    ("ops.audit_action", "Hành động"),
    ("ops.audit_target", "Đối tượng"),
    ("ops.audit_note", "Ghi chú"),
    ("ops.audit_empty", "Chưa có mục nào."),
    ("ops.show", "Xem"),
    ("ops.models", "Mô hình"),
    ("ops.model_version", "Phiên bản"),
    ("ops.model_metrics", "Chỉ số đánh giá"),
    ("ops.model_active", "Đang dùng ở"),
    ("ops.model_global", "mặc định chung"),
    ("ops.activate", "Dùng cho trang này"),
    ("ops.rollback", "Quay lại mô hình trước của trang"),
    (
        "ops.model_changed",
        "Đã đổi mô hình của trang (ghi vào nhật ký kiểm tra):",
    ),
    (
        "ops.no_previous",
        "Trang này không có mô hình trước để quay lại. Không có gì thay đổi.",
    ),
    (
        "ops.unknown_model",
        "Không có mô hình này trong thư mục mô hình:",
    ),
    ("ops.bootstrap", "Giai đoạn khởi đầu"),
    ("ops.boot_labels", "Nhãn đã có"),
    ("ops.boot_required", "Nhãn cần (0: tắt)"),
    ("ops.boot_ready", "Đủ để huấn luyện mô hình riêng"),
    ("ops.yes", "có"),
    ("ops.no", "chưa"),
    ("nav.browse", "Xem lại"),
    ("browse.title", "Bình luận đã quyết định"),
    ("browse.status", "Trạng thái"),
    ("browse.label", "Nhãn"),
    ("browse.any", "tất cả"),
    ("browse.min", "Điểm từ"),
    ("browse.max", "Điểm đến"),
    ("browse.author", "Người gửi có tên chứa"),
    ("browse.from", "Quyết định từ ngày"),
    ("browse.to", "đến ngày"),
    ("browse.filter", "Lọc"),
    ("browse.decided", "Quyết định lúc"),
    ("browse.none", "Không có bình luận nào khớp bộ lọc."),
    ("browse.prev", "← Trang trước"),
    ("browse.next", "Trang sau →"),
    ("browse.page", "Trang"),
    ("browse.bad_score", "Điểm phải là số từ 0 đến 1."),
    ("browse.events", "Các lần đổi trạng thái"),
    ("browse.audit", "Nhật ký kiểm tra của bình luận"),
    ("browse.overturn", "Sửa quyết định"),
    ("browse.overturn_publish", "Đăng bình luận này"),
    ("browse.overturn_reject", "Từ chối bình luận này"),
    ("browse.note", "Ghi chú (ghi vào nhật ký)"),
    (
        "browse.overturned",
        "Đã sửa quyết định (được ghi vào nhật ký kiểm tra).",
    ),
    (
        "browse.changed",
        "Bình luận đã đổi trạng thái từ lúc bạn mở trang. Không có gì thay đổi; hãy xem lại.",
    ),
    (
        "browse.not_yours",
        "Chỉ người đã quyết định (để hoàn tác) hoặc vận hành mới sửa được quyết định này. Người quyết định:",
    ),
    ("kind.AUTOMATIC", "tự động"),
    ("kind.REVIEW", "kiểm duyệt"),
    ("kind.OVERTURN", "sửa quyết định"),
    ("nav.lab", "Phòng thử ngưỡng"),
    ("lab.title", "Phòng thử ngưỡng"),
    (
        "lab.intro",
        "Điểm spam của các bình luận 7 ngày qua, chia theo nhãn của kiểm duyệt viên. Di chuyển ngưỡng để xem số bình luận được đăng, giữ lại và bị từ chối thay đổi thế nào, rồi áp dụng bằng một lần bấm.",
    ),
    ("lab.approve", "Đăng khi điểm dưới"),
    ("lab.reject", "Từ chối khi điểm từ"),
    ("lab.current", "Hiện tại:"),
    ("lab.try", "Thử ngưỡng này"),
    ("lab.apply", "Áp dụng ngưỡng này"),
    (
        "lab.applied",
        "Đã áp dụng ngưỡng mới (ghi vào nhật ký kiểm tra). Phiên bản chính sách:",
    ),
    (
        "lab.conflict",
        "Không áp dụng: chính sách đã được người khác thay đổi sau khi bạn mở trang. Không có gì thay đổi. Thay đổi gần nhất:",
    ),
    (
        "lab.invalid",
        "Không áp dụng: có giá trị không hợp lệ, xem chú thích cạnh từng ô.",
    ),
    ("lab.not_a_number", "Hãy nhập một số từ 0 đến 1, ví dụ 0.5."),
    ("lab.range", "Ngưỡng phải nằm trong khoảng từ 0 đến 1."),
    (
        "lab.order",
        "Ngưỡng đăng không được lớn hơn ngưỡng từ chối.",
    ),
    (
        "lab.chart",
        "Biểu đồ điểm spam theo nhãn, với ngưỡng hiện tại (nét đứt) và ngưỡng thử (nét liền)",
    ),
    ("lab.axis", "Điểm spam"),
    ("lab.series.spam", "spam"),
    ("lab.series.abusive", "lăng mạ"),
    ("lab.series.ham", "hợp lệ, lạc đề"),
    ("lab.series.unlabelled", "chưa gán nhãn"),
    ("lab.current_approve", "ngưỡng đăng hiện tại"),
    ("lab.current_reject", "ngưỡng từ chối hiện tại"),
    ("lab.candidate_approve", "ngưỡng đăng đang thử"),
    ("lab.candidate_reject", "ngưỡng từ chối đang thử"),
    ("lab.legend_current", "hiện tại"),
    ("lab.legend_candidate", "đang thử"),
    ("lab.outcome", "Kết quả"),
    ("lab.before", "Trước"),
    ("lab.after", "Sau"),
    ("lab.change", "Thay đổi"),
    ("lab.published", "Được đăng"),
    ("lab.held", "Giữ lại chờ duyệt"),
    ("lab.rejected", "Bị từ chối"),
    ("lab.spam_published", "Spam (theo nhãn) bị đăng"),
    (
        "lab.ham_rejected",
        "Bình luận hợp lệ (theo nhãn) bị từ chối",
    ),
    ("lab.replayed", "Số bình luận chạy lại:"),
    ("lab.labelled", "có nhãn:"),
    (
        "lab.workload",
        "Thay đổi khối lượng việc của kiểm duyệt viên:",
    ),
    ("action.REVIEW", "kiểm duyệt"),
    ("actor.auto", "hệ thống (tự động)"),
    ("actor.reader", "bạn đọc"),
    ("action.OVERTURN", "sửa quyết định"),
    ("action.TAKEOVER", "nhận thay"),
    ("action.POLICY_UPDATE", "sửa chính sách"),
    ("action.POLICY_SITES", "đổi danh sách trang"),
    ("action.MODEL_ACTIVATE", "bật mô hình"),
    ("action.MODEL_ROLLBACK", "quay lại mô hình trước"),
    ("label.short.spam", "spam"),
    ("label.short.abusive", "lăng mạ"),
    ("label.short.off_topic", "lạc đề"),
    ("label.short.ham", "hợp lệ"),
];

/// English.
pub const EN: &[(&str, &str)] = &[
    ("app", "moderato — moderation console"),
    ("skip_to_main", "Skip to main content"),
    ("nav.queue", "Review queue"),
    ("nav.ops", "Operations"),
    ("nav.signed_in_as", "Signed in as"),
    ("nav.sign_out", "Sign out"),
    ("nav.language", "Language"),
    ("nav.switch_lang", "Tiếng Việt"),
    ("role.moderator", "moderator"),
    ("role.ops", "ops"),
    ("login.title", "Sign in"),
    ("login.token", "Moderator or ops access token"),
    ("login.lang", "Interface language"),
    ("login.submit", "Sign in"),
    (
        "login.bad_token",
        "This token is wrong, or it is not a moderator or ops token.",
    ),
    ("login.signed_out", "You are signed out."),
    ("lang.vi", "Tiếng Việt"),
    ("lang.en", "English"),
    ("queue.title", "Review queue"),
    ("queue.site", "Site"),
    ("queue.count", "Comments to claim"),
    ("queue.claim", "Claim comments to review"),
    (
        "queue.empty",
        "You hold no comment of this site. Pick a site and press “Claim comments to review”.",
    ),
    (
        "queue.nothing_held",
        "No comment of this site is waiting for review.",
    ),
    ("queue.claimed", "Comments claimed:"),
    ("queue.name", "Author"),
    ("queue.phone", "Phone"),
    ("queue.no_phone", "none"),
    ("queue.title_field", "Title"),
    ("queue.score", "Spam score"),
    ("queue.reasons", "Reasons"),
    ("queue.no_reasons", "No specific reason."),
    ("queue.history", "The author's history on this site"),
    ("queue.history_missing", "no data yet"),
    ("queue.lease", "Time left on your claim"),
    ("queue.lease_expired", "expired"),
    ("queue.approve", "Approve (a)"),
    ("queue.reject", "Reject (r)"),
    ("queue.skip", "Skip (s)"),
    ("queue.select", "Select this comment (x)"),
    ("queue.label", "Label when rejecting"),
    ("queue.bulk", "With the selected comments"),
    ("queue.bulk_approve", "Approve the selected comments"),
    ("queue.bulk_reject", "Reject the selected comments"),
    ("queue.undo", "Undo"),
    ("queue.undo_label", "Label when undoing an approval"),
    ("queue.approved", "Comment approved."),
    ("queue.rejected", "Comment rejected."),
    ("queue.skipped", "Comment given back to the queue."),
    (
        "queue.undone",
        "Decision undone (recorded in the audit log).",
    ),
    (
        "queue.undo_expired",
        "Too late to undo; correct the decision from the browse page.",
    ),
    ("queue.bulk_done", "Comments decided:"),
    ("queue.bulk_none", "You selected no comment."),
    (
        "queue.lease_lost",
        "You no longer hold this comment (your claim expired, or someone else took it). Nothing was changed. Claim new comments.",
    ),
    (
        "queue.bulk_lost",
        "Comments whose claim was lost, left unchanged:",
    ),
    (
        "queue.not_yours",
        "You did not claim this comment. Nothing was changed.",
    ),
    ("queue.error", "Could not do that:"),
    ("queue.shortcuts_on", "Keyboard shortcuts on"),
    ("queue.help_button", "Shortcuts (?)"),
    ("help.title", "Keyboard shortcuts"),
    ("help.j", "j — next comment"),
    ("help.k", "k — previous comment"),
    ("help.a", "a — approve the current comment"),
    (
        "help.r",
        "r — reject with the label chosen in “Label when rejecting”",
    ),
    ("help.s", "s — skip: give it back to the queue"),
    ("help.x", "x — select it for a bulk decision"),
    ("help.u", "u — undo the last decision"),
    ("help.q", "? — open or close this panel"),
    (
        "help.mods",
        "Shortcuts never fire while Ctrl, Alt or Meta is held, or while typing in a field. Turn them off with “Keyboard shortcuts on”.",
    ),
    ("help.close", "Close"),
    ("label.spam", "Spam, advertising"),
    ("label.abusive", "Abusive"),
    ("label.off_topic", "Off-topic"),
    ("label.ham", "Legitimate"),
    ("status.PENDING_REVIEW", "waiting for review"),
    ("status.PUBLISHED", "published"),
    ("status.REJECTED", "rejected"),
    (
        "csrf.refused",
        "This form's protection code is missing or stale, so it was refused. Nothing was changed. Reload the page and try again.",
    ),
    (
        "forbidden.ops",
        "This page is for ops only. Your token is a moderator token.",
    ),
    (
        "error.store",
        "The data store is not answering; try again in a moment.",
    ),
    ("error.invalid", "Invalid input:"),
    ("ops.title", "Operations"),
    ("ops.health", "Queue health"),
    ("ops.depth", "Waiting"),
    ("ops.claimed", "Claimed"),
    ("ops.oldest", "Oldest waiting comment (seconds)"),
    ("ops.per_hour", "Decisions in the last hour"),
    ("ops.audit", "Audit log"),
    ("ops.audit_at", "When"),
    ("ops.audit_actor", "Who"),
    ("ops.audit_action", "Action"),
    ("ops.audit_target", "Target"),
    ("ops.audit_note", "Note"),
    ("ops.audit_empty", "No entry yet."),
    ("ops.show", "Show"),
    ("ops.models", "Models"),
    ("ops.model_version", "Version"),
    ("ops.model_metrics", "Evaluation"),
    ("ops.model_active", "Active for"),
    ("ops.model_global", "global default"),
    ("ops.activate", "Use for this site"),
    ("ops.rollback", "Roll this site back to its previous model"),
    (
        "ops.model_changed",
        "The site's model changed (recorded in the audit log):",
    ),
    (
        "ops.no_previous",
        "This site has no previous model to roll back to. Nothing was changed.",
    ),
    (
        "ops.unknown_model",
        "No such model in the models directory:",
    ),
    ("ops.bootstrap", "Bootstrap"),
    ("ops.boot_labels", "Labels collected"),
    ("ops.boot_required", "Labels required (0: off)"),
    ("ops.boot_ready", "Enough to train a site model"),
    ("ops.yes", "yes"),
    ("ops.no", "not yet"),
    ("nav.browse", "Browse"),
    ("browse.title", "Decided comments"),
    ("browse.status", "Status"),
    ("browse.label", "Label"),
    ("browse.any", "any"),
    ("browse.min", "Score from"),
    ("browse.max", "Score to"),
    ("browse.author", "Author's name contains"),
    ("browse.from", "Decided from"),
    ("browse.to", "to"),
    ("browse.filter", "Filter"),
    ("browse.decided", "Decided at"),
    ("browse.none", "No comment matches these filters."),
    ("browse.prev", "← Previous page"),
    ("browse.next", "Next page →"),
    ("browse.page", "Page"),
    ("browse.bad_score", "A score is a number from 0 to 1."),
    ("browse.events", "Status changes"),
    ("browse.audit", "The comment's audit entries"),
    ("browse.overturn", "Overturn"),
    ("browse.overturn_publish", "Publish this comment"),
    ("browse.overturn_reject", "Reject this comment"),
    ("browse.note", "Note (for the audit log)"),
    (
        "browse.overturned",
        "Decision overturned (recorded in the audit log).",
    ),
    (
        "browse.changed",
        "The comment changed status since you opened this page. Nothing was changed; look again.",
    ),
    (
        "browse.not_yours",
        "Only the moderator who decided (to undo) or ops may overturn this decision. Decided by:",
    ),
    ("kind.AUTOMATIC", "automatic"),
    ("kind.REVIEW", "review"),
    ("kind.OVERTURN", "overturn"),
    ("nav.lab", "Threshold lab"),
    ("lab.title", "Threshold lab"),
    (
        "lab.intro",
        "Spam scores of the last 7 days of comments, split by the moderators' labels. Move the thresholds to see how many comments would be published, held and rejected, then apply them with one click.",
    ),
    ("lab.approve", "Publish below score"),
    ("lab.reject", "Reject from score"),
    ("lab.current", "Current:"),
    ("lab.try", "Try these thresholds"),
    ("lab.apply", "Apply these thresholds"),
    (
        "lab.applied",
        "New thresholds applied (recorded in the audit log). Policy version:",
    ),
    (
        "lab.conflict",
        "Not applied: someone changed the policy after you opened this page. Nothing was changed. Latest change:",
    ),
    (
        "lab.invalid",
        "Not applied: some values are invalid, see the notes next to each field.",
    ),
    (
        "lab.not_a_number",
        "Enter a number from 0 to 1, for example 0.5.",
    ),
    ("lab.range", "A threshold lies between 0 and 1."),
    (
        "lab.order",
        "The publish threshold must not exceed the reject threshold.",
    ),
    (
        "lab.chart",
        "Spam scores by label, with the current thresholds (dashed) and the candidate ones (solid)",
    ),
    ("lab.axis", "Spam score"),
    ("lab.series.spam", "spam"),
    ("lab.series.abusive", "abusive"),
    ("lab.series.ham", "legitimate, off-topic"),
    ("lab.series.unlabelled", "unlabelled"),
    ("lab.current_approve", "current publish threshold"),
    ("lab.current_reject", "current reject threshold"),
    ("lab.candidate_approve", "candidate publish threshold"),
    ("lab.candidate_reject", "candidate reject threshold"),
    ("lab.legend_current", "current"),
    ("lab.legend_candidate", "candidate"),
    ("lab.outcome", "Outcome"),
    ("lab.before", "Before"),
    ("lab.after", "After"),
    ("lab.change", "Change"),
    ("lab.published", "Published"),
    ("lab.held", "Held for review"),
    ("lab.rejected", "Rejected"),
    ("lab.spam_published", "Labelled spam published"),
    ("lab.ham_rejected", "Labelled legitimate rejected"),
    ("lab.replayed", "Comments replayed:"),
    ("lab.labelled", "labelled:"),
    ("lab.workload", "Change in the moderators' workload:"),
    ("action.REVIEW", "review"),
    ("actor.auto", "system (automatic)"),
    ("actor.reader", "reader"),
    ("action.OVERTURN", "overturn"),
    ("action.TAKEOVER", "takeover"),
    ("action.POLICY_UPDATE", "policy change"),
    ("action.POLICY_SITES", "site list change"),
    ("action.MODEL_ACTIVATE", "model activation"),
    ("action.MODEL_ROLLBACK", "model rollback"),
    ("label.short.spam", "spam"),
    ("label.short.abusive", "abusive"),
    ("label.short.off_topic", "off-topic"),
    ("label.short.ham", "legitimate"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_have_the_same_keys_and_no_empty_string() {
        fn keys(c: &[(&'static str, &'static str)]) -> Vec<&'static str> {
            let mut k: Vec<&'static str> = c.iter().map(|(k, _)| *k).collect();
            k.sort_unstable();
            k
        }
        assert_eq!(keys(VI), keys(EN));
        for (k, v) in VI.iter().chain(EN) {
            assert!(!v.trim().is_empty(), "{k} is empty");
        }
        let mut k = keys(VI);
        let n = k.len();
        k.dedup();
        assert_eq!(k.len(), n, "a key appears twice");
    }
}
