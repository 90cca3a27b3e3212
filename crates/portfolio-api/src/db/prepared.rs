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
//! Run it with `load` or `get_result`, never `execute`: diesel's `execute` passes the query
//! on by reference, and through a reference diesel asks the wrapped `sql_query` (which always
//! says "do not cache") instead of this wrapper. A statement without rows to return gets a
//! `RETURNING` (measured: the claim's write-back ran unprepared, planned on every call, until
//! the test `the_workers_statements_stay_prepared_on_their_connection` caught it).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// `query` (a `sql_query` with its binds), prepared once per connection.
pub struct Prepared<Q>(pub Q);

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
