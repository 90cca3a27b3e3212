//! The yearly needs cycle over HTTP: cycles and phases, criteria sets, intake, first
//! assessment, scoring, ranking, closing the round and the funnel.

use portfolio_api::routes::needs::{Need, NeedPage};
use portfolio_api::routes::service_areas::ServiceAreaPage;
use serde_json::{json, Value};

// `pub`: test files written before `support/` held these import them from here.
#[allow(unused_imports)]
pub use crate::support::{
    accept_body, adopt_criteria, advance, assess, criteria_body, etag_of, need_body, open_cycle,
    report, INNLANDET, OFFICE, READ, SCORE, SUBMIT,
};
use crate::support::{
    assert_needs_if_match, id_of, phase_change, read, TestApp, AHUS, HSO, OUS, SYKEHUSPARTNER,
};

#[actix_web::test]
async fn cycles_move_forward_one_recorded_step_at_a_time() {
    let app = TestApp::new().await;
    // Wrong role.
    app.post("/api/v1/cycles")
        .auth(SUBMIT, Some(OUS))
        .json(&json!({"year": 2022}))
        .refused(403)
        .await;
    assert_eq!(app.count("cycles"), 0);
    let c = open_cycle(&app, 2022).await;
    assert_eq!(c["phase"], "intake");
    assert_eq!(c["phase_changes"][0]["to"], "intake");
    app.post("/api/v1/cycles")
        .auth(OFFICE, Some(HSO))
        .json(&json!({"year": 2022}))
        .refused(409)
        .await;
    // Skipping a phase is a conflict naming the allowed next phase.
    phase_change(&app, 2022, "prioritisation")
        .if_match(1)
        .send()
        .await
        .problem_saying(409, "first_assessment");
    // Missing and stale If-Match.
    assert_needs_if_match(|| phase_change(&app, 2022, "first_assessment"), 9).await;
    phase_change(&app, 2022, "bogus")
        .if_match(1)
        .refused(422)
        .await;
    let c = advance(&app, 2022, "first_assessment").await;
    assert_eq!(c["phase"], "first_assessment");
    let changes = c["phase_changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1]["from"], "intake");
    assert_eq!(changes[1]["changed_by"], "test-user");
    assert_eq!(changes[1]["changed_by_org"], HSO);
    assert!(changes[1]["changed_at"].is_string());
    // Prioritisation needs an adopted criteria set.
    phase_change(&app, 2022, "prioritisation")
        .header("If-Match", &etag_of(&c))
        .send()
        .await
        .problem_saying(409, "criteria set");
    app.get("/api/v1/cycles/1999")
        .auth(READ, None)
        .refused(404)
        .await;
    let list: Value = app
        .get("/api/v1/cycles")
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn criteria_set_is_editable_while_draft_and_frozen_once_adopted() {
    let app = TestApp::new().await;
    open_cycle(&app, 2023).await;
    let url = "/api/v1/cycles/2023/criteria-set";
    // Bad input: weight 0, duplicate code, bad code, empty scale, NUL, oversize.
    for (bad, pointer) in [
        (
            json!({"criteria": [{"code": "A", "name": "A", "kind": "prioritisation", "weight": 0.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/weight",
        ),
        (
            json!({"criteria": [
            {"code": "A", "name": "A", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5},
            {"code": "A", "name": "B", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/1/code",
        ),
        (
            json!({"criteria": [{"code": "a-b", "name": "A", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/code",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "A", "kind": "prioritisation", "weight": 1.0, "scale_min": 5, "scale_max": 5}]}),
            "/criteria/0/scale_max",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "A\u{0}", "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/name",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "x".repeat(201), "kind": "prioritisation", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/name",
        ),
        (
            json!({"criteria": [{"code": "A", "name": "A", "kind": "other", "weight": 1.0, "scale_min": 1, "scale_max": 5}]}),
            "/criteria/0/kind",
        ),
    ] {
        let p = app
            .put(url)
            .auth(OFFICE, Some(HSO))
            .json(&bad)
            .send()
            .await
            .assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], pointer, "{p}");
    }
    // Wrong role.
    app.put(url)
        .auth(SCORE, Some(OUS))
        .json(&criteria_body())
        .refused(403)
        .await;
    assert_eq!(app.count("criteria_sets"), 0);
    let set: Value = app
        .put(url)
        .auth(OFFICE, Some(HSO))
        .json(&json!({"criteria": [
            {"code": "S", "name": "Screening", "kind": "screening"}]}))
        .returns(201)
        .await;
    assert_eq!(set["status"], "draft");
    // Adopting without a prioritisation criterion is refused.
    app.post(&format!("{url}/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&set))
        .refused(422)
        .await;
    // Replacing a draft needs If-Match.
    app.put(url)
        .auth(OFFICE, Some(HSO))
        .json(&criteria_body())
        .refused(428)
        .await;
    let set: Value = app
        .put(url)
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&set))
        .json(&criteria_body())
        .returns(200)
        .await;
    assert_eq!(set["criteria"].as_array().map(Vec::len), Some(3));
    assert_eq!(set["criteria"][1]["scale_labels"][1]["label"], "Svært stor");
    let adopted: Value = app
        .post(&format!("{url}/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&set))
        .returns(200)
        .await;
    assert_eq!(adopted["status"], "adopted");
    assert!(adopted["adopted_at"].is_string());
    // Frozen: no change, no second adoption.
    let audit_before = app.count("audit_log");
    app.put(url)
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&adopted))
        .json(&criteria_body())
        .send()
        .await
        .problem_saying(409, "adopted");
    app.post(&format!("{url}/adopt"))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&adopted))
        .refused(409)
        .await;
    assert_eq!(app.count("audit_log"), audit_before);
    let got: Value = app.get(url).auth(READ, None).returns(200).await;
    assert_eq!(got, adopted);
}

#[actix_web::test]
async fn intake_reports_needs_for_own_organisation_only() {
    let app = TestApp::new().await;
    // No cycle yet.
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&need_body(2022, "Tidlig ultralyd"))
        .refused(404)
        .await;
    open_cycle(&app, 2022).await;
    let r = app
        .post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&need_body(2022, "Tidlig ultralyd"))
        .send()
        .await;
    r.assert_status(201);
    let need = r.json();
    assert_eq!(need["reference"], "B-2022-001");
    assert_eq!(need["organisation_number"], OUS);
    assert_eq!(need["status"], "submitted");
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/needs/{}", id_of(&need)))
    );

    // Denials, with nothing written.
    let mut other = need_body(2022, "For en annen");
    other["organisation_number"] = json!(AHUS);
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&other)
        .refused(403)
        .await;
    app.post("/api/v1/needs")
        .auth(READ, Some(OUS))
        .json(&need_body(2022, "Uten rett"))
        .refused(403)
        .await;
    // Bad input.
    let long = "x".repeat(10_001);
    for (patch, pointer) in [
        (json!({"title": ""}), "/title"),
        (json!({"title": "   "}), "/title"),
        (json!({"title": "a\u{0}b"}), "/title"),
        (json!({"title": "x".repeat(201)}), "/title"),
        (json!({"description": long}), "/description"),
        (json!({"origin": "rumour"}), "/origin"),
        (
            json!({"estimated_study_cost_nok": -1}),
            "/estimated_study_cost_nok",
        ),
        (json!({"contact_email": "not-an-email"}), "/contact_email"),
        (
            json!({"service_area_id": "00000000-0000-0000-0000-000000000000"}),
            "/service_area_id",
        ),
    ] {
        let mut body = need_body(2022, "Ugyldig");
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let p = app
            .post("/api/v1/needs")
            .auth(SUBMIT, Some(OUS))
            .json(&body)
            .send()
            .await
            .assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], pointer, "{p}");
    }
    assert_eq!(app.count("needs"), 1);
    // The office may report for any organisation.
    let mut for_ahus = need_body(2022, "Fra kontoret");
    for_ahus["organisation_number"] = json!(AHUS);
    let n2: Value = app
        .post("/api/v1/needs")
        .auth(OFFICE, Some(HSO))
        .json(&for_ahus)
        .returns(201)
        .await;
    assert_eq!(n2["reference"], "B-2022-002");
    assert_eq!(n2["organisation_number"], AHUS);

    // Get by id and by reference.
    let id = &id_of(&need);
    let got: Value = app
        .get(&format!("/api/v1/needs/{id}"))
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(got, need);
    let by_ref: Value = app
        .get("/api/v1/needs/by-reference/B-2022-001")
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(by_ref, need);
    app.get("/api/v1/needs/by-reference/B-2022-17")
        .auth(READ, None)
        .refused(400)
        .await;
    app.get("/api/v1/needs/by-reference/B-2022-099")
        .auth(READ, None)
        .refused(404)
        .await;

    // Intake over: no more reports.
    advance(&app, 2022, "first_assessment").await;
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&need_body(2022, "For sent"))
        .send()
        .await
        .problem_saying(409, "'intake' phase");
    assert_eq!(app.count("needs"), 2);
}

#[actix_web::test]
async fn fifty_concurrent_reports_get_fifty_consecutive_references() {
    let app = TestApp::new().await;
    open_cycle(&app, 2024).await;
    let orgs = [OUS, AHUS, INNLANDET];
    let requests = (0..50).map(|i| {
        app.post("/api/v1/needs")
            .auth(SUBMIT, Some(orgs[i % 3]))
            .json(&need_body(2024, &format!("Behov {i}")))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut refs: Vec<String> = responses
        .iter()
        .map(|r| {
            r.assert_status(201);
            r.typed::<Need>().reference
        })
        .collect();
    refs.sort();
    let expected: Vec<String> = (1..=50).map(|i| format!("B-2024-{i:03}")).collect();
    assert_eq!(refs, expected);
    let c = app
        .get("/api/v1/cycles/2024")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(c["needs_reported"], 50);
}

#[actix_web::test]
async fn list_filters_and_pages() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    open_cycle(&app, 2023).await;
    let areas: ServiceAreaPage = read(&app, "/api/v1/service-areas?year=2023&limit=1").await;
    let area = areas.items[0].id.to_string();
    for i in 0..5 {
        report(&app, OUS, &need_body(2022, &format!("Behov {i}"))).await;
    }
    let mut b = need_body(2023, "Kvalitetsregister 100% automatisk");
    b["origin"] = json!("users");
    b["service_area_id"] = json!(area);
    report(&app, AHUS, &b).await;
    let mut b = need_body(2023, "Noe annet");
    b["description"] = json!("Helt annen beskrivelse");
    b["expected_benefit"] = json!("Annen nytte");
    report(&app, OUS, &b).await;

    let app = &app;
    let list = |q: &str| {
        let url = format!("/api/v1/needs?{q}");
        async move {
            app.get(&url)
                .auth(READ, None)
                .send()
                .await
                .assert_status(200)
                .json()
        }
    };
    let refs = |v: &Value| -> Vec<String> {
        let page: NeedPage = serde_json::from_value(v.clone()).expect("a NeedPage");
        page.items.into_iter().map(|n| n.reference).collect()
    };
    assert_eq!(refs(&list("year=2023").await), ["B-2023-001", "B-2023-002"]);
    assert_eq!(refs(&list("origin=users").await), ["B-2023-001"]);
    assert_eq!(
        refs(&list(&format!("organisation={AHUS}")).await),
        ["B-2023-001"]
    );
    assert_eq!(
        refs(&list(&format!("service_area_id={area}")).await),
        ["B-2023-001"]
    );
    // The old name of the filter is still honoured (deprecated in the contract).
    assert_eq!(
        refs(&list(&format!("service_area={area}")).await),
        ["B-2023-001"]
    );
    assert_eq!(refs(&list("q=KVALITETSREG").await).len(), 6);
    assert_eq!(refs(&list("q=100%25").await), ["B-2023-001"]);
    assert_eq!(refs(&list("status=accepted").await).len(), 0);
    assert_eq!(refs(&list("status=submitted&year=2022").await).len(), 5);
    // Pages neither repeat nor skip.
    let mut seen = Vec::new();
    let mut url = "limit=3".to_owned();
    loop {
        let page = list(&url).await;
        seen.extend(refs(&page));
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[0], "B-2022-001");
    assert_eq!(seen[6], "B-2023-002");
    // Bad filters.
    for q in [
        "status=bogus",
        "year=1",
        "cursor=nonsense",
        "limit=0",
        "origin=x",
    ] {
        app.get(&format!("/api/v1/needs?{q}"))
            .auth(READ, None)
            .refused(422)
            .await;
    }
    app.get("/api/v1/needs")
        .auth(SCORE.replace("portfolio:read ", "").as_str(), Some(OUS))
        .refused(403)
        .await;
}

#[actix_web::test]
async fn edit_and_withdraw_while_submitted() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let need = report(&app, OUS, &need_body(2022, "Tidlig ultralyd")).await;
    let url = format!("/api/v1/needs/{}", id_of(&need));
    // Another trust may not edit it.
    app.patch(&url)
        .auth(SUBMIT, Some(AHUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Kapret"}))
        .refused(403)
        .await;
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .json(&json!({"title": "Uten If-Match"}))
        .refused(428)
        .await;
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "x".repeat(201)}))
        .refused(422)
        .await;
    let edited: Value = app
        .patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Tidlig ultralyd i svangerskapet", "contact_name": null}))
        .returns(200)
        .await;
    assert_eq!(edited["title"], "Tidlig ultralyd i svangerskapet");
    assert_eq!(edited["contact_name"], Value::Null);
    assert_eq!(edited["contact_email"], "ola@example.org");
    assert_eq!(edited["version"], 2);
    // Stale.
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"title": "Gammel"}))
        .refused(412)
        .await;
    // Withdraw.
    app.post(&format!("{url}/withdraw"))
        .auth(SUBMIT, Some(AHUS))
        .header("If-Match", "\"v2\"")
        .json(&json!({}))
        .refused(403)
        .await;
    let w: Value = app
        .post(&format!("{url}/withdraw"))
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v2\"")
        .json(&json!({"reason": "Dekkes nasjonalt"}))
        .returns(200)
        .await;
    assert_eq!(w["status"], "withdrawn");
    assert_eq!(w["assessment"]["reason"], "Dekkes nasjonalt");
    app.post(&format!("{url}/withdraw"))
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v3\"")
        .json(&json!({}))
        .refused(409)
        .await;
    app.patch(&url)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v3\"")
        .json(&json!({"title": "Etter tilbaketrekking"}))
        .refused(409)
        .await;
    let _ = SYKEHUSPARTNER;
}

