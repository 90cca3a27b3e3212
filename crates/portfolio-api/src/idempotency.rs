//! Safe retries: an `Idempotency-Key` header makes a creating request happen at most once per
//! (caller, key). The first successful answer (status, a few headers, body bytes) is stored in
//! the same transaction as the work; a retry with the same body gets exactly that answer back
//! (marked `Idempotent-Replayed: true`), a retry with another body is a 422.
//!
//! Usage in a handler (the work runs inside the one transaction, like any store call):
//!
//! ```ignore
//! let hash = idempotency::hash_json(&body_value);
//! idempotency::run(&db, &caller, key, hash, move |conn| {
//!     let row = store::create(conn, &actor, new)?;
//!     idempotency::Stored::json(201, &view(row)).location(format!("/api/v1/x/{}", id))
//! }).await
//! ```
//!
//! Requests with the same (caller, key) are serialised on a transaction-scoped advisory lock,
//! so two concurrent retries never both do the work. Failed requests (any error) store nothing:
//! they rolled back, and the client may fix the request and retry with the same key.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel::PgConnection;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::db::schema::idempotency_keys;
use crate::db::Db;
use crate::error::ApiError;

/// Longest key accepted.
pub const KEY_MAX: usize = 255;

/// The `Idempotency-Key` request header, if any (printable ASCII, 1–255 characters).
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<IdempotencyKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(v) = req.headers().get("idempotency-key") else {
            return ready(Ok(IdempotencyKey(None)));
        };
        let bad = || {
            ApiError::invalid(
                "/header/Idempotency-Key",
                format!("must be 1 to {KEY_MAX} printable ASCII characters"),
            )
        };
        let key = match v.to_str() {
            Ok(s) if !s.trim().is_empty() && s.len() <= KEY_MAX => s.trim().to_owned(),
            _ => return ready(Err(bad())),
        };
        if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return ready(Err(bad()));
        }
        ready(Ok(IdempotencyKey(Some(key))))
    }
}

/// An answer as stored for replay.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Stored {
    /// A JSON answer with this status.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Stored, ApiError> {
        Ok(Stored {
            status,
            headers: Vec::new(),
            body: serde_json::to_vec(body).map_err(ApiError::internal)?,
        })
    }

    /// Adds a header to send (and replay) with the answer, e.g. `Location` or `ETag`.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Stored {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The HTTP response; `replayed` marks a stored answer sent again.
    pub fn into_response(self, replayed: bool) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/json"));
        for (k, v) in &self.headers {
            resp.insert_header((k.as_str(), v.as_str()));
        }
        if replayed {
            resp.insert_header(("Idempotent-Replayed", "true"));
        }
        resp.body(self.body)
    }
}

/// SHA-256 (hex) of bytes.
pub fn hash_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Hash of a JSON document in a canonical form (object keys sorted, no insignificant
/// whitespace), so the same body sent with other formatting counts as the same request.
pub fn hash_json(v: &serde_json::Value) -> String {
    // serde_json's map is a BTreeMap (no `preserve_order`): keys serialise sorted.
    hash_bytes(v.to_string().as_bytes())
}

/// Runs `work` in one transaction, at most once per (caller, key): without a key it simply
/// runs; with a key it replays the stored answer for the same `request_hash`, refuses a
/// different one (422), or runs `work` and stores its answer in the same transaction.
/// `request_hash` should cover the operation too (e.g. hash the method and path into it)
/// when one key space serves several endpoints.
pub async fn run<F>(
    db: &Db,
    caller: &Caller,
    key: IdempotencyKey,
    request_hash: String,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut PgConnection) -> Result<Stored, ApiError> + Send + 'static,
{
    let Some(key) = key.0 else {
        let stored = db.transaction(work).await?;
        return Ok(stored.into_response(false));
    };
    let subject = caller.subject.clone();
    let (stored, replayed) = db
        .transaction(move |conn| {
            diesel::select(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "pg_advisory_xact_lock(hashtextextended(",
                )
                .bind::<diesel::sql_types::Text, _>(format!("idem:{subject}\u{1f}{key}"))
                .sql(", 0)) IS NOT NULL"),
            )
            .get_result::<bool>(conn)?;
            let found: Option<(String, i32, serde_json::Value, Vec<u8>)> = idempotency_keys::table
                .find((&subject, &key))
                .select((
                    idempotency_keys::request_hash,
                    idempotency_keys::status,
                    idempotency_keys::headers,
                    idempotency_keys::body,
                ))
                .first(conn)
                .optional()?;
            if let Some((hash, status, headers, body)) = found {
                if hash != request_hash {
                    return Err(ApiError::invalid(
                        "/header/Idempotency-Key",
                        "was already used for a different request; use a new key for a new request",
                    ));
                }
                let headers: Vec<(String, String)> =
                    serde_json::from_value(headers).unwrap_or_default();
                return Ok((
                    Stored {
                        status: status as u16,
                        headers,
                        body,
                    },
                    true,
                ));
            }
            let stored = work(conn)?;
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::caller_subject.eq(&subject),
                    idempotency_keys::key.eq(&key),
                    idempotency_keys::request_hash.eq(&request_hash),
                    idempotency_keys::status.eq(i32::from(stored.status)),
                    idempotency_keys::headers
                        .eq(serde_json::to_value(&stored.headers).map_err(ApiError::internal)?),
                    idempotency_keys::body.eq(&stored.body),
                ))
                .execute(conn)?;
            Ok((stored, false))
        })
        .await?;
    Ok(stored.into_response(replayed))
}
