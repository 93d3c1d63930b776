//! Ground-floor input checks shared by every domain service: the [`Violations`] collector (every problem of a
//! request reported at once) and the shapes of ids that cross the wire (site ids, comment ids, IPs).

use std::net::IpAddr;

/// Every field problem of one request: (field path, what is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {}", .0.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "))]
pub struct Invalid(pub Vec<(String, String)>);

/// Collects field violations so a request reports every problem at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    /// Records a problem with `field`.
    pub fn add(&mut self, field: &str, why: impl Into<String>) {
        self.0.push((field.to_string(), why.into()));
    }

    /// Records a problem with `field` unless one is already recorded for it.
    pub fn add_once(&mut self, field: &str, why: &str) {
        if !self.0.iter().any(|(f, _)| f == field) {
            self.add(field, why);
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems recorded so far, as an error (for a request that cannot go on).
    pub fn into_invalid(self) -> Invalid {
        Invalid(self.0)
    }

    /// Ok when nothing was recorded.
    pub fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.0))
        }
    }

    /// Checks a site id: `[a-z0-9._-]{1,64}`.
    pub fn site(&mut self, field: &str, site: &str) {
        if !is_site_id(site) {
            self.add(
                field,
                "must be 1-64 characters of lowercase letters, digits, '.', '_' or '-'",
            );
        }
    }

    /// Checks a site id, or empty for the global default.
    pub fn site_or_global(&mut self, field: &str, site: &str) {
        if !site.is_empty() {
            self.site(field, site);
        }
    }

    /// Parses an IP literal, recording a violation when it is not one.
    pub fn ip(&mut self, field: &str, ip: &str) -> Option<IpAddr> {
        match ip.trim().parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                let shown: String = ip.chars().take(64).collect();
                self.add(field, format!("{shown:?} is not an IPv4 or IPv6 address"));
                None
            }
        }
    }

    /// Checks a comment id: 32 lowercase hex digits.
    pub fn comment_id(&mut self, field: &str, id: &str) {
        if !is_comment_id(id) {
            self.add(
                field,
                "must be the 32-hex-digit id returned by SubmitComment",
            );
        }
    }
}

/// True for a site id: `[a-z0-9._-]{1,64}` (never `*`, the global scope, and never a brace, the hash tag).
pub fn is_site_id(site: &str) -> bool {
    !site.is_empty()
        && site.len() <= 64
        && site
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// True for a comment id: 32 lowercase hex digits.
pub fn is_comment_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut v = Violations::default();
        v.site("site", "Bad Site");
        v.comment_id("comment_id", "xyz");
        assert!(v.ip("ip", "not-an-ip").is_none());
        let Invalid(all) = v.finish().unwrap_err();
        let fields: Vec<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["site", "comment_id", "ip"]);
    }

    #[test]
    fn ids_have_their_shapes() {
        assert!(is_site_id("hcm-news.vn"));
        assert!(!is_site_id("*"));
        assert!(!is_site_id("{x}"));
        assert!(is_comment_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_comment_id("0123456789ABCDEF0123456789abcdef"));
    }
}