/// Reports `n` needs for `year` (concurrently) and returns them in reference order.
async fn report_many(app: &TestApp, year: i32, n: usize) -> Vec<Value> {
    let requests = (0..n).map(|i| {
        app.post("/api/v1/needs")
            .auth(SUBMIT, Some([OUS, AHUS, INNLANDET][i % 3]))
            .json(&need_body(year, &format!("Behov {i}")))
            .send()
    });
    let mut needs: Vec<Value> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.assert_status(201).json())
        .collect();
    needs.sort_by_key(|n| n["reference"].as_str().expect("reference").to_owned());
    needs
}

#[actix_web::test]
async fn first_assessment_accepts_rejects_and_reopens_explicitly() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let needs = report_many(&app, 2022, 3).await;
    let url = |n: &Value| format!("/api/v1/needs/{}/assessment", id_of(n));
    // Wrong phase: still intake.
    app.post(&url(&needs[0]))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&accept_body())
        .send()
        .await
        .problem_saying(409, "'first_assessment' phase");
    advance(&app, 2022, "first_assessment").await;
    // No adopted criteria set yet.
    app.post(&url(&needs[0]))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&accept_body())
        .refused(409)
        .await;
    adopt_criteria(&app, 2022, &criteria_body()).await;
    // Wrong role.
    app.post(&url(&needs[0]))
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&accept_body())
        .refused(403)
        .await;
    // Bad input: missing reason, blank reason, NUL, oversize, screening errors.
    for (body, pointer) in [
        (
            json!({"decision": "rejected", "screening": [{"code": "STRATEGI", "result": "fail"}]}),
            "/reason",
        ),
        (
            json!({"decision": "rejected", "reason": "  ", "screening": [{"code": "STRATEGI", "result": "fail"}]}),
            "/reason",
        ),
        (
            json!({"decision": "rejected", "reason": "a\u{0}", "screening": [{"code": "STRATEGI", "result": "fail"}]}),
            "/reason",
        ),
        (
            json!({"decision": "rejected", "reason": "x".repeat(2001), "screening": [{"code": "STRATEGI", "result": "fail"}]}),
            "/reason",
        ),
        (json!({"decision": "maybe"}), "/decision"),
        (
            json!({"decision": "accepted", "screening": []}),
            "/screening",
        ),
        (
            json!({"decision": "accepted", "screening": [{"code": "STRATEGI", "value": 2}]}),
            "/screening/0/value",
        ),
        (
            json!({"decision": "accepted", "screening": [{"code": "STRATEGI", "result": "pass"}, {"code": "NYTTE", "result": "pass"}]}),
            "/screening/1",
        ),
        (
            json!({"decision": "accepted", "screening": [{"code": "UKJENT", "result": "pass"}]}),
            "/screening/0",
        ),
    ] {
        let p = app
            .post(&url(&needs[0]))
            .auth(OFFICE, Some(HSO))
            .header("If-Match", "\"v1\"")
            .json(&body)
            .send()
            .await
            .assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], pointer, "{body} → {p}");
    }
    let got = app
        .get(&format!("/api/v1/needs/{}", id_of(&needs[0])))
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(got, needs[0], "nothing written");

    let accepted = assess(&app, &needs[0], &accept_body()).await;
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["assessment"]["screening"]["STRATEGI"], "pass");
    assert_eq!(accepted["assessment"]["assessed_by"], "test-user");
    let rejected = assess(
        &app,
        &needs[1],
        &json!({"decision": "rejected", "reason": "Dekkes av eksisterende løsning", "screening": [{"code": "STRATEGI", "result": "fail"}]}),
    )
    .await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(
        rejected["assessment"]["reason"],
        "Dekkes av eksisterende løsning"
    );
    // A decided need can't be assessed again...
    app
        .post(&url(&accepted))
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&accepted))
        .json(&json!({"decision": "rejected", "reason": "Ombestemt", "screening": [{"code": "STRATEGI", "result": "fail"}]}))
        .send()
        .await
        .problem_saying(409, "reopen");
    // ...except by an explicit, recorded reopening (with a reason).
    let reopen = format!("/api/v1/needs/{}/reopen", id_of(&accepted));
    app.post(&reopen)
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&accepted))
        .json(&json!({}))
        .refused(422)
        .await;
    app.post(&reopen)
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", &etag_of(&accepted))
        .json(&json!({"reason": "Feil"}))
        .refused(403)
        .await;
    let reopened: Value = app
        .post(&reopen)
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&accepted))
        .json(&json!({"reason": "Feil i screeningen"}))
        .returns(200)
        .await;
    assert_eq!(reopened["status"], "submitted");
    assert!(reopened["assessment"].is_null());
    let audit: i64 = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'reopened' AND after::text LIKE '%Feil i screeningen%'",
        )
        .get_result::<N>(&mut app.conn())
        .expect("audit")
        .n
    };
    assert_eq!(audit, 1);
    // A submitted need can't be "reopened".
    app.post(&reopen)
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&reopened))
        .json(&json!({"reason": "Igjen"}))
        .refused(409)
        .await;
    let rejected_again = assess(
        &app,
        &reopened,
        &json!({"decision": "rejected", "reason": "Utenfor mandat", "screening": [{"code": "STRATEGI", "result": "fail"}]}),
    )
    .await;
    assert_eq!(rejected_again["status"], "rejected");
    // Prioritisation can't start while a need awaits assessment.
    let c = app
        .get("/api/v1/cycles/2022")
        .auth(READ, None)
        .send()
        .await
        .json();
    phase_change(&app, 2022, "prioritisation")
        .header("If-Match", &etag_of(&c))
        .send()
        .await
        .problem_saying(409, "await first assessment");
}

