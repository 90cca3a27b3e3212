//! Accepted needs for tests of what comes after the first assessment (decisions, studies,
//! selection). Written straight into the database: these tests are about what the board does
//! with accepted needs, not about intake and assessment (tested with the needs resource).

use diesel::RunQueryDsl;

use crate::support::{TestApp, OUS};

/// `n` new accepted needs of `year` with an estimated study cost of 1 MNOK: (id, reference).
pub async fn accepted_needs(app: &TestApp, year: i32, n: usize) -> Vec<(String, String)> {
    with_costs(app, year, &vec![1_000_000; n])
}

/// New accepted needs of `year`, one per cost: (id, reference).
pub fn with_costs(app: &TestApp, year: i32, costs: &[i64]) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct R {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        reference: String,
    }
    let mut conn = app.conn();
    diesel::sql_query("INSERT INTO cycles (year) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind::<diesel::sql_types::Int4, _>(year)
        .execute(&mut conn)
        .expect("cycle");
    costs
        .iter()
        .map(|cost| {
            let r: R = diesel::sql_query(
                "WITH s AS (UPDATE cycles SET last_need_seq = last_need_seq + 1 WHERE year = $1 RETURNING last_need_seq) \
                 INSERT INTO needs (cycle_year, seq, reference, title, description, expected_benefit, origin, \
                                    organisation_number, estimated_study_cost_nok, status, reported_by) \
                 SELECT $1, s.last_need_seq, 'B-' || $1 || '-' || lpad(s.last_need_seq::text, 3, '0'), \
                        'Behov ' || s.last_need_seq, 'Beskrivelse', 'Gevinst', 'users', $2, $3, 'accepted', 'test' FROM s \
                 RETURNING id::text AS id, reference",
            )
            .bind::<diesel::sql_types::Int4, _>(year)
            .bind::<diesel::sql_types::Text, _>(OUS)
            .bind::<diesel::sql_types::BigInt, _>(*cost)
            .get_result(&mut conn)
            .expect("need");
            (r.id, r.reference)
        })
        .collect()
}
