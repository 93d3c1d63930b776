//! The per-thread word memo: what a known word contributes on its own (its accent-stripped shadow, token buckets,
//! char n-gram buckets and chat-app signal), replayed instead of recomputed; bounded, and started over when full.

use super::*;

/// Words longer than this (in bytes) are computed afresh each time instead of memoised.
pub(super) const MEMO_WORD_MAX_BYTES: usize = 64;
/// Feature configurations whose memos a thread keeps at once.
pub(super) const MEMO_CONFIGS: usize = 3;
/// Distinct words a memo holds before it starts over.
pub(super) const MEMO_WORDS: usize = 1 << 13;
pub(super) const MEMO_SLOTS: usize = MEMO_WORDS * 2;
/// Bytes of words and shadows, and char n-gram buckets, a memo holds before it starts over: with the entries and
/// slots, at most about 1.4 MB per memo (a scratch keeps up to `MEMO_CONFIGS` of them).
pub(super) const MEMO_TEXT_BYTES: usize = 1 << 18;
pub(super) const MEMO_GRAMS: usize = 1 << 17;

/// Per-thread memo of what a word contributes on its own: its accent-stripped shadow, its token buckets, its
/// char n-gram buckets and its chat-app signal. Comments repeat a small vocabulary (Vietnamese syllables above
/// all), so most words are found here and skip the per-character shadowing and the n-gram hashing. Entries are
/// exactly what computing the word gives, replayed in the same order: the features do not depend on what the
/// memo held before.
#[derive(Default)]
pub(super) struct WordCache {
    /// Never memoise (every word computed afresh).
    pub(super) off: bool,
    /// The configuration the entries were computed under.
    pub(super) cfg: Option<FeatureConfig>,
    /// Open addressing over `entries`: 0 = empty, else 1 + entry index.
    pub(super) slots: Vec<u32>,
    pub(super) entries: Vec<WordEntry>,
    /// Each word followed by its shadow.
    pub(super) text: String,
    /// Char n-gram buckets of every entry, in emission order.
    pub(super) grams: Vec<u32>,
    /// The last word computed afresh, and its shadow; its char n-gram buckets.
    pub(super) fresh_text: String,
    pub(super) fresh_grams: Vec<u32>,
}

/// What one word contributes; indexes into the memo's `text` and `grams`.
#[derive(Clone, Copy)]
pub(super) struct WordEntry {
    pub(super) hash: u64,
    pub(super) text_at: u32,
    pub(super) word_len: u32,
    pub(super) shadow_len: u32,
    pub(super) grams_at: u32,
    pub(super) grams_len: u32,
    /// Its [`token_buckets`].
    pub(super) tokens: (u32, Option<u32>),
    pub(super) chat: Option<&'static str>,
    /// Kept in the memo (its offsets point into the memo), or computed afresh (into the fresh buffers).
    pub(super) memoised: bool,
}

impl WordCache {
    pub(super) fn reset(&mut self, cfg: &FeatureConfig) {
        self.cfg = Some(cfg.clone());
        self.clear();
    }

    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.slots.resize(MEMO_SLOTS, 0);
        self.entries.clear();
        self.text.clear();
        self.grams.clear();
        // The whole allowance at once (pages are only touched as they fill): nothing past it is ever pushed, so the
        // buffers never grow beyond it by doubling.
        self.text.reserve_exact(MEMO_TEXT_BYTES);
        self.grams.reserve_exact(MEMO_GRAMS);
    }

    #[inline]
    pub(super) fn slot_of(hash: u64) -> usize {
        ((hash ^ (hash >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
            & (MEMO_SLOTS - 1)
    }

    /// The text an entry's offsets point into: the memo's, or the last word computed afresh.
    pub(super) fn text_of(&self, e: &WordEntry) -> &str {
        if e.memoised {
            &self.text
        } else {
            &self.fresh_text
        }
    }

    pub(super) fn shadow(&self, e: &WordEntry) -> &str {
        let at = (e.text_at + e.word_len) as usize;
        &self.text_of(e)[at..at + e.shadow_len as usize]
    }

    pub(super) fn grams(&self, e: &WordEntry) -> &[u32] {
        let grams = if e.memoised {
            &self.grams
        } else {
            &self.fresh_grams
        };
        &grams[e.grams_at as usize..][..e.grams_len as usize]
    }

    /// The contribution of `tok`: from the memo when `memo` and it is there, else computed (and memoised when
    /// `memo`). An entry is valid until the next call.
    pub(super) fn word(
        &mut self,
        cfg: &FeatureConfig,
        tok: &str,
        memo: bool,
        gram: &mut String,
        offs: &mut Vec<usize>,
    ) -> WordEntry {
        let h = Hasher::new(NS_TOKEN).bytes(tok.as_bytes());
        if memo {
            let mut s = Self::slot_of(h.0);
            loop {
                let v = self.slots[s];
                if v == 0 {
                    break;
                }
                let e = &self.entries[v as usize - 1];
                if e.hash == h.0 && &self.text[e.text_at as usize..][..e.word_len as usize] == tok {
                    return *e;
                }
                s = (s + 1) & (MEMO_SLOTS - 1);
            }
        }
        // Computed afresh into buffers of its own (a long word never passes through the memo's).
        let bits = cfg.hash_bits;
        let (text, grams) = (&mut self.fresh_text, &mut self.fresh_grams);
        text.clear();
        text.push_str(tok);
        text.extend(tok.chars().map(strip_accent));
        let shadow = &text[tok.len()..];
        grams.clear();
        if !tok.bytes().all(|b| b.is_ascii_digit()) {
            let word = if cfg.char_ngrams_on_shadow {
                shadow
            } else {
                tok
            };
            for_each_char_ngram(cfg, word, gram, offs, |g| {
                grams.push(Hasher::new(NS_CHAR).bytes(g.as_bytes()).bucket(bits));
            });
        }
        let mut e = WordEntry {
            hash: h.0,
            text_at: 0,
            word_len: tok.len() as u32,
            shadow_len: shadow.len() as u32,
            grams_at: 0,
            grams_len: grams.len() as u32,
            tokens: token_buckets(bits, tok, shadow),
            chat: chat_signal(shadow),
            memoised: false,
        };
        if memo {
            if self.entries.len() == MEMO_WORDS
                || self.text.len() + text.len() > MEMO_TEXT_BYTES
                || self.grams.len() + grams.len() > MEMO_GRAMS
            {
                self.clear();
            }
            e.text_at = self.text.len() as u32;
            e.grams_at = self.grams.len() as u32;
            e.memoised = true;
            self.text.push_str(&self.fresh_text);
            self.grams.extend_from_slice(&self.fresh_grams);
            let mut s = Self::slot_of(h.0);
            while self.slots[s] != 0 {
                s = (s + 1) & (MEMO_SLOTS - 1);
            }
            self.entries.push(e);
            self.slots[s] = self.entries.len() as u32;
        }
        e
    }
}
