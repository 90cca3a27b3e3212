//! `/api/v1/needs`: reported needs (behov), their first assessment and reopening.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use portfolio_domain::criteria::ScreeningResult as Outcome;
use portfolio_domain::need::{NeedReference, NeedStatus, Origin};
use portfolio_domain::service_area::ForwardingRole;
use serde::{Deserialize, Deserializer, Serialize};
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
use crate::routes::need_dependencies::NeedDependency;
use crate::store::dependencies::{dependencies_of, Dependency};
use crate::store::needs::{self as store, NeedEdit, NeedFields, NeedFilter, NeedRow};
use crate::store::StoreError;

crate::enum_schema!(origin_schema, Origin, "Where the need comes from.");
crate::enum_schema!(
    screening_outcome_schema,
    Outcome,
    "The result of screening a need against one screening criterion."
);
crate::enum_schema!(
    forwarding_role_schema,
    ForwardingRole,
    "Which of the service area's parties forwarded the need: its regional system owner (systemeier) or its system responsible (systemansvarlig)."
);

/// Who forwarded a need to the portfolio: the service area's system owner or system
/// responsible, as they were when the need was reported or edited.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"role": "system_owner", "org_number": "991324968", "name": "Fagdirektør, Helse Sør-Øst RHF"}))]
pub struct ForwardedBy {
    #[schema(schema_with = forwarding_role_schema)]
    pub role: String,
    pub org_number: String,
    /// Role or person name.
    pub name: String,
}
crate::enum_schema!(
    need_status_schema,
    NeedStatus,
    "Status of a need: submitted → accepted | rejected | withdrawn; accepted → deferred | declined | study_started (board)."
);

/// The first assessment of a need.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Assessment {
    /// Why (mandatory for a rejection).
    pub reason: Option<String>,
    /// Screening results: criterion code → `pass` or `fail` (`null` when the need left
    /// the first assessment without one, e.g. it was withdrawn).
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>, example = json!({"STRATEGI": "pass"}))]
    pub screening: Option<serde_json::Value>,
    /// Why the need was accepted although it fails a screening criterion (`null` otherwise).
    pub override_reason: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub assessed_at: Option<DateTime<Utc>>,
    pub assessed_by: Option<String>,
}

