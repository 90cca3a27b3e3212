//! Budget frames: managed by the portfolio office, never overbooked, every change in history.

use diesel::RunQueryDsl;
use serde_json::{json, Value};

use crate::support::{TestApp, HSO, OUS};

const READ: &str = "portfolio:read";
const MANAGE: &str = "portfolio:read portfolio:manage";

pub async fn create_frame(app: &TestApp, year: i32, sub: &str, amount: i64) -> Value {
    app.post("/api/v1/budget-frames")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": year, "sub_portfolio": sub, "amount_nok": amount, "reason": "Vedtatt budsjett"}))
        .send()
        .await
        .assert_status(201)
        .json()
}

#[derive(diesel::QueryableByName, Debug)]
struct Money {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    amount_nok: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    allocated_nok: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    spent_nok: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    allocations: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    allocations_sum: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    history_allocated: i64,
}

fn money_in_db(app: &TestApp, frame_id: &str) -> Money {
    diesel::sql_query(
        "SELECT f.amount_nok, f.allocated_nok, f.spent_nok, \
         (SELECT count(*) FROM budget_allocations a WHERE a.frame_id = f.id) AS allocations, \
         (SELECT coalesce(sum(a.amount_nok), 0)::bigint FROM budget_allocations a WHERE a.frame_id = f.id) AS allocations_sum, \
         (SELECT count(*) FROM budget_frame_history h WHERE h.frame_id = f.id AND h.action = 'allocated') AS history_allocated \
         FROM budget_frames f WHERE f.id = $1::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(frame_id)
    .get_result(&mut app.conn())
    .expect("frame in db")
}

#[actix_web::test]
async fn create_read_resize_and_history() {
    let app = TestApp::new().await;
    let r = app
        .post("/api/v1/budget-frames")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "sub_portfolio": "concept_studies", "amount_nok": 10_000_000}))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    let frame = r.json();
    let id = frame["id"].as_str().expect("id").to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/budget-frames/{id}"))
    );
    assert_eq!(frame["amount_nok"], 10_000_000);
    assert_eq!(frame["allocated_nok"], 0);
    assert_eq!(frame["remaining_nok"], 10_000_000);
    assert_eq!(frame["spent_nok"], 0);

    // One frame per year and sub-portfolio.
    app.post("/api/v1/budget-frames")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "sub_portfolio": "concept_studies", "amount_nok": 1}))
        .send()
        .await
        .assert_problem(409);
    create_frame(&app, 2023, "improvement", 5_000_000).await;

    let path = format!("/api/v1/budget-frames/{id}");
    let a = app
        .post(&format!("{path}/allocations"))
        .auth(MANAGE, Some(HSO))
        .json(&json!({"amount_nok": 6_000_000, "purpose": "Forprosjekt"}))
        .send()
        .await;
    a.assert_status(201);
    let allocation = a.json();
    assert_eq!(allocation["kind"], "direct");
    assert_eq!(allocation["status"], "active");

    let r = app.get(&path).auth(READ, None).send().await;
    r.assert_status(200);
    assert_eq!(r.header("etag").as_deref(), Some("\"v2\""));
    let f = r.json();
    assert_eq!(
        (
            &f["amount_nok"],
            &f["allocated_nok"],
            &f["remaining_nok"],
            &f["version"]
        ),
        (
            &json!(10_000_000),
            &json!(6_000_000),
            &json!(4_000_000),
            &json!(2)
        )
    );

    // Never below what is allocated; If-Match required.
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .json(&json!({"amount_nok": 8_000_000, "reason": "Kutt"}))
        .send()
        .await
        .assert_problem(428);
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"amount_nok": 8_000_000, "reason": "Kutt"}))
        .send()
        .await
        .assert_problem(412);
    let p = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v2\"")
        .json(&json!({"amount_nok": 5_999_999, "reason": "Kutt"}))
        .send()
        .await
        .assert_problem(409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("6000000 NOK is already allocated"),
        "{p}"
    );
    let r = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v2\"")
        .json(&json!({"amount_nok": 6_000_000, "reason": "Revidert budsjett"}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["remaining_nok"], 0);

    // Now full: one more krone is refused.
    let p = app
        .post(&format!("{path}/allocations"))
        .auth(MANAGE, Some(HSO))
        .json(&json!({"amount_nok": 1, "purpose": "Litt til"}))
        .send()
        .await
        .assert_problem(409);
    assert!(
        p["detail"].as_str().unwrap_or("").contains("only 0 NOK"),
        "{p}"
    );

    // Release the allocation (If-Match on the allocation).
    let apath = format!(
        "{path}/allocations/{}",
        allocation["id"].as_str().expect("id")
    );
    app.post(&format!("{apath}/release"))
        .auth(MANAGE, Some(HSO))
        .json(&json!({"reason": "Avlyst"}))
        .send()
        .await
        .assert_problem(428);
    let r = app
        .post(&format!("{apath}/release"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"reason": "Avlyst"}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["status"], "released");
    assert_eq!(r.json()["amount_nok"], 0);
    app.post(&format!("{apath}/release"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v2\"")
        .json(&json!({"reason": "Igjen"}))
        .send()
        .await
        .assert_problem(409);
    let f = app.get(&path).auth(READ, None).send().await.json();
    assert_eq!(
        (&f["allocated_nok"], &f["remaining_nok"]),
        (&json!(0), &json!(6_000_000))
    );

    let listed = app
        .get(&format!("{path}/allocations"))
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    // History: who, when, why for every change.
    let h = app
        .get(&format!("{path}/history?limit=2"))
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(h["items"].as_array().map(Vec::len), Some(2));
    let cursor = h["next_cursor"].as_str().expect("more history").to_owned();
    let rest = app
        .get(&format!("{path}/history?limit=2&cursor={cursor}"))
        .auth(READ, None)
        .send()
        .await
        .json();
    let all: Vec<Value> = h["items"]
        .as_array()
        .into_iter()
        .chain(rest["items"].as_array())
        .flatten()
        .cloned()
        .collect();
    let actions: Vec<&str> = all
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["created", "allocated", "amount_changed", "released"]
    );
    assert_eq!(all[2]["reason"], "Revidert budsjett");
    assert_eq!(all[2]["delta_nok"], -4_000_000);
    assert_eq!(all[3]["delta_nok"], -6_000_000);
    assert!(all
        .iter()
        .all(|e| e["actor_subject"] == "test-user" && e["actor_org"] == HSO));
    assert!(all.iter().all(|e| e["occurred_at"].is_string()));

    // Filters.
    let l = app
        .get("/api/v1/budget-frames?year=2023&sub_portfolio=improvement")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(l["items"][0]["amount_nok"], 5_000_000);
    let l = app
        .get("/api/v1/budget-frames?year=2023&limit=1")
        .auth(READ, None)
        .send()
        .await
        .json();
    assert!(l["next_cursor"].is_string());
}

