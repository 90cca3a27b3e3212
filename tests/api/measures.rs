//! The improvement portfolio: measures, their lifecycle, and the IT partner's delivery-status sync.

use std::time::Instant;

use portfolio_api::routes::delivery::DeliveryBatch;
use portfolio_api::routes::measures::MeasurePage;
use serde_json::{json, Value};

// `pub`: test files written before `support/` held these import them from here.
#[allow(unused_imports)]
pub use crate::support::{
    area, create_measure, item, register_supplier, seed_measures, MANAGE, READ, SYNC,
};
use crate::support::{assert_needs_if_match, pointers, wire, TestApp, HSO, SYKEHUSPARTNER};

const BATCHES: &str = "/api/v1/delivery-status/batches";

/// Sykehuspartner syncs these delivery-status `items`; the batch is accepted.
async fn sync(app: &TestApp, items: Vec<Value>) {
    app.post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&json!({ "items": items }))
        .responds(201)
        .await;
}

fn outcomes(batch: &Value) -> Vec<String> {
    let batch: DeliveryBatch = serde_json::from_value(batch.clone()).expect("a DeliveryBatch");
    batch.items.iter().map(|i| wire(&i.outcome)).collect()
}

#[actix_web::test]
async fn create_edit_and_move_a_measure_through_its_lifecycle() {
    let app = TestApp::new().await;
    register_supplier(&app, "923609016", "Leverandør AS").await;
    let area_id = area(&app, "Mor og barn");
    let r = app
        .post("/api/v1/measures")
        .auth(MANAGE, Some(HSO))
        .json(&json!({
            "title": "Digital innsjekk",
            "service_area_id": area_id,
            "origin": "users",
            "system_owner": "Klinikk for kvinne og barn",
            "system_responsible": "Seksjon PAS",
            "partner_reference": "SP-2023-0042",
            "supplier_org_numbers": ["923609016"]
        }))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    let m = r.json();
    let id = m["id"].as_str().expect("id").to_owned();
    assert_eq!(r.header("location"), Some(format!("/api/v1/measures/{id}")));
    assert_eq!(m["status"], "proposed");
    assert_eq!(m["supplier_org_numbers"], json!(["923609016"]));
    assert!(m["delivery_status"].is_null());
    let path = format!("/api/v1/measures/{id}");

    let got = app.get(&path).auth(READ, None).send().await;
    got.assert_status(200);
    assert_eq!(got.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(got.json()["partner_reference"], "SP-2023-0042");

    // The reference is unique.
    let audit_before = app.count("audit_log");
    app.post("/api/v1/measures")
        .auth(MANAGE, Some(HSO))
        .json(
            &json!({"title": "Annet", "service_area_id": area_id, "origin": "users",
            "system_owner": "A", "system_responsible": "B", "partner_reference": "SP-2023-0042"}),
        )
        .refused(409)
        .await;
    assert_eq!(app.count("measures"), 1);
    assert_eq!(app.count("audit_log"), audit_before);

    // Edit needs If-Match.
    let retitle = json!({"title": "Digital innsjekk poliklinikk"});
    assert_needs_if_match(
        || app.patch(&path).auth(MANAGE, Some(HSO)).json(&retitle),
        7,
    )
    .await;
    let r = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Digital innsjekk poliklinikk", "supplier_org_numbers": []}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("etag").as_deref(), Some("\"v2\""));
    assert_eq!(r.json()["title"], "Digital innsjekk poliklinikk");
    assert_eq!(r.json()["supplier_org_numbers"], json!([]));
    assert_eq!(app.count("measure_suppliers"), 0);

    // Lifecycle: proposed → planned → in_delivery → delivered; delivered is final.
    let status = |to: &'static str, etag: &'static str| {
        app.post(&format!("{path}/status"))
            .auth(MANAGE, Some(HSO))
            .header("If-Match", etag)
            .json(&json!({"status": to}))
    };
    status("in_delivery", "\"v2\"").refused(409).await;
    status("planned", "\"v2\"").responds(200).await;
    status("in_delivery", "\"v3\"").responds(200).await;
    let r = status("delivered", "\"v4\"").send().await;
    r.assert_status(200);
    assert_eq!(r.json()["status"], "delivered");
    status("planned", "\"v5\"").refused(409).await;
    status("finished", "\"v5\"")
        .refused_at(422, "/status")
        .await;
}

