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

/// Fills the database; returns a summary (JSON) with ids a benchmark can use.
pub fn generate(conn: &mut PgConnection, o: &Options) -> QueryResult<Value> {
    conn.transaction(|conn| {
        let mut rng = Rng::new(o.seed);
        let year = o.year;
        let trusts: Vec<String> = diesel::sql_query("SELECT org_number FROM organisations WHERE kind = 'health_trust' ORDER BY org_number")
            .load::<OrgNo>(conn)?
            .into_iter()
            .map(|r| r.org_number)
            .collect();
        let areas: Vec<Uuid> = diesel::sql_query("SELECT id FROM service_areas WHERE year = 2023 ORDER BY name").load::<Id>(conn)?.into_iter().map(|r| r.id).collect();

        let n_needs = 40 * o.scale as i64;
        let n_accepted = 27 * o.scale as i64;
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
        let last = diesel::sql_query("SELECT last_need_seq FROM cycles WHERE year = $1").bind::<Int4, _>(year).get_result::<Seq>(conn)?.last_need_seq;
        let first_seq = last - n_needs as i32 + 1;

        let origins = ["professional_community", "users", "supplier", "regulatory_requirement"];
        let (mut ids, mut seqs, mut refs, mut titles, mut descs, mut origin, mut orgs, mut area, mut cost, mut status, mut reason) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for i in 0..n_needs {
            let seq = first_seq + i as i32;
            ids.push(rng.uuid());
            seqs.push(seq);
            refs.push(format!("B-{year}-{seq:03}"));
            titles.push(format!("{} ({})", rng.pick(&TITLES), seq));
            descs.push(format!("Behov nummer {seq} meldt inn for {year}: beskrivelse, forventet gevinst og omfang."));
            origin.push(rng.pick(&origins).to_string());
            orgs.push(rng.pick(&trusts).clone());
            area.push(if rng.below(4) == 0 { None } else { Some(*rng.pick(&areas)) });
            cost.push(200_000 + 50_000 * rng.below(30) as i64);
            // The seed's proportion: 27 of 40 accepted; the rest mostly rejected, a few withdrawn.
            let accepted = (i * n_accepted) / n_needs != ((i + 1) * n_accepted) / n_needs;
            let (s, r) = if accepted {
                ("accepted", None)
            } else if i % 5 == 0 {
                ("withdrawn", None)
            } else {
                ("rejected", Some("Oppfyller ikke kriteriene for regional utredning".to_owned()))
            };
            status.push(s.to_owned());
            reason.push(r);
        }
        for chunk in (0..ids.len()).collect::<Vec<_>>().chunks(5000) {
            let (a, b) = (chunk[0], chunk[chunk.len() - 1] + 1);
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
            .bind::<Array<SqlUuid>, _>(&ids[a..b])
            .bind::<Array<Int4>, _>(&seqs[a..b])
            .bind::<Array<Text>, _>(&refs[a..b])
            .bind::<Array<Text>, _>(&titles[a..b])
            .bind::<Array<Text>, _>(&descs[a..b])
            .bind::<Array<Text>, _>(&origin[a..b])
            .bind::<Array<Text>, _>(&orgs[a..b])
            .bind::<Array<Nullable<SqlUuid>>, _>(&area[a..b])
            .bind::<Array<BigInt>, _>(&cost[a..b])
            .bind::<Array<Text>, _>(&status[a..b])
            .bind::<Array<Nullable<Text>>, _>(&reason[a..b])
            .execute(conn)?;
        }

        // Every trust scores every accepted need on every prioritisation criterion.
        let accepted: Vec<Uuid> = ids.iter().zip(&status).filter(|(_, s)| *s == "accepted").map(|(id, _)| *id).collect();
        // The last accepted need failed screening and was accepted with a recorded override.
        if let Some(last) = accepted.last() {
            diesel::sql_query(
                "UPDATE needs SET screening = jsonb_build_object('STRATEGI', 'fail'),
                     screening_override_reason = 'Nytt lovkrav; utredes selv om behovet ikke står i utviklingsplanen'
                 WHERE id = $1",
            )
            .bind::<SqlUuid, _>(*last)
            .execute(conn)?;
        }
        let (mut s_need, mut s_org, mut s_scores) = (vec![], vec![], vec![]);
        for need in &accepted {
            let base = rng.below(5) as i64;
            for t in &trusts {
                let mut sheet = serde_json::Map::new();
                for (code, _, _) in CRITERIA {
                    let v = (1 + (base + rng.below(3) as i64 - 1).clamp(0, 4)) as i32;
                    sheet.insert(code.to_owned(), json!(v));
                }
                s_need.push(*need);
                s_org.push(t.clone());
                s_scores.push(Value::Object(sheet));
            }
        }
        for chunk in (0..s_need.len()).collect::<Vec<_>>().chunks(10000) {
            let (a, b) = (chunk[0], chunk[chunk.len() - 1] + 1);
            diesel::sql_query(
                "INSERT INTO need_scores (need_id, org_number, cycle_year, scores, scored_by)
                 SELECT n, o, $1, s, 'generator' FROM unnest($2::uuid[], $3::text[], $4::jsonb[]) AS t(n, o, s)",
            )
            .bind::<Int4, _>(year)
            .bind::<Array<SqlUuid>, _>(&s_need[a..b])
            .bind::<Array<Text>, _>(&s_org[a..b])
            .bind::<Array<Jsonb>, _>(&s_scores[a..b])
            .execute(conn)?;
        }

        // The improvement portfolio.
        let n_measures = o.measures.unwrap_or(200 * o.scale) as usize;
        let statuses = ["proposed", "planned", "in_delivery", "in_delivery", "on_hold", "delivered"];
        let rags = ["green", "green", "yellow", "red"];
        let (mut m_id, mut m_title, mut m_area, mut m_origin, mut m_ref, mut m_status, mut m_rag, mut m_progress) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let ref_prefix = format!("SP-{}-{}", o.seed, year);
        for i in 0..n_measures {
            m_id.push(rng.uuid());
            m_title.push(format!("Tiltak {} i {}", i + 1, rng.pick(&TITLES)));
            m_area.push(*rng.pick(&areas));
            m_origin.push(rng.pick(&origins).to_string());
            m_ref.push(format!("{ref_prefix}-{:06}", i + 1));
            m_status.push(rng.pick(&statuses).to_string());
            let has_status = rng.below(5) != 0;
            m_rag.push(has_status.then(|| rng.pick(&rags).to_string()));
            m_progress.push(has_status.then(|| rng.below(101) as i32));
        }
        for chunk in (0..m_id.len()).collect::<Vec<_>>().chunks(5000) {
            let (a, b) = (chunk[0], chunk[chunk.len() - 1] + 1);
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
            .bind::<Array<SqlUuid>, _>(&m_id[a..b])
            .bind::<Array<Text>, _>(&m_title[a..b])
            .bind::<Array<SqlUuid>, _>(&m_area[a..b])
            .bind::<Array<Text>, _>(&m_origin[a..b])
            .bind::<Array<Text>, _>(&m_ref[a..b])
            .bind::<Array<Text>, _>(&m_status[a..b])
            .bind::<Array<Nullable<Text>>, _>(&m_rag[a..b])
            .bind::<Array<Nullable<Int4>>, _>(&m_progress[a..b])
            .execute(conn)?;
        }
        diesel::sql_query("ANALYZE").execute(conn)?;

        Ok(json!({
            "year": year,
            "scale": o.scale,
            "seed": o.seed,
            "needs": n_needs,
            "accepted": accepted.len(),
            "score_sheets": s_need.len(),
            "measures": n_measures,
            "sample_need_id": accepted.get(accepted.len() / 2).or(ids.first()),
            "measure_refs": m_ref,
        }))
    })
}
