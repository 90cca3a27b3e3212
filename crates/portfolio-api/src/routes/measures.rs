//! `/api/v1/measures`: the improvement portfolio's measures (tiltak), their lifecycle and
//! delivery-status history.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use portfolio_domain::measure::{MeasureStatus, Milestone, Rag, ServiceAreaKind};
use portfolio_domain::need::Origin;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{nine_digits, no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::measures::{
    self, HistoryRow, MeasureEdit, MeasureFilter, MeasureWithSuppliers, NewMeasureData,
};

crate::enum_schema!(
    measure_status_schema,
    MeasureStatus,
    "Lifecycle of a measure: `proposed` → `planned` → `in_delivery` → `delivered`; `on_hold` and `cancelled` on the way."
);
crate::enum_schema!(
    rag_schema,
    Rag,
    "Delivery health: `green` = on plan, `yellow` = some deviation from plan, `red` = significant deviation or very likely not delivered as planned."
);
crate::enum_schema!(
    origin_schema,
    Origin,
    "Where the need for the measure came from."
);
crate::enum_schema!(
    area_kind_schema,
    ServiceAreaKind,
    "Kind of service area: `clinical` or `administrative`."
);

/// A planned step of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Pilot på Ahus", "planned_date": "2024-01-15", "done_date": null}))]
pub struct MilestoneBody {
    /// What is delivered at this step (unique within the status).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// RFC 3339 full-date (YYYY-MM-DD), years 2000–2100.
    #[serde(deserialize_with = "crate::dates::strict")]
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub planned_date: NaiveDate,
    /// When it was done; absent while it is not. RFC 3339 full-date, years 2000–2100.
    #[serde(default, deserialize_with = "crate::dates::strict_opt")]
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub done_date: Option<NaiveDate>,
}

impl From<Milestone> for MilestoneBody {
    fn from(m: Milestone) -> Self {
        MilestoneBody {
            name: m.name,
            planned_date: m.planned_date,
            done_date: m.done_date,
        }
    }
}

impl From<MilestoneBody> for Milestone {
    fn from(m: MilestoneBody) -> Self {
        Milestone {
            name: m.name,
            planned_date: m.planned_date,
            done_date: m.done_date,
        }
    }
}

/// The current delivery status of a measure, as last reported by the IT partner.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryStatusView {
    /// Percent complete.
    #[schema(minimum = 0, maximum = 100, example = 40)]
    pub progress: u8,
    #[schema(schema_with = rag_schema)]
    pub rag: Rag,
    pub forecast_date: Option<NaiveDate>,
    pub milestones: Vec<MilestoneBody>,
    pub comment: Option<String>,
    /// Who reported it: the IT partner or a named supplier.
    #[schema(example = "Sykehuspartner HF")]
    pub reported_by: String,
    /// When the reporting system produced the status.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub source_timestamp: DateTime<Utc>,
}

impl DeliveryStatusView {
    fn of(s: portfolio_domain::measure::DeliveryStatus) -> Self {
        DeliveryStatusView {
            progress: s.progress,
            rag: s.rag,
            forecast_date: s.forecast_date,
            milestones: s.milestones.into_iter().map(Into::into).collect(),
            comment: s.comment,
            reported_by: s.reported_by,
            source_timestamp: s.source_timestamp,
        }
    }
}

/// A measure (tiltak) of the improvement portfolio.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "6a1f0e6c-0d7b-4f55-9d2a-2c4b7f9f3a10",
    "title": "Digital innsjekk poliklinikk",
    "description": "Selvbetjent innsjekk for polikliniske pasienter.",
    "service_area_id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba",
    "origin": "users",
    "system_owner": "Klinikk for kvinne og barn, OUS",
    "system_responsible": "Seksjon for pasientadministrative systemer",
    "partner_reference": "SP-2023-0042",
    "status": "in_delivery",
    "supplier_org_numbers": ["923609024"],
    "delivery_status": {"progress": 40, "rag": "yellow", "forecast_date": "2024-03-01",
        "milestones": [{"name": "Pilot på Ahus", "planned_date": "2024-01-15", "done_date": null}],
        "comment": "Forsinket leveranse fra underleverandør", "reported_by": "Sykehuspartner HF",
        "source_timestamp": "2023-11-20T08:00:00Z"},
    "version": 3
}))]
pub struct Measure {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub service_area_id: Uuid,
    #[schema(schema_with = origin_schema)]
    pub origin: Origin,
    pub system_owner: String,
    pub system_responsible: String,
    /// The IT partner's own reference (unique); the delivery-status sync is keyed by it.
    pub partner_reference: String,
    #[schema(schema_with = measure_status_schema)]
    pub status: MeasureStatus,
    /// Organisation numbers of the suppliers delivering with the IT partner.
    pub supplier_org_numbers: Vec<String>,
    /// Absent until the IT partner first reports a status.
    pub delivery_status: Option<DeliveryStatusView>,
    /// Version of this representation (also its ETag).
    pub version: i32,
}

