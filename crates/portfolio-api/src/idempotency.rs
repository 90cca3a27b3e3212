//! Safe retries for every `POST`: the `Idempotency-Key` request header (IETF httpapi
//! idempotency-key draft semantics), applied generically by a middleware.
//!
//! For a `POST` that carries the header and a valid bearer token:
//! - the key is scoped to the caller (token subject + organisation);
//! - the request is identified by a SHA-256 over method, path and body;
//! - the (caller, key) row is claimed with `INSERT … ON CONFLICT DO NOTHING` in its own
//!   committed statement *before* the handler runs, so of several concurrent retries exactly
//!   one runs the handler;
//! - the first answer (status, `Content-Type`, `Location`, `ETag`, body) is stored and replayed
//!   for a retry with the same key and body, marked `Idempotent-Replayed: true`;
//! - the same key with a different request is 422; a retry while the first is still running
//!   is 409;
//! - answers that a retry may legitimately change (401, 403, 408, 409, 412, 423, 428, 429 and
//!   5xx) are not stored: the key is released and the retry runs again;
//! - keys are kept at least 24 hours, then purged (opportunistically, at most once a minute).
//!
//! Requests without the header, other methods, and requests without a valid token pass
//! through untouched (the handler answers 401 as usual).

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, Method, StatusCode};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Integer, Jsonb, Nullable, Text};
use diesel::PgConnection;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::authenticate;
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted.
pub const KEY_MAX: usize = 255;
/// The key's syntax as declared in the contract: visible ASCII, no spaces.
pub const KEY_PATTERN: &str = "^[!-~]+$";
/// How long a key is kept (at least).
pub const RETENTION_HOURS: i64 = 24;
/// A claim older than this whose request never finished (the process died) is taken over.
const ABANDONED_AFTER_SECONDS: i64 = 600;
/// Headers stored and replayed with an answer.
const REPLAYED: [header::HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Checks an `Idempotency-Key` value: 1–255 visible ASCII characters.
pub fn parse_key(raw: &header::HeaderValue) -> Result<String, ApiError> {
    let s = raw.to_str().unwrap_or("");
    if s.is_empty() || s.len() > KEY_MAX || !s.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ApiError::invalid(
            "/header/Idempotency-Key",
            format!("must be 1 to {KEY_MAX} visible ASCII characters (no spaces)"),
        ));
    }
    Ok(s.to_owned())
}

/// SHA-256 (hex) over method, path with query, and body.
pub fn request_hash(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(path_and_query.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an answer with this status is stored for replay.
fn is_final(status: StatusCode) -> bool {
    !(status.is_server_error()
        || matches!(
            status.as_u16(),
            401 | 403 | 408 | 409 | 412 | 423 | 428 | 429
        ))
}

/// What the claim of a key found.
enum Claim {
    /// This request owns the key: run the handler.
    Owned,
    /// The first request finished: replay its answer.
    Replay(StoredAnswer),
    /// The key was used for a different request.
    Mismatch,
    /// The first request is still running.
    InFlight,
}

struct StoredAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    request_hash: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Nullable<Integer>)]
    status: Option<i32>,
    #[diesel(sql_type = Jsonb)]
    headers: serde_json::Value,
    #[diesel(sql_type = Nullable<Bytea>)]
    body: Option<Vec<u8>>,
}

static LAST_PURGE: AtomicI64 = AtomicI64::new(0);

/// Removes keys older than the retention period, at most once a minute per process.
fn purge_expired(conn: &mut PgConnection) -> QueryResult<()> {
    let now = chrono::Utc::now().timestamp();
    let last = LAST_PURGE.load(Ordering::Relaxed);
    if now - last < 60
        || LAST_PURGE
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return Ok(());
    }
    diesel::sql_query(format!(
        "DELETE FROM idempotent_requests WHERE created_at < now() - interval '{RETENTION_HOURS} hours'"
    ))
    .execute(conn)?;
    Ok(())
}

