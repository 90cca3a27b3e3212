//! `serve --demo` loads the seed's public figures once.

use crate::support::TestApp;

#[actix_web::test]
async fn demo_data_has_the_seeds_2022_funnel_and_loads_once() {
    let app = TestApp::new().await;
    let db = app.state.db.clone();
    let first = actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("load");
    assert!(first.contains("40 needs"), "{first}");
    let f = app
        .get("/api/v1/cycles/2022/funnel")
        .auth("portfolio:read", None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(f["reported"], 40);
    assert_eq!(f["accepted"], 27);
    let measures = app.count("measures");
    assert_eq!(
        app.count("budget_frames"),
        1,
        "the 2023 concept-study frame"
    );
    assert_eq!(measures, 200);

    let db = app.state.db.clone();
    let second = actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("load");
    assert!(second.contains("already"), "{second}");
    assert_eq!(app.count("needs"), 40, "a second load adds nothing");
    assert_eq!(app.count("measures"), measures);
    assert_eq!(app.count("budget_frames"), 1);

    // The demo's ranking is served (every trust scored every accepted need).
    let r = app
        .get("/api/v1/cycles/2022/ranking")
        .auth("portfolio:read", None)
        .send()
        .await
        .assert_status(200)
        .json();
    let ranked = r["needs"]
        .as_array()
        .or(r["items"].as_array())
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(ranked, 27, "{r}");
}
