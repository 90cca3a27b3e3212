//! Safe retries for every `POST`: the `Idempotency-Key` request header (IETF httpapi
//! idempotency-key draft semantics), applied generically by a middleware.
//!
//! For a `POST` that carries the header and a valid bearer token:
//! - the key is scoped to the caller (token subject + organisation);
//! - the request is identified by a SHA-256 over method, path and body;
//! - the key is claimed **inside the transaction that makes the change** (`Db::transaction`
//!   inserts the (caller, key) row first, so it is locked by that transaction), and the
//!   answer (status, `Content-Type`, `Location`, `ETag`, body) is stored **in that same
//!   transaction**: it is held open after the handler's change (db/hold.rs) until this
//!   middleware has the rendered answer, writes it to the key's row, and commits; only then
//!   does the client get the answer. So the change and its answer commit together or not at
//!   all: a crash before the commit rolls both back (a retry simply runs), after it both are
//!   there (a retry gets the answer); a failure to store the answer rolls the change back
//!   and the client gets a 503 (nothing changed; retry with the same key). A concurrent
//!   retry waits on the key's row and, once the first commits, gets 409;
//! - a retry with the same key and body gets the stored answer, marked
//!   `Idempotent-Replayed: true`; the same key with a different request is 422;
//! - stored are 2xx answers and the business outcomes 404, 409 and 412; validation failures
//!   (400, 415, 422), authentication and authorisation failures and 5xx are not, so a
//!   corrected retry with the same key is processed. A held change whose answer is not one
//!   that is stored (a 5xx after the change, say) is rolled back with it: the database never
//!   keeps a change whose key a retry would run again;
//! - keys are kept at least 24 hours, then purged (opportunistically, at most once a minute).
//!
//! Requests without the header, other methods, and requests without a valid token pass
//! through untouched (the handler answers 401 as usual); their transactions commit when
//! their closure returns, as always.
//!
//! Rows written by versions before the answer was stored with the change may be committed
//! with a claim but no answer (the process stopped in between): a retry of one gets 409
//! ("processed, its answer was lost"), never a second execution. This version never writes
//! such a row.

use std::cell::RefCell;
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

use crate::auth::{authenticate, Caller};
use crate::config::Config;
use crate::db::hold::Hold;
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

/// Whether an answer with this status is stored for replay when the request changed nothing:
/// successes and the business outcomes; never a refusal a corrected retry may overcome.
fn is_final(status: StatusCode) -> bool {
    status.is_success() || matches!(status.as_u16(), 404 | 409 | 412)
}

/// What the claim of a key found.
enum Claim {
    /// The first request finished: replay its answer.
    Replay(StoredAnswer),
    /// The key was used for a different request.
    Mismatch,
    /// A claim committed without its answer (only by versions before the answer was stored
    /// in the change's transaction, when the process stopped in between).
    AnswerLost,
    /// Nobody has used the key: run the handler.
    Free,
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

/// Looks (caller, key) up before the handler runs (nothing is claimed yet: that happens in
/// the transaction that makes the change, see `Pending`).
fn lookup(conn: &mut PgConnection, caller: &str, key: &str, hash: &str) -> Result<Claim, ApiError> {
    purge_expired(conn)?;
    // An expired key is free again.
    diesel::sql_query(format!(
        "DELETE FROM idempotent_requests WHERE caller = $1 AND key = $2 \
         AND created_at < now() - interval '{RETENTION_HOURS} hours'"
    ))
    .bind::<Text, _>(caller)
    .bind::<Text, _>(key)
    .execute(conn)?;
    // A claim that is not committed yet is not seen (a retry then runs into its row lock).
    let found: Option<KeyRow> = diesel::sql_query(
        "SELECT request_hash, state, status, headers, body \
         FROM idempotent_requests WHERE caller = $1 AND key = $2",
    )
    .bind::<Text, _>(caller)
    .bind::<Text, _>(key)
    .get_result(conn)
    .optional()?;
    let Some(row) = found else {
        return Ok(Claim::Free);
    };
    if row.request_hash != hash {
        return Ok(Claim::Mismatch);
    }
    if row.state != "done" {
        return Ok(Claim::AnswerLost);
    }
    Ok(Claim::Replay(StoredAnswer {
        status: row.status.unwrap_or(200) as u16,
        headers: serde_json::from_value(row.headers).unwrap_or_default(),
        body: row.body.unwrap_or_default(),
    }))
}

tokio::task_local! {
    /// The key of the request being handled, while its handler runs.
    static PENDING: Pending;
}

/// An idempotency key to claim in the first transaction of the request, and that
/// transaction once it is held.
#[derive(Clone)]
struct Pending {
    claim: KeyClaim,
    hold: Rc<RefCell<Option<Hold>>>,
}

/// What `Db::transaction` does for the request it runs in.
pub enum KeyState {
    /// No key: an ordinary transaction.
    None,
    /// Claim the key in this transaction and hold it for the answer.
    Unclaimed(KeyClaim),
    /// The request's change is held: run inside it.
    Held(Hold),
}

pub fn key_state() -> KeyState {
    PENDING
        .try_with(|p| match &*p.hold.borrow() {
            Some(hold) => KeyState::Held(hold.clone()),
            None => KeyState::Unclaimed(p.claim.clone()),
        })
        .unwrap_or(KeyState::None)
}

/// The current request's held transaction, if any.
pub fn held() -> Option<Hold> {
    PENDING.try_with(|p| p.hold.borrow().clone()).ok().flatten()
}

/// Keeps the hold `Db::transaction` opened for the middleware to commit with the answer.
pub fn keep(hold: Hold) {
    let _ = PENDING.try_with(|p| *p.hold.borrow_mut() = Some(hold));
}

/// The claim a transaction inserts before its change.
#[derive(Clone)]
pub struct KeyClaim {
    caller: String,
    key: String,
    hash: String,
}

impl KeyClaim {
    /// The claim for this request: scoped to the caller (subject and organisation), the
    /// request identified by a hash over method, path with query, and body.
    fn for_request(req: &ServiceRequest, caller: &Caller, key: String, body: &[u8]) -> KeyClaim {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| req.path().to_owned());
        KeyClaim {
            caller: format!(
                "{}\u{1f}{}",
                caller.subject,
                caller.org_number.as_deref().unwrap_or("")
            ),
            key,
            hash: request_hash(req.method(), &path, body),
        }
    }

