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
        .responds(201)
        .await;
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
        .responds(201)
        .await;
    app.get("/api/v1/cycles/2022/ranking")
        .auth(READ, None)
        .responds(200)
        .await;
    assert_eq!(cache.computations() - before, 2);
}

#[actix_web::test]
async fn ranking_pages_add_up_to_the_whole_ranking_and_are_cut_from_the_cache() {
    let app = TestApp::new().await;
    let db = app.state.db.clone();
    actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("demo");
    let get = |q: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/cycles/2022/ranking{q}"))
                .auth(READ, None)
                .send()
                .await
                .assert_status(200)
                .json()
        }
    };
    let whole = get(String::new()).await;
    let all = whole["items"].as_array().expect("items").clone();
    assert_eq!(all.len(), 27, "the demo ranks 27 needs");
    assert!(
        whole.get("next_cursor").is_none(),
        "the whole ranking has no next page"
    );
    let cache = app.state.read_cache.clone();
    let computed = cache.computations();

    let mut paged = Vec::new();
    let mut query = "?limit=10".to_owned();
    let mut pages = 0;
    loop {
        let page = get(query.clone()).await;
        pages += 1;
        for key in ["year", "aggregation", "frozen", "computed_at", "criteria"] {
            assert_eq!(
                page[key], whole[key],
                "every page carries the ranking's {key}"
            );
        }
        paged.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=10&cursor={c}"),
            None => break,
        }
        assert!(pages < 10, "the pages end");
    }
    assert_eq!(pages, 3, "27 needs in pages of 10");
    assert_eq!(paged, all, "the pages, in order, are the whole ranking");
    assert_eq!(paged[10]["rank"], 11, "the second page starts at rank 11");
    assert_eq!(
        cache.computations(),
        computed,
        "pages are cut from the cached ranking, not recomputed"
    );

    // A cursor without a limit gets the default page size; a forged cursor is refused.
    let rest = get(format!(
        "?cursor={}",
        get("?limit=25".into()).await["next_cursor"]
            .as_str()
            .expect("more than 25")
    ))
    .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(2));
    app.get("/api/v1/cycles/2022/ranking?cursor=bm9wZQ")
        .auth(READ, None)
        .send()
        .await
        .problem_saying(422, "cursor");
    app.get("/api/v1/cycles/2022/ranking?limit=0")
        .auth(READ, None)
        .send()
        .await
        .problem_saying(422, "limit");
}
