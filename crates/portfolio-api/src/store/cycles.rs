//! Cycles (one per year) with their phases, and the year's criteria set.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::criteria::{validate_criteria, CriteriaSetStatus, Criterion};
use portfolio_domain::cycle::{require_phase, CyclePhase};
use portfolio_domain::need::NeedStatus;
use portfolio_domain::DomainError;
use serde::Serialize;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{criteria_sets, cycle_phase_changes, cycles, needs};
use crate::store::StoreError;

use crate::etag::IfMatch;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = cycles)]
pub struct CycleRow {
    pub year: i32,
    pub phase: CyclePhase,
    pub last_need_seq: i32,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub prioritisation_closed_at: Option<DateTime<Utc>>,
    pub prioritisation_closed_by: Option<String>,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl CycleRow {
    /// 409 unless the cycle is in `required`, naming the phase that allows the operation.
    pub fn require_phase(&self, required: CyclePhase) -> Result<(), StoreError> {
        require_phase(self.phase, required).map_err(|e| match e {
            DomainError::Conflict(m) => StoreError::Conflict(format!("cycle {}: {m}", self.year)),
            other => other.into(),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.prioritisation_closed_at.is_some()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = cycle_phase_changes)]
pub struct PhaseChangeRow {
    pub from_phase: Option<CyclePhase>,
    pub to_phase: CyclePhase,
    pub changed_by: String,
    pub changed_by_org: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = criteria_sets)]
pub struct CriteriaSetRow {
    pub cycle_year: i32,
    pub status: CriteriaSetStatus,
    pub criteria: serde_json::Value,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub adopted_at: Option<DateTime<Utc>>,
    pub adopted_by: Option<String>,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl CriteriaSetRow {
    pub fn criteria(&self) -> Result<Vec<Criterion>, StoreError> {
        serde_json::from_value(self.criteria.clone())
            .map_err(|e| StoreError::corrupt(format!("stored criteria set: {e}")))
    }

    pub fn is_adopted(&self) -> bool {
        self.status == CriteriaSetStatus::Adopted
    }
}

/// A cycle with its phase history.
#[derive(Debug, Clone)]
pub struct CycleView {
    pub cycle: CycleRow,
    pub changes: Vec<PhaseChangeRow>,
    pub criteria_status: Option<CriteriaSetStatus>,
}

pub fn find_cycle(conn: &mut PgConnection, year: i32) -> QueryResult<Option<CycleRow>> {
    cycles::table
        .find(year)
        .select(CycleRow::as_select())
        .first(conn)
        .optional()
}

/// The cycle, or 404.
pub fn get_cycle(conn: &mut PgConnection, year: i32) -> Result<CycleRow, StoreError> {
    find_cycle(conn, year)?.ok_or_else(|| StoreError::not_found(format!("cycle {year}")))
}

/// The cycle locked for the rest of the transaction, or 404.
pub fn lock_cycle(conn: &mut PgConnection, year: i32) -> Result<CycleRow, StoreError> {
    cycles::table
        .find(year)
        .select(CycleRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("cycle {year}")))
}

/// The cycle locked against phase changes (shared lock) for the rest of the transaction, or 404.
pub fn share_cycle(conn: &mut PgConnection, year: i32) -> Result<CycleRow, StoreError> {
    cycles::table
        .find(year)
        .select(CycleRow::as_select())
        .for_share()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("cycle {year}")))
}

pub fn view_cycle(conn: &mut PgConnection, cycle: CycleRow) -> Result<CycleView, StoreError> {
    let changes = cycle_phase_changes::table
        .filter(cycle_phase_changes::cycle_year.eq(cycle.year))
        .order(cycle_phase_changes::id)
        .select(PhaseChangeRow::as_select())
        .load(conn)?;
    let criteria_status = criteria_sets::table
        .find(cycle.year)
        .select(criteria_sets::status)
        .first::<CriteriaSetStatus>(conn)
        .optional()?;
    Ok(CycleView {
        cycle,
        changes,
        criteria_status,
    })
}

