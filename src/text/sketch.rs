//! A comment body's near-duplicate sketch: MinHash over character shingles of its skeleton, cut into bands for
//! locality-sensitive lookup. Two bodies that share a band are candidates; their signatures estimate how much of
//! their text they share (the Jaccard similarity of their shingle sets), so a store can tell a campaign's copies
//! (the same pitch with another phone number, a word swapped, spacing or accents changed) from texts that merely
//! share a band by chance.
//!
//! The sketch reads the skeleton (lowercase, accents stripped, look-alikes and leetspeak decoded) without its
//! spaces, with every digit read as `#` and every run of one character read once: phone numbers, prices and
//! stretched letters ("nhaaaa") do not tell copies apart.

/// Shingle length, in characters.
pub const SHINGLE: usize = 5;
/// Hash functions in a signature.
pub const HASHES: usize = 24;
/// Rows per band.
pub const ROWS: usize = 3;
/// Bands (HASHES / ROWS).
pub const BANDS: usize = HASHES / ROWS;
/// Shortest body (characters of the reduced skeleton) that gets a sketch: shorter texts (thanks, condolences,
/// "đồng ý") are alike by nature.
pub const MIN_CHARS: usize = 30;

/// The sketch of one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    /// One value per band (a hash of its rows).
    pub bands: [u64; BANDS],
    /// The MinHash signature, 16 bits per hash function.
    pub signature: [u16; HASHES],
}

impl Sketch {
    /// The signature as hex, 4 digits per hash function (what a store keeps and compares).
    pub fn signature_hex(&self) -> String {
        let mut s = String::with_capacity(HASHES * 4);
        for v in self.signature {
            s.push_str(&format!("{v:04x}"));
        }
        s
    }

    /// How many of the hash functions agree with `other` (an estimate of the shared share of shingles, in
    /// twenty-fourths).
    pub fn agreement(&self, other: &Sketch) -> usize {
        self.signature
            .iter()
            .zip(other.signature.iter())
            .filter(|(a, b)| a == b)
            .count()
    }
}

/// Signature positions that must agree for two sketches to count as copies of one text: 12 of 24, an estimated
/// Jaccard similarity of 0.5 over 5-character shingles.
pub const MIN_AGREE: usize = 12;

/// The reduced form a sketch reads: `spaced` (a skeleton's spaced form) without spaces, digits as `#`, runs of one
/// character read once.
pub fn reduced(spaced: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(spaced.len());
    for c in spaced.chars() {
        if c.is_whitespace() {
            continue;
        }
        let c = if c.is_ascii_digit() { '#' } else { c };
        if out.last() != Some(&c) {
            out.push(c);
        }
    }
    out
}

/// The sketch of a body whose skeleton (spaced form) is `spaced`; `None` when the body is too short to have one.
pub fn sketch(spaced: &str) -> Option<Sketch> {
    let chars = reduced(spaced);
    if chars.len() < MIN_CHARS {
        return None;
    }
    let mut mins = [u64::MAX; HASHES];
    // Each shingle is its 5 characters packed into 105 bits (21 per character), kept rolling; one mix of it, then
    // one multiply-add per hash function (odd multipliers: each a permutation of the 64-bit values), compared by
    // value: the 24 orders MinHash needs, cheaply.
    const MASK: u128 = (1u128 << (21 * SHINGLE)) - 1;
    let mut packed: u128 = 0;
    for (k, c) in chars.iter().enumerate() {
        packed = ((packed << 21) | u128::from(u32::from(*c))) & MASK;
        if k + 1 < SHINGLE {
            continue;
        }
        let base = mix((packed as u64) ^ mix((packed >> 64) as u64));
        for i in 0..HASHES {
            mins[i] = mins[i].min(base.wrapping_mul(MULTIPLIERS[i]).wrapping_add(SEEDS[i]));
        }
    }
    let mut signature = [0u16; HASHES];
    for (s, m) in signature.iter_mut().zip(mins) {
        *s = (m >> 48) as u16;
    }
    let mut bands = [0u64; BANDS];
    for (b, out) in bands.iter_mut().enumerate() {
        let mut h = mix(b as u64 ^ SEEDS[0]);
        for m in &mins[b * ROWS..(b + 1) * ROWS] {
            h = mix(h ^ m);
        }
        *out = h;
    }
    Some(Sketch { bands, signature })
}