#[actix_web::test]
async fn denials_and_bad_input_write_nothing() {
    let app = TestApp::new().await;
    let good = json!({"year": 2023, "sub_portfolio": "concept_studies", "amount_nok": 100});
    app.post("/api/v1/budget-frames")
        .auth(READ, Some(HSO))
        .json(&good)
        .send()
        .await
        .assert_problem(403);
    app.post("/api/v1/budget-frames")
        .auth("portfolio:submit portfolio:decide", Some(OUS))
        .json(&good)
        .send()
        .await
        .assert_problem(403);
    app.post("/api/v1/budget-frames")
        .json(&good)
        .send()
        .await
        .assert_problem(401);
    for (body, pointer) in [
        (
            json!({"year": 2023, "sub_portfolio": "concept_studies", "amount_nok": -1}),
            "/amount_nok",
        ),
        (
            json!({"year": 2023, "sub_portfolio": "gold", "amount_nok": 1}),
            "/sub_portfolio",
        ),
        (
            json!({"year": 1999, "sub_portfolio": "other", "amount_nok": 1}),
            "/year",
        ),
        (
            json!({"year": 2023, "sub_portfolio": "other", "amount_nok": 1.5}),
            "/amount_nok",
        ),
        (
            json!({"year": 2023, "sub_portfolio": "other", "amount_nok": 1, "reason": ""}),
            "/reason",
        ),
        (
            json!({"year": 2023, "sub_portfolio": "other", "amount_nok": 1, "extra": 1}),
            "",
        ),
    ] {
        let p = app
            .post("/api/v1/budget-frames")
            .auth(MANAGE, Some(HSO))
            .json(&body)
            .send()
            .await
            .assert_problem(422);
        assert!(
            p["errors"][0]["pointer"]
                .as_str()
                .unwrap_or("")
                .starts_with(pointer),
            "{body} → {p}"
        );
    }
    app.post("/api/v1/budget-frames")
        .auth(MANAGE, Some(HSO))
        .json(
            &json!({"year": 2023, "sub_portfolio": "other", "amount_nok": 1, "reason": "a\u{0}b"}),
        )
        .send()
        .await
        .assert_problem(422);
    assert_eq!(app.count("budget_frames"), 0);
    assert_eq!(app.count("budget_frame_history"), 0);
    // Denied attempts (403) are in the audit trail; no change reached the feed.
    assert_eq!(app.count("events"), 0);

    let frame = create_frame(&app, 2023, "concept_studies", 1_000).await;
    let path = format!(
        "/api/v1/budget-frames/{}",
        frame["id"].as_str().expect("id")
    );
    app.post(&format!("{path}/allocations"))
        .auth(READ, Some(HSO))
        .json(&json!({"amount_nok": 10, "purpose": "x"}))
        .send()
        .await
        .assert_problem(403);
    for body in [
        json!({"amount_nok": 0, "purpose": "x"}),
        json!({"amount_nok": -5, "purpose": "x"}),
        json!({"amount_nok": 5, "purpose": ""}),
        json!({"amount_nok": 5}),
    ] {
        app.post(&format!("{path}/allocations"))
            .auth(MANAGE, Some(HSO))
            .json(&body)
            .send()
            .await
            .assert_problem(422);
    }
    app.post("/api/v1/budget-frames/00000000-0000-0000-0000-000000000000/allocations")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"amount_nok": 5, "purpose": "x"}))
        .send()
        .await
        .assert_problem(404);
    app.get("/api/v1/budget-frames/not-a-uuid")
        .auth(READ, None)
        .send()
        .await
        .assert_problem(400);
    app.patch(&path)
        .auth(READ, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"amount_nok": 5, "reason": "x"}))
        .send()
        .await
        .assert_problem(403);
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"amount_nok": 5}))
        .send()
        .await
        .assert_problem(422);
    assert_eq!(app.count("budget_allocations"), 0);
    assert_eq!(app.count("budget_frame_history"), 1);
    let m = money_in_db(&app, frame["id"].as_str().expect("id"));
    assert_eq!((m.amount_nok, m.allocated_nok), (1_000, 0));
}

