//! A cache for expensive read models (ranking, portfolio overview) that is never stale.
//!
//! Every committed write appends to the change feed in its own transaction, so the feed's
//! last sequence number is a version of the whole database. A cached body is served while
//! that number is unchanged — one index-only lookup instead of recomputing the read model —
//! and recomputed after any change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel::PgConnection;

use crate::db::schema::events;
use crate::error::ApiError;

const MAX_ENTRIES: usize = 256;

#[derive(Clone, Default)]
pub struct ReadCache {
    entries: Arc<Mutex<HashMap<String, (i64, Bytes)>>>,
}

impl ReadCache {
    /// The body for `key`, from the cache when nothing was committed since it was computed.
    /// The sequence is read before computing, so a body is never labelled newer than it is.
    pub fn get_or_compute(
        &self,
        conn: &mut PgConnection,
        key: String,
        compute: impl FnOnce(&mut PgConnection) -> Result<Vec<u8>, ApiError>,
    ) -> Result<Bytes, ApiError> {
        let seq: i64 = events::table
            .select(diesel::dsl::max(events::seq))
            .first::<Option<i64>>(conn)?
            .unwrap_or(0);
        if let Ok(entries) = self.entries.lock() {
            if let Some((s, body)) = entries.get(&key) {
                if *s == seq {
                    return Ok(body.clone());
                }
            }
        }
        let body = Bytes::from(compute(conn)?);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (seq, body.clone()));
        }
        Ok(body)
    }
}
