//! Bootstrap mode of a new site: every comment is held until moderators have labelled enough of them to train a
//! site model. This is where "is the site ready" is decided, and what to run next.

use super::{Policies, PolicyError};

/// A site's bootstrap progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapStatus {
    /// Moderator labels collected.
    pub labels: u64,
    /// Labels the policy requires (0: bootstrap mode is off).
    pub required: u32,
    /// Enough labels to train a site model.
    pub ready: bool,
    /// The commands to run next.
    pub next_steps: Vec<String>,
}

/// Ready when bootstrap mode is on and the site has at least the required labels.
pub fn is_ready(required: u32, labels: u64) -> bool {
    required > 0 && labels >= u64::from(required)
}

impl Policies {
    /// How far `site` is in bootstrap mode, and what to do next.
    pub async fn bootstrap_status(&self, site: &str) -> Result<BootstrapStatus, PolicyError> {
        let (p, _) = self.policy(site).await?;
        let labels = self.store.label_count(site).await?;
        let required = p.bootstrap_labels;
        let ready = is_ready(required, labels);
        let next_steps = if required == 0 {
            vec![format!(
                "bootstrap mode is off for {site}; turn it on with: moderato policy set --site {site} --bootstrap-labels 200"
            )]
        } else if !ready {
            vec![format!(
                "moderators label {} more comments with: moderato review claim --site {site} / moderato review decide ...",
                u64::from(required) - labels
            )]
        } else {
            vec![
                format!("moderato labels export --site {site} --out {site}-labels.csv"),
                format!(
                    "moderato bootstrap train --site {site} --labels {site}-labels.csv --out models/{site}-site"
                ),
                format!(
                    "moderato model activate --site {site} --version <version printed by the train step>"
                ),
                format!("moderato policy set --site {site} --bootstrap-labels 0"),
            ]
        };
        Ok(BootstrapStatus {
            labels,
            required,
            ready,
            next_steps,
        })
    }
}
