//! Live per-site policy and model activation. Policies and the model activation table are versioned documents
//! in the store (optimistic concurrency, audit log); every replica caches them and drops its cache when the
//! store's change epoch moves (polled every [`REFRESH`]), with a full re-read every [`FULL_REFRESH`] as a
//! fallback. Models are loaded off the hot path and swapped atomically. Also: the threshold lab (replaying
//! recent submissions under a candidate policy).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod bootstrap;
pub mod document;
pub mod lab;
pub mod models;

use crate::audit::{AuditNote, action};
use crate::clock::Clock;
use crate::scoring::Scorer;
use crate::store::{GLOBAL_SCOPE, Store, StoreError};
use document::{OVERRIDABLE, Overrides, Policy};

/// How often a replica checks whether anything changed.
pub const REFRESH: Duration = Duration::from_millis(250);
/// How often a replica re-reads everything regardless.
pub const FULL_REFRESH: Duration = Duration::from_secs(10);

const POLICY_DOC: &str = "policy";

const MODELS_DOC: &str = "models";

/// The global document listing the sites that have a policy document of their own.
const SITES_DOC: &str = "policy-sites";

fn next_version(v: u64) -> Result<u64, PolicyError> {
    v.checked_add(1).ok_or_else(|| {
        PolicyError::Invalid(vec![(
            "expected_version".into(),
            "is not a version this server issued".into(),
        )])
    })
}

/// Which model is active where, with the previous one for rollback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// Active version.
    pub active: String,
    /// The version active before, for rollback.
    pub previous: String,
}

/// The model activation table: global and per site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationTable {
    /// Global default.
    pub global: Activation,
    /// Per-site overrides.
    pub sites: BTreeMap<String, Activation>,
}

/// Why a policy or model change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Invalid values, every one named.
    #[error("invalid policy: {}", .0.iter().map(|(f, m)| format!("{f} {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    /// The expected version is stale; nothing changed.
    #[error("the policy changed since it was read (now version {current})")]
    Conflict {
        /// The version in the store.
        current: u64,
    },
    /// No such model version in the models directory.
    #[error("no model {0:?}")]
    UnknownModel(String),
    /// Nothing to roll back to.
    #[error("no previous model to roll back to")]
    NoPrevious,
    /// A model file could not be loaded.
    #[error("the model cannot be loaded: {0}")]
    Model(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One site that has a policy document of its own: its overrides and the effective policy they give.
#[derive(Clone)]
struct SiteEntry {
    overrides: Arc<Overrides>,
    effective: Arc<Policy>,
}

/// What this replica knows. Per-site state exists only for sites that ops gave a policy of their own (the
/// index document lists them), never for whatever site ids callers send: a site without a policy of its own
/// reads the global default, with no cache entry and no store read.
#[derive(Default)]
struct Cache {
    epoch: u64,
    /// The global default (stored, else the configuration's) and whether it is the configuration's.
    global: Option<(Arc<Policy>, bool)>,
    /// Sites with a policy document of their own, as of the last load.
    sites: HashMap<String, SiteEntry>,
    activation: Option<ActivationTable>,
    /// site -> (label count, read at); bootstrap mode only, at most [`MAX_LABEL_COUNTS`] entries.
    labels: HashMap<String, (u64, std::time::Instant)>,
}

/// Label counts one replica keeps for bootstrap mode before it starts over.
pub const MAX_LABEL_COUNTS: usize = 10_000;

/// A policy as ops see it: the effective values and where each comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyView {
    /// The policy in force.
    pub policy: Arc<Policy>,
    /// True when the site sets nothing itself (or this is the global default from configuration).
    pub inherited: bool,
    /// The fields the site sets itself; every other one follows the global default.
    pub overridden: Vec<String>,
    /// The global default's version.
    pub global_version: u64,
}

/// How long a site's label count is reused before it is read again (bootstrap mode only).
pub const LABEL_COUNT_TTL: Duration = Duration::from_secs(2);

/// Policies and models as seen by this replica.
#[derive(Clone)]
pub struct Policies {
    store: Arc<dyn Store>,
    /// Time for the threshold lab's window (the store's clock in tests).
    clock: Arc<dyn Clock>,
    /// The policy from configuration, used where no site or global policy was stored.
    default: Arc<Policy>,
    /// The model loaded at startup, used where no activation was recorded.
    default_model: Arc<Scorer>,
    models_dir: PathBuf,
    // std RwLock: held only for map lookups and swaps, never across an .await.
    cache: Arc<RwLock<Cache>>,
    loaded: Arc<RwLock<HashMap<String, Arc<Scorer>>>>,
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("encoding: {e}")))
}

