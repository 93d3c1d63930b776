//! The web console in a real browser: Chromium driven over WebDriver (fantoccini), with chromedriver started on a
//! free port by each test, against an in-process moderato on the memory store and on Redis. Every test saves a
//! screenshot under `target/console-screenshots/`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use moderato::config::Config;
use moderato::proto::comment_service_client::CommentServiceClient;
use moderato::proto::moderation_service_client::ModerationServiceClient;
use moderato::proto::{
    Author, Client as WireClient, CommentStatus, SubmitCommentRequest, TakeOverClaimRequest,
};
use moderato::rate_limit::{Descriptor, LimitRule};
use moderato::review::{DecisionKind, Label, Status};

use crate::harness::{
    Backend, MODERATOR_TOKEN, MODERATOR2_TOKEN, OPS_TOKEN, PORTAL_TOKEN, TestApp, authed,
    free_port, spawn_app,
};

/// Runs a browser test on the memory store and on Redis.
macro_rules! in_the_browser {
    ($name:ident, $body:ident) => {
        mod $name {
            use $crate::harness::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$body(Backend::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$body(Backend::Redis).await
            }
        }
    };
}

const INSTALL: &str = "chromium and chromedriver are needed: apt-get install -y chromium chromium-driver \
                       fonts-noto-core (scripts/test.sh does it)";

/// A chromedriver process on a free port and one headless Chromium session; the driver is killed on drop.
struct Browser {
    client: Option<Client>,
    driver: Child,
}

