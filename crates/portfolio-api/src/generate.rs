//! A deterministic data generator for benchmarks and growth tests:
//! `portfolio-api generate --scale N [--seed S] [--year Y] [--measures M]`.
//!
//! Scale 1 is about one region's real year: 40 needs (27 accepted), every health trust
//! scoring every accepted need on 8 criteria, the 16 service areas of 2023 and ~200
//! measures. Rows are written with a few array-bound statements per table, not one per row.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel::PgConnection;
use serde_json::{json, Value};
use uuid::Uuid;

/// A small deterministic PRNG (xorshift64*): the same seed gives the same portfolio.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn uuid(&mut self) -> Uuid {
        let hi = self.next() as u128;
        let lo = self.next() as u128;
        uuid::Builder::from_random_bytes(((hi << 64) | lo).to_be_bytes()).into_uuid()
    }
}

pub struct Options {
    pub scale: u32,
    pub seed: u64,
    pub year: i32,
    pub measures: Option<u32>,
}

const CRITERIA: [(&str, &str, f64); 8] = [
    ("PASIENTNYTTE", "Pasientnytte", 3.0),
    ("KVALITET", "Kvalitet og pasientsikkerhet", 2.5),
    ("EFFEKTIVITET", "Effektivisering", 2.0),
    ("REGIONAL", "Regional standardisering", 1.5),
    ("MODENHET", "Teknologisk modenhet", 1.0),
    ("RISIKO", "Gjennomføringsrisiko", 1.0),
    ("LOVKRAV", "Myndighetskrav", 2.0),
    ("ARBEIDSMILJO", "Arbeidsmiljø", 1.0),
];

const TITLES: [&str; 12] = [
    "Automatisert overføring av data til kvalitetsregistre",
    "Tidlig ultralyd",
    "Digital hjemmeoppfølging",
    "Talegjenkjenning i journal",
    "Beslutningsstøtte for antibiotika",
    "Felles bildedeling mellom sykehus",
    "Elektronisk kurve for intensiv",
    "Pasientens legemiddelliste",
    "Robotisering av fakturaflyt",
    "Kunstig intelligens i radiologi",
    "Digital innsjekk poliklinikk",
    "Strukturert journal for fødsel",
];

/// The criteria of a generated year, as the domain serialises them.
pub fn criteria_json() -> Value {
    let mut all: Vec<Value> = CRITERIA
        .iter()
        .map(|(code, name, weight)| {
            json!({"code": code, "name": name, "description": "", "kind": "prioritisation", "weight": weight,
                   "scale_min": 1, "scale_max": 5, "scale_labels": [{"value": 1, "label": "lav"}, {"value": 5, "label": "høy"}]})
        })
        .collect();
    // Pass/fail: stored with the neutral weight and scale of `Criterion::screening`.
    all.push(json!({"code": "STRATEGI", "name": "Støtter regional utviklingsplan", "description": "", "kind": "screening",
                    "weight": 0.0, "scale_min": 0, "scale_max": 1, "scale_labels": []}));
    Value::Array(all)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct OrgNo {
    #[diesel(sql_type = Text)]
    org_number: String,
}

const ORIGINS: [&str; 4] = [
    "professional_community",
    "users",
    "supplier",
    "regulatory_requirement",
];

/// Fills the database; returns a summary (JSON) with ids a benchmark can use.
pub fn generate(conn: &mut PgConnection, o: &Options) -> QueryResult<Value> {
    conn.transaction(|conn| {
        // One generator, drawn from in a fixed order (needs, scores, measures): the same seed
        // gives the same portfolio.
        let mut rng = Rng::new(o.seed);
        let year = o.year;
        let trusts = health_trusts(conn)?;
        let areas = service_areas(conn)?;
        let n_needs = 40 * o.scale as i64;
        let first_seq = open_year(conn, year, n_needs)?;
        let needs = NeedRows::draw(
            &mut rng,
            year,
            first_seq,
            n_needs,
            27 * o.scale as i64,
            &trusts,
            &areas,
        );
        insert_needs(conn, year, &needs)?;

        // Every trust scores every accepted need on every prioritisation criterion.
        let accepted: Vec<Uuid> = needs
            .ids
            .iter()
            .zip(&needs.status)
            .filter(|(_, s)| *s == "accepted")
            .map(|(id, _)| *id)
            .collect();
        if let Some(last) = accepted.last() {
            override_screening(conn, *last)?;
        }
        let sheets = ScoreRows::draw(&mut rng, &accepted, &trusts);
        insert_scores(conn, year, &sheets)?;

        // The improvement portfolio.
        let n_measures = o.measures.unwrap_or(200 * o.scale) as usize;
        let measures = MeasureRows::draw(
            &mut rng,
            &format!("SP-{}-{}", o.seed, year),
            n_measures,
            &areas,
        );
        insert_measures(conn, &measures)?;
        diesel::sql_query("ANALYZE").execute(conn)?;

        Ok(json!({
            "year": year,
            "scale": o.scale,
            "seed": o.seed,
            "needs": n_needs,
            "accepted": accepted.len(),
            "score_sheets": sheets.needs.len(),
            "measures": n_measures,
            "sample_need_id": accepted.get(accepted.len() / 2).or(needs.ids.first()),
            "measure_refs": measures.refs,
        }))
    })
}

/// `[a, b)` index ranges of at most `size` rows: one statement each.
fn chunks(len: usize, size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len)
        .step_by(size)
        .map(move |a| (a, (a + size).min(len)))
}