#[actix_web::test]
async fn measure_input_is_checked() {
    let app = TestApp::new().await;
    let area_id = area(&app, "HR");
    // A health trust is not a supplier; an unknown org number is not registered.
    let p = app
        .post("/api/v1/measures")
        .auth(MANAGE, Some(HSO))
        .json(
            &json!({"title": "T", "service_area_id": area_id, "origin": "users",
            "system_owner": "A", "system_responsible": "B", "partner_reference": "SP-1",
            "supplier_org_numbers": ["993467049", "923609016"]}),
        )
        .send()
        .await
        .problem(422);
    let pointers = pointers(&p);
    assert_eq!(
        pointers,
        ["/supplier_org_numbers/0", "/supplier_org_numbers/1"]
    );
    // Bad origin, blank title, bad org number.
    let p = app
        .post("/api/v1/measures")
        .auth(MANAGE, Some(HSO))
        .json(
            &json!({"title": "  ", "service_area_id": area_id, "origin": "aliens",
            "system_owner": "A", "system_responsible": "B", "partner_reference": "SP-1",
            "supplier_org_numbers": ["123"]}),
        )
        .refused(422)
        .await;
    assert_eq!(p.errors.len(), 3, "{p:?}");
    // Unknown service area.
    let p = app
        .post("/api/v1/measures")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"title": "T", "service_area_id": "00000000-0000-4000-8000-000000000000",
            "origin": "users", "system_owner": "A", "system_responsible": "B", "partner_reference": "SP-1"}))
        .refused(422).await;
    assert_eq!(p.errors[0].pointer, "/service_area_id");
    // A reader may not create.
    app.post("/api/v1/measures")
        .auth(READ, Some(HSO))
        .json(
            &json!({"title": "T", "service_area_id": area_id, "origin": "users",
            "system_owner": "A", "system_responsible": "B", "partner_reference": "SP-1"}),
        )
        .refused(403)
        .await;
    assert_eq!(app.count("measures"), 0);
    assert_eq!(
        app.count("events"),
        0,
        "denied attempts are audited, but nothing changed"
    );
    app.get("/api/v1/measures/00000000-0000-4000-8000-000000000000")
        .auth(READ, None)
        .refused(404)
        .await;
}