impl From<MeasureWithSuppliers> for Measure {
    fn from(m: MeasureWithSuppliers) -> Self {
        let delivery_status = m.measure.delivery_status().map(DeliveryStatusView::of);
        let r = m.measure;
        Measure {
            id: r.id,
            title: r.title,
            description: r.description,
            service_area_id: r.service_area_id,
            origin: r.origin,
            system_owner: r.system_owner,
            system_responsible: r.system_responsible,
            partner_reference: r.partner_reference,
            status: r.status,
            supplier_org_numbers: m.suppliers,
            delivery_status,
            version: r.version,
        }
    }
}

crate::page_type!(
    MeasurePage,
    Measure,
    "A page of measures, ordered by the IT partner's reference."
);

/// One recorded delivery status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryHistoryEntry {
    pub id: i64,
    pub progress: i16,
    #[schema(schema_with = rag_schema)]
    pub rag: Rag,
    pub forecast_date: Option<NaiveDate>,
    pub milestones: Vec<MilestoneBody>,
    pub comment: Option<String>,
    pub reported_by: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub source_timestamp: DateTime<Utc>,
    /// When this API stored it.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub recorded_at: DateTime<Utc>,
    /// The sync batch that brought it.
    pub batch_id: Option<Uuid>,
}

impl From<HistoryRow> for DeliveryHistoryEntry {
    fn from(h: HistoryRow) -> Self {
        DeliveryHistoryEntry {
            id: h.id,
            progress: h.progress,
            rag: h.rag,
            forecast_date: h.forecast_date,
            milestones: serde_json::from_value(h.milestones).unwrap_or_default(),
            comment: h.comment,
            reported_by: h.reported_by,
            source_timestamp: h.source_timestamp,
            recorded_at: h.recorded_at,
            batch_id: h.batch_id,
        }
    }
}

crate::page_type!(
    DeliveryHistoryPage,
    DeliveryHistoryEntry,
    "A page of a measure's delivery-status history, newest first."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct MeasureQuery {
    /// Only measures of this year's service areas.
    #[param(minimum = 2000, maximum = 2100, example = 2023)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: Option<i32>,
    /// Only measures of this service area.
    pub service_area_id: Option<Uuid>,
    /// Only measures of clinical or of administrative areas.
    #[param(schema_with = area_kind_schema)]
    pub area_kind: Option<String>,
    /// Only measures in this lifecycle status.
    #[param(schema_with = measure_status_schema)]
    pub status: Option<String>,
    /// Only measures whose current delivery health is this.
    #[param(schema_with = rag_schema)]
    pub rag: Option<String>,
    /// Only measures delivered with this supplier (organisation number).
    #[param(
        example = "923609024",
        min_length = 9,
        max_length = 9,
        pattern = "^[0-9]{9}$"
    )]
    #[validate(custom(function = "nine_digits"))]
    pub supplier: Option<String>,
}

fn parse_enum<T: std::str::FromStr>(
    v: &Option<String>,
    pointer: &str,
) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    v.as_deref()
        .map(|s| {
            s.parse::<T>()
                .map_err(|e| ApiError::invalid(pointer, e.to_string()))
        })
        .transpose()
}

/// A new measure. It starts as `proposed`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Digital innsjekk poliklinikk",
    "description": "Selvbetjent innsjekk for polikliniske pasienter.",
    "service_area_id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba",
    "origin": "users",
    "system_owner": "Klinikk for kvinne og barn, OUS",
    "system_responsible": "Seksjon for pasientadministrative systemer",
    "partner_reference": "SP-2023-0042",
    "supplier_org_numbers": []
}))]
pub struct NewMeasure {
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    #[validate(length(max = 10000), custom(function = "no_nul"))]
    #[schema(max_length = 10000)]
    pub description: String,
    /// A (not retired) service area; the measure belongs to that area's year.
    pub service_area_id: Uuid,
    #[schema(schema_with = origin_schema)]
    pub origin: String,
    /// The unit or person owning the service area.
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub system_owner: String,
    /// The unit or person responsible for the system.
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub system_responsible: String,
    /// The IT partner's own reference; unique.
    #[validate(length(min = 1, max = 100), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 100)]
    pub partner_reference: String,
    /// Registered organisations of kind `supplier`.
    #[serde(default)]
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub supplier_org_numbers: Vec<String>,
}

