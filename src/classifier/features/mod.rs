//! Feature extraction: hashed word, bigram and char n-gram features plus spam signals from all four fields.

use std::sync::LazyLock;

use super::CommentText;
use crate::text::detect::{
    SHORTENERS, chat_signal, deleet, is_email, is_handle, is_money, is_word_char, scan_phones,
    url_host,
};
use crate::text::normalize::{NormStats, is_letter, normalize_into, shadow_into, strip_accent};

mod config;
mod memo;

pub use config::{Block, CODE_VERSION, Feat, FeatureConfig};
use memo::{MEMO_CONFIGS, MEMO_WORD_MAX_BYTES, WordCache};

const NS_TOKEN: u64 = 0x746f6b656e;
const NS_BIGRAM: u64 = 0x626967726d;
const NS_CHAR: u64 = 0x63686172;
const NS_SIGNAL: u64 = 0x7369676e;

const H_TOKEN: Hasher = Hasher::seeded(NS_TOKEN);
const H_BIGRAM: Hasher = Hasher::seeded(NS_BIGRAM);
const H_CHAR: Hasher = Hasher::seeded(NS_CHAR);
const H_SIGNAL: Hasher = Hasher::seeded(NS_SIGNAL);

/// Streaming FNV-1a over bytes, finished with a 64-bit avalanche mix.
#[derive(Clone, Copy)]
struct Hasher(u64);

impl Hasher {
    /// FNV-1a state after the namespace's 8 little-endian bytes.
    const fn seeded(ns: u64) -> Self {
        let b = ns.to_le_bytes();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < 8 {
            h ^= b[i] as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        Hasher(h)
    }

    #[inline]
    fn new(ns: u64) -> Self {
        match ns {
            NS_TOKEN => H_TOKEN,
            NS_BIGRAM => H_BIGRAM,
            NS_CHAR => H_CHAR,
            NS_SIGNAL => H_SIGNAL,
            _ => Self::seeded(ns),
        }
    }
    #[inline]
    fn bytes(mut self, b: &[u8]) -> Self {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
    #[inline]
    fn bucket(self, bits: u8) -> u32 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^= k >> 33;
        (k >> (64 - bits.clamp(1, 32) as u32)) as u32
    }
}

/// Deduplicating accumulator: an open-addressing table over (bucket, block) reused across documents. A slot
/// holds the packed key in its high half and 1 + the entry index in its low half (0 = empty).
#[derive(Default)]
struct Acc {
    slots: Vec<u64>,
    /// (bucket, block, slot, count) of every entry, in first-seen order.
    keys: Vec<(u32, Block, u32, f32)>,
    /// (entry index, name) of the named entries, in entry order: every entry when naming everything, only the
    /// signal entries when naming signals only.
    names: Vec<(u32, String)>,
    naming: Naming,
}

/// Which entries get a readable name.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Naming {
    #[default]
    Off,
    /// Only the signal features (the others read as empty): no string is built per token.
    Signals,
    All,
}

impl Naming {
    #[inline]
    fn names(self, block: Block) -> bool {
        match self {
            Naming::Off => false,
            Naming::Signals => block == Block::Signal,
            Naming::All => true,
        }
    }
}

impl Acc {
    fn clear(&mut self) {
        for &(_, _, slot, _) in &self.keys {
            self.slots[slot as usize] = 0;
        }
        self.keys.clear();
        self.names.clear();
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(4096);
        self.slots.clear();
        self.slots.resize(cap, 0);
        let mask = cap - 1;
        for (i, key) in self.keys.iter_mut().enumerate() {
            let packed = Self::pack(key.0, key.1);
            let mut s = Self::slot_of(packed) & mask;
            while self.slots[s] != 0 {
                s = (s + 1) & mask;
            }
            self.slots[s] = ((packed as u64) << 32) | (i as u64 + 1);
            key.2 = s as u32;
        }
    }

    #[inline]
    fn pack(bucket: u32, block: Block) -> u32 {
        bucket | ((block as u32) << 30)
    }

