//! Signed checkpoints of the audit chain: (head sequence number, head hash, time, key id)
//! signed with the audit key. The key is not in the database, so whoever can write the tables
//! can neither forge a checkpoint nor cut the chain short past one a reader kept.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::PgConnection;

use crate::changes::GENESIS_HASH;
use crate::db::schema::{audit_checkpoints, audit_log};
use crate::documents::checkpoint::{canonical_text, Checkpoint};
use crate::store::changelog::{verify_chain, ChainReport};
use crate::store::{StoreError, StoreResult};

/// A row of `audit_checkpoints`; served as the `Checkpoint` document it holds.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_checkpoints)]
pub struct CheckpointRow {
    pub id: i64,
    pub seq: i64,
    pub head_hash: String,
    pub created_at: DateTime<Utc>,
    pub key_id: String,
    pub signature: String,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(r: CheckpointRow) -> Self {
        Checkpoint {
            id: r.id,
            seq: r.seq,
            head_hash: r.head_hash,
            created_at: r.created_at,
            key_id: r.key_id,
            signature: r.signature,
        }
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
    Ok(audit_checkpoints::table
        .select(CheckpointRow::as_select())
        .order(audit_checkpoints::id.desc())
        .first(conn)
        .optional()?
        .map(Checkpoint::from))
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
        .returning(CheckpointRow::as_returning())
        .get_result(conn)?;
    crate::metrics::audit_checkpoint();
    Ok(row.into())
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
        .select(CheckpointRow::as_select())
        .order(audit_checkpoints::id.desc())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(audit_checkpoints::id.lt(b));
    }
    let rows: Vec<CheckpointRow> = q.limit(limit + 1).load(conn)?;
    Ok(rows.into_iter().map(Checkpoint::from).collect())
}

pub fn find(conn: &mut PgConnection, id: i64) -> StoreResult<Checkpoint> {
    audit_checkpoints::table
        .find(id)
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?
        .map(Checkpoint::from)
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
