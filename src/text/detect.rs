//! Detectors over raw comment text: URLs and their hosts (link shorteners, chat-app hosts), e-mail addresses,
//! @handles, amounts of money, leetspeak ("v4y t1en") and Vietnamese phone numbers written in every disguise.
//! The classifier's features, the lexicon's skeleton and the combiner's signals all read text through these.

use super::normalize::is_letter;

pub const TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "vn", "io", "co", "me", "ly", "tk", "xyz", "top", "club",
    "site", "online", "shop", "store", "link", "click", "live", "pro", "ru", "cn", "us", "uk",
    "gl", "gg", "to", "in", "app", "dev", "ws", "cc", "ml", "ga", "cf", "gq", "fun", "vip", "bet",
    "win", "asia", "tv", "edu", "gov",
];

pub const SHORTENERS: &[&str] = &[
    "bit.ly",
    "goo.gl",
    "tinyurl.com",
    "t.co",
    "ow.ly",
    "is.gd",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "tiny.cc",
];

/// Chat apps: (shadow token or host, signal name).
pub const CHAT_WORDS: &[(&str, &str)] = &[
    ("zalo", "chat:zalo"),
    ("zalo.me", "chat:zalo"),
    ("telegram", "chat:telegram"),
    ("tele", "chat:telegram"),
    ("t.me", "chat:telegram"),
    ("whatsapp", "chat:whatsapp"),
    ("wa.me", "chat:whatsapp"),
    ("viber", "chat:viber"),
    ("wechat", "chat:wechat"),
    ("skype", "chat:skype"),
    ("kik", "chat:kik"),
    ("snapchat", "chat:snapchat"),
    ("m.me", "chat:messenger"),
];

pub fn chat_signal(word: &str) -> Option<&'static str> {
    CHAT_WORDS.iter().find(|(w, _)| *w == word).map(|(_, s)| *s)
}

/// The host of a URL-looking chunk, without `www.`; `None` if the chunk is not a URL.
pub fn url_host(chunk: &str) -> Option<&str> {
    let (rest, explicit) = if let Some(i) = chunk.find("://") {
        (&chunk[i + 3..], true)
    } else if chunk.starts_with("www.") {
        (chunk, true)
    } else {
        (chunk, false)
    };
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    let host = rest[..end].trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    if host.is_empty() || host.contains('@') {
        return None;
    }
    if explicit {
        return Some(host);
    }
    if !host.contains('.')
        || !host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
    {
        return None;
    }
    let mut labels = host.split('.');
    if labels.any(str::is_empty) {
        return None;
    }
    let tld = host.rsplit('.').next()?;
    if !TLDS.contains(&tld) || !host.starts_with(|c: char| c.is_alphabetic()) {
        return None;
    }
    Some(host)
}

pub fn is_email(chunk: &str) -> bool {
    match chunk.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    }
}

pub fn is_handle(chunk: &str) -> bool {
    match chunk.strip_prefix('@') {
        Some(rest) => {
            rest.chars().count() >= 2
                && rest
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
                && rest.chars().any(|c| c.is_alphabetic())
        }
        None => false,
    }
}

/// "500k", "1tr", "50.000đ", "100usd", "£5": an amount of money.
pub fn is_money(chunk: &str) -> bool {
    let body = chunk.trim_start_matches(['£', '$', '€', '¥']);
    let digits_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(body.len());
    if digits_end == 0 || !body.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    if body.len() < chunk.len() {
        return true;
    }
    matches!(
        &body[digits_end..],
        "k" | "tr" | "đ" | "d" | "vnd" | "vnđ" | "usd" | "m" | "ty" | "tỷ" | "triệu" | "xu"
    )
}

pub fn leet_char(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '@' => 'a',
        '$' => 's',
        _ => return None,
    })
}

