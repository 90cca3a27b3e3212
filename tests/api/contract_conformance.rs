//! The server accepts what the contract declares valid and refuses what it declares invalid
//! (what schemathesis checks in `.ci/contract`), and its answers match the declared schemas.

use serde_json::{json, Value};

use crate::support::{
    id_of, need_body, open_cycle, pointers, report, TestApp, HSO, MANAGE, OUS, READ, SUBMIT,
};

fn contract() -> Value {
    portfolio_api::app::contract_json()
}

fn pattern_of_param(path: &str, method: &str, name: &str) -> regex::Regex {
    let api = contract();
    let params = api["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} has parameters"));
    let p = params
        .iter()
        .find(|p| {
            p["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .unwrap_or_else(|| panic!("{method} {path} declares {name}"));
    regex::Regex::new(p["schema"]["pattern"].as_str().expect("a pattern")).expect("regex")
}

async fn service_area(app: &TestApp) -> String {
    let list = app
        .get("/api/v1/service-areas?year=2023&limit=1")
        .auth(MANAGE, None)
        .send()
        .await
        .json();
    let id = list["items"][0]["id"].as_str().expect("id").to_owned();
    format!("/api/v1/service-areas/{id}")
}

#[actix_web::test]
async fn if_match_values_the_contract_allows_are_parsed_not_refused() {
    let app = TestApp::new().await;
    let path = service_area(&app).await;
    let pattern = pattern_of_param("/api/v1/service-areas/{id}", "patch", "If-Match");
    // Entity tags may contain commas (RFC 9110 etagc); a list of well-formed tags that names
    // another version is a failed precondition (412), never a malformed header (400).
    for stale in [
        r#""a,b" , W/"c""#,
        r#"W/"aJ|_8G,cc%@s6TtvzWn^"     ,  W/"i3""#,
        r#"")bn," ,",)%k8""#,
        r#""*","v9""#,
        r#""v0" ,W/"x""#,
    ] {
        assert!(pattern.is_match(stale), "the contract allows {stale}");
        app.patch(&path)
            .auth(MANAGE, Some(HSO))
            .header("If-Match", stale)
            .json(&json!({"name": "Ikke lagret"}))
            .refused(412)
            .await;
    }
    // A list that names the current version (after a tag with a comma in it) matches.
    let ok = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", r#"W/"v1", "x,y" , "v1""#)
        .json(&json!({"name": "Lagret"}))
        .send()
        .await;
    ok.assert_status(200);
    assert_eq!(ok.json()["name"], "Lagret");
    // What the contract refuses is a 400 (a malformed header), and it writes nothing.
    for malformed in [
        r#"v2"#,
        r#""v2","#,
        r#""v2" "v3""#,
        r#"*, "v2""#,
        r#""v"2""#,
    ] {
        assert!(
            !pattern.is_match(malformed),
            "the contract refuses {malformed}"
        );
        app.patch(&path)
            .auth(MANAGE, Some(HSO))
            .header("If-Match", malformed)
            .json(&json!({"name": "Feil"}))
            .refused(400)
            .await;
    }
    let long = format!("\"{}\"", "a".repeat(255));
    assert!(long.len() > 256);
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", &long)
        .json(&json!({"name": "Feil"}))
        .refused(400)
        .await;
    assert_eq!(
        app.count("events"),
        1,
        "only the matching write was recorded"
    );
}

#[actix_web::test]
async fn a_withdrawn_need_without_screening_matches_the_declared_assessment() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let need = report(&app, OUS, &need_body(2022, "Trukket behov")).await;
    let url = format!("/api/v1/needs/{}", id_of(&need));
    let w: Value = app
        .post(&format!("{url}/withdraw"))
        .auth(SUBMIT, Some(OUS))
        .header("If-Match", "\"v1\"")
        .json(&json!({"reason": "Dekkes nasjonalt"}))
        .returns(200)
        .await;
    assert_eq!(w["assessment"]["screening"], Value::Null);
    // The contract's Assessment allows exactly that: screening is optional and nullable, and
    // otherwise maps criterion codes to pass or fail.
    let api = contract();
    let assessment = &api["components"]["schemas"]["Assessment"];
    let required = assessment["required"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!required.contains(&json!("screening")), "{assessment}");
    let screening = &assessment["properties"]["screening"];
    let types: Vec<&str> = match &screening["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let nullable = types.contains(&"null")
        || screening["oneOf"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["type"] == "null"));
    assert!(nullable, "screening must be nullable: {screening}");
}

#[actix_web::test]
async fn need_references_the_contract_allows_are_looked_up_and_others_refused() {
    let app = TestApp::new().await;
    let pattern = pattern_of_param("/api/v1/needs/by-reference/{reference}", "get", "reference");
    for allowed in [
        "B-2022-001",
        "B-2099-017",
        "B-1000-100",
        "B-9999-999999",
        "B-2022-1000",
    ] {
        assert!(pattern.is_match(allowed), "the contract allows {allowed}");
        app.get(&format!("/api/v1/needs/by-reference/{allowed}"))
            .auth(READ, None)
            .refused(404)
            .await;
    }
    // Not a reference at all (no four-digit year from 1000, no canonical number): 400, and
    // the contract says so too.
    for refused in [
        "B-0999-001",
        "B-0000-001",
        "B-2022-000",
        "B-2022-0017",
        "B-2022-01",
    ] {
        assert!(!pattern.is_match(refused), "the contract refuses {refused}");
        app.get(&format!("/api/v1/needs/by-reference/{refused}"))
            .auth(READ, None)
            .refused(400)
            .await;
    }
}

/// Sends raw HTTP/1.1 to `addr` and returns the status line and the rest of the answer.
fn raw_http(addr: std::net::SocketAddr, request: Vec<u8>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    // The server may answer (and close) before it has read the whole head.
    let _ = s.write_all(&request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[actix_web::test]
async fn oversized_headers_get_documented_answers() {
    let app = TestApp::new().await;
    let state = app.state.clone();
    let server = actix_web::HttpServer::new(move || portfolio_api::app::build_app(state.clone()))
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind");
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    let token = app.token(MANAGE, Some(HSO));
    let areas = app.count("service_areas");
    let post = move |key: String| {
        let body = r#"{"name":"X","kind":"clinical","year":2023}"#;
        format!(
            "POST /api/v1/service-areas HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
Content-Type: application/json\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\n\
Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    // Over the declared maxLength (255) but within the HTTP layer's bound: the application's
    // 422 problem naming the header.
    let (status, text) = actix_web::rt::task::spawn_blocking({
        let req = post("k".repeat(300));
        move || raw_http(addr, req)
    })
    .await
    .expect("request");
    assert_eq!(status, 422, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("application/problem+json"),
        "{text}"
    );
    assert!(text.contains("/header/Idempotency-Key"), "{text}");
    // Over the HTTP layer's bound on the request head: 431, which the contract documents on
    // every operation.
    let (status, text) = actix_web::rt::task::spawn_blocking({
        let req = post("k".repeat(portfolio_api::openapi::REQUEST_HEAD_MAX_BYTES + 1));
        move || raw_http(addr, req)
    })
    .await
    .expect("request");
    assert_eq!(status, 431, "{text}");
    handle.stop(false).await;
    assert_eq!(app.count("service_areas"), areas, "nothing written");
    let api = contract();
    for (path, item) in api["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            assert!(
                op["responses"].get("431").is_some(),
                "{method} {path} documents 431"
            );
        }
    }
}

fn param_schema(path: &str, method: &str, name: &str) -> Value {
    let api = contract();
    api["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or_else(|| panic!("{method} {path} declares {name}"))["schema"]
        .clone()
}

#[actix_web::test]
async fn organisation_filters_are_bounded_as_declared() {
    let app = TestApp::new().await;
    for (path, name) in [
        ("/api/v1/measures", "supplier"),
        ("/api/v1/needs", "organisation"),
    ] {
        let schema = param_schema(path, "get", name);
        assert_eq!(schema["maxLength"], 9, "{path} {name}: {schema}");
        assert_eq!(schema["pattern"], "^[0-9]{9}$", "{path} {name}: {schema}");
        for bad in ["0".repeat(2000), "abcdefghi".into(), "12345678".into()] {
            let p = app
                .get(&format!("{path}?{name}={bad}"))
                .auth(READ, None)
                .refused(422)
                .await;
            assert_eq!(pointers(&p), [format!("/query/{name}")], "{p:?}");
        }
        app.get(&format!("{path}?{name}=923609016"))
            .auth(READ, None)
            .responds(200)
            .await;
    }
}

#[actix_web::test]
async fn declared_array_limits_are_small_enough_to_be_refused_field_by_field() {
    let app = TestApp::new().await;
    let api = contract();
    let schemas = &api["components"]["schemas"];
    // One past the declared limit still fits the body limit, so it is a 422 naming the
    // field, not a 413.
    assert_eq!(
        schemas["AssessmentRequest"]["properties"]["screening"]["maxItems"],
        100
    );
    assert_eq!(
        schemas["ScreeningResult"]["properties"]["code"]["maxLength"],
        16
    );
    open_cycle(&app, 2022).await;
    let need = report(&app, OUS, &need_body(2022, "Mange screeningsvar")).await;
    let url = format!("/api/v1/needs/{}/assessment", id_of(&need));
    let screening: Vec<Value> = (0..101)
        .map(|i| json!({"code": format!("{:0>16}", i), "result": "pass"}))
        .collect();
    let p = app
        .post(&url)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"decision": "accepted", "screening": screening}))
        .refused(422)
        .await;
    assert!(pointers(&p).contains(&"/screening"), "{p:?}");

    let start = schemas["ItemProposal"]["oneOf"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|s| s["properties"]["kind"]["enum"][0] == "start_study")
        })
        .cloned()
        .expect("start_study");
    assert_eq!(
        start["properties"]["on_behalf_of"]["maxItems"], 10,
        "{start}"
    );
    let orgs: Vec<String> = (0..11).map(|i| format!("99132496{i}")).collect();
    let cases = app.count("decision_cases");
    let p = app
        .post("/api/v1/decision-cases")
        .auth(MANAGE, Some(HSO))
        .json(&json!({
            "meeting_date": "2022-10-20", "title": "For mange regioner",
            "items": [{"kind": "start_study", "need_id": need["id"], "frame_id": need["id"],
                "budget_nok": 1, "title": "Studie", "responsible_org": "991324968",
                "interregional": true, "on_behalf_of": orgs}]
        }))
        .refused(422)
        .await;
    assert!(
        p.errors
            .iter()
            .any(|e| e.pointer == "/items/0/on_behalf_of" && e.message.contains("at most 10")),
        "{p:?}"
    );
    assert_eq!(app.count("decision_cases"), cases, "nothing written");
}

