//! The delivery worker: a few threads of their own per replica (never the HTTP workers or the
//! request database threads), each with a pooled connection, taking turns at subscriptions.
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
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::PgConnection;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::config::WebhookConfig;
use crate::db::schema::{events, webhook_cursors, webhook_deliveries, webhook_subscriptions};
use crate::db::PgPool;
use crate::routes::changelog::{ActorRef, Event};
use crate::store::changelog::EventRow;
use crate::store::webhooks::ENTITY_TYPE;
use crate::webhooks::signature;
use crate::webhooks::target::CheckedResolver;

/// Events sent per claim at most, and the time after which a claim stops starting new
/// deliveries: bounds how long a cursor row stays locked.
const BATCH: i64 = 100;
const BATCH_TIME: Duration = Duration::from_secs(1);
/// Response bytes read at most (then the connection is dropped).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// A `Retry-After` longer than this is capped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Running delivery threads; stopped (and joined) when dropped.
pub struct Worker {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Worker {
    /// Starts `config.workers` delivery threads on `pool`.
    pub fn start(pool: PgPool, config: WebhookConfig) -> Worker {
        if config.allow_local {
            log::warn!(
                "PORTFOLIO_WEBHOOK_ALLOW_LOCAL is set: webhooks may go to http:// and to loopback or private addresses. Development and tests only."
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(config);
        let agent = client(&config);
        let threads = (0..config.workers)
            .map(|i| {
                let (pool, config, stop, agent) = (
                    pool.clone(),
                    Arc::clone(&config),
                    Arc::clone(&stop),
                    agent.clone(),
                );
                std::thread::Builder::new()
                    .name(format!("webhook-{i}"))
                    .spawn(move || run(&pool, &config, &stop, &agent))
                    .expect("spawn webhook thread")
            })
            .collect();
        Worker { stop, threads }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The HTTP client: no redirects, no proxy, a deadline per attempt, and the resolver that
/// refuses non-public addresses.
fn client(config: &WebhookConfig) -> ureq::Agent {
    let cfg = ureq::Agent::config_builder()
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

fn run(pool: &PgPool, config: &WebhookConfig, stop: &AtomicBool, agent: &ureq::Agent) {
    while !stop.load(Ordering::SeqCst) {
        let worked = match pool.get() {
            Ok(mut conn) => match step(&mut conn, config, agent) {
                Ok(worked) => worked,
                Err(e) => {
                    log::warn!("webhook delivery: {e}");
                    false
                }
            },
            Err(e) => {
                log::warn!("webhook delivery: no database connection: {e}");
                false
            }
        };
        if !worked {
            // Idle: look again shortly, in slices so that a stop is seen quickly.
            let until = Instant::now() + config.poll_interval;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(config.poll_interval.min(Duration::from_millis(50)));
            }
        }
    }
}

/// One unit of work: a one-off job, else one subscription's due events. False when idle.
fn step(conn: &mut PgConnection, config: &WebhookConfig, agent: &ureq::Agent) -> QueryResult<bool> {
    if conn.transaction(|conn| run_job(conn, agent))? {
        return Ok(true);
    }
    conn.transaction(|conn| deliver_due(conn, config, agent))
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

const CLAIM_COLUMNS: &str = "s.id, c.delivered_seq, c.failed_attempts, \
     (SELECT coalesce(max(seq), 0) FROM events) AS feed_end, s.url, s.entity_types, s.secret, \
     s.previous_secret, s.previous_secret_expires_at, s.version, s.org_number, s.enabled";

/// Delivers one due subscription's next events. False when none is due.
fn deliver_due(
    conn: &mut PgConnection,
    config: &WebhookConfig,
    agent: &ureq::Agent,
) -> QueryResult<bool> {
    let claim: Option<Claim> = diesel::sql_query(format!(
        "SELECT {CLAIM_COLUMNS} FROM webhook_cursors c \
         JOIN webhook_subscriptions s ON s.id = c.subscription_id \
         WHERE s.enabled AND c.next_attempt_at <= now() \
           AND c.delivered_seq < (SELECT coalesce(max(seq), 0) FROM events) \
         ORDER BY c.next_attempt_at LIMIT 1 \
         FOR UPDATE OF c SKIP LOCKED"
    ))
    .get_result(conn)
    .optional()?;
    let Some(claim) = claim else {
        return Ok(false);
    };
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
    let batch: Vec<EventRow> = q.load(conn)?;
    let full = batch.len() as i64 == BATCH;
    let started = Instant::now();
    let secrets = claim.secrets();
    let mut done = claim.delivered_seq;
    let mut failed_attempts = claim.failed_attempts;
    let mut next_attempt_at = Utc::now();
    let mut finished = true;
    for ev in batch {
        if started.elapsed() > BATCH_TIME {
            finished = false;
            break;
        }
        let seq = ev.seq;
        let attempt = failed_attempts + 1;
        let id = webhook_id(claim.id, seq);
        let result = send(agent, &claim.url, &id, &secrets, &Event::from(ev));
        let verdict = result.verdict();
        let outcome = match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Refused => "failed",
            Verdict::Retry(_) if attempt as usize > config.retry_schedule.len() => "gave_up",
            Verdict::Retry(_) => "retrying",
        };
        log_attempt(
            conn,
            claim.id,
            Some(seq),
            &id,
            "feed",
            attempt,
            &result,
            outcome,
        )?;
        match verdict {
            Verdict::Delivered | Verdict::Refused => {
                done = seq;
                failed_attempts = 0;
            }
            Verdict::Retry(retry_after) => {
                finished = false;
                if outcome == "gave_up" {
                    disable(conn, &claim, seq, attempt, &result)?;
                    failed_attempts = 0;
                } else {
                    failed_attempts = attempt;
                    let wait = jitter(config.retry_schedule[attempt as usize - 1])
                        .max(retry_after.unwrap_or_default());
                    next_attempt_at = Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                }
                break;
            }
        }
    }
    if finished && !full {
        // Everything up to the end of the feed was delivered or filtered out.
        done = claim.feed_end;
    }
    diesel::update(webhook_cursors::table.find(claim.id))
        .set((
            webhook_cursors::delivered_seq.eq(done),
            webhook_cursors::failed_attempts.eq(failed_attempts),
            webhook_cursors::next_attempt_at.eq(next_attempt_at),
        ))
        .execute(conn)?;
    Ok(true)
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
        "SELECT {CLAIM_COLUMNS} FROM webhook_cursors c \
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
    log_attempt(
        conn,
        claim.id,
        job.event_seq,
        &id,
        kind,
        1,
        &result,
        outcome,
    )?;
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

#[allow(clippy::too_many_arguments)]
fn log_attempt(
    conn: &mut PgConnection,
    subscription: Uuid,
    seq: Option<i64>,
    webhook_id: &str,
    kind: &str,
    attempt: i32,
    result: &Attempt,
    outcome: &str,
) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::subscription_id.eq(subscription),
            webhook_deliveries::event_seq.eq(seq),
            webhook_deliveries::webhook_id.eq(webhook_id),
            webhook_deliveries::kind.eq(kind),
            webhook_deliveries::attempt.eq(attempt),
            webhook_deliveries::attempted_at.eq(result.at),
            webhook_deliveries::duration_ms
                .eq(result.duration.as_millis().min(i32::MAX as u128) as i32),
            webhook_deliveries::http_status.eq(result.status.map(i32::from)),
            webhook_deliveries::error.eq(&result.error),
            webhook_deliveries::outcome.eq(outcome),
        ))
        .execute(conn)
        .map(|_| ())
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
