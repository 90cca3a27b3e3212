//! `/api/v1/delivery-status/batches`: the IT partner's systems push delivery status for many
//! measures at once, keyed by the partner's own references.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use portfolio_domain::measure::{DeliveryStatus, Rag, SyncOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::etag::json_with_etag;
use crate::extract::{read_json_value, to_pointer};
use crate::routes::measures::MilestoneBody;
use crate::store::delivery::{self, BatchRow, ItemResult, SyncInput};

/// Most items in one batch.
pub const BATCH_MAX: usize = 10_000;
/// How far ahead of this server's clock a source timestamp may be (clock skew).
const FUTURE_SKEW_MINUTES: i64 = 5;

crate::enum_schema!(
    rag_schema,
    Rag,
    "Delivery health: `green` = on plan, `yellow` = some deviation from plan, `red` = significant deviation or very likely not delivered as planned."
);
crate::enum_schema!(
    outcome_schema,
    SyncOutcome,
    "`applied` (stored), `unchanged` (same content as stored, e.g. a retried batch) or `stale` (older than what is stored, or same age with other content; ignored)."
);

/// The delivery status of one measure, as the IT partner reports it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "reference": "SP-2022-2022-000001", "progress": 40, "rag": "yellow", "forecast_date": "2024-03-01",
    "milestones": [{"name": "Pilot på Ahus", "planned_date": "2024-01-15", "done_date": null}],
    "comment": "Forsinket leveranse fra underleverandør", "reported_by": "Sykehuspartner HF",
    "source_timestamp": "2023-11-20T08:00:00Z"
}))]
pub struct SyncItem {
    /// The IT partner's reference of the measure.
    #[schema(min_length = 1, max_length = 100)]
    pub reference: String,
    /// Percent complete.
    #[schema(minimum = 0, maximum = 100)]
    pub progress: i64,
    #[schema(schema_with = rag_schema)]
    pub rag: Rag,
    /// Expected delivery date: RFC 3339 full-date (YYYY-MM-DD), years 2000–2100.
    #[serde(default, deserialize_with = "crate::dates::strict_opt")]
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub forecast_date: Option<NaiveDate>,
    /// At most 100, names unique.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub milestones: Vec<MilestoneBody>,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub comment: Option<String>,
    /// Who reported it: the IT partner or a named supplier.
    #[schema(min_length = 1, max_length = 200)]
    pub reported_by: String,
    /// When the reporting system produced this status; an older one than stored is ignored.
    /// Kept to the microsecond; at most 5 minutes ahead of this server's clock.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub source_timestamp: DateTime<Utc>,
}

/// A batch of delivery statuses (1 to 10,000 items, each measure at most once).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{
    "reference": "SP-2022-2022-000001", "progress": 40, "rag": "yellow", "forecast_date": "2024-03-01",
    "milestones": [{"name": "Pilot på Ahus", "planned_date": "2024-01-15", "done_date": null}],
    "comment": "Forsinket leveranse fra underleverandør", "reported_by": "Sykehuspartner HF",
    "source_timestamp": "2023-11-20T08:00:00Z"
}]}))]
pub struct SyncBatchRequest {
    #[schema(min_items = 1, max_items = 10000)]
    pub items: Vec<SyncItem>,
}

/// What the sync did with one item.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncItemResult {
    /// Position of the item in the request.
    pub index: usize,
    pub reference: String,
    pub measure_id: Uuid,
    #[schema(schema_with = outcome_schema)]
    pub outcome: SyncOutcome,
}

/// A stored sync batch: who sent it, when, the counts and the outcome of every item.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "2d0e4b8a-6f3c-4f7e-8a51-0c9b7d3e1f22", "submitted_by": "sykehuspartner-sync",
    "submitted_org": "914637651", "submitted_at": "2023-11-20T08:00:03Z",
    "item_count": 2, "applied": 1, "unchanged": 0, "stale": 1,
    "items": [
        {"index": 0, "reference": "SP-2022-2022-000001", "measure_id": "d77e302f-ec96-4b70-9af4-78919d069485", "outcome": "applied"},
        {"index": 1, "reference": "SP-2023-0043", "measure_id": "7b2a1f7d-1e8c-4a66-8e3b-3d5c8a0a4b21", "outcome": "stale"}
    ],
    "version": 1
}))]
pub struct DeliveryBatch {
    pub id: Uuid,
    /// The caller (token subject) that sent it.
    pub submitted_by: String,
    /// The caller's organisation.
    pub submitted_org: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub submitted_at: DateTime<Utc>,
    pub item_count: i32,
    pub applied: i32,
    pub unchanged: i32,
    pub stale: i32,
    /// One result per item, in request order.
    pub items: Vec<SyncItemResult>,
    /// Batches never change: always 1.
    pub version: i32,
}

