//! The seed's picture, built through the API: 8 concept studies started in autumn 2022, later
//! 3 completed, 3 in progress, 1 paused, 1 not started; the four interregional studies; a
//! concept portfolio with one active and one paused concept — and the funnel shows it.

use serde_json::{json, Value};

use crate::support::{
    accepted_needs, create_frame, decide_all, get, interregional_item, start_item, study_to,
    TestApp,
};

const REGIONAL: [&str; 4] = [
    "Automatisert overføring av data til kvalitetsregistre",
    "Tidlig ultralyd",
    "Digital hjemmeoppfølging",
    "Felles kurve og medikasjon",
];
const INTERREGIONAL: [&str; 4] = [
    "Verktøystøtte for nye metoder",
    "Nasjonalt genomsenter",
    "Prehospital journal",
    "Deling av multimedieobjekter",
];

fn titles(page: &Value) -> Vec<String> {
    // Studies and concepts alike: both have a title.
    let mut t: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["title"].as_str().expect("title").to_owned())
        .collect();
    t.sort();
    t
}

#[actix_web::test]
async fn the_seed_picture_is_expressible_exactly() {
    let app = TestApp::new().await;
    let regional_frame = create_frame(&app, 2023, "concept_studies", 10_000_000).await;
    let inter_frame = create_frame(&app, 2023, "interregional", 8_000_000).await;
    let (rf, inf) = (
        regional_frame["id"].as_str().expect("id"),
        inter_frame["id"].as_str().expect("id"),
    );
    let needs = accepted_needs(&app, 2022, 12).await;

    // Autumn 2022: the board starts 8 studies, defers 2 needs and declines 2.
    let mut items: Vec<Value> = Vec::new();
    for (i, t) in REGIONAL.iter().enumerate() {
        items.push(start_item(&needs[i].0, rf, 1_500_000, t));
    }
    for (i, t) in INTERREGIONAL.iter().enumerate() {
        items.push(interregional_item(&needs[4 + i].0, inf, 2_000_000, t));
    }
    items.push(json!({"kind": "defer_need", "need_id": needs[8].0}));
    items.push(json!({"kind": "defer_need", "need_id": needs[9].0}));
    items.push(json!({"kind": "decline_need", "need_id": needs[10].0}));
    items.push(json!({"kind": "decline_need", "need_id": needs[11].0}));
    let case = decide_all(&app, items).await;
    let study: Vec<String> = (0..8)
        .map(|i| {
            case["items"][i]["created_id"]
                .as_str()
                .expect("study")
                .to_owned()
        })
        .collect();

    // By mid-2023: 7 started; 3 completed (two regional, one interregional); one paused by
    // the board; one never started.
    for s in &study[..7] {
        study_to(&app, s, "in_progress").await.assert_status(200);
    }
    for s in [&study[0], &study[1], &study[4]] {
        study_to(&app, s, "completed").await.assert_status(200);
    }
    decide_all(
        &app,
        vec![json!({"kind": "pause_study", "study_id": study[5]})],
    )
    .await;

    // The concept portfolio: one active, one paused.
    let concepts = decide_all(
        &app,
        vec![
            json!({"kind": "record_concept", "study_id": study[0], "title": REGIONAL[0]}),
            json!({"kind": "record_concept", "study_id": study[1], "title": REGIONAL[1]}),
        ],
    )
    .await;
    let ultrasound = concepts["items"][1]["created_id"]
        .as_str()
        .expect("concept");
    decide_all(
        &app,
        vec![json!({"kind": "change_concept_status", "concept_id": ultrasound, "to": "paused"})],
    )
    .await;

    // The funnel.
    let f = get(&app, "/api/v1/cycles/2022/funnel").await;
    assert_eq!(f["studies"]["started"], 8, "{f}");
    assert_eq!(
        f["studies"]["by_status"],
        json!({"not_started": 1, "in_progress": 3, "paused": 1, "completed": 3, "cancelled": 0}),
        "{f}"
    );
    assert_eq!(f["board"]["study_started"], 8);
    assert_eq!(f["board"]["deferred"], 2);
    assert_eq!(f["board"]["declined"], 2);
    assert_eq!(f["accepted"], 12);

    // The lists.
    let all = get(&app, "/api/v1/concept-studies?year=2022").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(8));
    for (status, n) in [
        ("completed", 3),
        ("in_progress", 3),
        ("paused", 1),
        ("not_started", 1),
    ] {
        let l = get(
            &app,
            &format!("/api/v1/concept-studies?year=2022&status={status}"),
        )
        .await;
        assert_eq!(l["items"].as_array().map(Vec::len), Some(n), "{status}");
    }
    let inter = get(&app, "/api/v1/concept-studies?year=2022&interregional=true").await;
    let mut expected: Vec<String> = INTERREGIONAL.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(titles(&inter), expected);
    assert!(inter["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|s| s["on_behalf_of"].as_array().map(Vec::len) == Some(4)));
    let active = get(&app, "/api/v1/concepts?status=active").await;
    assert_eq!(titles(&active), [REGIONAL[0]]);
    let paused = get(&app, "/api/v1/concepts?status=paused").await;
    assert_eq!(titles(&paused), [REGIONAL[1]]);
    assert_eq!(
        get(&app, "/api/v1/concepts").await["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // The money: 6 MNOK of the regional frame, 8 MNOK of the interregional one.
    let r = get(&app, &format!("/api/v1/budget-frames/{rf}")).await;
    assert_eq!(
        (&r["allocated_nok"], &r["remaining_nok"]),
        (&json!(6_000_000), &json!(4_000_000))
    );
    let i = get(&app, &format!("/api/v1/budget-frames/{inf}")).await;
    assert_eq!(i["remaining_nok"], 0);

    // The overview's `year` is the budget year: the 2023 overview counts the studies its
    // frames fund (proposed by the 2022 cycle) beside the frames that fund them; 2022's has
    // the 2022 cycle's needs but no frame and no funded study.
    let o = get(&app, "/api/v1/portfolio/overview?year=2023").await;
    let studies = &o["sub_portfolios"]["concept_studies"];
    assert_eq!(studies["total"], 8, "{studies}");
    assert_eq!(
        studies["by_status"],
        json!({"completed": 3, "in_progress": 3, "paused": 1, "not_started": 1})
    );
    assert_eq!(studies["by_cycle"], json!({"2022": 8}));
    let allocated: i64 = o["budget"]
        .as_array()
        .expect("budget")
        .iter()
        .map(|f| f["allocated_nok"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        allocated, 14_000_000,
        "the studies' money is in the same year"
    );
    let o = get(&app, "/api/v1/portfolio/overview?year=2022").await;
    assert_eq!(o["sub_portfolios"]["concept_studies"]["total"], 0);
    assert_eq!(o["sub_portfolios"]["needs"]["total"], 12);
    assert_eq!(o["budget"], json!([]));
}
