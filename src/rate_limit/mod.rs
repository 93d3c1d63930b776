//! Rate limits: GCRA rules by descriptor (client IP, author, thread, site), keyed hashes of identifiers, and
//! the translation of one request into the store checks that are charged atomically together.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use std::sync::Arc;

use crate::admission::{LimitCheck, LimitVerdict};
use crate::store::{Keys, Store, StoreError};

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Descriptor {
    /// Per client IP (IPv4 per address, IPv6 per configured prefix).
    ClientIp,
    /// Per author: phone when given, else name with IP.
    Author,
    /// Per article.
    Thread,
    /// The whole site.
    Site,
    /// Captcha challenges created per client.
    CaptchaClient,
}

impl Descriptor {
    /// Stable name, used in keys, metrics and QuotaFailure subjects.
    pub fn name(self) -> &'static str {
        match self {
            Descriptor::ClientIp => "client_ip",
            Descriptor::Author => "author",
            Descriptor::Thread => "thread",
            Descriptor::Site => "site",
            Descriptor::CaptchaClient => "captcha_client",
        }
    }
}

/// `requests` per `period_seconds`, with bursts up to `burst`; shadow limits never refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule {
    /// What it counts.
    pub descriptor: Descriptor,
    /// Sustained rate numerator.
    pub requests: u32,
    /// Sustained rate denominator, seconds.
    pub period_seconds: u32,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
    /// Counted and reported, never refusing.
    #[serde(default)]
    pub shadow: bool,
}

impl LimitRule {
    /// An enforced rule.
    pub fn new(descriptor: Descriptor, requests: u32, period_seconds: u32, burst: u32) -> Self {
        Self {
            descriptor,
            requests,
            period_seconds,
            burst,
            shadow: false,
        }
    }

    /// One request per this many ms at the sustained rate (at least 1).
    pub fn emission_ms(&self) -> u64 {
        (u64::from(self.period_seconds) * 1000 / u64::from(self.requests.max(1))).max(1)
    }

    /// Burst tolerance in ms.
    pub fn tolerance_ms(&self) -> u64 {
        self.emission_ms() * u64::from(self.burst.saturating_sub(1))
    }

    /// Appends every problem with this rule to `errs`, each prefixed with `at`.
    pub fn problems(&self, at: &str, errs: &mut Vec<String>) {
        if self.requests == 0 {
            errs.push(format!("{at}.requests: must be positive"));
        }
        if self.period_seconds == 0 || self.period_seconds > 86_400 * 7 {
            errs.push(format!("{at}.period_seconds: must be between 1 and 604800"));
        }
        if self.burst == 0 || self.burst > 100_000 {
            errs.push(format!("{at}.burst: must be between 1 and 100000"));
        }
    }

    /// A human description for QuotaFailure, e.g. `at most 10 per 60 s (burst 5)`.
    pub fn describe(&self) -> String {
        format!(
            "at most {} per {} s (burst {})",
            self.requests, self.period_seconds, self.burst
        )
    }
}

/// Appends every problem with the submission limits `rules` to `errs`, paths starting with `at`.
pub fn submission_rule_problems(at: &str, rules: &[LimitRule], errs: &mut Vec<String>) {
    for (i, r) in rules.iter().enumerate() {
        r.problems(&format!("{at}[{i}]"), errs);
        if r.descriptor == Descriptor::CaptchaClient {
            errs.push(format!(
                "{at}[{i}].descriptor: captcha_client limits belong in captcha.create_limit"
            ));
        }
    }
}

/// Keyed hashes (HMAC-SHA256, 128 bits shown) that stand in for identifiers in store keys, so no IP, phone
/// or name is ever stored in clear.
#[derive(Clone)]
pub struct Identifiers {
    mac: Hmac<Sha256>,
    ipv6_prefix_len: u8,
}

