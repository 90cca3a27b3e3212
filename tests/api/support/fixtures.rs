//! Shared fixtures: request bodies, setup requests and rows written straight into the
//! database, grouped by resource. A test about one resource builds what it needs from the
//! others here, so no test file imports from another.
//!
//! Setup helpers assert their own status and return the created resource as JSON (as they
//! always have); the `*_typed` scenario fixtures at the end return the API's own types.

use diesel::RunQueryDsl;
use portfolio_api::routes::budget_frames::Frame;
use portfolio_api::routes::cycles::Cycle;
use portfolio_api::routes::needs::Need;
use serde_json::{json, Value};

use super::orgs::{HELSE_MIDT, HELSE_NORD, HELSE_VEST, HSO, OUS};
use super::tokens::{DECIDE, MANAGE, OFFICE, READ, SUBMIT};
use super::{Req, TestApp, TestResponse};

// ---- reading ----------------------------------------------------------------------------

/// GETs `path` with a read token, asserting 200.
pub async fn get(app: &TestApp, path: &str) -> Value {
    app.get(path)
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json()
}

/// The `id` of a JSON representation.
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

/// The entity tag of a JSON representation with a `version`.
pub fn etag_of(v: &Value) -> String {
    format!("\"v{}\"", v["version"])
}

// ---- cycles and criteria sets ------------------------------------------------------------

pub async fn open_cycle(app: &TestApp, year: i32) -> Value {
    app.post("/api/v1/cycles")
        .auth(OFFICE, Some(HSO))
        .json(&json!({ "year": year }))
        .send()
        .await
        .assert_status(201)
        .json()
}

/// Moves the cycle of `year` to phase `to`.
pub async fn advance(app: &TestApp, year: i32, to: &str) -> Value {
    let c = get(app, &format!("/api/v1/cycles/{year}")).await;
    phase_change(app, year, to)
        .header("If-Match", &etag_of(&c))
        .send()
        .await
        .assert_status(200)
        .json()
}

/// A request by the portfolio office to move cycle `year` to phase `to` (add If-Match to send it).
pub fn phase_change<'a>(app: &'a TestApp, year: i32, to: &str) -> Req<'a> {
    app.post(&format!("/api/v1/cycles/{year}/phase"))
        .auth(OFFICE, Some(HSO))
        .json(&json!({ "to": to }))
}

/// One screening criterion (STRATEGI, pass/fail) and two prioritisation criteria (NYTTE ×3 on 1–5,
/// GEVINST ×1 on 0–10).
pub fn criteria_body() -> Value {
    json!({"criteria": [
        {"code": "STRATEGI", "name": "Strategisk forankring", "kind": "screening"},
        {"code": "NYTTE", "name": "Pasientnytte", "kind": "prioritisation", "weight": 3.0, "scale_min": 1, "scale_max": 5,
         "scale_labels": [{"value": 1, "label": "Liten"}, {"value": 5, "label": "Svært stor"}]},
        {"code": "GEVINST", "name": "Økonomisk gevinst", "kind": "prioritisation", "weight": 1.0, "scale_min": 0, "scale_max": 10}
    ]})
}

