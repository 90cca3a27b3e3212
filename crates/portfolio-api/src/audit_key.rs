//! The audit key: the secret the audit trail's chain is keyed with (HMAC-SHA256), kept out of
//! the database, so whoever can write the table cannot rewrite an entry and recompute the
//! chain after it.
//!
//! `PORTFOLIO_AUDIT_KEY` is `<key id>:<secret>` (the current key; at least 32 characters of
//! secret). Retired keys stay listed in `PORTFOLIO_AUDIT_KEYS_RETIRED` (comma-separated, same
//! form) so that entries written with them still verify: every entry's hash is stored as
//! `<key id>:<hex HMAC>`. Without configuration a development key derived from a public
//! constant is used, and the log says so.

use std::cell::RefCell;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// The public constant the development key is derived from: never secret.
const DEV_KEY_SEED: &str = "portfolio-dev-audit-key-not-for-production";
pub const DEV_KEY_ID: &str = "dev";
const MIN_SECRET_LEN: usize = 32;

#[derive(Clone)]
pub struct AuditKey {
    pub id: String,
    secret: Vec<u8>,
}

/// The current key and the retired ones verification still knows.
#[derive(Clone)]
pub struct AuditKeys {
    current: AuditKey,
    retired: Vec<AuditKey>,
    /// True when `current` is the development key.
    pub is_default: bool,
}

impl std::fmt::Debug for AuditKeys {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let retired: Vec<&str> = self.retired.iter().map(|k| k.id.as_str()).collect();
        write!(
            f,
            "AuditKeys {{ current: {:?}, retired: {retired:?} }}",
            self.current.id
        )
    }
}

impl Default for AuditKeys {
    fn default() -> Self {
        AuditKeys {
            current: AuditKey {
                id: DEV_KEY_ID.into(),
                secret: Sha256::digest(DEV_KEY_SEED.as_bytes()).to_vec(),
            },
            retired: Vec::new(),
            is_default: true,
        }
    }
}

fn parse_key(s: &str, what: &str) -> Result<AuditKey, String> {
    let (id, secret) = s
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{what} must be `<key id>:<secret>`"))?;
    let id_ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!(
            "{what}: the key id must be 1–32 letters, digits, `-` or `_`"
        ));
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "{what}: the secret must be at least {MIN_SECRET_LEN} characters"
        ));
    }
    Ok(AuditKey {
        id: id.to_owned(),
        secret: secret.as_bytes().to_vec(),
    })
}

impl AuditKeys {
    /// From `PORTFOLIO_AUDIT_KEY` and `PORTFOLIO_AUDIT_KEYS_RETIRED`.
    pub fn from_settings(
        current: Option<&str>,
        retired: Option<&str>,
    ) -> Result<AuditKeys, String> {
        let Some(current) = current else {
            return Ok(AuditKeys::default());
        };
        let current = parse_key(current, "PORTFOLIO_AUDIT_KEY")?;
        let retired = retired
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_key(s, "PORTFOLIO_AUDIT_KEYS_RETIRED"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AuditKeys {
            current,
            retired,
            is_default: false,
        })
    }

    /// A ring with `id:secret` as its current key and these retired ones (tests, tools).
    pub fn new(current: &str, retired: &[&str]) -> Result<AuditKeys, String> {
        let retired = retired.join(",");
        Self::from_settings(Some(current), Some(&retired))
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    fn find(&self, id: &str) -> Option<&AuditKey> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.id == id)
    }

    /// `<key id>:<hex HMAC-SHA256>` of `message` under the current key.
    pub fn sign(&self, message: &[u8]) -> String {
        format!(
            "{}:{}",
            self.current.id,
            hex(&hmac_sha256(&self.current.secret, message))
        )
    }

    /// Whether `tag` (`<key id>:<hex>`) is `message`'s MAC under a key this ring knows.
    pub fn verify(&self, tag: &str, message: &[u8]) -> Result<(), String> {
        let (id, mac) = tag
            .split_once(':')
            .ok_or("the entry carries no key id (it was not written with the audit key)")?;
        let key = self.find(id).ok_or_else(|| {
            format!("the entry names key id {id:?}, which this server does not know")
        })?;
        let expected = hex(&hmac_sha256(&key.secret, message));
        // Constant-time comparison: no early exit on the first differing byte.
        let same = expected.len() == mac.len()
            && expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err("the entry's content does not match its keyed hash (it was changed after it was written)".into())
        }
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

thread_local! {
    /// The key ring of the application whose database work runs on this thread (set by the
    /// `Db` threads before each job); the development ring otherwise.
    static KEYS: RefCell<Option<Arc<AuditKeys>>> = const { RefCell::new(None) };
}

/// Runs `f` with `keys` as this thread's audit keys.
pub fn with_keys<T>(keys: &Arc<AuditKeys>, f: impl FnOnce() -> T) -> T {
    let previous = KEYS.with(|k| k.replace(Some(Arc::clone(keys))));
    let result = f();
    KEYS.with(|k| *k.borrow_mut() = previous);
    result
}

/// This thread's audit keys.
pub fn current() -> Arc<AuditKeys> {
    KEYS.with(|k| k.borrow().clone())
        .unwrap_or_else(|| Arc::new(AuditKeys::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retired_keys_verify_unknown_and_forged_do_not() {
        let old = AuditKeys::new("k1:0123456789abcdef0123456789abcdef", &[]).expect("k1");
        let tag = old.sign(b"entry");
        let new = AuditKeys::new(
            "k2:fedcba9876543210fedcba9876543210",
            &["k1:0123456789abcdef0123456789abcdef"],
        )
        .expect("k2");
        assert!(new.verify(&tag, b"entry").is_ok());
        assert!(new.verify(&tag, b"other").is_err());
        let only_new = AuditKeys::new("k2:fedcba9876543210fedcba9876543210", &[]).expect("k2");
        assert!(only_new.verify(&tag, b"entry").is_err());
        assert!(new.verify("deadbeef", b"entry").is_err());
    }
}