#[actix_web::test]
async fn list_filters_and_pages() {
    let app = TestApp::new().await;
    register_supplier(&app, "923609016", "Leverandør AS").await;
    let mor = area(&app, "Mor og barn");
    let hr = area(&app, "HR");
    for i in 0..5 {
        create_measure(&app, &mor, &format!("SP-A{i}")).await;
    }
    let m = create_measure(&app, &hr, "SP-B0").await;
    let id = m["id"].as_str().expect("id");
    app.patch(&format!("/api/v1/measures/{id}"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"supplier_org_numbers": ["923609016"]}))
        .responds(200)
        .await;
    sync(&app, vec![item("SP-A1", 50, "red", "2023-11-01T08:00:00Z")]).await;

    let list = |q: &str| {
        let q = q.to_owned();
        let app = &app;
        async move {
            app.get(&format!("/api/v1/measures?{q}"))
                .auth(READ, None)
                .send()
                .await
                .assert_status(200)
                .json()
        }
    };
    let refs = |page: &Value| -> Vec<String> {
        let page: MeasurePage = serde_json::from_value(page.clone()).expect("a MeasurePage");
        page.items
            .into_iter()
            .map(|m| m.partner_reference)
            .collect()
    };
    assert_eq!(
        refs(&list("year=2023&area_kind=administrative").await),
        ["SP-B0"]
    );
    assert_eq!(
        refs(&list(&format!("service_area_id={mor}&limit=50")).await).len(),
        5
    );
    assert_eq!(refs(&list("rag=red").await), ["SP-A1"]);
    assert_eq!(refs(&list("supplier=923609016").await), ["SP-B0"]);
    assert_eq!(refs(&list("status=proposed").await).len(), 6);
    assert!(refs(&list("status=planned").await).is_empty());
    assert!(refs(&list("year=2024").await).is_empty());
    // Pages neither repeat nor skip.
    let first = list("limit=4").await;
    let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    let second = list(&format!("limit=4&cursor={cursor}")).await;
    assert!(second["next_cursor"].is_null());
    let mut all = refs(&first);
    all.extend(refs(&second));
    assert_eq!(all, ["SP-A0", "SP-A1", "SP-A2", "SP-A3", "SP-A4", "SP-B0"]);
    // Bad filters are 422 naming the parameter.
    app.get("/api/v1/measures?rag=purple")
        .auth(READ, None)
        .refused_at(422, "/query/rag")
        .await;
}

#[actix_web::test]
async fn sync_applies_keeps_history_and_never_goes_backwards() {
    let app = TestApp::new().await;
    let area_id = area(&app, "Mor og barn");
    let m = create_measure(&app, &area_id, "SP-1").await;
    create_measure(&app, &area_id, "SP-2").await;
    let id = m["id"].as_str().expect("id").to_owned();

    let r = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&json!({"items": [
            item("SP-1", 40, "yellow", "2023-11-01T08:00:00Z"),
            item("SP-2", 10, "green", "2023-11-01T08:00:00Z")
        ]}))
        .send()
        .await;
    r.assert_status(201);
    let batch = r.json();
    assert_eq!(outcomes(&batch), ["applied", "applied"]);
    assert_eq!(
        (batch["applied"].as_i64(), batch["item_count"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(batch["submitted_org"], SYKEHUSPARTNER);
    let location = r.header("location").expect("location");
    let read = app.get(&location).auth(READ, None).send().await;
    read.assert_status(200);
    assert_eq!(read.json()["items"], batch["items"]);

    let got = app
        .get(&format!("/api/v1/measures/{id}"))
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(got["delivery_status"]["progress"], 40);
    assert_eq!(got["delivery_status"]["rag"], "yellow");
    assert_eq!(got["delivery_status"]["milestones"][0]["name"], "Pilot");
    assert_eq!(got["version"], 2);

    // Newer → applied; older → stale; same again → unchanged; same time other content → stale.
    let r: Value = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&json!({"items": [
            item("SP-1", 60, "green", "2023-12-01T08:00:00Z"),
            item("SP-2", 99, "red", "2023-10-01T08:00:00Z")
        ]}))
        .returns(201)
        .await;
    assert_eq!(outcomes(&r), ["applied", "stale"]);
    let r: Value = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&json!({"items": [
            item("SP-1", 60, "green", "2023-12-01T08:00:00Z"),
            item("SP-2", 11, "green", "2023-11-01T08:00:00Z")
        ]}))
        .returns(201)
        .await;
    assert_eq!(outcomes(&r), ["unchanged", "stale"]);

    let history: Value = app
        .get(&format!("/api/v1/measures/{id}/delivery-history"))
        .auth(READ, None)
        .returns(200)
        .await;
    let progress: Vec<_> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["progress"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(progress, [60, 40], "newest first");
    app.get("/api/v1/measures/00000000-0000-4000-8000-000000000000/delivery-history")
        .auth(READ, None)
        .refused(404)
        .await;
}

#[actix_web::test]
async fn a_bad_batch_lists_every_bad_item_and_writes_nothing() {
    let app = TestApp::new().await;
    let area_id = area(&app, "Mor og barn");
    create_measure(&app, &area_id, "SP-1").await;
    create_measure(&app, &area_id, "SP-2").await;
    create_measure(&app, &area_id, "SP-3").await;
    let audit = app.count("audit_log");
    let mut bad_milestones = item("SP-3", 5, "green", "2023-11-01T08:00:00Z");
    bad_milestones["milestones"][1]["name"] = json!("Pilot");
    let p = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&json!({"items": [
            item("SP-1", 40, "yellow", "2023-11-01T08:00:00Z"),
            item("SP-2", 140, "green", "2023-11-01T08:00:00Z"),
            item("SP-1", 40, "blue", "2023-11-01T08:00:00Z"),
            {"reference": "SP-2", "progress": 1, "rag": "green", "forecast_date": "2024-02-30",
             "reported_by": "SP", "source_timestamp": "2023-11-01T08:00:00Z"},
            item("SP-1", 40, "green", "2999-01-01T00:00:00Z"),
            bad_milestones,
        ]}))
        .send()
        .await
        .problem(422);
    let pointers = pointers(&p);
    assert_eq!(
        pointers,
        [
            "/items/1/progress",
            "/items/2/rag",
            "/items/3/forecast_date",
            "/items/4/reference",
            "/items/4/source_timestamp",
            "/items/5/milestones/1/name"
        ]
    );
    // An unknown reference fails the whole (otherwise valid) batch.
    let p = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&json!({"items": [
            item("SP-1", 40, "yellow", "2023-11-01T08:00:00Z"),
            item("SP-404", 40, "yellow", "2023-11-01T08:00:00Z")
        ]}))
        .refused(422)
        .await;
    assert_eq!(p.errors[0].pointer, "/items/1/reference");
    for (body, status) in [
        (json!({"items": []}), 422),
        (json!({"items": "x"}), 422),
        (json!({"things": []}), 422),
    ] {
        app.post(BATCHES)
            .auth(SYNC, Some(SYKEHUSPARTNER))
            .json(&body)
            .send()
            .await
            .assert_problem(status);
    }
    app.post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .raw_body("text/plain", "{}")
        .refused(415)
        .await;
    app.post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .raw_body("application/json", "{\"items\": [")
        .refused(400)
        .await;
    assert_eq!(app.count("delivery_batches"), 0);
    assert_eq!(app.count("measure_delivery_history"), 0);
    assert_eq!(app.count("audit_log"), audit);
    let list = app
        .get("/api/v1/measures?rag=yellow")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
}