impl Browser {
    async fn open(width: u32, height: u32) -> Browser {
        let port = free_port(false);
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}). {INSTALL}"));
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), "--lang=vi"],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let mut b =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            match b.capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "no WebDriver session: {e}. {INSTALL}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Browser {
            client: Some(client),
            driver,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("open session")
    }

    async fn goto(&self, url: &str) {
        self.c().goto(url).await.expect("navigate");
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.c()
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    async fn has(&self, css: &str) -> bool {
        !self
            .c()
            .find_all(Locator::Css(css))
            .await
            .expect("find all")
            .is_empty()
    }

    async fn source(&self) -> String {
        self.c().source().await.expect("source")
    }

    /// Saves a PNG under `target/console-screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.c().screenshot().await.expect("screenshot");
        let dir = std::env::var("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Presses one key with nothing focused but the page (a single key, no modifier).
    async fn key(&self, k: &str) {
        self.find("body").await.send_keys(k).await.expect("key");
    }

    /// Marks the current document, so [`Browser::wait_new_page`] can tell when another one has loaded.
    async fn mark(&self) {
        self.c()
            .execute("window.__moderato_old_page = true;", vec![])
            .await
            .expect("mark");
    }

    /// True while the document [`Browser::mark`] marked is still the one shown and no navigation away from it has
    /// begun (a form submitted from it unloads it).
    async fn still_marked(&self) -> bool {
        self.c()
            .execute(
                "return window.__moderato_old_page === true && !window.__moderato_unloading;",
                vec![],
            )
            .await
            .expect("read mark")
            .as_bool()
            .unwrap_or(false)
    }

    /// Waits until the marked document was replaced by a fully loaded one.
    async fn wait_new_page(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = self
                .c()
                .execute(
                    "return window.__moderato_old_page === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if done {
                return;
            }
            assert!(Instant::now() < deadline, "no new page loaded");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Presses a key that submits a form, and waits for the answer page.
    async fn key_nav(&self, k: &str) {
        self.mark().await;
        self.key(k).await;
        self.wait_new_page().await;
    }

    /// Clicks a button that submits a form, and waits for the answer page.
    async fn click_nav(&self, css: &str) {
        let e = self.find(css).await;
        self.mark().await;
        e.click().await.expect("click");
        self.wait_new_page().await;
    }

    async fn sign_in(&self, app: &TestApp, token: &str) {
        self.goto(&format!("{}/console/login", app.http_base()))
            .await;
        self.find("#token")
            .await
            .send_keys(token)
            .await
            .expect("type token");
        self.click_nav("#sign-in").await;
        self.find("#who").await;
    }

    async fn claim(&self, site: &str, n: u32) {
        let s = self.find("#site").await;
        s.clear().await.expect("clear");
        s.send_keys(site).await.expect("site");
        let n_box = self.find("#n").await;
        n_box.clear().await.expect("clear");
        n_box.send_keys(&n.to_string()).await.expect("n");
        self.click_nav("#claim").await;
        self.find("#flash").await;
    }

    /// The ids of the comments shown, in order.
    async fn items(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in self
            .c()
            .find_all(Locator::Css("article.item"))
            .await
            .expect("items")
        {
            out.push(e.attr("data-id").await.expect("attr").expect("data-id"));
        }
        out
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn premoderated(c: &mut Config) {
    c.captcha.required = false;
    c.policy.premoderate_all = true;
    c.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
}

const BODIES: &[&str] = &[
    "Tôi thấy bài viết rất hữu ích, cảm ơn tác giả đã phân tích kỹ lưỡng.",
    "Vay tiền nhanh trong ngày, lãi suất thấp, liên hệ Zalo 0912345678 để được hỗ trợ.",
    "Giá nhà ở Thủ Đức tăng quá nhanh, người trẻ khó mua được căn hộ đầu tiên.",
    "Đội tuyển chơi rất hay, hàng thủ chắc chắn hơn mùa trước nhiều.",
];

/// `n` held comments on site `hcm`, oldest first.
async fn held(app: &TestApp, n: usize) -> Vec<String> {
    let mut client = CommentServiceClient::new(app.channel().await);
    let mut ids = Vec::new();
    for i in 0..n {
        let r = client
            .submit_comment(authed(
                PORTAL_TOKEN,
                SubmitCommentRequest {
                    site: "hcm".into(),
                    thread_id: "t1".into(),
                    idempotency_key: format!("console-{i}"),
                    author: Some(Author {
                        name: "Nguyễn Thị Hồng".into(),
                        phone: "0987654321".into(),
                        email: String::new(),
                    }),
                    title: format!("Ý kiến số {}", i + 1),
                    body: BODIES[i % BODIES.len()].into(),
                    client: Some(WireClient {
                        ip: format!("203.0.113.{}", i + 1),
                        user_agent: String::new(),
                    }),
                    captcha: None,
                },
            ))
            .await
            .expect("submit")
            .into_inner();
        assert_eq!(r.status, CommentStatus::PendingReview as i32);
        ids.push(r.comment_id);
        // Claims take the oldest first: keep submission times apart.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    ids
}

async fn status(app: &TestApp, id: &str) -> (Status, Option<moderato::review::Event>) {
    let c = app
        .store
        .get_comment("hcm", id)
        .await
        .expect("store")
        .expect("comment");
    (c.status, c.history.last().cloned())
}

async fn signing_in_and_out(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let b = Browser::open(1280, 800).await;
    b.goto(&format!("{}/console/queue", app.http_base())).await;
    // Not signed in: the sign-in page, in Vietnamese.
    assert_eq!(b.text("h1").await, "Đăng nhập");
    b.find("#token")
        .await
        .send_keys("not-a-token")
        .await
        .expect("type");
    b.click_nav("#sign-in").await;
    assert!(
        b.text("#login-error")
            .await
            .contains("Mã truy cập không đúng")
    );
    // A portal token is a real token but not a console one.
    b.find("#token")
        .await
        .send_keys(PORTAL_TOKEN)
        .await
        .expect("type");
    b.click_nav("#sign-in").await;
    assert!(b.has("#login-error").await);
    b.sign_in(&app, MODERATOR_TOKEN).await;
    assert_eq!(b.text("#who").await, "moderator-test");
    assert!(!b.has("#nav-ops").await, "a moderator sees no ops link");
    b.screenshot("signed-in").await;
    // English is a switch.
    b.click_nav("#switch-lang").await;
    assert_eq!(b.text("h1").await, "Review queue");
    b.click_nav("#sign-out").await;
    assert_eq!(b.text("#notice").await, "You are signed out.");
    // The session is gone: the queue page sends back to sign-in.
    b.goto(&format!("{}/console/queue", app.http_base())).await;
    assert!(b.has("#token").await);
    b.screenshot("signed-out").await;
    b.close().await;
}
in_the_browser!(sign_in_and_out, signing_in_and_out);

async fn claiming_and_approving_with_the_keyboard(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 4).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 3).await;
    assert_eq!(b.items().await, ids[..3].to_vec());
    let page = b.source().await;
    // Diacritics intact, the phone partly masked, reasons in words, and a running lease countdown.
    assert_eq!(
        b.text(&format!("#item-{} .body", ids[1])).await,
        BODIES[1],
        "body with diacritics shown"
    );
    assert!(page.contains("098•••••21"), "phone masked");
    assert!(
        !page.contains("0987654321"),
        "the full phone is never shown"
    );
    assert!(page.contains("trang duyệt trước mọi bình luận"));
    // Every reason in the catalogue's words: the combiner's English description of a signal never shows.
    assert!(
        page.contains("nội dung tiếng Việt"),
        "the language signal in words"
    );
    assert!(
        !page.contains("accent-stripped"),
        "no English signal description on a Vietnamese page"
    );
    assert!(b.text("article.current .lease").await.contains(':'));
    b.screenshot("queue").await;
    // ? opens the help, and ? closes it.
    b.key("?").await;
    assert!(
        b.find("#help")
            .await
            .is_displayed()
            .await
            .expect("displayed")
    );
    b.screenshot("queue-help").await;
    b.key("?").await;
    assert!(
        !b.find("#help")
            .await
            .is_displayed()
            .await
            .expect("displayed")
    );
    // A key with a modifier held does nothing: no form is submitted (the page is not left), and the comment is
    // still held.
    b.mark().await;
    b.c()
        .execute(
            "window.addEventListener('beforeunload', () => { window.__moderato_unloading = true; });",
            vec![],
        )
        .await
        .expect("watch unload");
    b.find("body")
        .await
        .send_keys(&format!("{}a{}", '\u{E009}', '\u{E000}'))
        .await
        .expect("ctrl+a");
    // j moves to the second comment; a approves it.
    b.key("j").await;
    assert!(b.still_marked().await, "ctrl+a left the page");
    assert_eq!(status(&app, &ids[0]).await.0, Status::PendingReview);
    assert_eq!(
        b.find("article.current")
            .await
            .attr("data-id")
            .await
            .expect("attr")
            .as_deref(),
        Some(ids[1].as_str())
    );
    b.key_nav("a").await;
    assert_eq!(b.text("#flash").await, "Đã duyệt bình luận.");
    let (s, last) = status(&app, &ids[1]).await;
    assert_eq!(s, Status::Published);
    let last = last.expect("event");
    assert_eq!(
        (last.kind, last.actor.as_str()),
        (DecisionKind::Review, "moderator-test")
    );
    assert_eq!(b.items().await, vec![ids[0].clone(), ids[2].clone()]);
    b.screenshot("queue-approved").await;
    // The same page at phone width.
    b.c().set_window_size(390, 844).await.expect("resize");
    b.screenshot("queue-phone").await;
    b.close().await;
}
in_the_browser!(
    claim_and_approve_with_keys,
    claiming_and_approving_with_the_keyboard
);

async fn rejecting_with_a_label(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 2).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 2).await;
    let sel = format!("#label-{}", ids[1]);
    b.find(&sel)
        .await
        .select_by_value("abusive")
        .await
        .expect("label");
    b.click_nav(&format!("#item-{} button.reject", ids[1]))
        .await;
    assert_eq!(b.text("#flash").await, "Đã từ chối bình luận.");
    let (s, last) = status(&app, &ids[1]).await;
    assert_eq!(s, Status::Rejected);
    assert_eq!(last.expect("event").label, Label::Abusive.as_str());
    assert_eq!(status(&app, &ids[0]).await.0, Status::PendingReview);
    b.screenshot("rejected-with-label").await;
    // No label is chosen for the other: r does not reject it, it lands on its label box; an arrow chooses the
    // first label and Enter rejects with it.
    let sel = format!("label-{}", ids[0]);
    assert_eq!(
        b.find(&format!("#{sel}"))
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some(""),
        "no label chosen in advance"
    );
    b.mark().await;
    b.key("r").await;
    let focused = b
        .c()
        .execute("return document.activeElement.id;", vec![])
        .await
        .expect("focus");
    assert_eq!(focused.as_str(), Some(sel.as_str()));
    assert!(b.still_marked().await, "r without a label submitted");
    assert_eq!(status(&app, &ids[0]).await.0, Status::PendingReview);
    let select = b.find(&format!("#{sel}")).await;
    select.send_keys("\u{E015}").await.expect("arrow down");
    select.send_keys("\u{E007}").await.expect("enter");
    b.wait_new_page().await;
    let (s, last) = status(&app, &ids[0]).await;
    assert_eq!(s, Status::Rejected);
    assert_eq!(last.expect("event").label, Label::Spam.as_str());
    b.close().await;
}
in_the_browser!(reject_with_label, rejecting_with_a_label);

async fn two_moderators_never_see_the_same_item(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 4).await;
    let one = Browser::open(1280, 800).await;
    let two = Browser::open(1280, 800).await;
    one.sign_in(&app, MODERATOR_TOKEN).await;
    two.sign_in(&app, MODERATOR2_TOKEN).await;
    one.claim("hcm", 2).await;
    two.claim("hcm", 5).await;
    let (a, b) = (one.items().await, two.items().await);
    assert_eq!(a, ids[..2].to_vec());
    assert_eq!(b, ids[2..].to_vec());
    // Reloading keeps each one's own items.
    one.goto(&format!("{}/console/queue?site=hcm", app.http_base()))
        .await;
    assert_eq!(one.items().await, a);
    two.screenshot("second-moderator").await;
    one.close().await;
    two.close().await;
}
in_the_browser!(two_moderators, two_moderators_never_see_the_same_item);

