//! The database: pool, migrations, and the one way handlers reach PostgreSQL.

pub mod breaker;
pub mod hold;
pub mod prepared;
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

/// Connections the pool of a `Db` with `threads` database threads needs: one per thread, and
/// as many again for transactions held open until their idempotent answer is stored
/// (`hold.rs`), so that a held transaction never makes a database thread wait.
pub fn pool_size_for(threads: u32) -> u32 {
    threads.max(1) * 2
}

pub fn build_pool(url: &str, size: u32) -> Result<PgPool, String> {
    // A server that does not answer (a dropped network path) must not hold a connection
    // attempt for long; libpq's shortest connect timeout is 2 s.
    let url = if url.contains("connect_timeout=") {
        url.to_owned()
    } else {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}connect_timeout=2")
    };
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

/// Who the server connects as.
pub struct ServingRole {
    pub name: String,
    pub superuser: bool,
    /// Owns (or is a member of the owner of) the audit trail's table.
    pub owns_tables: bool,
}

pub fn serving_role(pool: &PgPool) -> Result<ServingRole, String> {
    use diesel::sql_types::{Bool, Text};
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Bool)]
        superuser: bool,
        #[diesel(sql_type = Bool)]
        owns_tables: bool,
    }
    let mut conn = pool
        .get()
        .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
    let row: Row = diesel::sql_query(
        "SELECT current_user::text AS name, \
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser, \
                EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' \
                          AND tablename = 'audit_log' \
                          AND pg_has_role(current_user, tableowner, 'MEMBER')) AS owns_tables",
    )
    .get_result(&mut conn)
    .map_err(|e| format!("reading the serving role: {e}"))?;
    Ok(ServingRole {
        name: row.name,
        superuser: row.superuser,
        owns_tables: row.owns_tables,
    })
}

/// Without an owner's URL the server cannot migrate: every embedded migration must already
/// have been applied (`portfolio-api migrate` with the owner's URL).
pub fn require_migrated(pool: &PgPool) -> Result<(), String> {
    use diesel::migration::MigrationSource;
    use diesel::sql_types::Text;
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let mut conn = pool
        .get()
        .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
    let applied: Vec<String> =
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations")
            .load::<Version>(&mut conn)
            .map(|v| v.into_iter().map(|v| v.version).collect())
            .unwrap_or_default();
    let migrations = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| format!("reading migrations: {e}"))?;
    let pending = migrations
        .iter()
        .filter(|m| !applied.contains(&m.name().version().to_string()))
        .count();
    if pending > 0 {
        return Err(format!(
            "{pending} database migrations are pending: run `portfolio-api migrate` with the schema \
             owner's URL, or set PORTFOLIO_MIGRATION_DATABASE_URL so that serve migrates as the owner"
        ));
    }
    Ok(())
}

/// A unit of database work; returns true when it found the database unreachable.
type Job = Box<dyn FnOnce(Option<&mut PgConnection>) -> bool + Send>;

/// The handle handlers use to reach PostgreSQL without blocking the async executor.
///
/// Work goes to a few dedicated database threads through a channel; each takes a pooled
/// connection per job. Measured on the development machine: this avoids the
/// `web::block` hand-off, which costs tens of microseconds per request, and a slow query
/// occupies a database thread rather than an HTTP worker.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    jobs: std::sync::mpsc::Sender<Job>,
    breaker: std::sync::Arc<breaker::Breaker>,
    /// The audit keys the jobs' changes are chained with (set from the configuration).
    audit_keys: AuditKeyCell,
    /// Transactions held until their idempotent answer is stored.
    holders: hold::Holders,
}

type AuditKeyCell = std::sync::Arc<std::sync::RwLock<std::sync::Arc<crate::audit_key::AuditKeys>>>;

fn keys_of(cell: &AuditKeyCell) -> std::sync::Arc<crate::audit_key::AuditKeys> {
    cell.read()
        .map(|k| std::sync::Arc::clone(&k))
        .unwrap_or_default()
}

/// One transaction, its duration recorded in the metrics.
fn timed_transaction<T, E: From<diesel::result::Error>>(
    conn: &mut PgConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<T, E>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = conn.transaction(f);
    crate::metrics::transaction(started.elapsed());
    result
}