/// The database itself refuses an overbooked frame, whatever the application does.
#[actix_web::test]
async fn the_database_refuses_overbooking() {
    let app = TestApp::new().await;
    let frame = create_frame(&app, 2023, "other", 1_000).await;
    let id = frame["id"].as_str().expect("id");
    let over = diesel::sql_query(format!(
        "UPDATE budget_frames SET allocated_nok = 1001 WHERE id = '{id}'"
    ))
    .execute(&mut app.conn());
    assert!(
        format!("{over:?}").contains("budget_frames_allocated_within_amount"),
        "{over:?}"
    );
    let shrink = diesel::sql_query(format!(
        "UPDATE budget_frames SET allocated_nok = 500, amount_nok = 499 WHERE id = '{id}'"
    ))
    .execute(&mut app.conn());
    assert!(shrink.is_err());
    let history = diesel::sql_query("DELETE FROM budget_frame_history").execute(&mut app.conn());
    assert!(history.is_err(), "history is append-only");
}

/// 200 concurrent allocation requests at a frame that fits exactly k of them: exactly k
/// succeed, the rest get a 409 problem, and the database never shows allocated > amount.
#[actix_web::test]
async fn two_hundred_concurrent_allocations_never_overbook() {
    let app = TestApp::with_config(|c| c.pool_size = 32).await;
    let token = app.token(MANAGE, Some(HSO));
    const EACH: i64 = 100_000;
    for (round, k) in [(0, 1usize), (1, 37), (2, 100), (3, 199), (4, 73)] {
        // Room for k requests and a bit, but never k + 1.
        let amount = k as i64 * EACH + EACH - 1;
        let frame = create_frame(&app, 2030 + round, "concept_studies", amount).await;
        let id = frame["id"].as_str().expect("id").to_owned();
        let url = format!("/api/v1/budget-frames/{id}/allocations");
        let requests = (0..200).map(|i| {
            app.post(&url)
                .token(&token)
                .json(&json!({"amount_nok": EACH, "purpose": format!("Forespørsel {i}")}))
                .send()
        });
        let responses = futures_util::future::join_all(requests).await;
        let mut ok = 0;
        let mut conflicts = 0;
        for r in &responses {
            match r.status.as_u16() {
                201 => ok += 1,
                409 => {
                    let p = r.assert_problem(409);
                    assert!(
                        p["detail"]
                            .as_str()
                            .unwrap_or("")
                            .contains("cannot take 100000 NOK"),
                        "{p}"
                    );
                    conflicts += 1;
                }
                other => panic!("round {round}: unexpected {other}: {}", r.text()),
            }
        }
        assert_eq!((ok, conflicts), (k, 200 - k), "round {round}");
        let m = money_in_db(&app, &id);
        assert!(m.allocated_nok <= m.amount_nok, "round {round}: {m:?}");
        assert_eq!(m.allocated_nok, k as i64 * EACH, "round {round}");
        assert_eq!(m.allocations as usize, k, "round {round}");
        assert_eq!(m.allocations_sum, m.allocated_nok, "round {round}");
        assert_eq!(m.history_allocated as usize, k, "round {round}");
        assert_eq!(m.spent_nok, 0);
        let f = app
            .get(&format!("/api/v1/budget-frames/{id}"))
            .auth(READ, None)
            .send()
            .await
            .json();
        assert_eq!(f["remaining_nok"], EACH - 1);
    }
}