impl From<BatchRow> for DeliveryBatch {
    fn from(b: BatchRow) -> Self {
        let items: Vec<ItemResult> = serde_json::from_value(b.results).unwrap_or_default();
        DeliveryBatch {
            id: b.id,
            submitted_by: b.submitted_by,
            submitted_org: b.submitted_org,
            submitted_at: b.submitted_at,
            item_count: b.item_count,
            applied: b.applied_count,
            unchanged: b.unchanged_count,
            stale: b.stale_count,
            items: items
                .into_iter()
                .map(|r| SyncItemResult {
                    index: r.index,
                    reference: r.reference,
                    measure_id: r.measure_id,
                    outcome: r.outcome,
                })
                .collect(),
            version: 1,
        }
    }
}

fn in_range(d: NaiveDate) -> bool {
    use chrono::Datelike;
    (2000..=2100).contains(&d.year())
}

/// Checks every item and reports every bad one (pointer `/items/<i>/...`).
fn parse_batch(value: Value, now: DateTime<Utc>) -> Result<Vec<SyncInput>, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("", "must be an object with `items`"));
    }
    let mut errors = Vec::new();
    let Some(items) = batch_items(value, &mut errors) else {
        return Err(ApiError::validation(errors));
    };
    let latest = now + Duration::minutes(FUTURE_SKEW_MINUTES);
    let mut out = Vec::with_capacity(items.len());
    let mut first_at: HashMap<String, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if let Some(input) = parse_item(i, item, latest, &mut first_at, &mut errors) {
            out.push(input);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// The `items` array of the body object (1 to `BATCH_MAX`); `None` when there is none to
/// check. Unknown top-level fields are reported beside the items' own errors.
fn batch_items(value: Value, errors: &mut Vec<FieldError>) -> Option<Vec<Value>> {
    let Value::Object(mut obj) = value else {
        return None;
    };
    for k in obj.keys() {
        if k != "items" {
            errors.push(FieldError::new(format!("/{k}"), "unknown field"));
        }
    }
    let Some(Value::Array(items)) = obj.remove("items") else {
        errors.push(FieldError::new(
            "/items",
            format!("is required: an array of 1 to {BATCH_MAX} items"),
        ));
        return None;
    };
    if items.is_empty() || items.len() > BATCH_MAX {
        errors.push(FieldError::new(
            "/items",
            format!("must hold 1 to {BATCH_MAX} items (has {})", items.len()),
        ));
        return None;
    }
    Some(items)
}

/// One item, checked; `None` (with its errors added) when it is bad.
fn parse_item(
    i: usize,
    item: Value,
    latest: DateTime<Utc>,
    first_at: &mut HashMap<String, usize>,
    errors: &mut Vec<FieldError>,
) -> Option<SyncInput> {
    let it: SyncItem = match serde_path_to_error::deserialize(item) {
        Ok(it) => it,
        Err(e) => {
            errors.push(FieldError::new(
                format!("/items/{i}{}", to_pointer(&e.path().to_string())),
                e.inner().to_string(),
            ));
            return None;
        }
    };
    let before = errors.len();
    check_reference(i, &it.reference, first_at, errors);
    check_ranges(i, &it, latest, errors);
    if errors.len() > before {
        return None;
    }
    let status = DeliveryStatus {
        progress: it.progress as u8,
        rag: it.rag,
        forecast_date: it.forecast_date,
        milestones: it.milestones.into_iter().map(Into::into).collect(),
        comment: it.comment,
        reported_by: it.reported_by,
        // PostgreSQL keeps microseconds: compare what will be stored.
        source_timestamp: it.source_timestamp.trunc_subsecs(6),
    };
    if let Err(portfolio_domain::DomainError::Invalid { field, message }) = status.validate() {
        let field = portfolio_domain::FieldPath::from("items")
            .index(i)
            .join(field);
        errors.push(FieldError::of(portfolio_domain::FieldIssue {
            field,
            message,
        }));
        return None;
    }
    Some(SyncInput {
        reference: it.reference,
        status,
    })
}

/// The reference is 1 to 100 characters and names a measure only once in the batch.
fn check_reference(
    i: usize,
    reference: &str,
    first_at: &mut HashMap<String, usize>,
    errors: &mut Vec<FieldError>,
) {
    let at = format!("/items/{i}/reference");
    if reference.trim().is_empty() || reference.chars().count() > 100 {
        errors.push(FieldError::new(
            at,
            "must be 1 to 100 characters, not blank",
        ));
    } else if let Some(j) = first_at.get(reference) {
        errors.push(FieldError::new(
            at,
            format!("the measure appears more than once in the batch (first at index {j})"),
        ));
    } else {
        first_at.insert(reference.to_owned(), i);
    }
}

/// Progress, dates (years 2000–2100) and a source timestamp not in the future.
fn check_ranges(i: usize, it: &SyncItem, latest: DateTime<Utc>, errors: &mut Vec<FieldError>) {
    let at = |p: &str| format!("/items/{i}{p}");
    if !(0..=100).contains(&it.progress) {
        errors.push(FieldError::new(at("/progress"), "must be from 0 to 100"));
    }
    if it.forecast_date.is_some_and(|d| !in_range(d)) {
        errors.push(FieldError::new(
            at("/forecast_date"),
            "must be in the years 2000 to 2100",
        ));
    }
    for (k, m) in it.milestones.iter().enumerate() {
        if !in_range(m.planned_date) {
            errors.push(FieldError::new(
                at(&format!("/milestones/{k}/planned_date")),
                "must be in the years 2000 to 2100",
            ));
        }
        if m.done_date.is_some_and(|d| !in_range(d)) {
            errors.push(FieldError::new(
                at(&format!("/milestones/{k}/done_date")),
                "must be in the years 2000 to 2100",
            ));
        }
    }
    if it.source_timestamp > latest {
        errors.push(FieldError::new(
            at("/source_timestamp"),
            format!(
                "lies in the future (more than {FUTURE_SKEW_MINUTES} minutes ahead of this server)"
            ),
        ));
    }
}

/// Sync delivery status (batch)
///
/// Up to 10,000 delivery statuses keyed by the IT partner's references, applied in one
/// transaction. An invalid batch (shape, unknown reference, duplicate reference, out-of-range
/// values, bad dates) is refused as a whole with a 422 listing every bad item
/// (`/items/<index>/<field>`); nothing is written. Otherwise each item is `applied`,
/// `unchanged` (same content as stored) or `stale` (older than stored; ignored — status never
/// goes backwards), so sending the same batch again changes nothing. With an
/// `Idempotency-Key` the first answer is replayed for a retry with the same body
/// (`Idempotent-Replayed: true`); the same key with another body is a 422. The body may be up
/// to the bulk limit (16 MiB by default). Needs `portfolio:sync`.
#[utoipa::path(
    tag = "delivery status sync",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the first answer is replayed for the same caller, key and body (1–255 printable ASCII characters). Use a fresh value per batch; no example is given, so that no tool pre-fills the same key twice.")
    ),
    request_body = SyncBatchRequest,
    responses(
        (status = 201, description = "Applied; the batch with one result per item", body = DeliveryBatch, headers(("Location" = String, description = "The stored batch"), ("Idempotent-Replayed" = String, description = "`true` when this is a replayed answer"))),
    ),
    security(("bearer" = ["portfolio:sync"]))
)]
#[post("/batches")]
pub async fn sync_batch(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    config: web::Data<Arc<Config>>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Sync)?;
    let value = read_json_value(&req, payload, config.bulk_body_limit).await?;
    // Validation of up to 10,000 items is CPU work: keep it off the async executor.
    // (An Idempotency-Key is handled for every POST by the idempotency middleware.)
    let items = web::block(move || parse_batch(value, Utc::now()))
        .await
        .map_err(ApiError::internal)??;
    let actor = Actor::of(&caller);
    // `Db::transaction`: an Idempotency-Key is claimed in the same transaction as the batch.
    let batch = db
        .transaction(move |conn| delivery::apply_batch(conn, &actor, items))
        .await;
    // malloc_trim covers every arena, whichever thread ran the batch.
    crate::memory::release_free();
    let batch = batch?;
    let location = format!("/api/v1/delivery-status/batches/{}", batch.id);
    let resp = crate::etag::created_at(location);
    Ok(crate::etag::json_with_etag(
        resp,
        &DeliveryBatch::from(batch),
        1,
    ))
}

/// Get a sync batch
///
/// Who sent the batch, when, the counts and the outcome of every item. Needs
/// `portfolio:sync` or `portfolio:read`.
#[utoipa::path(
    tag = "delivery status sync",
    params(("id" = Uuid, Path, description = "Batch id", example = "103a50a3-18ab-6276-1c02-db267868751c")),
    responses(
        (status = 200, description = "The batch", body = DeliveryBatch, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such batch", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:sync"]), ("bearer" = ["portfolio:read"]))
)]
#[get("/batches/{id}")]
pub async fn get_batch(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Permission::Sync, Permission::Read])?;
    let id = path.into_inner();
    let row = db
        .run(move |conn| delivery::find_batch(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("delivery-status batch {id}")))?;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &DeliveryBatch::from(row),
        1,
    ))
}