pub fn list_cycles(
    conn: &mut PgConnection,
    after: Option<i32>,
    limit: i64,
) -> Result<Vec<CycleView>, StoreError> {
    let mut q = cycles::table
        .select(CycleRow::as_select())
        .order(cycles::year)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(cycles::year.gt(a));
    }
    let rows: Vec<CycleRow> = q.limit(limit + 1).load(conn)?;
    let years: Vec<i32> = rows.iter().map(|r| r.year).collect();
    let mut changes: Vec<(i32, PhaseChangeRow)> = cycle_phase_changes::table
        .filter(cycle_phase_changes::cycle_year.eq_any(&years))
        .order(cycle_phase_changes::id)
        .select((cycle_phase_changes::cycle_year, PhaseChangeRow::as_select()))
        .load(conn)?;
    let statuses: Vec<(i32, CriteriaSetStatus)> = criteria_sets::table
        .filter(criteria_sets::cycle_year.eq_any(&years))
        .select((criteria_sets::cycle_year, criteria_sets::status))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|cycle| {
            let year = cycle.year;
            let (mine, rest): (Vec<_>, Vec<_>) = changes.drain(..).partition(|(y, _)| *y == year);
            changes = rest;
            CycleView {
                cycle,
                changes: mine.into_iter().map(|(_, c)| c).collect(),
                criteria_status: statuses.iter().find(|(y, _)| *y == year).map(|(_, s)| *s),
            }
        })
        .collect())
}

pub fn create_cycle(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
) -> Result<CycleView, StoreError> {
    if find_cycle(conn, year)?.is_some() {
        return Err(StoreError::Conflict(format!("cycle {year} already exists")));
    }
    let row = diesel::insert_into(cycles::table)
        .values(cycles::year.eq(year))
        .returning(CycleRow::as_returning())
        .get_result(conn)?;
    diesel::insert_into(cycle_phase_changes::table)
        .values((
            cycle_phase_changes::cycle_year.eq(year),
            cycle_phase_changes::from_phase.eq(None::<CyclePhase>),
            cycle_phase_changes::to_phase.eq(CyclePhase::Intake),
            cycle_phase_changes::changed_by.eq(&actor.subject),
            cycle_phase_changes::changed_by_org.eq(actor.org_number.as_deref()),
        ))
        .execute(conn)?;
    let view = view_cycle(conn, row)?;
    changes::record(
        conn,
        actor,
        &[Change::new("cycle", year, "created")
            .version(1)
            .after(&view.cycle)],
    )?;
    Ok(view)
}

/// Moves a cycle to the next phase (explicit, recorded with who and when).
pub fn change_phase(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    if_match: &IfMatch,
    to: CyclePhase,
) -> Result<CycleView, StoreError> {
    let before = lock_cycle(conn, year)?;
    if_match.check(before.version)?;
    let from = before.phase;
    CyclePhase::advance(from, to).map_err(|_| {
        StoreError::Conflict(match from.next() {
            Some(next) => format!(
                "cycle {year} is in the '{from}' phase and can only move to '{next}', not '{to}'"
            ),
            None => format!("cycle {year} is '{from}', its last phase"),
        })
    })?;
    match to {
        CyclePhase::Prioritisation => {
            let adopted = criteria_sets::table
                .find(year)
                .select(criteria_sets::status)
                .first::<CriteriaSetStatus>(conn)
                .optional()?
                == Some(CriteriaSetStatus::Adopted);
            if !adopted {
                return Err(StoreError::Conflict(format!(
                    "cycle {year} needs an adopted criteria set before prioritisation starts"
                )));
            }
            let waiting: i64 = needs::table
                .filter(needs::cycle_year.eq(year))
                .filter(needs::status.eq(NeedStatus::Submitted))
                .count()
                .get_result(conn)?;
            if waiting > 0 {
                return Err(StoreError::Conflict(format!(
                    "{waiting} need(s) of {year} still await first assessment; assess or withdraw them first"
                )));
            }
        }
        CyclePhase::Decided if !before.is_closed() => {
            return Err(StoreError::Conflict(format!(
                "close the prioritisation of {year} (POST /api/v1/cycles/{year}/prioritisation/close) before the cycle is decided"
            )));
        }
        _ => {}
    }
    let row = diesel::update(cycles::table.find(year))
        .set((
            cycles::phase.eq(to),
            cycles::version.eq(before.version + 1),
            cycles::updated_at.eq(Utc::now()),
        ))
        .returning(CycleRow::as_returning())
        .get_result(conn)?;
    diesel::insert_into(cycle_phase_changes::table)
        .values((
            cycle_phase_changes::cycle_year.eq(year),
            cycle_phase_changes::from_phase.eq(Some(from)),
            cycle_phase_changes::to_phase.eq(to),
            cycle_phase_changes::changed_by.eq(&actor.subject),
            cycle_phase_changes::changed_by_org.eq(actor.org_number.as_deref()),
        ))
        .execute(conn)?;
    let view = view_cycle(conn, row)?;
    changes::record(
        conn,
        actor,
        &[Change::new("cycle", year, "phase_changed")
            .version(view.cycle.version)
            .before(&before)
            .after(&view.cycle)],
    )?;
    Ok(view)
}

