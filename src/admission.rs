//! The admission vocabulary: a rate limit check and its GCRA rule, what a set of checks decided, and what the
//! one admission step of a submission did. The domain (`rate_limit`, `comment`) builds the checks and reads the
//! outcomes; the store persists them in one atomic step (`submit.lua` and `charge_limits.lua` apply [`gcra`] as
//! written here, and the memory store calls it).

/// A rate limit check ready for the store: the key, and the GCRA parameters in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCheck {
    /// Store key (the store's `Keys::limit`).
    pub key: String,
    /// Emission interval: one request per this many ms at the sustained rate.
    pub emission_ms: u64,
    /// Burst tolerance: `emission_ms * (burst - 1)`.
    pub tolerance_ms: u64,
    /// Shadow limits are evaluated and reported but never refuse.
    pub shadow: bool,
}

/// What the store decided for a set of limits of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitVerdict {
    /// True when every enforced limit allowed the request; then every allowing limit was charged.
    pub allowed: bool,
    /// Enforced limits that refused, by index into the checks, with the wait in ms until each allows.
    pub refused: Vec<(usize, u64)>,
    /// Shadow limits that would have refused, by index into the checks.
    pub shadow_hits: Vec<usize>,
}

/// What the admission step did.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Stored; the decision event sits at `cursor`.
    Recorded {
        /// Decision stream cursor.
        cursor: String,
        /// Shadow limits that would have refused, by index.
        shadow_hits: Vec<usize>,
        /// The campaign the comment was found part of (its alternate record was stored), if any.
        campaign: Option<String>,
    },
    /// The idempotency key was seen: the first answer, nothing consumed.
    Replayed {
        /// The stored answer.
        response: String,
    },
    /// Over a limit; nothing consumed.
    RateLimited(LimitVerdict),
    /// Wrong, unknown or used captcha (consumed).
    CaptchaInvalid,
    /// Expired captcha (consumed).
    CaptchaExpired,
}

/// The GCRA step shared by the memory store and mirrored by `lua/charge_limits.lua`.
/// Returns the new theoretical arrival time, or the wait in ms until the request would be allowed.
pub fn gcra(tat: Option<u64>, now: u64, emission_ms: u64, tolerance_ms: u64) -> Result<u64, u64> {
    let tat = tat.unwrap_or(now).max(now);
    let allow_at = tat.saturating_sub(tolerance_ms);
    if now < allow_at {
        Err(allow_at - now)
    } else {
        Ok(tat + emission_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_then_spaces_requests() {
        let (em, tol) = (1000, 2000); // 1/s, burst 3
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(gcra(tat, 0, em, tol).expect("burst allowed"));
        }
        assert_eq!(gcra(tat, 0, em, tol), Err(1000));
        assert!(gcra(tat, 1000, em, tol).is_ok());
    }
}