#[actix_web::test]
async fn only_the_sync_scope_may_sync() {
    let app = TestApp::new().await;
    let area_id = area(&app, "Mor og barn");
    create_measure(&app, &area_id, "SP-1").await;
    let body = json!({"items": [item("SP-1", 40, "yellow", "2023-11-01T08:00:00Z")]});
    for scopes in [READ, MANAGE] {
        app.post(BATCHES)
            .auth(scopes, Some(SYKEHUSPARTNER))
            .json(&body)
            .refused(403)
            .await;
    }
    app.post(BATCHES).json(&body).refused(401).await;
    assert_eq!(app.count("delivery_batches"), 0);
    assert_eq!(app.count("measure_delivery_history"), 0);
    // Reading a batch needs read or sync.
    app.get(&format!("{BATCHES}/00000000-0000-4000-8000-000000000000"))
        .auth("portfolio:submit", Some(HSO))
        .refused(403)
        .await;
    app.get(&format!("{BATCHES}/00000000-0000-4000-8000-000000000000"))
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .refused(404)
        .await;
}

#[actix_web::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = TestApp::new().await;
    let area_id = area(&app, "Mor og barn");
    create_measure(&app, &area_id, "SP-1").await;
    let body = json!({"items": [item("SP-1", 40, "yellow", "2023-11-01T08:00:00Z")]});
    let send = |body: Value, key: &'static str| {
        app.post(BATCHES)
            .auth(SYNC, Some(SYKEHUSPARTNER))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(body.clone(), "k-1").await;
    first.assert_status(201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = send(body.clone(), "k-1").await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body, "the same bytes");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(outcomes(&again.json()), ["applied"]);
    assert_eq!(app.count("delivery_batches"), 1);
    // Same key, other body → 422; nothing written.
    let other = json!({"items": [item("SP-1", 50, "yellow", "2023-11-02T08:00:00Z")]});
    let p = send(other.clone(), "k-1").await.assert_problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/header/Idempotency-Key");
    assert_eq!(app.count("delivery_batches"), 1);
    // Without a key the same batch is a new request: all unchanged.
    let r: Value = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&body)
        .returns(201)
        .await;
    assert_eq!(outcomes(&r), ["unchanged"]);
    // Keys belong to a caller: another subject with the same key is a new request.
    let t = app
        .state
        .verifier
        .mint("other-integration", &[SYNC], Some(SYKEHUSPARTNER), 600)
        .expect("mint");
    let r = app
        .post(BATCHES)
        .token(&t)
        .header("Idempotency-Key", "k-1")
        .json(&other)
        .send()
        .await;
    r.assert_status(201);
    assert!(r.header("idempotent-replayed").is_none());
    // A bad key is a 422.
    send(body, "").await.assert_problem(422);
}