/// Changes to a measure; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Digital innsjekk poliklinikk og dagbehandling", "supplier_org_numbers": ["923609024"]}))]
pub struct EditMeasure {
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[validate(length(max = 10000), custom(function = "no_nul"))]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    pub service_area_id: Option<Uuid>,
    #[schema(schema_with = origin_schema)]
    pub origin: Option<String>,
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub system_owner: Option<String>,
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub system_responsible: Option<String>,
    #[validate(length(min = 1, max = 100), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 100)]
    pub partner_reference: Option<String>,
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub supplier_org_numbers: Option<Vec<String>>,
}

/// A lifecycle change.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "planned"}))]
pub struct MeasureStatusChange {
    #[schema(schema_with = measure_status_schema)]
    pub status: String,
}

fn blank(pointer: &str, v: &str, errors: &mut Vec<FieldError>) {
    if v.trim().is_empty() {
        errors.push(FieldError::new(pointer, "must not be blank"));
    }
}

fn check_supplier_list(list: &[String], errors: &mut Vec<FieldError>) {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in list.iter().enumerate() {
        if let Err(e) = portfolio_domain::organisation::OrgNumber::parse(s) {
            errors.push(FieldError::new(
                format!("/supplier_org_numbers/{i}"),
                e.to_string(),
            ));
        } else if !seen.insert(s) {
            errors.push(FieldError::new(
                format!("/supplier_org_numbers/{i}"),
                "appears more than once",
            ));
        }
    }
}

/// The origin, or `None` with the problem added to `errors`.
fn check_origin(origin: &str, errors: &mut Vec<FieldError>) -> Option<Origin> {
    origin
        .parse::<Origin>()
        .map_err(|e| errors.push(FieldError::new("/origin", e.to_string())))
        .ok()
}