fn health_trusts(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    Ok(diesel::sql_query(
        "SELECT org_number FROM organisations WHERE kind = 'health_trust' ORDER BY org_number",
    )
    .load::<OrgNo>(conn)?
    .into_iter()
    .map(|r| r.org_number)
    .collect())
}

fn service_areas(conn: &mut PgConnection) -> QueryResult<Vec<Uuid>> {
    Ok(
        diesel::sql_query("SELECT id FROM service_areas WHERE year = 2023 ORDER BY name")
            .load::<Id>(conn)?
            .into_iter()
            .map(|r| r.id)
            .collect(),
    )
}

/// Puts the year in prioritisation with an adopted criteria set and reserves `n_needs`
/// sequence numbers; returns the first.
fn open_year(conn: &mut PgConnection, year: i32, n_needs: i64) -> QueryResult<i32> {
    diesel::sql_query(
        "INSERT INTO cycles (year, phase, last_need_seq) VALUES ($1, 'prioritisation', $2)
         ON CONFLICT (year) DO UPDATE SET phase = 'prioritisation', last_need_seq = cycles.last_need_seq + $2",
    )
    .bind::<Int4, _>(year)
    .bind::<Int4, _>(n_needs as i32)
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO criteria_sets (cycle_year, status, criteria, adopted_at, adopted_by) VALUES ($1, 'adopted', $2, now(), 'generator')
         ON CONFLICT (cycle_year) DO NOTHING",
    )
    .bind::<Int4, _>(year)
    .bind::<Jsonb, _>(criteria_json())
    .execute(conn)?;
    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = Int4)]
        last_need_seq: i32,
    }
    let last = diesel::sql_query("SELECT last_need_seq FROM cycles WHERE year = $1")
        .bind::<Int4, _>(year)
        .get_result::<Seq>(conn)?
        .last_need_seq;
    Ok(last - n_needs as i32 + 1)
}

/// Generated needs, as column arrays.
#[derive(Default)]
struct NeedRows {
    ids: Vec<Uuid>,
    seqs: Vec<i32>,
    refs: Vec<String>,
    titles: Vec<String>,
    descs: Vec<String>,
    origin: Vec<String>,
    orgs: Vec<String>,
    area: Vec<Option<Uuid>>,
    cost: Vec<i64>,
    status: Vec<String>,
    reason: Vec<Option<String>>,
}