/// Claims (caller, key) for a request. Each statement commits on its own (no transaction):
/// the claim must be visible to a concurrent retry before the handler runs.
fn claim(conn: &mut PgConnection, caller: &str, key: &str, hash: &str) -> Result<Claim, ApiError> {
    purge_expired(conn)?;
    // An expired key, or a claim whose request died with its process, is free again.
    diesel::sql_query(format!(
        "DELETE FROM idempotent_requests WHERE caller = $1 AND key = $2 \
         AND (created_at < now() - interval '{RETENTION_HOURS} hours' \
              OR (state = 'in_flight' AND created_at < now() - interval '{ABANDONED_AFTER_SECONDS} seconds'))"
    ))
    .bind::<Text, _>(caller)
    .bind::<Text, _>(key)
    .execute(conn)?;
    for _ in 0..3 {
        let inserted = diesel::sql_query(
            "INSERT INTO idempotent_requests (caller, key, request_hash) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(caller)
        .bind::<Text, _>(key)
        .bind::<Text, _>(hash)
        .execute(conn)?;
        if inserted == 1 {
            return Ok(Claim::Owned);
        }
        let found: Option<KeyRow> = diesel::sql_query(
            "SELECT request_hash, state, status, headers, body FROM idempotent_requests \
             WHERE caller = $1 AND key = $2",
        )
        .bind::<Text, _>(caller)
        .bind::<Text, _>(key)
        .get_result(conn)
        .optional()?;
        // Released between our insert and select: try to claim it again.
        let Some(row) = found else { continue };
        if row.request_hash != hash {
            return Ok(Claim::Mismatch);
        }
        if row.state != "done" {
            return Ok(Claim::InFlight);
        }
        return Ok(Claim::Replay(StoredAnswer {
            status: row.status.unwrap_or(200) as u16,
            headers: serde_json::from_value(row.headers).unwrap_or_default(),
            body: row.body.unwrap_or_default(),
        }));
    }
    Ok(Claim::InFlight)
}

fn complete(
    conn: &mut PgConnection,
    caller: &str,
    key: &str,
    answer: &StoredAnswer,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE idempotent_requests SET state = 'done', status = $3, headers = $4, body = $5, \
         completed_at = now() WHERE caller = $1 AND key = $2",
    )
    .bind::<Text, _>(caller)
    .bind::<Text, _>(key)
    .bind::<Integer, _>(i32::from(answer.status))
    .bind::<Jsonb, _>(serde_json::to_value(&answer.headers).unwrap_or_default())
    .bind::<Bytea, _>(&answer.body)
    .execute(conn)
}

fn release(conn: &mut PgConnection, caller: &str, key: &str) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM idempotent_requests WHERE caller = $1 AND key = $2 AND state = 'in_flight'",
    )
    .bind::<Text, _>(caller)
    .bind::<Text, _>(key)
    .execute(conn)
}

/// Releases a claim when the request is dropped before it completed (client went away).
struct ClaimGuard {
    db: Db,
    caller: String,
    key: String,
    armed: bool,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if self.armed {
            let db = self.db.clone();
            let caller = std::mem::take(&mut self.caller);
            let key = std::mem::take(&mut self.key);
            actix_web::rt::spawn(async move {
                let _ = db.run(move |conn| Ok(release(conn, &caller, &key)?)).await;
            });
        }
    }
}

fn replayed_response(answer: StoredAnswer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut resp = HttpResponse::build(status);
    for (k, v) in &answer.headers {
        resp.insert_header((k.as_str(), v.as_str()));
    }
    resp.insert_header((REPLAYED_HEADER, "true"));
    resp.body(answer.body)
}

pub struct Idempotency;

impl<S, B> Transform<S, ServiceRequest> for Idempotency
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = IdempotencyService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(IdempotencyService {
            service: Rc::new(service),
        }))
    }
}