async fn a_decision_on_a_lost_lease_says_so_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 1).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 1).await;
    // A colleague takes the comment over while the page is open.
    ModerationServiceClient::new(app.channel().await)
        .take_over_claim(authed(
            MODERATOR2_TOKEN,
            TakeOverClaimRequest {
                site: "hcm".into(),
                comment_id: ids[0].clone(),
                lease_seconds: 600,
                note: "covering a shift".into(),
            },
        ))
        .await
        .expect("take over");
    b.key_nav("a").await;
    assert!(
        b.text("#flash")
            .await
            .starts_with("Bạn không còn giữ bình luận này"),
        "the lost lease is said in words"
    );
    assert_eq!(status(&app, &ids[0]).await.0, Status::PendingReview);
    assert!(b.items().await.is_empty(), "the lost item leaves the page");
    b.screenshot("lost-lease").await;
    b.close().await;
}
in_the_browser!(
    lost_lease,
    a_decision_on_a_lost_lease_says_so_and_changes_nothing
);

async fn bulk_rejecting_selected_comments(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 3).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 3).await;
    assert_eq!(
        b.text("#bulk-count").await,
        "Chưa chọn bình luận nào (x để chọn)"
    );
    // x selects the first, j then x the second.
    b.key("x").await;
    b.key("j").await;
    b.key("x").await;
    assert_eq!(b.text("#bulk-count").await, "Đã chọn 2 bình luận");
    // Without a label, a bulk rejection is not sent.
    b.mark().await;
    b.find("#bulk-reject").await.click().await.expect("click");
    assert!(
        b.still_marked().await,
        "a bulk rejection without a label was sent"
    );
    assert_eq!(status(&app, &ids[0]).await.0, Status::PendingReview);
    b.find("#bulk-label")
        .await
        .select_by_value("off_topic")
        .await
        .expect("label");
    b.screenshot("bulk-selected").await;
    b.click_nav("#bulk-reject").await;
    assert_eq!(b.text("#flash").await, "Số bình luận đã xử lý: 2");
    for id in &ids[..2] {
        let (s, last) = status(&app, id).await;
        assert_eq!(s, Status::Rejected);
        assert_eq!(last.expect("event").label, Label::OffTopic.as_str());
    }
    assert_eq!(status(&app, &ids[2]).await.0, Status::PendingReview);
    assert_eq!(b.items().await, vec![ids[2].clone()]);
    b.close().await;
}
in_the_browser!(bulk_reject, bulk_rejecting_selected_comments);

async fn undoing_a_decision(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 2).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 2).await;
    b.find(&format!("#label-{}", ids[0]))
        .await
        .select_by_value("spam")
        .await
        .expect("label");
    b.key_nav("r").await;
    assert_eq!(status(&app, &ids[0]).await.0, Status::Rejected);
    b.screenshot("undo-offered").await;
    b.key_nav("u").await;
    assert_eq!(
        b.text("#flash").await,
        "Đã hoàn tác quyết định (được ghi vào nhật ký kiểm tra)."
    );
    let (s, last) = status(&app, &ids[0]).await;
    assert_eq!(s, Status::Published);
    let last = last.expect("event");
    assert_eq!(
        (last.kind, last.actor.as_str()),
        (DecisionKind::Overturn, "moderator-test")
    );
    assert!(!b.has("#undo-form").await, "an undo is done once");
    // The overturn is in the audit log, which ops read in the console.
    b.click_nav("#sign-out").await;
    b.sign_in(&app, OPS_TOKEN).await;
    b.goto(&format!("{}/console/ops?site=hcm", app.http_base()))
        .await;
    let audit = b.text("#audit").await;
    assert!(
        audit.contains(&ids[0]) && audit.contains("sửa quyết định"),
        "{audit}"
    );
    b.screenshot("ops-audit").await;
    b.close().await;
}
in_the_browser!(undo, undoing_a_decision);