fn batch(refs: &[String], progress: u32, ts: &str) -> Value {
    json!({"items": refs.iter().map(|r| item(r, progress, "green", ts)).collect::<Vec<_>>()})
}

#[actix_web::test]
async fn a_batch_of_ten_thousand_in_one_request() {
    let app = TestApp::new().await;
    let refs = seed_measures(&app, 10_000);
    let newer = batch(&refs, 70, "2023-11-01T08:00:00Z");
    let r: Value = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&newer)
        .returns(201)
        .await;
    assert_eq!(r["applied"], 10_000);
    assert!(outcomes(&r).iter().all(|o| o == "applied"));
    assert_eq!(app.count("measure_delivery_history"), 10_000);
    let audit = app.count("audit_log");

    // The same batch again: all unchanged, nothing changes.
    let r: Value = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&newer)
        .returns(201)
        .await;
    assert_eq!(r["unchanged"], 10_000);
    assert!(outcomes(&r).iter().all(|o| o == "unchanged"));
    // An older copy: all stale, nothing changes.
    let r: Value = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&batch(&refs, 20, "2023-10-01T08:00:00Z"))
        .returns(201)
        .await;
    assert_eq!(r["stale"], 10_000);
    assert!(outcomes(&r).iter().all(|o| o == "stale"));
    assert_eq!(app.count("measure_delivery_history"), 10_000);
    // Only the two batch receipts were audited.
    assert_eq!(app.count("audit_log"), audit + 2);
    let list = app
        .get("/api/v1/measures?limit=200")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert!(list["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|m| m["delivery_status"]["progress"] == 70 && m["version"] == 2));

    // One bad item in 10,000: 422 and nothing written.
    let mut bad = batch(&refs, 90, "2023-12-01T08:00:00Z");
    bad["items"][9_999]["progress"] = json!(101);
    let p = app
        .post(BATCHES)
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .json(&bad)
        .send()
        .await
        .assert_problem(422);
    assert_eq!(p["errors"].as_array().map(Vec::len), Some(1));
    assert_eq!(p["errors"][0]["pointer"], "/items/9999/progress");
    assert_eq!(app.count("measure_delivery_history"), 10_000);
    assert_eq!(app.count("delivery_batches"), 3);
}

/// The timing of a 10,000-item batch; run in release:
/// `cargo test --release --test api sync_10k -- --ignored --nocapture`.
#[actix_web::test]
#[ignore]
async fn sync_10k_timing() {
    let app = TestApp::new().await;
    let refs = seed_measures(&app, 10_000);
    for (label, ts, progress) in [
        ("applied", "2023-11-01T08:00:00Z", 70),
        ("unchanged", "2023-11-01T08:00:00Z", 70),
        ("applied again", "2023-12-01T08:00:00Z", 80),
    ] {
        let body = serde_json::to_vec(&batch(&refs, progress, ts)).expect("json");
        let req = app
            .post(BATCHES)
            .auth(SYNC, Some(SYKEHUSPARTNER))
            .raw_body("application/json", body.clone());
        let started = Instant::now();
        let r = req.send().await;
        let took = started.elapsed();
        r.assert_status(201);
        println!(
            "sync_10k {label}: {} bytes, {:.1} ms",
            body.len(),
            took.as_secs_f64() * 1000.0
        );
    }
}

#[actix_web::test]
async fn a_published_tertial_report_never_changes() {
    let app = TestApp::new().await;
    let mor = area(&app, "Mor og barn");
    let hr = area(&app, "HR");
    let m1 = create_measure(&app, &mor, "SP-1").await;
    create_measure(&app, &mor, "SP-2").await;
    create_measure(&app, &hr, "SP-3").await;
    sync(
        &app,
        vec![
            item("SP-1", 40, "yellow", "2023-03-01T08:00:00Z"),
            item("SP-3", 10, "green", "2023-03-01T08:00:00Z"),
        ],
    )
    .await;

    let r = app
        .post("/api/v1/tertial-reports")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "tertial": 1}))
        .send()
        .await;
    r.assert_status(201);
    let draft = r.json();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["label"], "2023-T1");
    let path = r.header("location").expect("location");
    let areas = draft["content"]["service_areas"].as_array().expect("areas");
    assert_eq!(areas.len(), 16);
    let mor_section = areas
        .iter()
        .find(|a| a["name"] == "Mor og barn")
        .expect("Mor og barn");
    assert_eq!(mor_section["measure_count"], 2);
    assert_eq!(mor_section["by_status"]["proposed"], 2);
    assert_eq!(mor_section["by_rag"], json!({"yellow": 1, "none": 1}));
    // "Pilot" was planned 2023-02-15 and is not done: late by the end of T1.
    assert_eq!(mor_section["late_milestones"][0]["name"], "Pilot");
    assert!(draft["content"]["previous_published"].is_null());
    assert_eq!(
        draft["content"]["concept_studies"],
        serde_json::json!([]),
        "no studies yet: an empty list"
    );

    // Drafts are for the portfolio office only; the same tertial twice is a conflict.
    app.get(&path).auth(READ, None).refused(403).await;
    app.post("/api/v1/tertial-reports")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "tertial": 1}))
        .refused(409)
        .await;
    app.post("/api/v1/tertial-reports")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "tertial": 4}))
        .refused_at(422, "/tertial")
        .await;

    // Publish: If-Match required.
    let publish = format!("{path}/publish");
    app.post(&publish)
        .auth(MANAGE, Some(HSO))
        .refused(428)
        .await;
    let published = app
        .post(&publish)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .send()
        .await;
    published.assert_status(200);
    assert_eq!(published.json()["status"], "published");
    let json_bytes = app.get(&path).auth(READ, None).send().await;
    json_bytes.assert_status(200);
    assert_eq!(json_bytes.body, published.body);
    assert_eq!(json_bytes.header("etag").as_deref(), Some("\"v2\""));
    let csv = app
        .get(&path)
        .auth(READ, None)
        .header("Accept", "text/csv")
        .send()
        .await;
    csv.assert_status(200);
    assert!(csv
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/csv"));
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "header + one row per measure:\n{text}");
    assert!(lines[0].starts_with("year,tertial,service_area"));
    assert!(text.contains("SP-1,Tiltak SP-1,proposed,yellow,40"));
    app.get(&path)
        .auth(READ, None)
        .header("Accept", "application/xml")
        .refused(406)
        .await;

    // Later syncs, edits and lifecycle changes...
    sync(
        &app,
        vec![
            item("SP-1", 90, "red", "2023-06-01T08:00:00Z"),
            item("SP-2", 5, "green", "2023-06-01T08:00:00Z"),
        ],
    )
    .await;
    let id1 = m1["id"].as_str().expect("id");
    app.patch(&format!("/api/v1/measures/{id1}"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v3\"")
        .json(&json!({"title": "Nytt navn"}))
        .responds(200)
        .await;
    app.post(&format!("/api/v1/measures/{id1}/status"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v4\"")
        .json(&json!({"status": "planned"}))
        .responds(200)
        .await;
    // ...leave the published report byte for byte the same.
    let again = app.get(&path).auth(READ, None).send().await;
    assert_eq!(again.body, published.body);
    let csv_again = app
        .get(&path)
        .auth(READ, None)
        .header("Accept", "text/csv")
        .send()
        .await;
    assert_eq!(csv_again.body, csv.body);
    // Any change to it is a conflict.
    for action in ["publish", "refresh"] {
        app.post(&format!("{path}/{action}"))
            .auth(MANAGE, Some(HSO))
            .header("If-Match", "\"v2\"")
            .refused(409)
            .await;
    }
    let audit = app.count("audit_log");

    // The next tertial shows what changed since the published one.
    let t2: Value = app
        .post("/api/v1/tertial-reports")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "tertial": 2}))
        .returns(201)
        .await;
    assert_eq!(t2["content"]["previous_published"], "2023-T1");
    let mor2 = t2["content"]["service_areas"]
        .as_array()
        .expect("areas")
        .iter()
        .find(|a| a["name"] == "Mor og barn")
        .cloned()
        .expect("Mor og barn");
    let changed: Vec<_> = mor2["changed_since_previous"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["partner_reference"].as_str().unwrap_or("").to_owned(),
                c["previous_status"].clone(),
                c["status"].clone(),
                c["previous_rag"].clone(),
                c["rag"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            (
                "SP-1".to_owned(),
                json!("proposed"),
                json!("planned"),
                json!("yellow"),
                json!("red")
            ),
            (
                "SP-2".to_owned(),
                json!("proposed"),
                json!("proposed"),
                Value::Null,
                json!("green")
            ),
        ]
    );
    // Readers list only published reports; managers see drafts too.
    let list = app
        .get("/api/v1/tertial-reports?year=2023")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let list = app
        .get("/api/v1/tertial-reports?year=2023")
        .auth(MANAGE, None)
        .send()
        .await
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(app.count("audit_log"), audit + 1);
    // A refresh of the draft needs If-Match and bumps the version.
    let t2_path = format!("/api/v1/tertial-reports/{}", t2["id"].as_str().expect("id"));
    let r = app
        .post(&format!("{t2_path}/refresh"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("etag").as_deref(), Some("\"v2\""));
}

