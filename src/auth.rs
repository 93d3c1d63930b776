//! Bearer-token auth by role. Tokens are configured as SHA-256 hashes; a presented token is hashed and compared
//! against every configured hash in constant time. The caller's identity reaches handlers as [`Caller`].

use std::sync::Arc;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::{Request, Status};

use serde::{Deserialize, Serialize};

/// One bearer token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it; reaches handlers as the caller's identity (audit logs, leases).
    pub name: String,
    /// `portal`, `moderator` or `ops`.
    pub role: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
}

/// What a token may do. Each gRPC service accepts exactly one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The portal backend: CaptchaService, CommentService.
    Portal,
    /// Moderators: ModerationService.
    Moderator,
    /// Ops: AdminService, and ModerationService as supervisors.
    Ops,
}

impl Role {
    /// Parses `portal`, `moderator` or `ops`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "portal" => Some(Role::Portal),
            "moderator" => Some(Role::Moderator),
            "ops" => Some(Role::Ops),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Portal => "portal",
            Role::Moderator => "moderator",
            Role::Ops => "ops",
        }
    }

    /// Every role.
    pub const ALL: [Role; 3] = [Role::Portal, Role::Moderator, Role::Ops];
}

/// The authenticated caller, inserted into each request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's configured name.
    pub name: String,
    /// The token's role.
    pub role: Role,
}

struct Entry {
    hash: [u8; 32],
    caller: Caller,
}

/// The configured tokens.
#[derive(Clone)]
pub struct Tokens {
    entries: Arc<Vec<Entry>>,
}

/// Lowercase hex SHA-256 of a token, as the config stores it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits, hex).
pub fn generate_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Tokens {
    /// Tokens from validated config entries (entries with a bad role or hash are skipped; validation refuses
    /// them earlier).
    pub fn from_config(cfg: &[TokenConfig]) -> Self {
        let entries = cfg
            .iter()
            .filter_map(|t| {
                let role = Role::parse(&t.role)?;
                let bytes = hex::decode(t.sha256.to_ascii_lowercase()).ok()?;
                let hash: [u8; 32] = bytes.try_into().ok()?;
                Some(Entry {
                    hash,
                    caller: Caller {
                        name: t.name.clone(),
                        role,
                    },
                })
            })
            .collect();
        Self {
            entries: Arc::new(entries),
        }
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller holding `token`, if any. Every entry is compared, so timing does not reveal which matched.
    pub fn identify(&self, token: &str) -> Option<Caller> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for e in self.entries.iter() {
            if bool::from(e.hash.ct_eq(&presented)) {
                found = Some(&e.caller);
            }
        }
        found.cloned()
    }

    /// An interceptor admitting only `role`.
    pub fn guard(&self, role: Role) -> RoleGuard {
        self.guard_any(match role {
            Role::Portal => &[Role::Portal],
            Role::Moderator => &[Role::Moderator],
            Role::Ops => &[Role::Ops],
        })
    }

    /// An interceptor admitting any of `roles`.
    pub fn guard_any(&self, roles: &'static [Role]) -> RoleGuard {
        RoleGuard {
            tokens: self.clone(),
            roles,
        }
    }
}

/// A tonic interceptor: UNAUTHENTICATED without a valid token, PERMISSION_DENIED for another role.
#[derive(Clone)]
pub struct RoleGuard {
    tokens: Tokens,
    roles: &'static [Role],
}

impl tonic::service::Interceptor for RoleGuard {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let token = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(token) = token else {
            return Err(Status::unauthenticated(
                "missing bearer token: send `authorization: Bearer <token>`",
            ));
        };
        let Some(caller) = self.tokens.identify(token) else {
            return Err(Status::unauthenticated(
                "invalid bearer token: check the token or ask ops for one",
            ));
        };
        if !self.roles.contains(&caller.role) {
            let needed: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
            return Err(Status::permission_denied(format!(
                "a {} token cannot call this service; it needs a {} token",
                caller.role.as_str(),
                needed.join(" or ")
            )));
        }
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// The review queue's actor for a caller named `name` with `role`: ops act as supervisors (they may overturn any
/// decision).
pub fn review_actor(name: &str, role: Role) -> crate::review::service::Actor {
    crate::review::service::Actor {
        name: name.to_string(),
        supervisor: role == Role::Ops,
    }
}

/// The caller of a request that passed a [`RoleGuard`].
pub fn caller<T>(req: &Request<T>) -> Result<&Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::unauthenticated("request did not pass authentication"))
}

