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
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
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

    /// Drafts (decision cases, criteria sets) are seen by those who prepare or decide them;
    /// readers see only what has been adopted or decided.
    pub fn sees_drafts(&self) -> bool {
        self.has(Permission::Manage) || self.has(Permission::Decide)
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

pub mod dpop;
pub mod fetch;
pub mod issuer;
pub(crate) mod keys;
mod wait_for_keys;

pub use wait_for_keys::wait_for_keys;

use keys::VerificationKey;

/// A token whose signature and claims were checked.
#[derive(Debug, Clone)]
pub struct Verified {
    pub caller: Caller,
    /// `cnf.jkt`: the thumbprint of the key the token is bound to (DPoP), if any.
    pub jkt: Option<String>,
}

/// Why a token was refused.
pub(crate) enum Rejection {
    /// Its `kid` names no key we have: the issuer may have rotated (a fetch may help).
    UnknownKey,
    Invalid(ApiError),
}

impl Rejection {
    pub(crate) fn into_error(self) -> ApiError {
        match self {
            Rejection::UnknownKey => ApiError::Unauthorized(
                "the bearer token is invalid: signed with an unknown key".into(),
            ),
            Rejection::Invalid(e) => e,
        }
    }
}

/// Verifies bearer tokens against the configured keys, issuer and audience.
pub struct TokenVerifier {
    /// Keys named by the configuration (secret, PEM, JWKS file).
    keys: Vec<VerificationKey>,
    /// Keys fetched from the issuer, refreshed in the background.
    remote: Option<issuer::RemoteKeys>,
    validation_template: Validation,
    org_claim: String,
    /// The `iss` and `aud` every token must carry; named in a 401 (they are not secret, and an
    /// integrator with the wrong one needs to know the right one).
    issuer: String,
    audience: String,
    signing: Option<(EncodingKey, String, String)>,
    verified: VerifiedTokens,
    require_at_jwt: bool,
    dpop: dpop::Policy,
}

/// Tokens whose signature and claims have been checked, with the caller they describe, until
/// they expire.
///
/// An integration sends the same token on every request for its lifetime; verifying it again
/// each time was ~11 % of the server's CPU on a single read (perf, bench/run.sh --profile).
/// Entries are keyed by the whole token, so a hit is exactly the bytes that verified. A hit
/// counts only strictly before `exp`; from then on the token takes the full path again, which
/// applies the configured leeway and answers "expired". An entry also remembers the
/// generation of the issuer's key set it verified against: when the issuer's keys change (a
/// key removed), every token is checked again.
struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<Box<str>, (Verified, u64, u64)>>,
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

    fn get(&self, token: &str, generation: u64) -> Option<Verified> {
        let entries = self.entries.lock().ok()?;
        let (verified, exp, gen) = entries.get(token)?;
        (Self::now() < *exp && *gen == generation).then(|| verified.clone())
    }

    fn insert(&self, token: &str, verified: &Verified, exp: u64, generation: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= Self::CAPACITY {
            let now = Self::now();
            entries.retain(|_, (_, exp, gen)| now < *exp && *gen == generation);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.into(), (verified.clone(), exp, generation));
    }
}

/// A token that does not verify, and why.
fn invalid(why: &str) -> Rejection {
    Rejection::Invalid(ApiError::Unauthorized(format!(
        "the bearer token is invalid: {why}"
    )))
}

#[derive(Debug, thiserror::Error)]
#[error("token configuration: {0}")]
pub struct KeyError(String);

/// `typ` values of an access token (RFC 9068 §2.1; `JWT` as older issuers send it).
fn typ_accepted(typ: Option<&str>, require_at_jwt: bool) -> bool {
    match typ.map(str::to_ascii_lowercase).as_deref() {
        Some("at+jwt") | Some("application/at+jwt") => true,
        Some("jwt") | None => !require_at_jwt,
        _ => false,
    }
}