    /// Inserts the claim; the row stays locked by this transaction until it ends. A row that
    /// exists already (a concurrent request with the key committed first) is a 409 and rolls
    /// this transaction back.
    pub fn insert(&self, conn: &mut PgConnection) -> Result<(), ApiError> {
        let inserted = diesel::sql_query(
            "INSERT INTO idempotent_requests (caller, key, request_hash, state) \
             VALUES ($1, $2, $3, 'in_flight') ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(&self.caller)
        .bind::<Text, _>(&self.key)
        .bind::<Text, _>(&self.hash)
        .execute(conn)?;
        if inserted == 0 {
            return Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still being processed or has just been; \
                 retry shortly to get its answer"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Stores the answer of a request that changed nothing as a new row.
fn store_answer(
    conn: &mut PgConnection,
    claim: &KeyClaim,
    answer: &StoredAnswer,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO idempotent_requests (caller, key, request_hash, state, status, headers, body, completed_at) \
         VALUES ($1, $2, $3, 'done', $4, $5, $6, now()) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(&claim.caller)
    .bind::<Text, _>(&claim.key)
    .bind::<Text, _>(&claim.hash)
    .bind::<Integer, _>(i32::from(answer.status))
    .bind::<Jsonb, _>(serde_json::to_value(&answer.headers).unwrap_or_default())
    .bind::<Bytea, _>(&answer.body)
    .execute(conn)
}

/// Writes the answer to the claim the held transaction inserted.
fn complete(
    conn: &mut PgConnection,
    claim: &KeyClaim,
    answer: &StoredAnswer,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE idempotent_requests SET state = 'done', status = $3, headers = $4, body = $5, \
         completed_at = now() WHERE caller = $1 AND key = $2",
    )
    .bind::<Text, _>(&claim.caller)
    .bind::<Text, _>(&claim.key)
    .bind::<Integer, _>(i32::from(answer.status))
    .bind::<Jsonb, _>(serde_json::to_value(&answer.headers).unwrap_or_default())
    .bind::<Bytea, _>(&answer.body)
    .execute(conn)
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

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let (req, claim, db) = match admit(req).await {
                Admission::PassThrough(req) => {
                    return service.call(req).await.map(|r| r.map_into_boxed_body())
                }
                Admission::Answered(res) => return Ok(res),
                Admission::Run { req, claim, db } => (req, claim, db),
            };
            let slot = Rc::new(RefCell::new(None));
            let pending = Pending {
                claim: claim.clone(),
                hold: Rc::clone(&slot),
            };
            let res = PENDING.scope(pending, service.call(req)).await;
            // From here on the hold is committed with the answer, or dropped: rolled back.
            let held = slot.borrow_mut().take();
            let (http_req, res) = res?.into_parts();
            let status = res.status();
            let (head, bytes, answer) = match capture_answer(res).await {
                Ok(captured) => captured,
                Err(e) => return Ok(ServiceResponse::new(http_req, e.error_response())),
            };
            if let Err(e) = store_for_replay(&db, held, claim, answer, status).await {
                return Ok(ServiceResponse::new(http_req, e.error_response()));
            }
            Ok(ServiceResponse::new(
                http_req,
                head.set_body(BoxBody::new(bytes)),
            ))
        })
    }
}

/// What the middleware does with a request before its handler runs.
enum Admission {
    /// Not an idempotent request (no key, not a `POST`, no valid token): the handler alone.
    PassThrough(ServiceRequest),
    /// Answered without the handler: a bad key or body, a replay, a reused key.
    Answered(ServiceResponse<BoxBody>),
    /// Run the handler with this key's claim pending.
    Run {
        req: ServiceRequest,
        claim: KeyClaim,
        db: Db,
    },
}

