//! A signed checkpoint of the audit chain: served by `/audit/checkpoints` and kept inside
//! every published tertial report, so its JSON form is a stored document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A signed checkpoint of the audit chain's head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 3, "seq": 42,
    "head_hash": "prod-1:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "created_at": "2026-12-01T12:00:00.000000Z", "key_id": "prod-1",
    "signature": "prod-1:9c1185a5c5e9fc54612808977ee8f548b2258d31c2f1a7d1f4e4bd3b1c1c9e0a"}))]
pub struct Checkpoint {
    /// The checkpoint's id (1, 2, 3, … in publishing order).
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub id: i64,
    /// The sequence number (audit entry id) of the chain's head; 0 for an empty chain.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub seq: i64,
    /// The head entry's hash (64 zeros for an empty chain).
    #[schema(max_length = 100)]
    pub head_hash: String,
    /// When the checkpoint was taken (UTC).
    #[serde(with = "checkpoint_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// The audit key that signed it.
    #[schema(max_length = 32, example = "prod-1")]
    pub key_id: String,
    /// `<key id>:<hex HMAC-SHA256>` over the checkpoint's canonical text (see
    /// `canonical_text`).
    #[schema(max_length = 100)]
    pub signature: String,
}

/// Timestamps with microseconds (what PostgreSQL keeps and the signature covers).
mod checkpoint_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        crate::timestamp::serialize(t, s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// The text a checkpoint's signature covers: one field per line, fixed order.
pub fn canonical_text(
    seq: i64,
    head_hash: &str,
    created_at: &DateTime<Utc>,
    key_id: &str,
) -> String {
    format!(
        "portfolio-audit-checkpoint/1\nseq={seq}\nhead_hash={head_hash}\ncreated_at={}\nkey_id={key_id}\n",
        created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

impl Checkpoint {
    /// Whether the signature is the audit key's over this checkpoint's fields.
    pub fn check_signature(&self) -> Result<(), String> {
        let signer = self.signature.split_once(':').map(|(id, _)| id);
        if signer != Some(self.key_id.as_str()) {
            return Err("the signature names another key than the checkpoint".into());
        }
        let text = canonical_text(self.seq, &self.head_hash, &self.created_at, &self.key_id);
        crate::audit_key::current()
            .verify(&self.signature, text.as_bytes())
            .map_err(|_| {
                "the checkpoint's signature does not match its fields (forged or changed)".into()
            })
    }
}