/// A reported need (behov).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "6f1c2a57-7d0e-4c4b-9a4f-0d2b5e8f9a11", "cycle_year": 2022, "reference": "B-2022-017",
    "title": "Automatisert overføring av data til kvalitetsregistre",
    "description": "Data registreres i dag manuelt i flere kvalitetsregistre.",
    "expected_benefit": "Mindre dobbeltregistrering og bedre datakvalitet.",
    "origin": "professional_community", "organisation_number": "993467049",
    "service_area_id": null, "estimated_study_cost_nok": 1500000,
    "estimated_capacity_person_months": 6,
    "dependencies": [{"kind": "requires", "other_need_id": "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff"}],
    "contact_name": "Ola Nordmann", "contact_email": "ola.nordmann@example.org",
    "status": "accepted", "forwarded_by": null,
    "assessment": {"reason": null, "screening": {"STRATEGI": "pass"}, "override_reason": null, "assessed_at": "2022-03-15T10:00:00Z", "assessed_by": "kari.nordmann"},
    "reported_by": "ola.nordmann", "created_at": "2022-02-01T09:00:00Z", "updated_at": "2022-03-15T10:00:00Z", "version": 2
}))]
pub struct Need {
    pub id: Uuid,
    pub cycle_year: i32,
    /// Human reference `B-{year}-{nnn}`, sequential per year, never reused.
    #[schema(example = "B-2022-017")]
    pub reference: String,
    pub title: String,
    pub description: String,
    pub expected_benefit: String,
    #[schema(schema_with = origin_schema)]
    pub origin: Origin,
    /// The reporting organisation.
    pub organisation_number: String,
    pub service_area_id: Option<Uuid>,
    /// Estimated cost of a concept study, in NOK.
    pub estimated_study_cost_nok: i64,
    /// Estimated IT-partner capacity the need takes, person-months a year; null when not
    /// estimated. Set with `PUT /needs/{id}/dependencies`.
    pub estimated_capacity_person_months: Option<i64>,
    /// The need's dependencies on other needs of its cycle (`requires` / `excludes`), by the
    /// other need's id. Set with `PUT /needs/{id}/dependencies`.
    pub dependencies: Vec<NeedDependency>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    #[schema(schema_with = need_status_schema)]
    pub status: NeedStatus,
    /// Who forwarded the need through its service area; `null` when reported directly.
    pub forwarded_by: Option<ForwardedBy>,
    /// Present once the need has been assessed (or withdrawn with a reason).
    pub assessment: Option<Assessment>,
    /// Subject of the token that reported it.
    pub reported_by: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl Need {
    /// The representation of a stored need with its dependencies.
    fn new(r: NeedRow, dependencies: Vec<Dependency>) -> Result<Self, ApiError> {
        let forwarded_by = r.forwarded_by()?.map(|(role, p)| ForwardedBy {
            role: role.as_str().to_owned(),
            org_number: p.org_number.to_string(),
            name: p.name,
        });
        let assessment = if r.assessed_at.is_some() || r.assessment_reason.is_some() {
            Some(Assessment {
                reason: r.assessment_reason,
                screening: r.screening,
                override_reason: r.screening_override_reason,
                assessed_at: r.assessed_at,
                assessed_by: r.assessed_by,
            })
        } else {
            None
        };
        Ok(Need {
            id: r.id,
            cycle_year: r.cycle_year,
            reference: r.reference,
            title: r.title,
            description: r.description,
            expected_benefit: r.expected_benefit,
            origin: r.origin,
            organisation_number: r.organisation_number.into(),
            service_area_id: r.service_area_id,
            estimated_study_cost_nok: r.estimated_study_cost_nok,
            estimated_capacity_person_months: r.estimated_capacity_person_months,
            dependencies: dependencies.into_iter().map(NeedDependency::from).collect(),
            contact_name: r.contact_name,
            contact_email: r.contact_email,
            status: r.status,
            forwarded_by,
            assessment,
            reported_by: r.reported_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

crate::page_type!(
    NeedPage,
    Need,
    "A page of needs, ordered by year and reference number."
);

fn not_blank(s: &str) -> Result<(), validator::ValidationError> {
    no_nul(s)?;
    if s.trim().is_empty() {
        let mut e = validator::ValidationError::new("blank");
        e.message = Some("must not be blank".into());
        return Err(e);
    }
    Ok(())
}

/// A need to report.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "cycle_year": 2023,
    "title": "Automatisert overføring av data til kvalitetsregistre",
    "description": "Data registreres i dag manuelt i flere kvalitetsregistre.",
    "expected_benefit": "Mindre dobbeltregistrering og bedre datakvalitet.",
    "origin": "professional_community",
    "organisation_number": "993467049",
    "service_area_id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba",
    "forwarded_by": "system_owner",
    "estimated_study_cost_nok": 1500000,
    "contact_name": "Ola Nordmann",
    "contact_email": "ola.nordmann@example.org"
}))]
pub struct NewNeed {
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    #[schema(minimum = 2000, maximum = 2100)]
    pub cycle_year: i32,
    #[validate(length(min = 1, max = crate::limits::TITLE_MAX), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 10000)]
    pub description: String,
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 10000)]
    pub expected_benefit: String,
    #[schema(schema_with = origin_schema)]
    pub origin: Origin,
    /// The reporting organisation; defaults to the caller's. Only the portfolio office may
    /// report for another organisation.
    #[validate(length(equal = 9))]
    #[schema(min_length = 9, max_length = 9, pattern = "^[0-9]{9}$")]
    pub organisation_number: Option<String>,
    /// A service area of the same year.
    pub service_area_id: Option<Uuid>,
    #[validate(range(min = 0, max = 100_000_000_000i64))]
    #[schema(minimum = 0)]
    pub estimated_study_cost_nok: i64,
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(max_length = 200)]
    pub contact_name: Option<String>,
    #[validate(email, length(max = 254))]
    #[schema(max_length = 254, format = "email")]
    pub contact_email: Option<String>,
    /// Which of the service area's parties forwarded the need (needs `service_area_id`, and
    /// the area must have that party); the need records that party as it is now.
    #[schema(schema_with = forwarding_role_schema)]
    pub forwarded_by: Option<ForwardingRole>,
}

