//! The delivery worker: a few threads of their own per replica (never the HTTP workers or the
//! request database threads), each with a pooled connection, taking turns at subscriptions.
//! They sleep until a notification says there is work (`wakeup`), run niced (`priority`),
//! and write one statement per claim for the attempts and the cursor.
//!
//! A worker claims one subscription's cursor row with `FOR UPDATE SKIP LOCKED` and keeps that
//! transaction open while it delivers the next events in feed order, then moves the cursor
//! and commits. So two replicas never deliver to one subscription at once, events arrive in
//! feed order, and when a replica dies mid-delivery its transaction rolls back and another
//! worker delivers the same events again (at-least-once; same `webhook-id`). The change-log
//! lock is taken only after the last network call of a transaction (disabling a subscription).
//!
//! What a subscription receives: the feed is the same for every caller holding
//! `portfolio:read` (`GET /events` has no per-organisation filter), so an organisation gets
//! by webhook exactly what it reads there, narrowed to the subscription's entity types.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::PgConnection;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::config::WebhookConfig;
use crate::db::schema::{events, webhook_subscriptions};
use crate::db::PgPool;
use crate::routes::changelog::{ActorRef, Event};
use crate::store::changelog::EventRow;
use crate::store::webhooks::ENTITY_TYPE;
use crate::webhooks::target::CheckedResolver;
use crate::webhooks::wakeup::{self, Wakeup};
use crate::webhooks::{priority, signature};

/// Events sent per claim at most, and the time after which a claim stops starting new
/// deliveries: bounds how long a cursor row stays locked.
const BATCH: i64 = 100;
const BATCH_TIME: Duration = Duration::from_secs(1);
/// Response bytes read at most (then the connection is dropped).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// Idle connections to receivers kept open, in all.
const IDLE_CONNECTIONS: usize = 256;
/// A pass that failed (database away, connection refused) is tried again after this long.
const AFTER_ERROR: Duration = Duration::from_millis(500);
/// A `Retry-After` longer than this is capped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Running delivery threads (and their listener); stopped and joined when dropped.
pub struct Worker {
    stop: Arc<AtomicBool>,
    wakeup: Arc<Wakeup>,
    threads: Vec<JoinHandle<()>>,
}

