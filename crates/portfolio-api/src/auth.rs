//! Bearer tokens: verification, the caller they describe, and the permissions they carry.
//!
//! Production tokens come from HelseID: asymmetric signatures (RS256/PS256/ES256) with keys
//! from a PEM file or a JWKS, an exact `iss`, one `aud`, `scope`, and the caller's organisation
//! in a configurable claim. An HS256 secret is accepted only when configured (development).

use std::collections::HashSet;
use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::JwtConfig;
use crate::error::ApiError;

/// A permission, carried as a `scope` value in the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read everything that is not draft.
    Read,
    /// Report needs for one's own organisation; withdraw one's own.
    Submit,
    /// Write one's own health trust's scores.
    Score,
    /// The portfolio office: criteria, budget frames, service areas, first assessment, decision cases, cycles.
    Manage,
    /// The portfolio board: record decisions.
    Decide,
    /// The IT partner's integration: sync delivery status.
    Sync,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::Read,
        Permission::Submit,
        Permission::Score,
        Permission::Manage,
        Permission::Decide,
        Permission::Sync,
    ];

    pub fn scope(self) -> &'static str {
        match self {
            Permission::Read => "portfolio:read",
            Permission::Submit => "portfolio:submit",
            Permission::Score => "portfolio:score",
            Permission::Manage => "portfolio:manage",
            Permission::Decide => "portfolio:decide",
            Permission::Sync => "portfolio:sync",
        }
    }

    pub fn from_scope(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.scope() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's `sub` (or `client_id` when there is no subject).
    pub subject: String,
    /// The caller's organisation number, from the configured claim.
    pub org_number: Option<String>,
    permissions: u8,
}

impl Caller {
    pub fn has(&self, p: Permission) -> bool {
        self.permissions & p.bit() != 0
    }

    /// Fails with 403 unless the token carries `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.has(p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this operation needs the scope {}",
                p.scope()
            )))
        }
    }

    /// Fails with 403 unless the token carries one of `ps`.
    pub fn require_any(&self, ps: &[Permission]) -> Result<(), ApiError> {
        if ps.iter().any(|p| self.has(*p)) {
            Ok(())
        } else {
            let names: Vec<_> = ps.iter().map(|p| p.scope()).collect();
            Err(ApiError::Forbidden(format!(
                "this operation needs one of the scopes {}",
                names.join(", ")
            )))
        }
    }

    /// True when the caller's token names `org_number` as its organisation.
    pub fn belongs_to(&self, org_number: &str) -> bool {
        self.org_number.as_deref() == Some(org_number)
    }

    pub fn scopes(&self) -> Vec<&'static str> {
        Permission::ALL
            .iter()
            .filter(|p| self.has(**p))
            .map(|p| p.scope())
            .collect()
    }
}

struct VerificationKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// Verifies bearer tokens against the configured keys, issuer and audience.
pub struct TokenVerifier {
    keys: Vec<VerificationKey>,
    validation_template: Validation,
    org_claim: String,
    /// The `iss` and `aud` every token must carry; named in a 401 (they are not secret, and an
    /// integrator with the wrong one needs to know the right one).
    issuer: String,
    audience: String,
    signing: Option<(EncodingKey, String, String)>,
    verified: VerifiedTokens,
}

/// Tokens whose signature and claims have been checked, with the caller they describe, until
/// they expire.
///
/// An integration sends the same token on every request for its lifetime; verifying it again
/// each time was ~11 % of the server's CPU on a single read (perf, bench/run.sh --profile).
/// Entries are keyed by the whole token, so a hit is exactly the bytes that verified. A hit
/// counts only strictly before `exp`; from then on the token takes the full path again, which
/// applies the configured leeway and answers "expired". Keys are fixed for the process's
/// life, so a verified signature stays verified.
struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<Box<str>, (Caller, u64)>>,
}

impl VerifiedTokens {
    /// Bounds memory when many distinct tokens arrive (each entry is a few hundred bytes).
    const CAPACITY: usize = 4096;

