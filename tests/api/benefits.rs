//! Benefits realisation: who may plan and who may measure, the measurement series with
//! corrections, filters, and the tertial report's frozen benefits section.

use actix_web::http::Method;
use chrono::{Datelike, Months, Utc};
use serde_json::{json, Value};

use crate::support::{area, create_measure, get, TestApp, AHUS, HSO, MANAGE, OUS, READ, SUBMIT};

fn plan(parent_kind: &str, parent_id: &str) -> Value {
    let today = Utc::now().date_naive();
    let ago = today.checked_sub_months(Months::new(12)).expect("date");
    let ahead = today.checked_add_months(Months::new(12)).expect("date");
    json!({
        "parent": {"kind": parent_kind, "id": parent_id},
        "title": "Færre manuelle timer",
        "description": "Mindre dobbeltregistrering.",
        "category": "released_capacity",
        "owner": {"org_number": OUS, "role": "Klinikkleder"},
        "indicator": {"name": "Timer per måned", "unit": "timer", "direction": "decrease"},
        "baseline": {"value": 400.0, "date": ago.to_string(), "method": "Tidsregistrering"},
        "target": {"value": 100.0, "date": ahead.to_string()},
        "yearly_value_nok": 1_000_000
    })
}

fn measurement(days_ago: u64, value: f64) -> Value {
    let on = Utc::now().date_naive() - chrono::Days::new(days_ago);
    json!({"measured_on": on.to_string(), "value": value, "source": "Tidsregistrering"})
}

fn etag(r: &crate::support::TestResponse) -> String {
    r.header("etag").expect("an ETag")
}

