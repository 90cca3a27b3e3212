//! Transactions held open until the answer of an idempotent `POST` is stored in them.
//!
//! A request with an `Idempotency-Key` must commit its change and the answer to the key
//! together (idempotency.rs): a crash before the commit leaves neither, after it both. So its
//! first transaction is *held*: it runs on a held connection, does not commit when its closure
//! returns, and gives the value back to the handler. Whatever else the request does with the
//! database runs in that same transaction (each piece in a savepoint of its own), so the
//! handler reads its own change. Once the middleware has rendered the answer it sends it here;
//! it is written to the key's row and the transaction commits, and only then does the client
//! get the answer. Anything else — the handler failed or panicked, the client went away, no
//! answer within [`ANSWER_WITHIN`] — rolls the transaction back.
//!
//! Why this cannot starve or deadlock the rest of the service:
//! - A held transaction never occupies one of `Db`'s database threads while the handler goes
//!   on: each hold has its own *holder* thread, which waits on the request's messages. There
//!   are as many holder threads as holds allowed at once ([`Holders::new`]); a request waits
//!   (asynchronously, holding nothing) for a free hold. A holder thread runs only its own
//!   request's work, so a request queued behind writers that wait for its locks (every writer
//!   takes the change log's lock) never waits for one of those writers' threads.
//! - The pool has room for every database thread and every hold at once
//!   ([`super::pool_size_for`]), so a hold never makes a database thread wait for a connection
//!   (which after the pool's timeout would count as the database being down).
//! - A request holds at most one hold and takes it last (after its reads on `Db` threads),
//!   needing nothing more from `Db` afterwards: no request waits for a hold while holding one.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{Connection, PgConnection, QueryResult};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::{breaker, keys_of, AuditKeyCell, Db, PgPool};
use crate::error::ApiError;

/// How long a held transaction waits for the answer after its change ran. Rendering an
/// answer takes milliseconds; the bound only ends holds whose request got stuck, because a
/// hold keeps the change log's lock (every other writer waits for it).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What a piece of work on the held connection reports to its holder thread.
struct Step {
    /// The work found the database unreachable (the circuit breaker opens).
    unreachable: bool,
    /// The work failed: for the first piece this ends the hold (the change did not happen).
    failed: bool,
    /// The work panicked: its savepoint is in an unknown state, the hold ends.
    panicked: bool,
}

type Work = Box<dyn FnOnce(Option<&mut PgConnection>) -> Step + Send>;
type Store = Box<dyn FnOnce(&mut PgConnection) -> QueryResult<()> + Send>;

enum Message {
    /// More work of the request, in the held transaction.
    Run(Work),
    /// Write the answer and commit; the commit's outcome goes back.
    Commit(Store, oneshot::Sender<Result<(), ApiError>>),
}

/// A request's held transaction. Dropping it without [`Hold::commit`] rolls it back.
#[derive(Clone)]
pub struct Hold {
    messages: mpsc::Sender<Message>,
}

struct Session {
    first: Work,
    messages: mpsc::Receiver<Message>,
    /// Released once the connection is back in the pool.
    permit: OwnedSemaphorePermit,
}

/// The holder threads and the count of holds allowed at once.
#[derive(Clone)]
pub(super) struct Holders {
    sessions: mpsc::Sender<Session>,
    permits: Arc<Semaphore>,
}

/// The hold ended before the request was done with it (time limit, or an earlier panic).
fn ended() -> ApiError {
    ApiError::Unavailable(
        "the change was rolled back before it could be completed; nothing was changed, retry"
            .into(),
    )
}

/// Wraps `f` as work that answers through `reply`.
fn work<T: Send + 'static>(
    f: impl FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
    reply: oneshot::Sender<Result<T, ApiError>>,
) -> Work {
    Box::new(move |conn| {
        let mut panicked = false;
        let result = match conn {
            // A savepoint of its own: a failed piece leaves the rest of the transaction intact.
            Some(conn) => std::panic::catch_unwind(AssertUnwindSafe(|| conn.transaction(f)))
                .unwrap_or_else(|_| {
                    panicked = true;
                    Err(ApiError::internal("a database task panicked"))
                }),
            None => Err(Db::unavailable()),
        };
        let step = Step {
            unreachable: matches!(result, Err(ApiError::Unavailable(_))),
            failed: result.is_err(),
            panicked,
        };
        let _ = reply.send(result);
        step
    })
}