async fn score(app: &TestApp, need: &Value, org: &str, nytte: i32, gevinst: i32) -> Value {
    app.put(&format!("/api/v1/needs/{}/scores/{org}", id_of(need)))
        .auth(SCORE, Some(org))
        .json(&json!({"scores": [{"code": "NYTTE", "value": nytte}, {"code": "GEVINST", "value": gevinst}]}))
        .send()
        .await
        .assert_status(201)
        .json()
}

async fn ranking(app: &TestApp, year: i32, q: &str) -> Value {
    app.get(&format!("/api/v1/cycles/{year}/ranking{q}"))
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[actix_web::test]
async fn a_whole_cycle_scored_trust_by_trust_ranked_and_frozen() {
    let app = TestApp::new().await;
    open_cycle(&app, 2023).await;
    let needs = report_many(&app, 2023, 4).await;
    advance(&app, 2023, "first_assessment").await;
    adopt_criteria(&app, 2023, &criteria_body()).await;
    let mut acc = Vec::new();
    for n in &needs[..3] {
        acc.push(assess(&app, n, &accept_body()).await);
    }
    let rejected = assess(
        &app,
        &needs[3],
        &json!({"decision": "rejected", "reason": "Nei", "screening": [{"code": "STRATEGI", "result": "fail"}]}),
    )
    .await;
    // Scoring before prioritisation: wrong phase.
    let sheet = json!({"scores": [{"code": "NYTTE", "value": 4}, {"code": "GEVINST", "value": 5}]});
    let score_url = |n: &Value, org: &str| format!("/api/v1/needs/{}/scores/{org}", id_of(n));
    app.put(&score_url(&acc[0], OUS))
        .auth(SCORE, Some(OUS))
        .json(&sheet)
        .send()
        .await
        .problem_saying(409, "'prioritisation' phase");
    app.get("/api/v1/cycles/2023/ranking")
        .auth(READ, None)
        .refused(409)
        .await;
    advance(&app, 2023, "prioritisation").await;

    // Denials, with nothing written.
    // Wrong role: a submitter (even of the right trust) and the office may not score.
    app.put(&score_url(&acc[0], OUS))
        .auth(SUBMIT, Some(OUS))
        .json(&sheet)
        .refused(403)
        .await;
    app.put(&score_url(&acc[0], OUS))
        .auth(OFFICE, Some(HSO))
        .json(&sheet)
        .refused(403)
        .await;
    // Wrong trust: OUS writing Ahus' sheet.
    app.put(&score_url(&acc[0], AHUS))
        .auth(SCORE, Some(OUS))
        .json(&sheet)
        .send()
        .await
        .problem_saying(403, "own organisation");
    // Not a health trust: the IT partner and the regional authority score nothing.
    for org in [SYKEHUSPARTNER, HSO] {
        app.put(&score_url(&acc[0], org))
            .auth(SCORE, Some(org))
            .json(&sheet)
            .refused(403)
            .await;
    }
    // A rejected need is not scored.
    app.put(&score_url(&rejected, OUS))
        .auth(SCORE, Some(OUS))
        .json(&sheet)
        .refused(409)
        .await;
    // Bad input.
    for (body, pointer) in [
        (
            json!({"scores": [{"code": "NYTTE", "value": 6}, {"code": "GEVINST", "value": 5}]}),
            "/scores/0",
        ),
        (
            json!({"scores": [{"code": "NYTTE", "value": 0}, {"code": "GEVINST", "value": 5}]}),
            "/scores/0",
        ),
        (
            json!({"scores": [{"code": "NYTTE", "value": 3}, {"code": "UKJENT", "value": 5}]}),
            "/scores/1",
        ),
        (
            json!({"scores": [{"code": "NYTTE", "value": 3}]}),
            "/scores",
        ),
        (
            json!({"scores": [{"code": "NYTTE", "value": 3}, {"code": "GEVINST", "value": 1}, {"code": "STRATEGI", "value": 1}]}),
            "/scores/2",
        ),
        (
            json!({"scores": [{"code": "NYTTE", "value": 3}, {"code": "GEVINST", "value": 1}], "comment": "a\u{0}b"}),
            "/comment",
        ),
        (
            json!({"scores": [{"code": "NYTTE", "value": 3}, {"code": "GEVINST", "value": 1}], "comment": "x".repeat(2001)}),
            "/comment",
        ),
        (
            json!({"scores": [{"code": "NYTTE", "value": "høy"}, {"code": "GEVINST", "value": 1}]}),
            "/scores/0/value",
        ),
    ] {
        let p = app
            .put(&score_url(&acc[0], OUS))
            .auth(SCORE, Some(OUS))
            .json(&body)
            .send()
            .await
            .assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], pointer, "{body} → {p}");
    }
    assert_eq!(app.count("need_scores"), 0);

    // Scores (NYTTE 1..5 weight 3, GEVINST 0..10 weight 1):
    // need 0: OUS (5,10)=100, AHUS (3,5)=50 → mean 75, median 75, dispersion 25
    // need 1: OUS (4,5)=68.75 only → coverage 1
    // need 2: unscored
    let s = score(&app, &acc[0], OUS, 5, 10).await;
    assert_eq!(s["org_number"], OUS);
    assert_eq!(s["version"], 1);
    score(&app, &acc[0], AHUS, 3, 5).await;
    score(&app, &acc[1], OUS, 1, 0).await;
    // Replacing a sheet needs If-Match; a stale one is refused.
    let url = score_url(&acc[1], OUS);
    app.put(&url)
        .auth(SCORE, Some(OUS))
        .json(&sheet)
        .refused(428)
        .await;
    let replaced: Value = app
        .put(&url)
        .auth(SCORE, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&sheet)
        .returns(200)
        .await;
    assert_eq!(replaced["version"], 2);
    app.put(&url)
        .auth(SCORE, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&sheet)
        .refused(412)
        .await;
    let sheets: Value = app
        .get(&format!("/api/v1/needs/{}/scores", id_of(&acc[0])))
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(sheets["items"].as_array().map(Vec::len), Some(2));
    app.get(&format!("/api/v1/needs/{}/scores", id_of(&acc[0])))
        .auth("portfolio:score", Some(OUS))
        .refused(403)
        .await;

    let r = ranking(&app, 2023, "").await;
    assert_eq!(r["frozen"], false);
    assert_eq!(r["aggregation"], "mean");
    let items = r["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "rejected needs are not ranked");
    assert_eq!(items[0]["reference"], acc[0]["reference"]);
    assert!(close(&items[0]["overall"], 75.0), "{}", items[0]);
    assert_eq!(items[0]["coverage"], 2);
    assert!(close(&items[0]["dispersion"], 25.0));
    assert_eq!(items[0]["trust_scores"].as_array().map(Vec::len), Some(2));
    assert!(close(&items[0]["contributions"][0]["contribution"], 56.25));
    assert!(close(&items[1]["overall"], 68.75));
    assert_eq!(items[1]["coverage"], 1);
    assert_eq!(items[2]["reference"], acc[2]["reference"]);
    assert!(items[2]["overall"].is_null(), "unscored is not zero");
    assert_eq!(items[2]["coverage"], 0);
    let median = ranking(&app, 2023, "?aggregation=median").await;
    assert_eq!(median["aggregation"], "median");
    app.get("/api/v1/cycles/2023/ranking?aggregation=mode")
        .auth(READ, None)
        .refused(422)
        .await;

    let e: Value = app
        .get(&format!(
            "/api/v1/needs/{}/score-explanation",
            id_of(&acc[1])
        ))
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(e["need"]["rank"], 2);
    assert_eq!(e["of"], 3);
    assert_eq!(e["above"]["decided_by"], "overall");
    assert!(close(&e["above"]["gap"], 6.25));
    assert_eq!(e["below"]["decided_by"], "scored");
    app.get(&format!(
        "/api/v1/needs/{}/score-explanation",
        id_of(&rejected)
    ))
    .auth(READ, None)
    .refused(409)
    .await;

    // Closing freezes the round.
    let c = app
        .get("/api/v1/cycles/2023")
        .auth(READ, None)
        .send()
        .await
        .json();
    app.post("/api/v1/cycles/2023/prioritisation/close")
        .auth(SCORE, Some(OUS))
        .header("If-Match", &etag_of(&c))
        .refused(403)
        .await;
    // Decided needs a closed round.
    phase_change(&app, 2023, "decided")
        .header("If-Match", &etag_of(&c))
        .refused(409)
        .await;
    let closed: Value = app
        .post("/api/v1/cycles/2023/prioritisation/close")
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&c))
        .returns(200)
        .await;
    assert!(closed["prioritisation_closed_at"].is_string());
    app.post("/api/v1/cycles/2023/prioritisation/close")
        .auth(OFFICE, Some(HSO))
        .header("If-Match", &etag_of(&closed))
        .refused(409)
        .await;
    // Frozen round: no sheet can be written or replaced.
    let sheets_before = app.count("need_scores");
    app.put(&score_url(&acc[2], OUS))
        .auth(SCORE, Some(OUS))
        .json(&sheet)
        .send()
        .await
        .problem_saying(409, "closed");
    app.put(&score_url(&acc[0], OUS))
        .auth(SCORE, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&sheet)
        .refused(409)
        .await;
    assert_eq!(app.count("need_scores"), sheets_before);
    // The ranking is served unchanged from the snapshot, even when the data under it changes.
    let frozen = ranking(&app, 2023, "").await;
    assert_eq!(frozen["frozen"], true);
    assert_eq!(frozen["items"], r["items"]);
    assert_eq!(
        frozen["computed_at"],
        ranking(&app, 2023, "").await["computed_at"]
    );
    {
        use diesel::RunQueryDsl;
        diesel::sql_query("UPDATE needs SET title = 'Endret etterpå'")
            .execute(&mut app.conn())
            .expect("change");
        diesel::sql_query("DELETE FROM need_scores")
            .execute(&mut app.conn())
            .expect("change");
    }
    let after = ranking(&app, 2023, "").await;
    assert_eq!(after["items"], r["items"]);
    assert_eq!(
        ranking(&app, 2023, "?aggregation=median").await["items"],
        median["items"]
    );
    let c = advance(&app, 2023, "decided").await;
    assert_eq!(c["phase"], "decided");
    assert_eq!(c["phase_changes"].as_array().map(Vec::len), Some(4));

    let f: Value = app
        .get("/api/v1/cycles/2023/funnel")
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(
        (
            f["reported"].as_i64(),
            f["accepted"].as_i64(),
            f["rejected"].as_i64(),
            f["withdrawn"].as_i64()
        ),
        (Some(4), Some(3), Some(1), Some(0))
    );
}