    #[inline]
    fn slot_of(packed: u32) -> usize {
        ((packed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
    }

    /// Records the name of a new entry (training and rule-signal readers only: kept out of line so that
    /// [`Acc::add`] stays small enough to inline into the n-gram loops).
    #[cold]
    #[inline(never)]
    fn push_name(&mut self, name: impl FnOnce() -> String) {
        let index = self.keys.len() as u32 - 1;
        self.names.push((index, name()));
    }

    #[inline]
    fn add(&mut self, bucket: u32, block: Block, name: impl FnOnce() -> String) {
        if (self.keys.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let packed = Self::pack(bucket, block);
        let mask = self.slots.len() - 1;
        let mut s = Self::slot_of(packed) & mask;
        loop {
            let v = self.slots[s];
            if v == 0 {
                self.slots[s] = ((packed as u64) << 32) | (self.keys.len() as u64 + 1);
                self.keys.push((bucket, block, s as u32, 1.0));
                if self.naming.names(block) {
                    self.push_name(name);
                }
                return;
            }
            if (v >> 32) as u32 == packed {
                self.keys[(v as u32 - 1) as usize].3 += 1.0;
                return;
            }
            s = (s + 1) & mask;
        }
    }
}

/// Calls `f` with every char n-gram of `word` (marked `<word>`), shortest first, left to right; none when n-grams
/// are off or the word is longer than `char_ngram_max_word_chars`.
fn for_each_char_ngram(
    cfg: &FeatureConfig,
    word: &str,
    gram: &mut String,
    offs: &mut Vec<usize>,
    mut f: impl FnMut(&str),
) {
    if cfg.char_ngram_max == 0 {
        return;
    }
    gram.clear();
    gram.push('<');
    gram.push_str(word);
    gram.push('>');
    // Character boundaries: for ASCII (the shadow of Vietnamese text) they are the byte positions, so no offsets
    // are built.
    let ascii = gram.is_ascii();
    if !ascii {
        offs.clear();
        offs.extend(gram.char_indices().map(|(i, _)| i));
        offs.push(gram.len());
    }
    let n_chars = if ascii { gram.len() } else { offs.len() - 1 };
    if n_chars > cfg.char_ngram_max_word_chars as usize + 2 {
        return;
    }
    let at = |k: usize| if ascii { k } else { offs[k] };
    let lo = cfg.char_ngram_min as usize;
    let hi = (cfg.char_ngram_max as usize).min(n_chars);
    for n in lo..=hi {
        for i in 0..=(n_chars - n) {
            f(&gram[at(i)..at(i + n)]);
        }
    }
}

/// Reusable buffers for extraction; keep one per thread.
#[derive(Default)]
pub struct Scratch {
    norm: String,
    tmp: String,
    shadow: String,
    prev_shadow: String,
    gram: String,
    offs: Vec<usize>,
    joined: String,
    leet: String,
    acc: Acc,
    /// The word memo of the configuration in use, and those of the others used most recently (up to
    /// `MEMO_CONFIGS` in all), so that models with different configurations on one thread keep theirs.
    cache: WordCache,
    spare: Vec<WordCache>,
    /// The features of the last extracted comment (unique per bucket and block, in first-seen order).
    pub feats: Vec<Feat>,
}

impl Scratch {
    /// Buffers that also record a readable name per feature (used while training).
    pub fn with_names() -> Self {
        let mut s = Scratch::default();
        s.acc.naming = Naming::All;
        s
    }

    /// Buffers that name only the signal features (URL, phone, chat app, ...): what rule-signal readers need,
    /// without building a string per token.
    pub fn with_signal_names() -> Self {
        let mut s = Scratch::default();
        s.acc.naming = Naming::Signals;
        s
    }

    /// Buffers that compute every word afresh instead of replaying it from the per-thread word memo (the
    /// baseline the memo is measured and tested against; the features are the same).
    pub fn without_word_memo() -> Self {
        let mut s = Scratch::default();
        s.cache.off = true;
        s
    }

    /// Makes the memo of `cfg` the one in use: a kept one, else a new one (the least recently used starts over
    /// when `MEMO_CONFIGS` are kept).
    fn select_memo(&mut self, cfg: &FeatureConfig) {
        let next = match self.spare.iter().position(|m| m.cfg.as_ref() == Some(cfg)) {
            Some(i) => self.spare.remove(i),
            None => {
                let mut m = if self.spare.len() + 1 >= MEMO_CONFIGS && !self.spare.is_empty() {
                    self.spare.remove(0)
                } else {
                    WordCache {
                        off: self.cache.off,
                        ..WordCache::default()
                    }
                };
                m.reset(cfg);
                m
            }
        };
        let last = std::mem::replace(&mut self.cache, next);
        if last.cfg.is_some() && self.spare.len() + 1 < MEMO_CONFIGS {
            self.spare.push(last);
        }
    }

    /// Readable name of `feats[i]`; empty unless created with [`Scratch::with_names`] (or, for a signal,
    /// [`Scratch::with_signal_names`]).
    pub fn name(&self, i: usize) -> &str {
        let names = &self.acc.names;
        // Naming everything keeps names dense: entry i is at i.
        if let Some((index, name)) = names.get(i)
            && *index as usize == i
        {
            return name;
        }
        names
            .binary_search_by_key(&(i as u32), |(index, _)| *index)
            .map_or("", |k| names[k].1.as_str())
    }
}

/// Which form field a piece of text came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Body,
    Title,
    Name,
}

impl Field {
    fn suffix(self) -> &'static str {
        match self {
            Field::Body => "",
            Field::Title => "-in-title",
            Field::Name => "-in-name",
        }
    }
}

/// The feature extractor: a [`FeatureConfig`] plus the extraction code.
#[derive(Debug, Clone)]
pub struct Extractor {
    cfg: FeatureConfig,
}

impl Extractor {
    pub fn new(cfg: FeatureConfig) -> Self {
        Extractor { cfg }
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Extracts the features of `c` into `s.feats` (and names into `s` when naming).
    pub fn extract(&self, c: &CommentText<'_>, s: &mut Scratch) {
        s.acc.clear();
        s.feats.clear();
        if s.acc.slots.is_empty() {
            s.acc.grow();
        }
        if s.cache.cfg.as_ref() != Some(&self.cfg) {
            s.select_memo(&self.cfg);
        }
        let bits = self.cfg.hash_bits;
        let mut body_stats = NormStats::default();
        let fields = [
            (Field::Body, c.body),
            (Field::Title, c.title),
            (Field::Name, c.name),
        ];
        for (field, raw) in fields {
            let raw = raw.trim_end_matches(|ch: char| ch.is_whitespace() || ch == '\u{FEFF}');
            if raw.is_empty() {
                continue;
            }
            let st = normalize_into(raw, &mut s.norm, &mut s.tmp);
            let text = std::mem::take(&mut s.norm);
            if field != Field::Name {
                self.words(&text, s);
            }
            if self.cfg.signals {
                self.entities(&text, field, s);
                if field == Field::Body {
                    body_stats = st;
                }
            }
            s.norm = text;
        }
        if self.cfg.signals {
            let phone = c.phone.trim();
            if !phone.is_empty() {
                let p = scan_phones(phone);
                let name = if p.vn > 0 {
                    "phone-field:valid"
                } else {
                    "phone-field:invalid"
                };
                signal(&mut s.acc, bits, name, "");
            }
            shape_signals(&mut s.acc, bits, &body_stats);
        }
        self.finish(s);
    }

    /// Word unigrams and bigrams (accent-stripped shadow always, accented form when it differs), character
    /// n-grams over the shadow, and re-joined spaced letters.
    fn words(&self, text: &str, s: &mut Scratch) {
        let bits = self.cfg.hash_bits;
        let Scratch {
            shadow,
            prev_shadow,
            gram,
            offs,
            joined,
            acc,
            cache,
            ..
        } = s;
        let mut prev: Option<&str> = None;
        let mut prev_end = 0usize;
        let mut run = 0u32;
        joined.clear();
        let mut start: Option<usize> = None;
        let bytes_len = text.len();
        let iter = text.char_indices().chain(std::iter::once((bytes_len, ' ')));
        for (i, ch) in iter {
            let is_word = i < bytes_len && is_word_char(ch);
            if is_word {
                if start.is_none() {
                    start = Some(i);
                }
                continue;
            }
            let Some(st) = start.take() else { continue };
            let tok = &text[st..i];
            // Spaced letters: single letters separated by one character ("n h à c á i").
            let mut chars = tok.chars();
            let single = matches!((chars.next(), chars.next()), (Some(c), None) if is_letter(c));
            if single && (run == 0 || st - prev_end <= 2) {
                joined.push_str(tok);
                run += 1;
            } else {
                flush_spaced(acc, bits, joined, shadow, &mut run);
                if single {
                    joined.push_str(tok);
                    run = 1;
                }
            }
            prev_end = i;
            let all_digits = tok.bytes().all(|b| b.is_ascii_digit());
            if all_digits && tok.len() >= 4 {
                let len = tok.len().min(12) as u8;
                let h = Hasher::new(NS_TOKEN)
                    .bytes(b"#num")
                    .bytes(&[len])
                    .bucket(bits);
                acc.add(h, Block::Word, || format!("token:<{len}-digit number>"));
                prev = None;
                continue;
            }
            // What the word alone contributes (its shadow, token buckets, char n-grams, chat app), from the memo
            // when the word was seen before on this thread.
            let memo = !cache.off && acc.naming != Naming::All && tok.len() <= MEMO_WORD_MAX_BYTES;
            let e = cache.word(&self.cfg, tok, memo, gram, offs);
            shadow.clear();
            shadow.push_str(cache.shadow(&e));
            add_tokens(acc, e.tokens, tok, shadow);
            if self.cfg.word_bigrams
                && let Some(p) = prev
            {
                let h = Hasher::new(NS_BIGRAM)
                    .bytes(prev_shadow.as_bytes())
                    .bytes(b" ")
                    .bytes(shadow.as_bytes())
                    .bucket(bits);
                acc.add(h, Block::Word, || format!("bigram:{prev_shadow} {shadow}"));
                if p != prev_shadow.as_str() || tok != shadow.as_str() {
                    let h = Hasher::new(NS_BIGRAM)
                        .bytes(p.as_bytes())
                        .bytes(b" ")
                        .bytes(tok.as_bytes())
                        .bucket(bits);
                    acc.add(h, Block::Word, || format!("bigram:{p} {tok}"));
                }
            }
            let grams = cache.grams(&e);
            if acc.naming == Naming::All && !grams.is_empty() {
                // Training names every n-gram: the same windows again, in the same order, for their text.
                let word = if self.cfg.char_ngrams_on_shadow {
                    shadow.as_str()
                } else {
                    tok
                };
                let mut buckets = grams.iter();
                for_each_char_ngram(&self.cfg, word, gram, offs, |g| {
                    if let Some(&b) = buckets.next() {
                        acc.add(b, Block::Char, || format!("char:{g}"));
                    }
                });
            } else {
                for &b in grams {
                    acc.add(b, Block::Char, String::new);
                }
            }
            if self.cfg.signals
                && let Some(sig) = e.chat
            {
                signal(acc, bits, sig, "");
            }
            std::mem::swap(prev_shadow, shadow);
            prev = Some(tok);
        }
        flush_spaced(acc, bits, joined, shadow, &mut run);
    }

    /// URLs, domains, e-mails, handles, phone numbers and leetspeak words of one field.
    fn entities(&self, text: &str, field: Field, s: &mut Scratch) {
        let bits = self.cfg.hash_bits;
        let Scratch {
            leet, shadow, acc, ..
        } = s;
        let sfx = field.suffix();
        let mut urls = 0u32;
        for raw in text.split_whitespace() {
            let chunk = trim_ascii(raw, b"([{\"'<*,.:-", b".,!?;:)]}\"'>*-");
            if chunk.is_empty() {
                continue;
            }
            // A plain word carries no URL, e-mail, handle, amount or leetspeak: only a chat-app name.
            if chunk.chars().all(is_letter) {
                if field != Field::Body
                    && let Some(sig) = chat_signal(chunk)
                {
                    signal(acc, bits, sig, sfx);
                }
                continue;
            }
            // Every URL has a '.' or a ':'; skip the parser for the common word.
            let host = if chunk.contains(['.', ':']) {
                url_host(chunk)
            } else {
                None
            };
            if let Some(host) = host {
                urls += 1;
                if urls == 1 {
                    signal(acc, bits, "url", sfx);
                } else if urls == 2 {
                    signal(acc, bits, "url:2+", sfx);
                }
                let h = Hasher::new(NS_SIGNAL)
                    .bytes(b"url-domain:")
                    .bytes(host.as_bytes())
                    .bucket(bits);
                acc.add(h, Block::Signal, || format!("url-domain:{host}"));
                if SHORTENERS.contains(&host) {
                    signal(acc, bits, "url-shortener", sfx);
                }
                if let Some(sig) = chat_signal(host) {
                    signal(acc, bits, sig, sfx);
                }
                continue;
            }
            if is_email(chunk) {
                signal(acc, bits, "email", sfx);
                continue;
            }
            if is_handle(chunk) {
                signal(acc, bits, "at-handle", sfx);
                continue;
            }
            if field != Field::Name
                && chunk
                    .chars()
                    .any(|c| c.is_ascii_digit() || c == '@' || c == '$')
                && deleet(chunk, leet)
            {
                signal(acc, bits, "leetspeak", sfx);
                shadow_into(leet, shadow);
                add_tokens(acc, token_buckets(bits, leet, shadow), leet, shadow);
            }
            if chunk.contains(['£', '$', '€', '¥', '₫']) {
                signal(acc, bits, "currency", sfx);
            }
            if is_money(chunk) {
                signal(acc, bits, "money-amount", sfx);
            }
            if field != Field::Body
                && let Some(sig) = chat_signal(chunk)
            {
                signal(acc, bits, sig, sfx);
            }
        }
        let p = scan_phones(text);
        if p.any > 0 {
            signal(acc, bits, "phone", sfx);
        }
        if p.vn > 0 {
            signal(acc, bits, "phone-vn", sfx);
        }
        if p.obfuscated > 0 {
            signal(acc, bits, "phone-obfuscated", sfx);
        }
    }

    /// Log term frequency, L2 normalisation of the word and char blocks, binary signals.
    fn finish(&self, s: &mut Scratch) {
        let acc = &mut s.acc;
        let mut norms = [0f32; 2];
        // Counts become term frequencies in place (the accumulator is cleared before the next comment).
        let small = &*SMALL_TF;
        for (_, block, _, c) in acc.keys.iter_mut() {
            if *block != Block::Signal {
                let v = tf(*c, small);
                *c = v;
                norms[*block as usize] += v * v;
            }
        }
        let inv = norms.map(|n| if n > 0.0 { 1.0 / n.sqrt() } else { 0.0 });
        let sig = self.cfg.signal_value_pct as f32 / 100.0;
        s.feats
            .extend(acc.keys.iter().map(|&(bucket, block, _, v)| {
                let value = match block {
                    Block::Signal => sig,
                    b => v * inv[b as usize],
                };
                Feat {
                    bucket,
                    block,
                    value,
                }
            }));
    }
}

/// `s` without the leading bytes in `head` and the trailing bytes in `tail` (ASCII only, so the cuts are character
/// boundaries).
#[inline]
fn trim_ascii<'a>(s: &'a str, head: &[u8], tail: &[u8]) -> &'a str {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && head.contains(&b[i]) {
        i += 1;
    }
    let mut j = b.len();
    while j > i && tail.contains(&b[j - 1]) {
        j -= 1;
    }
    &s[i..j]
}