#[actix_web::test]
async fn the_portfolio_overview_counts_cheaply() {
    let app = TestApp::new().await;
    let mor = area(&app, "Mor og barn");
    let hr = area(&app, "HR");
    create_measure(&app, &mor, "SP-1").await;
    create_measure(&app, &mor, "SP-2").await;
    create_measure(&app, &hr, "SP-3").await;
    sync(
        &app,
        vec![
            item("SP-1", 40, "yellow", "2023-03-01T08:00:00Z"),
            item("SP-3", 10, "red", "2023-03-01T08:00:00Z"),
        ],
    )
    .await;
    let o: Value = app
        .get("/api/v1/portfolio/overview?year=2023")
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(o["year"], 2023);
    assert_eq!(o["sub_portfolios"]["improvement_measures"]["total"], 3);
    assert_eq!(
        o["sub_portfolios"]["improvement_measures"]["by_status"]["proposed"],
        3
    );
    assert_eq!(
        o["rag"],
        json!({"green": 0, "yellow": 1, "red": 1, "none": 1})
    );
    let areas = o["service_areas"].as_array().expect("areas");
    assert_eq!(areas.len(), 16);
    let mor_count = areas
        .iter()
        .find(|a| a["name"] == "Mor og barn")
        .expect("area");
    assert_eq!(mor_count["measures"], 2);
    assert!(o["budget"].is_array());
    app.get("/api/v1/portfolio/overview")
        .auth(READ, None)
        .refused(422)
        .await;
    app.get("/api/v1/portfolio/overview?year=2023")
        .auth(SYNC, Some(SYKEHUSPARTNER))
        .refused(403)
        .await;
}