/// Decodes a two-character word of one leetspeak digit or sign and one ASCII letter ("1b", "z4") into `out`.
/// Alone such a word is too often ordinary ("lớp 1B", "mạng 4g"), so callers decode it only next to a word that
/// [`deleet`] decodes ("1b m1nh").
pub fn deleet_short(word: &str, out: &mut String) -> bool {
    out.clear();
    let b = word.as_bytes();
    if b.len() != 2 {
        return false;
    }
    let leet = |x: u8| leet_char(x as char);
    let (l0, l1) = (leet(b[0]), leet(b[1]));
    let ok = match (l0, l1) {
        (Some(_), None) => b[1].is_ascii_alphabetic(),
        (None, Some(_)) => b[0].is_ascii_alphabetic(),
        _ => false,
    };
    if ok {
        out.push(l0.unwrap_or(b[0] as char));
        out.push(l1.unwrap_or(b[1] as char));
    }
    ok
}

/// If `chunk` is a word written in leetspeak ("fr33", "v14gr4", "n@m"), writes the decoded word into `out`.
pub fn deleet(chunk: &str, out: &mut String) -> bool {
    out.clear();
    let mut letters = 0;
    let mut leet = 0;
    let mut between = false;
    let mut prev: Option<char> = None;
    let mut it = chunk.chars().peekable();
    while let Some(c) = it.next() {
        if c.is_alphabetic() {
            letters += 1;
            out.push(c);
        } else if let Some(l) = leet_char(c) {
            leet += 1;
            let next_letter = it.peek().is_some_and(|n| n.is_alphabetic());
            if prev.is_some_and(char::is_alphabetic) && next_letter {
                between = true;
            }
            out.push(l);
        } else if c.is_alphanumeric() {
            out.push(c);
        } else {
            return false;
        }
        prev = Some(c);
    }
    letters >= 2 && (between || leet >= 2)
}

/// Result of scanning text for phone numbers.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhoneScan {
    /// Any phone-like number (9 to 12 digits, separators allowed).
    pub any: u32,
    /// Vietnamese mobile formats: 0[35789]xxxxxxxx, +84 / 84 followed by 9 digits.
    pub vn: u32,
    /// Digits written apart one by one ("0 9 1 2 . 3 4 5").
    pub obfuscated: u32,
}

#[derive(Default)]
pub struct PhoneState {
    digits: u32,
    first: [u8; 3],
    groups: u32,
    single: u32,
    cur: u32,
    seps: u32,
    /// Length of the first digit group, and whether every later group has exactly three digits after a single
    /// '.' or ',' (a thousands-separated amount such as 2.124.821.694, not a phone number).
    first_group: u32,
    thousands: bool,
    sep_char: char,
}

impl PhoneState {
    /// One character of the scan: a digit extends the number, a separator (at most three in a row) splits its
    /// groups, anything else ends it (with no digit yet the state is fresh and there is nothing to end).
    #[inline]
    fn step(&mut self, c: char, out: &mut PhoneScan) {
        if c.is_ascii_digit() {
            if (self.digits as usize) < 3 {
                self.first[self.digits as usize] = c as u8;
            }
            self.digits += 1;
            self.cur += 1;
            self.seps = 0;
        } else if self.digits > 0
            && matches!(c, ' ' | '.' | ',' | '-' | '(' | ')' | '_')
            && self.seps < 3
        {
            if self.seps == 0 {
                self.close_group();
                self.sep_char = c;
            } else {
                self.sep_char = ' ';
            }
            self.seps += 1;
        } else if self.digits > 0 {
            self.finish(out);
        }
    }

    fn close_group(&mut self) {
        if self.groups == 0 {
            self.first_group = self.cur;
            self.thousands = (1..=3).contains(&self.cur);
        } else if self.cur != 3 || !matches!(self.sep_char, '.' | ',') {
            self.thousands = false;
        }
        self.groups += 1;
        if self.cur == 1 {
            self.single += 1;
        }
        self.cur = 0;
    }

    fn finish(&mut self, out: &mut PhoneScan) {
        if self.cur > 0 {
            self.close_group();
        }
        let n = self.digits;
        let amount = self.thousands && self.groups >= 2 && self.first_group <= 3;
        if (9..=12).contains(&n) && self.groups <= 12 && !amount {
            out.any += 1;
            let f = self.first;
            let mobile = |d: u8| matches!(d, b'3' | b'5' | b'7' | b'8' | b'9');
            if (f[0] == b'0' && n == 10 && mobile(f[1]))
                || (f[0] == b'8' && f[1] == b'4' && n == 11 && mobile(f[2]))
            {
                out.vn += 1;
            }
            if self.single >= 3 {
                out.obfuscated += 1;
            }
        }
        *self = PhoneState::default();
    }
}