async fn a_form_without_its_csrf_token_is_refused(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    held(&app, 2).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    // The claim form, posted with its token removed.
    b.find("#site").await.send_keys("hcm").await.expect("site");
    b.c()
        .execute(
            "document.querySelector('form.claim input[name=csrf]').remove();",
            vec![],
        )
        .await
        .expect("script");
    b.click_nav("#claim").await;
    assert!(b.text("#message").await.contains("thiếu mã bảo vệ"));
    assert_eq!(
        app.store.queue_stats("hcm").await.expect("stats").claimed,
        0
    );
    b.screenshot("csrf-refused").await;
    // A wrong token is refused the same way.
    b.goto(&format!("{}/console/queue", app.http_base())).await;
    b.find("#site").await.send_keys("hcm").await.expect("site");
    b.c()
        .execute(
            "document.querySelector('form.claim input[name=csrf]').value = '00112233445566778899aabbccddeeff';",
            vec![],
        )
        .await
        .expect("script");
    b.click_nav("#claim").await;
    assert!(b.text("#message").await.contains("thiếu mã bảo vệ"));
    assert_eq!(
        app.store.queue_stats("hcm").await.expect("stats").claimed,
        0
    );
    b.close().await;
}
in_the_browser!(csrf_refusal, a_form_without_its_csrf_token_is_refused);

async fn a_moderator_cannot_open_ops_pages(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    held(&app, 1).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.goto(&format!("{}/console/ops?site=hcm", app.http_base()))
        .await;
    assert!(b.text("#message").await.contains("chỉ dành cho vận hành"));
    assert!(!b.has("#depth").await);
    b.screenshot("ops-refused").await;
    b.goto(&format!("{}/console/lab?site=hcm", app.http_base()))
        .await;
    assert!(b.text("#message").await.contains("chỉ dành cho vận hành"));
    assert!(!b.has("#lab-apply").await);
    b.goto(&format!("{}/console/policy?site=hcm", app.http_base()))
        .await;
    assert!(b.text("#message").await.contains("chỉ dành cho vận hành"));
    assert!(!b.has("#policy-save").await);
    assert!(
        !b.has("#nav-policy").await,
        "no policy link for a moderator"
    );
    b.click_nav("#sign-out").await;
    b.sign_in(&app, OPS_TOKEN).await;
    assert!(b.has("#nav-ops").await);
    b.goto(&format!("{}/console/ops?site=hcm", app.http_base()))
        .await;
    assert_eq!(b.text("#depth").await, "1");
    // The day's decisions by hour: 24 bars, none decided yet.
    assert_eq!(
        b.c()
            .find_all(Locator::Css("#hours svg rect.hour"))
            .await
            .expect("bars")
            .len(),
        24
    );
    assert!(b.source().await.contains("Tổng cộng: 0;"));
    b.screenshot("ops-health").await;
    // Models: activate one for the site, then roll the site back; both audited.
    let row = b.find("#models tbody tr").await;
    let version = row
        .attr("data-version")
        .await
        .expect("attr")
        .expect("version");
    assert!(!b.text("#models .active-for").await.contains("hcm"));
    b.click_nav("#models button.activate").await;
    assert!(
        b.text("#flash")
            .await
            .starts_with("Đã đổi mô hình của trang"),
        "activated"
    );
    assert!(b.text("#models .active-for").await.contains("hcm"));
    assert!(b.text("#audit").await.contains("bật mô hình"));
    b.click_nav("#rollback").await;
    // The site pinned the version the global default uses: rolling back, it follows the global model again.
    let flash = b.text("#flash").await;
    assert!(
        flash.starts_with("Trang này giờ theo mô hình chung") && flash.ends_with(&version),
        "{flash}"
    );
    assert!(
        !b.text("#models .active-for").await.contains("hcm"),
        "{version} no longer pinned"
    );
    b.screenshot("ops-models").await;
    b.close().await;
}
in_the_browser!(ops_pages_by_role, a_moderator_cannot_open_ops_pages);

/// Everything held by the score alone (publish below 0, reject from 1), so the lab has room to move.
fn all_held_by_score(c: &mut Config) {
    c.captcha.required = false;
    c.policy.approve_below = 0.0;
    c.policy.reject_at = 1.0;
    c.policy.use_lexicon = false;
    c.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
}

/// The lab's "after" column for row `i` (0 published, 1 held, 2 rejected).
async fn after(b: &Browser, i: usize) -> u64 {
    b.text(&format!("#counts tbody tr:nth-child({}) td.after", i + 1))
        .await
        .parse()
        .expect("a count")
}

async fn set_thresholds(b: &Browser, approve: &str, reject: &str) {
    for (id, v) in [("#approve", approve), ("#reject", reject)] {
        let e = b.find(id).await;
        e.clear().await.expect("clear");
        e.send_keys(v).await.expect("type");
    }
    b.click_nav("#lab-try").await;
}

async fn the_threshold_lab_changes_counts_and_applies(backend: Backend) {
    let app = spawn_app(backend, all_held_by_score).await;
    let ids = held(&app, 4).await;
    // One moderator label, so the histogram has a labelled series.
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 2).await;
    b.find(&format!("#label-{}", ids[1]))
        .await
        .select_by_value("spam")
        .await
        .expect("label");
    b.click_nav(&format!("#item-{} button.reject", ids[1]))
        .await;
    b.click_nav(&format!("#item-{} button.approve", ids[0]))
        .await;
    b.click_nav("#sign-out").await;
    b.sign_in(&app, OPS_TOKEN).await;
    b.goto(&format!("{}/console/lab?site=hcm", app.http_base()))
        .await;
    assert_eq!(b.text("#replayed").await, "4");
    // As things stand everything is held.
    assert_eq!((after(&b, 0).await, after(&b, 1).await), (0, 4));
    assert!(b.has("figure.chart svg").await);
    set_thresholds(&b, "0.5", "0.9").await;
    let published = after(&b, 0).await;
    assert!(published >= 1, "low scores would be published");
    assert_eq!(after(&b, 1).await + after(&b, 2).await + published, 4);
    assert!(b.text("#workload").await.starts_with('-'));
    b.screenshot("threshold-lab").await;
    b.click_nav("#lab-apply").await;
    assert!(b.text("#flash").await.starts_with("Đã áp dụng ngưỡng mới"));
    let view = app.policies.view("hcm").await.expect("view");
    assert_eq!(
        (view.policy.approve_below, view.policy.reject_at),
        (0.5, 0.9)
    );
    b.close().await;
}
in_the_browser!(threshold_lab, the_threshold_lab_changes_counts_and_applies);

