//! Decisions a board can defend: the rater report, the calibrated ranking, and the
//! robustness certificate frozen with the demo's decision to start eight studies.

use diesel::RunQueryDsl;

use crate::support::{get, TestApp, READ};

async fn demo() -> TestApp {
    let app = TestApp::new().await;
    let db = app.state.db.clone();
    actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("load");
    app
}

#[actix_web::test]
async fn demo_decision_has_a_frozen_certificate_with_its_radius() {
    let app = demo().await;
    let cases = get(&app, "/api/v1/decision-cases?limit=100").await;
    let items = cases["items"].as_array().expect("items");
    let id_of = |title: &str| {
        items
            .iter()
            .find(|c| c["title"] == title)
            .and_then(|c| c["id"].as_str())
            .map(str::to_string)
            .expect("the case")
    };
    let start = id_of("Oppstart av konseptutredninger høsten 2022");
    let url = format!("/api/v1/decision-cases/{start}/certificate");
    app.get(&url).send().await.assert_status(401);
    let c = get(&app, &url).await;
    let needs = c["needs"].as_array().expect("needs");
    assert_eq!(
        needs.iter().filter(|n| n["board_selected"] == true).count(),
        8,
        "{c}"
    );
    assert_eq!(c["year"], 2022);
    assert_eq!(
        c["budget_nok"], 18_000_000,
        "both frames had everything left"
    );
    let hash = c["inputs_hash"].as_str().expect("hash");
    assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    let radius = &c["stability_radius"];
    let cut = radius["budget"]["decrease"]
        .as_i64()
        .expect("a selection that costs money");
    let optimal_cost: i64 = needs
        .iter()
        .filter(|n| n["optimal_selected"] == true)
        .map(|n| n["cost_nok"].as_i64().expect("cost"))
        .sum();
    assert_eq!(cut, 18_000_000 - optimal_cost + 1, "{radius}");
    assert!(
        radius["weights"].as_array().is_some_and(|w| !w.is_empty()),
        "{radius}"
    );
    let left_out = needs
        .iter()
        .filter(|n| n["optimal_selected"] == false)
        .count();
    assert_eq!(
        c["what_it_would_take"].as_array().map(Vec::len),
        Some(left_out),
        "{c}"
    );
    assert_eq!(c["ranking"].as_array().map(Vec::len), Some(27));

    let csv = app
        .get(&format!("{url}?format=csv"))
        .auth(READ, None)
        .send()
        .await;
    csv.assert_status(200);
    assert!(csv
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/csv")));
    let text = csv.text();
    assert!(text.starts_with("row,reference,rank,"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("need,")).count(),
        needs.len()
    );
    assert!(text.contains(&format!("inputs_hash,{hash}")));

    // Frozen: the database refuses to change it, and the next read is identical.
    let mut conn = app.conn();
    let changed =
        diesel::sql_query("UPDATE decision_certificates SET inputs_hash = repeat('0', 64)")
            .execute(&mut conn);
    assert!(changed.is_err());
    let again = get(&app, &url).await;
    assert_eq!(again, c);

    // A case that starts no study has no certificate.
    let pause = id_of("Pause i konseptutredning");
    app.get(&format!("/api/v1/decision-cases/{pause}/certificate"))
        .auth(READ, None)
        .send()
        .await
        .assert_status(404);
}

#[actix_web::test]
async fn raters_and_calibrated_ranking() {
    let app = demo().await;
    app.get("/api/v1/cycles/2022/raters")
        .send()
        .await
        .assert_status(401);
    let r = get(&app, "/api/v1/cycles/2022/raters").await;
    let raters = r["raters"].as_array().expect("raters");
    assert!(!raters.is_empty());
    for x in raters {
        assert!(
            x["shared_needs"].as_u64() <= x["needs_scored"].as_u64(),
            "{x}"
        );
        assert!(
            x["offset"].is_number(),
            "every demo trust shares needs: {x}"
        );
    }
    let cal = get(&app, "/api/v1/cycles/2022/ranking?aggregation=calibrated").await;
    assert_eq!(cal["aggregation"], "calibrated");
    let items = cal["items"].as_array().expect("items");
    for (i, n) in items.iter().enumerate() {
        let ranks = &n["ranks"];
        assert_eq!(ranks["calibrated"], i + 1, "{n}");
        let all = [&ranks["mean"], &ranks["median"], &ranks["calibrated"]]
            .map(|v| v.as_u64().expect("rank"));
        assert_eq!(
            ranks["movement"].as_u64(),
            Some(all.iter().max().expect("3") - all.iter().min().expect("3"))
        );
    }
}
