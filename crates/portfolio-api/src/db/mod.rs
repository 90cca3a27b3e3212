//! The database: pool, migrations, and the one way handlers reach PostgreSQL.

pub mod schema;

use std::time::Duration;

use actix_web::web;
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

/// The handle handlers use: runs a closure with a pooled connection on the blocking pool,
/// never on the async executor.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    pub fn new(pool: PgPool) -> Db {
        Db { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` with a connection. A pool that cannot hand out a connection is a 503.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get().map_err(|_| {
                ApiError::Unavailable(
                    "the database is not reachable right now; retry shortly".into(),
                )
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
    }

    /// Runs `f` in one transaction: every write that spans rows commits together or not at all.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| conn.transaction(f)).await
    }
}
