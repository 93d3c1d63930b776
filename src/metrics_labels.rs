//! Bounded label values for per-site metrics. A site id comes from callers, so its label set is capped: the
//! first [`MAX_SITE_LABELS`] distinct sites a replica sees keep their own label, every later one is counted
//! under [`OTHER_SITES`]. Callers sending arbitrary site ids therefore cannot grow the metrics registry.

use std::collections::HashSet;
use std::sync::{OnceLock, RwLock};

/// Distinct site label values one replica keeps.
pub const MAX_SITE_LABELS: usize = 1000;
/// The label of every site past the cap.
pub const OTHER_SITES: &str = "_other";

fn seen() -> &'static RwLock<HashSet<String>> {
    static SEEN: OnceLock<RwLock<HashSet<String>>> = OnceLock::new();
    SEEN.get_or_init(|| RwLock::new(HashSet::new()))
}

/// The metrics label for `site`: itself while the cap allows, else [`OTHER_SITES`].
pub fn site_label(site: &str) -> String {
    if seen().read().is_ok_and(|s| s.contains(site)) {
        return site.to_string();
    }
    match seen().write() {
        Ok(mut s) if s.len() < MAX_SITE_LABELS => {
            s.insert(site.to_string());
            site.to_string()
        }
        _ => OTHER_SITES.to_string(),
    }
}

/// How many distinct site labels are in use (for tests and the bounds check).
pub fn site_labels_in_use() -> usize {
    seen().read().map(|s| s.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_labels_are_capped() {
        for i in 0..(MAX_SITE_LABELS + 50) {
            site_label(&format!("cap-test-{i}"));
        }
        assert!(site_labels_in_use() <= MAX_SITE_LABELS);
        assert_eq!(
            site_label("cap-test-never-seen-beyond-the-cap"),
            OTHER_SITES
        );
    }
}
