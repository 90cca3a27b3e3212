//! Hand-written statements that stay prepared on their connection.
//!
//! diesel treats every `sql_query` as possibly dynamic SQL: it parses and plans it on each
//! call and never caches it. For the delivery worker's statements (CTEs over three tables,
//! run hundreds of times a second) planning took more PostgreSQL time than executing
//! (`pg_stat_statements` with `track_planning`, bench/README.md, issue 15). Wrapped in
//! [`Prepared`], such a statement is cached by its SQL text, like diesel's own queries.
//!
//! Only for SQL whose text comes from constants: each distinct text is a prepared statement
//! on every connection for as long as the connection lives.
//!
//! diesel's own `execute` would lose the wrapper: it passes the query on by reference, and
//! through a reference diesel asks the wrapped `sql_query` (which always says "do not cache")
//! instead of this wrapper (measured: the claim's write-back ran unprepared, planned on every
//! call). So `Prepared` has an `execute` of its own, which method lookup picks over diesel's.

use diesel::deserialize::{self, QueryableByName};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::LoadQuery;
use diesel::row::NamedRow;
use diesel::{PgConnection, QueryResult, RunQueryDsl};

/// `query` (a `sql_query` with its binds), prepared once per connection.
pub struct Prepared<Q>(pub Q);

impl<Q> Prepared<Q> {
    /// Runs a statement for its effect (rows it returns, if any, are skipped), by value so
    /// that it stays prepared; see the module.
    pub fn execute<'query>(self, conn: &mut PgConnection) -> QueryResult<()>
    where
        Self: LoadQuery<'query, PgConnection, Skipped>,
    {
        RunQueryDsl::load::<Skipped>(self, conn).map(drop)
    }
}

/// A row read for nothing (see [`Prepared::execute`]).
pub struct Skipped;

impl QueryableByName<Pg> for Skipped {
    fn build<'a>(_row: &impl NamedRow<'a, Pg>) -> deserialize::Result<Self> {
        Ok(Skipped)
    }
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    /// The text is fixed (see the module): the cache holds one entry per statement.
    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    // Cached by its SQL text and bind types, not by type: one Rust type holds many texts.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}
