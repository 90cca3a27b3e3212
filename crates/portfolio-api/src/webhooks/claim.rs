//! The delivery worker's statements: what is pending, claiming the cursors of the
//! subscriptions due first, their next events, and writing back the attempts and the cursors'
//! moves, each a single statement whatever the number of subscriptions in the claim.
//!
//! One claim holds up to [`GROUP`] subscriptions, so that one feed event for ten subscriptions
//! costs one claim (begin, claim, events, save, commit), not ten. Only subscriptions whose
//! receivers answered quickly and without failure last time are grouped: the attempts of a
//! claim are made one after another while its cursor rows stay locked, and a slow or failing
//! receiver (up to the 10 s timeout per attempt) would hold the others up. Such a receiver is
//! claimed alone, until it answers quickly again.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::PgConnection;
use uuid::Uuid;

use crate::db::prepared::Prepared;
use crate::store::changelog::EventRow;
use crate::webhooks::send::Attempt;

/// Subscriptions claimed together at most.
pub const GROUP: i64 = 16;
/// Events sent per subscription and claim at most.
pub const BATCH: i64 = 100;
/// A receiver whose slowest answer at its last claim took this long (or that failed) is
/// claimed alone.
pub const QUICK: Duration = Duration::from_millis(500);

/// A subscription whose cursor this worker holds.
#[derive(QueryableByName)]
pub struct Claim {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub delivered_seq: i64,
    #[diesel(sql_type = Int4)]
    pub failed_attempts: i32,
    #[diesel(sql_type = Int4)]
    pub last_duration_ms: i32,
    #[diesel(sql_type = BigInt)]
    pub feed_end: i64,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Array<Text>)]
    pub entity_types: Vec<String>,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub previous_secret: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Int4)]
    pub version: i32,
    #[diesel(sql_type = Text)]
    pub org_number: String,
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    /// Its receiver answered within [`QUICK`] and without failure last time.
    #[diesel(sql_type = Bool)]
    pub quick: bool,
}

impl Claim {
    /// The secrets that sign: the current one, and the previous one until it expires.
    pub fn secrets(&self) -> Vec<&str> {
        let mut s = vec![self.secret.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at)
        {
            if Utc::now() < until {
                s.push(prev);
            }
        }
        s
    }
}

/// The end of the feed, read once per statement (`FROM head`).
const HEAD: &str = "WITH head AS (SELECT coalesce(max(seq), 0) AS feed_end FROM events)";
/// A receiver that answered quickly and without failure last time (over `c`): the one place
/// the rule is written; a claim carries it as `quick`.
static QUICK_LAST_TIME: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(c.failed_attempts = 0 AND c.last_duration_ms < {})",
        QUICK.as_millis()
    )
});
static CLAIM_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "s.id, c.delivered_seq, c.failed_attempts, c.last_duration_ms, head.feed_end, s.url, \
         s.entity_types, s.secret, s.previous_secret, s.previous_secret_expires_at, s.version, \
         s.org_number, s.enabled, {} AS quick",
        *QUICK_LAST_TIME
    )
});
/// A cursor with events to deliver now (over `head`, `c` and `s`).
const DUE: &str = "s.enabled AND c.next_attempt_at <= now() AND c.delivered_seq < head.feed_end";

static PENDING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{HEAD}, free AS (SELECT 1 FROM head, webhook_cursors c \
                 JOIN webhook_subscriptions s ON s.id = c.subscription_id \
                 WHERE {DUE} LIMIT 1 FOR UPDATE OF c SKIP LOCKED) \
         SELECT EXISTS (SELECT 1 FROM webhook_jobs) AS jobs, EXISTS (SELECT 1 FROM free) AS due"
    )
});

/// Whether a one-off job waits, and whether a subscription is due that no other worker holds:
/// one statement outside any transaction, so that a wake-up with nothing for this worker to
/// do (most wake-ups while another worker delivers a group) opens no transaction and claims
/// nothing. Its row lock (`SKIP LOCKED`, one row) ends with the statement.
pub fn pending(conn: &mut PgConnection) -> QueryResult<(bool, bool)> {
    #[derive(QueryableByName)]
    struct Pending {
        #[diesel(sql_type = Bool)]
        jobs: bool,
        #[diesel(sql_type = Bool)]
        due: bool,
    }
    let p: Pending = Prepared(diesel::sql_query(PENDING.as_str())).get_result(conn)?;
    Ok((p.jobs, p.due))
}