impl Worker {
    /// Starts `config.workers` delivery threads on `pool`, and a thread listening on
    /// `database_url` for the notifications that wake them.
    pub fn start(pool: PgPool, database_url: &str, config: WebhookConfig) -> Worker {
        if config.allow_local {
            log::warn!(
                "PORTFOLIO_WEBHOOK_ALLOW_LOCAL is set: webhooks may go to http:// and to loopback or private addresses. Development and tests only."
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let wakeup = Arc::new(Wakeup::default());
        let config = Arc::new(config);
        let agent = client(&config);
        let mut threads: Vec<JoinHandle<()>> = (0..config.workers)
            .map(|i| {
                let (pool, config, stop, agent, wakeup) = (
                    pool.clone(),
                    Arc::clone(&config),
                    Arc::clone(&stop),
                    agent.clone(),
                    Arc::clone(&wakeup),
                );
                std::thread::Builder::new()
                    .name(format!("webhook-{i}"))
                    .spawn(move || run(&pool, &config, &stop, &agent, &wakeup))
                    .expect("spawn webhook thread")
            })
            .collect();
        let (url, stop_l, wakeup_l) = (
            database_url.to_owned(),
            Arc::clone(&stop),
            Arc::clone(&wakeup),
        );
        let nice = config.nice;
        threads.push(
            std::thread::Builder::new()
                .name("webhook-listen".into())
                .spawn(move || {
                    priority::lower_this_thread(nice);
                    wakeup::listen(&url, &wakeup_l, &stop_l)
                })
                .expect("spawn webhook listener thread"),
        );
        Worker {
            stop,
            wakeup,
            threads,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wakeup.wake();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The HTTP client: no redirects, no proxy, a deadline per attempt, and the resolver that
/// refuses non-public addresses (run for every new connection). Its pool keeps a connection
/// per receiver and thread: ureq's default (10 idle connections in all) made ten busy
/// receivers evict each other, so deliveries kept opening connections — each a DNS lookup on
/// a thread of its own and a TCP handshake (perf: `clone3` was ~5 % of the worker's samples).
fn client(config: &WebhookConfig) -> ureq::Agent {
    let cfg = ureq::Agent::config_builder()
        .max_idle_connections(IDLE_CONNECTIONS)
        .max_idle_connections_per_host(config.workers.max(1))
        .timeout_global(Some(config.timeout))
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .https_only(!config.allow_local)
        .proxy(None)
        .user_agent("portfolio-api-webhooks/1")
        .build();
    ureq::Agent::with_parts(
        cfg,
        ureq::unversioned::transport::DefaultConnector::default(),
        CheckedResolver {
            allow_local: config.allow_local,
        },
    )
}

fn run(
    pool: &PgPool,
    config: &WebhookConfig,
    stop: &AtomicBool,
    agent: &ureq::Agent,
    wakeup: &Wakeup,
) {
    priority::lower_this_thread(config.nice);
    let mut seen = wakeup.current();
    // When the retries this thread scheduled fall due (each is kept until a pass that started
    // after it: a wake-up for other work, or an earlier retry, must not make it forget one),
    // and when to try again after a failed pass.
    let mut due: Vec<Instant> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let pass = match pool.get() {
            Ok(mut conn) => drain(&mut conn, config, agent, stop).map_err(|e| e.to_string()),
            Err(e) => Err(format!("no database connection: {e}")),
        };
        match pass {
            Ok(scheduled) => {
                due.retain(|at| *at > started);
                due.extend(scheduled);
            }
            // The work is still there: try again soon, not only at the next wake-up.
            Err(e) => {
                log::warn!("webhook delivery: {e}");
                due.push(Instant::now() + AFTER_ERROR);
            }
        }
        // Sleep until a notification, the earliest of those, or the safety-net poll
        // (notifications lost while the listener reconnected; retries that another replica
        // scheduled and did not live to make).
        let mut timeout = config.poll_interval;
        if let Some(at) = due.iter().min() {
            timeout = timeout.min(at.saturating_duration_since(Instant::now()));
        }
        seen = wakeup.wait(seen, timeout);
    }
}

/// Runs every pending one-off job, then delivers until no subscription is due. Returns when
/// the retries this pass scheduled fall due.
fn drain(
    conn: &mut PgConnection,
    config: &WebhookConfig,
    agent: &ureq::Agent,
    stop: &AtomicBool,
) -> QueryResult<Vec<Instant>> {
    while !stop.load(Ordering::SeqCst) && jobs_pending(conn)? {
        if !conn.transaction(|conn| run_job(conn, agent))? {
            break;
        }
    }
    let mut retries = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match conn.transaction(|conn| deliver_due(conn, config, agent))? {
            Claimed::Nothing => break,
            Claimed::Delivered => {}
            // Measured from after the commit: by then the cursor says the same or earlier.
            Claimed::RetryIn(wait) => retries.push(Instant::now() + wait),
        }
    }
    Ok(retries)
}

/// One cheap statement, so that a wake-up for feed events does not open a transaction to
/// find no job.
fn jobs_pending(conn: &mut PgConnection) -> QueryResult<bool> {
    use crate::db::schema::webhook_jobs;
    diesel::select(diesel::dsl::exists(
        webhook_jobs::table.select(webhook_jobs::id),
    ))
    .get_result(conn)
}

/// What one claim came to.
enum Claimed {
    /// No subscription was due.
    Nothing,
    /// Delivered (or refused, or gave up); the subscription may have more.
    Delivered,
    /// An attempt failed; the subscription is due again after this long.
    RetryIn(Duration),
}

/// A subscription whose cursor this worker holds.
#[derive(QueryableByName)]
struct Claim {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    delivered_seq: i64,
    #[diesel(sql_type = Int4)]
    failed_attempts: i32,
    #[diesel(sql_type = BigInt)]
    feed_end: i64,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Array<Text>)]
    entity_types: Vec<String>,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    previous_secret: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    previous_secret_expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Int4)]
    version: i32,
    #[diesel(sql_type = Text)]
    org_number: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
}

