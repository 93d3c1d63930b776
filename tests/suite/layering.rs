//! The floor plan of `src/lib.rs`, checked: a module never imports a module of a higher floor, and no two modules
//! import each other. Imports are read from the source (`crate::<module>` paths outside `#[cfg(test)]` modules),
//! so the test fails the moment such a line is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (unit, floor), lowest first. A unit is a top-level module of `src/`, or a domain's `service` module: the
/// review queue's and the audit trail's services sit above the store, while the vocabulary they share with the
/// store (statuses, records, events, audit entries) sits below it.
pub const FLOORS: &[(&str, u8)] = &[
    // The ground: time, text, input shapes, metric label bounds, the generated wire types.
    ("clock", 0),
    ("text", 0),
    ("validate", 0),
    ("metrics_labels", 0),
    ("proto", 0),
    // Vocabulary and models: the review domain's words, the lexicon, the base classifier.
    ("review", 1),
    ("audit", 1),
    ("admission", 1),
    ("lexicon", 1),
    ("classifier", 1),
    // One calibrated score; the storage backend.
    ("scoring", 2),
    ("store", 2),
    // Domain services.
    ("rate_limit", 3),
    ("captcha", 3),
    ("policy", 3),
    ("review::service", 3),
    ("audit::service", 3),
    ("webhook", 3),
    ("privacy", 3),
    // The submission pipeline.
    ("comment", 4),
    // Cross-cutting: the one error table, auth, configuration, telemetry, the listener's edge.
    ("status", 5),
    ("auth", 5),
    ("config", 5),
    ("telemetry", 5),
    ("wire", 5),
    // Front doors.
    ("api", 6),
    ("http", 6),
    ("console", 6),
    // Wiring and the binary.
    ("startup", 7),
    ("cli", 7),
];

fn floor_of(unit: &str) -> Option<u8> {
    FLOORS.iter().find(|(u, _)| *u == unit).map(|(_, f)| *f)
}

/// The unit a file of `src/` belongs to (`None` for `lib.rs` and `main.rs`).
fn unit_of(rel: &Path) -> Option<String> {
    let s = rel.to_string_lossy().replace('\\', "/");
    if s == "lib.rs" || s == "main.rs" {
        return None;
    }
    if let Some(domain) = s.strip_suffix("/service.rs") {
        return Some(format!("{domain}::service"));
    }
    let first = s.split('/').next()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// The unit an import path `crate::a::b...` names.
fn unit_named(a: &str, b: Option<&str>) -> String {
    if b == Some("service") {
        format!("{a}::service")
    } else {
        a.to_string()
    }
}

/// Source without its `#[cfg(test)]` modules (tests may reach anywhere); code after them is kept.
fn without_tests(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find("#[cfg(test)]\nmod ") {
        out.push_str(&rest[..i]);
        let Some(open) = rest[i..].find('{') else {
            return out;
        };
        let mut depth = 0usize;
        let mut end = rest.len();
        for (j, c) in rest[i + open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Every `crate::a[::b]` path in `src`.
fn crate_paths(src: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // e.g. `$crate::`, `mycrate::`
        }
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        };
        let a = ident(rest);
        if a.is_empty() {
            continue;
        }
        let after = &rest[a.len()..];
        let b = after
            .strip_prefix("::")
            .map(ident)
            .filter(|b| !b.is_empty());
        out.push((a, b));
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// unit -> the units it imports, from the sources under `src`.
pub fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src");
        let Some(unit) = unit_of(rel) else { continue };
        let text = std::fs::read_to_string(&f).expect("read source");
        let entry = graph.entry(unit.clone()).or_default();
        for (a, b) in crate_paths(&without_tests(&text)) {
            let target = unit_named(&a, b.as_deref());
            if target != unit {
                entry.insert(target);
            }
        }
    }
    graph
}

/// Every breach of the floor plan in `graph`, as sentences.
pub fn breaches(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (unit, targets) in graph {
        let Some(from) = floor_of(unit) else {
            out.push(format!(
                "module {unit} has no floor: add it to FLOORS and to the plan in src/lib.rs"
            ));
            continue;
        };
        for t in targets {
            match floor_of(t) {
                None => out.push(format!("{unit} imports {t}, which has no floor")),
                Some(to) if to > from => out.push(format!(
                    "{unit} (floor {from}) imports {t} (floor {to}): a lower floor never imports a higher one"
                )),
                Some(_) => {}
            }
            if graph.get(t).is_some_and(|back| back.contains(unit)) && unit < t {
                out.push(format!("{unit} and {t} import each other"));
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_higher_floor_and_none_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    assert!(graph.contains_key("comment") && graph.contains_key("scoring"));
    let found = breaches(&graph);
    assert!(
        found.is_empty(),
        "floor plan breached:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_an_upward_import_and_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("text".into()).or_default().insert("api".into());
    g.entry("policy".into())
        .or_default()
        .insert("captcha".into());
    g.entry("captcha".into())
        .or_default()
        .insert("policy".into());
    let found = breaches(&g);
    assert!(
        found
            .iter()
            .any(|b| b.starts_with("text (floor 0) imports api")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|b| b == "captcha and policy import each other"),
        "{found:?}"
    );
    assert_eq!(
        crate_paths(&without_tests(
            "use crate::review::service::X;\n#[cfg(test)]\nmod tests { use crate::api::{A, B}; }\n$crate::nope; crate::text::fold"
        )),
        vec![
            ("review".to_string(), Some("service".to_string())),
            ("text".to_string(), Some("fold".to_string())),
        ]
    );
}
