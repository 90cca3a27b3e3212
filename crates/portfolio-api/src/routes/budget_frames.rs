//! `/api/v1/budget-frames`: the yearly money of each sub-portfolio, the allocations against it
//! and the history of every change. Allocations can never exceed a frame, also under
//! concurrent requests (row lock + CHECK constraint in the database).

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use portfolio_domain::budget::{self as budget_domain, SubPortfolio};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::budget::{self, AllocationRow, FrameRow, HistoryRow};

crate::enum_schema!(
    sub_portfolio_schema,
    SubPortfolio,
    "A sub-portfolio: `concept_studies`, `interregional`, `improvement` or `other`."
);

/// A budget frame (budsjettramme) with its report: amount, allocated, remaining, spent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "6f1c2a4e-2b7d-4c55-9d0e-3a8b9c1d2e3f", "year": 2023, "sub_portfolio": "concept_studies", "amount_nok": 10000000, "allocated_nok": 7500000, "remaining_nok": 2500000, "spent_nok": 1200000, "version": 4, "created_at": "2022-09-01T08:00:00Z", "updated_at": "2022-10-20T12:00:00Z"}))]
pub struct Frame {
    pub id: Uuid,
    #[schema(example = 2023)]
    pub year: i32,
    #[schema(schema_with = sub_portfolio_schema)]
    pub sub_portfolio: SubPortfolio,
    /// Size of the frame in NOK.
    #[schema(example = 10000000)]
    pub amount_nok: i64,
    /// Money promised to studies or other purposes (never more than `amount_nok`).
    pub allocated_nok: i64,
    /// `amount_nok − allocated_nok`.
    pub remaining_nok: i64,
    /// Money spent out of the allocations (never more than `allocated_nok`).
    pub spent_nok: i64,
    /// Version of this representation (also its ETag).
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<FrameRow> for Frame {
    fn from(r: FrameRow) -> Self {
        Frame {
            id: r.id,
            year: r.year,
            sub_portfolio: r.sub_portfolio,
            amount_nok: r.amount_nok,
            allocated_nok: r.allocated_nok,
            remaining_nok: r.amount_nok - r.allocated_nok,
            spent_nok: r.spent_nok,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

crate::page_type!(
    FramePage,
    Frame,
    "A page of budget frames, ordered by year and sub-portfolio."
);

/// `direct` (made by the portfolio office) or `study` (a concept study's budget, made by a board decision).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AllocationKind {
    Direct,
    Study,
}

// The wire enums below mirror the domain's for their named schemas in the contract; each
// conversion is exhaustive, so a new domain variant fails to compile here.
impl From<budget_domain::AllocationKind> for AllocationKind {
    fn from(k: budget_domain::AllocationKind) -> Self {
        match k {
            budget_domain::AllocationKind::Direct => AllocationKind::Direct,
            budget_domain::AllocationKind::Study => AllocationKind::Study,
        }
    }
}

/// `active`, or `released` (its unspent money went back to the frame).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStatus {
    Active,
    Released,
}

impl From<budget_domain::AllocationStatus> for AllocationStatus {
    fn from(s: budget_domain::AllocationStatus) -> Self {
        match s {
            budget_domain::AllocationStatus::Active => AllocationStatus::Active,
            budget_domain::AllocationStatus::Released => AllocationStatus::Released,
        }
    }
}

/// Money allocated from a frame.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "0d7f4c1a-8e2b-4b6d-9a3c-5e1f2a3b4c5d", "frame_id": "6f1c2a4e-2b7d-4c55-9d0e-3a8b9c1d2e3f", "kind": "direct", "amount_nok": 250000, "original_nok": 250000, "spent_nok": 0, "purpose": "Forprosjekt: felles meldingsformat", "status": "active", "released_at": null, "version": 1, "created_at": "2022-10-20T12:00:00Z"}))]
pub struct Allocation {
    pub id: Uuid,
    pub frame_id: Uuid,
    pub kind: AllocationKind,
    /// The amount held now in NOK (after a release: what was spent).
    pub amount_nok: i64,
    /// The amount first allocated.
    pub original_nok: i64,
    pub spent_nok: i64,
    pub purpose: String,
    pub status: AllocationStatus,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub released_at: Option<DateTime<Utc>>,
    /// Version of this representation (also its ETag).
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

impl From<AllocationRow> for Allocation {
    fn from(r: AllocationRow) -> Self {
        Allocation {
            id: r.id,
            frame_id: r.frame_id,
            kind: r.kind.into(),
            amount_nok: r.amount_nok,
            original_nok: r.original_nok,
            spent_nok: r.spent_nok,
            purpose: r.purpose,
            status: r.status.into(),
            released_at: r.released_at,
            version: r.version,
            created_at: r.created_at,
        }
    }
}

crate::page_type!(
    AllocationPage,
    Allocation,
    "A page of a frame's allocations, oldest first."
);

/// What happened to a frame.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FrameHistoryAction {
    Created,
    AmountChanged,
    Allocated,
    Released,
    Spent,
}

impl From<budget_domain::FrameAction> for FrameHistoryAction {
    fn from(a: budget_domain::FrameAction) -> Self {
        use budget_domain::FrameAction as A;
        match a {
            A::Created => FrameHistoryAction::Created,
            A::AmountChanged => FrameHistoryAction::AmountChanged,
            A::Allocated => FrameHistoryAction::Allocated,
            A::Released => FrameHistoryAction::Released,
            A::Spent => FrameHistoryAction::Spent,
        }
    }
}

/// One change of a frame or of one of its allocations: who, when, why, and the frame's
/// numbers after it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 3, "allocation_id": "0d7f4c1a-8e2b-4b6d-9a3c-5e1f2a3b4c5d", "occurred_at": "2022-10-20T12:00:00Z", "actor_subject": "kari.nordmann", "actor_org": "991324968", "request_id": "5f0c6c1e-8d0b-4a53-9a52-8e0f3c4f2a10", "action": "allocated", "delta_nok": 250000, "amount_nok": 10000000, "allocated_nok": 7500000, "spent_nok": 1200000, "reason": "Forprosjekt: felles meldingsformat"}))]
pub struct FrameHistoryEntry {
    pub id: i64,
    pub allocation_id: Option<Uuid>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub occurred_at: DateTime<Utc>,
    /// Who made the change (the token's subject).
    pub actor_subject: String,
    pub actor_org: Option<String>,
    pub request_id: String,
    pub action: FrameHistoryAction,
    /// The change in NOK (of the amount, of what is allocated, or of what is spent).
    pub delta_nok: i64,
    pub amount_nok: i64,
    pub allocated_nok: i64,
    pub spent_nok: i64,
    /// Why.
    pub reason: String,
}

impl From<HistoryRow> for FrameHistoryEntry {
    fn from(r: HistoryRow) -> Self {
        FrameHistoryEntry {
            id: r.id,
            allocation_id: r.allocation_id,
            occurred_at: r.occurred_at,
            actor_subject: r.actor_subject,
            actor_org: r.actor_org,
            request_id: r.request_id,
            action: r.action.into(),
            delta_nok: r.delta_nok,
            amount_nok: r.amount_nok,
            allocated_nok: r.allocated_nok,
            spent_nok: r.spent_nok,
            reason: r.reason,
        }
    }
}

crate::page_type!(
    FrameHistoryPage,
    FrameHistoryEntry,
    "A page of a frame's history, oldest first."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct FrameQuery {
    /// Only this year's frames.
    #[param(minimum = 2000, maximum = 2100, example = 2023)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: Option<i32>,
    /// Only this sub-portfolio.
    #[param(schema_with = sub_portfolio_schema)]
    pub sub_portfolio: Option<SubPortfolio>,
}

/// A new budget frame.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"year": 2024, "sub_portfolio": "concept_studies", "amount_nok": 10000000, "reason": "Vedtatt budsjett 2024"}))]
pub struct NewFrame {
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    #[schema(schema_with = sub_portfolio_schema)]
    pub sub_portfolio: SubPortfolio,
    /// Whole NOK, ≥ 0.
    #[validate(range(min = 0))]
    #[schema(minimum = 0)]
    pub amount_nok: i64,
    /// Why the frame is set up (kept in its history); defaults to "frame created".
    #[validate(length(min = 1, max = 2000), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: Option<String>,
}

/// A new amount for a frame, and why.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_nok": 12000000, "reason": "Revidert budsjett juni 2023"}))]
pub struct ChangeFrameAmount {
    /// Whole NOK; never below what is already allocated.
    #[validate(range(min = 0))]
    #[schema(minimum = 0)]
    pub amount_nok: i64,
    #[validate(length(min = 1, max = 2000), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// Money to allocate from a frame, and what for.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_nok": 250000, "purpose": "Forprosjekt: felles meldingsformat"}))]
pub struct NewAllocation {
    /// Whole NOK, > 0.
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub amount_nok: i64,
    #[validate(length(min = 1, max = 2000), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2000)]
    pub purpose: String,
}

/// Why an allocation is released.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Forprosjektet ble avlyst"}))]
pub struct ReleaseAllocation {
    #[validate(length(min = 1, max = 2000), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// List budget frames
///
/// Frames with their report (amount, allocated, remaining, spent). Needs `portfolio:read`.
#[utoipa::path(
    tag = "budget frames",
    params(FrameQuery, PageQuery),
    responses((status = 200, description = "A page of budget frames", body = FramePage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_frames(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<FrameQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<FramePage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after = page.after::<(i32, String, Uuid)>()?;
    let limit = page.limit();
    let f = filter.into_inner();
    let rows = db
        .run::<_, ApiError, _>(move |conn| {
            Ok(budget::list_frames(
                conn,
                f.year,
                f.sub_portfolio,
                after,
                limit,
            )?)
        })
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| {
        (r.year, r.sub_portfolio.as_str().to_owned(), r.id)
    });
    Ok(web::Json(FramePage {
        items: rows.into_iter().map(Frame::from).collect(),
        next_cursor,
    }))
}

/// Get a budget frame and its report
///
/// Amount, allocated, remaining and spent, read in one consistent snapshot. Needs `portfolio:read`.
#[utoipa::path(
    tag = "budget frames",
    params(("id" = Uuid, Path, description = "Budget frame id", example = "2c1c389d-1150-638f-aefd-a407e286f431")),
    responses(
        (status = 200, description = "The frame", body = Frame, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such frame", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_frame(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let row = db
        .run(move |conn| budget::find_frame(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("budget frame {id}")))?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Frame::from(row),
        version,
    ))
}

/// Create a budget frame
///
/// One frame per year and sub-portfolio. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "budget frames",
    request_body = NewFrame,
    responses(
        (status = 201, description = "Created", body = Frame, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new frame"))),
        (status = 409, description = "The year already has a frame for this sub-portfolio", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_frame(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewFrame>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let new = body.0;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            let reason = new
                .reason
                .as_deref()
                .map(str::trim)
                .unwrap_or("frame created");
            budget::create_frame(
                conn,
                &actor,
                new.year,
                new.sub_portfolio,
                new.amount_nok,
                reason,
            )
        })
        .await?;
    let version = row.version;
    let resp = crate::etag::created_at(format!("/api/v1/budget-frames/{}", row.id));
    Ok(json_with_etag(resp, &Frame::from(row), version))
}

/// Change a frame's amount
///
/// The frame can never be set below what is already allocated (409). The reason is kept in
/// the frame's history. Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "budget frames",
    params(
        ("id" = Uuid, Path, description = "Budget frame id", example = "2c1c389d-1150-638f-aefd-a407e286f431"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = ChangeFrameAmount,
    responses(
        (status = 200, description = "Changed", body = Frame, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such frame", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new amount is below what is allocated", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[patch("/{id}")]
pub async fn change_frame(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<ChangeFrameAmount>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let change = body.0;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            budget::change_amount(
                conn,
                &actor,
                id,
                &if_match,
                change.amount_nok,
                change.reason.trim(),
            )
        })
        .await?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Frame::from(row),
        version,
    ))
}

/// Allocate money from a frame
///
/// Allocates `amount_nok` for a purpose, or fails with 409 when the frame's remaining money
/// does not cover it — also when many requests race: the frame row is locked and a CHECK
/// constraint guarantees allocated ≤ amount. Concept studies' budgets are allocated by board
/// decisions the same way. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "budget frames",
    params(("id" = Uuid, Path, description = "Budget frame id", example = "2c1c389d-1150-638f-aefd-a407e286f431")),
    request_body = NewAllocation,
    responses(
        (status = 201, description = "Allocated", body = Allocation, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new allocation"))),
        (status = 404, description = "No such frame", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The frame's remaining money does not cover the amount", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/allocations")]
pub async fn create_allocation(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    body: ValidJson<NewAllocation>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let frame_id = path.into_inner();
    let new = body.0;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            budget::allocate(conn, &actor, frame_id, new.amount_nok, new.purpose.trim())
        })
        .await?;
    let version = row.version;
    let resp = crate::etag::created_at(format!(
        "/api/v1/budget-frames/{frame_id}/allocations/{}",
        row.id
    ));
    Ok(json_with_etag(resp, &Allocation::from(row), version))
}

/// List a frame's allocations
///
/// Oldest first. Needs `portfolio:read`.
#[utoipa::path(
    tag = "budget frames",
    params(("id" = Uuid, Path, description = "Budget frame id", example = "2c1c389d-1150-638f-aefd-a407e286f431"), PageQuery),
    responses(
        (status = 200, description = "A page of allocations", body = AllocationPage),
        (status = 404, description = "No such frame", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/allocations")]
pub async fn list_allocations(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<AllocationPage>, ApiError> {
    caller.require(Permission::Read)?;
    page.check()?;
    let frame_id = path.into_inner();
    let after = page.after::<(DateTime<Utc>, Uuid)>()?;
    let limit = page.limit();
    let rows = db
        .run::<_, ApiError, _>(move |conn| {
            budget::find_frame(conn, frame_id)?
                .ok_or_else(|| ApiError::not_found(format!("budget frame {frame_id}")))?;
            Ok(budget::list_allocations(conn, frame_id, after, limit)?)
        })
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| (r.created_at, r.id));
    Ok(web::Json(AllocationPage {
        items: rows.into_iter().map(Allocation::from).collect(),
        next_cursor,
    }))
}

/// Get an allocation
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "budget frames",
    params(
        ("id" = Uuid, Path, description = "Budget frame id", example = "2c1c389d-1150-638f-aefd-a407e286f431"),
        ("allocation_id" = Uuid, Path, description = "Allocation id", example = "78a8b9aa-3561-3be3-02a2-82e12567219c")
    ),
    responses(
        (status = 200, description = "The allocation", body = Allocation, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such allocation in this frame", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/allocations/{allocation_id}")]
pub async fn get_allocation(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (frame_id, id) = path.into_inner();
    let row = db
        .run(move |conn| budget::find_allocation(conn, frame_id, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("budget allocation {id}")))?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Allocation::from(row),
        version,
    ))
}

/// Release an allocation
///
/// Gives the unspent part of a direct allocation back to its frame (what was spent stays).
/// A concept study's allocation is released only by a board decision cancelling the study
/// (409). Needs `portfolio:manage` and `If-Match` with the allocation's ETag.
#[utoipa::path(
    tag = "budget frames",
    params(
        ("id" = Uuid, Path, description = "Budget frame id", example = "2c1c389d-1150-638f-aefd-a407e286f431"),
        ("allocation_id" = Uuid, Path, description = "Allocation id", example = "78a8b9aa-3561-3be3-02a2-82e12567219c"),
        ("If-Match" = String, Header, description = "The allocation's ETag the change is based on", example = "\"v1\"")
    ),
    request_body = ReleaseAllocation,
    responses(
        (status = 200, description = "Released", body = Allocation, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such allocation in this frame", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already released, or a study's allocation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/allocations/{allocation_id}/release")]
pub async fn release_allocation(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: ValidJson<ReleaseAllocation>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let (frame_id, id) = path.into_inner();
    let reason = body.0.reason.trim().to_owned();
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| budget::release(conn, &actor, frame_id, id, &if_match, &reason))
        .await?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Allocation::from(row),
        version,
    ))
}

/// A frame's history
///
/// Every change of the frame or one of its allocations — who, when, why, and the frame's
/// numbers after it — oldest first. Needs `portfolio:read`.
#[utoipa::path(
    tag = "budget frames",
    params(("id" = Uuid, Path, description = "Budget frame id", example = "2c1c389d-1150-638f-aefd-a407e286f431"), PageQuery),
    responses(
        (status = 200, description = "A page of history entries", body = FrameHistoryPage),
        (status = 404, description = "No such frame", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/history")]
pub async fn frame_history(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<FrameHistoryPage>, ApiError> {
    caller.require(Permission::Read)?;
    page.check()?;
    let frame_id = path.into_inner();
    let after = page.after::<i64>()?;
    let limit = page.limit();
    let rows = db
        .run::<_, ApiError, _>(move |conn| {
            budget::find_frame(conn, frame_id)?
                .ok_or_else(|| ApiError::not_found(format!("budget frame {frame_id}")))?;
            Ok(budget::history(conn, frame_id, after, limit)?)
        })
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.id);
    Ok(web::Json(FrameHistoryPage {
        items: rows.into_iter().map(FrameHistoryEntry::from).collect(),
        next_cursor,
    }))
}