/// Parses the key, reads and hashes the body, and looks the key up: the steps before the
/// handler runs.
async fn admit(mut req: ServiceRequest) -> Admission {
    let raw = match req.headers().get(HEADER) {
        Some(v) if req.method() == Method::POST => v.clone(),
        _ => return Admission::PassThrough(req),
    };
    let key = match parse_key(&raw) {
        Ok(k) => k,
        Err(e) => return answered(req, e.error_response()),
    };
    // Without a valid token there is no caller to scope the key to: the handler says 401.
    let Ok(caller) = authenticate(req.request()) else {
        return Admission::PassThrough(req);
    };
    let (Some(db), Some(config)) = (
        req.app_data::<web::Data<Db>>().map(|d| d.get_ref().clone()),
        req.app_data::<web::Data<Arc<Config>>>().cloned(),
    ) else {
        return Admission::PassThrough(req);
    };
    // The largest limit any route has.
    let limit = config.bulk_body_limit.max(config.body_limit);
    let body = match read_body(&mut req, limit).await {
        Ok(b) => b,
        Err(e) => return answered(req, e.error_response()),
    };
    let claim = KeyClaim::for_request(&req, &caller, key, &body);
    let looked = {
        let claim = claim.clone();
        db.run(move |conn| lookup(conn, &claim.caller, &claim.key, &claim.hash))
            .await
    };
    match looked.map(answer_without_handler) {
        Err(e) => answered(req, e.error_response()),
        Ok(Some(res)) => answered(req, res),
        Ok(None) => {
            put_body_back(&mut req, body);
            Admission::Run { req, claim, db }
        }
    }
}

fn answered(req: ServiceRequest, res: HttpResponse) -> Admission {
    Admission::Answered(req.into_response(res))
}

/// Reads the whole body (to hash it), refusing one larger than `limit`.
async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!("the request body could not be read: {e}"))
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "the request body is larger than {limit} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Gives the handler the body `read_body` took.
fn put_body_back(req: &mut ServiceRequest, body: Bytes) {
    let (_, mut h1) = actix_http::h1::Payload::create(true);
    h1.unread_data(body);
    req.set_payload(actix_web::dev::Payload::from(h1));
}

/// The answer a looked-up key gives without running the handler; `None` when the key is free.
fn answer_without_handler(looked: Claim) -> Option<HttpResponse> {
    match looked {
        Claim::Free => None,
        Claim::Replay(answer) => {
            crate::metrics::idempotent_replay();
            Some(replayed_response(answer))
        }
        Claim::Mismatch => Some(
            ApiError::invalid(
                "/header/Idempotency-Key",
                "was already used for a different request (method, path or body); use a new key for a new request",
            )
            .error_response(),
        ),
        Claim::AnswerLost => Some(
            ApiError::Conflict(
                "the request with this Idempotency-Key was processed, but its answer was lost \
                 (an earlier version of the service stopped before storing it); it is not run \
                 again: read the resource to see the outcome"
                    .into(),
            )
            .error_response(),
        ),
    }
}

/// Reads the handler's answer into memory: the response head, its body, and the answer to
/// store. A body that fails to read is a 500 (nothing stored; a held change rolls back).
async fn capture_answer<B: MessageBody>(
    res: HttpResponse<B>,
) -> Result<(HttpResponse<()>, Bytes, StoredAnswer), ApiError> {
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
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| ApiError::internal("the response body could not be read"))?;
    let answer = StoredAnswer {
        status: status.as_u16(),
        headers,
        body: bytes.to_vec(),
    };
    Ok((head, bytes, answer))
}

/// Stores an answer that is kept for replay: with the held change (they commit together, or
/// the change rolls back and this is a 503), or on its own when the request changed nothing.
/// An answer that is not kept is not stored, and a held change rolls back with the dropped hold.
async fn store_for_replay(
    db: &Db,
    held: Option<Hold>,
    claim: KeyClaim,
    answer: StoredAnswer,
    status: StatusCode,
) -> Result<(), ApiError> {
    match (held, is_final(status)) {
        (Some(hold), true) => {
            let committed = hold
                .commit(move |conn| complete(conn, &claim, &answer).map(drop))
                .await;
            if let Err(e) = committed {
                log::warn!("an idempotent change was rolled back: its answer could not be stored with it: {e}");
                return Err(not_committed());
            }
        }
        (None, true) => {
            let stored = db
                .run(move |conn| store_answer(conn, &claim, &answer))
                .await;
            if let Err(e) = stored {
                log::warn!("could not store the answer for an idempotency key: {e}");
            }
        }
        (_, false) => {}
    }
    Ok(())
}

/// The answer when a held change and its answer could not be committed together.
fn not_committed() -> ApiError {
    ApiError::Unavailable(
        "the change could not be committed together with its answer, so it was rolled back: \
         nothing was changed; retry with the same Idempotency-Key"
            .into(),
    )
}