/// Creates and adopts the criteria set of `year`.
pub async fn adopt_criteria(app: &TestApp, year: i32, body: &Value) {
    let set = app
        .put(&format!("/api/v1/cycles/{year}/criteria-set"))
        .auth(OFFICE, Some(HSO))
        .json(body)
        .send()
        .await
        .assert_status(201)
        .json();
    app.post(&format!("/api/v1/cycles/{year}/criteria-set/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&set))
        .send()
        .await
        .assert_status(200);
}

// ---- needs -------------------------------------------------------------------------------

pub fn need_body(year: i32, title: &str) -> Value {
    json!({
        "cycle_year": year,
        "title": title,
        "description": "Data registreres i dag manuelt i flere kvalitetsregistre.",
        "expected_benefit": "Mindre dobbeltregistrering.",
        "origin": "professional_community",
        "estimated_study_cost_nok": 1_500_000,
        "contact_name": "Ola Nordmann",
        "contact_email": "ola@example.org"
    })
}

/// Reports a need for `org` (a submitter of that organisation).
pub async fn report(app: &TestApp, org: &str, body: &Value) -> Value {
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(org))
        .json(body)
        .send()
        .await
        .assert_status(201)
        .json()
}

/// The first assessment of `need` by the portfolio office, asserting 200.
pub async fn assess(app: &TestApp, need: &Value, body: &Value) -> Value {
    let id = need["id"].as_str().expect("need id");
    app.post(&format!("/api/v1/needs/{id}/assessment"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(need))
        .json(body)
        .send()
        .await
        .assert_status(200)
        .json()
}

/// Accepts with the screening criterion met.
pub fn accept_body() -> Value {
    json!({"decision": "accepted", "screening": [{"code": "STRATEGI", "result": "pass"}]})
}

/// `n` new accepted needs of `year` with an estimated study cost of 1 MNOK: (id, reference).
/// Written straight into the database: for tests of what the board does with accepted
/// needs, not of intake and assessment (tested with the needs resource).
pub async fn accepted_needs(app: &TestApp, year: i32, n: usize) -> Vec<(String, String)> {
    with_costs(app, year, &vec![1_000_000; n])
}

/// New accepted needs of `year`, one per cost: (id, reference). Straight into the database.
pub fn with_costs(app: &TestApp, year: i32, costs: &[i64]) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct R {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        reference: String,
    }
    let mut conn = app.conn();
    diesel::sql_query("INSERT INTO cycles (year) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind::<diesel::sql_types::Int4, _>(year)
        .execute(&mut conn)
        .expect("cycle");
    costs
        .iter()
        .map(|cost| {
            let r: R = diesel::sql_query(
                "WITH s AS (UPDATE cycles SET last_need_seq = last_need_seq + 1 WHERE year = $1 RETURNING last_need_seq) \
                 INSERT INTO needs (cycle_year, seq, reference, title, description, expected_benefit, origin, \
                                    organisation_number, estimated_study_cost_nok, status, reported_by) \
                 SELECT $1, s.last_need_seq, 'B-' || $1 || '-' || lpad(s.last_need_seq::text, 3, '0'), \
                        'Behov ' || s.last_need_seq, 'Beskrivelse', 'Gevinst', 'users', $2, $3, 'accepted', 'test' FROM s \
                 RETURNING id::text AS id, reference",
            )
            .bind::<diesel::sql_types::Int4, _>(year)
            .bind::<diesel::sql_types::Text, _>(OUS)
            .bind::<diesel::sql_types::BigInt, _>(*cost)
            .get_result(&mut conn)
            .expect("need");
            (r.id, r.reference)
        })
        .collect()
}

// ---- budget frames -----------------------------------------------------------------------

/// A budget frame of `year` for sub-portfolio `sub` (e.g. `concept_studies`).
pub async fn create_frame(app: &TestApp, year: i32, sub: &str, amount: i64) -> Value {
    app.post("/api/v1/budget-frames")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": year, "sub_portfolio": sub, "amount_nok": amount, "reason": "Vedtatt budsjett"}))
        .send()
        .await
        .assert_status(201)
        .json()
}

// ---- decision cases, concept studies -----------------------------------------------------

/// A decision item starting a concept study of `need` funded from `frame`.
pub fn start_item(need: &str, frame: &str, budget: i64, title: &str) -> Value {
    json!({"kind": "start_study", "need_id": need, "frame_id": frame, "budget_nok": budget,
           "title": title, "responsible_org": HSO,
           "expected_completion": {"from": "2023-08-15", "to": "2023-10-15", "label": "sensommer/tidlig høst 2023"}})
}

/// As [`start_item`], for an interregional study on behalf of all four regions.
pub fn interregional_item(need: &str, frame: &str, budget: i64, title: &str) -> Value {
    json!({"kind": "start_study", "need_id": need, "frame_id": frame, "budget_nok": budget,
           "title": title, "responsible_org": HSO, "interregional": true,
           "on_behalf_of": [HSO, HELSE_VEST, HELSE_MIDT, HELSE_NORD]})
}

/// Prepares a decision case with these items, asserting 201.
pub async fn prepare(app: &TestApp, items: Vec<Value>) -> Value {
    app.post("/api/v1/decision-cases")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"meeting_date": "2022-10-20", "title": "Porteføljestyremøte", "background": "Bakgrunn", "items": items}))
        .send()
        .await
        .assert_status(201)
        .json()
}