/// Distinguishes an absent field (unchanged) from `null` (cleared).
fn some_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a submitted need; absent fields stay as they are, `null` clears an optional one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Automatisk overføring til kvalitetsregistre", "estimated_study_cost_nok": 1800000}))]
pub struct NeedPatch {
    #[validate(length(min = 1, max = crate::limits::TITLE_MAX), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "not_blank"))]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "not_blank"))]
    #[schema(max_length = 10000)]
    pub expected_benefit: Option<String>,
    #[schema(schema_with = origin_schema)]
    pub origin: Option<Origin>,
    #[serde(default, deserialize_with = "some_option")]
    #[schema(value_type = Option<Uuid>)]
    pub service_area_id: Option<Option<Uuid>>,
    #[validate(range(min = 0, max = 100_000_000_000i64))]
    pub estimated_study_cost_nok: Option<i64>,
    #[serde(default, deserialize_with = "some_option")]
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub contact_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "some_option")]
    #[validate(email, length(max = 254))]
    #[schema(value_type = Option<String>, max_length = 254)]
    pub contact_email: Option<Option<String>>,
    /// Which of the service area's parties forwarded the need; `null` clears it.
    #[serde(default, deserialize_with = "some_option")]
    #[schema(schema_with = forwarding_role_schema)]
    pub forwarded_by: Option<Option<ForwardingRole>>,
}

/// Filters of the need list.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct NeedQuery {
    /// Only this cycle year.
    #[param(minimum = 2000, maximum = 2100, example = 2022)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: Option<i32>,
    /// Only needs with this status.
    #[param(schema_with = need_status_schema)]
    pub status: Option<NeedStatus>,
    /// Only needs of this origin.
    #[param(schema_with = origin_schema)]
    pub origin: Option<Origin>,
    /// Only needs reported by this organisation.
    #[param(
        example = "993467049",
        min_length = 9,
        max_length = 9,
        pattern = "^[0-9]{9}$"
    )]
    #[validate(custom(function = "nine_digits"))]
    pub organisation: Option<String>,
    /// Only needs in this service area (the name every list uses for this filter): the
    /// needs its system owner and system responsible handle.
    #[param(example = "c4031f77-ebb3-4848-d6f7-e90a8da40cba")]
    pub service_area_id: Option<Uuid>,
    /// The old name of `service_area_id`, still accepted; `service_area_id` wins when both
    /// are given.
    #[deprecated = "use service_area_id"]
    pub service_area: Option<Uuid>,
    /// Free text, matched (case-insensitively) in title, description and expected benefit.
    #[param(max_length = 200, example = "kvalitetsregist")]
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    pub q: Option<String>,
}

/// A reason (optional when withdrawing).
#[derive(Debug, Deserialize, Validate, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Dekkes av et nasjonalt tiltak"}))]
pub struct WithdrawRequest {
    #[validate(length(min = 1, max = crate::limits::REASON_MAX), custom(function = "not_blank"))]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// `accepted` or `rejected`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentDecision {
    Accepted,
    Rejected,
}

/// One screening result: pass or fail.
#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreeningResult {
    /// A screening criterion of the adopted set.
    #[validate(length(min = 1, max = crate::limits::CRITERION_CODE_MAX))]
    #[schema(example = "STRATEGI", min_length = 1, max_length = 16)]
    pub code: String,
    /// Whether the need meets the criterion. Required (unless the deprecated `value` is given).
    #[schema(schema_with = screening_outcome_schema)]
    pub result: Option<Outcome>,
    /// The 0.1.0 form of `result`: 1 = pass, 0 = fail.
    #[deprecated = "give result (pass or fail)"]
    #[schema(minimum = 0, maximum = 1)]
    pub value: Option<i32>,
}

impl ScreeningResult {
    /// The result, from `result` or the deprecated `value`; problems go to `errors`.
    #[allow(deprecated)] // reads the 0.1.0 field on purpose
    fn outcome(&self, i: usize, errors: &mut Vec<FieldError>) -> Option<Outcome> {
        let at = |field: &str| format!("/screening/{i}/{field}");
        match (self.result, self.value) {
            (Some(r), None) => Some(r),
            (None, Some(1)) => Some(Outcome::Pass),
            (None, Some(0)) => Some(Outcome::Fail),
            (None, Some(_)) => {
                errors.push(FieldError::new(
                    at("value"),
                    "is 1 (pass) or 0 (fail); give result instead",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::new(at("result"), "is required: pass or fail"));
                None
            }
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    at("value"),
                    "give result or the deprecated value, not both",
                ));
                None
            }
        }
    }
}

