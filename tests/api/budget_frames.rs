//! Budget frames: managed by the portfolio office, never overbooked, every change in history.

use diesel::RunQueryDsl;
use portfolio_api::routes::budget_frames::{
    Allocation, AllocationPage, Frame, FrameHistoryEntry, FrameHistoryPage, FramePage,
};
use serde_json::{json, Value};

// `pub`: test files written before `support/` held it import it from here.
#[allow(unused_imports)]
pub use crate::support::create_frame;
use crate::support::{budget_frame, etag, read, wire, TestApp, HSO, MANAGE, OUS, READ};

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
    assert_eq!(r.etag(), etag(1));
    let frame: Frame = r.typed();
    let path = format!("/api/v1/budget-frames/{}", frame.id);
    assert_eq!(r.header("location"), Some(path.clone()));
    assert_eq!(
        (
            frame.amount_nok,
            frame.allocated_nok,
            frame.remaining_nok,
            frame.spent_nok
        ),
        (10_000_000, 0, 10_000_000, 0)
    );

    // One frame per year and sub-portfolio.
    app.post("/api/v1/budget-frames")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2023, "sub_portfolio": "concept_studies", "amount_nok": 1}))
        .send()
        .await
        .assert_problem(409);
    create_frame(&app, 2023, "improvement", 5_000_000).await;

    let allocation: Allocation = app
        .post(&format!("{path}/allocations"))
        .auth(MANAGE, Some(HSO))
        .json(&json!({"amount_nok": 6_000_000, "purpose": "Forprosjekt"}))
        .returns(201)
        .await;
    assert_eq!(wire(&allocation.kind), "direct");
    assert_eq!(wire(&allocation.status), "active");

    let r = app.get(&path).auth(READ, None).send().await;
    r.assert_status(200);
    assert_eq!(r.etag(), etag(2));
    let f: Frame = r.typed();
    assert_eq!(
        (f.amount_nok, f.allocated_nok, f.remaining_nok, f.version),
        (10_000_000, 6_000_000, 4_000_000, 2)
    );

    // Never below what is allocated; If-Match required.
    let cut = json!({"amount_nok": 8_000_000, "reason": "Kutt"});
    let resize = |version: Option<i32>, body: &Value| {
        let req = app.patch(&path).auth(MANAGE, Some(HSO)).json(body);
        match version {
            Some(v) => req.if_match(v),
            None => req,
        }
    };
    resize(None, &cut).send().await.assert_problem(428);
    resize(Some(1), &cut).send().await.assert_problem(412);
    resize(Some(2), &json!({"amount_nok": 5_999_999, "reason": "Kutt"}))
        .send()
        .await
        .problem_saying(409, "6000000 NOK is already allocated");
    let f: Frame = resize(
        Some(2),
        &json!({"amount_nok": 6_000_000, "reason": "Revidert budsjett"}),
    )
    .returns(200)
    .await;
    assert_eq!(f.remaining_nok, 0);

    // Now full: one more krone is refused.
    app.post(&format!("{path}/allocations"))
        .auth(MANAGE, Some(HSO))
        .json(&json!({"amount_nok": 1, "purpose": "Litt til"}))
        .send()
        .await
        .problem_saying(409, "only 0 NOK");

    // Release the allocation (If-Match on the allocation).
    let release = format!("{path}/allocations/{}/release", allocation.id);
    let release_with = |version: Option<i32>, reason: &str| {
        let req = app
            .post(&release)
            .auth(MANAGE, Some(HSO))
            .json(&json!({ "reason": reason }));
        match version {
            Some(v) => req.if_match(v),
            None => req,
        }
    };
    release_with(None, "Avlyst")
        .send()
        .await
        .assert_problem(428);
    let released: Allocation = release_with(Some(1), "Avlyst").returns(200).await;
    assert_eq!(wire(&released.status), "released");
    assert_eq!(released.amount_nok, 0);
    release_with(Some(2), "Igjen")
        .send()
        .await
        .assert_problem(409);
    let f: Frame = read(&app, &path).await;
    assert_eq!((f.allocated_nok, f.remaining_nok), (0, 6_000_000));

    let listed: AllocationPage = read(&app, &format!("{path}/allocations")).await;
    assert_eq!(listed.items.len(), 1);

    // History: who, when (a timestamp, or the entry would not parse), why for every change.
    let h: FrameHistoryPage = read(&app, &format!("{path}/history?limit=2")).await;
    assert_eq!(h.items.len(), 2);
    let cursor = h.next_cursor.expect("more history");
    let rest: FrameHistoryPage =
        read(&app, &format!("{path}/history?limit=2&cursor={cursor}")).await;
    let all: Vec<FrameHistoryEntry> = h.items.into_iter().chain(rest.items).collect();
    let actions: Vec<String> = all.iter().map(|e| wire(&e.action)).collect();
    assert_eq!(
        actions,
        ["created", "allocated", "amount_changed", "released"]
    );
    assert_eq!(all[2].reason, "Revidert budsjett");
    assert_eq!(all[2].delta_nok, -4_000_000);
    assert_eq!(all[3].delta_nok, -6_000_000);
    assert!(all
        .iter()
        .all(|e| e.actor_subject == "test-user" && e.actor_org.as_deref() == Some(HSO)));

    // Filters.
    let l: FramePage = read(
        &app,
        "/api/v1/budget-frames?year=2023&sub_portfolio=improvement",
    )
    .await;
    assert_eq!(l.items.len(), 1);
    assert_eq!(l.items[0].amount_nok, 5_000_000);
    let l: FramePage = read(&app, "/api/v1/budget-frames?year=2023&limit=1").await;
    assert!(l.next_cursor.is_some());
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
            .problem(422);
        assert!(p.errors[0].pointer.starts_with(pointer), "{body} → {p:?}");
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

    let frame = budget_frame(&app, 2023, 1_000).await;
    let path = format!("/api/v1/budget-frames/{}", frame.id);
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
    let m = money_in_db(&app, &frame.id.to_string());
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
        let id = budget_frame(&app, 2030 + round, amount)
            .await
            .id
            .to_string();
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
                    r.problem_saying(409, "cannot take 100000 NOK");
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
        let f: Frame = read(&app, &format!("/api/v1/budget-frames/{id}")).await;
        assert_eq!(f.remaining_nok, EACH - 1);
    }
}