async fn a_policy_edit_with_an_invalid_value_is_shown_next_to_the_field(backend: Backend) {
    let app = spawn_app(backend, all_held_by_score).await;
    held(&app, 1).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, OPS_TOKEN).await;
    b.goto(&format!("{}/console/lab?site=hcm", app.http_base()))
        .await;
    set_thresholds(&b, "0.95", "0.5").await;
    // The pair is still simulated, but the domain would refuse it: nothing to apply, and why beside the field.
    assert!(!b.has("#lab-apply").await, "an invalid pair offers apply");
    assert!(b.has("#lab-cannot-apply").await);
    assert_eq!(
        b.text("#approve-note").await,
        "Ngưỡng đăng không được lớn hơn ngưỡng từ chối."
    );
    assert_eq!(
        b.find("#approve")
            .await
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );
    let view = app.policies.view("hcm").await.expect("view");
    assert_eq!(
        (view.policy.approve_below, view.policy.reject_at),
        (0.0, 1.0)
    );
    b.screenshot("policy-validation-error").await;
    // Posted anyway (a page opened before, a crafted form), the domain refuses it and says so.
    let csrf = b
        .find("input[name='csrf']")
        .await
        .prop("value")
        .await
        .expect("csrf")
        .expect("token");
    b.c()
        .execute(
            "var f = document.createElement('form'); f.method = 'post'; f.action = '/console/lab/apply';
             for (const [k, v] of Object.entries(arguments[0])) {
               var i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
             }
             document.body.appendChild(f); window.__moderato_old_page = true; f.submit();",
            vec![serde_json::json!({
                "csrf": csrf, "site": "hcm", "version": "0", "approve": "0.95", "reject": "0.5"
            })],
        )
        .await
        .expect("post");
    b.wait_new_page().await;
    assert!(
        b.text("#flash")
            .await
            .starts_with("Không áp dụng: có giá trị không hợp lệ")
    );
    assert_eq!(
        b.text("#approve-note").await,
        "Ngưỡng đăng không được lớn hơn ngưỡng từ chối."
    );
    let view = app.policies.view("hcm").await.expect("view");
    assert_eq!(
        (view.policy.approve_below, view.policy.reject_at),
        (0.0, 1.0)
    );
    // A value that is not a number is refused in words too.
    set_thresholds(&b, "nửa", "0.9").await;
    assert_eq!(
        b.text("#approve-note").await,
        "Hãy nhập một số từ 0 đến 1, ví dụ 0.5."
    );
    b.close().await;
}
in_the_browser!(
    policy_validation,
    a_policy_edit_with_an_invalid_value_is_shown_next_to_the_field
);

async fn a_version_conflict_names_who_changed_the_policy(backend: Backend) {
    let app = spawn_app(backend, all_held_by_score).await;
    held(&app, 1).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, OPS_TOKEN).await;
    b.goto(&format!("{}/console/lab?site=hcm", app.http_base()))
        .await;
    set_thresholds(&b, "0.4", "0.95").await;
    // A colleague changes the policy while the page is open.
    let view = app.policies.view("hcm").await.expect("view");
    let mut p = (*view.policy).clone();
    p.approve_below = 0.2;
    app.policies
        .update("hcm", p, view.policy.version, &[], "ops-colleague")
        .await
        .expect("colleague's update");
    b.click_nav("#lab-apply").await;
    let flash = b.text("#flash").await;
    assert!(
        flash.starts_with("Không áp dụng: chính sách đã được người khác thay đổi"),
        "{flash}"
    );
    assert!(flash.contains("ops-colleague"), "{flash}");
    let view = app.policies.view("hcm").await.expect("view");
    assert_eq!(
        view.policy.approve_below, 0.2,
        "the colleague's change stands"
    );
    b.screenshot("policy-conflict").await;
    b.close().await;
}
in_the_browser!(
    policy_conflict,
    a_version_conflict_names_who_changed_the_policy
);

async fn matched_text_is_marked_and_the_authors_history_is_shown(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 3).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 3).await;
    // The loan pitch: its phone number and its words are marked, each with its reason in words.
    let marks = b
        .c()
        .find_all(Locator::Css(&format!("#item-{} .body mark", ids[1])))
        .await
        .expect("marks");
    assert!(!marks.is_empty(), "nothing marked in the loan pitch");
    let mut marked = String::new();
    for m in &marks {
        marked.push_str(&m.text().await.expect("text"));
        let why = m.attr("title").await.expect("attr").unwrap_or_default();
        assert!(!why.is_empty(), "a mark without its reason");
        assert!(
            !why.chars().any(|c| c == '_'),
            "a reason code instead of words: {why}"
        );
    }
    assert!(marked.contains("0912345678"), "{marked}");
    // The body reads as written, marks and all.
    assert_eq!(b.text(&format!("#item-{} .body", ids[1])).await, BODIES[1]);
    assert!(
        !b.has(&format!("#item-{} .body mark", ids[0])).await,
        "nothing to mark in a plain comment"
    );
    // The same reader (same phone) wrote all three.
    assert_eq!(
        b.text(&format!("#item-{} .history", ids[0])).await,
        "0 đã đăng, 0 bị từ chối, 2 đang chờ duyệt"
    );
    b.c()
        .execute(
            &format!(
                "document.getElementById('item-{}').scrollIntoView({{block: 'center'}});",
                ids[1]
            ),
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot("queue-marks").await;
    b.find(&format!("#label-{}", ids[1]))
        .await
        .select_by_value("spam")
        .await
        .expect("label");
    b.click_nav(&format!("#item-{} button.reject", ids[1]))
        .await;
    assert_eq!(
        b.text(&format!("#item-{} .history", ids[0])).await,
        "0 đã đăng, 1 bị từ chối, 1 đang chờ duyệt"
    );
    // The decided comment's page marks the same text.
    b.goto(&format!(
        "{}/console/comment?site=hcm&id={}",
        app.http_base(),
        ids[1]
    ))
    .await;
    assert!(b.has(".body mark").await);
    b.close().await;
}
in_the_browser!(
    marks_and_history,
    matched_text_is_marked_and_the_authors_history_is_shown
);