/// The first assessment of a need.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "accepted", "screening": [{"code": "STRATEGI", "result": "fail"}], "override_reason": "Nytt lovkrav fra 2024; må utredes selv om behovet ikke står i utviklingsplanen"}))]
pub struct AssessmentRequest {
    pub decision: AssessmentDecision,
    /// Mandatory when rejecting.
    #[validate(length(min = 1, max = crate::limits::REASON_MAX), custom(function = "not_blank"))]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// One result (pass or fail) per screening criterion of the adopted set.
    #[serde(default)]
    #[validate(nested, length(max = 100))]
    #[schema(max_items = 100)]
    pub screening: Vec<ScreeningResult>,
    /// Why the need is accepted although it fails a screening criterion: required then,
    /// refused otherwise (there is nothing to override).
    #[validate(length(min = 1, max = crate::limits::REASON_MAX), custom(function = "not_blank"))]
    #[schema(max_length = 2000)]
    pub override_reason: Option<String>,
}

/// Why a first assessment is undone.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Feil i screeningen; vurderes på nytt"}))]
pub struct ReopenRequest {
    #[validate(length(min = 1, max = crate::limits::REASON_MAX), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// Who may change a need: the office any, a reporter only its own organisation's.
#[derive(Debug, Clone)]
struct Editor {
    is_office: bool,
    org_number: Option<String>,
}

fn editor(caller: &Caller) -> Editor {
    Editor {
        is_office: caller.has(Permission::Manage),
        org_number: caller.org_number.clone(),
    }
}

impl Editor {
    /// Locks the need for the rest of the transaction, then checks the editor may change it.
    fn lock(&self, conn: &mut diesel::PgConnection, id: Uuid) -> Result<NeedRow, ApiError> {
        let need = store::lock_need(conn, id)?;
        if self.is_office || self.org_number.as_deref() == Some(need.organisation_number.as_str()) {
            Ok(need)
        } else {
            Err(ApiError::Forbidden(format!(
                "need {} was reported by organisation {}; only that organisation or the portfolio office may change it",
                need.reference, need.organisation_number
            )))
        }
    }
}

fn need_response(
    builder: actix_web::HttpResponseBuilder,
    row: NeedRow,
    dependencies: Vec<Dependency>,
) -> Result<HttpResponse, ApiError> {
    let version = row.version;
    Ok(json_with_etag(
        builder,
        &Need::new(row, dependencies)?,
        version,
    ))
}

/// A found need with its dependencies, read in the same database job as the need: a single
/// read costs one hand-over to a database thread, not two.
fn with_its_dependencies(
    conn: &mut diesel::PgConnection,
    row: Option<NeedRow>,
) -> Result<Option<(NeedRow, Vec<Dependency>)>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let mut links = dependencies_of(conn, &[row.id])?;
    let dependencies = links.remove(&row.id).unwrap_or_default();
    Ok(Some((row, dependencies)))
}

/// The need with its dependencies (one query for them, after the change that returned the
/// row).
async fn with_dependencies(
    db: &Db,
    builder: actix_web::HttpResponseBuilder,
    row: NeedRow,
) -> Result<HttpResponse, ApiError> {
    let id = row.id;
    let mut links = db.run(move |conn| dependencies_of(conn, &[id])).await?;
    let dependencies = links.remove(&id).unwrap_or_default();
    need_response(builder, row, dependencies)
}