impl NeedRows {
    fn draw(
        rng: &mut Rng,
        year: i32,
        first_seq: i32,
        n_needs: i64,
        n_accepted: i64,
        trusts: &[String],
        areas: &[Uuid],
    ) -> NeedRows {
        let mut r = NeedRows::default();
        for i in 0..n_needs {
            let seq = first_seq + i as i32;
            r.ids.push(rng.uuid());
            r.seqs.push(seq);
            r.refs.push(format!("B-{year}-{seq:03}"));
            r.titles.push(format!("{} ({})", rng.pick(&TITLES), seq));
            r.descs.push(format!("Behov nummer {seq} meldt inn for {year}: beskrivelse, forventet gevinst og omfang."));
            r.origin.push(rng.pick(&ORIGINS).to_string());
            r.orgs.push(rng.pick(trusts).clone());
            r.area.push(if rng.below(4) == 0 {
                None
            } else {
                Some(*rng.pick(areas))
            });
            r.cost.push(200_000 + 50_000 * rng.below(30) as i64);
            // The seed's proportion: 27 of 40 accepted; the rest mostly rejected, a few withdrawn.
            let accepted = (i * n_accepted) / n_needs != ((i + 1) * n_accepted) / n_needs;
            let (s, reason) = if accepted {
                ("accepted", None)
            } else if i % 5 == 0 {
                ("withdrawn", None)
            } else {
                (
                    "rejected",
                    Some("Oppfyller ikke kriteriene for regional utredning".to_owned()),
                )
            };
            r.status.push(s.to_owned());
            r.reason.push(reason);
        }
        r
    }
}

fn insert_needs(conn: &mut PgConnection, year: i32, n: &NeedRows) -> QueryResult<()> {
    for (a, b) in chunks(n.ids.len(), 5000) {
        diesel::sql_query(
            "INSERT INTO needs (id, cycle_year, seq, reference, title, description, expected_benefit, origin,
                 organisation_number, service_area_id, estimated_study_cost_nok, status, assessment_reason,
                 screening, assessed_at, assessed_by, reported_by)
             SELECT id, $1, seq, ref, title, descr, 'Bedre pasientbehandling og mer effektiv drift', origin, org, area, cost,
                 status, reason,
                 CASE status WHEN 'accepted' THEN jsonb_build_object('STRATEGI', 'pass')
                             WHEN 'rejected' THEN jsonb_build_object('STRATEGI', 'fail') END,
                 CASE WHEN status IN ('accepted','rejected') THEN now() END,
                 CASE WHEN status IN ('accepted','rejected') THEN 'generator' END, 'generator'
             FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::uuid[],
                         $10::bigint[], $11::text[], $12::text[])
                  AS t(id, seq, ref, title, descr, origin, org, area, cost, status, reason)",
        )
        .bind::<Int4, _>(year)
        .bind::<Array<SqlUuid>, _>(&n.ids[a..b])
        .bind::<Array<Int4>, _>(&n.seqs[a..b])
        .bind::<Array<Text>, _>(&n.refs[a..b])
        .bind::<Array<Text>, _>(&n.titles[a..b])
        .bind::<Array<Text>, _>(&n.descs[a..b])
        .bind::<Array<Text>, _>(&n.origin[a..b])
        .bind::<Array<Text>, _>(&n.orgs[a..b])
        .bind::<Array<Nullable<SqlUuid>>, _>(&n.area[a..b])
        .bind::<Array<BigInt>, _>(&n.cost[a..b])
        .bind::<Array<Text>, _>(&n.status[a..b])
        .bind::<Array<Nullable<Text>>, _>(&n.reason[a..b])
        .execute(conn)?;
    }
    Ok(())
}

/// The last accepted need failed screening and was accepted with a recorded override.
fn override_screening(conn: &mut PgConnection, need: Uuid) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE needs SET screening = jsonb_build_object('STRATEGI', 'fail'),
             screening_override_reason = 'Nytt lovkrav; utredes selv om behovet ikke står i utviklingsplanen'
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(need)
    .execute(conn)
}

/// Generated score sheets, as column arrays.
#[derive(Default)]
struct ScoreRows {
    needs: Vec<Uuid>,
    orgs: Vec<String>,
    scores: Vec<Value>,
}

impl ScoreRows {
    fn draw(rng: &mut Rng, accepted: &[Uuid], trusts: &[String]) -> ScoreRows {
        let mut r = ScoreRows::default();
        for need in accepted {
            let base = rng.below(5) as i64;
            for t in trusts {
                let mut sheet = serde_json::Map::new();
                for (code, _, _) in CRITERIA {
                    let v = (1 + (base + rng.below(3) as i64 - 1).clamp(0, 4)) as i32;
                    sheet.insert(code.to_owned(), json!(v));
                }
                r.needs.push(*need);
                r.orgs.push(t.clone());
                r.scores.push(Value::Object(sheet));
            }
        }
        r
    }
}

