//! The model catalogue: every artifact under the models directory, with what its card and combiner say, where
//! it is active, and whether it can be activated at all.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Policies, PolicyError};

/// One model artifact as ops see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    /// Version from the card.
    pub version: String,
    /// When it was trained, epoch ms (from the card's `created` date), if known.
    pub created_ms: Option<u64>,
    /// Training data and licence, from the card (JSON).
    pub training: String,
    /// Evaluation metrics from the card.
    pub metrics: BTreeMap<String, f64>,
    /// Recommended thresholds for the score the service decides on: the combiner's when the artifact has one
    /// (the served score is the combiner's), else the base model card's. (reject_at, approve_below).
    pub recommended: (f64, f64),
    /// Where it is active: site ids, `*` for the global default.
    pub active_for: Vec<String>,
    /// Why it cannot be activated, if it cannot (e.g. its combiner was fitted for another base model).
    pub problem: Option<String>,
}

/// Epoch ms of a `YYYY-MM-DD` date at 00:00 UTC.
pub fn date_ms(date: &str) -> Option<u64> {
    let mut it = date.get(..10)?.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400_000).ok()
}

fn read_json(path: &Path) -> serde_json::Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn num(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut c = v;
    for p in path {
        c = c.get(*p).unwrap_or(&serde_json::Value::Null);
    }
    c.as_f64().unwrap_or(0.0)
}

impl Policies {
    /// Every artifact in the models directory, oldest version name first.
    pub async fn models(&self) -> Result<Vec<ModelSummary>, PolicyError> {
        let active = self.active_where().await?;
        let mut out = Vec::new();
        for (version, dir) in self.list_artifacts() {
            let card = read_json(&dir.join("card.json"));
            let metrics = card
                .get("metrics")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                        .collect()
                })
                .unwrap_or_default();
            let combiner_path = dir.join(crate::scoring::combiner::FILE_NAME);
            let (recommended, problem) = if combiner_path.exists() {
                match crate::scoring::combiner::Combiner::load(&combiner_path, &version) {
                    Ok(c) => {
                        let t = &c.file().thresholds;
                        ((t.reject_at, t.approve_below), None)
                    }
                    Err(e) => ((0.0, 0.0), Some(e.to_string())),
                }
            } else {
                (
                    (
                        num(&card, &["thresholds", "auto_reject"]),
                        num(&card, &["thresholds", "auto_approve"]),
                    ),
                    None,
                )
            };
            out.push(ModelSummary {
                created_ms: card
                    .get("created")
                    .and_then(|c| c.as_str())
                    .and_then(date_ms),
                training: card
                    .get("training")
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                metrics,
                recommended,
                active_for: active.get(&version).cloned().unwrap_or_default(),
                problem,
                version,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_dates_become_epoch_ms() {
        assert_eq!(date_ms("1970-01-01"), Some(0));
        assert_eq!(date_ms("2026-11-26"), Some(1_795_651_200_000));
        assert_eq!(date_ms("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(date_ms("not a date"), None);
        assert_eq!(date_ms("2026-13-01"), None);
    }
}
