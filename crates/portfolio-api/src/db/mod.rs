//! The database: pool, migrations, and the one way handlers reach PostgreSQL.

pub mod schema;

use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::ApiError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type Conn = PooledConnection<ConnectionManager<PgConnection>>;

pub fn build_pool(url: &str, size: u32) -> Result<PgPool, String> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    let builder = Pool::builder()
        // A `SELECT 1` on every checkout costs a round trip per request; broken connections
        // are detected by the failing query instead and replaced by r2d2.
        .test_on_check_out(false)
        // Fail fast when the database is away: the request becomes a 503, not a hang.
        .connection_timeout(Duration::from_secs(2))
        .max_size(size)
        .min_idle(Some(1));
    builder
        .build(manager)
        .map_err(|e| format!("connecting to PostgreSQL: {e}"))
}

pub fn run_migrations(conn: &mut PgConnection) -> Result<usize, String> {
    conn.run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| format!("running migrations: {e}"))
}

type Job = Box<dyn FnOnce(Option<&mut PgConnection>) + Send>;

/// The handle handlers use to reach PostgreSQL without blocking the async executor.
///
/// Work goes to a few dedicated database threads through a channel; each takes a pooled
/// connection per job. Measured here (stack-notes "Where the time goes"): this avoids the
/// `web::block` hand-off, which costs tens of microseconds per request, and a slow query
/// occupies a database thread rather than an HTTP worker.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Db {
    /// Starts one database thread per pooled connection.
    pub fn new(pool: PgPool) -> Db {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..pool.max_size().max(1) {
            let rx = std::sync::Arc::clone(&rx);
            let pool = pool.clone();
            std::thread::Builder::new()
                .name(format!("db-{i}"))
                .spawn(move || loop {
                    let job = {
                        let Ok(guard) = rx.lock() else { return };
                        match guard.recv() {
                            Ok(job) => job,
                            // Every `Db` handle is gone: the application has stopped.
                            Err(_) => return,
                        }
                    };
                    match pool.get() {
                        Ok(mut conn) => job(Some(&mut conn)),
                        Err(_) => job(None),
                    }
                })
                .expect("spawn database thread");
        }
        Db { pool, jobs: tx }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` with a connection on a database thread. No connection within the pool's
    /// timeout (the database is away) is a 503.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = std::time::Instant::now();
        let job: Job = Box::new(move |conn| {
            crate::metrics::pool_wait(queued.elapsed());
            let result = match conn {
                Some(conn) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(ApiError::internal("a database task panicked"))),
                None => Err(ApiError::Unavailable(
                    "the database is not reachable right now; retry shortly".into(),
                )),
            };
            let _ = tx.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| ApiError::internal("the database threads have stopped"))?;
        let result = rx
            .await
            .map_err(|_| ApiError::internal("a database task was dropped"))?;
        if let Err(ApiError::Unavailable(_)) = &result {
            crate::metrics::db_unavailable();
        }
        result
    }

    /// Runs `f` in one transaction: every write that spans rows commits together or not at all.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| {
            let started = std::time::Instant::now();
            let result = conn.transaction(f);
            crate::metrics::transaction(started.elapsed());
            result
        })
        .await
    }

    /// Runs `f` on a database thread, blocking the calling thread (CLI and start-up only).
    pub fn run_blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let mut conn = self
            .pool
            .get()
            .map_err(|_| ApiError::Unavailable("the database is not reachable".into()))?;
        f(&mut conn)
    }
}
