//! `/api/v1/events` (the change feed), `/api/v1/audit` (the audit trail) and
//! `/api/v1/audit/verify` (the check of its hash chain).

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::db::Db;
use crate::documents::checkpoint::Checkpoint;
use crate::error::{ApiError, FieldError};
use crate::pagination::{paginate, PageQuery};
use crate::store::changelog::{self, AuditRow, EventRow};
use crate::store::checkpoints;

/// Who made a change: the token's subject and the caller's organisation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"subject": "portfolio-office-client", "org_number": "991324968"}))]
pub struct ActorRef {
    /// The token's `sub` (or `system:<what>` for the service itself).
    #[schema(max_length = 256, example = "portfolio-office-client")]
    pub subject: String,
    /// The caller's organisation number, when the token carried one.
    #[schema(max_length = 9, pattern = "^[0-9]{9}$", example = "991324968")]
    pub org_number: Option<String>,
}

/// One committed change, as the change feed lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"seq": 42, "occurred_at": "2026-11-25T20:15:00.123456Z", "entity_type": "service_area",
    "entity_id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba", "action": "renamed", "version": 2,
    "actor": {"subject": "portfolio-office-client", "org_number": "991324968"}}))]
pub struct Event {
    /// Position in commit order; pass the last one you processed as `after`.
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub seq: i64,
    /// When the change was committed (UTC).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub occurred_at: DateTime<Utc>,
    /// What kind of resource changed, e.g. `service_area`, `need`, `measure`.
    #[schema(max_length = 64, pattern = "^[a-z_]+$", example = "service_area")]
    pub entity_type: String,
    /// The id of the resource that changed (its path id).
    #[schema(max_length = 200, example = "c4031f77-ebb3-4848-d6f7-e90a8da40cba")]
    pub entity_id: String,
    /// What happened, e.g. `created`, `updated`, `renamed`, `accepted`.
    #[schema(max_length = 64, pattern = "^[a-z_]+$", example = "renamed")]
    pub action: String,
    /// The resource's version after the change (its ETag is `"v<version>"`), when it has one.
    #[schema(minimum = 1, maximum = 2147483647)]
    pub version: Option<i32>,
    pub actor: ActorRef,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Event {
            seq: r.seq,
            occurred_at: r.occurred_at,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            action: r.action,
            version: r.version,
            actor: ActorRef {
                subject: r.actor_subject,
                org_number: r.actor_org,
            },
        }
    }
}

/// A page of the change feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": [], "next_after": 42}))]
pub struct EventPage {
    #[schema(max_items = 1000)]
    pub items: Vec<Event>,
    /// Pass as `after` for the next page. Equals the request's `after` when there was nothing
    /// new: poll again later with the same value.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub next_after: i64,
}

fn entity_type_rule(s: &str) -> Result<(), validator::ValidationError> {
    let ok =
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok {
        Ok(())
    } else {
        let mut e = validator::ValidationError::new("entity_type");
        e.message = Some("must be 1–64 characters a–z or _".into());
        Err(e)
    }
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The `seq` of the last event already processed (0 or omitted: from the start).
    #[param(minimum = 0, maximum = 9007199254740991_i64, example = 0)]
    #[validate(range(min = 0, max = 9007199254740991_i64))]
    pub after: Option<i64>,
    /// Events per page (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    #[validate(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
    /// Only changes of this kind of resource, e.g. `service_area`.
    #[param(max_length = 64, pattern = "^[a-z_]+$", example = "service_area")]
    #[validate(custom(function = "entity_type_rule"))]
    pub entity_type: Option<String>,
}

fn query_error(e: validator::ValidationErrors) -> ApiError {
    match ApiError::from(e) {
        ApiError::Validation { errors, .. } => ApiError::validation(
            errors
                .into_iter()
                .map(|f| FieldError::new(format!("/query{}", f.pointer), f.message))
                .collect(),
        ),
        other => other,
    }
}

