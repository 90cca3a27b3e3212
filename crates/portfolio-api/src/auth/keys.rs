//! Verification keys: from the configuration (secret, PEM file, JWKS file) or from a key set
//! the issuer publishes.

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use crate::config::JwtConfig;

use super::KeyError;

pub(crate) struct VerificationKey {
    pub kid: Option<String>,
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

impl VerificationKey {
    fn from_jwk(jwk: &Jwk) -> Result<Option<VerificationKey>, String> {
        let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let algorithms = match key.family() {
            AlgorithmFamily::Rsa => vec![Algorithm::RS256, Algorithm::PS256],
            AlgorithmFamily::Ec => vec![Algorithm::ES256],
            // Shared secrets in a published key set make no sense; EdDSA is not issued by HelseID.
            _ => return Ok(None),
        };
        Ok(Some(VerificationKey {
            kid: jwk.common.key_id.clone(),
            algorithms,
            key,
        }))
    }
}

/// The signing keys of a JWKS document. Keys for encryption, of unknown types or that do not
/// parse are skipped (an issuer may publish more than we use); a set with no usable signing
/// key at all is an error.
pub(crate) fn from_jwks_text(text: &str) -> Result<Vec<VerificationKey>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let items = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no `keys` array")?;
    let mut keys = Vec::new();
    for item in items {
        let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        if let Ok(Some(key)) = VerificationKey::from_jwk(&jwk) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err("the key set holds no usable signing key (RSA or P-256)".into());
    }
    Ok(keys)
}

/// The keys named by the configuration itself (not fetched).
pub(crate) fn configured(cfg: &JwtConfig) -> Result<Vec<VerificationKey>, KeyError> {
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
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text)
            .map_err(|e| KeyError(format!("parsing {}: {e}", path.display())))?;
        for jwk in &set.keys {
            let key = VerificationKey::from_jwk(jwk)
                .map_err(|e| KeyError(format!("a key in {}: {e}", path.display())))?;
            keys.extend(key);
        }
    }
    Ok(keys)
}
