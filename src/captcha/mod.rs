//! Captcha challenges: render an image with the `captcha` crate, keep only a keyed hash of the answer in the
//! store, and consume a challenge on its first check, right or wrong.

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::admission::LimitCheck;
use crate::rate_limit::{Identifiers, LimitRule};
use crate::store::{CreateOutcome, Keys, NewChallenge, Store, StoreError, TakenChallenge};

/// Longest answer accepted for checking; anything longer cannot be right.
pub const MAX_ANSWER_CHARS: usize = 32;

/// Characters used in challenges. Left out, because a careful reader mistakes them in this font under the
/// noise: 0/o, 1/l/i, g/8/9 with 3/8 (g and 8 go; 3 and 9 stay) and r/t (r goes). 26 characters, 11.9 million
/// answers of 5. Read by eye, 20 images each (`moderato captcha samples`): the previous alphabet and 5-10 px
/// dots 19 of 20 right (3 read as 8), without g and 8 and with 2-3 px dots 19 of 20 (t read as r), without r
/// as well 20 of 20; `models/MEASUREMENTS.md` has the readings.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'h', 'k', 'm', 'n', 'p', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
    '2', '3', '4', '5', '6', '7', '9',
];

/// Pairs a reader confuses in the challenge font; the alphabet never holds both of a pair.
#[cfg(test)]
const CONFUSABLE: &[(char, char)] = &[
    ('0', 'o'),
    ('1', 'l'),
    ('1', 'i'),
    ('l', 'i'),
    ('g', '8'),
    ('g', '9'),
    ('g', 'q'),
    ('3', '8'),
    ('8', 'b'),
    ('r', 't'),
    ('r', 'n'),
];

/// Per-site captcha settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Characters per challenge.
    pub length: u32,
    /// 1 (easy) to 3 (hard).
    pub difficulty: u32,
    /// Lifetime in seconds.
    pub ttl_seconds: u32,
    /// Live challenges one client may hold.
    pub max_live_per_client: u32,
    /// Creation limit per client.
    pub create_limit: LimitRule,
}

/// A random answer of `length` characters from the challenge alphabet.
pub fn random_answer(length: u32) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..length)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
        .collect()
}

/// Renders `answer` as a PNG. CPU-bound (a few ms): call it from a blocking context. Characters the font
/// lacks are skipped, so answers come from [`random_answer`].
pub fn render(answer: &str, difficulty: u32) -> Option<Vec<u8>> {
    use captcha::filters::{Dots, Noise, Wave};
    let mut c = captcha::Captcha::new();
    for ch in answer.chars() {
        c.set_chars(&[ch]).add_char();
    }
    match difficulty {
        1 => {
            c.apply_filter(Noise::new(0.1));
        }
        // Dots of 2-3 px break a stroke's outline for a machine but never cover one for a reader (the
        // crate's default of 5-10 px hid whole strokes).
        2 => {
            c.apply_filter(Noise::new(0.3))
                .apply_filter(Wave::new(2.0, 8.0).horizontal())
                .apply_filter(Dots::new(12).min_radius(2).max_radius(3));
        }
        _ => {
            c.apply_filter(Noise::new(0.45))
                .apply_filter(Wave::new(2.0, 14.0).horizontal())
                .apply_filter(Wave::new(2.0, 8.0).vertical())
                .apply_filter(Dots::new(20).min_radius(2).max_radius(3));
        }
    }
    c.view(220, 120);
    if c.chars_as_string() != answer {
        return None;
    }
    c.as_png()
}

/// A fresh challenge id: 128 random bits, 32 lowercase hex digits.
pub fn new_challenge_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// True when `id` has the shape of a challenge id.
pub fn is_challenge_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What readers type, as compared: surrounding whitespace dropped, lowercase.
pub fn normalize_answer(a: &str) -> String {
    a.trim().to_lowercase()
}

/// Why a captcha call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    /// Wrong answer, unknown or already used challenge.
    #[error("captcha answer is wrong or the challenge was already used; ask for a new challenge")]
    Invalid,
    /// The challenge outlived its TTL.
    #[error("captcha challenge expired; ask for a new challenge")]
    Expired,
    /// The client created challenges too fast.
    #[error("too many captcha challenges requested; retry later")]
    RateLimited {
        /// Wait in ms.
        retry_after_ms: u64,
        /// The violated limit, described.
        limit: String,
    },
    /// The client holds too many live challenges.
    #[error("too many live captcha challenges for this client; use one or wait for them to expire")]
    TooManyLive {
        /// Wait in ms.
        retry_after_ms: u64,
        /// The bound, described.
        limit: String,
    },
    /// The image could not be rendered.
    #[error("captcha image could not be rendered")]
    Render,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored challenge, as returned to the portal.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Challenge id.
    pub id: String,
    /// PNG image.
    pub png: Vec<u8>,
    /// Expiry, epoch ms (store time).
    pub expires_at_ms: u64,
    /// Answer length.
    pub answer_length: u32,
}