/// Read the change feed
///
/// Every committed change (entity type, id, action, new version, time, actor) in commit order.
/// Events are written in the same transaction as the change (an outbox) and numbered in commit
/// order, so a consumer that keeps the last `seq` it processed and asks for `after=<seq>`
/// never misses or double-counts a change. Denied attempts are in the audit trail, not here.
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "change log",
    params(EventQuery),
    responses((status = 200, description = "Events after the cursor, oldest first", body = EventPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_events(
    caller: Caller,
    db: web::Data<Db>,
    query: web::Query<EventQuery>,
) -> Result<web::Json<EventPage>, ApiError> {
    caller.require(Permission::Read)?;
    query.validate().map_err(query_error)?;
    let q = query.into_inner();
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    let rows = db
        .run::<_, ApiError, _>(move |conn| {
            Ok(changelog::list_events(
                conn,
                after,
                q.entity_type.as_deref(),
                limit,
            )?)
        })
        .await?;
    let (rows, _) = paginate(rows, limit, |r| r.seq);
    let next_after = rows.last().map(|r| r.seq).unwrap_or(after);
    Ok(web::Json(EventPage {
        items: rows.into_iter().map(Event::from).collect(),
        next_after,
    }))
}

/// One entry of the audit trail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 7, "occurred_at": "2026-11-25T20:15:00.123456Z",
    "actor": {"subject": "portfolio-office-client", "org_number": "991324968"},
    "action": "renamed", "entity_type": "service_area", "entity_id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba",
    "before": {"name": "Mor og barn", "version": 1}, "after": {"name": "Mor, barn og familie", "version": 2},
    "request_id": "5f0c6c1e-8d0b-4a53-9a52-8e0f3c4f2a10",
    "prev_hash": "9c1185a5c5e9fc54612808977ee8f548b2258d31c2f1a7d1f4e4bd3b1c1c9e0a",
    "hash": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}))]
pub struct AuditEntry {
    /// Position in the chain (1, 2, 3, … without gaps).
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub id: i64,
    /// When the change was committed (UTC).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub occurred_at: DateTime<Utc>,
    pub actor: ActorRef,
    /// What happened, e.g. `created`, `renamed`; `denied` for a refused attempt (403).
    #[schema(max_length = 64, example = "renamed")]
    pub action: String,
    /// The kind of resource; `endpoint` for denied attempts.
    #[schema(max_length = 64, example = "service_area")]
    pub entity_type: String,
    /// The resource's id; for denied attempts the method and path.
    #[schema(max_length = 2048, example = "c4031f77-ebb3-4848-d6f7-e90a8da40cba")]
    pub entity_id: String,
    /// The resource before the change (absent for creations).
    pub before: Option<Value>,
    /// The resource after the change (absent for deletions).
    pub after: Option<Value>,
    /// The request that made the change (`X-Request-Id`).
    #[schema(max_length = 128, example = "5f0c6c1e-8d0b-4a53-9a52-8e0f3c4f2a10")]
    pub request_id: String,
    /// The previous entry's hash, `<key id>:<hex>` (64 zeros for the first entry).
    #[schema(
        min_length = 64,
        max_length = 97,
        pattern = "^([A-Za-z0-9_-]{1,32}:)?[0-9a-f]{64}$"
    )]
    pub prev_hash: String,
    /// HMAC-SHA256 over `prev_hash` and this entry's content, keyed with the audit key
    /// (`PORTFOLIO_AUDIT_KEY`) and written `<key id>:<hex>`.
    #[schema(
        min_length = 64,
        max_length = 97,
        pattern = "^([A-Za-z0-9_-]{1,32}:)?[0-9a-f]{64}$"
    )]
    pub hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            occurred_at: r.occurred_at,
            actor: ActorRef {
                subject: r.actor_subject,
                org_number: r.actor_org,
            },
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

crate::page_type!(
    AuditPage,
    AuditEntry,
    "A page of the audit trail, oldest entry first."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this kind of resource, e.g. `service_area`.
    #[param(max_length = 64, pattern = "^[a-z_]+$", example = "service_area")]
    #[validate(custom(function = "entity_type_rule"))]
    pub entity_type: Option<String>,
    /// Only entries about the resource with this id (combine with `entity_type`).
    #[param(
        min_length = 1,
        max_length = 2048,
        example = "c4031f77-ebb3-4848-d6f7-e90a8da40cba"
    )]
    #[validate(
        length(min = 1, max = 2048),
        custom(function = "crate::extract::no_nul")
    )]
    pub entity_id: Option<String>,
}