#[actix_web::test]
async fn header_parameters_are_declared_with_the_syntax_the_server_enforces() {
    let app = TestApp::new().await;
    let api = contract();
    for (path, item) in api["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or("").to_ascii_lowercase();
                let schema = &p["schema"];
                // Absent is `required: false`; a null type would make the text "null" valid.
                assert!(
                    schema["type"].is_string() || schema["type"].is_null(),
                    "{method} {path} {name}: {schema}"
                );
                let want = match name.as_str() {
                    // Only a create-or-replace may say `*`; every other change names a tag.
                    "if-match" if method == "put" => portfolio_api::etag::IF_MATCH_PATTERN,
                    "if-match" => portfolio_api::etag::IF_MATCH_TAGS_PATTERN,
                    "idempotency-key" => portfolio_api::idempotency::KEY_PATTERN,
                    _ => continue,
                };
                assert_eq!(schema["pattern"], want, "{method} {path} {name}");
            }
        }
    }
    // `*` is refused where the contract does not allow it (a PATCH), with 428.
    let area = app
        .get("/api/v1/service-areas?year=2023")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .json();
    let id = area["items"][0]["id"]
        .as_str()
        .expect("a service area")
        .to_owned();
    app.patch(&format!("/api/v1/service-areas/{id}"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "*")
        .json(&json!({"name": "Nytt navn"}))
        .refused(428)
        .await;
    // The optional If-Match of the criteria-set PUT: `null` is not an ETag.
    open_cycle(&app, 2022).await;
    app.put("/api/v1/cycles/2022/criteria-set")
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "null")
        .json(&json!({"criteria": []}))
        .refused(400)
        .await;
}