/// Controls without a label (no `label[for]`, no enclosing label, no aria-label(ledby), a button without text),
/// and how far the page is wider than the window.
async fn unlabelled_and_overflow(b: &Browser) -> (Vec<String>, i64) {
    let v = b
        .c()
        .execute(
            "const bad = [];
             for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
               const ok = (el.id && document.querySelector('label[for=\"' + el.id + '\"]'))
                 || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                 || (el.tagName === 'BUTTON' && el.textContent.trim());
               if (!ok) bad.push(el.outerHTML.slice(0, 100));
             }
             return [bad, document.documentElement.scrollWidth - window.innerWidth];",
            vec![],
        )
        .await
        .expect("audit");
    let bad = v[0]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (bad, v[1].as_i64().unwrap_or(i64::MAX))
}

async fn every_page_labels_its_controls_and_fits_a_phone(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 3).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, OPS_TOKEN).await;
    b.claim("hcm", 2).await;
    b.find(&format!("#label-{}", ids[0]))
        .await
        .select_by_value("spam")
        .await
        .expect("label");
    b.click_nav(&format!("#item-{} button.reject", ids[0]))
        .await;
    let base = app.http_base();
    let pages = [
        format!("{base}/console/queue?site=hcm"),
        format!("{base}/console/browse?site=hcm"),
        format!("{base}/console/comment?site=hcm&id={}", ids[0]),
        format!("{base}/console/ops?site=hcm"),
        format!("{base}/console/lab?site=hcm"),
        format!("{base}/console/policy?site=hcm"),
        format!("{base}/console/policy"),
    ];
    for (w, h) in [(1280, 800), (390, 844)] {
        b.c().set_window_size(w, h).await.expect("resize");
        for url in &pages {
            b.goto(url).await;
            b.find("main").await;
            let (bad, overflow) = unlabelled_and_overflow(&b).await;
            assert!(
                bad.is_empty(),
                "{url} at {w} px: controls without a label: {bad:?}"
            );
            assert!(
                overflow <= 0,
                "{url} at {w} px: {overflow} px wider than the window"
            );
        }
    }
    b.screenshot("policy-phone").await;
    b.close().await;
}
in_the_browser!(
    labels_and_phone_width,
    every_page_labels_its_controls_and_fits_a_phone
);

/// A moderator works a queue of 20 with the keyboard alone, as the ? help tells: Tab to the claim form, type
/// the site, Enter; then a to approve, r to reach the label box, an arrow and Enter to reject, s to skip.
async fn working_twenty_items_with_the_keyboard_alone(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 21).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    // The help says every key.
    b.key("?").await;
    let help = b.text("#help").await;
    for k in ["j —", "k —", "a —", "r —", "s —", "x —", "u —", "? —"] {
        assert!(help.contains(k), "{k} missing from the help: {help}");
    }
    b.key("?").await;
    // Claim 20 with the keyboard: the site box, the count box, Enter.
    let site = b.find("#site").await;
    site.send_keys("hcm").await.expect("site");
    let n = b.find("#n").await;
    n.clear().await.expect("clear");
    n.send_keys("20").await.expect("n");
    b.mark().await;
    n.send_keys("\u{E007}").await.expect("enter");
    b.wait_new_page().await;
    assert_eq!(b.items().await.len(), 20);
    let mut approved = 0;
    let mut rejected = 0;
    let mut skipped = 0;
    for i in 0..20 {
        let current = b.items().await[0].clone();
        match i % 3 {
            0 => {
                b.key_nav("a").await;
                approved += 1;
            }
            1 => {
                b.key("r").await;
                let focused = b
                    .c()
                    .execute("return document.activeElement.id;", vec![])
                    .await
                    .expect("focus");
                assert_eq!(focused.as_str(), Some(format!("label-{current}").as_str()));
                b.mark().await;
                let select = b.find(&format!("#label-{current}")).await;
                select.send_keys("\u{E015}").await.expect("arrow");
                select.send_keys("\u{E007}").await.expect("enter");
                b.wait_new_page().await;
                rejected += 1;
            }
            _ => {
                b.key_nav("s").await;
                skipped += 1;
            }
        }
        assert!(!b.items().await.contains(&current), "item {i} still shown");
    }
    assert!(b.items().await.is_empty());
    let mut counts = (0, 0, 0);
    for id in &ids {
        match status(&app, id).await.0 {
            Status::Published => counts.0 += 1,
            Status::Rejected => counts.1 += 1,
            Status::PendingReview => counts.2 += 1,
        }
    }
    // The 21st was never claimed; the skipped went back to the queue.
    assert_eq!(counts, (approved, rejected, skipped + 1));
    b.close().await;
}
in_the_browser!(
    twenty_by_keyboard,
    working_twenty_items_with_the_keyboard_alone
);

/// Replaces the text of a form field.
async fn fill(b: &Browser, css: &str, value: &str) {
    let e = b.find(css).await;
    e.clear().await.expect("clear");
    e.send_keys(value).await.expect("type");
}

