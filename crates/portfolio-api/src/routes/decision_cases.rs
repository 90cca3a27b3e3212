//! `/api/v1/decision-cases`: board decision cases (beslutningssaker). The portfolio office
//! prepares a case; the board decides it, and the approved items are applied all-or-nothing.

use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use portfolio_domain::decision::{self as domain, ItemOutcome};
use portfolio_domain::sensitivity::{StabilityRadius, WhatItWouldTake};
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
use crate::store::certificates;
use crate::store::decisions::{
    self, CaseDraft, CaseWithItems, DecisionInput, ItemProposal, OutcomeInput,
};

/// The board's answer to an item.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeName {
    /// Approved as proposed.
    Approved,
    /// Not approved; the item changes nothing.
    Rejected,
    /// Approved with changes (for a study start: `amended_budget_nok`).
    Amended,
}

impl OutcomeName {
    fn domain(self) -> ItemOutcome {
        match self {
            Self::Approved => ItemOutcome::Approved,
            Self::Rejected => ItemOutcome::Rejected,
            Self::Amended => ItemOutcome::Amended,
        }
    }

    fn of(o: ItemOutcome) -> Self {
        match o {
            ItemOutcome::Approved => Self::Approved,
            ItemOutcome::Rejected => Self::Rejected,
            ItemOutcome::Amended => Self::Amended,
        }
    }
}

/// `draft` (being prepared) or `decided` (immutable).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Draft,
    Decided,
}

impl CaseStatus {
    fn domain(self) -> domain::CaseStatus {
        match self {
            Self::Draft => domain::CaseStatus::Draft,
            Self::Decided => domain::CaseStatus::Decided,
        }
    }

    fn of(s: domain::CaseStatus) -> Self {
        match s {
            domain::CaseStatus::Draft => Self::Draft,
            domain::CaseStatus::Decided => Self::Decided,
        }
    }
}

/// An item of a case with the board's outcome once decided.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseItem {
    /// 0-based position in the case (problems name items by it).
    pub index: i32,
    pub proposal: ItemProposal,
    pub outcome: Option<OutcomeName>,
    /// For an amended study start: the budget decided.
    pub amended_budget_nok: Option<i64>,
    pub outcome_note: Option<String>,
    /// The study (start_study, start_additional_study) or concept (record_concept) the decision created.
    pub created_id: Option<Uuid>,
}

