//! Sender-constrained tokens (DPoP, RFC 9449).
//!
//! HelseID can bind an access token to the client's key: the token carries `cnf.jkt`, the
//! SHA-256 thumbprint (RFC 7638) of that key. Such a token is only good with
//! `Authorization: DPoP <token>` and a `DPoP` header holding a fresh proof: a JWT signed by
//! the bound key, naming this request's method (`htm`) and URL (`htu`), issued just now
//! (`iat`), hashing the token (`ath`), and never used before (`jti`). A stolen token is
//! useless without the key; a captured proof is useless for another request or a second time.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::HttpRequest;
use base64::Engine;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::JwtConfig;
use crate::error::ApiError;

use super::Scheme;

/// Proof algorithms accepted (asymmetric only: a proof shows possession of a private key).
pub const ALGORITHMS: &str = "ES256 RS256 PS256";
/// Longer proofs are refused before any parsing.
const MAX_PROOF_BYTES: usize = 8 * 1024;
const MAX_JTI_BYTES: usize = 256;

pub struct Policy {
    /// Refuse bearer tokens altogether.
    required: bool,
    /// Seconds a proof's `iat` may be off from now, either way.
    window: u64,
    seen: ReplayCache,
}

#[derive(Deserialize)]
struct ProofClaims {
    htm: String,
    htu: String,
    iat: i64,
    jti: String,
    ath: Option<String>,
}

fn token_error(detail: impl Into<String>) -> ApiError {
    ApiError::UnauthorizedDpop {
        error: "invalid_token",
        detail: detail.into(),
    }
}

fn proof_error(detail: impl Into<String>) -> ApiError {
    ApiError::UnauthorizedDpop {
        error: "invalid_dpop_proof",
        detail: format!("the DPoP proof is invalid: {}", detail.into()),
    }
}

impl Policy {
    pub fn new(cfg: &JwtConfig) -> Policy {
        Policy {
            required: cfg.require_dpop,
            window: cfg.dpop_window_seconds,
            seen: ReplayCache::new(),
        }
    }

    /// An authentication failure as this policy challenges it: with `DPoP` when DPoP is required.
    pub fn challenge(&self, e: ApiError) -> ApiError {
        match e {
            ApiError::Unauthorized(detail) if self.required => token_error(detail),
            other => other,
        }
    }

    /// Checks how the verified `token` was presented against the key it is bound to (`jkt`).
    pub fn enforce(
        &self,
        req: &HttpRequest,
        scheme: Scheme,
        token: &str,
        jkt: Option<&str>,
    ) -> Result<(), ApiError> {
        match (scheme, jkt) {
            (Scheme::Bearer, None) if self.required => Err(token_error(
                "bearer tokens are not accepted here: send a DPoP-bound token with `Authorization: DPoP <token>` and a DPoP proof",
            )),
            (Scheme::Bearer, None) => Ok(()),
            (Scheme::Bearer, Some(_)) => Err(token_error(
                "this token is bound to a key: send it with `Authorization: DPoP <token>` and a DPoP proof",
            )),
            (Scheme::Dpop, None) => Err(token_error(
                "the token is not bound to a key (no cnf.jkt); send it as a bearer token",
            )),
            (Scheme::Dpop, Some(jkt)) => self.check_proof(req, token, jkt),
        }
    }