impl Holders {
    /// `count` holder threads, and as many holds allowed at once.
    pub(super) fn new(
        count: u32,
        pool: &PgPool,
        breaker: &Arc<breaker::Breaker>,
        keys: &AuditKeyCell,
    ) -> Holders {
        let (tx, rx) = mpsc::channel::<Session>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..count {
            let (rx, pool, breaker, keys) = (
                Arc::clone(&rx),
                pool.clone(),
                Arc::clone(breaker),
                Arc::clone(keys),
            );
            std::thread::Builder::new()
                .name(format!("db-hold-{i}"))
                .spawn(move || loop {
                    let session = {
                        let Ok(guard) = rx.lock() else { return };
                        match guard.recv() {
                            Ok(s) => s,
                            Err(_) => return,
                        }
                    };
                    crate::audit_key::with_keys(&keys_of(&keys), || {
                        serve(session, &pool, &breaker)
                    });
                })
                .expect("spawn holder thread");
        }
        Holders {
            sessions: tx,
            permits: Arc::new(Semaphore::new(count as usize)),
        }
    }

    /// Opens a held transaction and runs `first` in it; its value and the hold, or its error
    /// (then nothing is held: the transaction rolled back).
    pub(super) async fn open<T: Send + 'static>(
        &self,
        first: impl FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<(T, Hold), ApiError> {
        let queued = Instant::now();
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the holder threads have stopped"))?;
        crate::metrics::pool_wait(queued.elapsed());
        let (reply, answer) = oneshot::channel();
        let (messages, received) = mpsc::channel();
        self.sessions
            .send(Session {
                first: work(first, reply),
                messages: received,
                permit,
            })
            .map_err(|_| ApiError::internal("the holder threads have stopped"))?;
        let value = answer
            .await
            .map_err(|_| ApiError::internal("a database task was dropped"))??;
        Ok((value, Hold { messages }))
    }
}

impl Hold {
    /// Runs `f` in the held transaction (in a savepoint).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.messages
            .send(Message::Run(work(f, reply)))
            .map_err(|_| ended())?;
        answer.await.map_err(|_| ended())?
    }

    /// Runs `store` (writing the answer) in the held transaction and commits. An error means
    /// nothing was committed: neither the change nor the answer.
    pub async fn commit(
        self,
        store: impl FnOnce(&mut PgConnection) -> QueryResult<()> + Send + 'static,
    ) -> Result<(), ApiError> {
        let (reply, outcome) = oneshot::channel();
        self.messages
            .send(Message::Commit(Box::new(store), reply))
            .map_err(|_| ended())?;
        outcome.await.map_err(|_| ended())?
    }
}

/// One held transaction, on a holder thread: begin, the first work, then the request's
/// messages until the commit, a rollback (the request dropped its hold) or the time limit.
fn serve(session: Session, pool: &PgPool, breaker: &Arc<breaker::Breaker>) {
    let Session {
        first,
        messages,
        permit,
    } = session;
    let conn = if breaker.is_open() {
        None
    } else {
        breaker::checkout(pool, breaker)
    };
    let Some(mut conn) = conn else {
        if first(None).unreachable {
            breaker.trip(pool);
        }
        return;
    };
    let started = Instant::now();
    if AnsiTransactionManager::begin_transaction(&mut *conn).is_err() {
        first(None);
        return;
    }
    let step = first(Some(&mut conn));
    if step.unreachable {
        breaker.trip(pool);
    }
    // A broken connection (after a panic) is discarded by the pool, which rolls it back.
    let mut open = !step.panicked;
    let committed = !step.failed && {
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match messages.recv_timeout(left) {
                Ok(Message::Run(work)) => {
                    let step = work(Some(&mut conn));
                    if step.unreachable {
                        breaker.trip(pool);
                    }
                    if step.panicked {
                        open = false;
                        break false;
                    }
                }
                Ok(Message::Commit(store, reply)) => {
                    let result = store(&mut conn)
                        .and_then(|()| AnsiTransactionManager::commit_transaction(&mut *conn));
                    let ok = result.is_ok();
                    let _ = reply.send(result.map_err(ApiError::from));
                    break ok;
                }
                Err(RecvTimeoutError::Timeout) => {
                    log::warn!(
                        "an idempotent request's change was rolled back: no answer within {} s",
                        ANSWER_WITHIN.as_secs()
                    );
                    break false;
                }
                Err(RecvTimeoutError::Disconnected) => break false,
            }
        }
    };
    if open && !committed {
        // Fails only on a broken connection, which the pool then discards.
        let _ = AnsiTransactionManager::rollback_transaction(&mut *conn);
    }
    crate::metrics::transaction(started.elapsed());
    drop(conn);
    drop(permit);
}