// A row this transaction locked in `first` is not skipped by the second lock.
static DUE_GROUP: LazyLock<String> = LazyLock::new(|| {
    let (quick, columns) = (&*QUICK_LAST_TIME, &*CLAIM_COLUMNS);
    format!(
        "{HEAD}, first AS (\
           SELECT c.subscription_id, {quick} AS quick \
           FROM head, webhook_cursors c JOIN webhook_subscriptions s ON s.id = c.subscription_id \
           WHERE {DUE} ORDER BY c.next_attempt_at LIMIT 1 FOR UPDATE OF c SKIP LOCKED) \
         SELECT {columns} \
         FROM head, first, webhook_cursors c JOIN webhook_subscriptions s ON s.id = c.subscription_id \
         WHERE c.subscription_id = first.subscription_id OR (first.quick AND {DUE} AND {quick}) \
         ORDER BY c.subscription_id = first.subscription_id DESC, c.next_attempt_at \
         LIMIT $1 FOR UPDATE OF c SKIP LOCKED"
    )
});

/// Locks the cursor of the subscription due first that no other worker holds and, when its
/// receiver is quick, those of up to `GROUP - 1` more quick ones, first due first. Empty when
/// nothing is due (or all of it is held elsewhere).
pub fn due_group(conn: &mut PgConnection) -> QueryResult<Vec<Claim>> {
    Prepared(diesel::sql_query(DUE_GROUP.as_str()).bind::<BigInt, _>(GROUP)).load(conn)
}

/// The next events after each claimed cursor, up to `BATCH` each, of the entity types its
/// subscription takes: one list per claim, in the claims' order.
pub fn due_events(conn: &mut PgConnection, group: &[Claim]) -> QueryResult<Vec<Vec<EventRow>>> {
    #[derive(QueryableByName)]
    struct Due {
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(embed)]
        event: EventRow,
    }
    let ids: Vec<Uuid> = group.iter().map(|c| c.id).collect();
    let after: Vec<i64> = group.iter().map(|c| c.delivered_seq).collect();
    // Every claim read the same head. Everything up to it has committed (seq order is commit
    // order), so this sees every event of each range.
    let feed_end = group.first().map_or(0, |c| c.feed_end);
    let rows: Vec<Due> = Prepared(
        diesel::sql_query(
            "SELECT g.n, e.seq, e.occurred_at, e.entity_type, e.entity_id, e.action, e.version, \
                e.actor_subject, e.actor_org \
         FROM unnest($1::uuid[], $2::int8[]) WITH ORDINALITY AS g(id, after, n) \
         JOIN webhook_subscriptions s ON s.id = g.id \
         CROSS JOIN LATERAL (SELECT * FROM events e \
             WHERE e.seq > g.after AND e.seq <= $3 \
               AND (cardinality(s.entity_types) = 0 OR e.entity_type = ANY (s.entity_types)) \
             ORDER BY e.seq LIMIT $4) e \
         ORDER BY g.n, e.seq",
        )
        .bind::<Array<SqlUuid>, _>(&ids)
        .bind::<Array<BigInt>, _>(&after)
        .bind::<BigInt, _>(feed_end)
        .bind::<BigInt, _>(BATCH),
    )
    .load(conn)?;
    let mut batches: Vec<Vec<EventRow>> = group.iter().map(|_| Vec::new()).collect();
    for row in rows {
        if let Some(batch) = batches.get_mut(row.n as usize - 1) {
            batch.push(row.event);
        }
    }
    Ok(batches)
}

/// Where each claimed cursor moves, as columns.
#[derive(Default)]
pub struct CursorMoves {
    pub ids: Vec<Uuid>,
    pub delivered_seq: Vec<i64>,
    pub failed_attempts: Vec<i32>,
    pub next_attempt_at: Vec<DateTime<Utc>>,
    pub last_duration_ms: Vec<i32>,
}

static SAVE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH logged AS ({INSERT_ATTEMPTS}) UPDATE webhook_cursors c \
         SET delivered_seq = u.done, failed_attempts = u.failed, next_attempt_at = u.next_at, \
             last_duration_ms = u.slowest \
         FROM unnest($11::uuid[], $12::int8[], $13::int4[], $14::timestamptz[], $15::int4[]) \
              AS u(id, done, failed, next_at, slowest) \
         WHERE c.subscription_id = u.id"
    )
});

/// The attempts of a claim and the cursors' moves, in one statement.
pub fn save(conn: &mut PgConnection, attempts: &Attempts, moves: &CursorMoves) -> QueryResult<()> {
    Prepared(
        attempts
            .insert(&SAVE)
            .bind::<Array<SqlUuid>, _>(&moves.ids)
            .bind::<Array<BigInt>, _>(&moves.delivered_seq)
            .bind::<Array<Int4>, _>(&moves.failed_attempts)
            .bind::<Array<Timestamptz>, _>(&moves.next_attempt_at)
            .bind::<Array<Int4>, _>(&moves.last_duration_ms),
    )
    .execute(conn)
}