    fn new() -> VerifiedTokens {
        VerifiedTokens {
            entries: Default::default(),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn get(&self, token: &str) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        let (caller, exp) = entries.get(token)?;
        (Self::now() < *exp).then(|| caller.clone())
    }

    fn insert(&self, token: &str, caller: &Caller, exp: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= Self::CAPACITY {
            let now = Self::now();
            entries.retain(|_, (_, exp)| now < *exp);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.into(), (caller.clone(), exp));
    }
}

#[derive(Debug, thiserror::Error)]
#[error("token configuration: {0}")]
pub struct KeyError(String);

impl TokenVerifier {
    pub fn from_config(cfg: &JwtConfig) -> Result<TokenVerifier, KeyError> {
        let mut keys = Vec::new();
        if let Some(secret) = &cfg.secret {
            keys.push(VerificationKey {
                kid: None,
                algorithms: vec![Algorithm::HS256],
                key: DecodingKey::from_secret(secret.as_bytes()),
            });
        }
        if let Some(path) = &cfg.public_key_pem {
            let pem = std::fs::read(path)
                .map_err(|e| KeyError(format!("reading {}: {e}", path.display())))?;
            let key = if let Ok(k) = DecodingKey::from_rsa_pem(&pem) {
                VerificationKey {
                    kid: None,
                    algorithms: vec![Algorithm::RS256, Algorithm::PS256],
                    key: k,
                }
            } else if let Ok(k) = DecodingKey::from_ec_pem(&pem) {
                VerificationKey {
                    kid: None,
                    algorithms: vec![Algorithm::ES256],
                    key: k,
                }
            } else {
                return Err(KeyError(format!(
                    "{} holds no RSA or EC public key",
                    path.display()
                )));
            };
            keys.push(key);
        }
        if let Some(path) = &cfg.jwks {
            let text = std::fs::read_to_string(path)
                .map_err(|e| KeyError(format!("reading {}: {e}", path.display())))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| KeyError(format!("parsing {}: {e}", path.display())))?;
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| KeyError(format!("a key in {}: {e}", path.display())))?;
                let algorithms = match key.family() {
                    jsonwebtoken::AlgorithmFamily::Rsa => vec![Algorithm::RS256, Algorithm::PS256],
                    jsonwebtoken::AlgorithmFamily::Ec => vec![Algorithm::ES256],
                    // Shared secrets in a published key set make no sense; EdDSA is not issued by HelseID.
                    _ => continue,
                };
                keys.push(VerificationKey {
                    kid: jwk.common.key_id.clone(),
                    algorithms,
                    key,
                });
            }
        }
        if keys.is_empty() {
            return Err(KeyError("no verification key is configured".into()));
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = cfg.leeway_seconds;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_issuer(&[&cfg.issuer]);
        v.set_audience(&[&cfg.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let signing = cfg.secret.as_ref().map(|s| {
            (
                EncodingKey::from_secret(s.as_bytes()),
                cfg.issuer.clone(),
                cfg.audience.clone(),
            )
        });
        Ok(TokenVerifier {
            keys,
            validation_template: v,
            org_claim: cfg.org_claim.clone(),
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            signing,
            verified: VerifiedTokens::new(),
        })
    }

    /// Verifies `token` and returns the caller it describes.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        if let Some(caller) = self.verified.get(token) {
            return Ok(caller);
        }
        let invalid =
            |why: &str| ApiError::Unauthorized(format!("the bearer token is invalid: {why}"));
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("malformed token or unsupported algorithm"))?;
        let candidates: Vec<&VerificationKey> = self
            .keys
            .iter()
            .filter(|k| k.algorithms.contains(&header.alg))
            .filter(|k| match (&header.kid, &k.kid) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(invalid("algorithm not accepted"));
        }
        let mut last = invalid("signature");
        for key in candidates {
            let mut v = self.validation_template.clone();
            v.algorithms = vec![header.alg];
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v) {
                Ok(data) => {
                    let exp = data.claims.get("exp").and_then(Value::as_u64);
                    let caller = self.caller_from(data.claims)?;
                    if let Some(exp) = exp {
                        self.verified.insert(token, &caller, exp);
                    }
                    return Ok(caller);
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::ExpiredSignature => invalid("expired"),
                        K::ImmatureSignature => invalid("not yet valid"),
                        K::InvalidIssuer => {
                            invalid(&format!("wrong issuer; expected iss {:?}", self.issuer))
                        }
                        K::InvalidAudience => {
                            invalid(&format!("wrong audience; expected aud {:?}", self.audience))
                        }
                        K::MissingRequiredClaim(c) => invalid(&format!("missing claim {c}")),
                        K::InvalidSignature => invalid("signature does not verify"),
                        _ => invalid("could not be verified"),
                    };
                }
            }
        }
        Err(last)
    }

    fn caller_from(&self, claims: Map<String, Value>) -> Result<Caller, ApiError> {
        let subject = claims
            .get("sub")
            .or_else(|| claims.get("client_id"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        let mut permissions = 0u8;
        let mut add = |s: &str| {
            if let Some(p) = Permission::from_scope(s) {
                permissions |= p.bit();
            }
        };
        match claims.get("scope") {
            Some(Value::String(s)) => s.split_whitespace().for_each(&mut add),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut add),
            _ => {}
        }
        let org_number = match claims.get(&self.org_claim) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(Caller {
            subject,
            org_number,
            permissions,
        })
    }

    /// Mints a development token signed with the HS256 secret; `None` unless a secret is configured.
    pub fn mint(
        &self,
        subject: &str,
        scopes: &[&str],
        org_number: Option<&str>,
        ttl_seconds: i64,
    ) -> Option<String> {
        let (key, iss, aud) = self.signing.as_ref()?;
        let now = chrono::Utc::now().timestamp();
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from(subject));
        claims.insert("iss".into(), Value::from(iss.as_str()));
        claims.insert("aud".into(), Value::from(aud.as_str()));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("nbf".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + ttl_seconds));
        claims.insert("scope".into(), Value::from(scopes.join(" ")));
        if let Some(org) = org_number {
            claims.insert(self.org_claim.clone(), Value::from(org));
        }
        encode(key, &claims)
    }

    pub fn org_claim(&self) -> &str {
        &self.org_claim
    }
}

