//! The load tool (`moderato bench`) sends whole comments: each call is a sample encoded once followed by the fields
//! that change per call, which the server must read as one merged request. Checked by what the server stored.

use moderato::rate_limit::{Descriptor, LimitRule};

use crate::harness::{Backend, OPS_TOKEN, PORTAL_TOKEN, cli, spawn_app};

#[tokio::test]
async fn the_load_tool_submits_whole_comments_with_their_readers() {
    let app = spawn_app(Backend::Memory, |cfg| {
        cfg.captcha.required = false;
        cfg.rate_limits = vec![LimitRule::new(Descriptor::Site, 1_000_000, 1, 1_000_000)];
    })
    .await;
    let o = cli(
        &app,
        PORTAL_TOKEN,
        &[
            "bench",
            "--site",
            "lt",
            "--seconds",
            "1",
            "--concurrency",
            "2",
            "--connections",
            "1",
            "--authors",
            "3",
        ],
    )
    .await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("SubmitComment"))
        .unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| -> u64 {
        let i = words.iter().position(|x| *x == w).expect(w);
        words[i + 1].parse().expect("a count")
    };
    assert!(after("ok") > 0, "{line}");
    assert_eq!(after("errors"), 0, "{line}");
    // The comments of reader 0 are stored whole: site, thread, the sample's name and body, the reader's phone.
    let o = cli(
        &app,
        OPS_TOKEN,
        &["privacy", "export", "--site", "lt", "--phone", "0912000000"],
    )
    .await;
    let exported = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(exported.lines().count() > 0, "nothing under reader 0");
    for l in exported.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
        let c = v.get("comment").unwrap_or(&v);
        let text = |k: &str| {
            c.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_else(|| panic!("no {k} in {l}"))
                .to_string()
        };
        assert_eq!(text("site"), "lt", "{l}");
        assert!(text("thread_id").starts_with("bai-viet-"), "{l}");
        assert!(!text("name").is_empty() && !text("body").is_empty(), "{l}");
        assert_eq!(text("phone"), "0912000000", "{l}");
    }
}