fn done(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

/// List measures
///
/// Measures of the improvement portfolio, filtered by year, service area, kind of area,
/// lifecycle status, delivery health (RAG) or supplier. Needs `portfolio:read`.
#[utoipa::path(
    tag = "improvement portfolio",
    params(MeasureQuery, PageQuery),
    responses((status = 200, description = "A page of measures", body = MeasurePage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_measures(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<MeasureQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<MeasurePage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let area_kind = parse_enum::<ServiceAreaKind>(&filter.area_kind, "/query/area_kind")?;
    let status = parse_enum::<MeasureStatus>(&filter.status, "/query/status")?;
    let rag = parse_enum::<Rag>(&filter.rag, "/query/rag")?;
    let after: Option<String> = page.after()?;
    let limit = page.limit();
    let q = filter.into_inner();
    let f = MeasureFilter {
        year: q.year,
        service_area_id: q.service_area_id,
        area_kind,
        status,
        rag,
        supplier: q.supplier,
    };
    let rows = db
        .run(move |conn| measures::list_measures(conn, &f, after, limit))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.measure.partner_reference.clone());
    Ok(web::Json(MeasurePage {
        items: rows.into_iter().map(Measure::from).collect(),
        next_cursor,
    }))
}

/// Get a measure
///
/// The measure with its suppliers and current delivery status. Needs `portfolio:read`.
#[utoipa::path(
    tag = "improvement portfolio",
    params(("id" = Uuid, Path, description = "Measure id", example = "d77e302f-ec96-4b70-9af4-78919d069485")),
    responses(
        (status = 200, description = "The measure", body = Measure, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such measure", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_measure(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let row = db
        .run(move |conn| measures::find_measure(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("measure {id}")))?;
    let version = row.measure.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Measure::from(row),
        version,
    ))
}

/// Create a measure
///
/// Adds a measure to the improvement portfolio as `proposed`. The service area must not be
/// retired; suppliers must be registered organisations of kind `supplier`; the IT partner's
/// reference is unique. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "improvement portfolio",
    request_body = NewMeasure,
    responses(
        (status = 201, description = "Created", body = Measure, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new measure"))),
        (status = 409, description = "The reference is taken, or the service area is retired", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_measure(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewMeasure>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let b = body.0;
    let mut errors = Vec::new();
    blank("/title", &b.title, &mut errors);
    blank("/system_owner", &b.system_owner, &mut errors);
    blank("/system_responsible", &b.system_responsible, &mut errors);
    blank("/partner_reference", &b.partner_reference, &mut errors);
    let origin = check_origin(&b.origin, &mut errors);
    check_supplier_list(&b.supplier_org_numbers, &mut errors);
    done(errors)?;
    let origin = origin.ok_or_else(|| ApiError::internal("the origin was checked above"))?;
    let new = NewMeasureData {
        title: b.title.trim().to_owned(),
        description: b.description,
        service_area_id: b.service_area_id,
        origin,
        system_owner: b.system_owner.trim().to_owned(),
        system_responsible: b.system_responsible.trim().to_owned(),
        partner_reference: b.partner_reference.trim().to_owned(),
        suppliers: b.supplier_org_numbers,
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| measures::create_measure(conn, &actor, new))
        .await?;
    let version = row.measure.version;
    let resp = crate::etag::created_at(format!("/api/v1/measures/{}", row.measure.id));
    Ok(json_with_etag(resp, &Measure::from(row), version))
}

/// Edit a measure
///
/// Changes the measure's descriptive fields, service area, reference or suppliers (the
/// lifecycle has its own action). Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "improvement portfolio",
    params(
        ("id" = Uuid, Path, description = "Measure id", example = "d77e302f-ec96-4b70-9af4-78919d069485"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = EditMeasure,
    responses(
        (status = 200, description = "Changed", body = Measure, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such measure", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reference is taken, or the service area is retired", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[patch("/{id}")]
pub async fn edit_measure(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<EditMeasure>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let b = body.0;
    let mut errors = Vec::new();
    for (p, v) in [
        ("/title", &b.title),
        ("/system_owner", &b.system_owner),
        ("/system_responsible", &b.system_responsible),
        ("/partner_reference", &b.partner_reference),
    ] {
        if let Some(v) = v {
            blank(p, v, &mut errors);
        }
    }
    let origin = b
        .origin
        .as_deref()
        .and_then(|o| check_origin(o, &mut errors));
    if let Some(s) = &b.supplier_org_numbers {
        check_supplier_list(s, &mut errors);
    }
    done(errors)?;
    let trim = |v: Option<String>| v.map(|s| s.trim().to_owned());
    let edit = MeasureEdit {
        title: trim(b.title),
        description: b.description,
        service_area_id: b.service_area_id,
        origin,
        system_owner: trim(b.system_owner),
        system_responsible: trim(b.system_responsible),
        partner_reference: trim(b.partner_reference),
        suppliers: b.supplier_org_numbers,
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| measures::edit_measure(conn, &actor, id, &if_match, edit))
        .await?;
    let version = row.measure.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Measure::from(row),
        version,
    ))
}

/// Change a measure's lifecycle status
///
/// Allowed: proposed → planned | cancelled; planned → in_delivery | on_hold | cancelled;
/// in_delivery → on_hold | delivered | cancelled; on_hold → planned | in_delivery | cancelled.
/// `delivered` and `cancelled` are final. Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "improvement portfolio",
    params(
        ("id" = Uuid, Path, description = "Measure id", example = "c2ac25d4-7469-4f4a-bfe6-74d88fd185b1"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = MeasureStatusChange,
    responses(
        (status = 200, description = "Changed", body = Measure, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such measure", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lifecycle does not allow this change", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/status")]
pub async fn change_measure_status(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<MeasureStatusChange>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let to: MeasureStatus = body
        .0
        .status
        .parse()
        .map_err(|e: portfolio_domain::DomainError| ApiError::invalid("/status", e.to_string()))?;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| measures::change_status(conn, &actor, id, &if_match, to))
        .await?;
    let version = row.measure.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Measure::from(row),
        version,
    ))
}

/// A measure's delivery-status history
///
/// Every delivery status stored for the measure, newest first. Needs `portfolio:read`.
#[utoipa::path(
    tag = "improvement portfolio",
    params(("id" = Uuid, Path, description = "Measure id", example = "d77e302f-ec96-4b70-9af4-78919d069485"), PageQuery),
    responses(
        (status = 200, description = "A page of the history", body = DeliveryHistoryPage),
        (status = 404, description = "No such measure", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/delivery-history")]
pub async fn delivery_history(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<DeliveryHistoryPage>, ApiError> {
    caller.require(Permission::Read)?;
    page.check()?;
    let id = path.into_inner();
    let after: Option<i64> = page.after()?;
    let limit = page.limit();
    let rows = db
        .run(move |conn| measures::delivery_history(conn, id, after, limit))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("measure {id}")))?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.id);
    Ok(web::Json(DeliveryHistoryPage {
        items: rows.into_iter().map(DeliveryHistoryEntry::from).collect(),
        next_cursor,
    }))
}