/// Read the audit trail
///
/// One entry per change, oldest first: actor (token subject and organisation), time (UTC),
/// action, the resource before and after, and the request id. Refused attempts (403) are
/// entries too (`action` = `denied`, `entity_type` = `endpoint`). Entries are append-only and
/// hash-chained (see `/api/v1/audit/verify`). Needs `portfolio:manage`.
#[utoipa::path(
    tag = "change log",
    params(AuditQuery, PageQuery),
    responses((status = 200, description = "A page of audit entries", body = AuditPage)),
    security(("bearer" = ["portfolio:manage"]))
)]
#[get("")]
pub async fn list_audit(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<AuditQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<AuditPage>, ApiError> {
    caller.require(Permission::Manage)?;
    filter.validate().map_err(query_error)?;
    page.check()?;
    let after = page.after::<i64>()?;
    let limit = page.limit();
    let f = filter.into_inner();
    let rows = db
        .run::<_, ApiError, _>(move |conn| {
            Ok(changelog::list_audit(
                conn,
                f.entity_type.as_deref(),
                f.entity_id.as_deref(),
                after,
                limit,
            )?)
        })
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.id);
    Ok(web::Json(AuditPage {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    }))
}

/// The first entry that breaks the chain.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BrokenEntry {
    /// The entry's id.
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub id: i64,
    /// Why it does not fit the chain.
    #[schema(
        max_length = 200,
        example = "the entry's content does not match its hash (it was changed after it was written)"
    )]
    pub reason: String,
}

/// The result of checking the audit trail's hash chain.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"valid": false, "entries_checked": 6,
    "last_valid_hash": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "first_broken": {"id": 7, "reason": "the entry's content does not match its hash (it was changed after it was written)"}}))]
pub struct ChainVerification {
    /// True when every entry matches its hash and links to its predecessor.
    pub valid: bool,
    /// Entries checked and found intact (all of them when `valid`).
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub entries_checked: i64,
    /// The hash of the last intact entry (64 zeros when there is none).
    #[schema(
        min_length = 64,
        max_length = 97,
        pattern = "^([A-Za-z0-9_-]{1,32}:)?[0-9a-f]{64}$"
    )]
    pub last_valid_hash: String,
    /// The first entry that breaks the chain; absent when `valid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<BrokenEntry>,
    /// The chain compared with a signed checkpoint (present when `against` was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<CheckpointVerdict>,
}

/// The chain compared with a signed checkpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"result": "truncated", "first_bad_seq": 41,
    "reason": "the chain ends at 40, before the checkpoint's head 42",
    "checkpoint": {"id": 3, "seq": 42,
        "head_hash": "prod-1:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "created_at": "2026-12-01T12:00:00.000000Z", "key_id": "prod-1",
        "signature": "prod-1:9c1185a5c5e9fc54612808977ee8f548b2258d31c2f1a7d1f4e4bd3b1c1c9e0a"}}))]
pub struct CheckpointVerdict {
    /// `valid`, `truncated` (entries at or before the checkpoint's head are gone),
    /// `rewritten` (an entry up to there has another hash, or the chain breaks) or
    /// `forged_checkpoint` (the checkpoint's signature does not verify).
    pub result: Outcome,
    /// The first sequence number that is missing or does not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub first_bad_seq: Option<i64>,
    /// Why, in words; absent when `valid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
    /// The checkpoint checked against.
    pub checkpoint: Checkpoint,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// Also compare the chain with this signed checkpoint: its id, or `latest`.
    #[param(
        max_length = 20,
        pattern = "^([0-9]{1,18}|latest)$",
        example = "latest"
    )]
    pub against: Option<String>,
}

/// Which checkpoint `against` names.
enum Against {
    Latest,
    Id(i64),
}

fn parse_against(s: &str) -> Result<Against, ApiError> {
    if s == "latest" {
        return Ok(Against::Latest);
    }
    match s.parse::<i64>() {
        Ok(id) if id >= 1 && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Against::Id(id))
        }
        _ => Err(ApiError::validation(vec![FieldError::new(
            "/query/against",
            "must be a checkpoint id (a positive integer) or `latest`",
        )])),
    }
}