pub fn find_criteria_set(
    conn: &mut PgConnection,
    year: i32,
) -> QueryResult<Option<CriteriaSetRow>> {
    criteria_sets::table
        .find(year)
        .select(CriteriaSetRow::as_select())
        .first(conn)
        .optional()
}

/// The adopted set of a year, or 409 saying it must be adopted first.
pub fn adopted_criteria(
    conn: &mut PgConnection,
    year: i32,
) -> Result<(CriteriaSetRow, Vec<Criterion>), StoreError> {
    let set = find_criteria_set(conn, year)?
        .filter(CriteriaSetRow::is_adopted)
        .ok_or_else(|| {
            StoreError::Conflict(format!(
                "cycle {year} has no adopted criteria set; the portfolio office adopts one first"
            ))
        })?;
    let criteria = set.criteria()?;
    Ok((set, criteria))
}

/// Creates the year's draft set, or replaces the criteria of a draft (If-Match). Returns the
/// set and whether it was created.
pub fn put_criteria_set(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    if_match: &IfMatch,
    criteria: Vec<Criterion>,
) -> Result<(CriteriaSetRow, bool), StoreError> {
    share_cycle(conn, year)?;
    validate_criteria(&criteria)?;
    let json = serde_json::to_value(&criteria).map_err(StoreError::corrupt)?;
    let existing = criteria_sets::table
        .find(year)
        .select(CriteriaSetRow::as_select())
        .for_update()
        .first(conn)
        .optional()?;
    let (row, created, before) = match existing {
        None => {
            if if_match.present() && !if_match.is_any() {
                return Err(StoreError::Stale(format!(
                    "cycle {year} has no criteria set yet; omit If-Match to create it"
                )));
            }
            let row = diesel::insert_into(criteria_sets::table)
                .values((
                    criteria_sets::cycle_year.eq(year),
                    criteria_sets::criteria.eq(&json),
                ))
                .returning(CriteriaSetRow::as_returning())
                .get_result(conn)?;
            (row, true, None)
        }
        Some(before) => {
            if_match.check_or_any(before.version)?;
            before.status.ensure_editable()?;
            let row = diesel::update(criteria_sets::table.find(year))
                .set((
                    criteria_sets::criteria.eq(&json),
                    criteria_sets::version.eq(before.version + 1),
                    criteria_sets::updated_at.eq(Utc::now()),
                ))
                .returning(CriteriaSetRow::as_returning())
                .get_result(conn)?;
            (row, false, Some(before))
        }
    };
    let mut change = Change::new(
        "criteria_set",
        year,
        if created { "created" } else { "updated" },
    )
    .version(row.version)
    .after(&row);
    if let Some(b) = &before {
        change = change.before(b);
    }
    changes::record(conn, actor, &[change])?;
    Ok((row, created))
}

/// Adopts the draft set: it never changes again.
pub fn adopt_criteria_set(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    if_match: &IfMatch,
) -> Result<CriteriaSetRow, StoreError> {
    share_cycle(conn, year)?;
    let before = criteria_sets::table
        .find(year)
        .select(CriteriaSetRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("the criteria set of {year}")))?;
    if_match.check(before.version)?;
    let status = before.status;
    if status == CriteriaSetStatus::Adopted {
        return Err(StoreError::Conflict(format!(
            "the criteria set of {year} is already adopted and can no longer be changed"
        )));
    }
    status.adopt(&before.criteria()?)?;
    let now = Utc::now();
    let row = diesel::update(criteria_sets::table.find(year))
        .set((
            criteria_sets::status.eq(CriteriaSetStatus::Adopted),
            criteria_sets::adopted_at.eq(Some(now)),
            criteria_sets::adopted_by.eq(Some(&actor.subject)),
            criteria_sets::version.eq(before.version + 1),
            criteria_sets::updated_at.eq(now),
        ))
        .returning(CriteriaSetRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("criteria_set", year, "adopted")
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}