impl Claim {
    /// The secrets that sign: the current one, and the previous one until it expires.
    fn secrets(&self) -> Vec<&str> {
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
const CLAIM_COLUMNS: &str = "s.id, c.delivered_seq, c.failed_attempts, head.feed_end, s.url, \
     s.entity_types, s.secret, s.previous_secret, s.previous_secret_expires_at, s.version, \
     s.org_number, s.enabled";

/// Delivers one due subscription's next events.
fn deliver_due(
    conn: &mut PgConnection,
    config: &WebhookConfig,
    agent: &ureq::Agent,
) -> QueryResult<Claimed> {
    let Some(claim) = claim_due_cursor(conn)? else {
        return Ok(Claimed::Nothing);
    };
    let batch = due_events(conn, &claim)?;
    let full = batch.len() as i64 == BATCH;
    let mut progress = send_batch(config, agent, &claim, batch);
    if progress.finished && !full {
        // Everything up to the end of the feed was delivered or filtered out.
        progress.done = claim.feed_end;
    }
    save_progress(conn, &claim, &progress)?;
    // Last, because it takes the change-log lock (after the last network call).
    if let Some((seq, attempt, result)) = &progress.gave_up {
        disable(conn, &claim, *seq, *attempt, result)?;
    }
    Ok(progress
        .retry_in
        .map_or(Claimed::Delivered, Claimed::RetryIn))
}

/// Locks the cursor of the subscription that is due first (one no other worker holds).
fn claim_due_cursor(conn: &mut PgConnection) -> QueryResult<Option<Claim>> {
    diesel::sql_query(format!(
        "{HEAD} SELECT {CLAIM_COLUMNS} FROM head, webhook_cursors c \
         JOIN webhook_subscriptions s ON s.id = c.subscription_id \
         WHERE s.enabled AND c.next_attempt_at <= now() AND c.delivered_seq < head.feed_end \
         ORDER BY c.next_attempt_at LIMIT 1 \
         FOR UPDATE OF c SKIP LOCKED"
    ))
    .get_result(conn)
    .optional()
}

/// The next events after the cursor, up to `BATCH`, of the entity types subscribed to.
fn due_events(conn: &mut PgConnection, claim: &Claim) -> QueryResult<Vec<EventRow>> {
    // Everything up to `feed_end` has committed (seq order is commit order), so this sees
    // every event of the range.
    let mut q = events::table
        .select(EventRow::as_select())
        .filter(events::seq.gt(claim.delivered_seq))
        .filter(events::seq.le(claim.feed_end))
        .order(events::seq)
        .limit(BATCH)
        .into_boxed();
    if !claim.entity_types.is_empty() {
        q = q.filter(events::entity_type.eq_any(claim.entity_types.clone()));
    }
    q.load(conn)
}

/// Sends the batch in order until one is to be retried (or given up on), or `BATCH_TIME` is up.
fn send_batch(
    config: &WebhookConfig,
    agent: &ureq::Agent,
    claim: &Claim,
    batch: Vec<EventRow>,
) -> Progress {
    let started = Instant::now();
    let secrets = claim.secrets();
    let mut progress = Progress::start(claim);
    for ev in batch {
        if started.elapsed() > BATCH_TIME {
            progress.finished = false;
            break;
        }
        let seq = ev.seq;
        let id = webhook_id(claim.id, seq);
        let result = send(agent, &claim.url, &id, &secrets, &Event::from(ev));
        if !progress.after_attempt(config, seq, id, result) {
            break;
        }
    }
    progress
}

/// The attempts and the cursor's move, in one statement.
fn save_progress(conn: &mut PgConnection, claim: &Claim, progress: &Progress) -> QueryResult<()> {
    progress
        .attempts
        .insert(&format!(
            "WITH logged AS ({INSERT_ATTEMPTS}) UPDATE webhook_cursors \
             SET delivered_seq = $11, failed_attempts = $12, next_attempt_at = $13 \
             WHERE subscription_id = $10"
        ))
        .bind::<SqlUuid, _>(claim.id)
        .bind::<BigInt, _>(progress.done)
        .bind::<Int4, _>(progress.failed_attempts)
        .bind::<Timestamptz, _>(progress.next_attempt_at)
        .execute(conn)?;
    Ok(())
}

/// Where a delivery run got to: the cursor's next state, the attempts to log, and the event
/// the schedule was used up on (the subscription is then disabled).
struct Progress {
    done: i64,
    failed_attempts: i32,
    next_attempt_at: DateTime<Utc>,
    retry_in: Option<Duration>,
    /// Every event of the batch was delivered or refused.
    finished: bool,
    attempts: Attempts,
    gave_up: Option<(i64, i32, Attempt)>,
}

impl Progress {
    fn start(claim: &Claim) -> Progress {
        Progress {
            done: claim.delivered_seq,
            failed_attempts: claim.failed_attempts,
            next_attempt_at: Utc::now(),
            retry_in: None,
            finished: true,
            attempts: Attempts::default(),
            gave_up: None,
        }
    }

    /// Logs an attempt at event `seq` and moves the cursor past a delivered or refused event;
    /// `false` when delivery stops at this event (a retry is scheduled, or the schedule is used up).
    fn after_attempt(
        &mut self,
        config: &WebhookConfig,
        seq: i64,
        id: String,
        result: Attempt,
    ) -> bool {
        let attempt = self.failed_attempts + 1;
        let verdict = result.verdict();
        let outcome = match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Refused => "failed",
            Verdict::Retry(_) if attempt as usize > config.retry_schedule.len() => "gave_up",
            Verdict::Retry(_) => "retrying",
        };
        self.attempts
            .push(Some(seq), id, "feed", attempt, &result, outcome);
        match verdict {
            Verdict::Delivered | Verdict::Refused => {
                self.done = seq;
                self.failed_attempts = 0;
                true
            }
            Verdict::Retry(retry_after) => {
                self.finished = false;
                if outcome == "gave_up" {
                    self.gave_up = Some((seq, attempt, result));
                    self.failed_attempts = 0;
                } else {
                    self.failed_attempts = attempt;
                    let wait = jitter(config.retry_schedule[attempt as usize - 1])
                        .max(retry_after.unwrap_or_default());
                    self.next_attempt_at = Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                    self.retry_in = Some(wait);
                }
                false
            }
        }
    }
}

/// The schedule is used up: the subscription stops, says why, and the feed tells.
fn disable(
    conn: &mut PgConnection,
    claim: &Claim,
    seq: i64,
    attempts: i32,
    result: &Attempt,
) -> QueryResult<()> {
    let reason = format!(
        "gave up on event {seq} after {attempts} attempts (the retry schedule was used up); last: {}",
        result.describe()
    );
    diesel::update(webhook_subscriptions::table.find(claim.id))
        .set((
            webhook_subscriptions::enabled.eq(false),
            webhook_subscriptions::disabled_reason.eq(&reason),
            webhook_subscriptions::version.eq(claim.version + 1),
            webhook_subscriptions::updated_at.eq(Utc::now()),
        ))
        .execute(conn)?;
    log::warn!("webhook subscription {} disabled: {reason}", claim.id);
    changes::record(
        conn,
        &Actor::system("webhooks"),
        &[Change::new(ENTITY_TYPE, claim.id, "disabled").version(claim.version + 1)],
    )
}

/// A one-off job (ping or redelivery): one attempt, recorded, no retry. False when none.
fn run_job(conn: &mut PgConnection, agent: &ureq::Agent) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Job {
        #[diesel(sql_type = SqlUuid)]
        subscription_id: Uuid,
        #[diesel(sql_type = Nullable<BigInt>)]
        event_seq: Option<i64>,
    }
    let job: Option<Job> = diesel::sql_query(
        "DELETE FROM webhook_jobs WHERE id = \
         (SELECT id FROM webhook_jobs ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING subscription_id, event_seq",
    )
    .get_result(conn)
    .optional()?;
    let Some(job) = job else {
        return Ok(false);
    };
    let claim: Claim = diesel::sql_query(format!(
        "{HEAD} SELECT {CLAIM_COLUMNS} FROM head, webhook_cursors c \
         JOIN webhook_subscriptions s ON s.id = c.subscription_id WHERE s.id = $1"
    ))
    .bind::<SqlUuid, _>(job.subscription_id)
    .get_result(conn)?;
    let (id, kind, event) = match job.event_seq {
        Some(seq) => {
            let row: Option<EventRow> = events::table
                .find(seq)
                .select(EventRow::as_select())
                .first(conn)
                .optional()?;
            let Some(row) = row else { return Ok(true) };
            (webhook_id(claim.id, seq), "redelivery", Event::from(row))
        }
        None => (
            format!("msg_ping_{}", Uuid::new_v4().simple()),
            "ping",
            ping(&claim),
        ),
    };
    let result = send(agent, &claim.url, &id, &claim.secrets(), &event);
    let outcome = match result.verdict() {
        Verdict::Delivered => "delivered",
        _ => "failed",
    };
    let mut attempts = Attempts::default();
    attempts.push(job.event_seq, id, kind, 1, &result, outcome);
    attempts
        .insert(INSERT_ATTEMPTS)
        .bind::<SqlUuid, _>(claim.id)
        .execute(conn)?;
    if !claim.enabled {
        log::info!("webhook {kind} sent to disabled subscription {}", claim.id);
    }
    Ok(true)
}