/// Report a need
///
/// Reports a need for a cycle year during `intake`. It gets the next reference of the year
/// (`B-{year}-{nnn}`), consecutive and never reused, also under concurrent reports. Needs
/// `portfolio:submit` for the caller's own organisation, or `portfolio:manage` for any.
#[utoipa::path(
    tag = "needs",
    request_body = NewNeed,
    responses(
        (status = 201, description = "Reported", body = Need, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new need"))),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cycle is not in intake", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:submit"]), ("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_need(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewNeed>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Permission::Submit, Permission::Manage])?;
    let n = body.0;
    let org = match (&n.organisation_number, &caller.org_number) {
        (Some(o), _) if caller.has(Permission::Manage) || caller.belongs_to(o) => o.clone(),
        (Some(o), _) => {
            return Err(ApiError::Forbidden(format!(
                "you may report needs only for your own organisation, not for {o}"
            )))
        }
        (None, Some(own)) => own.clone(),
        (None, None) => {
            return Err(ApiError::invalid(
                "/organisation_number",
                "is required when the token names no organisation",
            ))
        }
    };
    let fields = NeedFields {
        title: n.title.trim().to_owned(),
        description: n.description,
        expected_benefit: n.expected_benefit,
        origin: n.origin,
        service_area_id: n.service_area_id,
        estimated_study_cost_nok: n.estimated_study_cost_nok,
        contact_name: n.contact_name,
        contact_email: n.contact_email,
        forwarded_by: n.forwarded_by,
    };
    let year = n.cycle_year;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| store::create_need(conn, &actor, year, &org, fields))
        .await?;
    let resp = crate::etag::created_at(format!("/api/v1/needs/{}", row.id));
    // A new need has no dependencies yet.
    need_response(resp, row, Vec::new())
}

/// List needs
///
/// Filters: year, status, origin, reporting organisation, service area and free text.
/// Ordered by year and reference number. Needs `portfolio:read`.
#[utoipa::path(
    tag = "needs",
    params(NeedQuery, PageQuery),
    responses((status = 200, description = "A page of needs", body = NeedPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_needs(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<NeedQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<NeedPage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after = page.after::<(i32, i32)>()?;
    let limit = page.limit();
    let f = filter.into_inner();
    let filter = NeedFilter {
        year: f.year,
        status: f.status,
        origin: f.origin,
        organisation_number: f.organisation,
        #[allow(deprecated)] // the old name is still honoured
        service_area_id: f.service_area_id.or(f.service_area),
        q: f.q,
    };
    // The page's dependencies in one query, not one per need.
    let (rows, mut links) = db
        .run(move |conn| {
            let rows = store::list_needs(conn, filter, after, limit)?;
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            Ok::<_, ApiError>((rows, dependencies_of(conn, &ids)?))
        })
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| (r.cycle_year, r.seq));
    Ok(web::Json(NeedPage {
        items: rows
            .into_iter()
            .map(|r| {
                let d = links.remove(&r.id).unwrap_or_default();
                Need::new(r, d)
            })
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

/// Get a need
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "needs",
    params(("id" = Uuid, Path, description = "Need id", example = "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff")),
    responses(
        (status = 200, description = "The need", body = Need, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_need(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let (row, dependencies) = db
        .run(move |conn| {
            let row = store::find_need(conn, id)?;
            with_its_dependencies(conn, row)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("need {id}")))?;
    need_response(HttpResponse::Ok(), row, dependencies)
}

/// Get a need by its reference
///
/// E.g. `B-2022-017`. Needs `portfolio:read`.
#[utoipa::path(
    tag = "needs",
    params(("reference" = String, Path, description = "Need reference (`B-<year>-<number>`)", example = "B-2022-017", pattern = "^B-[1-9][0-9]{3}-(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2,5})$", max_length = 16)),
    responses(
        (status = 200, description = "The need", body = Need, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/by-reference/{reference}")]
pub async fn get_need_by_reference(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let reference: NeedReference = path
        .into_inner()
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("invalid path parameter: {e}")))?;
    let text = reference.to_string();
    let (row, dependencies) = db
        .run(move |conn| {
            let row = store::find_need_by_reference(conn, &text)?;
            with_its_dependencies(conn, row)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("need {reference}")))?;
    need_response(HttpResponse::Ok(), row, dependencies)
}

/// Edit a submitted need
///
/// Only while the need is `submitted`, by its reporting organisation (`portfolio:submit`) or
/// the portfolio office (`portfolio:manage`). Needs `If-Match`.
#[utoipa::path(
    tag = "needs",
    params(
        ("id" = Uuid, Path, description = "Need id", example = "54e68e5a-6d6e-2224-1bf0-3372a3de64d0"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = NeedPatch,
    responses(
        (status = 200, description = "Changed", body = Need, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The need is no longer submitted", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:submit"]), ("bearer" = ["portfolio:manage"]))
)]
#[patch("/{id}")]
pub async fn edit_need(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<NeedPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Permission::Submit, Permission::Manage])?;
    let id = path.into_inner();
    let p = body.0;
    let edit = NeedEdit {
        title: p.title.map(|t| t.trim().to_owned()),
        description: p.description,
        expected_benefit: p.expected_benefit,
        origin: p.origin,
        service_area_id: p.service_area_id,
        estimated_study_cost_nok: p.estimated_study_cost_nok,
        contact_name: p.contact_name,
        contact_email: p.contact_email,
        forwarded_by: p.forwarded_by,
    };
    let editor = editor(&caller);
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            let before = editor.lock(conn, id)?;
            Ok::<_, ApiError>(store::edit_need(conn, &actor, before, &if_match, edit)?)
        })
        .await?;
    with_dependencies(&db, HttpResponse::Ok(), row).await
}

/// Withdraw a need
///
/// A submitted need may be withdrawn by its reporting organisation or the portfolio office,
/// with an optional reason. Needs `If-Match`.
#[utoipa::path(
    tag = "needs",
    params(
        ("id" = Uuid, Path, description = "Need id", example = "5d8e7e7f-9d26-5e2f-0803-f419347db894"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = WithdrawRequest,
    responses(
        (status = 200, description = "Withdrawn", body = Need, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The need is no longer submitted", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:submit"]), ("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/withdraw")]
pub async fn withdraw_need(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<WithdrawRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Permission::Submit, Permission::Manage])?;
    let id = path.into_inner();
    let reason = body.0.reason;
    let editor = editor(&caller);
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            let before = editor.lock(conn, id)?;
            Ok::<_, ApiError>(store::withdraw_need(
                conn, &actor, before, &if_match, reason,
            )?)
        })
        .await?;
    with_dependencies(&db, HttpResponse::Ok(), row).await
}

