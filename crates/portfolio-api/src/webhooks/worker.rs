//! The delivery worker: a few threads of their own per replica (never the HTTP workers or the
//! request database threads), each with a pooled connection, taking turns at subscriptions.
//! They sleep until a notification says there is work (`wakeup`), run niced (`priority`), and
//! deliver to a group of subscriptions per claim (`claim`).
//!
//! A worker claims cursor rows with `FOR UPDATE SKIP LOCKED` and keeps that transaction open
//! while it delivers the next events in feed order, then moves the cursors and commits. So two
//! replicas never deliver to one subscription at once, events arrive in feed order, and when a
//! replica dies mid-delivery its transaction rolls back and another worker delivers the same
//! events again (at-least-once; same `webhook-id`). The change-log lock is taken only after
//! the last network call of a transaction (disabling a subscription).
//!
//! What a subscription receives: the feed is the same for every caller holding
//! `portfolio:read` (`GET /events` has no per-organisation filter), so an organisation gets
//! by webhook exactly what it reads there, narrowed to the subscription's entity types.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Uuid as SqlUuid};
use diesel::PgConnection;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::config::WebhookConfig;
use crate::db::schema::{events, webhook_subscriptions};
use crate::db::PgPool;
use crate::routes::changelog::{ActorRef, Event};
use crate::store::changelog::EventRow;
use crate::store::webhooks::ENTITY_TYPE;
use crate::webhooks::claim::{self, Attempts, Claim, CursorMoves, Logged, BATCH, INSERT_ATTEMPTS};
use crate::webhooks::lanes::Lanes;
use crate::webhooks::priority;
use crate::webhooks::send::{client, send, Attempt, Verdict};
use crate::webhooks::wakeup::{self, Attention, Wakeup};

pub use crate::webhooks::claim::webhook_id;

/// The time after which a claim stops starting new deliveries: bounds how long its cursor rows
/// stay locked (besides the attempt under way).
const BATCH_TIME: Duration = Duration::from_secs(1);
/// Threads a claim's subscriptions are sent on at once at most (the claiming thread and send
/// lanes). One after another, a claim delivers one receiver round trip at a time: measured
/// at ~1.4 ms per round trip on a loaded two-core machine, that is fewer than the 1,000
/// deliveries/s of ten subscriptions at 100 changes/s (bench/README.md, issue 15).
const LANES: usize = 4;
/// Events per lane, roughly, before another lane is worth a thread.
const EVENTS_PER_LANE: usize = 8;
/// A pass that failed (database away, connection refused) is tried again after this long.
const AFTER_ERROR: Duration = Duration::from_millis(500);