fn encode<T: Serialize>(key: &EncodingKey, claims: &T) -> Option<String> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).ok()
}

/// All scopes, for development tokens.
pub fn all_scopes() -> HashSet<&'static str> {
    Permission::ALL.iter().map(|p| p.scope()).collect()
}

fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("a bearer token is required (Authorization: Bearer <token>)".into())
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text".into()))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>`".into(),
        ));
    }
    Ok(token.trim())
}

/// Authenticates the request: the caller, or 401.
pub fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    if let Some(c) = req.extensions_caller() {
        return Ok(c);
    }
    let verifier = req
        .app_data::<web::Data<Arc<TokenVerifier>>>()
        .ok_or_else(|| ApiError::internal("token verifier is not configured"))?;
    let caller = verifier.verify(bearer(req)?)?;
    use actix_web::HttpMessage;
    req.extensions_mut().insert(caller.clone());
    Ok(caller)
}

trait CallerExt {
    fn extensions_caller(&self) -> Option<Caller>;
}

impl CallerExt for HttpRequest {
    fn extensions_caller(&self) -> Option<Caller> {
        use actix_web::HttpMessage;
        self.extensions().get::<Caller>().cloned()
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            subject: "client".into(),
            org_number: Some("991324968".into()),
            permissions: Permission::Read.bit(),
        }
    }

    #[test]
    fn a_cached_token_is_served_only_before_it_expires() {
        let cache = VerifiedTokens::new();
        let now = VerifiedTokens::now();
        cache.insert("live", &caller(), now + 60);
        cache.insert("expired", &caller(), now);
        assert_eq!(cache.get("live").map(|c| c.subject), Some("client".into()));
        assert!(cache.get("expired").is_none());
        assert!(cache.get("never-verified").is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VerifiedTokens::new();
        let exp = VerifiedTokens::now() + 60;
        for i in 0..VerifiedTokens::CAPACITY + 10 {
            cache.insert(&format!("t{i}"), &caller(), exp);
        }
        let len = cache.entries.lock().expect("cache lock").len();
        assert!(len <= VerifiedTokens::CAPACITY, "{len} entries");
        assert!(cache
            .get(&format!("t{}", VerifiedTokens::CAPACITY + 9))
            .is_some());
    }
}
