//! `/api/v1/tertial-reports`: frozen board reports per tertial, and
//! `/api/v1/portfolio/overview`: the cheap dashboard numbers of a year.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use portfolio_domain::tertial::Tertial;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::etag::{etag, IfMatch};
use crate::extract::ValidJson;
use crate::pagination::{paginate, PageQuery};
use crate::store::tertial::{self, Overview, Rendered, ReportContent, ReportRow};

/// A tertial report: the captured improvement portfolio, budget frames (and concept studies).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TertialReport {
    pub id: Uuid,
    #[schema(example = 2023)]
    pub year: i32,
    /// 1 = January–April, 2 = May–August, 3 = September–December.
    #[schema(example = 1, minimum = 1, maximum = 3)]
    pub tertial: i16,
    #[schema(example = "2023-T1")]
    pub label: String,
    /// `draft` (may be refreshed) or `published` (frozen).
    #[schema(example = "published")]
    pub status: String,
    /// When the content was captured.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub captured_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub published_at: Option<DateTime<Utc>>,
    pub published_by: Option<String>,
    pub content: ReportContent,
    /// Version of this representation (also its ETag).
    pub version: i32,
}

/// A tertial report without its content.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TertialReportSummary {
    pub id: Uuid,
    pub year: i32,
    pub tertial: i16,
    #[schema(example = "2023-T1")]
    pub label: String,
    pub status: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub captured_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub published_at: Option<DateTime<Utc>>,
    pub version: i32,
}

crate::page_type!(
    TertialReportPage,
    TertialReportSummary,
    "A page of tertial reports, ordered by year and tertial."
);

fn label(r: &ReportRow) -> String {
    format!("{}-T{}", r.year, r.tertial)
}

fn view(r: &ReportRow) -> Result<TertialReport, ApiError> {
    Ok(TertialReport {
        id: r.id,
        year: r.year,
        tertial: r.tertial,
        label: label(r),
        status: r.status.as_str().to_owned(),
        captured_at: r.captured_at,
        published_at: r.published_at,
        published_by: r.published_by.clone(),
        content: serde_json::from_value(r.content.clone()).map_err(ApiError::internal)?,
        version: r.version,
    })
}