/// 1 + ln(count) for the counts 0..64 (entry 0 unused), computed with the same `ln` as [`tf`].
static SMALL_TF: LazyLock<[f32; 64]> =
    LazyLock::new(|| std::array::from_fn(|i| 1.0 + (i.max(1) as f32).ln()));

/// Log term frequency, 1 + ln(count); small counts from `small` ([`SMALL_TF`]: `ln` was a twentieth of the
/// extraction's instructions).
#[inline]
fn tf(count: f32, small: &[f32; 64]) -> f32 {
    if count == 1.0 {
        return 1.0;
    }
    let i = count as usize;
    if i < 64 && i as f32 == count {
        small[i]
    } else {
        1.0 + count.ln()
    }
}

/// The token buckets of a word: its shadow's, and the word's as written when that differs.
fn token_buckets(bits: u8, tok: &str, shadow: &str) -> (u32, Option<u32>) {
    let bucket = |w: &str| Hasher::new(NS_TOKEN).bytes(w.as_bytes()).bucket(bits);
    (bucket(shadow), (tok != shadow).then(|| bucket(tok)))
}

/// Adds a word's token features, `buckets` being its [`token_buckets`].
fn add_tokens(acc: &mut Acc, buckets: (u32, Option<u32>), tok: &str, shadow: &str) {
    acc.add(buckets.0, Block::Word, || format!("token:{shadow}"));
    if let Some(b) = buckets.1 {
        acc.add(b, Block::Word, || format!("token:{tok}"));
    }
}

