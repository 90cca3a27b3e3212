//! Selection scenarios: the accepted needs of a cycle with the highest total priority that fit
//! a budget, solved exactly (`portfolio_domain::selection`), stored immutable.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::budget::SubPortfolio;
use portfolio_domain::scoring::Aggregation;
use portfolio_domain::selection::{
    scaled_budget, BudgetSource, Candidate, Dependency, Forced, SelectionProblem, SelectionResult,
};
use portfolio_domain::DomainError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::selection_scenarios;
pub use crate::documents::selection_result::{
    Answer, ForcedNeed, NotCandidate, ScenarioDependency, Verdict,
};
use crate::store::budget;
use crate::store::sensitivity::{
    scenario_robustness, ScenarioCandidate, ScenarioInputs, ScenarioRobustness,
};
use crate::store::StoreError;
use portfolio_domain::{FieldIssue, FieldPath};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = selection_scenarios)]
pub struct ScenarioRow {
    pub id: Uuid,
    pub cycle_year: i32,
    pub title: String,
    pub budget_nok: i64,
    pub budget_source: BudgetSource,
    pub problem: serde_json::Value,
    pub result: serde_json::Value,
    pub solve_micros: i64,
    pub created_by: String,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

/// What to solve.
#[derive(Debug, Clone)]
pub struct ScenarioInput {
    pub title: String,
    pub budget_nok: Option<i64>,
    pub forced_in: Vec<ForcedNeed>,
    pub forced_out: Vec<ForcedNeed>,
    /// Other budgets to solve at, in percent of the budget (default −20 and +20).
    pub variations_percent: Vec<i64>,
    /// IT-partner capacity available, person-months a year; `None`: no limit.
    pub capacity_person_months: Option<i64>,
}

/// How long the solver may search at each budget before it returns the best selection
/// found with its gap (`proven_optimal: false`); see `portfolio_domain::constrained`.
pub const SOLVE_DEADLINE: Duration = Duration::from_secs(2);

/// What is stored as the scenario's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResult {
    pub frame_id: Option<Uuid>,
    /// The capacity limit, person-months a year; absent for none.
    #[serde(default)]
    pub capacity_person_months: Option<i64>,
    /// The dependencies between candidates the selection respected.
    #[serde(default)]
    pub dependencies: Vec<ScenarioDependency>,
    pub forced_in: Vec<ForcedNeed>,
    pub forced_out: Vec<ForcedNeed>,
    pub result: Answer,
    pub variations: Vec<Answer>,
    pub not_candidates: Vec<NotCandidate>,
    /// Absent from scenarios stored before robustness existed, and when not computed.
    #[serde(default)]
    pub robustness: Option<ScenarioRobustness>,
}

#[derive(Debug, QueryableByName)]
struct AcceptedNeed {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    reference: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    estimated_study_cost_nok: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    estimated_capacity_person_months: Option<i64>,
}

/// A candidate need with its place in the ranking.
struct Ranked {
    id: Uuid,
    reference: String,
    cost: i64,
    load: i64,
    rank: Option<usize>,
    priority: Option<f64>,
    /// Its numbers in the mean ranking (for the robustness analysis); `None` when unscored.
    summary: Option<portfolio_domain::scoring::NeedSummary>,
}

/// The needs of a cycle still `accepted` (not yet decided by the board), with their place in
/// the year's ranking (`store::prioritisation::ranking`: the frozen snapshot once the round is
/// closed, otherwise computed now; mean over the trusts that scored).
fn ranked_accepted_needs(conn: &mut PgConnection, year: i32) -> Result<Vec<Ranked>, StoreError> {
    let (ranking, _frozen) = crate::store::prioritisation::ranking(conn, year)?;
    let by_ref: HashMap<String, &portfolio_domain::ranking::RankedNeed> = ranking
        .ranked(Aggregation::Mean)
        .iter()
        .map(|r| (r.summary.reference.to_string(), r))
        .collect();
    let needs: Vec<AcceptedNeed> = diesel::sql_query(
        "SELECT id, reference, estimated_study_cost_nok, estimated_capacity_person_months \
         FROM needs \
         WHERE cycle_year = $1 AND status = 'accepted' ORDER BY seq",
    )
    .bind::<diesel::sql_types::Int4, _>(year)
    .load(conn)?;
    Ok(needs
        .into_iter()
        .map(|n| {
            let scored = by_ref
                .get(&n.reference)
                .filter(|r| r.summary.overall.is_some());
            Ranked {
                id: n.id,
                cost: n.estimated_study_cost_nok,
                load: n.estimated_capacity_person_months.unwrap_or(0),
                rank: scored.map(|r| r.rank),
                priority: scored.and_then(|r| r.summary.overall),
                summary: scored.map(|r| r.summary.clone()),
                reference: n.reference,
            }
        })
        .collect())
}