/// A decision case.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", "meeting_date": "2022-10-20", "title": "Oppstart av konseptutredninger 2023", "background": "Prioriterte behov fra 2022.", "scenario_id": null, "status": "draft", "rationale": null, "minutes_reference": null, "decided_at": null, "decided_by": null, "items": [{"index": 0, "proposal": {"kind": "defer_need", "need_id": "3b9d3c0e-1f1a-4d8e-9a77-0c6d7e8f9a10"}, "outcome": null, "amended_budget_nok": null, "outcome_note": null, "created_id": null}], "version": 1, "created_at": "2022-10-01T08:00:00Z", "updated_at": "2022-10-01T08:00:00Z"}))]
pub struct Case {
    pub id: Uuid,
    pub meeting_date: NaiveDate,
    pub title: String,
    pub background: String,
    /// The selection scenario the case cites, if any.
    pub scenario_id: Option<Uuid>,
    pub status: CaseStatus,
    pub rationale: Option<String>,
    /// Reference to the board meeting's minutes.
    pub minutes_reference: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub items: Vec<CaseItem>,
    /// Version of this representation (also its ETag).
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<CaseWithItems> for Case {
    type Error = ApiError;
    fn try_from(c: CaseWithItems) -> Result<Self, ApiError> {
        let items = c
            .items
            .iter()
            .map(|i| {
                Ok(CaseItem {
                    index: i.position,
                    proposal: i.proposal()?,
                    outcome: i.outcome.map(OutcomeName::of),
                    amended_budget_nok: i.amended_budget_nok,
                    outcome_note: i.outcome_note.clone(),
                    created_id: i.created_id,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        let r = c.case;
        Ok(Case {
            id: r.id,
            meeting_date: r.meeting_date,
            title: r.title,
            background: r.background,
            scenario_id: r.scenario_id,
            status: CaseStatus::of(r.status),
            rationale: r.rationale,
            minutes_reference: r.minutes_reference,
            decided_at: r.decided_at,
            decided_by: r.decided_by,
            items,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

crate::page_type!(
    CasePage,
    Case,
    "A page of decision cases, ordered by meeting date."
);

/// A decision case as prepared by the portfolio office.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"meeting_date": "2022-10-20", "title": "Oppstart av konseptutredninger 2023", "background": "Prioriterte behov fra 2022.", "items": [{"kind": "start_study", "need_id": "66e69be8-6b29-4eee-9170-a9c53d67f396", "frame_id": "2c1c389d-1150-638f-aefd-a407e286f431", "budget_nok": 1500000, "title": "Felles legemiddelliste", "responsible_org": "991324968", "interregional": false, "on_behalf_of": [], "expected_completion": {"from": "2023-08-15", "to": "2023-10-15", "label": "sensommer/tidlig høst 2023"}}, {"kind": "defer_need", "need_id": "41d61f2a-147b-49ce-907b-4eb8b8a34c08"}]}))]
pub struct NewCase {
    /// RFC 3339 full-date (YYYY-MM-DD), years 2000–2100.
    #[serde(deserialize_with = "crate::dates::strict")]
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub meeting_date: NaiveDate,
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    #[validate(length(max = 10000), custom(function = "no_nul"))]
    #[schema(max_length = 10000)]
    pub background: String,
    /// A stored selection scenario the case cites.
    pub scenario_id: Option<Uuid>,
    /// 1–200 items.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_items = 1, max_items = 200)]
    pub items: Vec<ItemProposal>,
}

impl NewCase {
    fn draft(self) -> CaseDraft {
        CaseDraft {
            meeting_date: self.meeting_date,
            title: self.title,
            background: self.background,
            scenario_id: self.scenario_id,
            items: self.items,
        }
    }
}

/// The board's answer to one item, in item order.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "amended", "amended_budget_nok": 1200000, "note": "Redusert ramme"}))]
pub struct OutcomeBody {
    pub outcome: OutcomeName,
    /// Only for an amended `start_study` or `start_additional_study` item: the budget decided (> 0).
    pub amended_budget_nok: Option<i64>,
    #[validate(length(min = 1, max = 2000), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
}

/// The board's decision.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rationale": "Styret sluttet seg til prioriteringen.", "minutes_reference": "PS-sak 42/2022", "outcomes": [{"outcome": "approved"}, {"outcome": "rejected", "note": "Utsettes ikke"}]}))]
pub struct DecideBody {
    #[validate(length(min = 1, max = 10000), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 10000)]
    pub rationale: String,
    /// Reference to the meeting's minutes.
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub minutes_reference: String,
    /// One outcome per item, in item order.
    #[validate(nested)]
    pub outcomes: Vec<OutcomeBody>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// Only draft or only decided cases.
    pub status: Option<CaseStatus>,
    /// Only cases whose meeting is in this year.
    #[param(minimum = 2000, maximum = 2100, example = 2022)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: Option<i32>,
}

fn respond(
    builder: actix_web::HttpResponseBuilder,
    c: CaseWithItems,
) -> Result<HttpResponse, ApiError> {
    let case = Case::try_from(c)?;
    let version = case.version;
    Ok(json_with_etag(builder, &case, version))
}

/// List decision cases
///
/// Needs `portfolio:read`; drafts are listed only for `portfolio:manage` or `portfolio:decide`.
#[utoipa::path(
    tag = "decision cases",
    params(CaseQuery, PageQuery),
    responses((status = 200, description = "A page of cases", body = CasePage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_cases(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<CaseQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<CasePage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after = page.after::<(NaiveDate, Uuid)>()?;
    let limit = page.limit();
    let q = filter.into_inner();
    let status = q.status.map(CaseStatus::domain);
    // A reader sees decided cases only.
    if !caller.sees_drafts() && status == Some(domain::CaseStatus::Draft) {
        return Ok(web::Json(CasePage {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let status = if caller.sees_drafts() {
        status
    } else {
        Some(domain::CaseStatus::Decided)
    };
    let rows = db
        .run(move |conn| decisions::list_cases(conn, status, q.year, after, limit))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |c| (c.case.meeting_date, c.case.id));
    Ok(web::Json(CasePage {
        items: rows
            .into_iter()
            .map(Case::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

/// Get a decision case
///
/// Needs `portfolio:read`; a draft is found (else 404) only with `portfolio:manage` or `portfolio:decide`.
#[utoipa::path(
    tag = "decision cases",
    params(("id" = Uuid, Path, description = "Decision case id", example = "1c98379f-e9cb-8ed9-71d3-3bb275d79011")),
    responses(
        (status = 200, description = "The case", body = Case, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such case", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_case(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let c = db
        .run(move |conn| decisions::find_case(conn, id))
        .await?
        .filter(|c| caller.sees_drafts() || c.case.status == domain::CaseStatus::Decided)
        .ok_or_else(|| ApiError::not_found(format!("decision case {id}")))?;
    respond(HttpResponse::Ok(), c)
}

/// Format of a certificate.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertificateFormat {
    /// The certificate as JSON (default).
    #[default]
    Json,
    /// One CSV table for the board papers.
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CertificateQuery {
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<CertificateFormat>,
}

/// Get the robustness certificate of a decided case
///
/// Frozen when the board decided a case that starts concept studies, never changed after:
/// the mean ranking relied on, the board's selection beside the optimal selection for the
/// same inputs (the year's accepted needs with an estimated study cost plus the needs the
/// case starts, at the decided budgets; the money the frames drawn on had left), the
/// stability radius (`stability_radius`: the smallest change of one criterion weight, one
/// trust's score for one need, or the budget that changes the optimal selection; exact),
/// what it would take to bring each left-out need in (`what_it_would_take`), and
/// `inputs_hash`, a SHA-256 of the criteria and score sheets, so anyone can recompute it.
/// `format=csv` gives one table for the board papers. 404 when the case has no certificate
/// (not decided, or it starts no study). Needs `portfolio:read`.
#[utoipa::path(
    tag = "decision cases",
    params(("id" = Uuid, Path, description = "Decision case id", example = "1c98379f-e9cb-8ed9-71d3-3bb275d79011"), CertificateQuery),
    responses(
        (status = 200, description = "The certificate", body = Certificate, content(
            (Certificate = "application/json"),
            (String = "text/csv", example = "row,reference,rank,priority,cost_nok,board_selected,optimal_selected,score_increase_to_enter,budget_increase_nok\nneed,B-2022-001,3,61.20,1500000,true,true,,\n")
        )),
        (status = 404, description = "No such case, or it has no certificate", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/certificate")]
pub async fn get_certificate(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    query: web::Query<CertificateQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let cert = db
        .run(move |conn| certificates::find(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("certificate of decision case {id}")))?;
    Ok(match query.format.unwrap_or_default() {
        CertificateFormat::Json => HttpResponse::Ok().json(Certificate::from(cert)),
        CertificateFormat::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(certificates::to_csv(&cert)),
    })
}

/// Prepare a decision case
///
/// A case for a board meeting with its items (start a study with a budget from a frame,
/// pause / resume / cancel a study, record a concept, change a concept's status, defer or
/// decline a need), optionally citing a selection scenario. Everything an item refers to
/// must exist (422 naming the item's field); whether the items can still be applied is
/// checked when the board decides. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "decision cases",
    request_body = NewCase,
    responses(
        (status = 201, description = "Created", body = Case, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new case")))
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_case(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewCase>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let draft = body.0.draft();
    let actor = Actor::of(&caller);
    let c = db
        .transaction(move |conn| decisions::create_case(conn, &actor, draft))
        .await?;
    let resp = crate::etag::created_at(format!("/api/v1/decision-cases/{}", c.case.id));
    respond(resp, c)
}

/// Revise a draft decision case
///
/// Replaces the meeting date, texts, cited scenario and items of a case not yet decided
/// (a decided case is immutable: 409). Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "decision cases",
    params(
        ("id" = Uuid, Path, description = "Decision case id", example = "f6c33fb2-698d-1228-46a6-69af1d4b0c3d"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = NewCase,
    responses(
        (status = 200, description = "Revised", body = Case, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such case", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The case is decided", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[put("/{id}")]
pub async fn replace_case(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<NewCase>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let draft = body.0.draft();
    let actor = Actor::of(&caller);
    let c = db
        .transaction(move |conn| decisions::replace_case(conn, &actor, id, &if_match, draft))
        .await?;
    respond(HttpResponse::Ok(), c)
}

/// Decide a case
///
/// Records the board's outcome per item (approved, rejected, amended amount), the rationale
/// and the minutes reference, and applies every approved or amended item all-or-nothing in
/// one transaction: budget frames are locked, every current state is read under lock, and
/// if an item no longer applies (its transition is not allowed, or the approved budgets do
/// not fit the frame) NOTHING changes and the 409 problem names the item by index and says
/// why. Studies are created `not_started`, money is allocated from their frames, cancelled
/// studies give their unspent money back, concepts start `active`. A decided case is
/// immutable. Needs `portfolio:decide` and `If-Match`.
#[utoipa::path(
    tag = "decision cases",
    params(
        ("id" = Uuid, Path, description = "Decision case id", example = "f6c33fb2-698d-1228-46a6-69af1d4b0c3d"),
        ("If-Match" = String, Header, description = "The ETag the decision is based on", example = "\"v1\"")
    ),
    request_body = DecideBody,
    responses(
        (status = 200, description = "Decided and applied", body = Case, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such case", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or an item cannot be applied (nothing changed; the problem names the item)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:decide"]))
)]
#[post("/{id}/decide")]
pub async fn decide_case(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<DecideBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Decide)?;
    let id = path.into_inner();
    let b = body.0;
    let input = DecisionInput {
        rationale: b.rationale,
        minutes_reference: b.minutes_reference,
        outcomes: b
            .outcomes
            .into_iter()
            .map(|o| OutcomeInput {
                outcome: o.outcome.domain(),
                amended_budget_nok: o.amended_budget_nok,
                note: o.note,
            })
            .collect(),
    };
    let actor = Actor::of(&caller);
    let c = db
        .transaction(move |conn| decisions::decide(conn, &actor, id, &if_match, input))
        .await?;
    respond(HttpResponse::Ok(), c)
}

/// A need in the ranking the decision relied on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RankedEntry {
    pub reference: String,
    pub rank: usize,
    /// Mean overall score, 0–100; null when unscored.
    pub overall: Option<f64>,
    pub coverage: usize,
}

/// A candidate of the certified selection problem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CertifiedNeed {
    pub need_id: Uuid,
    pub reference: String,
    /// Priority used: the mean overall score (0 when unscored).
    pub priority: f64,
    /// The decided study budget for needs the case starts; the estimated study cost otherwise.
    pub cost_nok: i64,
    /// Started by this decision.
    pub board_selected: bool,
    /// In the optimal selection for the same inputs.
    pub optimal_selected: bool,
}

/// The frozen certificate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "case_id": "7d4c1c56-3f0e-4a8e-9d55-0b9b8f4f2f10", "year": 2022, "criteria_set_version": 1,
    "inputs_hash": "5f1d0c0e8b1f4a7e9c2d3b4a5f6e7d8c9b0a1f2e3d4c5b6a79880716253443ab",
    "computed_at": "2022-10-20T10:00:00Z", "budget_nok": 18000000, "capacity": null,
    "agrees_with_optimum": false, "board_total_priority": 402.1, "optimal_total_priority": 455.7,
    "stability_radius": {"weight": {"criterion": "NYTTE", "weight_from": 3.0, "weight_to": 2.41, "change": -0.59},
        "weights": [], "score_sheet": {"need": "B-2022-007", "trust": "983974899", "direction": "increase", "points": 4.2},
        "budget": {"decrease": 150001, "increase": 320000}},
    "what_it_would_take": [{"need": "B-2022-012", "score": 48.2, "score_increase": 3.1, "budget_increase": 900000}],
    "ranking": [], "needs": []
}))]
pub struct Certificate {
    pub case_id: Uuid,
    pub year: i32,
    pub criteria_set_version: i32,
    /// SHA-256 (hex) of the inputs: the prioritisation criteria (code, weight, scale) and every
    /// score sheet, in canonical order (needs by reference, trusts by organisation number,
    /// criteria by code). Recompute it to check that the inputs are the ones certified.
    pub inputs_hash: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub computed_at: DateTime<Utc>,
    /// Money available: what the frames the case draws on had left before the decision.
    pub budget_nok: i64,
    /// Capacity limit (person-months a year); null: none.
    pub capacity: Option<i64>,
    /// Whether the board's selection is the optimal one for these inputs.
    pub agrees_with_optimum: bool,
    pub board_total_priority: f64,
    pub optimal_total_priority: f64,
    /// The smallest single changes that would change the optimal selection: a criterion
    /// weight (`weight`, and per criterion `weights` with the thresholds up and down), one
    /// trust's score for one need (`score_sheet`, in 0–100 points of that trust's score), or
    /// the budget (`budget.decrease` / `budget.increase`, NOK). Exact up to the solver's
    /// 10⁻⁶-point resolution; null where no change of that kind changes the selection.
    #[schema(value_type = Object)]
    pub stability_radius: StabilityRadius<String>,
    /// Per need left out of the optimal selection: the overall-score increase (points) beyond
    /// which it comes in, and the budget increase (NOK) at which a selection containing it is
    /// as good as today's.
    #[schema(value_type = Vec<Object>)]
    pub what_it_would_take: Vec<WhatItWouldTake<String>>,
    /// The mean ranking relied on.
    pub ranking: Vec<RankedEntry>,
    /// The candidates of the certified problem.
    pub needs: Vec<CertifiedNeed>,
}

impl From<certificates::RankedEntry> for RankedEntry {
    fn from(e: certificates::RankedEntry) -> Self {
        RankedEntry {
            reference: e.reference,
            rank: e.rank,
            overall: e.overall,
            coverage: e.coverage,
        }
    }
}

impl From<certificates::CertifiedNeed> for CertifiedNeed {
    fn from(n: certificates::CertifiedNeed) -> Self {
        CertifiedNeed {
            need_id: n.need_id,
            reference: n.reference,
            priority: n.priority,
            cost_nok: n.cost_nok,
            board_selected: n.board_selected,
            optimal_selected: n.optimal_selected,
        }
    }
}

impl From<certificates::Certificate> for Certificate {
    fn from(c: certificates::Certificate) -> Self {
        Certificate {
            case_id: c.case_id,
            year: c.year,
            criteria_set_version: c.criteria_set_version,
            inputs_hash: c.inputs_hash,
            computed_at: c.computed_at,
            budget_nok: c.budget_nok,
            capacity: c.capacity,
            agrees_with_optimum: c.agrees_with_optimum,
            board_total_priority: c.board_total_priority,
            optimal_total_priority: c.optimal_total_priority,
            stability_radius: c.stability_radius,
            what_it_would_take: c.what_it_would_take,
            ranking: c.ranking.into_iter().map(RankedEntry::from).collect(),
            needs: c.needs.into_iter().map(CertifiedNeed::from).collect(),
        }
    }
}