    fn check_proof(&self, req: &HttpRequest, token: &str, jkt: &str) -> Result<(), ApiError> {
        let mut values = req.headers().get_all("dpop");
        let proof = values
            .next()
            .ok_or_else(|| proof_error("the DPoP header is missing"))?;
        if values.next().is_some() {
            return Err(proof_error("more than one DPoP header"));
        }
        if proof.len() > MAX_PROOF_BYTES {
            return Err(proof_error("too long"));
        }
        let proof = proof
            .to_str()
            .map_err(|_| proof_error("the DPoP header is not valid text"))?;
        let header = jsonwebtoken::decode_header(proof)
            .map_err(|_| proof_error("not a JWT with a supported algorithm"))?;
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
        {
            return Err(proof_error("typ must be dpop+jwt"));
        }
        if !matches!(
            header.alg,
            Algorithm::ES256 | Algorithm::RS256 | Algorithm::PS256
        ) {
            return Err(proof_error("algorithm not accepted"));
        }
        let jwk = header
            .jwk
            .as_ref()
            .ok_or_else(|| proof_error("the proof carries no jwk"))?;
        let thumbprint = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| proof_error("unsupported key"))?;
        if thumbprint != jkt {
            return Err(proof_error(
                "signed by a key other than the one the token is bound to",
            ));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| proof_error("unsupported key"))?;
        let mut v = Validation::new(header.alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &v)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    proof_error("the signature does not verify")
                }
                _ => proof_error("htm, htu, iat and jti are required"),
            })?
            .claims;
        if claims.htm != req.method().as_str() {
            return Err(proof_error("htm is not this request's method"));
        }
        if normalise_url(&claims.htu) != request_url(req) {
            return Err(proof_error("htu is not this request's URL"));
        }
        let now = chrono::Utc::now().timestamp();
        if claims.iat.abs_diff(now) > self.window {
            return Err(proof_error("iat is too far from now"));
        }
        let expected_ath = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(token.as_bytes()));
        match claims.ath.as_deref() {
            None => return Err(proof_error("ath (the token's hash) is missing")),
            Some(ath) if ath != expected_ath => {
                return Err(proof_error("ath does not match the token"))
            }
            Some(_) => {}
        }
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES {
            return Err(proof_error("jti must be 1 to 256 characters"));
        }
        let expires = now.saturating_add(i64::try_from(self.window).unwrap_or(i64::MAX)) + 1;
        self.seen.first_use(jkt, &claims.jti, expires, now)
    }
}

/// The URL a proof must name: scheme and host as the client reached us (`Forwarded` /
/// `X-Forwarded-*` from the load balancer, else the `Host` header), the path, no query.
fn request_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    normalise_url(&format!(
        "{}://{}{}",
        info.scheme(),
        info.host(),
        req.path()
    ))
}

/// RFC 9449 §4.3: compared without query and fragment, scheme and host case-insensitively,
/// default ports dropped.
fn normalise_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if authority.ends_with(default_port) {
        authority.truncate(authority.len() - default_port.len());
    }
    let path = if path.is_empty() { "/" } else { path };
    format!("{scheme}://{authority}{path}")
}

/// `jti`s seen within the window, per key: a proof counts once.
struct ReplayCache {
    entries: Mutex<HashMap<String, i64>>,
}

impl ReplayCache {
    /// Enough for ~1,600 proofs a second over a minute's window; more is refused, not forgotten
    /// (forgetting would let a replay through).
    const CAPACITY: usize = 100_000;

    fn new() -> ReplayCache {
        ReplayCache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn first_use(&self, jkt: &str, jti: &str, expires: i64, now: i64) -> Result<(), ApiError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| ApiError::internal("the DPoP replay cache is poisoned"))?;
        let key = format!("{jkt} {jti}");
        if entries.get(&key).is_some_and(|&exp| exp > now) {
            return Err(proof_error("this proof was used before (jti replayed)"));
        }
        if entries.len() >= Self::CAPACITY {
            entries.retain(|_, exp| *exp > now);
            if entries.len() >= Self::CAPACITY {
                return Err(ApiError::Unavailable(
                    "too many DPoP proofs right now; retry shortly".into(),
                ));
            }
        }
        entries.insert(key, expires);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_as_rfc_9449_says() {
        assert_eq!(
            normalise_url("HTTPS://Api.Example:443/api/v1/needs?x=1#f"),
            "https://api.example/api/v1/needs"
        );
        assert_eq!(
            normalise_url("http://localhost:8080"),
            "http://localhost:8080/"
        );
        assert_ne!(
            normalise_url("https://api.example/api/v1/needs"),
            normalise_url("https://api.example/api/v1/needs/x")
        );
    }

    #[test]
    fn a_jti_counts_once_within_the_window() {
        let cache = ReplayCache::new();
        assert!(cache.first_use("k", "a", 100, 10).is_ok());
        assert!(cache.first_use("k", "a", 100, 20).is_err());
        assert!(cache.first_use("other-key", "a", 100, 20).is_ok());
        assert!(
            cache.first_use("k", "a", 200, 101).is_ok(),
            "expired entries are forgotten"
        );
    }
}