/// The board decides `case` with these outcomes (one per item).
pub async fn decide_with(app: &TestApp, case: &Value, outcomes: Vec<Value>) -> TestResponse {
    let id = case["id"].as_str().expect("case id");
    app.post(&format!("/api/v1/decision-cases/{id}/decide"))
        .auth(DECIDE, Some(HSO))
        .header("If-Match", &etag_of(case))
        .json(&json!({"rationale": "Styret sluttet seg til forslaget", "minutes_reference": "PS-sak 42/2022", "outcomes": outcomes}))
        .send()
        .await
}

/// Prepares and approves every item; returns the decided case.
pub async fn decide_all(app: &TestApp, items: Vec<Value>) -> Value {
    let n = items.len();
    let case = prepare(app, items).await;
    decide_with(app, &case, vec![json!({"outcome": "approved"}); n])
        .await
        .assert_status(200)
        .json()
}

/// Moves a study with the portfolio office's operational change.
pub async fn study_to(app: &TestApp, id: &str, to: &str) -> TestResponse {
    let s = get(app, &format!("/api/v1/concept-studies/{id}")).await;
    app.post(&format!("/api/v1/concept-studies/{id}/status"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &etag_of(&s))
        .json(&json!({"to": to}))
        .send()
        .await
}

// ---- measures and delivery status --------------------------------------------------------

/// The id of a 2023 service area by name.
pub fn area(app: &TestApp, name: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    diesel::sql_query("SELECT id::text AS id FROM service_areas WHERE year = 2023 AND name = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Id>(&mut app.conn())
        .expect("area")
        .id
}

pub async fn register_supplier(app: &TestApp, org: &str, name: &str) {
    app.post("/api/v1/organisations")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"org_number": org, "name": name, "kind": "supplier"}))
        .send()
        .await
        .assert_status(201);
}

pub async fn create_measure(app: &TestApp, area_id: &str, reference: &str) -> Value {
    app.post("/api/v1/measures")
        .auth(MANAGE, Some(HSO))
        .json(&json!({
            "title": format!("Tiltak {reference}"),
            "description": "Selvbetjent innsjekk",
            "service_area_id": area_id,
            "origin": "users",
            "system_owner": "Klinikk for kvinne og barn",
            "system_responsible": "Seksjon for pasientadministrative systemer",
            "partner_reference": reference,
        }))
        .send()
        .await
        .assert_status(201)
        .json()
}

/// Many measures at once, straight into the database (setup, not what is tested).
pub fn seed_measures(app: &TestApp, n: usize) -> Vec<String> {
    let area_id = area(app, "Bildediagnostikk");
    diesel::sql_query(format!(
        "INSERT INTO measures (title, service_area_id, origin, system_owner, system_responsible, partner_reference)
         SELECT 'Tiltak ' || g, '{area_id}'::uuid, 'users', 'Eier', 'Ansvarlig', 'SP-' || lpad(g::text, 5, '0')
         FROM generate_series(1, {n}) AS g"
    ))
    .execute(&mut app.conn())
    .expect("seed measures");
    (1..=n).map(|g| format!("SP-{g:05}")).collect()
}