#[actix_web::test]
async fn planning_is_the_offices_and_measuring_the_owners() {
    let app = TestApp::new().await;
    let m = create_measure(&app, &area(&app, "HR"), "SP-B1").await;
    let measure_id = m["id"].as_str().expect("id");
    let body = plan("measure", measure_id);

    // Plans: readers and trusts may not create them; the office may.
    for (scopes, org) in [(READ, None), (SUBMIT, Some(OUS))] {
        app.post("/api/v1/benefits")
            .auth(scopes, org)
            .json(&body)
            .send()
            .await
            .assert_problem(403);
    }
    app.post("/api/v1/benefits")
        .json(&body)
        .send()
        .await
        .assert_problem(401);
    let created = app
        .post("/api/v1/benefits")
        .auth(MANAGE, Some(HSO))
        .json(&body)
        .send()
        .await;
    created.assert_status(201);
    let b = created.json();
    let id = b["id"].as_str().expect("id").to_owned();
    assert_eq!(b["status"], "planned");
    assert_eq!(b["parent"], json!({"kind": "measure", "id": measure_id}));
    assert_eq!(b["need_id"], Value::Null, "a measure has no need");
    assert_eq!(b["progress"]["realised_share"], Value::Null);
    let path = format!("/api/v1/benefits/{id}");

    // Every broken rule at once: target = baseline, dates out of order, unknown parent
    // is checked only once the plan itself is sound.
    let mut bad = body.clone();
    bad["target"] = json!({"value": 400.0, "date": "2000-01-01"});
    bad["category"] = json!("not_priced");
    let p = app
        .post("/api/v1/benefits")
        .auth(MANAGE, Some(HSO))
        .json(&bad)
        .send()
        .await
        .assert_problem(422);
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        ["/target/value", "/target/date", "/yearly_value_nok"],
        "{p}"
    );
    let mut orphan = body.clone();
    orphan["parent"]["id"] = json!(uuid::Uuid::new_v4());
    app.post("/api/v1/benefits")
        .auth(MANAGE, Some(HSO))
        .json(&orphan)
        .refused_at(422, "/parent/id")
        .await;

    // Readers read; edits need the office and If-Match.
    let got = app.get(&path).auth(READ, None).send().await;
    got.assert_status(200);
    assert_eq!(etag(&got), "\"v1\"");
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .json(&json!({"title": "Nytt navn"}))
        .send()
        .await
        .assert_problem(428);
    app.patch(&path)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Nytt navn"}))
        .send()
        .await
        .assert_problem(403);
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Nytt navn"}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("{path}/status"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v2\"")
        .json(&json!({"status": "in_realisation"}))
        .send()
        .await
        .assert_status(200);
    // The basis is fixed once realisation has begun.
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v3\"")
        .json(&json!({"target": {"value": 50.0, "date": "2030-01-01"}}))
        .send()
        .await
        .assert_problem(409);

    // Measurements: the owner organisation (submit) and the office; nobody else.
    let measurements = format!("{path}/measurements");
    for (scopes, org) in [(READ, Some(OUS)), (SUBMIT, Some(AHUS))] {
        app.post(&measurements)
            .auth(scopes, org)
            .json(&measurement(60, 300.0))
            .send()
            .await
            .assert_problem(403);
    }
    // A submit token that names no organisation is not a valid token for that scope at all.
    app.post(&measurements)
        .auth(SUBMIT, None)
        .json(&measurement(60, 300.0))
        .send()
        .await
        .assert_problem(401);
    let first = app
        .post(&measurements)
        .auth(SUBMIT, Some(OUS))
        .json(&measurement(60, 300.0))
        .send()
        .await
        .assert_status(201)
        .json();
    assert_eq!(first["recorded_org"], OUS);
    let typo = app
        .post(&measurements)
        .auth(MANAGE, Some(HSO))
        .json(&measurement(10, 25.0))
        .send()
        .await
        .assert_status(201)
        .json();
    let b = app.get(&path).auth(READ, None).send().await.json();
    assert_eq!(b["latest_measurement"]["value"], 25.0);
    assert_eq!(b["progress"]["realised_share"], 1.0, "overshoot is clamped");

    // A correction replaces the typo; the typo cannot be corrected twice.
    let mut fix = measurement(10, 250.0);
    fix["corrects"] = typo["id"].clone();
    let fixed = app
        .post(&measurements)
        .auth(SUBMIT, Some(OUS))
        .json(&fix)
        .send()
        .await
        .assert_status(201)
        .json();
    app.post(&measurements)
        .auth(SUBMIT, Some(OUS))
        .json(&fix)
        .send()
        .await
        .assert_problem(409);
    let b = app.get(&path).auth(READ, None).send().await.json();
    assert_eq!(b["latest_measurement"]["id"], fixed["id"]);
    assert_eq!(
        b["progress"]["realised_share"], 0.5,
        "(400 − 250) / (400 − 100)"
    );
    let series = app.get(&measurements).auth(READ, None).send().await;
    series.assert_status(200);
    let items = series.json()["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(3));
    assert_eq!(items[1]["id"], typo["id"]);
    assert_eq!(items[1]["corrected_by"], fixed["id"]);
    // Bad measurements: future date, unknown correction target.
    let mut future = measurement(0, 200.0);
    future["measured_on"] = json!((Utc::now().date_naive() + chrono::Days::new(5)).to_string());
    future["corrects"] = json!(999_999);
    let p = app
        .post(&measurements)
        .auth(SUBMIT, Some(OUS))
        .json(&future)
        .send()
        .await
        .assert_problem(422);
    assert_eq!(p["errors"].as_array().map(Vec::len), Some(2), "{p}");

    // Filters.
    for (query, expected) in [
        (format!("owner_org={OUS}"), 1),
        (format!("owner_org={AHUS}"), 0),
        ("category=released_capacity".into(), 1),
        ("category=not_priced".into(), 0),
        ("status=in_realisation".into(), 1),
        (format!("measure_id={measure_id}"), 1),
        (format!("need_id={}", uuid::Uuid::new_v4()), 0),
        ("rag=green".into(), 1),
        ("rag=red".into(), 0),
    ] {
        let page = get(&app, &format!("/api/v1/benefits?{query}")).await;
        assert_eq!(
            page["items"].as_array().map(Vec::len),
            Some(expected),
            "{query}"
        );
    }

    // Lifecycle: cancelling needs a reason; a cancelled benefit takes no measurements and
    // cannot be deleted (only a planned, unmeasured one can).
    let v = etag(&app.get(&path).auth(READ, None).send().await);
    app.post(&format!("{path}/status"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &v)
        .json(&json!({"status": "cancelled"}))
        .refused_at(422, "/reason")
        .await;
    app.post(&format!("{path}/status"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &v)
        .json(&json!({"status": "cancelled", "reason": "Tiltaket ble stanset"}))
        .send()
        .await
        .assert_status(200);
    app.post(&measurements)
        .auth(SUBMIT, Some(OUS))
        .json(&measurement(1, 200.0))
        .send()
        .await
        .assert_problem(409);
    let v = etag(&app.get(&path).auth(READ, None).send().await);
    app.request(Method::DELETE, &path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &v)
        .send()
        .await
        .assert_problem(409);

    // A planned benefit entered by mistake can be deleted.
    let spare = app
        .post("/api/v1/benefits")
        .auth(MANAGE, Some(HSO))
        .json(&body)
        .send()
        .await
        .assert_status(201)
        .json();
    let spare_path = format!("/api/v1/benefits/{}", spare["id"].as_str().expect("id"));
    app.request(Method::DELETE, &spare_path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .send()
        .await
        .assert_status(204);
    app.get(&spare_path)
        .auth(READ, None)
        .send()
        .await
        .assert_problem(404);

    // Every change is in the feed and the audit trail, in the same transactions.
    let count = |sql: &str| {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        use diesel::RunQueryDsl;
        diesel::sql_query(sql)
            .get_result::<N>(&mut app.conn())
            .expect("count")
            .n
    };
    assert_eq!(
        count("SELECT count(*) AS n FROM audit_log WHERE entity_type = 'benefit_measurement'"),
        3
    );
    assert!(count("SELECT count(*) AS n FROM events WHERE entity_type = 'benefit'") >= 8);
}

#[actix_web::test]
async fn demo_benefits_show_in_lineage_overview_and_a_frozen_tertial_report() {
    let app = TestApp::new().await;
    let db = app.state.db.clone();
    actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("load");
    let concept = app
        .get("/api/v1/concepts?status=active")
        .auth(READ, None)
        .send()
        .await
        .json()["items"][0]
        .clone();
    assert_eq!(
        concept["title"],
        "Automatisert overføring av data til kvalitetsregistre"
    );
    let need_id = concept["need"]["id"].as_str().expect("need id");
    let lineage = get(&app, &format!("/api/v1/needs/{need_id}/lineage")).await;
    // The demo creates both in one transaction (same creation time), so compare as a set.
    let mut rags: Vec<&str> = lineage["benefits"]
        .as_array()
        .expect("benefits")
        .iter()
        .filter_map(|b| b["progress"]["rag"].as_str())
        .collect();
    rags.sort_unstable();
    assert_eq!(rags, ["green", "yellow"], "one on track, one behind");

    let year = Utc::now().year();
    let overview = get(&app, &format!("/api/v1/portfolio/overview?year={year}")).await;
    let block = &overview["benefits"];
    // Four with histories, and the planned one the contract's delete example removes.
    assert_eq!(block["total"], 5, "{block}");
    assert_eq!(
        block["by_status"],
        json!({"in_realisation": 3, "planned": 2})
    );
    assert_eq!(block["by_rag"]["yellow"], 2, "{block}");
    assert_eq!(block["stale"], 1, "{block}");
    assert_eq!(block["priced_planned_nok_per_year"], 3_600_000);

    // A tertial report captures the benefits and freezes them on publish.
    let tertial = (Utc::now().month0() / 4 + 1) as u8;
    let report = app
        .post("/api/v1/tertial-reports")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": year, "tertial": tertial}))
        .send()
        .await
        .assert_status(201)
        .json();
    assert_eq!(
        report["content"]["benefits"]["benefits"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    let path = format!(
        "/api/v1/tertial-reports/{}",
        report["id"].as_str().expect("id")
    );
    let published = app
        .post(&format!("{path}/publish"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .send()
        .await;
    published.assert_status(200);
    let csv_path = format!("{path}?section=benefits");
    let csv = app
        .get(&csv_path)
        .auth(READ, None)
        .header("Accept", "text/csv")
        .send()
        .await;
    csv.assert_status(200);
    let text = csv.text();
    assert_eq!(
        text.lines().count(),
        6,
        "header + one row per benefit:\n{text}"
    );
    assert!(text.starts_with("year,tertial,benefit_id,title"), "{text}");

    // New measurements and lifecycle changes after publication...
    let benefit = &lineage["benefits"][1];
    let id = benefit["id"].as_str().expect("id");
    app.post(&format!("/api/v1/benefits/{id}/measurements"))
        .auth(SUBMIT, Some(OUS))
        .json(&measurement(0, 110.0))
        .send()
        .await
        .assert_status(201);
    let v = etag(
        &app.get(&format!("/api/v1/benefits/{id}"))
            .auth(READ, None)
            .send()
            .await,
    );
    app.post(&format!("/api/v1/benefits/{id}/status"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &v)
        .json(&json!({"status": "partly_realised", "reason": "Delvis innført"}))
        .send()
        .await
        .assert_status(200);
    // ...leave the published report byte for byte the same, JSON and CSV.
    let again = app.get(&path).auth(READ, None).send().await;
    assert_eq!(again.body, published.body);
    let csv_again = app
        .get(&csv_path)
        .auth(READ, None)
        .header("Accept", "text/csv")
        .send()
        .await;
    assert_eq!(csv_again.body, csv.body);
    // While a fresh draft sees them.
    let now = app
        .get(&format!("/api/v1/benefits/{id}"))
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(now["status"], "partly_realised");
    assert_eq!(
        now["progress"]["rag"], "green",
        "ahead of the straight line"
    );
}