fn flush_spaced(acc: &mut Acc, bits: u8, joined: &mut String, shadow: &mut String, run: &mut u32) {
    if *run >= 4 {
        signal(acc, bits, "spaced-letters", "");
        shadow_into(joined, shadow);
        add_tokens(acc, token_buckets(bits, joined, shadow), joined, shadow);
    }
    joined.clear();
    *run = 0;
}

fn signal(acc: &mut Acc, bits: u8, name: &str, suffix: &str) {
    let h = Hasher::new(NS_SIGNAL)
        .bytes(name.as_bytes())
        .bytes(suffix.as_bytes())
        .bucket(bits);
    acc.add(h, Block::Signal, || format!("{name}{suffix}"));
}

fn shape_signals(acc: &mut Acc, bits: u8, st: &NormStats) {
    let len = match st.chars {
        0 => "len:0",
        1..=19 => "len:1-19",
        20..=49 => "len:20-49",
        50..=99 => "len:50-99",
        100..=199 => "len:100-199",
        200..=399 => "len:200-399",
        _ => "len:400+",
    };
    signal(acc, bits, len, "");
    if st.letters >= 5 {
        let r = st.upper as f32 / st.letters as f32;
        if r >= 0.7 {
            signal(acc, bits, "upper:most", "");
        } else if r >= 0.3 {
            signal(acc, bits, "upper:some", "");
        }
    }
    if st.chars > 0 {
        let r = st.digits as f32 / st.chars as f32;
        if r >= 0.3 {
            signal(acc, bits, "digits:many", "");
        } else if r >= 0.1 {
            signal(acc, bits, "digits:some", "");
        }
    }
    if st.repeat_punct > 0 {
        signal(acc, bits, "repeat-punct", "");
    }
    if st.emoji > 0 {
        signal(
            acc,
            bits,
            if st.emoji >= 3 { "emoji:3+" } else { "emoji" },
            "",
        );
    }
    if st.invisible > 0 {
        signal(acc, bits, "invisible-chars", "");
    }
    if st.homoglyphs > 0 {
        signal(acc, bits, "homoglyph", "");
    }
    if st.squeezed > 0 {
        signal(acc, bits, "char-repeat", "");
    }
    if st.html_tags > 0 {
        signal(acc, bits, "html-markup", "");
    }
}