fn insert_scores(conn: &mut PgConnection, year: i32, s: &ScoreRows) -> QueryResult<()> {
    for (a, b) in chunks(s.needs.len(), 10000) {
        diesel::sql_query(
            "INSERT INTO need_scores (need_id, org_number, cycle_year, scores, scored_by)
             SELECT n, o, $1, s, 'generator' FROM unnest($2::uuid[], $3::text[], $4::jsonb[]) AS t(n, o, s)",
        )
        .bind::<Int4, _>(year)
        .bind::<Array<SqlUuid>, _>(&s.needs[a..b])
        .bind::<Array<Text>, _>(&s.orgs[a..b])
        .bind::<Array<Jsonb>, _>(&s.scores[a..b])
        .execute(conn)?;
    }
    Ok(())
}

/// Generated measures, as column arrays.
#[derive(Default)]
struct MeasureRows {
    ids: Vec<Uuid>,
    titles: Vec<String>,
    areas: Vec<Uuid>,
    origins: Vec<String>,
    refs: Vec<String>,
    statuses: Vec<String>,
    rags: Vec<Option<String>>,
    progress: Vec<Option<i32>>,
}

impl MeasureRows {
    fn draw(rng: &mut Rng, ref_prefix: &str, n_measures: usize, areas: &[Uuid]) -> MeasureRows {
        let statuses = [
            "proposed",
            "planned",
            "in_delivery",
            "in_delivery",
            "on_hold",
            "delivered",
        ];
        let rags = ["green", "green", "yellow", "red"];
        let mut r = MeasureRows::default();
        for i in 0..n_measures {
            r.ids.push(rng.uuid());
            r.titles
                .push(format!("Tiltak {} i {}", i + 1, rng.pick(&TITLES)));
            r.areas.push(*rng.pick(areas));
            r.origins.push(rng.pick(&ORIGINS).to_string());
            r.refs.push(format!("{ref_prefix}-{:06}", i + 1));
            r.statuses.push(rng.pick(&statuses).to_string());
            let has_status = rng.below(5) != 0;
            r.rags.push(has_status.then(|| rng.pick(&rags).to_string()));
            r.progress.push(has_status.then(|| rng.below(101) as i32));
        }
        r
    }
}

fn insert_measures(conn: &mut PgConnection, m: &MeasureRows) -> QueryResult<()> {
    for (a, b) in chunks(m.ids.len(), 5000) {
        diesel::sql_query(
            "INSERT INTO measures (id, title, service_area_id, origin, system_owner, system_responsible, partner_reference,
                 status, progress, rag, milestones, reported_by, source_timestamp, delivery_updated_at)
             SELECT id, title, area, origin, 'Regional systemeier', 'Regional systemansvarlig', ref, status,
                 progress::smallint, rag, CASE WHEN rag IS NULL THEN NULL ELSE '[]'::jsonb END,
                 CASE WHEN rag IS NULL THEN NULL ELSE 'Sykehuspartner HF' END,
                 CASE WHEN rag IS NULL THEN NULL ELSE now() - interval '30 days' END,
                 CASE WHEN rag IS NULL THEN NULL ELSE now() END
             FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])
                  AS t(id, title, area, origin, ref, status, rag, progress)",
        )
        .bind::<Array<SqlUuid>, _>(&m.ids[a..b])
        .bind::<Array<Text>, _>(&m.titles[a..b])
        .bind::<Array<SqlUuid>, _>(&m.areas[a..b])
        .bind::<Array<Text>, _>(&m.origins[a..b])
        .bind::<Array<Text>, _>(&m.refs[a..b])
        .bind::<Array<Text>, _>(&m.statuses[a..b])
        .bind::<Array<Nullable<Text>>, _>(&m.rags[a..b])
        .bind::<Array<Nullable<Int4>>, _>(&m.progress[a..b])
        .execute(conn)?;
    }
    Ok(())
}
