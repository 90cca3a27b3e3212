//! `/api/v1/concept-studies`: the concept studies the board started, and `/api/v1/concepts`:
//! the concept portfolio. Both are created only by a decision (`/decision-cases/{id}/decide`);
//! the lineage need → study → concept is embedded both ways and served whole at
//! `/api/v1/needs/{id}/lineage`.

use std::collections::HashMap;

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use portfolio_domain::study::StudyStatus;
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
use crate::store::decisions::ExpectedCompletion;
use crate::store::studies::{
    self, ConceptFilter, ConceptRow, ConceptStatusName, InterregionalEdit, NeedRef, StudyEdit,
    StudyFilter, StudyRow,
};

/// The need a study or concept came from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "3b9d3c0e-1f1a-4d8e-9a77-0c6d7e8f9a10", "reference": "B-2022-017", "cycle_year": 2022, "status": "study_started"}))]
pub struct NeedLink {
    pub id: Uuid,
    #[schema(example = "B-2022-017")]
    pub reference: String,
    pub cycle_year: i32,
    /// The need's status (`study_started` once a study is decided).
    pub status: String,
}

impl From<&NeedRef> for NeedLink {
    fn from(n: &NeedRef) -> Self {
        NeedLink {
            id: n.id,
            reference: n.reference.clone(),
            cycle_year: n.cycle_year,
            status: n.status.as_str().to_owned(),
        }
    }
}

/// A concept study (konseptutredning).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "a356d04b-b469-fcdf-db6b-a69980e03b79", "need": {"id": "3b9d3c0e-1f1a-4d8e-9a77-0c6d7e8f9a10", "reference": "B-2022-017", "cycle_year": 2022, "status": "study_started"}, "purpose": null, "cycle_year": 2022, "title": "Nasjonalt genomsenter", "responsible_org": "991324968", "interregional": true, "on_behalf_of": ["991324968", "983658725", "983658776", "883658752"], "frame_id": "6f1c2a4e-2b7d-4c55-9d0e-3a8b9c1d2e3f", "allocated_nok": 1500000, "spent_nok": 400000, "unspent_nok": 1100000, "status": "in_progress", "expected_completion": {"from": "2023-08-15", "to": "2023-10-15", "label": "sensommer/tidlig høst 2023"}, "decision_case_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "concept_id": null, "version": 3, "created_at": "2022-10-20T12:00:00Z", "updated_at": "2023-03-01T09:00:00Z"}))]
pub struct Study {
    pub id: Uuid,
    /// The need the study is for; `null` for a study the board started in addition to the
    /// cycle's needs (see `purpose`).
    pub need: Option<NeedLink>,
    /// What a study started in addition to the cycle's needs is for (`null` for a study of a
    /// need, which says it).
    pub purpose: Option<String>,
    /// The needs cycle the study belongs to.
    pub cycle_year: i32,
    pub title: String,
    /// Organisation number of the organisation responsible.
    pub responsible_org: String,
    /// Run by one region on behalf of several.
    pub interregional: bool,
    /// The regional authorities an interregional study is run on behalf of.
    pub on_behalf_of: Vec<String>,
    /// The budget frame the money came from.
    pub frame_id: Uuid,
    pub allocated_nok: i64,
    /// Spent to date, never above `allocated_nok`.
    pub spent_nok: i64,
    pub unspent_nok: i64,
    pub status: StudyStatusName,
    pub expected_completion: Option<ExpectedCompletion>,
    /// The decision case that started it.
    pub decision_case_id: Uuid,
    /// The concept the study yielded, if any.
    pub concept_id: Option<Uuid>,
    /// Version of this representation (also its ETag).
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

fn study(r: StudyRow, need: Option<&NeedRef>, concept_id: Option<Uuid>) -> Study {
    let status = StudyStatusName::of(r.status);
    let expected_completion = match (r.expected_from, r.expected_to) {
        (Some(from), Some(to)) => Some(ExpectedCompletion {
            from,
            to,
            label: r.expected_label.clone(),
        }),
        _ => None,
    };
    Study {
        id: r.id,
        need: r.need_id.map(|id| {
            need.map(NeedLink::from).unwrap_or(NeedLink {
                id,
                reference: String::new(),
                cycle_year: r.cycle_year,
                status: String::new(),
            })
        }),
        purpose: r.purpose.clone(),
        cycle_year: r.cycle_year,
        title: r.title,
        responsible_org: r.responsible_org.into(),
        interregional: r.interregional,
        on_behalf_of: r.on_behalf_of.into_iter().map(Into::into).collect(),
        frame_id: r.frame_id,
        allocated_nok: r.allocated_nok,
        spent_nok: r.spent_nok,
        unspent_nok: r.allocated_nok - r.spent_nok,
        status,
        expected_completion,
        decision_case_id: r.decision_case_id,
        concept_id,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Studies with their need and concept links, loaded with one query per table.
fn with_links(conn: &mut PgConnection, rows: Vec<StudyRow>) -> Result<Vec<Study>, ApiError> {
    let need_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.need_id).collect();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let needs: HashMap<Uuid, NeedRef> = studies::needs_by_id(conn, &need_ids, false)?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    let concepts: HashMap<Uuid, Uuid> = studies::concepts_of_studies(conn, &ids)?
        .into_iter()
        .map(|c| (c.study_id, c.id))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let n = r.need_id.and_then(|id| needs.get(&id));
            let c = concepts.get(&r.id).copied();
            study(r, n, c)
        })
        .collect())
}