/// Assess a need (first assessment)
///
/// The portfolio office accepts the need into the needs portfolio or rejects it (a reason
/// is mandatory), recording one screening result (`pass` or `fail`) per screening criterion
/// of the adopted set. Accepting a need that fails a screening criterion needs an
/// `override_reason` (422 naming it otherwise). Only in the `first_assessment` phase; an assessed need must be reopened before it
/// is assessed again. Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "needs",
    params(
        ("id" = Uuid, Path, description = "Need id", example = "80310745-c752-cc99-d6c9-c4e3e00ba9eb"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = AssessmentRequest,
    responses(
        (status = 200, description = "Assessed", body = Need, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Wrong phase, already assessed, or no adopted criteria set", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/assessment")]
pub async fn assess_need(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<AssessmentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let a = body.0;
    let decision = match a.decision {
        AssessmentDecision::Accepted => NeedStatus::Accepted,
        AssessmentDecision::Rejected => NeedStatus::Rejected,
    };
    let mut errors = Vec::new();
    if decision == NeedStatus::Rejected && a.reason.is_none() {
        errors.push(FieldError::new(
            "/reason",
            "a reason is required when a need is rejected",
        ));
    }
    let screening: Vec<(String, Outcome)> = a
        .screening
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((s.code.clone(), s.outcome(i, &mut errors)?)))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let assessment = store::AssessmentInput {
        decision,
        reason: a.reason,
        screening,
        override_reason: a.override_reason,
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| store::assess_need(conn, &actor, id, &if_match, assessment))
        .await?;
    with_dependencies(&db, HttpResponse::Ok(), row).await
}

/// Reopen a need's first assessment
///
/// Undoes an acceptance or rejection (back to `submitted`), explicitly and with a reason
/// kept in the audit trail. Only in the `first_assessment` phase. Needs `portfolio:manage`
/// and `If-Match`.
#[utoipa::path(
    tag = "needs",
    params(
        ("id" = Uuid, Path, description = "Need id", example = "80310745-c752-cc99-d6c9-c4e3e00ba9eb"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v2\"")
    ),
    request_body = ReopenRequest,
    responses(
        (status = 200, description = "Reopened", body = Need, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Wrong phase, or the need is not assessed", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/reopen")]
pub async fn reopen_need(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<ReopenRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let reason = body.0.reason;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| store::reopen_need(conn, &actor, id, &if_match, reason))
        .await?;
    with_dependencies(&db, HttpResponse::Ok(), row).await
}