/// One delivery-status item of a sync batch.
pub fn item(reference: &str, progress: u32, rag: &str, ts: &str) -> Value {
    json!({
        "reference": reference,
        "progress": progress,
        "rag": rag,
        "forecast_date": "2024-03-01",
        "milestones": [
            {"name": "Pilot", "planned_date": "2023-02-15", "done_date": null},
            {"name": "Innføring", "planned_date": "2024-01-15"}
        ],
        "comment": "Forsinket leveranse fra underleverandør",
        "reported_by": "Sykehuspartner HF",
        "source_timestamp": ts,
    })
}

// ---- scenarios (typed) -------------------------------------------------------------------

/// An open cycle of `year` with [`criteria_body`] adopted, still in intake.
pub async fn cycle_with_adopted_criteria(app: &TestApp, year: i32) -> Cycle {
    open_cycle(app, year).await;
    adopt_criteria(app, year, &criteria_body()).await;
    app.get(&format!("/api/v1/cycles/{year}"))
        .auth(READ, None)
        .returns(200)
        .await
}

/// A need of `org` reported over HTTP and accepted in the first assessment; the cycle of
/// `year` (with adopted criteria) is left in `first_assessment`.
pub async fn accepted_need(app: &TestApp, year: i32, org: &str) -> Need {
    cycle_with_adopted_criteria(app, year).await;
    let need = report(
        app,
        org,
        &need_body(year, "Automatisert overføring til kvalitetsregistre"),
    )
    .await;
    advance(app, year, "first_assessment").await;
    serde_json::from_value(assess(app, &need, &accept_body()).await).expect("a Need")
}

/// A concept-study budget frame of `year` of `amount` NOK.
pub async fn budget_frame(app: &TestApp, year: i32, amount: i64) -> Frame {
    serde_json::from_value(create_frame(app, year, "concept_studies", amount).await)
        .expect("a Frame")
}

/// Adopts a one-criterion set (scale 0–10) for `year` and gives each need OUS's score, so a
/// need's priority is exactly `score × 10`.
pub fn score_on_one_criterion(
    app: &TestApp,
    year: i32,
    needs: &[(String, String)],
    scores: &[i32],
) {
    let criteria = json!([{"code": "NYTTE", "name": "Nytte", "description": "", "kind": "prioritisation",
                           "weight": 1.0, "scale_min": 0, "scale_max": 10, "scale_labels": []}]);
    let sheets = scores.iter().map(|s| json!({ "NYTTE": s }));
    adopt_and_score_directly(app, year, criteria, needs, sheets);
}

/// Writes straight into the database: adopts `criteria` for `year` (unless a set is adopted
/// already), opens prioritisation, and gives each need in turn OUS's next sheet of `sheets`.
pub fn adopt_and_score_directly(
    app: &TestApp,
    year: i32,
    criteria: Value,
    needs: &[(String, String)],
    sheets: impl IntoIterator<Item = Value>,
) {
    let mut conn = app.conn();
    diesel::sql_query(
        "INSERT INTO criteria_sets (cycle_year, status, criteria, adopted_at, adopted_by) \
         VALUES ($1, 'adopted', $2, now(), 'test') ON CONFLICT (cycle_year) DO NOTHING",
    )
    .bind::<diesel::sql_types::Int4, _>(year)
    .bind::<diesel::sql_types::Jsonb, _>(criteria)
    .execute(&mut conn)
    .expect("criteria");
    diesel::sql_query("UPDATE cycles SET phase = 'prioritisation' WHERE year = $1")
        .bind::<diesel::sql_types::Int4, _>(year)
        .execute(&mut conn)
        .expect("phase");
    for ((id, _), sheet) in needs.iter().zip(sheets) {
        diesel::sql_query(
            "INSERT INTO need_scores (need_id, org_number, cycle_year, scores, scored_by) \
             VALUES ($1::uuid, $2, $3, $4, 'test')",
        )
        .bind::<diesel::sql_types::Text, _>(id)
        .bind::<diesel::sql_types::Text, _>(OUS)
        .bind::<diesel::sql_types::Int4, _>(year)
        .bind::<diesel::sql_types::Jsonb, _>(sheet)
        .execute(&mut conn)
        .expect("scores");
    }
}