/// One CSV field (RFC 4180 quoting; text that a spreadsheet would run as a formula is
/// prefixed with `'`).
fn csv_field(out: &mut String, v: &str, text: bool) {
    let guarded;
    let v = if text && v.starts_with(['=', '+', '-', '@']) {
        guarded = format!("'{v}");
        guarded.as_str()
    } else {
        v
    };
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// The report as CSV, one row per measure.
fn render_csv(r: &ReportRow, content: &ReportContent) -> Vec<u8> {
    let mut out = String::from(
        "year,tertial,service_area,area_kind,partner_reference,title,status,rag,progress,\
         forecast_date,late_milestones,previous_status,previous_rag,changed_since_previous\r\n",
    );
    for a in &content.service_areas {
        for m in &a.measures {
            let change = a
                .changed_since_previous
                .iter()
                .find(|c| c.measure_id == m.measure_id);
            let fields: [(String, bool); 14] = [
                (r.year.to_string(), false),
                (r.tertial.to_string(), false),
                (a.name.clone(), true),
                (a.kind.clone(), false),
                (m.partner_reference.clone(), true),
                (m.title.clone(), true),
                (m.status.clone(), false),
                (m.rag.clone().unwrap_or_default(), false),
                (m.progress.map(|p| p.to_string()).unwrap_or_default(), false),
                (
                    m.forecast_date.map(|d| d.to_string()).unwrap_or_default(),
                    false,
                ),
                (m.late_milestones.to_string(), false),
                (
                    change
                        .and_then(|c| c.previous_status.clone())
                        .unwrap_or_default(),
                    false,
                ),
                (
                    change
                        .and_then(|c| c.previous_rag.clone())
                        .unwrap_or_default(),
                    false,
                ),
                (
                    if content.previous_published.is_none() {
                        String::new()
                    } else {
                        change.is_some().to_string()
                    },
                    false,
                ),
            ];
            for (i, (v, text)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                csv_field(&mut out, v, *text);
            }
            out.push_str("\r\n");
        }
    }
    out.into_bytes()
}

/// The report's benefits section as CSV, one row per benefit.
fn render_benefits_csv(r: &ReportRow, content: &ReportContent) -> Vec<u8> {
    let mut out = String::from(
        "year,tertial,benefit_id,title,parent_kind,parent_id,category,owner_org,status,indicator,\
         unit,direction,baseline_value,baseline_date,target_value,target_date,latest_value,\
         latest_measured_on,realised_share,expected_share,rag,stale,yearly_value_nok\r\n",
    );
    let opt = |v: Option<String>| v.unwrap_or_default();
    for b in content.benefits.iter().flat_map(|s| s.benefits.iter()) {
        let fields: [(String, bool); 23] = [
            (r.year.to_string(), false),
            (r.tertial.to_string(), false),
            (b.benefit_id.to_string(), false),
            (b.title.clone(), true),
            (b.parent_kind.clone(), false),
            (b.parent_id.to_string(), false),
            (b.category.clone(), false),
            (b.owner_org.clone(), false),
            (b.status.clone(), false),
            (b.indicator.clone(), true),
            (b.unit.clone(), true),
            (b.direction.clone(), false),
            (b.baseline_value.to_string(), false),
            (b.baseline_date.to_string(), false),
            (b.target_value.to_string(), false),
            (b.target_date.to_string(), false),
            (opt(b.latest_value.map(|v| v.to_string())), false),
            (opt(b.latest_measured_on.map(|d| d.to_string())), false),
            (opt(b.realised_share.map(|v| v.to_string())), false),
            (b.expected_share.to_string(), false),
            (opt(b.rag.clone()), false),
            (b.stale.to_string(), false),
            (opt(b.yearly_value_nok.map(|v| v.to_string())), false),
        ];
        for (i, (v, text)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, v, *text);
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn render(r: &ReportRow) -> Result<Rendered, ApiError> {
    let v = view(r)?;
    Ok(Rendered {
        json: serde_json::to_vec(&v).map_err(ApiError::internal)?,
        csv: render_csv(r, &v.content),
        benefits_csv: render_benefits_csv(r, &v.content),
    })
}

/// Whether the client wants CSV (`Accept: text/csv`); 406 for what we cannot produce.
fn wants_csv(req: &HttpRequest) -> Result<bool, ApiError> {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Ok(false);
    };
    let accept = accept.to_str().unwrap_or("").to_ascii_lowercase();
    let ranges: Vec<&str> = accept
        .split(',')
        .map(|r| r.split(';').next().unwrap_or("").trim())
        .collect();
    if ranges.contains(&"text/csv") {
        return Ok(true);
    }
    if ranges.is_empty()
        || ranges
            .iter()
            .any(|r| matches!(*r, "" | "*/*" | "application/*" | "application/json"))
    {
        return Ok(false);
    }
    Err(ApiError::NotAcceptable(
        "a tertial report is available as application/json or text/csv".into(),
    ))
}

fn respond(r: &ReportRow, csv: bool, section: CsvSection) -> Result<HttpResponse, ApiError> {
    let stored = match (
        &r.published_json,
        &r.published_csv,
        &r.published_benefits_csv,
    ) {
        // Published: the bytes stored at publication, never re-rendered.
        (Some(j), Some(c), Some(b)) => Rendered {
            json: j.clone(),
            csv: c.clone(),
            benefits_csv: b.clone(),
        },
        // Published before benefits were tracked: the frozen content has no benefits, so
        // rendering it again gives the header only, the same bytes every time.
        (Some(j), Some(c), None) => Rendered {
            json: j.clone(),
            csv: c.clone(),
            benefits_csv: render(r)?.benefits_csv,
        },
        _ => render(r)?,
    };
    let mut resp = HttpResponse::Ok();
    if csv {
        let (body, suffix) = match section {
            CsvSection::Measures => (stored.csv, ""),
            CsvSection::Benefits => (stored.benefits_csv, "-benefits"),
        };
        resp.insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((header::ETAG, format!("\"v{}-csv{suffix}\"", r.version)))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"tertial-report-{}{suffix}.csv\"",
                    label(r)
                ),
            ));
        Ok(resp.body(body))
    } else {
        resp.insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::ETAG, etag(r.version)));
        Ok(resp.body(stored.json))
    }
}

/// A new draft for a tertial.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"year": 2023, "tertial": 2}))]
pub struct NewTertialReport {
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// 1, 2 or 3.
    #[validate(range(min = 1, max = 3))]
    #[schema(minimum = 1, maximum = 3)]
    pub tertial: u8,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct TertialReportQuery {
    /// Only this year's reports.
    #[param(minimum = 2000, maximum = 2100, example = 2023)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: Option<i32>,
}

/// Which table a CSV rendering holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsvSection {
    /// One row per measure (the default).
    #[default]
    Measures,
    /// One row per benefit (the benefits realisation section).
    Benefits,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// With `Accept: text/csv`: `measures` (default, one row per measure) or `benefits`
    /// (one row per benefit). The JSON always holds every section.
    #[param(inline, example = "benefits")]
    pub section: Option<CsvSection>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// The budget year.
    #[param(minimum = 2000, maximum = 2100, example = 2023)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: i32,
}

