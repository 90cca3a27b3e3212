//! Signed checkpoints of the audit chain: (head sequence number, head hash, time, key id)
//! signed with the audit key. The key is not in the database, so whoever can write the tables
//! can neither forge a checkpoint nor cut the chain short past one a reader kept.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::changes::GENESIS_HASH;
use crate::db::schema::{audit_checkpoints, audit_log};
use crate::store::changelog::{verify_chain, ChainReport};
use crate::store::{StoreError, StoreResult};

/// A signed checkpoint of the audit chain's head.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, Deserialize, ToSchema)]
#[diesel(table_name = audit_checkpoints)]
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

/// The chain's head: the newest entry's id and hash (0 and the genesis hash when empty).
fn head(conn: &mut PgConnection) -> QueryResult<(i64, String)> {
    Ok(audit_log::table
        .select((audit_log::id, audit_log::hash))
        .order(audit_log::id.desc())
        .first(conn)
        .optional()?
        .unwrap_or((0, GENESIS_HASH.to_owned())))
}

/// The newest checkpoint, if any.
pub fn latest(conn: &mut PgConnection) -> QueryResult<Option<Checkpoint>> {
    audit_checkpoints::table
        .select(Checkpoint::as_select())
        .order(audit_checkpoints::id.desc())
        .first(conn)
        .optional()
}

/// Signs and stores a checkpoint of the current head.
pub fn publish(conn: &mut PgConnection) -> StoreResult<Checkpoint> {
    let (seq, head_hash) = head(conn)?;
    let created_at = Utc::now().trunc_subsecs(6);
    let keys = crate::audit_key::current();
    let key_id = keys.current_id().to_owned();
    let signature = keys.sign(canonical_text(seq, &head_hash, &created_at, &key_id).as_bytes());
    let row = diesel::insert_into(audit_checkpoints::table)
        .values((
            audit_checkpoints::seq.eq(seq),
            audit_checkpoints::head_hash.eq(&head_hash),
            audit_checkpoints::created_at.eq(created_at),
            audit_checkpoints::key_id.eq(&key_id),
            audit_checkpoints::signature.eq(&signature),
        ))
        .returning(Checkpoint::as_returning())
        .get_result(conn)?;
    crate::metrics::audit_checkpoint();
    Ok(row)
}

/// Publishes a checkpoint when the head moved since the newest one (the periodic job).
pub fn publish_if_moved(conn: &mut PgConnection) -> StoreResult<Option<Checkpoint>> {
    let (seq, hash) = head(conn)?;
    if let Some(last) = latest(conn)? {
        if last.seq == seq && last.head_hash == hash {
            return Ok(None);
        }
    }
    publish(conn).map(Some)
}

/// Checkpoints before `before` (an id), newest first (`limit + 1` rows, for the page split).
pub fn list(
    conn: &mut PgConnection,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Checkpoint>> {
    let mut q = audit_checkpoints::table
        .select(Checkpoint::as_select())
        .order(audit_checkpoints::id.desc())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(audit_checkpoints::id.lt(b));
    }
    q.limit(limit + 1).load(conn)
}

pub fn find(conn: &mut PgConnection, id: i64) -> StoreResult<Checkpoint> {
    audit_checkpoints::table
        .find(id)
        .select(Checkpoint::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("audit checkpoint {id}")))
}

/// What the chain looks like against a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The chain is intact and still contains the checkpoint's head.
    Valid,
    /// The chain ends before the checkpoint's head, or that entry is gone.
    Truncated,
    /// The entry at the checkpoint's head has another hash, or the chain breaks.
    Rewritten,
    /// The checkpoint's signature does not verify: it cannot be trusted.
    ForgedCheckpoint,
}

/// The chain checked against one checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    pub chain: ChainReport,
    pub outcome: Outcome,
    /// The first sequence number that is missing or does not match.
    pub first_bad_seq: Option<i64>,
    pub reason: Option<String>,
}

/// Verifies the whole chain and compares it with `cp` (read in one snapshot by the caller).
pub fn verify_against(conn: &mut PgConnection, cp: &Checkpoint) -> StoreResult<CheckpointReport> {
    let chain = verify_chain(conn)?;
    let report = |outcome, first_bad_seq, reason: Option<String>| CheckpointReport {
        chain: chain.clone(),
        outcome,
        first_bad_seq,
        reason,
    };
    if let Err(reason) = cp.check_signature() {
        return Ok(report(Outcome::ForgedCheckpoint, None, Some(reason)));
    }
    let chain_break = chain.first_broken.as_ref().map(|b| b.id);
    let (head_seq, _) = head(conn)?;
    if head_seq < cp.seq {
        return Ok(report(
            Outcome::Truncated,
            Some(head_seq + 1),
            Some(format!(
                "the chain ends at {head_seq}, before the checkpoint's head {}",
                cp.seq
            )),
        ));
    }
    if cp.seq > 0 {
        let at: Option<String> = audit_log::table
            .find(cp.seq)
            .select(audit_log::hash)
            .first(conn)
            .optional()?;
        match at {
            None => {
                return Ok(report(
                    Outcome::Truncated,
                    Some(cp.seq),
                    Some(format!(
                        "entry {} (the checkpoint's head) is missing",
                        cp.seq
                    )),
                ))
            }
            Some(h) if h != cp.head_hash => {
                let first = chain_break.map_or(cp.seq, |b| b.min(cp.seq));
                return Ok(report(
                    Outcome::Rewritten,
                    Some(first),
                    Some(format!(
                        "entry {} has another hash than the checkpoint recorded",
                        cp.seq
                    )),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(b) = chain.first_broken.clone() {
        return Ok(report(Outcome::Rewritten, Some(b.id), Some(b.reason)));
    }
    Ok(report(Outcome::Valid, None, None))
}