impl Identifiers {
    /// Hashes under `key`; IPv6 clients are grouped by `ipv6_prefix_len` bits.
    pub fn new(key: &[u8], ipv6_prefix_len: u8) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts keys of any length"),
            ipv6_prefix_len,
        }
    }

    /// Keyed hash of `parts` (domain-separated by `kind`), hex, 32 characters.
    pub fn hash(&self, kind: &str, parts: &[&str]) -> String {
        let mut m = self.mac.clone();
        m.update(kind.as_bytes());
        for p in parts {
            m.update(&[0]);
            m.update(p.as_bytes());
        }
        hex::encode(&m.finalize().into_bytes()[..16])
    }

    /// The client group of an IP: the address for IPv4, the configured prefix for IPv6.
    pub fn client_group(&self, ip: IpAddr) -> String {
        match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return v4.to_string();
                }
                let bits = u128::from(v6);
                let len = u32::from(self.ipv6_prefix_len.min(128));
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                format!("{}/{}", std::net::Ipv6Addr::from(bits & mask), len)
            }
        }
    }

    /// Keyed hash of the client group of `ip`.
    pub fn client(&self, ip: IpAddr) -> String {
        self.hash("client", &[&self.client_group(ip)])
    }
}

/// The subjects one submission is counted against.
#[derive(Debug, Clone)]
pub struct Subjects<'a> {
    /// Site id.
    pub site: &'a str,
    /// The client's IP.
    pub ip: IpAddr,
    /// Normalised phone, if given.
    pub phone: Option<&'a str>,
    /// Author name.
    pub name: &'a str,
    /// Thread id.
    pub thread: &'a str,
}

/// Builds the store checks for `rules` against `subjects`, in rule order.
pub fn checks_for(
    rules: &[LimitRule],
    subjects: &Subjects<'_>,
    ids: &Identifiers,
    keys: &Keys,
) -> Vec<LimitCheck> {
    rules
        .iter()
        .map(|r| {
            let subject = match r.descriptor {
                Descriptor::ClientIp | Descriptor::CaptchaClient => ids.client(subjects.ip),
                Descriptor::Author => match subjects.phone {
                    Some(p) => ids.hash("phone", &[p]),
                    None => ids.hash(
                        "name-ip",
                        &[&author_key(subjects.name), &ids.client_group(subjects.ip)],
                    ),
                },
                Descriptor::Thread => ids.hash("thread", &[subjects.thread]),
                Descriptor::Site => "all".to_string(),
            };
            // The rule's parameters are part of the key: two rules on one descriptor (10 a minute and 100 a
            // day) keep separate state, and a changed rule starts afresh.
            let name = format!(
                "{}-{}-{}-{}{}",
                r.descriptor.name(),
                r.requests,
                r.period_seconds,
                r.burst,
                if r.shadow { "-shadow" } else { "" }
            );
            LimitCheck {
                key: keys.limit(subjects.site, &name, &subject),
                emission_ms: r.emission_ms(),
                tolerance_ms: r.tolerance_ms(),
                shadow: r.shadow,
            }
        })
        .collect()
}

/// A request refused by one or more enforced limits. Nothing was charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Wait until every violated limit allows, ms.
    pub retry_after_ms: u64,
    /// (limit name, description) of each violated limit.
    pub violations: Vec<(String, String)>,
}

/// Checks and charges the limits of one request against the store, and reports refusals and shadow hits in
/// logs and metrics.
#[derive(Clone)]
pub struct Limiter {
    store: Arc<dyn Store>,
    ids: Identifiers,
    keys: Keys,
}

impl Limiter {
    /// A limiter over `store`.
    pub fn new(store: Arc<dyn Store>, ids: Identifiers, keys: Keys) -> Self {
        Self { store, ids, keys }
    }

    /// Charges every rule against `subjects` in one atomic store call. `Ok(Err(_))` is an over-limit answer
    /// (nothing charged); `Err(_)` is a store failure.
    pub async fn charge(
        &self,
        rules: &[LimitRule],
        subjects: &Subjects<'_>,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let checks = checks_for(rules, subjects, &self.ids, &self.keys);
        let verdict = self.store.charge_limits(&checks).await?;
        Ok(judge(subjects.site, rules, &verdict))
    }
}