impl Db {
    /// Splits the pool (see [`pool_size_for`]): half of its connections for the database
    /// threads, one thread each, the other half for held transactions.
    pub fn new(pool: PgPool) -> Db {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let breaker = std::sync::Arc::new(breaker::Breaker::default());
        let audit_keys = AuditKeyCell::default();
        let threads = (pool.max_size() / 2).max(1);
        let holders = hold::Holders::new(
            (pool.max_size() - threads).max(1),
            &pool,
            &breaker,
            &audit_keys,
        );
        for i in 0..threads {
            let keys = std::sync::Arc::clone(&audit_keys);
            let rx = std::sync::Arc::clone(&rx);
            let pool = pool.clone();
            let breaker = std::sync::Arc::clone(&breaker);
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
                    // Jobs queued before the circuit opened are answered at once, too.
                    let conn = if breaker.is_open() {
                        None
                    } else {
                        breaker::checkout(&pool, &breaker)
                    };
                    let unreachable = match conn {
                        Some(mut conn) => {
                            crate::audit_key::with_keys(&keys_of(&keys), || job(Some(&mut conn)))
                        }
                        None => job(None),
                    };
                    if unreachable {
                        breaker.trip(&pool);
                    }
                })
                .expect("spawn database thread");
        }
        Db {
            pool,
            jobs: tx,
            breaker,
            audit_keys,
            holders,
        }
    }

    /// The audit keys changes made through this handle are chained with.
    pub fn set_audit_keys(&self, keys: crate::audit_key::AuditKeys) {
        if let Ok(mut k) = self.audit_keys.write() {
            *k = std::sync::Arc::new(keys);
        }
    }

    fn unavailable() -> ApiError {
        ApiError::Unavailable("the database is not reachable right now; retry shortly".into())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` with a connection on a database thread. No connection within the pool's
    /// timeout (the database is away) is a 503. `f` fails with any error that maps to a
    /// problem (the store's, the domain's, diesel's or the HTTP layer's own).
    ///
    /// In a request whose change is held for its idempotent answer, `f` runs in that held
    /// transaction instead: the request reads its own change (not yet committed).
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        E: Into<ApiError>,
        T: Send + 'static,
    {
        if let Some(hold) = crate::idempotency::held() {
            return hold.run(move |conn| f(conn).map_err(Into::into)).await;
        }
        self.run_here(f).await
    }

    /// [`Db::run`] on a database thread, whatever the request holds.
    async fn run_here<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        E: Into<ApiError>,
        T: Send + 'static,
    {
        // The circuit is open: answer now rather than queue behind connection attempts.
        if self.breaker.is_open() {
            return Err(Self::unavailable());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = std::time::Instant::now();
        let job: Job = Box::new(move |conn| {
            crate::metrics::pool_wait(queued.elapsed());
            let result = match conn {
                Some(conn) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    f(conn).map_err(Into::into)
                }))
                .unwrap_or_else(|_| Err(ApiError::internal("a database task panicked"))),
                None => Err(Self::unavailable()),
            };
            let unreachable = matches!(result, Err(ApiError::Unavailable(_)));
            let _ = tx.send(result);
            unreachable
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
    ///
    /// In a `POST` with an `Idempotency-Key` (see idempotency.rs) the transaction also claims
    /// the key and is *held*: it commits only together with the answer, which the middleware
    /// stores in it after the handler (`hold.rs`). A later transaction of the same request
    /// runs inside the held one, as a savepoint.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        E: From<diesel::result::Error> + Into<ApiError>,
        T: Send + 'static,
    {
        use crate::idempotency::KeyState;
        match crate::idempotency::key_state() {
            KeyState::None => self.run_here(move |conn| timed_transaction(conn, f)).await,
            KeyState::Held(hold) => hold.run(move |conn| f(conn).map_err(Into::into)).await,
            KeyState::Unclaimed(claim) => {
                if self.breaker.is_open() {
                    return Err(Self::unavailable());
                }
                let (value, hold) = self
                    .holders
                    .open(move |conn| {
                        claim.insert(conn)?;
                        f(conn).map_err(Into::into)
                    })
                    .await?;
                crate::idempotency::keep(hold);
                Ok(value)
            }
        }
    }

    /// Runs `f` on a database thread, blocking the calling thread (CLI and start-up only).
    pub fn run_blocking<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        E: Into<ApiError>,
        T: Send + 'static,
    {
        let mut conn = self
            .pool
            .get()
            .map_err(|_| ApiError::Unavailable("the database is not reachable".into()))?;
        crate::audit_key::with_keys(&keys_of(&self.audit_keys), || f(&mut conn)).map_err(Into::into)
    }
}
