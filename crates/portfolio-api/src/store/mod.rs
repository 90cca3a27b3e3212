//! Database access, one module per aggregate. Functions take a connection and plain values,
//! and are called inside `Db::run` / `Db::transaction`.

pub mod benefits;
pub mod budget;
pub mod certificates;
pub mod changelog;
pub mod checkpoints;
pub mod cycles;
pub mod decisions;
pub mod delivery;
pub mod dependencies;
mod error;
pub mod measures;
pub mod needs;
pub mod overview;
pub mod prioritisation;
pub mod reference;
pub mod selection;
pub mod sensitivity;
pub mod studies;
pub mod tertial;
pub mod webhooks;

pub use error::{StoreError, StoreResult};

diesel::define_sql_function! {
    /// A new id: random, except inside the demo loader's transaction, where it is derived from
    /// a seed and a counter (see the migration `deterministic_demo_ids`).
    fn portfolio_new_id() -> diesel::sql_types::Uuid;
}

/// A new id for a row whose id the store chooses (rather than the column's default).
pub fn new_id(conn: &mut diesel::PgConnection) -> diesel::QueryResult<uuid::Uuid> {
    use diesel::RunQueryDsl;
    diesel::select(portfolio_new_id()).get_result(conn)
}