/// Running delivery threads (and their listener); stopped and joined when dropped.
pub struct Worker {
    stop: Arc<AtomicBool>,
    wakeup: Arc<Wakeup>,
    threads: Vec<JoinHandle<()>>,
    lanes: Option<Arc<Lanes>>,
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
        let lanes = Arc::new(Lanes::start((LANES - 1) * config.workers, config.nice));
        let mut threads: Vec<JoinHandle<()>> = (0..config.workers)
            .map(|i| {
                let helpers = Helpers {
                    config: Arc::clone(&config),
                    agent: agent.clone(),
                    lanes: Arc::clone(&lanes),
                };
                let (pool, stop, wakeup) = (pool.clone(), Arc::clone(&stop), Arc::clone(&wakeup));
                std::thread::Builder::new()
                    .name(format!("webhook-{i}"))
                    .spawn(move || run(&pool, &helpers, &stop, &wakeup))
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
            lanes: Some(lanes),
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
        // The delivery threads are gone: this is the last handle, and the lanes end with it.
        self.lanes.take();
    }
}

/// What a delivery thread sends with: the configuration, the HTTP client and the lanes.
struct Helpers {
    config: Arc<WebhookConfig>,
    agent: ureq::Agent,
    lanes: Arc<Lanes>,
}

fn run(pool: &PgPool, helpers: &Helpers, stop: &AtomicBool, wakeup: &Wakeup) {
    let config = &*helpers.config;
    priority::lower_this_thread(config.nice);
    let mut seen = wakeup.current();
    // When the retries this thread scheduled fall due (each is kept until a pass that started
    // after it: a wake-up for other work, or an earlier retry, must not make it forget one),
    // and when to try again after a failed pass.
    let mut due: Vec<Instant> = Vec::new();
    let mut last_claim: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let pass = match pool.get() {
            Ok(mut conn) => {
                drain(&mut conn, helpers, stop, wakeup, &mut last_claim).map_err(|e| e.to_string())
            }
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

/// Runs the pending one-off jobs and delivers until nothing this worker may take is due.
/// Returns when the retries this pass scheduled fall due.
fn drain(
    conn: &mut PgConnection,
    helpers: &Helpers,
    stop: &AtomicBool,
    wakeup: &Wakeup,
    last_claim: &mut Option<Instant>,
) -> QueryResult<Vec<Instant>> {
    let mut retries = Vec::new();
    let mut attention = wakeup.attention();
    while !stop.load(Ordering::SeqCst) {
        // Attentive meanwhile: the events committed while this thread lingers wake no other
        // thread; this one claims them together.
        linger(*last_claim, helpers.config.linger);
        let (jobs, due) = claim::pending(conn)?;
        if jobs {
            while !stop.load(Ordering::SeqCst)
                && conn.transaction(|conn| run_job(conn, &helpers.agent))?
            {}
        }
        if !due {
            break;
        }
        *last_claim = Some(Instant::now());
        let pass = conn.transaction(|conn| deliver_due(conn, helpers, &mut attention))?;
        attention.set(true);
        // Measured from after the commit: by then the cursors say the same or earlier.
        let now = Instant::now();
        retries.extend(pass.retries.iter().map(|wait| now + *wait));
        if pass.claimed_nothing {
            break;
        }
    }
    Ok(retries)
}

/// Waits out the rest of `linger` since this thread's last claim began.
fn linger(last_claim: Option<Instant>, linger: Duration) {
    if let Some(rest) = last_claim.and_then(|at| linger.checked_sub(at.elapsed())) {
        std::thread::sleep(rest);
    }
}

/// What one claim came to.
struct Pass {
    /// Nothing was due (or all of it was held by other workers).
    claimed_nothing: bool,
    /// Some subscription's cursor is due again after each of these (a failed attempt).
    retries: Vec<Duration>,
}

/// Delivers the next events of the group of subscriptions due first.
fn deliver_due(
    conn: &mut PgConnection,
    helpers: &Helpers,
    attention: &mut Attention<'_>,
) -> QueryResult<Pass> {
    let group = Arc::new(claim::due_group(conn)?);
    if group.is_empty() {
        return Ok(Pass {
            claimed_nothing: true,
            retries: Vec::new(),
        });
    }
    crate::metrics::webhook_claim(group.len());
    // Held up by a slow receiver, this thread leaves new work to the others.
    attention.set(group.iter().all(|c| c.quick));
    let batches = claim::due_events(conn, &group)?;
    let sent = send_all(helpers, &group, batches);
    let mut attempts = Attempts::default();
    let mut moves = CursorMoves::default();
    let mut pass = Pass {
        claimed_nothing: false,
        retries: Vec::new(),
    };
    let mut gave_up = Vec::new();
    for (claim, (progress, log)) in group.iter().zip(sent) {
        attempts.append(log);
        progress.record(claim, &mut moves);
        pass.retries.extend(progress.retry_in);
        if let Some(g) = progress.gave_up {
            gave_up.push((claim, g));
        }
    }
    claim::save(conn, &attempts, &moves)?;
    // Last, because it takes the change-log lock (after the last network call).
    for (claim, (seq, attempt, result)) in gave_up {
        disable(conn, claim, seq, attempt, &result)?;
    }
    Ok(pass)
}

/// Sends each claimed subscription's batch, the subscriptions spread over up to [`LANES`]
/// (this thread and the send lanes); returns each one's progress and attempts, in the
/// claim's order.
fn send_all(
    helpers: &Helpers,
    group: &Arc<Vec<Claim>>,
    batches: Vec<Vec<EventRow>>,
) -> Vec<(Progress, Attempts)> {
    let started = Instant::now();
    let events: usize = batches.iter().map(Vec::len).sum();
    let lanes = (events / EVENTS_PER_LANE)
        .clamp(1, LANES)
        .min(group.len().max(1));
    let mut work: Vec<Vec<(usize, Vec<EventRow>)>> = (0..lanes).map(|_| Vec::new()).collect();
    for (i, batch) in batches.into_iter().enumerate() {
        work[i % lanes].push((i, batch));
    }
    let mut work = work.into_iter();
    let here = work.next().unwrap_or_default();
    let (answer, answers) = mpsc::channel();
    let mut handed_over = 0;
    for lane in work {
        let (config, agent, group, answer) = (
            Arc::clone(&helpers.config),
            helpers.agent.clone(),
            Arc::clone(group),
            answer.clone(),
        );
        helpers.lanes.run(Box::new(move || {
            let _ = answer.send(send_lane(&config, &agent, &group, lane, started));
        }));
        handed_over += 1;
    }
    drop(answer);
    let mut sent = send_lane(&helpers.config, &helpers.agent, group, here, started);
    for _ in 0..handed_over {
        // Only a lane's job that panicked drops its answer: this claim then rolls back.
        sent.extend(answers.recv().expect("a send lane finished its job"));
    }
    sent.sort_by_key(|(i, _)| *i);
    sent.into_iter().map(|(_, r)| r).collect()
}

/// Sends the batches of the claim's subscriptions numbered in `items`, one after another.
fn send_lane(
    config: &WebhookConfig,
    agent: &ureq::Agent,
    group: &[Claim],
    items: Vec<(usize, Vec<EventRow>)>,
    started: Instant,
) -> Vec<(usize, (Progress, Attempts))> {
    items
        .into_iter()
        .map(|(i, batch)| (i, send_batch(config, agent, &group[i], batch, started)))
        .collect()
}

/// Sends one subscription's batch in order until an event is to be retried (or given up on),
/// or the claim's `BATCH_TIME` (counted from `started`) is up.
fn send_batch(
    config: &WebhookConfig,
    agent: &ureq::Agent,
    claim: &Claim,
    batch: Vec<EventRow>,
    started: Instant,
) -> (Progress, Attempts) {
    let full = batch.len() as i64 == BATCH;
    let secrets = claim.secrets();
    let mut progress = Progress::start(claim);
    let mut attempts = Attempts::default();
    for ev in batch {
        if started.elapsed() > BATCH_TIME {
            progress.finished = false;
            break;
        }
        let seq = ev.seq;
        let id = claim::webhook_id(claim.id, seq);
        let result = send(agent, &claim.url, &id, &secrets, &Event::from(ev));
        if !progress.after_attempt(config, &mut attempts, claim.id, seq, id, result) {
            break;
        }
    }
    if progress.finished && !full {
        // Everything up to the end of the feed was delivered or filtered out.
        progress.done = claim.feed_end;
    }
    (progress, attempts)
}

/// Where a subscription's delivery got to in a claim: the cursor's next state, and the event
/// the schedule was used up on (the subscription is then disabled).
struct Progress {
    done: i64,
    failed_attempts: i32,
    next_attempt_at: DateTime<Utc>,
    retry_in: Option<Duration>,
    /// Every event of the batch was delivered or refused.
    finished: bool,
    /// The longest attempt (kept from the last claim when none was made).
    slowest_ms: Option<i32>,
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
            slowest_ms: None,
            gave_up: None,
        }
    }

    /// Logs an attempt at event `seq` and moves the cursor past a delivered or refused event;
    /// `false` when delivery stops at this event (a retry is scheduled, or the schedule is used up).
    fn after_attempt(
        &mut self,
        config: &WebhookConfig,
        log: &mut Attempts,
        subscription: Uuid,
        seq: i64,
        webhook_id: String,
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
        let took = claim::millis(result.duration);
        self.slowest_ms = Some(self.slowest_ms.map_or(took, |s| s.max(took)));
        log.push(Logged {
            subscription,
            seq: Some(seq),
            webhook_id,
            kind: "feed",
            attempt,
            result: &result,
            outcome,
        });
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

    fn record(&self, claim: &Claim, moves: &mut CursorMoves) {
        moves.ids.push(claim.id);
        moves.delivered_seq.push(self.done);
        moves.failed_attempts.push(self.failed_attempts);
        moves.next_attempt_at.push(self.next_attempt_at);
        moves
            .last_duration_ms
            .push(self.slowest_ms.unwrap_or(claim.last_duration_ms));
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
    let claim = claim::of_subscription(conn, job.subscription_id)?;
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
    attempts.push(Logged {
        subscription: claim.id,
        seq: job.event_seq,
        webhook_id: id,
        kind,
        attempt: 1,
        result: &result,
        outcome,
    });
    attempts.insert(INSERT_ATTEMPTS).execute(conn)?;
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

/// `d` scaled by a random factor in [0.8, 1.2), so receivers coming back are not hit by every
/// retry at once.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = getrandom::getrandom(&mut b)
        .map(|_| u16::from_le_bytes(b) as f64 / 65536.0)
        .unwrap_or(0.5);
    d.mul_f64(0.8 + 0.4 * r)
}