async fn the_policy_editor_saves_every_field_and_shows_what_a_site_inherits(backend: Backend) {
    let app = spawn_app(backend, all_held_by_score).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, OPS_TOKEN).await;
    b.goto(&format!("{}/console/policy?site=hcm", app.http_base()))
        .await;
    // Nothing set by the site yet: every field follows the global default, shown beside it.
    assert_eq!(b.text("#policy-scope").await, "hcm");
    assert!(!b.has(".policy-row.own").await);
    assert_eq!(
        b.text("[data-field='retention_days'] .global-value").await,
        app.policies
            .view("")
            .await
            .expect("global")
            .policy
            .retention_days
            .to_string()
    );
    // Values that are not numbers, and a limit that cannot be read, are named next to their fields.
    fill(&b, "#p-blocked_terms", "cá độ bóng đá\nlô đề").await;
    fill(&b, "#p-retention_days", "ba mươi").await;
    fill(&b, "#p-rate_limits", "client_ip 3/600s burst 2\nmỗi phút 5").await;
    b.click_nav("#policy-save").await;
    assert!(
        b.text("#flash")
            .await
            .starts_with("Chưa lưu: có giá trị không hợp lệ"),
        "refused"
    );
    assert_eq!(
        b.text("#p-retention_days-error").await,
        "Hãy nhập một số nguyên không âm."
    );
    assert!(b.text("#p-rate_limits-error").await.starts_with("Dòng 2"));
    // What was typed is still there to correct, and nothing was stored.
    assert_eq!(
        b.find("#p-blocked_terms")
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("cá độ bóng đá\nlô đề")
    );
    assert!(
        app.policies
            .view("hcm")
            .await
            .expect("view")
            .overridden
            .is_empty()
    );
    // A value the domain refuses (a name limit of 0) is shown next to its field in words.
    fill(&b, "#p-retention_days", "45").await;
    fill(&b, "#p-rate_limits", "client_ip 3/600s burst 2").await;
    fill(&b, "#p-field_limits_name_max", "0").await;
    b.click_nav("#policy-save").await;
    assert!(
        b.text("#p-field_limits_name_max-error")
            .await
            .contains("between 1 and 1000"),
        "the domain's range"
    );
    b.screenshot("policy-editor-invalid").await;
    fill(&b, "#p-field_limits_name_max", "80").await;
    b.find("#p-premoderate_all")
        .await
        .click()
        .await
        .expect("tick");
    b.click_nav("#policy-save").await;
    assert!(b.text("#flash").await.starts_with("Đã lưu chính sách"));
    let view = app.policies.view("hcm").await.expect("view");
    assert_eq!(view.policy.blocked_terms, ["cá độ bóng đá", "lô đề"]);
    assert_eq!(view.policy.retention_days, 45);
    assert_eq!(view.policy.field_limits.name_max, 80);
    assert!(view.policy.premoderate_all);
    assert_eq!(
        view.policy.rate_limits,
        [LimitRule::new(Descriptor::ClientIp, 3, 600, 2)]
    );
    for f in [
        "blocked_terms",
        "retention_days",
        "field_limits",
        "premoderate_all",
        "rate_limits",
    ] {
        assert!(view.overridden.iter().any(|o| o == f), "{f} overridden");
    }
    assert!(!view.overridden.iter().any(|o| o == "approve_below"));
    assert!(b.has("[data-field='blocked_terms'].own").await);
    assert!(!b.has("[data-field='approve_below'].own").await);
    b.screenshot("policy-editor").await;
    // Author trust, as ops set it here: the count, and holding new authors.
    fill(&b, "#p-trusted_after_approvals", "3").await;
    b.find("#p-premoderate_new_authors")
        .await
        .click()
        .await
        .expect("tick");
    b.click_nav("#policy-save").await;
    assert!(b.text("#flash").await.starts_with("Đã lưu chính sách"));
    let view = app.policies.view("hcm").await.expect("view");
    assert_eq!(
        (
            view.policy.trusted_after_approvals,
            view.policy.trust_clean_days,
            view.policy.premoderate_new_authors
        ),
        (3, 30, true)
    );
    b.c()
        .execute(
            "document.querySelector('#p-trusted_after_approvals').scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .expect("scroll");
    b.screenshot("policy-editor-trust").await;
    // Back to the global default for one field.
    b.find("#p-blocked_terms-follow")
        .await
        .click()
        .await
        .expect("tick");
    b.click_nav("#policy-save").await;
    let view = app.policies.view("hcm").await.expect("view");
    assert!(!view.overridden.iter().any(|o| o == "blocked_terms"));
    assert!(view.policy.blocked_terms.is_empty());
    assert_eq!(view.policy.retention_days, 45, "the rest stays the site's");
    // The global default changes while the page is open (to a score the form shows rounded): saving an
    // unrelated field neither pins the old global value to the site nor rounds the new one.
    let global = app.policies.view("").await.expect("global");
    let mut g = (*global.policy).clone();
    g.approve_below = 0.1234;
    app.policies
        .update("", g, global.policy.version, &[], "ops-colleague")
        .await
        .expect("global update");
    fill(&b, "#p-idempotency_ttl_seconds", "120").await;
    b.click_nav("#policy-save").await;
    assert!(b.text("#flash").await.starts_with("Đã lưu chính sách"));
    let view = app.policies.view("hcm").await.expect("view");
    assert_eq!(view.policy.idempotency_ttl_seconds, 120);
    assert!(
        !view.overridden.iter().any(|o| o == "approve_below"),
        "{:?}",
        view.overridden
    );
    assert_eq!(
        view.policy.approve_below, 0.1234,
        "the new global value, exactly"
    );
    // A colleague changes the policy while the page is open: nothing is stored, and the stored value is shown
    // beside the field that now differs.
    let mut p = (*view.policy).clone();
    p.approve_below = 0.2;
    app.policies
        .update("hcm", p, view.policy.version, &[], "ops-colleague")
        .await
        .expect("colleague's update");
    fill(&b, "#p-suspect_terms", "inbox").await;
    b.click_nav("#policy-save").await;
    let flash = b.text("#flash").await;
    assert!(flash.contains("ops-colleague"), "{flash}");
    assert_eq!(
        b.text("[data-field='approve_below'] .now").await,
        "Giá trị đang lưu: 0.2"
    );
    let view = app.policies.view("hcm").await.expect("view");
    assert!(view.policy.suspect_terms.is_empty());
    assert_eq!(view.policy.approve_below, 0.2);
    b.screenshot("policy-editor-conflict").await;
    b.close().await;
}
in_the_browser!(
    policy_editor,
    the_policy_editor_saves_every_field_and_shows_what_a_site_inherits
);

