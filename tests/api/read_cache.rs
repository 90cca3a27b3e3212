//! Read models (overview, ranking) are cached until the next committed change, never longer.

use serde_json::json;

use crate::support::{TestApp, HSO};

#[actix_web::test]
async fn the_overview_is_recomputed_after_a_committed_change() {
    let app = TestApp::new().await;
    let get = || async {
        app.get("/api/v1/portfolio/overview?year=2023")
            .auth("portfolio:read", None)
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
