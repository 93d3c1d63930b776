//! Figures pinned: the fast part of `scripts/reproduce.sh`. The combiner evaluation on the `test` split is
//! regenerated and must equal its committed report, and the tables of `models/default/CARD.md` and
//! `data/vi-dev/README.md` must quote the committed reports and `combiner.json`. (`holdout4` is never read here.)

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn the_combiner_eval_on_test_reproduces_its_committed_report() {
    let out = tokio::process::Command::new(crate::harness::BIN)
        .args(["combiner", "eval", "--split", "test"])
        .current_dir(ROOT)
        .output()
        .await
        .expect("run moderato combiner eval");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).expect("utf-8");
    let want = read("models/default/reports/combiner-eval-test.txt");
    assert_eq!(
        got, want,
        "`moderato combiner eval --split test` no longer gives the committed report"
    );
}

/// The macro-F1 after `label` on the report's line starting with it.
fn macro_f1(report: &str, label: &str) -> String {
    let line = report
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?}"));
    line.split("macro-F1 ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a macro-F1")
        .to_string()
}

#[test]
fn the_card_and_the_data_readme_quote_the_committed_reports() {
    let card = read("models/default/CARD.md");
    let data_readme = read("data/vi-dev/README.md");
    for split in ["test", "holdout", "holdout2", "holdout3"] {
        let r = read(&format!("models/default/reports/combiner-eval-{split}.txt"));
        let (a, b, c) = (
            macro_f1(&r, "(a)"),
            macro_f1(&r, "(b)"),
            macro_f1(&r, "(c) combined"),
        );
        // "    auto-rejected 32 (32 spam, 0 ham): precision at the auto-reject threshold 1.000"
        let rejected = r
            .lines()
            .find_map(|l| l.trim().strip_prefix("auto-rejected "))
            .expect("an auto-rejected line");
        let n = rejected.split_whitespace().next().unwrap();
        let spam = rejected
            .split('(')
            .nth(1)
            .and_then(|x| x.split_whitespace().next())
            .unwrap();
        let precision = rejected.rsplit(' ').next().unwrap();
        let cells = [a, b, c.clone(), format!("{spam} of {n} ({precision})")];
        for (doc, text) in [
            ("models/default/CARD.md", &card),
            ("data/vi-dev/README.md", &data_readme),
        ] {
            let row = text
                .lines()
                .find(|l| l.starts_with(&format!("| `{split}` (")))
                .unwrap_or_else(|| panic!("{doc} has no row for {split}"));
            let quoted: Vec<String> = row
                .split('|')
                .skip(2)
                .map(|c| c.trim().replace("**", ""))
                .filter(|c| !c.is_empty())
                .collect();
            assert_eq!(
                quoted, cells,
                "{doc}'s row for {split} does not quote its report"
            );
        }
    }
    // The combiner's cross-validated figures, as the card quotes them.
    let combiner: serde_json::Value =
        serde_json::from_str(&read("models/default/combiner.json")).expect("combiner.json");
    let cv = &combiner["cv"];
    let quoted = format!(
        "Log-loss {}, Brier {}, macro-F1 at 0.5 {}",
        cv["log_loss"], cv["brier"], cv["macro_f1_at_half"]
    );
    assert!(
        card.contains(&quoted),
        "the card does not quote combiner.json: {quoted}"
    );
}
