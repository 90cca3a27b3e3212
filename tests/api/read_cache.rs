//! Read models (overview, ranking) are cached until the next committed change, never longer.

use serde_json::json;

use crate::support::{TestApp, HSO, READ};

#[actix_web::test]
async fn the_overview_is_recomputed_after_a_committed_change() {
    let app = TestApp::new().await;
    let get = || async {
        app.get("/api/v1/portfolio/overview?year=2023")
            .auth(READ, None)
            .send()
            .await
            .assert_status(200)
            .json()
    };
    let first = get().await;
    assert_eq!(first["service_areas"].as_array().map(Vec::len), Some(16));
    assert_eq!(get().await, first, "unchanged data, same answer");

    app.post("/api/v1/service-areas")
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .json(&json!({"year": 2023, "name": "Psykisk helse", "kind": "clinical"}))
        .send()
        .await
        .assert_status(201);
    let after = get().await;
    assert_eq!(
        after["service_areas"].as_array().map(Vec::len),
        Some(17),
        "the new area is counted"
    );
}

#[actix_web::test]
async fn a_burst_of_requests_computes_the_ranking_once() {
    let app = TestApp::new().await;
    let db = app.state.db.clone();
    actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("demo");
    let cache = app.state.read_cache.clone();
    let before = cache.computations();
    let burst = (0..8).map(|_| {
        app.get("/api/v1/cycles/2022/ranking")
            .auth(READ, None)
            .send()
    });
    let bodies: Vec<serde_json::Value> = futures_util::future::join_all(burst)
        .await
        .iter()
        .map(|r| r.assert_status(200).json())
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one answer");
    assert_eq!(
        cache.computations() - before,
        1,
        "computed once for the burst"
    );

    // A committed change makes the next request compute again.
    app.post("/api/v1/service-areas")
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .json(&json!({"year": 2023, "name": "Psykisk helse", "kind": "clinical"}))
        .send()
        .await
        .assert_status(201);
    app.get("/api/v1/cycles/2022/ranking")
        .auth(READ, None)
        .send()
        .await
        .assert_status(200);
    assert_eq!(cache.computations() - before, 2);
}