/// A ping has the shape of a feed event, with `seq` 0: it is not on the feed.
fn ping(claim: &Claim) -> Event {
    Event {
        seq: 0,
        occurred_at: Utc::now(),
        entity_type: ENTITY_TYPE.to_owned(),
        entity_id: claim.id.to_string(),
        action: "ping".to_owned(),
        version: Some(claim.version),
        actor: ActorRef {
            subject: "system:webhooks".to_owned(),
            org_number: Some(claim.org_number.clone()),
        },
    }
}

/// Stable per event and subscription: the same on every retry and redelivery.
pub fn webhook_id(subscription: Uuid, seq: i64) -> String {
    format!("msg_{}_{seq}", subscription.simple())
}

/// The attempts of one claim, as columns: written together in one `INSERT … unnest`, one
/// row per attempt (the rows `GET …/deliveries` lists), in the order they were made. The
/// subscription's id is bound after the arrays, as `$10`.
const INSERT_ATTEMPTS: &str = "INSERT INTO webhook_deliveries (subscription_id, event_seq, \
     webhook_id, kind, attempt, attempted_at, duration_ms, http_status, error, outcome) \
     SELECT $10, u.event_seq, u.webhook_id, u.kind, u.attempt, u.attempted_at, u.duration_ms, \
     u.http_status, u.error, u.outcome \
     FROM unnest($1::int8[], $2::text[], $3::text[], $4::int4[], $5::timestamptz[], \
     $6::int4[], $7::int4[], $8::text[], $9::text[]) WITH ORDINALITY \
     AS u(event_seq, webhook_id, kind, attempt, attempted_at, duration_ms, http_status, error, \
     outcome, n) ORDER BY u.n";

