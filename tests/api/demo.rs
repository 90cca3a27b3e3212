//! `serve --demo` loads the seed's public figures once.

use portfolio_api::routes::concept_studies::ConceptPage;
use serde_json::Value;

use crate::support::{wire, TestApp, READ};

#[actix_web::test]
async fn demo_data_has_the_seeds_2022_funnel_and_loads_once() {
    let app = TestApp::new().await;
    let db = app.state.db.clone();
    let first = actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("load");
    assert!(first.contains("40 needs"), "{first}");
    let f: Value = app
        .get("/api/v1/cycles/2022/funnel")
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(f["reported"], 40);
    assert_eq!(f["accepted"], 27);
    // The README names the cycle the demo leaves open for new needs.
    assert!(
        first.contains("the 2023 cycle is open for new needs"),
        "{first}"
    );
    let open = app
        .get("/api/v1/cycles/2023")
        .auth("portfolio:read", None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(open["phase"], "intake", "{open}");
    let measures = app.count("measures");
    assert_eq!(
        app.count("budget_frames"),
        2,
        "the 2023 concept-study and interregional frames"
    );
    assert_eq!(measures, 200);

    // The board's part: eight studies started in autumn 2022, and where they stood in 2023.
    assert_eq!(f["studies"]["started"], 8, "{f}");
    assert_eq!(
        f["studies"]["by_status"],
        serde_json::json!({"not_started": 1, "in_progress": 3, "paused": 1, "completed": 3, "cancelled": 0}),
        "{f}"
    );
    let inter: Value = app
        .get("/api/v1/concept-studies?year=2022&interregional=true")
        .auth(READ, None)
        .returns(200)
        .await;
    assert_eq!(inter["items"].as_array().map(Vec::len), Some(4), "{inter}");
    let concepts: Value = app
        .get("/api/v1/concepts")
        .auth(READ, None)
        .returns(200)
        .await;
    let concepts: ConceptPage = serde_json::from_value(concepts).expect("a ConceptPage");
    let mut picture: Vec<(String, String)> = concepts
        .items
        .into_iter()
        .map(|c| (c.title, wire(&c.status)))
        .collect();
    picture.sort();
    assert_eq!(
        picture,
        [
            (
                "Automatisert overføring av data til kvalitetsregistre".to_owned(),
                "active".to_owned()
            ),
            ("Tidlig ultralyd".to_owned(), "paused".to_owned())
        ]
    );
    let frame: Value = app
        .get("/api/v1/budget-frames?year=2023&sub_portfolio=concept_studies")
        .auth(READ, None)
        .returns(200)
        .await;
    // Four regional studies of 1.5 MNOK, and the direct allocation the contract's release
    // example releases.
    assert_eq!(frame["items"][0]["allocated_nok"], 6_300_000, "{frame}");

    let db = app.state.db.clone();
    let second = actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("load");
    assert!(second.contains("already"), "{second}");
    // The 2022 cycle's 40, the one 2023 need a system owner forwarded, and the 3 submitted
    // 2023 needs the contract's examples act on.
    assert_eq!(app.count("needs"), 44, "a second load adds nothing");
    assert_eq!(app.count("measures"), measures);
    assert_eq!(app.count("budget_frames"), 2);
    assert_eq!(app.count("concept_studies"), 9);

    // The demo's ranking is served (every trust scored every accepted need).
    let r: Value = app
        .get("/api/v1/cycles/2022/ranking")
        .auth(READ, None)
        .returns(200)
        .await;
    let ranked = r["needs"]
        .as_array()
        .or(r["items"].as_array())
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(ranked, 27, "{r}");
}