/// Verify the audit trail
///
/// Recomputes every entry's SHA-256 from its content and its predecessor's hash, in order, and
/// names the first entry that was changed, inserted or follows a deleted one. Reads one
/// consistent snapshot. Needs `portfolio:manage`.
///
/// With `against=<checkpoint id>` (or `latest`) the chain is also compared with that signed
/// checkpoint: `truncated` when the chain ends before the checkpoint's head or that entry is
/// gone, `rewritten` when it has another hash or the chain breaks, `forged_checkpoint` when
/// the checkpoint's own signature does not verify; `valid` is then true only when the
/// comparison is `valid` too.
#[utoipa::path(
    tag = "change log",
    params(VerifyQuery),
    responses(
        (status = 200, description = "The result of the check (also when the chain is broken)", body = ChainVerification),
        (status = 404, description = "No such checkpoint", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[get("/verify")]
pub async fn verify_audit(
    caller: Caller,
    db: web::Data<Db>,
    query: web::Query<VerifyQuery>,
) -> Result<web::Json<ChainVerification>, ApiError> {
    caller.require(Permission::Manage)?;
    let against = query.against.as_deref().map(parse_against).transpose()?;
    let (report, verdict) = db
        .run::<_, ApiError, _>(move |conn| {
            Ok(conn
                .build_transaction()
                .read_only()
                .repeatable_read()
                .run(|conn| checked_against(conn, against))?)
        })
        .await?;
    let valid = report.first_broken.is_none()
        && verdict.as_ref().is_none_or(|v| v.result == Outcome::Valid);
    Ok(web::Json(ChainVerification {
        valid,
        entries_checked: report.entries_checked,
        last_valid_hash: report.last_hash,
        first_broken: report.first_broken.map(|b| BrokenEntry {
            id: b.id,
            reason: b.reason,
        }),
        against: verdict,
    }))
}

/// The chain's report, and its comparison with the named checkpoint.
fn checked_against(
    conn: &mut diesel::PgConnection,
    against: Option<Against>,
) -> Result<(changelog::ChainReport, Option<CheckpointVerdict>), crate::store::StoreError> {
    let cp = match against {
        None => return Ok((changelog::verify_chain(conn)?, None)),
        Some(Against::Id(id)) => checkpoints::find(conn, id)?,
        Some(Against::Latest) => checkpoints::latest(conn)?
            .ok_or_else(|| crate::store::StoreError::not_found("an audit checkpoint"))?,
    };
    let r = checkpoints::verify_against(conn, &cp)?;
    Ok((
        r.chain,
        Some(CheckpointVerdict {
            result: r.outcome.into(),
            first_bad_seq: r.first_bad_seq,
            reason: r.reason,
            checkpoint: cp,
        }),
    ))
}

crate::page_type!(
    CheckpointPage,
    Checkpoint,
    "A page of audit checkpoints, newest first."
);

/// Publish an audit checkpoint
///
/// Signs the audit chain's current head (sequence number, head hash, time, key id) with the
/// audit key and stores it. Keep the answer: verifying the chain against it later
/// (`/api/v1/audit/verify?against=<id>`) detects a removed tail or a rewritten entry. The
/// server also publishes one every `PORTFOLIO_AUDIT_CHECKPOINT_MINUTES` when the head moved,
/// and with every published tertial report. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "change log",
    responses((status = 201, description = "The checkpoint", body = Checkpoint)),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/checkpoints")]
pub async fn publish_checkpoint(
    caller: Caller,
    db: web::Data<Db>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let cp = db.transaction(checkpoints::publish).await?;
    Ok(HttpResponse::Created().json(cp))
}

/// List audit checkpoints
///
/// The signed checkpoints of the audit chain, newest first. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "change log",
    params(PageQuery),
    responses((status = 200, description = "A page of checkpoints", body = CheckpointPage)),
    security(("bearer" = ["portfolio:manage"]))
)]
#[get("/checkpoints")]
pub async fn list_checkpoints(
    caller: Caller,
    db: web::Data<Db>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<CheckpointPage>, ApiError> {
    caller.require(Permission::Manage)?;
    page.check()?;
    let before = page.after::<i64>()?;
    let limit = page.limit();
    let rows = db
        .run::<_, ApiError, _>(move |conn| Ok(checkpoints::list(conn, before, limit)?))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.id);
    Ok(web::Json(CheckpointPage {
        items: rows,
        next_cursor,
    }))
}

/// What the chain looks like against a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The chain is intact and still contains the checkpoint's head.
    Valid,
    /// The chain ends before the checkpoint's head, or that entry is gone.
    Truncated,
    /// The entry at the checkpoint's head has another hash, or the chain breaks.
    Rewritten,
    /// The checkpoint's signature does not verify: it cannot be trusted.
    ForgedCheckpoint,
}

impl From<checkpoints::Outcome> for Outcome {
    fn from(o: checkpoints::Outcome) -> Self {
        match o {
            checkpoints::Outcome::Valid => Outcome::Valid,
            checkpoints::Outcome::Truncated => Outcome::Truncated,
            checkpoints::Outcome::Rewritten => Outcome::Rewritten,
            checkpoints::Outcome::ForgedCheckpoint => Outcome::ForgedCheckpoint,
        }
    }
}