/// Strips accents from a whole string (convenience for callers outside the hot path).
pub fn shadow_of(s: &str) -> String {
    s.chars().map(strip_accent).collect()
}

#[cfg(test)]
mod tests {
    use super::memo::*;
    use super::*;
    use proptest::prelude::*;

    fn body(b: &str) -> CommentText<'_> {
        CommentText {
            name: "",
            phone: "",
            title: "",
            body: b,
        }
    }

    fn names_of(c: &CommentText<'_>) -> Vec<String> {
        let ex = Extractor::new(FeatureConfig::default());
        let mut s = Scratch::with_names();
        ex.extract(c, &mut s);
        (0..s.feats.len()).map(|i| s.name(i).to_string()).collect()
    }

    #[test]
    fn an_obfuscated_phone_becomes_its_features() {
        let n = names_of(&body("gọi 0 9 1 2 . 3 4 5 . 6 7 8 nhé"));
        assert!(n.contains(&"phone-obfuscated".to_string()));
        assert!(n.contains(&"phone-vn".to_string()));
    }

    fn buckets(c: &CommentText<'_>) -> Vec<u32> {
        let ex = Extractor::new(FeatureConfig::default());
        let mut s = Scratch::default();
        ex.extract(c, &mut s);
        let mut v: Vec<u32> = s
            .feats
            .iter()
            .filter(|f| f.block == Block::Word)
            .map(|f| f.bucket)
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn accented_and_plain_share_shadow_features() {
        let a = names_of(&body("nhà cái uy tín"));
        let b = names_of(&body("nha cai uy tin"));
        for n in ["token:nha", "token:cai", "bigram:nha cai", "bigram:uy tin"] {
            assert!(a.contains(&n.to_string()), "{n} missing from {a:?}");
            assert!(b.contains(&n.to_string()), "{n} missing from {b:?}");
        }
        assert!(a.contains(&"token:nhà".to_string()));
        assert!(a.contains(&"bigram:nhà cái".to_string()));
        assert!(!b.contains(&"token:nhà".to_string()));
        let shared: Vec<u32> = buckets(&body("nha cai"));
        let acc = buckets(&body("nhà cái"));
        assert!(shared.iter().all(|x| acc.contains(x)));
    }

    #[test]
    fn spaced_letters_rejoined() {
        let n = names_of(&body("vào n h à c á i ngay"));
        assert!(n.contains(&"spaced-letters".to_string()), "{n:?}");
        assert!(n.contains(&"token:nhacai".to_string()), "{n:?}");
        assert!(n.contains(&"token:nhàcái".to_string()), "{n:?}");
        let plain = names_of(&body("tôi ở đây"));
        assert!(!plain.contains(&"spaced-letters".to_string()));
    }

    #[test]
    fn vietnamese_phone_formats() {
        assert_eq!(scan_phones("lh 0912345678").vn, 1);
        assert_eq!(scan_phones("lh 0912.345.678").obfuscated, 0);
        assert_eq!(scan_phones("lh +84 912 345 678").vn, 1);
        assert_eq!(scan_phones("lh 84912345678").vn, 1);
        assert_eq!(scan_phones("năm 2023 có 12 tháng").any, 0);
        assert_eq!(scan_phones("call 08452810075 now").any, 1);
        assert_eq!(scan_phones("2.124.821.694 views").any, 0);
        assert_eq!(scan_phones("1,884,034,783 views").any, 0);
        assert_eq!(scan_phones("lh 091.234.5678").vn, 1);
    }

    #[test]
    fn urls_domains_handles() {
        assert_eq!(
            url_host("https://www.w88.example/abc?x=1"),
            Some("w88.example")
        );
        assert_eq!(url_host("bit.ly/xyz"), Some("bit.ly"));
        assert_eq!(url_host("e.g"), None);
        assert_eq!(url_host("3.000đ"), None);
        let n = names_of(&CommentText {
            name: "Anh 0912345678",
            phone: "",
            title: "xem www.w88.example",
            body: "ib zalo @shopxinh hoặc mail a.b@gmail.com, t.me/kenh",
        });
        for s in [
            "phone-in-name",
            "phone-vn-in-name",
            "url-in-title",
            "url-domain:w88.example",
            "chat:zalo",
            "at-handle",
            "email",
            "chat:telegram",
            "url-domain:t.me",
        ] {
            assert!(n.contains(&s.to_string()), "{s} missing from {n:?}");
        }
    }

    #[test]
    fn fast_paths_agree_with_std() {
        for c in (0u32..0x2000).filter_map(char::from_u32) {
            assert_eq!(is_letter(c), c.is_alphabetic(), "{c:?}");
            assert_eq!(is_word_char(c), c.is_alphanumeric(), "{c:?}");
        }
        for ns in [NS_TOKEN, NS_BIGRAM, NS_CHAR, NS_SIGNAL, 7] {
            let slow = Hasher(0xcbf2_9ce4_8422_2325).bytes(&ns.to_le_bytes());
            assert_eq!(Hasher::new(ns).0, slow.0);
        }
    }

    #[test]
    fn money_amounts() {
        for m in ["500k", "1tr", "50.000đ", "£5", "$100", "100usd"] {
            assert!(is_money(m), "{m}");
        }
        for m in ["2024", "k500", "abc", "5g"] {
            assert!(!is_money(m), "{m}");
        }
    }

    #[test]
    fn leetspeak_decoded() {
        let n = names_of(&body("get fr33 v14gr4 now"));
        assert!(n.contains(&"leetspeak".to_string()));
        assert!(n.contains(&"token:free".to_string()));
        assert!(n.contains(&"token:viagra".to_string()));
        let plain = names_of(&body("mp3 covid19 2024"));
        assert!(!plain.contains(&"leetspeak".to_string()), "{plain:?}");
    }

    #[test]
    fn homoglyphs_and_invisible_signalled() {
        let n = names_of(&body("саsinо on\u{200B}line"));
        assert!(n.contains(&"homoglyph".to_string()));
        assert!(n.contains(&"invisible-chars".to_string()));
        assert!(n.contains(&"token:casino".to_string()));
        assert!(n.contains(&"token:online".to_string()));
        // A trailing byte-order mark (a copy/paste artefact) is not a signal.
        let t = names_of(&body("hello\u{FEFF}"));
        assert!(!t.contains(&"invisible-chars".to_string()));
    }

    #[test]
    fn blocks_are_unit_length() {
        let ex = Extractor::new(FeatureConfig::default());
        let mut s = Scratch::default();
        ex.extract(
            &body("the quick brown fox jumps over the lazy dog the end"),
            &mut s,
        );
        for b in [Block::Word, Block::Char] {
            let n: f32 = s
                .feats
                .iter()
                .filter(|f| f.block == b)
                .map(|f| f.value * f.value)
                .sum();
            assert!((n - 1.0).abs() < 1e-4, "{b:?} norm {n}");
        }
    }

    #[test]
    fn fingerprint_changes_with_config() {
        let a = FeatureConfig::default();
        let b = FeatureConfig {
            hash_bits: 18,
            ..a.clone()
        };
        assert_eq!(a.fingerprint(), FeatureConfig::default().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
    }

    fn run(c: &CommentText<'_>, s: &mut Scratch) -> Vec<(u32, u8, u32)> {
        let ex = Extractor::new(FeatureConfig {
            hash_bits: 16,
            ..FeatureConfig::default()
        });
        ex.extract(c, s);
        s.feats
            .iter()
            .map(|f| (f.bucket, f.block as u8, f.value.to_bits()))
            .collect()
    }

    fn features(ex: &Extractor, c: &CommentText<'_>, s: &mut Scratch) -> Vec<(u32, u8, u32)> {
        ex.extract(c, s);
        s.feats
            .iter()
            .map(|f| (f.bucket, f.block as u8, f.value.to_bits()))
            .collect()
    }

    #[test]
    fn the_word_memo_gives_what_computing_every_word_afresh_gives() {
        let small = Extractor::new(FeatureConfig {
            hash_bits: 16,
            char_ngram_max: 5,
            ..FeatureConfig::default()
        });
        let default = Extractor::new(FeatureConfig::default());
        let mut memo = Scratch::default();
        let mut fresh = Scratch::without_word_memo();
        // Too long to memoise: one over the n-gram limit too, one (25 accented letters, 75 bytes) under it.
        let long = format!("{} {}", "nhacaiuytin".repeat(8), "ừế".repeat(12) + "ộ");
        let (mut largest, mut restarts, mut before) = (0, 0, 0);
        // Enough distinct words to fill the memo twice over, between words every comment repeats; a word too long
        // to memoise; and the configuration changing under the same buffers.
        for i in 0..(MEMO_WORDS * 5 / 2 / 40) {
            let words: String = (0..40)
                .map(|j| format!("từ{}đ{} ", i * 40 + j, j))
                .collect();
            let body = format!("Nhà cái uy tín {words} ib zalo 0912 345 678 {long} nhà cái");
            let c = CommentText {
                name: "Chị Lan",
                phone: "",
                title: "Góp ý",
                body: &body,
            };
            let ex = if i == 20 { &small } else { &default };
            assert_eq!(
                features(ex, &c, &mut memo),
                features(ex, &c, &mut fresh),
                "{body}"
            );
            let now = memo.cache.entries.len();
            largest = largest.max(now);
            if now < before && i != 20 && i != 21 {
                restarts += 1;
            }
            before = now;
        }
        assert!(largest > 2_000, "the memo was used: {largest}");
        assert!(largest <= MEMO_WORDS);
        assert!(restarts >= 2, "the memo started over when full: {restarts}");
        // The memo's buffers never grow past their allowance (long words use buffers of their own).
        assert_eq!(memo.cache.text.capacity(), MEMO_TEXT_BYTES);
        assert_eq!(memo.cache.grams.capacity(), MEMO_GRAMS);
        assert!(
            !memo.cache.fresh_grams.is_empty(),
            "the last word computed afresh had n-grams"
        );
        assert!(fresh.cache.entries.is_empty());
    }

    #[test]
    fn models_with_different_configurations_keep_their_own_memos() {
        let cfg = |bits| FeatureConfig {
            hash_bits: bits,
            ..FeatureConfig::default()
        };
        let a = Extractor::new(cfg(20));
        let b = Extractor::new(cfg(16));
        let mut s = Scratch::default();
        let mut fresh = Scratch::without_word_memo();
        let c = body("Nhà cái uy tín, ib zalo 0912 345 678 nhận thưởng");
        features(&a, &c, &mut s);
        let held = s.cache.entries.len();
        assert!(held > 5, "{held}");
        for _ in 0..3 {
            assert_eq!(features(&b, &c, &mut s), features(&b, &c, &mut fresh));
            // Switching back (with a comment of no words) finds a's memo as it was, not started over.
            features(&a, &body("!!!"), &mut s);
            assert_eq!(s.cache.entries.len(), held);
            assert_eq!(features(&a, &c, &mut s), features(&a, &c, &mut fresh));
        }
        // More configurations than are kept: the least recently used memo is the one that starts over.
        for bits in [12, 13, 14] {
            let x = Extractor::new(cfg(bits));
            assert_eq!(features(&x, &c, &mut s), features(&x, &c, &mut fresh));
        }
        assert_eq!(s.spare.len(), MEMO_CONFIGS - 1);
        assert!(s.spare.iter().all(|m| m.cfg != Some(cfg(20))));
        assert_eq!(features(&a, &c, &mut s), features(&a, &c, &mut fresh));
        assert!(fresh.spare.iter().all(|m| m.entries.is_empty()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_input_is_deterministic(name in any::<String>(), phone in any::<String>(),
                                      title in any::<String>(), body in any::<String>()) {
            let c = CommentText { name: &name, phone: &phone, title: &title, body: &body };
            let mut s1 = Scratch::with_names();
            let a = run(&c, &mut s1);
            // A reused, dirty scratch buffer gives the same answer as a fresh one.
            let b = run(&c, &mut s1);
            let mut s2 = Scratch::default();
            let d = run(&CommentText { name: "x", phone: "0912345678", title: "y", body: "z z z" }, &mut s2);
            prop_assert!(!d.is_empty());
            let e = run(&c, &mut s2);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(&a, &e);
            for f in &s1.feats {
                prop_assert!(f.value.is_finite());
                prop_assert!(f.bucket < (1 << 16));
            }
        }

        #[test]
        fn vietnamese_like_input_is_deterministic(body in "[a-zàáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệ0-9 .!@:/_-]{0,200}") {
            let c = CommentText { name: "", phone: "", title: "", body: &body };
            let mut s1 = Scratch::default();
            let a = run(&c, &mut s1);
            let b = run(&c, &mut s1);
            let fresh = run(&c, &mut Scratch::without_word_memo());
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(&a, &fresh);
        }
    }
}