impl Policies {
    /// Policies over `store`, falling back to `default` and `default_model`; model artifacts live in
    /// subdirectories of `models_dir`; `clock` dates the threshold lab's window.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        default: Policy,
        default_model: Arc<Scorer>,
        models_dir: PathBuf,
    ) -> Self {
        let mut loaded = HashMap::new();
        loaded.insert(default_model.version().to_string(), default_model.clone());
        Self {
            store,
            clock,
            default: Arc::new(default),
            default_model,
            models_dir,
            cache: Arc::new(RwLock::new(Cache::default())),
            loaded: Arc::new(RwLock::new(loaded)),
        }
    }

    /// The global policy as stored, if any.
    async fn stored_global(&self) -> Result<Option<Arc<Policy>>, StoreError> {
        match self.store.get_doc(GLOBAL_SCOPE, POLICY_DOC).await? {
            Some((_, doc)) => serde_json::from_str(&doc)
                .map(|p: Policy| Some(Arc::new(p)))
                .map_err(|e| StoreError::Corrupt(format!("stored global policy: {e}"))),
            None => Ok(None),
        }
    }

    /// The global default as stored, else the configuration's (then `true`).
    async fn read_global(&self) -> Result<(Arc<Policy>, bool), StoreError> {
        Ok(match self.stored_global().await? {
            Some(p) => (p, false),
            None => (self.default.clone(), true),
        })
    }

    /// A site's own document: (store version, overrides), if it has one.
    async fn read_site(&self, site: &str) -> Result<Option<Overrides>, StoreError> {
        match self.store.get_doc(site, POLICY_DOC).await? {
            Some((version, doc)) => {
                let mut o = Overrides::parse(&doc)
                    .map_err(|e| StoreError::Corrupt(format!("stored policy of {site:?}: {e}")))?;
                o.version = version;
                Ok(Some(o))
            }
            None => Ok(None),
        }
    }

    /// The sites that have a policy document of their own.
    async fn read_index(&self) -> Result<(u64, BTreeSet<String>), StoreError> {
        match self.store.get_doc(GLOBAL_SCOPE, SITES_DOC).await? {
            Some((v, doc)) => serde_json::from_str(&doc)
                .map(|s| (v, s))
                .map_err(|e| StoreError::Corrupt(format!("policy site index: {e}"))),
            None => Ok((0, BTreeSet::new())),
        }
    }

    fn effective(site: &str, o: Overrides, global: &Policy) -> Result<SiteEntry, StoreError> {
        let effective = o.apply(global).map_err(|e| {
            StoreError::Corrupt(format!("policy of {site:?} over the global one: {e}"))
        })?;
        Ok(SiteEntry {
            overrides: Arc::new(o),
            effective: Arc::new(effective),
        })
    }

    /// How many sites this replica keeps per-site policy state for: those with a policy of their own, never the
    /// site ids callers merely send.
    pub fn cached_sites(&self) -> usize {
        self.cache.read().map(|c| c.sites.len()).unwrap_or(0)
    }

    /// The policy in force for `site` (empty: the global default) and whether it is inherited.
    pub async fn policy(&self, site: &str) -> Result<(Arc<Policy>, bool), StoreError> {
        let v = self.view(site).await?;
        Ok((v.policy, v.inherited))
    }

    /// The policy in force for `site` (empty: the global default), with where each field comes from.
    pub async fn view(&self, site: &str) -> Result<PolicyView, StoreError> {
        let loaded = self.cache.read().ok().and_then(|c| {
            let (global, from_config) = c.global.clone()?;
            Some(if site.is_empty() {
                PolicyView {
                    global_version: global.version,
                    policy: global,
                    inherited: from_config,
                    overridden: Vec::new(),
                }
            } else if let Some(e) = c.sites.get(site) {
                let overridden = e.overrides.fields();
                PolicyView {
                    global_version: global.version,
                    policy: e.effective.clone(),
                    inherited: overridden.is_empty(),
                    overridden,
                }
            } else {
                PolicyView {
                    global_version: global.version,
                    policy: global,
                    inherited: true,
                    overridden: Vec::new(),
                }
            })
        });
        match loaded {
            Some(v) => Ok(v),
            None => {
                self.reload().await?;
                Box::pin(self.view(site)).await
            }
        }
    }

    /// Re-reads the global policy, the site index, every indexed site's document and the activation table,
    /// loads the models it names, then swaps the new values in at once: requests never find the cache empty, so
    /// a refresh costs them no round trip.
    async fn reload(&self) -> Result<(), StoreError> {
        let global = self.read_global().await?;
        let (_, index) = self.read_index().await?;
        let mut sites = HashMap::with_capacity(index.len());
        for site in index {
            if let Some(o) = self.read_site(&site).await? {
                let entry = Self::effective(&site, o, &global.0)?;
                sites.insert(site, entry);
            }
        }
        let table = self.read_activation().await?;
        self.ensure_loaded(&table).await;
        if let Ok(mut c) = self.cache.write() {
            c.global = Some(global);
            c.sites = sites;
            c.activation = Some(table);
            c.epoch += 1;
        }
        Ok(())
    }

    /// Brings this replica up to date now (after a change made here); falls back to dropping the cache.
    async fn refresh_now(&self) {
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "policy reload failed; dropping the cache instead");
            self.invalidate();
        }
    }

    async fn read_activation(&self) -> Result<ActivationTable, StoreError> {
        match self.store.get_doc(GLOBAL_SCOPE, MODELS_DOC).await? {
            Some((_, doc)) => serde_json::from_str(&doc)
                .map_err(|e| StoreError::Corrupt(format!("model activation table: {e}"))),
            None => Ok(ActivationTable::default()),
        }
    }

    async fn activation(&self) -> Result<ActivationTable, StoreError> {
        if let Some(t) = self.cache.read().ok().and_then(|c| c.activation.clone()) {
            return Ok(t);
        }
        let t = self.read_activation().await?;
        self.ensure_loaded(&t).await;
        if let Ok(mut c) = self.cache.write() {
            c.activation = Some(t.clone());
        }
        Ok(t)
    }

    /// Loads every model the table names that is not loaded yet (blocking work, off the async threads).
    async fn ensure_loaded(&self, t: &ActivationTable) {
        let wanted: Vec<String> = std::iter::once(&t.global)
            .chain(t.sites.values())
            .map(|a| a.active.clone())
            .filter(|v| !v.is_empty())
            .collect();
        for v in wanted {
            if self
                .loaded
                .read()
                .map(|l| l.contains_key(&v))
                .unwrap_or(false)
            {
                continue;
            }
            match self.load_version(&v).await {
                Ok(m) => {
                    if let Ok(mut l) = self.loaded.write() {
                        l.insert(v, m);
                    }
                }
                Err(e) => {
                    tracing::warn!(version = %v, error = ?e, "activated model cannot be loaded here; keeping the current one")
                }
            }
        }
    }

    fn model_named(&self, version: &str) -> Option<Arc<Scorer>> {
        self.loaded.read().ok()?.get(version).cloned()
    }

    /// The policy and the model in force for `site`.
    pub async fn for_site(&self, site: &str) -> Result<(Arc<Policy>, Arc<Scorer>), StoreError> {
        let (p, _) = self.policy(site).await?;
        let t = self.activation().await?;
        let version = if !p.model_version.is_empty() {
            p.model_version.clone()
        } else if let Some(a) = t.sites.get(site).filter(|a| !a.active.is_empty()) {
            a.active.clone()
        } else {
            t.global.active.clone()
        };
        let model = if version.is_empty() {
            self.default_model.clone()
        } else {
            self.model_named(&version)
                .unwrap_or_else(|| self.default_model.clone())
        };
        Ok((p, model))
    }

    /// The site's moderator label count when `p` is in bootstrap mode (cached for [`LABEL_COUNT_TTL`]);
    /// `u64::MAX` otherwise, so no store call is made.
    pub async fn site_labels(&self, site: &str, p: &Policy) -> Result<u64, StoreError> {
        if p.bootstrap_labels == 0 {
            return Ok(u64::MAX);
        }
        if let Some((n, at)) = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.labels.get(site).copied())
            && at.elapsed() < LABEL_COUNT_TTL
        {
            return Ok(n);
        }
        let n = self.store.label_count(site).await?;
        if let Ok(mut c) = self.cache.write() {
            if c.labels.len() >= MAX_LABEL_COUNTS {
                c.labels.clear();
            }
            c.labels
                .insert(site.to_string(), (n, std::time::Instant::now()));
        }
        Ok(n)
    }

    /// Forgets a site's cached label count (after a moderator decision on this replica).
    pub fn labels_changed(&self, site: &str) {
        if let Ok(mut c) = self.cache.write() {
            c.labels.remove(site);
        }
    }

    /// Stores `policy` for `site` if `expected` is still the version the caller saw. For the global default
    /// (`site` empty) the whole policy is replaced. For a site, only what the caller changed becomes the site's
    /// own (see [`Overrides::updated`]); the fields named in `clear` follow the global default again. A site that
    /// has no document of its own accepts `expected` 0 or the global version it was shown.
    pub async fn update(
        &self,
        site: &str,
        policy: Policy,
        expected: u64,
        clear: &[String],
        who: &str,
    ) -> Result<PolicyView, PolicyError> {
        if site.is_empty() {
            if !clear.is_empty() {
                return Err(PolicyError::Invalid(vec![(
                    "clear_overrides".into(),
                    "applies to a site; the global default has no overrides".into(),
                )]));
            }
            self.check(&policy).await?;
            // The version people see is the document's; the store's own version fences the write. They differ
            // by one once the configuration's default (shown as its version, stored as nothing) was replaced.
            let stored = self.store.get_doc(GLOBAL_SCOPE, POLICY_DOC).await?;
            let (store_version, shown) = match &stored {
                Some((v, _)) => (*v, self.read_global().await?.0.version),
                None => (0, self.default.version),
            };
            if expected != shown && !(stored.is_none() && expected == 0) {
                return Err(PolicyError::Conflict { current: shown });
            }
            let mut policy = policy;
            policy.version = next_version(shown)?;
            return match self
                .store
                .put_doc(
                    GLOBAL_SCOPE,
                    POLICY_DOC,
                    store_version,
                    &to_json(&policy)?,
                    who,
                    AuditNote {
                        action: action::POLICY_UPDATE,
                        site: GLOBAL_SCOPE,
                        detail: "global default replaced",
                    },
                )
                .await?
            {
                Ok(_) => {
                    self.refresh_now().await;
                    Ok(self.view("").await?)
                }
                Err(_) => Err(PolicyError::Conflict {
                    current: self.read_global().await?.0.version,
                }),
            };
        }
        let (global, _) = self.read_global().await?;
        let own = self.read_site(site).await?;
        let stored = own.as_ref().map_or(0, |o| o.version);
        let fresh = match &own {
            Some(o) => expected == o.version,
            None => expected == 0 || expected == global.version,
        };
        if !fresh {
            return Err(PolicyError::Conflict {
                current: if own.is_some() {
                    stored
                } else {
                    global.version
                },
            });
        }
        let base = own.unwrap_or_default();
        let shown = base
            .apply(&global)
            .map_err(|e| StoreError::Corrupt(format!("policy of {site:?}: {e}")))?;
        let mut next = base.updated(&shown, &policy, clear).map_err(|unknown| {
            PolicyError::Invalid(
                unknown
                    .into_iter()
                    .map(|f| {
                        (
                            "clear_overrides".to_string(),
                            format!(
                                "{f:?} is not a policy field; use one of {}",
                                OVERRIDABLE.join(", ")
                            ),
                        )
                    })
                    .collect(),
            )
        })?;
        next.version = next_version(stored)?;
        let effective = next
            .apply(&global)
            .map_err(|e| PolicyError::Invalid(vec![("policy".into(), e)]))?;
        self.check(&effective).await?;
        self.index_site(site, who).await?;
        match self
            .store
            .put_doc(
                site,
                POLICY_DOC,
                stored,
                &to_json(&next)?,
                who,
                AuditNote {
                    action: action::POLICY_UPDATE,
                    site,
                    detail: &format!("overrides: {}", next.fields().join(", ")),
                },
            )
            .await?
        {
            Ok(_) => {
                self.refresh_now().await;
                Ok(self.view(site).await?)
            }
            Err(current) => Err(PolicyError::Conflict { current }),
        }
    }

    /// Validates a policy about to be stored and loads the model it pins.
    async fn check(&self, policy: &Policy) -> Result<(), PolicyError> {
        let mut errs = Vec::new();
        policy.problems("policy", &mut errs);
        if !policy.model_version.is_empty() && self.find_model_dir(&policy.model_version).is_none()
        {
            errs.push(format!(
                "policy.model_version: no model {:?} in {}",
                policy.model_version,
                self.models_dir.display()
            ));
        }
        if !errs.is_empty() {
            return Err(PolicyError::Invalid(
                errs.into_iter()
                    .map(|e| match e.split_once(": ") {
                        Some((f, m)) => (f.to_string(), m.to_string()),
                        None => ("policy".to_string(), e),
                    })
                    .collect(),
            ));
        }
        if !policy.model_version.is_empty() {
            let v = policy.model_version.clone();
            let m = self.load_version(&v).await?;
            if let Ok(mut l) = self.loaded.write() {
                l.insert(v, m);
            }
        }
        Ok(())
    }

    /// Adds `site` to the index of sites with a policy of their own (before its document is written, so a
    /// crash in between leaves an index entry without a document, which reads as "inherits everything").
    async fn index_site(&self, site: &str, who: &str) -> Result<(), PolicyError> {
        for _ in 0..10 {
            let (version, mut sites) = self.read_index().await?;
            if !sites.insert(site.to_string()) {
                return Ok(());
            }
            if self
                .store
                .put_doc(
                    GLOBAL_SCOPE,
                    SITES_DOC,
                    version,
                    &to_json(&sites)?,
                    who,
                    AuditNote {
                        action: action::POLICY_SITES,
                        site,
                        detail: "the site has a policy of its own",
                    },
                )
                .await?
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(PolicyError::Conflict { current: 0 })
    }

    /// Drops every cached policy and the activation table.
    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.write() {
            c.global = None;
            c.sites.clear();
            c.activation = None;
            c.epoch += 1;
        }
    }

    /// Keeps the cache current until `stop` turns true: a change epoch poll every [`REFRESH`], a full re-read
    /// every [`FULL_REFRESH`]. Models named by a new activation table are loaded here, before the swap.
    pub async fn refresh_loop(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut last_epoch = None;
        let mut since_full = Duration::ZERO;
        loop {
            match self.store.epoch().await {
                Ok(e) => {
                    if last_epoch.is_some_and(|l| l != e) || since_full >= FULL_REFRESH {
                        // On a store error the old values keep serving and the epoch is not taken as seen,
                        // so the next tick tries again.
                        match self.reload().await {
                            Ok(()) => {
                                since_full = Duration::ZERO;
                                last_epoch = Some(e);
                            }
                            Err(err) => tracing::debug!(error = %err, "policy reload skipped"),
                        }
                    } else {
                        last_epoch = Some(e);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "policy refresh skipped"),
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => since_full += REFRESH,
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
        }
    }

    fn find_model_dir(&self, version: &str) -> Option<PathBuf> {
        self.list_artifacts()
            .into_iter()
            .find(|(v, _)| v == version)
            .map(|(_, d)| d)
    }

    /// (version, directory) of every artifact under the models directory.
    pub fn list_artifacts(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.models_dir) else {
            return out;
        };
        for e in entries.flatten() {
            let dir = e.path();
            let Ok(text) = std::fs::read_to_string(dir.join("card.json")) else {
                continue;
            };
            if let Ok(card) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(v) = card.get("version").and_then(|v| v.as_str())
            {
                out.push((v.to_string(), dir));
            }
        }
        out.sort();
        out
    }

    async fn load_version(&self, version: &str) -> Result<Arc<Scorer>, PolicyError> {
        if let Some(m) = self.model_named(version) {
            return Ok(m);
        }
        let dir = self
            .find_model_dir(version)
            .ok_or_else(|| PolicyError::UnknownModel(version.to_string()))?;
        tokio::task::spawn_blocking(move || Scorer::load(Path::new(&dir)))
            .await
            .map_err(|e| PolicyError::Model(e.to_string()))?
            .map(Arc::new)
            .map_err(|e| PolicyError::Model(e.to_string()))
    }

    /// Activates `version` for `site` (empty: globally): loads it first, then records it.
    pub async fn activate(
        &self,
        site: &str,
        version: &str,
        who: &str,
    ) -> Result<(String, String), PolicyError> {
        let mut v = crate::validate::Violations::default();
        v.site_or_global("site", site);
        if version.is_empty() {
            v.add("version", "is required (see ListModels)");
        }
        v.finish().map_err(|e| PolicyError::Invalid(e.0))?;
        let m = self.load_version(version).await?;
        if let Ok(mut l) = self.loaded.write() {
            l.insert(version.to_string(), m);
        }
        self.change_activation(site, who, action::MODEL_ACTIVATE, |a| {
            if a.active == version {
                return Ok(());
            }
            a.previous = std::mem::replace(&mut a.active, version.to_string());
            Ok(())
        })
        .await
    }

    /// Reactivates the previous model of `site` (empty: global). A site whose previous state was "follow the
    /// global model" follows it again.
    pub async fn rollback(&self, site: &str, who: &str) -> Result<(String, String), PolicyError> {
        let mut v = crate::validate::Violations::default();
        v.site_or_global("site", site);
        v.finish().map_err(|e| PolicyError::Invalid(e.0))?;
        let t = self.activation().await?;
        let prev = if site.is_empty() {
            if t.global.previous.is_empty() {
                return Err(PolicyError::NoPrevious);
            }
            t.global.previous.clone()
        } else {
            match t.sites.get(site) {
                Some(a) if !a.active.is_empty() => a.previous.clone(),
                _ => return Err(PolicyError::NoPrevious),
            }
        };
        if !prev.is_empty() {
            let m = self.load_version(&prev).await?;
            if let Ok(mut l) = self.loaded.write() {
                l.insert(prev.clone(), m);
            }
        }
        let global_scope = site.is_empty();
        self.change_activation(site, who, action::MODEL_ROLLBACK, |a| {
            if global_scope && a.previous.is_empty() {
                return Err(PolicyError::NoPrevious);
            }
            std::mem::swap(&mut a.active, &mut a.previous);
            Ok(())
        })
        .await
    }

    async fn change_activation(
        &self,
        site: &str,
        who: &str,
        what: &str,
        f: impl Fn(&mut Activation) -> Result<(), PolicyError>,
    ) -> Result<(String, String), PolicyError> {
        for _ in 0..5 {
            let (version, mut t) = match self.store.get_doc(GLOBAL_SCOPE, MODELS_DOC).await? {
                Some((v, doc)) => (
                    v,
                    serde_json::from_str::<ActivationTable>(&doc)
                        .map_err(|e| StoreError::Corrupt(format!("activation table: {e}")))?,
                ),
                None => (0, ActivationTable::default()),
            };
            let default_version = self.default_model.version().to_string();
            let global = if t.global.active.is_empty() {
                default_version.clone()
            } else {
                t.global.active.clone()
            };
            let (before, after) = if site.is_empty() {
                let a = &mut t.global;
                if a.active.is_empty() {
                    a.active = default_version;
                }
                let before = a.active.clone();
                f(a)?;
                (before, a.active.clone())
            } else {
                // A site without an entry follows the global model; its entry's empty `previous` means "followed
                // the global model before", so a rollback to it removes the entry instead of pinning a version.
                let a = t.sites.entry(site.to_string()).or_default();
                let before = if a.active.is_empty() {
                    global.clone()
                } else {
                    a.active.clone()
                };
                f(a)?;
                let after = if a.active.is_empty() {
                    t.sites.remove(site);
                    global
                } else {
                    a.active.clone()
                };
                (before, after)
            };
            match self
                .store
                .put_doc(
                    GLOBAL_SCOPE,
                    MODELS_DOC,
                    version,
                    &to_json(&t)?,
                    who,
                    AuditNote {
                        action: what,
                        site: if site.is_empty() { GLOBAL_SCOPE } else { site },
                        detail: &format!("{before} -> {after}"),
                    },
                )
                .await?
            {
                Ok(_) => {
                    self.refresh_now().await;
                    tracing::info!(site, before = %before, after = %after, who, "model activation changed");
                    return Ok((before, after));
                }
                Err(_) => continue,
            }
        }
        Err(PolicyError::Conflict { current: 0 })
    }

    /// Where each loadable model is active: version -> sites (`*` for global).
    pub async fn active_where(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let t = self.activation().await?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let global = if t.global.active.is_empty() {
            self.default_model.version().to_string()
        } else {
            t.global.active.clone()
        };
        out.entry(global).or_default().push("*".into());
        for (site, a) in &t.sites {
            if !a.active.is_empty() {
                out.entry(a.active.clone()).or_default().push(site.clone());
            }
        }
        Ok(out)
    }

    /// The model loaded under `version`, or loadable from the models directory.
    pub async fn model(&self, version: &str) -> Result<Arc<Scorer>, PolicyError> {
        self.load_version(version).await
    }
}