/// The agreement of two signatures in hex ([`Sketch::signature_hex`]); 0 when either is malformed.
pub fn agreement_hex(a: &str, b: &str) -> usize {
    if a.len() != HASHES * 4 || b.len() != HASHES * 4 {
        return 0;
    }
    a.as_bytes()
        .chunks_exact(4)
        .zip(b.as_bytes().chunks_exact(4))
        .filter(|(x, y)| x == y)
        .count()
}

/// splitmix64's finaliser: a bijective mix, so each seed gives an independent-looking permutation of shingles.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `HASHES` values of the splitmix64 sequence from `start`, each with the bits of `or` set.
const fn table(start: u64, or: u64) -> [u64; HASHES] {
    let mut s = [0u64; HASHES];
    let mut x = start;
    let mut i = 0;
    while i < HASHES {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        s[i] = mix(x) | or;
        i += 1;
    }
    s
}

/// One fixed odd multiplier per hash function.
const MULTIPLIERS: [u64; HASHES] = table(0x2545_f491_4f6c_dd1d, 1);
/// One fixed seed per hash function (fixed so sketches made by every replica and every release compare).
const SEEDS: [u64; HASHES] = table(0x9e37_79b9_7f4a_7c15, 0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::skeleton::skeleton;

    fn sk(text: &str) -> Sketch {
        sketch(&skeleton(text).spaced).expect("long enough")
    }

    fn share_band(a: &Sketch, b: &Sketch) -> bool {
        a.bands.iter().zip(b.bands.iter()).any(|(x, y)| x == y)
    }

    const PITCH: &str = "Chị em nào muốn giảm cân cấp tốc an toàn thì liên hệ zalo 0912345678 để được tư vấn \
                         miễn phí nhé, hiệu quả sau 7 ngày";

    #[test]
    fn copies_with_small_changes_agree_and_share_a_band() {
        let a = sk(PITCH);
        for variant in [
            // another phone number, no accents
            "Chi em nao muon giam can cap toc an toan thi lien he zalo 0987654321 de duoc tu van mien phi nhe, \
             hieu qua sau 7 ngay",
            // a word swapped and one added
            "Chị em nào muốn giảm cân cấp tốc an toàn thì ib zalo 0912345678 để được tư vấn miễn phí nha, hiệu \
             quả sau 7 ngày",
            // spaced out and stretched
            "Chị em nào muốn giảm cân cấp tốc an toàn thì liên hệ z a l o 0912.345.678 để được tư vấn miễn phí \
             nhéééé, hiệu quả sau 10 ngày",
        ] {
            let b = sk(variant);
            assert!(
                a.agreement(&b) >= MIN_AGREE,
                "{variant}: {} of {HASHES}",
                a.agreement(&b)
            );
            assert!(share_band(&a, &b), "{variant}");
            assert_eq!(
                agreement_hex(&a.signature_hex(), &b.signature_hex()),
                a.agreement(&b)
            );
        }
    }

    #[test]
    fn unrelated_comments_do_not_agree() {
        let texts = [
            PITCH,
            "Bài viết rất hay, cảm ơn tác giả đã phân tích kỹ vấn đề giao thông ở Hà Nội",
            "Đường Nguyễn Trãi ngập nặng mỗi khi mưa, mong thành phố sớm có giải pháp thoát nước",
            "Giá vàng hôm nay tăng mạnh, nhiều người đổ xô đi mua tích trữ dù khuyến cáo của chuyên gia",
            "Tôi không đồng ý với quan điểm của bài viết, đội tuyển đã thi đấu rất cố gắng",
        ];
        for (i, a) in texts.iter().enumerate() {
            for b in &texts[i + 1..] {
                let (x, y) = (sk(a), sk(b));
                assert!(x.agreement(&y) < MIN_AGREE / 2, "{a} / {b}");
            }
        }
    }

    #[test]
    fn short_bodies_have_no_sketch_and_digits_and_runs_are_read_once() {
        assert_eq!(sketch(&skeleton("Thành kính phân ưu").spaced), None);
        assert_eq!(
            reduced("goi 0912 345 678 nhaaa"),
            "goi#nha".chars().collect::<Vec<_>>()
        );
        assert_eq!(agreement_hex("zz", "zz"), 0);
    }

    proptest::proptest! {
        #[test]
        fn a_sketch_is_its_own_copy_and_never_panics(text in "\\PC{0,300}") {
            if let Some(s) = sketch(&skeleton(&text).spaced) {
                proptest::prop_assert_eq!(s.agreement(&s), HASHES);
                proptest::prop_assert_eq!(agreement_hex(&s.signature_hex(), &s.signature_hex()), HASHES);
            }
        }
    }
}