pub struct IdempotencyService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for IdempotencyService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let raw = match req.headers().get(HEADER) {
                Some(v) if req.method() == Method::POST => v.clone(),
                _ => return service.call(req).await.map(|r| r.map_into_boxed_body()),
            };
            let key = match parse_key(&raw) {
                Ok(k) => k,
                Err(e) => return Ok(req.into_response(e.error_response())),
            };
            // Without a valid token there is no caller to scope the key to: the handler says 401.
            let Ok(caller) = authenticate(req.request()) else {
                return service.call(req).await.map(|r| r.map_into_boxed_body());
            };
            let (Some(db), Some(config)) = (
                req.app_data::<web::Data<Db>>().map(|d| d.get_ref().clone()),
                req.app_data::<web::Data<Arc<Config>>>().cloned(),
            ) else {
                return service.call(req).await.map(|r| r.map_into_boxed_body());
            };
            // Read the body (up to the largest limit any route has) to hash it, then put it back.
            let limit = config.bulk_body_limit.max(config.body_limit);
            let mut payload = req.take_payload();
            let mut buf = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let err = ApiError::BadRequest(format!(
                            "the request body could not be read: {e}"
                        ));
                        return Ok(req.into_response(err.error_response()));
                    }
                };
                if buf.len() + chunk.len() > limit {
                    let err = ApiError::PayloadTooLarge(format!(
                        "the request body is larger than {limit} bytes"
                    ));
                    return Ok(req.into_response(err.error_response()));
                }
                buf.extend_from_slice(&chunk);
            }
            let body: Bytes = buf.freeze();
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| req.path().to_owned());
            let hash = request_hash(req.method(), &path, &body);
            let owner = format!(
                "{}\u{1f}{}",
                caller.subject,
                caller.org_number.as_deref().unwrap_or("")
            );

            let claimed = {
                let (owner, key) = (owner.clone(), key.clone());
                db.run(move |conn| claim(conn, &owner, &key, &hash)).await
            };
            let claimed = match claimed {
                Ok(c) => c,
                Err(e) => return Ok(req.into_response(e.error_response())),
            };
            match claimed {
                Claim::Owned => {}
                Claim::Replay(answer) => {
                    crate::metrics::idempotent_replay();
                    return Ok(req.into_response(replayed_response(answer)));
                }
                Claim::Mismatch => {
                    let err = ApiError::invalid(
                        "/header/Idempotency-Key",
                        "was already used for a different request (method, path or body); use a new key for a new request",
                    );
                    return Ok(req.into_response(err.error_response()));
                }
                Claim::InFlight => {
                    let err = ApiError::Conflict(
                        "a request with this Idempotency-Key is still being processed; retry shortly"
                            .into(),
                    );
                    return Ok(req.into_response(err.error_response()));
                }
            }

            let mut guard = ClaimGuard {
                db: db.clone(),
                caller: owner.clone(),
                key: key.clone(),
                armed: true,
            };
            let (_, mut h1) = actix_http::h1::Payload::create(true);
            h1.unread_data(body);
            req.set_payload(actix_web::dev::Payload::from(h1));
            let res = service.call(req).await?;

            let (http_req, res) = res.into_parts();
            let status = res.status();
            let headers: Vec<(String, String)> = REPLAYED
                .iter()
                .filter_map(|name| {
                    res.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| (name.as_str().to_owned(), v.to_owned()))
                })
                .collect();
            let (res, body) = res.into_parts();
            let bytes = match actix_web::body::to_bytes(body).await {
                Ok(b) => b,
                Err(_) => {
                    // The handler's body failed: nothing to store; the guard releases the key.
                    let err = ApiError::internal("the response body could not be read");
                    return Ok(ServiceResponse::new(http_req, err.error_response()));
                }
            };
            let answer = StoredAnswer {
                status: status.as_u16(),
                headers,
                body: bytes.to_vec(),
            };
            let stored = db
                .run(move |conn| {
                    if is_final(status) {
                        complete(conn, &owner, &key, &answer)?;
                    } else {
                        release(conn, &owner, &key)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = stored {
                log::warn!("could not store the answer for an idempotency key: {e}");
            } else {
                guard.armed = false;
            }
            Ok(ServiceResponse::new(
                http_req,
                res.set_body(BoxBody::new(bytes)),
            ))
        })
    }
}