impl TokenVerifier {
    pub fn from_config(cfg: &JwtConfig) -> Result<TokenVerifier, KeyError> {
        let keys = keys::configured(cfg)?;
        let source = match (&cfg.authority, &cfg.jwks_url) {
            (Some(a), _) => Some(issuer::Source::Authority(a.clone())),
            (None, Some(u)) => Some(issuer::Source::JwksUrl(u.clone())),
            _ => None,
        };
        if keys.is_empty() && source.is_none() {
            return Err(KeyError("no verification key is configured".into()));
        }
        let remote = source.map(|s| {
            issuer::RemoteKeys::start(
                s,
                std::time::Duration::from_secs(cfg.refresh_seconds),
                std::time::Duration::from_secs(cfg.unknown_kid_interval_seconds),
            )
        });
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
            remote,
            validation_template: v,
            org_claim: cfg.org_claim.clone(),
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            signing,
            verified: VerifiedTokens::new(),
            require_at_jwt: cfg.require_at_jwt,
            dpop: dpop::Policy::new(cfg),
        })
    }

    /// The issuer's keys, when they are fetched (not configured).
    pub fn remote_keys(&self) -> Option<&issuer::RemoteKeys> {
        self.remote.as_ref()
    }

    pub fn dpop(&self) -> &dpop::Policy {
        &self.dpop
    }

    /// `Err(reason)` while the service cannot verify tokens yet (the issuer's keys never loaded).
    pub fn readiness(&self) -> Result<(), String> {
        self.remote.as_ref().map_or(Ok(()), |r| r.readiness())
    }

    fn generation(&self) -> u64 {
        self.remote.as_ref().map_or(0, |r| r.generation())
    }

    /// Verifies `token` and returns the caller it describes (ignoring any key binding: use
    /// `authenticate` for requests).
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        self.check(token)
            .map(|v| v.caller)
            .map_err(Rejection::into_error)
    }

    /// Verifies `token`: the caller and the key it is bound to.
    pub(crate) fn check(&self, token: &str) -> Result<Verified, Rejection> {
        let generation = self.generation();
        if let Some(v) = self.verified.get(token, generation) {
            return Ok(v);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("malformed token or unsupported algorithm"))?;
        self.check_typ(&header)?;
        let loaded = self.remote.as_ref().and_then(|r| r.loaded());
        let candidates = self.candidate_keys(&header, loaded.as_deref())?;
        let mut last = invalid("signature");
        for (key, issuer) in candidates {
            match self.decode_with(token, &header, key, issuer) {
                Ok(claims) => return self.verified_from(token, claims, generation),
                Err(e) => last = self.rejection_for(&e),
            }
        }
        Err(last)
    }

    /// An access token's `typ` (RFC 9068 §2.1), as strict as configured.
    fn check_typ(&self, header: &Header) -> Result<(), Rejection> {
        if typ_accepted(header.typ.as_deref(), self.require_at_jwt) {
            return Ok(());
        }
        Err(invalid(if self.require_at_jwt {
            "not an access token (typ must be at+jwt)"
        } else {
            "not an access token (typ must be at+jwt or JWT)"
        }))
    }

    /// The configured and fetched keys that may have signed a token with this header (its
    /// algorithm, and its `kid` when both name one), each with the issuer it belongs to. None
    /// is `UnknownKey` when a fetch may help (the issuer may have rotated), else invalid.
    fn candidate_keys<'a>(
        &'a self,
        header: &Header,
        loaded: Option<&'a issuer::Loaded>,
    ) -> Result<Vec<(&'a VerificationKey, Option<&'a str>)>, Rejection> {
        let fetched = loaded.map(|l| (l.keys.iter(), l.issuer.as_deref()));
        let mut candidates: Vec<(&VerificationKey, Option<&str>)> = self
            .keys
            .iter()
            .map(|k| (k, None))
            .chain(
                fetched
                    .into_iter()
                    .flat_map(|(keys, iss)| keys.map(move |k| (k, iss))),
            )
            .filter(|(k, _)| k.algorithms.contains(&header.alg))
            .collect();
        let algorithm_known = !candidates.is_empty();
        candidates.retain(|(k, _)| match (&header.kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        });
        if !candidates.is_empty() {
            return Ok(candidates);
        }
        if self.remote.is_some() && (header.kid.is_some() || loaded.is_none()) {
            return Err(Rejection::UnknownKey);
        }
        Err(invalid(if algorithm_known {
            "signed with an unknown key"
        } else {
            "algorithm not accepted"
        }))
    }

    /// Checks the signature with `key` and the claims (issuer, audience, times).
    fn decode_with(
        &self,
        token: &str,
        header: &Header,
        key: &VerificationKey,
        issuer: Option<&str>,
    ) -> jsonwebtoken::errors::Result<Map<String, Value>> {
        let mut v = self.validation_template.clone();
        v.algorithms = vec![header.alg];
        if let Some(iss) = issuer {
            v.set_issuer(&[iss]);
        }
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v).map(|data| data.claims)
    }

    /// The caller and key binding of verified claims, remembered until the token expires.
    fn verified_from(
        &self,
        token: &str,
        claims: Map<String, Value>,
        generation: u64,
    ) -> Result<Verified, Rejection> {
        let exp = claims.get("exp").and_then(Value::as_u64);
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let caller = self.caller_from(claims).map_err(Rejection::Invalid)?;
        let verified = Verified { caller, jkt };
        if let Some(exp) = exp {
            self.verified.insert(token, &verified, exp, generation);
        }
        Ok(verified)
    }

    /// Why a key did not verify the token, in the client's words.
    fn rejection_for(&self, e: &jsonwebtoken::errors::Error) -> Rejection {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::ExpiredSignature => invalid("expired"),
            K::ImmatureSignature => invalid("not yet valid"),
            K::InvalidIssuer => invalid(&format!("wrong issuer; expected iss {:?}", self.issuer)),
            K::InvalidAudience => {
                invalid(&format!("wrong audience; expected aud {:?}", self.audience))
            }
            K::MissingRequiredClaim(c) => invalid(&format!("missing claim {c}")),
            K::InvalidSignature => invalid("signature does not verify"),
            _ => invalid("could not be verified"),
        }
    }

    fn caller_from(&self, claims: Map<String, Value>) -> Result<Caller, ApiError> {
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
        let (subject, org_number) = identity_claims(&claims, &self.org_claim, permissions)?;
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

/// The identity a token must state: a `sub`, and exactly one organisation number (a string
/// of nine digits, never a list) when it carries a permission that acts on behalf of an
/// organisation (submitting, scoring, syncing). A 401 names the claim at fault.
fn identity_claims(
    claims: &Map<String, Value>,
    org_claim: &str,
    permissions: u8,
) -> Result<(String, Option<String>), ApiError> {
    let invalid =
        |why: String| ApiError::Unauthorized(format!("the bearer token is invalid: {why}"));
    let subject = match claims.get("sub") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => return Err(invalid("claim `sub` must be a non-empty string".into())),
        None => return Err(invalid("missing claim `sub`".into())),
    };
    let org_number = match claims.get(org_claim) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        Some(Value::Array(_)) => {
            return Err(invalid(format!(
                "claim `{org_claim}` must be one organisation number, not a list"
            )))
        }
        Some(_) => {
            return Err(invalid(format!(
                "claim `{org_claim}` must be an organisation number: a string of nine digits"
            )))
        }
    };
    let acting: Vec<&str> = [Permission::Submit, Permission::Score, Permission::Sync]
        .into_iter()
        .filter(|p| permissions & p.bit() != 0)
        .map(Permission::scope)
        .collect();
    if org_number.is_none() && !acting.is_empty() {
        return Err(invalid(format!(
            "missing claim `{org_claim}`: the scope {} acts on behalf of an organisation",
            acting.join(", ")
        )));
    }
    Ok((subject, org_number))
}

