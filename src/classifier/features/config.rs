//! The feature extractor's knobs ([`FeatureConfig`], part of every model and of its fingerprint), the code
//! version, and the shape of one extracted feature.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bump whenever extraction logic changes: it is part of the fingerprint, so models trained with older logic
/// are refused instead of silently scoring garbage.
pub const CODE_VERSION: &str = "moderato-classifier-features-v1";

/// Knobs of the feature extractor. Part of every model; its fingerprint must match at load time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Number of hash buckets is `2^hash_bits`.
    pub hash_bits: u8,
    /// Emit word bigrams.
    pub word_bigrams: bool,
    /// Smallest character n-gram (within a word, with `<` `>` word-boundary marks).
    pub char_ngram_min: u8,
    /// Largest character n-gram; 0 disables character n-grams.
    pub char_ngram_max: u8,
    /// Character n-grams over the accent-stripped shadow of a word (true) or over the word as written (false).
    pub char_ngrams_on_shadow: bool,
    /// Words longer than this (in characters) get no character n-grams.
    pub char_ngram_max_word_chars: u16,
    /// Emit spam signals (URLs, phones, handles, obfuscation, shape).
    pub signals: bool,
    /// Value of a present signal, in percent (the word and char blocks have unit length).
    pub signal_value_pct: u8,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            hash_bits: 20,
            word_bigrams: true,
            char_ngram_min: 2,
            char_ngram_max: 4,
            char_ngrams_on_shadow: true,
            char_ngram_max_word_chars: 30,
            signals: true,
            signal_value_pct: 100,
        }
    }
}

impl FeatureConfig {
    /// Stable identity of the extraction: sha256 over the code version and the canonical JSON of the config.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(CODE_VERSION.as_bytes());
        h.update([0u8]);
        h.update(serde_json::to_vec(self).expect("config serialises"));
        hex::encode(h.finalize())
    }

    /// Number of hash buckets.
    pub fn buckets(&self) -> usize {
        1usize << self.hash_bits
    }

    /// Checks that the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        if !(8..=24).contains(&self.hash_bits) {
            return Err(format!(
                "hash_bits must be within 8..=24, got {}",
                self.hash_bits
            ));
        }
        if self.char_ngram_max != 0
            && (self.char_ngram_min == 0 || self.char_ngram_min > self.char_ngram_max)
        {
            return Err("char n-gram range must satisfy 1 <= min <= max".into());
        }
        Ok(())
    }
}

/// Which part of the vector a feature belongs to; word and char blocks are L2-normalised separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Word = 0,
    Char = 1,
    Signal = 2,
}

/// One extracted feature after weighting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feat {
    pub bucket: u32,
    pub block: Block,
    pub value: f32,
}