/// Issues and checks challenges against the store.
#[derive(Clone)]
pub struct Captchas {
    store: Arc<dyn Store>,
    ids: Identifiers,
    keys: Keys,
}

impl Captchas {
    /// Challenges kept in `store`, identifiers hashed with `ids`.
    pub fn new(store: Arc<dyn Store>, ids: Identifiers, keys: Keys) -> Self {
        Self { store, ids, keys }
    }

    /// The keyed hash stored for `answer` to challenge `id` (and compared at check time).
    pub fn expected_hash(&self, site: &str, id: &str, answer: &str) -> String {
        self.ids
            .hash("captcha-answer", &[site, id, &normalize_answer(answer)])
    }

    /// Creates and stores a challenge for the client at `ip`. The limits are checked before the image is
    /// rendered, so refused requests cost no rendering.
    pub async fn create(
        &self,
        site: &str,
        ip: IpAddr,
        s: &Settings,
    ) -> Result<Issued, CaptchaError> {
        self.create_with_answer(site, ip, s, &random_answer(s.length))
            .await
    }

    /// [`Captchas::create`] with a chosen answer (the random one in production; a known one in tests).
    pub async fn create_with_answer(
        &self,
        site: &str,
        ip: IpAddr,
        s: &Settings,
        answer: &str,
    ) -> Result<Issued, CaptchaError> {
        let id = new_challenge_id();
        let client = self.ids.client(ip);
        let hash = self.expected_hash(site, &id, answer);
        let create_limit = LimitCheck {
            key: self
                .keys
                .limit(site, s.create_limit.descriptor.name(), &client),
            emission_ms: s.create_limit.emission_ms(),
            tolerance_ms: s.create_limit.tolerance_ms(),
            shadow: false,
        };
        let outcome = self
            .store
            .create_challenge(NewChallenge {
                site,
                id: &id,
                client: &client,
                answer_hash: &hash,
                ttl_ms: u64::from(s.ttl_seconds) * 1000,
                max_live: s.max_live_per_client,
                create_limit,
            })
            .await?;
        match outcome {
            CreateOutcome::Created { expires_at_ms } => {
                let (text, difficulty) = (answer.to_string(), s.difficulty);
                let png = tokio::task::spawn_blocking(move || render(&text, difficulty))
                    .await
                    .ok()
                    .flatten()
                    .ok_or(CaptchaError::Render)?;
                Ok(Issued {
                    id,
                    png,
                    expires_at_ms,
                    answer_length: answer.chars().count() as u32,
                })
            }
            CreateOutcome::RateLimited { retry_after_ms } => Err(CaptchaError::RateLimited {
                retry_after_ms,
                limit: s.create_limit.describe(),
            }),
            CreateOutcome::TooManyLive { retry_after_ms } => Err(CaptchaError::TooManyLive {
                retry_after_ms,
                limit: format!("at most {} live challenges", s.max_live_per_client),
            }),
        }
    }

    /// Consumes the challenge and checks the answer in constant time.
    pub async fn check(&self, site: &str, id: &str, answer: &str) -> Result<(), CaptchaError> {
        match self.store.take_challenge(site, id).await? {
            TakenChallenge::Unknown => Err(CaptchaError::Invalid),
            TakenChallenge::Expired => Err(CaptchaError::Expired),
            TakenChallenge::Live { answer_hash } => {
                let given = self.expected_hash(site, id, answer);
                if bool::from(given.as_bytes().ct_eq(answer_hash.as_bytes())) {
                    Ok(())
                } else {
                    Err(CaptchaError::Invalid)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_answer_the_alphabet_can_make() {
        for chunk in ALPHABET.chunks(6) {
            let answer: String = chunk.iter().collect();
            let png = render(&answer, 2).expect("every alphabet character renders");
            assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
        }
        assert_eq!(random_answer(6).chars().count(), 6);
    }

    #[test]
    fn the_alphabet_never_holds_both_of_a_confusable_pair() {
        for (a, b) in CONFUSABLE {
            assert!(
                !(ALPHABET.contains(a) && ALPHABET.contains(b)),
                "{a} and {b} are both in the alphabet"
            );
        }
        let answers: String = (0..200).map(|_| random_answer(5)).collect();
        assert!(!answers.contains(['g', '8', 'r', 'o', '0', 'l', '1', 'i']));
    }

    #[test]
    fn answers_compare_case_insensitively_and_trimmed() {
        assert_eq!(normalize_answer("  AbC9 \n"), "abc9");
    }

    #[test]
    fn challenge_ids_are_128_bit_hex() {
        let id = new_challenge_id();
        assert!(is_challenge_id(&id));
        assert_ne!(id, new_challenge_id());
        assert!(!is_challenge_id("../etc/passwd"));
    }
}
