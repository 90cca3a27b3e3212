//! A per-caller rate limit: 429 problem with Retry-After once the budget is used up.

use crate::support::{TestApp, AHUS, HSO, READ};

#[actix_web::test]
async fn callers_over_their_budget_get_429_with_retry_after() {
    let app = TestApp::with_config(|c| c.rate_limit_per_minute = 3).await;
    for left in [2, 1, 0] {
        let r = app
            .get("/api/v1/organisations")
            .auth(READ, Some(HSO))
            .send()
            .await;
        r.assert_status(200);
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(left.to_string()));
    }
    let r = app
        .get("/api/v1/organisations")
        .auth(READ, Some(HSO))
        .send()
        .await;
    let p = r.assert_problem(429);
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&wait), "one request per 20 s: {wait}");
    assert!(p["detail"]
        .as_str()
        .is_some_and(|d| d.contains("per minute")));
    // Writes are limited too, and nothing is written.
    app.post("/api/v1/service-areas")
        .auth("portfolio:manage", Some(HSO))
        .json(&serde_json::json!({"year": 2033, "name": "Grense", "kind": "clinical"}))
        .send()
        .await
        .assert_problem(429);
    assert_eq!(app.count("service_areas"), 16);

    // Another caller has its own budget; health checks carry no token and are not limited.
    app.get("/api/v1/organisations")
        .auth(READ, Some(AHUS))
        .send()
        .await
        .assert_status(200);
    for _ in 0..5 {
        app.get("/health/live").send().await.assert_status(200);
    }
}

#[actix_web::test]
async fn the_limit_is_off_by_default() {
    let app = TestApp::new().await;
    for _ in 0..30 {
        let r = app
            .get("/api/v1/organisations")
            .auth(READ, Some(HSO))
            .send()
            .await;
        r.assert_status(200);
        assert!(r.header("ratelimit-limit").is_none());
    }
}