/// List tertial reports
///
/// Published reports; drafts too for `portfolio:manage`. Needs `portfolio:read` or
/// `portfolio:manage`.
#[utoipa::path(
    tag = "tertial reports",
    params(TertialReportQuery, PageQuery),
    responses((status = 200, description = "A page of reports", body = TertialReportPage)),
    security(("bearer" = ["portfolio:read"]), ("bearer" = ["portfolio:manage"]))
)]
#[get("")]
pub async fn list_reports(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<TertialReportQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<TertialReportPage>, ApiError> {
    caller.require_any(&[Permission::Read, Permission::Manage])?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after: Option<(i32, i16)> = page.after()?;
    let limit = page.limit();
    let drafts = caller.has(Permission::Manage);
    let year = filter.year;
    let rows = db
        .run(move |conn| tertial::list_reports(conn, year, drafts, after, limit))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| (r.year, r.tertial));
    Ok(web::Json(TertialReportPage {
        items: rows
            .iter()
            .map(|r| TertialReportSummary {
                id: r.id,
                year: r.year,
                tertial: r.tertial,
                label: label(r),
                status: r.status.as_str().to_owned(),
                captured_at: r.captured_at,
                published_at: r.published_at,
                version: r.version,
            })
            .collect(),
        next_cursor,
    }))
}

/// Get a tertial report
///
/// As JSON. The same report as CSV is its own operation, `GET /tertial-reports/{id}/csv`
/// (`Accept: text/csv` here answers the CSV too, for clients written before that operation
/// existed). A published report is served byte for byte as it was published. Drafts are
/// visible to `portfolio:manage` only.
#[utoipa::path(
    tag = "tertial reports",
    params(("id" = Uuid, Path, description = "Report id", example = "acd9c5cd-8330-589b-2c23-e2ae54b761d6"), ReportQuery),
    responses(
        (status = 200, description = "The report", body = TertialReport, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 406, description = "Neither JSON nor CSV is acceptable", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]), ("bearer" = ["portfolio:manage"]))
)]
#[get("/{id}")]
pub async fn get_report(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let csv = wants_csv(&req)?;
    let section = q.section.unwrap_or_default();
    report(caller, db, path.into_inner(), csv, section).await
}

/// Get a tertial report as CSV
///
/// The report as `text/csv` (RFC 4180, UTF-8, CRLF line ends, a header row), one row per
/// measure, ordered by service area and measure. Columns:
///
/// | column | type | meaning |
/// |---|---|---|
/// | `year` | integer | the report's year |
/// | `tertial` | integer 1–3 | the tertial (1 = Jan–Apr, 2 = May–Aug, 3 = Sep–Dec) |
/// | `service_area` | text | the measure's service area (tjenesteområde) |
/// | `area_kind` | `clinical` or `administrative` | the service area's kind |
/// | `partner_reference` | text | the IT partner's reference of the measure |
/// | `title` | text | the measure's title |
/// | `status` | `proposed`, `planned`, `in_delivery`, `on_hold`, `delivered`, `cancelled` | lifecycle status when captured |
/// | `rag` | `green`, `yellow`, `red` or empty | delivery health when captured; empty when never reported |
/// | `progress` | integer 0–100 or empty | percent complete |
/// | `forecast_date` | date (YYYY-MM-DD) or empty | forecast delivery date |
/// | `late_milestones` | integer | milestones past their date and not done |
/// | `previous_status` | status or empty | the status in the previous published report of the year, when it changed |
/// | `previous_rag` | RAG or empty | the RAG in the previous published report, when it changed |
/// | `changed_since_previous` | `true`, `false` or empty | whether the measure changed since the previous published report; empty when there is none |
///
/// With `section=benefits`, one row per benefit of the benefits realisation section instead,
/// with the columns `year`, `tertial`, `benefit_id`, `title`, `parent_kind`, `parent_id`,
/// `category`, `owner_org`, `status`, `indicator`, `unit`, `direction`, `baseline_value`,
/// `baseline_date`, `target_value`, `target_date`, `latest_value`, `latest_measured_on`,
/// `realised_share`, `expected_share`, `rag`, `stale`, `yearly_value_nok` (as in the JSON
/// report's benefits; empty where the JSON has `null`).
///
/// Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`) is
/// prefixed with `'`. Published reports are served byte for byte as published. Drafts are
/// visible to `portfolio:manage` only.
#[utoipa::path(
    tag = "tertial reports",
    operation_id = "get_report_csv",
    params(("id" = Uuid, Path, description = "Report id", example = "acd9c5cd-8330-589b-2c23-e2ae54b761d6"), ReportQuery),
    responses(
        (status = 200, description = "The report as CSV, one row per measure", content(
            (String = "text/csv", example = json!("year,tertial,service_area,area_kind,partner_reference,title,status,rag,progress,forecast_date,late_milestones,previous_status,previous_rag,changed_since_previous\r\n2023,2,Mor og barn,clinical,SP-2023-0001,Digital svangerskapsoppfølging,in_delivery,yellow,40,2023-11-30,1,planned,green,true\r\n"))
        ), headers(("ETag" = String, description = "Version of the CSV representation"))),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]), ("bearer" = ["portfolio:manage"]))
)]
#[get("/{id}/csv")]
pub async fn get_report_csv(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    report(
        caller,
        db,
        path.into_inner(),
        true,
        q.section.unwrap_or_default(),
    )
    .await
}