/// Finds phone numbers, including ones split by spaces, dots or dashes.
pub fn scan_phones(text: &str) -> PhoneScan {
    let mut out = PhoneScan::default();
    // A phone number has nine digits at least.
    if text.bytes().filter(u8::is_ascii_digit).count() < 9 {
        return out;
    }
    let mut st = PhoneState::default();
    // Bytes, not characters: every character that matters is ASCII, and each byte of any other character ends a
    // number just as the whole character would. Between numbers (no digit yet) only a digit changes the state, so
    // the scan jumps to the next one.
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if st.digits == 0 {
            match bytes[i..].iter().position(u8::is_ascii_digit) {
                Some(d) => i += d,
                None => break,
            }
        }
        st.step(char::from(bytes[i]), &mut out);
        i += 1;
    }
    st.finish(&mut out);
    out
}

/// `char::is_alphanumeric` with the same fast paths.
#[inline]
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        is_letter(c) || c.is_numeric()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn obfuscated_phone_detected() {
        let p = scan_phones("gọi 0 9 1 2 . 3 4 5 . 6 7 8 nhé");
        assert_eq!(
            p,
            PhoneScan {
                any: 1,
                vn: 1,
                obfuscated: 1
            }
        );
    }

    /// The phone scan character by character, every character through [`PhoneState::step`]: the oracle for the
    /// byte-level scan with its shortcuts (skipped under nine digits, jumping between numbers).
    fn scan_phones_by_char(text: &str) -> PhoneScan {
        let mut out = PhoneScan::default();
        let mut st = PhoneState::default();
        for c in text.chars() {
            st.step(c, &mut out);
        }
        st.finish(&mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn phone_scan_equals_the_character_by_character_scan(text in "[0-9 .,()+_a-zđà-]{0,60}|\\PC{0,40}") {
            prop_assert_eq!(scan_phones(&text), scan_phones_by_char(&text));
        }
    }
}

/// `text` with every run of three or more single-character words joined into one word ("i n b o x" -> "inbox",
/// "1 , 5 % / n g à y" -> "1,5%/ngày"), or `None` when it has no such run. Detectors that read words (the lexicon's
/// short whole-word phrases, rates per day) read this form too, so spacing a word out does not hide it.
pub fn join_spaced_runs(text: &str) -> Option<String> {
    let single = |w: &str| {
        let mut c = w.chars();
        c.next().is_some() && c.next().is_none()
    };
    // Most texts have no such run: look for one before allocating anything.
    let mut run = 0usize;
    let has_run = text.split_whitespace().any(|w| {
        run = if single(w) { run + 1 } else { 0 };
        run >= 3
    });
    if !has_run {
        return None;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::with_capacity(text.len());
    let mut joined = false;
    let mut i = 0;
    while i < words.len() {
        let mut j = i;
        while j < words.len() && single(words[j]) {
            j += 1;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if j - i >= 3 {
            joined = true;
            words[i..j].iter().for_each(|w| out.push_str(w));
            i = j;
        } else {
            out.push_str(words[i]);
            i += 1;
        }
    }
    joined.then_some(out)
}

#[cfg(test)]
mod join_tests {
    use super::join_spaced_runs;

    #[test]
    fn runs_of_single_characters_are_joined_and_other_words_kept() {
        assert_eq!(
            join_spaced_runs("ai cần i n b o x mình").as_deref(),
            Some("ai cần inbox mình")
        );
        assert_eq!(
            join_spaced_runs("lãi 1 , 5 % / n g à y").as_deref(),
            Some("lãi 1,5%/ngày")
        );
        assert_eq!(join_spaced_runs("ở à ừ"), Some("ởàừ".to_string()));
        assert_eq!(join_spaced_runs("a b xe c"), None);
        assert_eq!(join_spaced_runs(""), None);
    }
}
