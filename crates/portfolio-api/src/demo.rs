//! Demo data built from the seed page's public figures, loaded with `serve --demo`:
//! the 2022 cycle (40 needs reported, 27 accepted into the needs portfolio, every trust's
//! scores), the 2023 service areas with ~200 improvement measures, and — through the API
//! itself, so every rule and the audit trail apply — the board's autumn 2022 decision.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Int4};

use crate::db::Db;
use crate::error::ApiError;
use crate::generate::{generate, Options};

pub const DEMO_YEAR: i32 = 2022;

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Loads the demo portfolio unless it is already there. Returns a summary.
pub fn load(db: &Db) -> Result<String, String> {
    let summary = db
        .run_blocking(|conn| {
            let present =
                diesel::sql_query("SELECT EXISTS (SELECT 1 FROM cycles WHERE year = $1) AS exists")
                    .bind::<Int4, _>(DEMO_YEAR)
                    .get_result::<Exists>(conn)?
                    .exists;
            if present {
                return Ok(None);
            }
            let o = Options {
                scale: 1,
                seed: 2022,
                year: DEMO_YEAR,
                measures: Some(200),
            };
            let out = conn.transaction(|conn| {
                let out = generate(conn, &o).map_err(ApiError::from)?;
                // "Budsjettrammen for konseptutredninger i 2023 er totalt 10 millioner kroner."
                crate::store::budget::create_frame(
                    conn,
                    &crate::changes::Actor::system("demo"),
                    2023,
                    "concept_studies",
                    10_000_000,
                    "Budsjettramme for konseptutredninger 2023 (offentlig oppgitt)",
                )?;
                Ok::<_, ApiError>(out)
            })?;
            Ok(Some(out))
        })
        .map_err(|e| e.to_string())?;
    Ok(match summary {
        None => format!("the {DEMO_YEAR} demo portfolio is already loaded"),
        Some(s) => format!(
            "{} needs reported for {DEMO_YEAR}, {} accepted, {} score sheets, {} measures, the 2023 concept-study frame of 10 000 000 NOK",
            s["needs"], s["accepted"], s["score_sheets"], s["measures"]
        ),
    })
}
