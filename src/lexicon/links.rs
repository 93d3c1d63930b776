//! The shipped list of domains whose links are ordinary in Vietnamese news comments (`lexicon/vi-links.toml`, data
//! reviewed by people): news outlets, public services, schools, and whole official suffixes (`gov.vn`, `edu.vn`).

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use serde::Deserialize;

/// The list, compiled in.
pub const VI_LINKS_TOML: &str = include_str!("../../lexicon/vi-links.toml");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    suffixes: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
}

/// A compiled domain list: whole suffixes and single domains (each with its subdomains).
#[derive(Debug, Clone, Default)]
pub struct KnownDomains {
    suffixes: Vec<String>,
    domains: HashSet<String>,
}

impl KnownDomains {
    /// Parses a list file: tables with `suffixes` and/or `domains`.
    pub fn parse(toml_text: &str) -> Result<KnownDomains, String> {
        let raw: BTreeMap<String, RawGroup> =
            toml::from_str(toml_text).map_err(|e| format!("domain list: {e}"))?;
        let mut out = KnownDomains::default();
        for (name, g) in raw {
            for d in g.suffixes.iter().chain(&g.domains) {
                if normalize_domain(d).is_none() {
                    return Err(format!("domain list [{name}]: {d:?} is not a domain"));
                }
            }
            out.suffixes
                .extend(g.suffixes.iter().filter_map(|d| normalize_domain(d)));
            out.domains
                .extend(g.domains.iter().filter_map(|d| normalize_domain(d)));
        }
        Ok(out)
    }

    /// The shipped list.
    pub fn shipped() -> &'static KnownDomains {
        static L: LazyLock<KnownDomains> = LazyLock::new(|| {
            KnownDomains::parse(VI_LINKS_TOML)
                .expect("the shipped domain list is valid (checked by a unit test)")
        });
        &L
    }

    /// True for a host on the list (a listed domain or a subdomain of one, or any host under a listed suffix).
    pub fn contains(&self, host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        let h = h.strip_prefix("www.").unwrap_or(&h);
        self.suffixes.iter().any(|s| under(h, s)) || self.domains.iter().any(|d| under(h, d))
    }
}

/// True when `host` is `domain` or a subdomain of it.
pub fn under(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// A domain as a policy or the list writes it, lowercased and without a leading `www.` or trailing dot; `None` when it
/// is not a domain (letters, digits, hyphens and dots, at least one dot or a bare top-level domain such as `gov`).
pub fn normalize_domain(d: &str) -> Option<String> {
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    let d = d.strip_prefix("www.").unwrap_or(&d).to_string();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    ok.then_some(d)
}

/// True for a host a list of domains (a policy's `allowed_domains` or `denied_domains`) names, subdomains included.
pub fn listed(host: &str, list: &[String]) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    list.iter()
        .filter_map(|d| normalize_domain(d))
        .any(|d| under(&h, &d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_parses_and_knows_news_official_and_school_hosts() {
        let l = KnownDomains::shipped();
        for h in [
            "vnexpress.net",
            "m.vnexpress.net",
            "www.tuoitre.vn",
            "dichvucong.gov.vn",
            "tuyensinh.hcmut.edu.vn",
            "example.gov",
        ] {
            assert!(l.contains(h), "{h}");
        }
        for h in [
            "bit.ly",
            "notvnexpress.net",
            "vnexpress.net.example",
            "w88.example",
        ] {
            assert!(!l.contains(h), "{h}");
        }
    }

    #[test]
    fn policy_lists_match_domains_and_their_subdomains_only() {
        let list = vec!["Example.com".to_string(), "www.shop.test".into()];
        assert!(listed("example.com", &list));
        assert!(listed("a.b.example.com", &list));
        assert!(listed("shop.test", &list));
        assert!(!listed("badexample.com", &list));
        assert_eq!(normalize_domain("bad domain"), None);
        assert_eq!(normalize_domain("-x.com"), None);
    }
}
