//! Every kind of bad request is an `application/problem+json` 4xx, never a 500.

use serde_json::json;

use crate::support::{pointers, TestApp, HSO, MANAGE, READ};

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = TestApp::new().await;
    let r = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .raw_body("application/json", "{\"year\": 2024, \"name\": ")
        .send()
        .await;
    r.assert_problem(400);
}

#[actix_web::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::new().await;
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .raw_body("text/plain", "year=2024")
        .refused(415)
        .await;
}

#[actix_web::test]
async fn body_too_large_is_413() {
    let app = TestApp::with_config(|c| c.body_limit = 1024).await;
    let name = "x".repeat(4096);
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2024, "name": name, "kind": "clinical"}))
        .refused(413)
        .await;
}

#[actix_web::test]
async fn invalid_path_parameter_is_400() {
    let app = TestApp::new().await;
    app.get("/api/v1/service-areas/not-a-uuid")
        .auth(READ, None)
        .refused(400)
        .await;
}

#[actix_web::test]
async fn unknown_route_is_404_and_wrong_method_is_405_with_allow() {
    let app = TestApp::new().await;
    app.get("/api/v1/nothing-here").refused(404).await;
    let r = app
        .request(actix_web::http::Method::DELETE, "/api/v1/service-areas")
        .send()
        .await;
    r.assert_problem(405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
    let r = app
        .request(actix_web::http::Method::TRACE, "/health/live")
        .send()
        .await;
    r.assert_problem(405);
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
}

#[actix_web::test]
async fn validation_failures_are_422_with_a_field_list() {
    let app = TestApp::new().await;
    let r = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 1800, "name": "", "kind": "clinical"}))
        .send()
        .await;
    let p = r.problem(422);
    let pointers = pointers(&p);
    assert_eq!(pointers, vec!["/name", "/year"]);

    // A wrong type or an unknown enum value names the field too.
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2024, "name": "A", "kind": "surgical"}))
        .refused_at(422, "/kind")
        .await;
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": "2024", "name": "A", "kind": "clinical"}))
        .refused_at(422, "/year")
        .await;
    assert_eq!(app.count("service_areas"), 16, "nothing written");
}

#[actix_web::test]
async fn nul_characters_are_rejected_before_they_reach_postgresql() {
    let app = TestApp::new().await;
    let p = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .raw_body(
            "application/json",
            r#"{"year": 2024, "name": "Mor\u0000barn", "kind": "clinical"}"#,
        )
        .send()
        .await
        .problem(422);
    assert_eq!(p.errors[0].pointer, "/name");
    assert!(p.errors[0].message.contains("NUL"), "{p:?}");
    assert_eq!(app.count("service_areas"), 16);
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_echoes_a_sane_one() {
    let app = TestApp::new().await;
    let r = app.get("/health/live").send().await;
    assert!(r.header("x-request-id").is_some_and(|v| v.len() >= 16));
    let r = app
        .get("/api/v1/organisations")
        .header("X-Request-Id", "abc-123")
        .send()
        .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("abc-123"));
    let p = r.assert_problem(401);
    assert_eq!(
        p["request_id"], "abc-123",
        "the problem quotes the request id"
    );
}

#[actix_web::test]
async fn bad_query_values_are_4xx() {
    let app = TestApp::new().await;
    app.get("/api/v1/service-areas?year=abc")
        .auth(READ, None)
        .refused(422)
        .await;
    app.get("/api/v1/service-areas?limit=0")
        .auth(READ, None)
        .refused(422)
        .await;
    app.get("/api/v1/service-areas?cursor=%%%")
        .auth(READ, None)
        .send()
        .await;
    app.get("/api/v1/service-areas?cursor=bm9wZQ")
        .auth(READ, None)
        .refused(422)
        .await;
}