/// All scopes, for development tokens.
pub fn all_scopes() -> HashSet<&'static str> {
    Permission::ALL.iter().map(|p| p.scope()).collect()
}

/// How the token was presented (RFC 6750 `Bearer`, RFC 9449 `DPoP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The token of the `Authorization` header and its scheme.
pub fn credentials(req: &HttpRequest) -> Result<(Scheme, &str), ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("a bearer token is required (Authorization: Bearer <token>)".into())
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text".into()))?;
    let malformed = || {
        ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>` or `DPoP <token>`".into(),
        )
    };
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if token.is_empty() {
        return Err(malformed());
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok((Scheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Ok((Scheme::Dpop, token))
    } else {
        Err(malformed())
    }
}

/// Authenticates the request: the caller, or 401. A token bound to a key (DPoP) must come
/// with a valid proof of that key for this request.
pub fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    if let Some(c) = req.extensions_caller() {
        return Ok(c);
    }
    let verifier = req
        .app_data::<web::Data<Arc<TokenVerifier>>>()
        .ok_or_else(|| ApiError::internal("token verifier is not configured"))?;
    let (scheme, token) = credentials(req).map_err(|e| verifier.dpop().challenge(e))?;
    let verified = verifier.check(token).map_err(Rejection::into_error)?;
    verifier
        .dpop()
        .enforce(req, scheme, token, verified.jkt.as_deref())?;
    use actix_web::HttpMessage;
    req.extensions_mut().insert(verified.caller.clone());
    Ok(verified.caller)
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

    fn verified() -> Verified {
        Verified {
            caller: caller(),
            jkt: None,
        }
    }

    #[test]
    fn access_token_types() {
        assert!(typ_accepted(Some("at+jwt"), true));
        assert!(typ_accepted(Some("application/at+JWT"), true));
        assert!(typ_accepted(Some("JWT"), false));
        assert!(typ_accepted(None, false));
        assert!(!typ_accepted(Some("JWT"), true));
        assert!(
            !typ_accepted(Some("dpop+jwt"), false),
            "a DPoP proof is not a token"
        );
    }

    #[test]
    fn a_cached_token_is_served_only_before_it_expires() {
        let cache = VerifiedTokens::new();
        let now = VerifiedTokens::now();
        cache.insert("live", &verified(), now + 60, 0);
        cache.insert("expired", &verified(), now, 0);
        assert_eq!(
            cache.get("live", 0).map(|v| v.caller.subject),
            Some("client".into())
        );
        assert!(cache.get("expired", 0).is_none());
        assert!(cache.get("never-verified", 0).is_none());
        assert!(
            cache.get("live", 1).is_none(),
            "a new key set checks every token again"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VerifiedTokens::new();
        let exp = VerifiedTokens::now() + 60;
        for i in 0..VerifiedTokens::CAPACITY + 10 {
            cache.insert(&format!("t{i}"), &verified(), exp, 0);
        }
        let len = cache.entries.lock().expect("cache lock").len();
        assert!(len <= VerifiedTokens::CAPACITY, "{len} entries");
        assert!(cache
            .get(&format!("t{}", VerifiedTokens::CAPACITY + 9), 0)
            .is_some());
    }
}