/// Builds token config entries from clear tokens (generated tokens, tests).
pub trait TokenConfigExt {
    /// A config entry named `name` for `token` with this role.
    fn token_config(self, name: &str, token: &str) -> TokenConfig;
}

impl TokenConfigExt for Role {
    fn token_config(self, name: &str, token: &str) -> TokenConfig {
        TokenConfig {
            name: name.to_string(),
            role: self.as_str().to_string(),
            sha256: hash_token(token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    fn tokens() -> Tokens {
        Tokens::from_config(&[
            TokenConfig {
                name: "portal-a".into(),
                role: "portal".into(),
                sha256: hash_token("p-secret"),
            },
            TokenConfig {
                name: "mod-b".into(),
                role: "moderator".into(),
                sha256: hash_token("m-secret"),
            },
        ])
    }

    fn call(token: Option<&str>, role: Role) -> Result<Request<()>, Status> {
        let mut req = Request::new(());
        if let Some(t) = token {
            req.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        tokens().guard(role).call(req)
    }

    #[test]
    fn the_right_token_passes_with_its_identity() {
        let req = call(Some("p-secret"), Role::Portal).expect("admitted");
        assert_eq!(caller(&req).unwrap().name, "portal-a");
    }

    #[test]
    fn missing_and_bad_tokens_are_unauthenticated_and_wrong_roles_denied() {
        assert_eq!(
            call(None, Role::Portal).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            call(Some("nope"), Role::Portal).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            call(Some("m-secret"), Role::Ops).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }
}

/// How long a web console session lives without being used, ms (each request renews it).
pub const SESSION_TTL_MS: u64 = 8 * 60 * 60 * 1000;

/// A signed-in web console user: who, by which role, and the CSRF token every form of theirs carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session id (the cookie's value): 128 random bits, hex.
    #[serde(skip)]
    pub id: String,
    /// The token's name: the identity of every decision made in this session.
    pub name: String,
    /// `moderator` or `ops`.
    pub role: String,
    /// The CSRF token of this session's forms: 128 random bits, hex.
    pub csrf: String,
    /// Interface language: `vi` or `en`.
    pub lang: String,
    /// What the console keeps in the session (its own JSON; opaque here).
    #[serde(default)]
    pub data: String,
}

impl Session {
    /// The session's role (`None` if the stored spelling is unknown: treated as signed out).
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    /// True when `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// Why signing in or reading a session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The token is unknown, or belongs to a role the console does not serve (portal).
    #[error("this token is not a moderator or ops token")]
    BadToken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn random_hex16() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Web console sessions, kept in the store so that any replica serves any session.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn crate::store::Store>,
    tokens: Tokens,
}

impl Sessions {
    /// Sessions over `store`, signing in with `tokens`.
    pub fn new(store: Arc<dyn crate::store::Store>, tokens: Tokens) -> Self {
        Self { store, tokens }
    }

    /// Signs in with a moderator or ops token: a new session with fresh id and CSRF token.
    pub async fn sign_in(&self, token: &str, lang: &str) -> Result<Session, SessionError> {
        let caller = self
            .tokens
            .identify(token.trim())
            .filter(|c| matches!(c.role, Role::Moderator | Role::Ops))
            .ok_or(SessionError::BadToken)?;
        let s = Session {
            id: random_hex16(),
            name: caller.name,
            role: caller.role.as_str().to_string(),
            csrf: random_hex16(),
            lang: if lang == "en" { "en" } else { "vi" }.to_string(),
            data: String::new(),
        };
        self.save(&s).await?;
        Ok(s)
    }

    /// Stores `s` again (language changed) and renews its time to live.
    pub async fn save(&self, s: &Session) -> Result<(), SessionError> {
        let doc = serde_json::to_string(s)
            .map_err(|e| SessionError::Store(crate::store::StoreError::Corrupt(e.to_string())))?;
        self.store.put_session(&s.id, &doc, SESSION_TTL_MS).await?;
        Ok(())
    }

    /// The live session `id`, if any. A malformed id or document is no session.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, SessionError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(doc) = self.store.get_session(id).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_str::<Session>(&doc).ok().map(|mut s| {
            s.id = id.to_string();
            s
        }))
    }

    /// Signs out: the session is gone on every replica.
    pub async fn sign_out(&self, id: &str) -> Result<(), SessionError> {
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.store.delete_session(id).await?;
        }
        Ok(())
    }
}