/// Turns a store verdict for `rules` into the answer, logging and counting shadow hits and refusals.
pub fn judge(site: &str, rules: &[LimitRule], verdict: &LimitVerdict) -> Result<(), Refusal> {
    for &i in &verdict.shadow_hits {
        let Some(r) = rules.get(i) else { continue };
        tracing::info!(
            site,
            limit = r.descriptor.name(),
            "shadow rate limit would refuse"
        );
        metrics::counter!(
            "moderato_rate_limit_shadow_hits_total",
            "site" => crate::metrics_labels::site_label(site),
            "limit" => r.descriptor.name()
        )
        .increment(1);
    }
    if verdict.allowed {
        return Ok(());
    }
    let mut violations = Vec::with_capacity(verdict.refused.len());
    let mut retry_after_ms = 0;
    for &(i, wait) in &verdict.refused {
        let Some(r) = rules.get(i) else { continue };
        retry_after_ms = retry_after_ms.max(wait);
        metrics::counter!(
            "moderato_rate_limit_refusals_total",
            "site" => crate::metrics_labels::site_label(site),
            "limit" => r.descriptor.name()
        )
        .increment(1);
        violations.push((r.descriptor.name().to_string(), r.describe()));
    }
    Err(Refusal {
        retry_after_ms,
        violations,
    })
}

/// Rounds a wait up to whole seconds, as RetryInfo reports it.
pub fn retry_after_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// The form of an author's name that keys their limit when no phone is given: lowercase, accents kept, runs of
/// whitespace as one space, trimmed ("Lê  Văn C" and "lê văn c" are one author).
pub fn author_key(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_per_64() {
        let ids = Identifiers::new(b"k", 64);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ids.client(a), ids.client(b));
        assert_ne!(ids.client(a), ids.client(c));
    }

    #[test]
    fn hashes_depend_on_the_key_and_hide_the_identifier() {
        let a = Identifiers::new(b"k1", 64).hash("phone", &["0912345678"]);
        let b = Identifiers::new(b"k2", 64).hash("phone", &["0912345678"]);
        assert_ne!(a, b);
        assert!(!a.contains("0912345678"));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn two_rules_on_one_descriptor_keep_separate_state() {
        let ids = Identifiers::new(b"k", 64);
        let rules = [
            LimitRule::new(Descriptor::ClientIp, 10, 60, 10),
            LimitRule::new(Descriptor::ClientIp, 100, 86_400, 100),
        ];
        let s = Subjects {
            site: "s",
            ip: "10.0.0.1".parse().unwrap(),
            phone: None,
            name: "An",
            thread: "t",
        };
        let c = checks_for(&rules, &s, &ids, &Keys::new("t:"));
        assert_ne!(c[0].key, c[1].key);
    }

    #[test]
    fn shadow_and_enforced_limits_use_distinct_keys() {
        let ids = Identifiers::new(b"k", 64);
        let keys = Keys::new("t:");
        let mut shadow = LimitRule::new(Descriptor::ClientIp, 1, 1, 1);
        shadow.shadow = true;
        let rules = [LimitRule::new(Descriptor::ClientIp, 1, 1, 1), shadow];
        let s = Subjects {
            site: "s",
            ip: "10.0.0.1".parse().unwrap(),
            phone: None,
            name: "An",
            thread: "t",
        };
        let c = checks_for(&rules, &s, &ids, &keys);
        assert_ne!(c[0].key, c[1].key);
        assert!(!c[0].key.contains("10.0.0.1"));
    }

    #[test]
    fn an_author_name_keys_one_limit_whatever_its_spacing_and_case() {
        assert_eq!(author_key("Lê  Văn C"), author_key("lê văn c"));
        assert_eq!(author_key(" Lê\tVăn   C "), "lê văn c");
        assert_ne!(author_key("Lê Văn C"), author_key("Le Van C"));
    }
}