crate::page_type!(
    StudyPage,
    Study,
    "A page of concept studies, ordered by cycle year and start."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct StudyQuery {
    /// Only studies of this cycle year.
    #[param(minimum = 2000, maximum = 2100, example = 2022)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: Option<i32>,
    /// Only studies with this status.
    pub status: Option<StudyStatusName>,
    /// Only interregional (true) or only regional (false) studies.
    pub interregional: Option<bool>,
    /// Only the study of this need.
    pub need_id: Option<Uuid>,
}

/// List concept studies
///
/// Filter by year, status, interregional and need. Needs `portfolio:read`.
#[utoipa::path(
    tag = "concept studies",
    params(StudyQuery, PageQuery),
    responses((status = 200, description = "A page of studies", body = StudyPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_studies(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<StudyQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<StudyPage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after = page.after::<(i32, DateTime<Utc>, Uuid)>()?;
    let limit = page.limit();
    let q = filter.into_inner();
    let f = StudyFilter {
        year: q.year,
        status: q.status.map(|s| s.domain()),
        interregional: q.interregional,
        need_id: q.need_id,
    };
    let (items, next_cursor) = db
        .run::<_, ApiError, _>(move |conn| {
            let rows = studies::list_studies(conn, &f, after, limit)?;
            let (rows, next) = paginate(rows, limit, |r| (r.cycle_year, r.created_at, r.id));
            Ok((with_links(conn, rows)?, next))
        })
        .await?;
    Ok(web::Json(StudyPage { items, next_cursor }))
}

/// Get a concept study
///
/// With links to its need and concept. Needs `portfolio:read`.
#[utoipa::path(
    tag = "concept studies",
    params(("id" = Uuid, Path, description = "Study id", example = "29f6b686-0443-eb3b-c889-1a2753a11a59")),
    responses(
        (status = 200, description = "The study", body = Study, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such study", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_study(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let s = db
        .run::<_, ApiError, _>(move |conn| {
            let row = studies::find_study(conn, id)?
                .ok_or_else(|| ApiError::not_found(format!("concept study {id}")))?;
            Ok(with_links(conn, vec![row])?.remove(0))
        })
        .await?;
    let version = s.version;
    Ok(json_with_etag(HttpResponse::Ok(), &s, version))
}

/// Each entry an organisation number's shape (nine digits).
fn org_numbers(list: &[String]) -> Result<(), validator::ValidationError> {
    list.iter().try_for_each(|o| crate::extract::nine_digits(o))
}

/// The portfolio office's report on a study.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"spent_to_date_nok": 400000, "expected_completion": {"from": "2023-08-15", "to": "2023-10-15", "label": "sensommer/tidlig høst 2023"}, "interregional": true, "on_behalf_of": ["991324968", "983658725", "983658776", "883658752"], "reason": "Tertialrapport 1/2023; utredningen kjøres på vegne av de fire regionene"}))]
pub struct StudyReport {
    /// Total spent to date in NOK: never less than before, never above what is allocated
    /// (more money needs a board decision).
    #[validate(range(min = 0))]
    #[schema(minimum = 0)]
    pub spent_to_date_nok: Option<i64>,
    /// A new expected completion.
    pub expected_completion: Option<ExpectedCompletion>,
    /// A correction of the study's interregional status: `true` when it is run by one region
    /// on behalf of several (then its responsible organisation must be a regional health
    /// authority), `false` when it is not (its `on_behalf_of` is then cleared).
    pub interregional: Option<bool>,
    /// With `interregional`: the regional authorities the study is run on behalf of
    /// (organisation numbers, each once, at most 10). Absent keeps the ones already named.
    #[validate(length(max = crate::limits::ON_BEHALF_OF_MAX), custom(function = "org_numbers"))]
    #[schema(max_items = 10, example = json!(["991324968", "983658725", "983658776", "883658752"]))]
    pub on_behalf_of: Option<Vec<String>>,
    /// Why (kept in the budget frame's history with the spending).
    #[validate(length(min = 1, max = 2000), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// Report on a study
///
/// Reports spent-to-date (a new total, never above what is allocated) and/or a new
/// expected completion, and/or corrects whether the study is interregional (run by one
/// region on behalf of the regions in `on_behalf_of`). Needs `portfolio:manage` and
/// `If-Match`.
#[utoipa::path(
    tag = "concept studies",
    params(
        ("id" = Uuid, Path, description = "Study id", example = "29f6b686-0443-eb3b-c889-1a2753a11a59"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = StudyReport,
    responses(
        (status = 200, description = "Updated", body = Study, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such study", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Spent would exceed the allocation or go down", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, e.g. `on_behalf_of` names an organisation that is not a regional health authority", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[patch("/{id}")]
pub async fn report_study(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<StudyReport>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let r = body.0;
    if r.on_behalf_of.is_some() && r.interregional.is_none() {
        return Err(ApiError::invalid(
            "/interregional",
            "is required with on_behalf_of (true: the study is run on behalf of those regions)",
        ));
    }
    if r.spent_to_date_nok.is_none() && r.expected_completion.is_none() && r.interregional.is_none()
    {
        return Err(ApiError::invalid(
            "",
            "report spent_to_date_nok, expected_completion or interregional",
        ));
    }
    let mut expected = None;
    if let Some(e) = r.expected_completion {
        if e.from > e.to {
            return Err(ApiError::invalid(
                "/expected_completion/to",
                "is before `from`",
            ));
        }
        if e.label
            .as_ref()
            .is_some_and(|l| l.trim().is_empty() || l.chars().count() > 200)
        {
            return Err(ApiError::invalid(
                "/expected_completion/label",
                "length must be between 1 and 200",
            ));
        }
        expected = Some((e.from, e.to, e.label));
    }
    let edit = StudyEdit {
        spent_to_date_nok: r.spent_to_date_nok,
        expected,
        interregional: r.interregional.map(|interregional| InterregionalEdit {
            interregional,
            on_behalf_of: r.on_behalf_of,
        }),
        reason: r.reason.trim().to_owned(),
    };
    let actor = Actor::of(&caller);
    let s = db
        .transaction::<_, ApiError, _>(move |conn| {
            let row = studies::edit_study(conn, &actor, id, &if_match, edit)?;
            Ok(with_links(conn, vec![row])?.remove(0))
        })
        .await?;
    let version = s.version;
    Ok(json_with_etag(HttpResponse::Ok(), &s, version))
}

/// A study status change the portfolio office makes.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "in_progress"}))]
pub struct StudyTransition {
    /// `in_progress` (from `not_started`) or `completed` (from `in_progress`); pausing,
    /// resuming and cancelling are board decisions.
    pub to: StudyStatusName,
}

/// Start or complete a study
///
/// The operational status changes: `not_started → in_progress` and
/// `in_progress → completed`. Every other change is refused (409): pause, resume and
/// cancel are decided by the board in a decision case, and the state machine forbids the
/// rest. Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "concept studies",
    params(
        ("id" = Uuid, Path, description = "Study id", example = "918a3ef3-ecaf-63c2-27c5-19098b34ae28"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = StudyTransition,
    responses(
        (status = 200, description = "Changed", body = Study, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such study", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an allowed change, or one the board decides", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/status")]
pub async fn change_study_status(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<StudyTransition>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let to = body.0.to.domain();
    let actor = Actor::of(&caller);
    let s = db
        .transaction::<_, ApiError, _>(move |conn| {
            let row = studies::change_study_status(conn, &actor, id, &if_match, to)?;
            Ok(with_links(conn, vec![row])?.remove(0))
        })
        .await?;
    let version = s.version;
    Ok(json_with_etag(HttpResponse::Ok(), &s, version))
}

/// A concept in the concept portfolio.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "title": "Automatisert overføring av data til kvalitetsregistre", "description": "", "status": "active", "study_id": "a356d04b-b469-fcdf-db6b-a69980e03b79", "need": {"id": "3b9d3c0e-1f1a-4d8e-9a77-0c6d7e8f9a10", "reference": "B-2022-017", "cycle_year": 2022, "status": "study_started"}, "decision_case_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "version": 1, "created_at": "2023-06-01T12:00:00Z", "updated_at": "2023-06-01T12:00:00Z"}))]
pub struct Concept {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub status: ConceptStatusName,
    /// The completed study it came from.
    pub study_id: Uuid,
    /// The need the study was for; `null` when the study was started in addition to the
    /// cycle's needs.
    pub need: Option<NeedLink>,
    /// The decision that recorded it.
    pub decision_case_id: Uuid,
    /// Version of this representation (also its ETag).
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

fn concept(r: ConceptRow, need: Option<&NeedRef>) -> Concept {
    Concept {
        id: r.id,
        title: r.title,
        description: r.description,
        status: ConceptStatusName::of(r.status),
        study_id: r.study_id,
        need: r.need_id.map(|id| {
            need.map(NeedLink::from).unwrap_or(NeedLink {
                id,
                reference: String::new(),
                cycle_year: 0,
                status: String::new(),
            })
        }),
        decision_case_id: r.decision_case_id,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn concepts_with_links(
    conn: &mut PgConnection,
    rows: Vec<ConceptRow>,
) -> Result<Vec<Concept>, ApiError> {
    let need_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.need_id).collect();
    let needs: HashMap<Uuid, NeedRef> = studies::needs_by_id(conn, &need_ids, false)?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let n = r.need_id.and_then(|id| needs.get(&id));
            concept(r, n)
        })
        .collect())
}

crate::page_type!(
    ConceptPage,
    Concept,
    "A page of the concept portfolio, oldest first."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct ConceptQuery {
    /// Only concepts with this status.
    pub status: Option<ConceptStatusName>,
    /// Only the concepts of this need.
    pub need_id: Option<Uuid>,
}

/// List the concept portfolio
///
/// Concepts from completed studies. Needs `portfolio:read`.
#[utoipa::path(
    tag = "concept studies",
    params(ConceptQuery, PageQuery),
    responses((status = 200, description = "A page of concepts", body = ConceptPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_concepts(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<ConceptQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<ConceptPage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after = page.after::<(DateTime<Utc>, Uuid)>()?;
    let limit = page.limit();
    let q = filter.into_inner();
    let f = ConceptFilter {
        status: q.status.map(|s| s.domain()),
        need_id: q.need_id,
    };
    let (items, next_cursor) = db
        .run::<_, ApiError, _>(move |conn| {
            let rows = studies::list_concepts(conn, &f, after, limit)?;
            let (rows, next) = paginate(rows, limit, |r| (r.created_at, r.id));
            Ok((concepts_with_links(conn, rows)?, next))
        })
        .await?;
    Ok(web::Json(ConceptPage { items, next_cursor }))
}

/// Get a concept
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "concept studies",
    params(("id" = Uuid, Path, description = "Concept id", example = "a356d04b-b469-fcdf-db6b-a69980e03b79")),
    responses(
        (status = 200, description = "The concept", body = Concept, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such concept", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_concept(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let c = db
        .run::<_, ApiError, _>(move |conn| {
            let row = studies::find_concept(conn, id)?
                .ok_or_else(|| ApiError::not_found(format!("concept {id}")))?;
            Ok(concepts_with_links(conn, vec![row])?.remove(0))
        })
        .await?;
    let version = c.version;
    Ok(json_with_etag(HttpResponse::Ok(), &c, version))
}

/// A need with the studies started for it, the concepts they yielded, and the benefits
/// planned for them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Lineage {
    pub need: NeedLink,
    pub studies: Vec<Study>,
    pub concepts: Vec<Concept>,
    /// Benefits of the need's studies and concepts, with progress as of today.
    pub benefits: Vec<crate::routes::benefits::Benefit>,
}

/// A need's lineage
///
/// need → concept study → concept → benefits, in one response. Needs `portfolio:read`.
#[utoipa::path(
    tag = "concept studies",
    params(("id" = Uuid, Path, description = "Need id", example = "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff")),
    responses(
        (status = 200, description = "The lineage", body = Lineage),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/lineage")]
pub async fn need_lineage(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<web::Json<Lineage>, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let l = db
        .run::<_, ApiError, _>(move |conn| {
            let l = studies::lineage(conn, id)?;
            let need = NeedLink::from(&l.need);
            let studies = with_links(conn, l.studies)?;
            let concepts = concepts_with_links(conn, l.concepts)?;
            let benefits = crate::store::benefits::of_need(conn, id)?;
            Ok(Lineage {
                need,
                studies,
                concepts,
                benefits: crate::routes::benefits::many(benefits, Utc::now().date_naive())?,
            })
        })
        .await?;
    Ok(web::Json(l))
}

/// A concept study's status on the wire (the domain's `StudyStatus`).
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, utoipa::ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StudyStatusName {
    NotStarted,
    InProgress,
    Paused,
    Completed,
    Cancelled,
}

impl StudyStatusName {
    pub fn domain(self) -> StudyStatus {
        match self {
            Self::NotStarted => StudyStatus::NotStarted,
            Self::InProgress => StudyStatus::InProgress,
            Self::Paused => StudyStatus::Paused,
            Self::Completed => StudyStatus::Completed,
            Self::Cancelled => StudyStatus::Cancelled,
        }
    }
    pub fn of(s: StudyStatus) -> Self {
        match s {
            StudyStatus::NotStarted => Self::NotStarted,
            StudyStatus::InProgress => Self::InProgress,
            StudyStatus::Paused => Self::Paused,
            StudyStatus::Completed => Self::Completed,
            StudyStatus::Cancelled => Self::Cancelled,
        }
    }
}