async fn report(
    caller: Caller,
    db: web::Data<Db>,
    id: Uuid,
    csv: bool,
    section: CsvSection,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Permission::Read, Permission::Manage])?;
    let row = db
        .run(move |conn| tertial::find_report(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("tertial report {id}")))?;
    if row.published_json.is_none() && !caller.has(Permission::Manage) {
        return Err(ApiError::Forbidden(
            "the report is a draft; drafts are visible to portfolio:manage only".into(),
        ));
    }
    respond(&row, csv, section)
}

/// Create a tertial report draft
///
/// Captures the year's improvement portfolio per service area (measures by status and RAG,
/// what changed status or RAG since the previous published tertial, late milestones), the
/// budget frames and the concept studies. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "tertial reports",
    request_body = NewTertialReport,
    responses(
        (status = 201, description = "The draft", body = TertialReport, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new report"))),
        (status = 409, description = "The tertial already has a report", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_report(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewTertialReport>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let t = Tertial::new(body.0.year, body.0.tertial)?;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| tertial::create_draft(conn, &actor, t))
        .await?;
    let resp = crate::etag::created_at(format!("/api/v1/tertial-reports/{}", row.id));
    Ok(crate::etag::json_with_etag(resp, &view(&row)?, row.version))
}

/// Refresh a draft
///
/// Captures the portfolio again. A published report cannot change (409). Needs
/// `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "tertial reports",
    params(
        ("id" = Uuid, Path, description = "Report id", example = "24da0778-3066-9b3d-13b3-5ed9dd7174c6"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    responses(
        (status = 200, description = "The refreshed draft", body = TertialReport, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The report is published", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/refresh")]
pub async fn refresh_report(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| tertial::refresh_draft(conn, &actor, id, &if_match))
        .await?;
    respond(&row, false, CsvSection::Measures)
}

/// Publish a tertial report
///
/// Freezes the draft: its JSON and CSV are stored as published and served byte for byte from
/// then on; any later change is a 409. Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "tertial reports",
    params(
        ("id" = Uuid, Path, description = "Report id", example = "acd9c5cd-8330-589b-2c23-e2ae54b761d6"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    responses(
        (status = 200, description = "The published report", body = TertialReport, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already published", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/publish")]
pub async fn publish_report(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            // Rendering fails only on a stored report that cannot be read back.
            tertial::publish(conn, &actor, id, &if_match, |r| {
                render(r).map_err(crate::store::StoreError::corrupt)
            })
        })
        .await?;
    respond(&row, false, CsvSection::Measures)
}

/// Portfolio overview of a budget year
///
/// `year` is the **budget year**: the year's budget frames and their use, the concept studies
/// funded from those frames (counted by status and by the cycle year that proposed them —
/// studies the board starts in autumn 2022 from the 2022 cycle are funded from, and counted
/// in, 2023), the measures of the year's service areas with their RAG distribution, and the
/// needs reported in the year's own cycle. A few aggregate queries, cheap to poll. Needs
/// `portfolio:read`.
#[utoipa::path(
    tag = "portfolio overview",
    params(OverviewQuery),
    responses((status = 200, description = "The overview", body = Overview)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/overview")]
pub async fn overview(
    caller: Caller,
    db: web::Data<Db>,
    cache: web::Data<crate::read_cache::ReadCache>,
    q: web::Query<OverviewQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*q)?;
    let year = q.year;
    let today = Utc::now().date_naive();
    let cache = cache.get_ref().clone();
    // Dashboards poll this: served from the read cache until the next committed change.
    let body = db
        .run(move |conn| {
            // Benefit health is derived as of today: a new day is a new key.
            cache.get_or_compute(conn, format!("overview:{year}:{today}"), |conn| {
                let o: Overview = tertial::overview(conn, year, today)?;
                serde_json::to_vec(&o)
                    .map(Bytes::from)
                    .map_err(ApiError::internal)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(Bytes::clone(&body)))
}