#[actix_web::test]
async fn the_2022_funnel_forty_reported_twenty_seven_accepted() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let needs = report_many(&app, 2022, 40).await;
    advance(&app, 2022, "first_assessment").await;
    adopt_criteria(&app, 2022, &criteria_body()).await;
    for (i, n) in needs.iter().enumerate() {
        if i < 27 {
            assess(&app, n, &accept_body()).await;
        } else {
            assess(
                &app,
                n,
                &json!({"decision": "rejected", "reason": "Ikke prioritert", "screening": [{"code": "STRATEGI", "result": "fail"}]}),
            )
            .await;
        }
    }
    let f: Value = app
        .get("/api/v1/cycles/2022/funnel")
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(f["reported"], 40);
    assert_eq!(f["accepted"], 27);
    assert_eq!(f["rejected"], 13);
    assert_eq!(f["withdrawn"], 0);
    assert_eq!(f["awaiting_assessment"], 0);
    assert_eq!(f["board"]["awaiting_decision"], 27);
    assert_eq!(f["studies"]["started"], 0);
    assert_eq!(f["studies"]["by_status"]["in_progress"], 0);
    app.get("/api/v1/cycles/2031/funnel")
        .auth(READ, None)
        .refused(404)
        .await;
}

/// Ranking at scale: 1,000 accepted needs × 11 trusts × 8 criteria, loaded straight into the
/// database, ranked over HTTP. Run with
/// `cargo test --release --test api ranking_scale -- --ignored --nocapture`.
#[actix_web::test]
#[ignore]
async fn ranking_scale() {
    use diesel::RunQueryDsl;
    let app = TestApp::new().await;
    let mut conn = app.conn();
    let criteria: Vec<Value> = (0..8)
        .map(|i| json!({"code": format!("K{i}"), "name": format!("Kriterium {i}"), "description": "",
                        "kind": "prioritisation", "weight": (i % 4 + 1) as f64, "scale_min": 0, "scale_max": 5, "scale_labels": []}))
        .collect();
    let sql = format!(
        "INSERT INTO organisations (org_number, name, kind, region_org_number) VALUES ('983971717', 'Ekstra HF', 'health_trust', '991324968');
         INSERT INTO cycles (year, phase, last_need_seq) VALUES (2030, 'prioritisation', 1000);
         INSERT INTO criteria_sets (cycle_year, status, criteria, adopted_at, adopted_by)
             VALUES (2030, 'adopted', '{}'::jsonb, now(), 'bench');
         INSERT INTO needs (cycle_year, seq, reference, title, description, expected_benefit, origin,
                            organisation_number, estimated_study_cost_nok, status, reported_by)
             SELECT 2030, g, 'B-2030-' || CASE WHEN g < 1000 THEN lpad(g::text, 3, '0') ELSE g::text END, 'Behov ' || g, 'Beskrivelse', 'Nytte',
                    'users', '993467049', 1000000, 'accepted', 'bench'
             FROM generate_series(1, 1000) g;
         INSERT INTO need_scores (need_id, org_number, cycle_year, scores, scored_by)
             SELECT n.id, o.org_number, 2030,
                    (SELECT jsonb_object_agg('K' || k, (abs(hashtext(n.reference || o.org_number || k)) % 6))
                       FROM generate_series(0, 7) k),
                    'bench'
             FROM needs n CROSS JOIN organisations o
             WHERE n.cycle_year = 2030 AND o.kind = 'health_trust';",
        Value::Array(criteria).to_string().replace('\'', "''")
    );
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .expect("ping");
    for stmt in sql.split(";\n") {
        diesel::sql_query(stmt).execute(&mut conn).expect("load");
    }
    assert_eq!(app.count("need_scores"), 11_000);
    // Warm up once, then time.
    ranking(&app, 2030, "").await;
    let runs = 5;
    let start = std::time::Instant::now();
    let mut r = Value::Null;
    for _ in 0..runs {
        r = ranking(&app, 2030, "").await;
    }
    let per = start.elapsed() / runs;
    assert_eq!(r["items"].as_array().map(Vec::len), Some(1000));
    assert_eq!(r["items"][0]["coverage"], 11);
    let start = std::time::Instant::now();
    let median = ranking(&app, 2030, "?aggregation=median").await;
    let med = start.elapsed();
    assert_eq!(median["items"].as_array().map(Vec::len), Some(1000));
    println!("ranking 1000 needs x 11 trusts x 8 criteria over HTTP: {per:?} per request (mean of {runs}); median aggregation {med:?}");
}