#[derive(Default)]
struct Attempts {
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

impl Attempts {
    fn push(
        &mut self,
        seq: Option<i64>,
        webhook_id: String,
        kind: &'static str,
        attempt: i32,
        result: &Attempt,
        outcome: &'static str,
    ) {
        self.event_seqs.push(seq);
        self.webhook_ids.push(webhook_id);
        self.kinds.push(kind);
        self.attempts.push(attempt);
        self.attempted_at.push(result.at);
        self.durations_ms
            .push(result.duration.as_millis().min(i32::MAX as u128) as i32);
        self.statuses.push(result.status.map(i32::from));
        self.errors.push(result.error.clone());
        self.outcomes.push(outcome);
    }

    /// `sql` (which contains [`INSERT_ATTEMPTS`]) with the arrays bound as `$1`–`$9`.
    fn insert<'a>(&'a self, sql: &str) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
        diesel::sql_query(sql)
            .into_boxed()
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

/// What one HTTP attempt came to.
struct Attempt {
    at: DateTime<Utc>,
    duration: Duration,
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: Option<String>,
}

enum Verdict {
    Delivered,
    /// Not retried: a 3xx (redirects are not followed) or a 4xx other than 429.
    Refused,
    /// Timeout, connection error, 429 or 5xx; with the receiver's `Retry-After`.
    Retry(Option<Duration>),
}

impl Attempt {
    fn verdict(&self) -> Verdict {
        match self.status {
            Some(s) if (200..300).contains(&s) => Verdict::Delivered,
            Some(s) if s == 429 || s >= 500 => Verdict::Retry(self.retry_after),
            Some(_) => Verdict::Refused,
            None => Verdict::Retry(None),
        }
    }

    fn describe(&self) -> String {
        match (&self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        }
    }
}

/// Sends `event` as the body, signed with every secret in `secrets`.
fn send(
    agent: &ureq::Agent,
    url: &str,
    webhook_id: &str,
    secrets: &[&str],
    event: &Event,
) -> Attempt {
    let at = Utc::now();
    let started = Instant::now();
    let body = serde_json::to_vec(event).unwrap_or_default();
    let timestamp = at.timestamp();
    let signature = signature::header(secrets, webhook_id, timestamp, &body);
    let result = agent
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .send(&body[..]);
    let (status, retry_after, error) = match result {
        Ok(mut resp) => {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            // Read (a bounded part of) the answer, so the connection can be reused.
            let mut reader = resp.body_mut().as_reader().take(MAX_RESPONSE_BYTES);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            (Some(resp.status().as_u16()), retry_after, None)
        }
        Err(ureq::Error::Timeout(_)) => (None, None, Some("timeout".to_owned())),
        Err(e) => (None, None, Some(truncate(&e.to_string(), 500))),
    };
    Attempt {
        at,
        duration: started.elapsed(),
        status,
        retry_after,
        error,
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `d` scaled by a random factor in [0.8, 1.2), so receivers coming back are not hit by every
/// retry at once.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = getrandom::getrandom(&mut b)
        .map(|_| u16::from_le_bytes(b) as f64 / 65536.0)
        .unwrap_or(0.5);
    d.mul_f64(0.8 + 0.4 * r)
}