async fn browsing_rejected_comments_and_overturning_one(backend: Backend) {
    let app = spawn_app(backend, premoderated).await;
    let ids = held(&app, 3).await;
    let b = Browser::open(1280, 800).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    b.claim("hcm", 3).await;
    b.key("x").await;
    b.key("j").await;
    b.key("x").await;
    b.find("#bulk-label")
        .await
        .select_by_value("spam")
        .await
        .expect("label");
    b.click_nav("#bulk-reject").await;
    b.key_nav("a").await;
    // Rejected only: the two, newest decision first.
    b.goto(&format!(
        "{}/console/browse?site=hcm&status=REJECTED",
        app.http_base()
    ))
    .await;
    let mut listed = Vec::new();
    for e in b
        .c()
        .find_all(Locator::Css("#browse tbody tr"))
        .await
        .expect("rows")
    {
        listed.push(e.attr("data-id").await.expect("attr").expect("id"));
    }
    listed.sort();
    let mut want = ids[..2].to_vec();
    want.sort();
    assert_eq!(listed, want);
    // Filters that match nothing say so.
    b.goto(&format!(
        "{}/console/browse?site=hcm&status=REJECTED&author=Tr%E1%BA%A7n",
        app.http_base()
    ))
    .await;
    assert!(b.has("#browse-empty").await);
    b.goto(&format!(
        "{}/console/browse?site=hcm&status=REJECTED&min=0&max=1",
        app.http_base()
    ))
    .await;
    b.screenshot("browse-rejected").await;
    b.click_nav(&format!("tr[data-id='{}'] a.open", ids[0]))
        .await;
    assert_eq!(b.text("#status").await, "bị từ chối");
    b.find("#o-note")
        .await
        .send_keys("không phải spam")
        .await
        .expect("note");
    b.click_nav("#overturn").await;
    assert_eq!(
        b.text("#flash").await,
        "Đã sửa quyết định (được ghi vào nhật ký kiểm tra)."
    );
    assert_eq!(b.text("#status").await, "đã đăng");
    assert!(b.text("#events").await.contains("sửa quyết định"));
    // The automatic decision is the system's, in words, not the store's actor name.
    let events = b.text("#events").await;
    assert!(events.contains("hệ thống (tự động)"), "{events}");
    assert!(
        events.contains("(UTC+7)"),
        "times in Vietnam's zone: {events}"
    );
    assert!(!events.split_whitespace().any(|w| w == "auto"), "{events}");
    assert!(b.text("#comment-audit").await.contains("không phải spam"));
    let (s, last) = status(&app, &ids[0]).await;
    assert_eq!(s, Status::Published);
    assert_eq!(last.expect("event").kind, DecisionKind::Overturn);
    b.screenshot("comment-overturned").await;
    b.close().await;
}
in_the_browser!(
    browse_and_overturn,
    browsing_rejected_comments_and_overturning_one
);

fn open_site(c: &mut Config) {
    c.captcha.required = false;
    c.rate_limits = vec![LimitRule::new(Descriptor::Site, 100_000, 1, 100_000)];
}

async fn rejecting_a_whole_campaign(backend: Backend) {
    let app = spawn_app(backend, open_site).await;
    let ch = app.channel().await;
    // Six authors post near-copies of one pitch: the first two pass one by one; of the next four, the one whose
    // pitch says "ib" is rejected on its own score and the other three are held as a campaign.
    let mut ids = Vec::new();
    for i in 0..6 {
        let r = crate::harness::submit(
            &ch,
            crate::campaigns::by("hcm", i, &crate::campaigns::variant(i), &format!("k{i}")),
        )
        .await
        .expect("submit");
        ids.push(r.comment_id);
    }
    let b = Browser::open(1280, 900).await;
    b.sign_in(&app, MODERATOR_TOKEN).await;
    // The queue shows a held copy as part of the campaign, and its reason in words.
    b.claim("hcm", 1).await;
    let item = b.text("#queue").await;
    assert!(item.contains("Thuộc chiến dịch"), "{item}");
    assert!(
        item.contains("bản gần giống của bình luận nhiều người khác vừa gửi"),
        "{item}"
    );
    b.goto(&format!(
        "{}/console/comment?site=hcm&id={}",
        app.http_base(),
        ids[0]
    ))
    .await;
    // The first copy, published before the campaign showed, is marked too and leads to the campaign.
    b.click_nav("#campaign-link").await;
    assert_eq!(b.text("#c-total").await, "6");
    assert_eq!(b.text("#c-authors").await, "6");
    assert_eq!(b.text("#c-held").await, "3");
    assert_eq!(b.text("#c-published").await, "2");
    assert_eq!(b.text("#c-rejected").await, "1");
    b.screenshot("campaign").await;
    b.find("#c-note")
        .await
        .send_keys("chiến dịch rao bán căn hộ")
        .await
        .expect("note");
    // One of the three is under this moderator's lease from the queue; rejecting the campaign takes it over too.
    b.click_nav("#reject-campaign").await;
    let flash = b.text("#flash").await;
    assert!(
        flash.starts_with("Đã xử lý chiến dịch: 3 bị từ chối, 3 không còn chờ duyệt"),
        "{flash}"
    );
    assert_eq!(b.text("#c-held").await, "0");
    assert_eq!(b.text("#c-rejected").await, "4");
    assert!(!b.has("#reject-campaign").await);
    for (i, id) in ids.iter().enumerate() {
        let (s, last) = status(&app, id).await;
        let last = last.expect("event");
        if i < 2 {
            assert_eq!(s, Status::Published, "copy {i}");
        } else if i == 3 {
            assert_eq!(s, Status::Rejected, "copy {i}");
            assert_eq!(last.kind, DecisionKind::Automatic);
        } else {
            assert_eq!(s, Status::Rejected, "copy {i}");
            assert_eq!(last.kind, DecisionKind::Review);
            assert_eq!(last.label, Label::Spam.as_str());
            assert_eq!(last.note, "chiến dịch rao bán căn hộ");
        }
    }
    b.screenshot("campaign-rejected").await;
    b.close().await;
}
in_the_browser!(campaign_reject, rejecting_a_whole_campaign);
