//! A submission as a typed value: [`Submission::parse`] turns the portal's form into validated newtypes (site,
//! thread, idempotency key, phone, e-mail, client IP) and a [`CleanText`], reporting every violation at once.
//! Everything after parsing works on these types, so no later step re-validates or re-cleans.

use std::net::IpAddr;

use super::SubmitInput;
use crate::captcha::{MAX_ANSWER_CHARS, is_challenge_id};
use crate::policy::document::FieldLimits;
use crate::text::{CleanText, normalize_phone, valid_email};
use crate::validate::{Invalid, Violations, is_site_id};

/// A site id: `[a-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteId(String);

impl SiteId {
    /// The site id `s`, if it has the shape of one.
    pub fn parse(s: &str) -> Option<SiteId> {
        is_site_id(s).then(|| SiteId(s.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An article id: 1-128 characters without control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadId(String);

impl ThreadId {
    /// The thread id in `s`, trimmed, if valid.
    pub fn parse(s: &str) -> Option<ThreadId> {
        let t = s.trim();
        (!t.is_empty() && t.chars().count() <= 128 && !t.chars().any(char::is_control))
            .then(|| ThreadId(t.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client-chosen idempotency key: 1-128 printable ASCII characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key `s`, if valid.
    pub fn parse(s: &str) -> Option<IdempotencyKey> {
        (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| (0x21..0x7f).contains(&b)))
            .then(|| IdempotencyKey(s.to_string()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Vietnamese phone number in canonical form (`0` + 9 or 10 digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// The canonical form of `s`, if it is a Vietnamese phone number.
    pub fn parse(s: &str) -> Option<Phone> {
        normalize_phone(s).map(Phone)
    }

    /// The canonical digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address (syntax checked), trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The address in `s`, trimmed, if its syntax is valid.
    pub fn parse(s: &str) -> Option<Email> {
        let t = s.trim();
        valid_email(t).then(|| Email(t.to_string()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The reader's IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The IP literal in `s`, trimmed.
    pub fn parse(s: &str) -> Option<ClientIp> {
        s.trim().parse().ok().map(ClientIp)
    }
}

/// A validated submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// The site.
    pub site: SiteId,
    /// The article.
    pub thread: ThreadId,
    /// The client's key for retries.
    pub key: IdempotencyKey,
    /// The author's phone, if given.
    pub phone: Option<Phone>,
    /// The author's e-mail, if given.
    pub email: Option<Email>,
    /// The reader's IP.
    pub ip: ClientIp,
    /// Name, title and body, cleaned once.
    pub text: CleanText,
    /// Challenge id and answer, when sent.
    pub captcha: Option<(String, String)>,
}

impl Submission {
    /// Validates `input` against the site's field `limits` (`captcha_required`: whether a captcha must be sent).
    /// Every violation is reported at once, a bad site id among them; `site_ok` is false when the site id was
    /// already found bad (its violation is in `v`) and the global default's limits are used.
    pub fn parse(
        input: &SubmitInput,
        limits: &FieldLimits,
        captcha_required: bool,
        mut v: Violations,
    ) -> Result<Submission, Invalid> {
        let site = SiteId::parse(&input.site);
        let thread = ThreadId::parse(&input.thread_id);
        if thread.is_none() {
            v.add(
                "thread_id",
                "must be 1-128 characters without control characters",
            );
        }
        let key = IdempotencyKey::parse(&input.idempotency_key);
        if key.is_none() {
            v.add(
                "idempotency_key",
                "must be 1-128 printable ASCII characters without spaces",
            );
        }
        let text = CleanText::new(&input.name, &input.title, &input.body);
        for (field, t, max) in [
            ("author.name", &text.name, limits.name_max),
            ("title", &text.title, limits.title_max),
            ("body", &text.body, limits.body_max),
        ] {
            let n = t.chars().count();
            if n == 0 {
                v.add(field, "is required");
            } else if n > max as usize {
                v.add(field, format!("must be at most {max} characters (got {n})"));
            }
        }
        let phone = if input.phone.trim().is_empty() {
            None
        } else {
            let p = Phone::parse(&input.phone);
            if p.is_none() {
                v.add(
                    "author.phone",
                    "must be a Vietnamese phone number such as 0912 345 678 or +84 912 345 678",
                );
            }
            p
        };
        let email = if input.email.trim().is_empty() {
            None
        } else {
            let e = Email::parse(&input.email);
            if e.is_none() {
                v.add("author.email", "is not a valid e-mail address");
            }
            e
        };
        let ip = ClientIp::parse(&input.ip);
        if ip.is_none() {
            v.add("client.ip", "must be an IPv4 or IPv6 address");
        }
        let captcha = match &input.captcha {
            Some((id, answer)) if !(id.is_empty() && answer.is_empty()) => {
                if !is_challenge_id(id) {
                    v.add(
                        "captcha.challenge_id",
                        "must be the 32-hex-digit id returned by CreateChallenge",
                    );
                }
                let n = answer.trim().chars().count();
                if n == 0 || n > MAX_ANSWER_CHARS {
                    v.add(
                        "captcha.answer",
                        format!("must be 1-{MAX_ANSWER_CHARS} characters"),
                    );
                }
                Some((id.clone(), answer.clone()))
            }
            _ if captcha_required && site.is_some() => {
                v.add("captcha", "is required on this site");
                None
            }
            _ => None,
        };
        v.finish()?;
        match (site, thread, key, ip) {
            (Some(site), Some(thread), Some(key), Some(ip)) => Ok(Submission {
                site,
                thread,
                key,
                phone,
                email,
                ip,
                text,
                captcha,
            }),
            _ => unreachable!("every missing part is a violation above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SubmitInput {
        SubmitInput {
            site: "hcm".into(),
            thread_id: " bai-1 ".into(),
            idempotency_key: "k-1".into(),
            name: "Lan\u{200B}".into(),
            phone: "+84 912 345 678".into(),
            email: " lan@example.vn ".into(),
            title: "Góp ý".into(),
            body: "Gia\u{0301} tăng".into(),
            ip: "203.0.113.5".into(),
            captcha: None,
        }
    }

    #[test]
    fn a_good_form_becomes_typed_values_cleaned_once() {
        let s = Submission::parse(
            &input(),
            &FieldLimits::default(),
            false,
            Violations::default(),
        )
        .expect("valid");
        assert_eq!(s.thread.as_str(), "bai-1");
        assert_eq!(s.phone.as_ref().map(Phone::as_str), Some("0912345678"));
        assert_eq!(s.email.as_ref().map(Email::as_str), Some("lan@example.vn"));
        assert_eq!(s.text.name, "Lan");
        assert_eq!(s.text.body, "Giá tăng");
        assert_eq!(s.text.invisible, 1);
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let bad = SubmitInput {
            site: "Bad Site".into(),
            thread_id: String::new(),
            idempotency_key: "has space".into(),
            name: String::new(),
            phone: "12".into(),
            email: "nope".into(),
            title: "x".repeat(201),
            body: String::new(),
            ip: "not-ip".into(),
            captcha: Some(("zz".into(), String::new())),
        };
        let mut v = Violations::default();
        v.site("site", &bad.site);
        let Invalid(all) = Submission::parse(&bad, &FieldLimits::default(), true, v).unwrap_err();
        let fields: Vec<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "site",
                "thread_id",
                "idempotency_key",
                "author.name",
                "title",
                "body",
                "author.phone",
                "author.email",
                "client.ip",
                "captcha.challenge_id",
                "captcha.answer",
            ]
        );
    }
}