/// A sync changes the measure's version (its ETag, and its feed event's version) as an edit
/// does, edits and syncs count on one version, and the RAG filter follows the latest status.
#[actix_web::test]
async fn a_sync_changes_the_measure_version_and_the_rag_filter_follows_it() {
    let app = TestApp::new().await;
    let area_id = area(&app, "Mor og barn");
    let m = create_measure(&app, &area_id, "SP-1").await;
    create_measure(&app, &area_id, "SP-2").await;
    let path = format!("/api/v1/measures/{}", m["id"].as_str().expect("id"));
    let etag = |path: String| {
        let app = &app;
        async move { app.get(&path).auth(READ, None).send().await.header("etag") }
    };
    let rag = |q: &'static str| {
        let app = &app;
        async move {
            let page: MeasurePage = app
                .get(&format!("/api/v1/measures?rag={q}"))
                .auth(READ, None)
                .returns(200)
                .await;
            page.items
                .into_iter()
                .map(|m| m.partner_reference)
                .collect::<Vec<_>>()
        }
    };
    let sync = |progress: u32, colour: &'static str, ts: &'static str| {
        let app = &app;
        async move {
            let r: Value = app
                .post(BATCHES)
                .auth(SYNC, Some(SYKEHUSPARTNER))
                .json(&json!({"items": [item("SP-1", progress, colour, ts)]}))
                .returns(201)
                .await;
            outcomes(&r)
        }
    };
    assert_eq!(etag(path.clone()).await.as_deref(), Some("\"v1\""));
    assert!(rag("red").await.is_empty());

    assert_eq!(sync(40, "red", "2023-11-01T08:00:00Z").await, ["applied"]);
    assert_eq!(etag(path.clone()).await.as_deref(), Some("\"v2\""));
    assert_eq!(rag("red").await, ["SP-1"]);
    // The feed event of the sync carries the version the ETag shows.
    let feed: Value = app
        .get("/api/v1/events?after=0&limit=100")
        .auth(READ, None)
        .returns(200)
        .await;
    let synced: Vec<&Value> = feed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "delivery_status_synced")
        .collect();
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0]["version"], 2);

    // An edit based on the version before the sync is refused; on the current one it counts on.
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Nytt navn"}))
        .refused(412)
        .await;
    let r = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v2\"")
        .json(&json!({"title": "Nytt navn"}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("etag").as_deref(), Some("\"v3\""));
    assert_eq!(
        r.json()["delivery_status"]["rag"],
        "red",
        "an edit keeps the status"
    );

    // A newer status moves the measure to another RAG; an unchanged one changes no version.
    assert_eq!(sync(60, "green", "2023-12-01T08:00:00Z").await, ["applied"]);
    assert_eq!(
        sync(60, "green", "2023-12-01T08:00:00Z").await,
        ["unchanged"]
    );
    assert_eq!(etag(path.clone()).await.as_deref(), Some("\"v4\""));
    assert!(rag("red").await.is_empty());
    assert_eq!(rag("green").await, ["SP-1"]);
    let got: Value = app.get(&path).auth(READ, None).returns(200).await;
    assert_eq!(got["title"], "Nytt navn");
    assert_eq!(got["delivery_status"]["progress"], 60);
    assert_eq!(got["version"], 4);
}