/// Solves at `budget`, giving the search `SOLVE_DEADLINE` from now.
fn solve_by_deadline(
    problem: &SelectionProblem<Uuid>,
    budget: i64,
) -> Result<SelectionResult<Uuid>, DomainError> {
    let mut p = problem.clone();
    p.deadline = Some(Instant::now() + SOLVE_DEADLINE);
    p.solve_at(budget)
}

/// Splits the accepted needs into candidates and the rest. A need is not a candidate without
/// an estimated study cost, or when it requires a need that is not a candidate (checked until
/// nothing changes, so chains of `requires` are followed). Only dependencies between
/// candidates go to the solver: excluding a non-candidate changes nothing.
fn candidates_of(
    ranked: &[Ranked],
    links: &HashMap<Uuid, Vec<crate::store::dependencies::Dependency>>,
) -> (
    Vec<Candidate<Uuid>>,
    Vec<ScenarioDependency>,
    Vec<NotCandidate>,
) {
    use portfolio_domain::selection::DependencyKind;
    let reference: HashMap<Uuid, &str> = ranked
        .iter()
        .map(|n| (n.id, n.reference.as_str()))
        .collect();
    let mut why: HashMap<Uuid, String> = ranked
        .iter()
        .filter(|n| n.cost <= 0)
        .map(|n| (n.id, "no estimated study cost".to_string()))
        .collect();
    loop {
        let mut changed = false;
        for n in ranked {
            if why.contains_key(&n.id) {
                continue;
            }
            let missing = links.get(&n.id).into_iter().flatten().find(|d| {
                d.kind == DependencyKind::Requires
                    && (!reference.contains_key(&d.other_need_id)
                        || why.contains_key(&d.other_need_id))
            });
            if let Some(d) = missing {
                let other = reference
                    .get(&d.other_need_id)
                    .map_or_else(|| format!("need {}", d.other_need_id), |r| r.to_string());
                why.insert(n.id, format!("requires {other}, which is not a candidate"));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let candidate_ids: HashSet<Uuid> = ranked
        .iter()
        .filter(|n| !why.contains_key(&n.id))
        .map(|n| n.id)
        .collect();
    let mut candidates = Vec::new();
    let mut not_candidates = Vec::new();
    let mut dependencies = Vec::new();
    for n in ranked {
        if let Some(w) = why.remove(&n.id) {
            not_candidates.push(NotCandidate {
                need_id: n.id,
                reference: n.reference.clone(),
                why: w,
            });
            continue;
        }
        candidates.push(Candidate {
            id: n.id,
            priority: n.priority.unwrap_or(0.0),
            cost: n.cost,
            load: n.load,
        });
        for d in links.get(&n.id).into_iter().flatten() {
            if candidate_ids.contains(&d.other_need_id) {
                dependencies.push(ScenarioDependency {
                    need_id: n.id,
                    kind: d.kind,
                    other_need_id: d.other_need_id,
                });
            }
        }
    }
    (candidates, dependencies, not_candidates)
}

fn answer(
    percent: i64,
    budget: i64,
    solved: Result<SelectionResult<Uuid>, DomainError>,
    ranked: &HashMap<Uuid, &Ranked>,
) -> Result<Answer, StoreError> {
    let r = match solved {
        Ok(r) => r,
        Err(DomainError::BudgetExceeded { .. }) if percent != 0 => {
            return Ok(Answer {
                variation_percent: percent,
                budget_nok: budget,
                feasible: false,
                total_cost_nok: 0,
                total_priority: 0.0,
                remaining_nok: budget,
                total_load: 0,
                proven_optimal: true,
                gap: 0.0,
                selected: Vec::new(),
                needs: Vec::new(),
            })
        }
        Err(DomainError::BudgetExceeded {
            requested,
            remaining,
        }) => {
            return Err(StoreError::invalid(
                "forced_in",
                format!(
                "the forced-in needs cost {requested} NOK, more than the budget of {remaining} NOK"
            ),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let needs: Vec<Verdict> = r
        .candidates
        .iter()
        .map(|c| {
            let n = ranked.get(&c.id);
            Verdict {
                need_id: c.id,
                reference: n.map(|n| n.reference.clone()).unwrap_or_default(),
                rank: n.and_then(|n| n.rank),
                priority: c.priority,
                unscored: n.is_some_and(|n| n.priority.is_none()),
                cost_nok: c.cost,
                load_person_months: n.map(|n| n.load).unwrap_or(0),
                selected: c.selected,
                reason: c.reason,
                note: c.note.clone(),
                available_nok: c.available,
            }
        })
        .collect();
    Ok(Answer {
        variation_percent: percent,
        budget_nok: r.budget,
        feasible: true,
        total_cost_nok: r.total_cost,
        total_priority: r.total_priority,
        remaining_nok: r.remaining,
        total_load: r.total_load,
        proven_optimal: r.proven_optimal,
        gap: r.gap,
        selected: needs
            .iter()
            .filter(|v| v.selected)
            .map(|v| v.need_id)
            .collect(),
        needs,
    })
}

/// Solves and stores a scenario: the budget, the candidates and their dependencies, the
/// forced needs checked, the answer at the budget and at each variation, and (when proven
/// optimal) its robustness.
pub fn create_scenario(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    input: ScenarioInput,
) -> Result<ScenarioRow, StoreError> {
    let ranked = ranked_accepted_needs(conn, year)?;
    let budget = scenario_budget(conn, year, input.budget_nok)?;
    let ids: Vec<Uuid> = ranked.iter().map(|n| n.id).collect();
    let links = crate::store::dependencies::dependencies_of(conn, &ids)?;
    let (candidates, dependencies, not_candidates) = candidates_of(&ranked, &links);
    check_forced(&input, &candidates, year)?;
    let problem = selection_problem(candidates, budget.amount, &input, &dependencies);
    let index: HashMap<Uuid, &Ranked> = ranked.iter().map(|n| (n.id, n)).collect();
    let started = Instant::now();
    let main = answer(
        0,
        budget.amount,
        solve_by_deadline(&problem, budget.amount),
        &index,
    )?;
    let mut variations = Vec::new();
    for &p in &input.variations_percent {
        let b = scaled_budget(budget.amount, p);
        variations.push(answer(p, b, solve_by_deadline(&problem, b), &index)?);
    }
    let solve_micros = started.elapsed().as_micros() as i64;
    let robustness = if main.feasible && main.proven_optimal {
        robustness_of(conn, year, &problem, &index, &main)?
    } else {
        None
    };
    let stored = StoredResult {
        frame_id: budget.frame_id,
        capacity_person_months: input.capacity_person_months,
        dependencies,
        forced_in: input.forced_in,
        forced_out: input.forced_out,
        result: main,
        variations,
        not_candidates,
        robustness,
    };
    insert_scenario(
        conn,
        actor,
        &NewScenario {
            cycle_year: year,
            title: input.title.trim(),
            budget_nok: budget.amount,
            budget_source: budget.source,
            problem: serde_json::to_value(&problem).map_err(StoreError::corrupt)?,
            result: serde_json::to_value(&stored).map_err(StoreError::corrupt)?,
            solve_micros,
            created_by: &actor.subject,
        },
    )
}

/// The budget a scenario is solved at, and where it comes from.
struct ScenarioBudget {
    amount: i64,
    source: BudgetSource,
    /// The frame whose unallocated money it is (`BudgetSource::Frame`).
    frame_id: Option<Uuid>,
}

/// The requested budget, or else what the year's concept studies frame has unallocated.
fn scenario_budget(
    conn: &mut PgConnection,
    year: i32,
    requested: Option<i64>,
) -> Result<ScenarioBudget, StoreError> {
    if let Some(amount) = requested {
        return Ok(ScenarioBudget {
            amount,
            source: BudgetSource::Request,
            frame_id: None,
        });
    }
    let f = budget::find_frame_for(conn, year, SubPortfolio::ConceptStudies)?.ok_or_else(|| {
        StoreError::invalid(
            "budget_nok",
            format!("{year} has no concept_studies budget frame; give budget_nok"),
        )
    })?;
    Ok(ScenarioBudget {
        amount: f.amount_nok - f.allocated_nok,
        source: BudgetSource::Frame,
        frame_id: Some(f.id),
    })
}

/// Every forced need must be a candidate (all offenders at once, as field issues).
fn check_forced(
    input: &ScenarioInput,
    candidates: &[Candidate<Uuid>],
    year: i32,
) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for (list, name) in [
        (&input.forced_in, "forced_in"),
        (&input.forced_out, "forced_out"),
    ] {
        for (j, f) in list.iter().enumerate() {
            if !candidates.iter().any(|c| c.id == f.need_id) {
                errors.push(FieldIssue::new(
                    FieldPath::from(name).index(j).key("need_id"),
                    format!("is not a candidate of {year}: an accepted need with an estimated study cost whose required needs are candidates"),
                ));
            }
        }
    }
    StoreError::check(errors)
}

fn selection_problem(
    candidates: Vec<Candidate<Uuid>>,
    budget: i64,
    input: &ScenarioInput,
    dependencies: &[ScenarioDependency],
) -> SelectionProblem<Uuid> {
    let forced = |list: &[ForcedNeed]| -> Vec<Forced<Uuid>> {
        list.iter()
            .map(|f| Forced {
                id: f.need_id,
                reason: f.reason.clone(),
            })
            .collect()
    };
    SelectionProblem {
        candidates,
        budget,
        forced_in: forced(&input.forced_in),
        forced_out: forced(&input.forced_out),
        capacity: input.capacity_person_months,
        dependencies: dependencies
            .iter()
            .map(|d| Dependency {
                need: d.need_id,
                kind: d.kind,
                other: d.other_need_id,
            })
            .collect(),
        deadline: None,
    }
}

/// How robust the scenario's optimal selection is (`store::sensitivity`).
fn robustness_of(
    conn: &mut PgConnection,
    year: i32,
    problem: &SelectionProblem<Uuid>,
    index: &HashMap<Uuid, &Ranked>,
    main: &Answer,
) -> Result<Option<ScenarioRobustness>, StoreError> {
    let ids = |list: &[Forced<Uuid>]| list.iter().map(|f| f.id).collect();
    scenario_robustness(
        conn,
        &ScenarioInputs {
            year,
            candidates: problem
                .candidates
                .iter()
                .filter_map(|c| index.get(&c.id))
                .map(|n| ScenarioCandidate {
                    id: n.id,
                    reference: &n.reference,
                    cost: n.cost,
                    load: n.load,
                    summary: n.summary.as_ref(),
                })
                .collect(),
            budget: problem.budget,
            capacity: problem.capacity,
            dependencies: problem.dependencies.clone(),
            forced_in: ids(&problem.forced_in),
            forced_out: ids(&problem.forced_out),
            selected: main.selected.clone(),
        },
    )
}

#[derive(Insertable)]
#[diesel(table_name = selection_scenarios)]
struct NewScenario<'a> {
    cycle_year: i32,
    title: &'a str,
    budget_nok: i64,
    budget_source: BudgetSource,
    problem: serde_json::Value,
    result: serde_json::Value,
    solve_micros: i64,
    created_by: &'a str,
}

fn insert_scenario(
    conn: &mut PgConnection,
    actor: &Actor,
    new: &NewScenario<'_>,
) -> Result<ScenarioRow, StoreError> {
    let row = diesel::insert_into(selection_scenarios::table)
        .values(new)
        .returning(ScenarioRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("selection_scenario", row.id, "created").version(row.version)],
    )?;
    Ok(row)
}

pub fn find_scenario(
    conn: &mut PgConnection,
    year: i32,
    id: Uuid,
) -> QueryResult<Option<ScenarioRow>> {
    selection_scenarios::table
        .filter(
            selection_scenarios::id
                .eq(id)
                .and(selection_scenarios::cycle_year.eq(year)),
        )
        .select(ScenarioRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_scenarios(
    conn: &mut PgConnection,
    year: i32,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<ScenarioRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = selection_scenarios::table
        .filter(selection_scenarios::cycle_year.eq(year))
        .select(ScenarioRow::as_select())
        .order((selection_scenarios::created_at, selection_scenarios::id))
        .into_boxed();
    if let Some((t, id)) = after {
        q = q.filter(
            sql::<Bool>("(selection_scenarios.created_at, selection_scenarios.id) > (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    q.limit(limit + 1).load(conn)
}