/// Stable per event and subscription: the same on every retry and redelivery.
pub fn webhook_id(subscription: Uuid, seq: i64) -> String {
    format!("msg_{}_{seq}", subscription.simple())
}

/// Attempts as columns: written together in one `INSERT … unnest`, one row per attempt (the
/// rows `GET …/deliveries` lists), in the order they were made.
pub const INSERT_ATTEMPTS: &str = "INSERT INTO webhook_deliveries (subscription_id, event_seq, \
     webhook_id, kind, attempt, attempted_at, duration_ms, http_status, error, outcome) \
     SELECT u.subscription_id, u.event_seq, u.webhook_id, u.kind, u.attempt, u.attempted_at, \
     u.duration_ms, u.http_status, u.error, u.outcome \
     FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::int4[], $6::timestamptz[], \
     $7::int4[], $8::int4[], $9::text[], $10::text[]) WITH ORDINALITY \
     AS u(subscription_id, event_seq, webhook_id, kind, attempt, attempted_at, duration_ms, \
     http_status, error, outcome, n) ORDER BY u.n";

#[derive(Default)]
pub struct Attempts {
    subscription_ids: Vec<Uuid>,
    event_seqs: Vec<Option<i64>>,
    webhook_ids: Vec<String>,
    kinds: Vec<&'static str>,
    attempts: Vec<i32>,
    attempted_at: Vec<DateTime<Utc>>,
    durations_ms: Vec<i32>,
    statuses: Vec<Option<i32>>,
    errors: Vec<Option<String>>,
    outcomes: Vec<&'static str>,
}

/// One attempt to log.
pub struct Logged<'a> {
    pub subscription: Uuid,
    pub seq: Option<i64>,
    pub webhook_id: String,
    pub kind: &'static str,
    pub attempt: i32,
    pub result: &'a Attempt,
    pub outcome: &'static str,
}

impl Attempts {
    pub fn push(&mut self, a: Logged<'_>) {
        crate::metrics::webhook_attempt(a.outcome, a.result.duration);
        self.subscription_ids.push(a.subscription);
        self.event_seqs.push(a.seq);
        self.webhook_ids.push(a.webhook_id);
        self.kinds.push(a.kind);
        self.attempts.push(a.attempt);
        self.attempted_at.push(a.result.at);
        self.durations_ms.push(millis(a.result.duration));
        self.statuses.push(a.result.status.map(i32::from));
        self.errors.push(a.result.error.clone());
        self.outcomes.push(a.outcome);
    }

    /// Adds `other`'s attempts after these.
    pub fn append(&mut self, mut other: Attempts) {
        self.subscription_ids.append(&mut other.subscription_ids);
        self.event_seqs.append(&mut other.event_seqs);
        self.webhook_ids.append(&mut other.webhook_ids);
        self.kinds.append(&mut other.kinds);
        self.attempts.append(&mut other.attempts);
        self.attempted_at.append(&mut other.attempted_at);
        self.durations_ms.append(&mut other.durations_ms);
        self.statuses.append(&mut other.statuses);
        self.errors.append(&mut other.errors);
        self.outcomes.append(&mut other.outcomes);
    }

    /// `sql` (which contains [`INSERT_ATTEMPTS`]) with the columns bound as `$1`–`$10`.
    pub fn insert<'a>(&'a self, sql: &str) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
        diesel::sql_query(sql)
            .into_boxed()
            .bind::<Array<SqlUuid>, _>(&self.subscription_ids)
            .bind::<Array<Nullable<BigInt>>, _>(&self.event_seqs)
            .bind::<Array<Text>, _>(&self.webhook_ids)
            .bind::<Array<Text>, _>(&self.kinds)
            .bind::<Array<Int4>, _>(&self.attempts)
            .bind::<Array<Timestamptz>, _>(&self.attempted_at)
            .bind::<Array<Int4>, _>(&self.durations_ms)
            .bind::<Array<Nullable<Int4>>, _>(&self.statuses)
            .bind::<Array<Nullable<Text>>, _>(&self.errors)
            .bind::<Array<Text>, _>(&self.outcomes)
    }
}

pub fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

/// One subscription's claim, for a one-off job (a ping or a redelivery), locked or not.
pub fn of_subscription(conn: &mut PgConnection, id: Uuid) -> QueryResult<Claim> {
    diesel::sql_query(format!(
        "{HEAD} SELECT {} FROM head, webhook_cursors c \
         JOIN webhook_subscriptions s ON s.id = c.subscription_id WHERE s.id = $1",
        *CLAIM_COLUMNS
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
}
