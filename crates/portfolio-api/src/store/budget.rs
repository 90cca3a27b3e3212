//! Budget frames, their allocations and history.
//!
//! Every function that changes a frame's money first locks the frame row
//! (`SELECT ... FOR UPDATE`), reads the current numbers inside the transaction, checks them
//! with `portfolio_domain::budget::BudgetFrame`, and writes the new totals; the CHECK
//! constraints on `budget_frames` are the last line of defence, so a frame can never be
//! overbooked even by a code path that forgot the lock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::budget::{
    AllocationKind, AllocationStatus, BudgetFrame, FrameAction, SubPortfolio,
};
use portfolio_domain::DomainError;
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{budget_allocations, budget_frame_history, budget_frames};
use crate::etag::IfMatch;
use crate::store::StoreError;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = budget_frames)]
pub struct FrameRow {
    pub id: Uuid,
    pub year: i32,
    pub sub_portfolio: SubPortfolio,
    pub amount_nok: i64,
    pub allocated_nok: i64,
    pub spent_nok: i64,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl FrameRow {
    /// The frame's money as the domain sees it (checks the invariant).
    pub fn money(&self) -> Result<BudgetFrame, StoreError> {
        BudgetFrame::from_parts(self.amount_nok, self.allocated_nok, self.spent_nok).map_err(|e| {
            StoreError::corrupt(format!("stored frame {} is inconsistent: {e}", self.id))
        })
    }

    /// Human name, e.g. `concept_studies 2023`.
    pub fn label(&self) -> String {
        format!("{} {}", self.sub_portfolio, self.year)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = budget_allocations)]
pub struct AllocationRow {
    pub id: Uuid,
    pub frame_id: Uuid,
    pub kind: AllocationKind,
    pub amount_nok: i64,
    pub original_nok: i64,
    pub spent_nok: i64,
    pub purpose: String,
    pub status: AllocationStatus,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub released_at: Option<DateTime<Utc>>,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = budget_frame_history)]
pub struct HistoryRow {
    pub id: i64,
    pub frame_id: Uuid,
    pub allocation_id: Option<Uuid>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub occurred_at: DateTime<Utc>,
    pub actor_subject: String,
    pub actor_org: Option<String>,
    pub request_id: String,
    pub action: FrameAction,
    pub delta_nok: i64,
    pub amount_nok: i64,
    pub allocated_nok: i64,
    pub spent_nok: i64,
    pub reason: String,
}

pub fn list_frames(
    conn: &mut PgConnection,
    year: Option<i32>,
    sub_portfolio: Option<SubPortfolio>,
    after: Option<(i32, String, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<FrameRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Int4, Text, Uuid as SqlUuid};
    let mut q = budget_frames::table
        .select(FrameRow::as_select())
        .order((
            budget_frames::year,
            budget_frames::sub_portfolio,
            budget_frames::id,
        ))
        .into_boxed();
    if let Some(y) = year {
        q = q.filter(budget_frames::year.eq(y));
    }
    if let Some(s) = sub_portfolio {
        q = q.filter(budget_frames::sub_portfolio.eq(s));
    }
    if let Some((y, s, id)) = after {
        q = q.filter(
            sql::<Bool>("(budget_frames.year, budget_frames.sub_portfolio, budget_frames.id) > (")
                .bind::<Int4, _>(y)
                .sql(", ")
                .bind::<Text, _>(s)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    q.limit(limit + 1).load(conn)
}

pub fn find_frame(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<FrameRow>> {
    budget_frames::table
        .find(id)
        .select(FrameRow::as_select())
        .first(conn)
        .optional()
}

pub fn frames_by_id(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<FrameRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    budget_frames::table
        .filter(budget_frames::id.eq_any(ids))
        .select(FrameRow::as_select())
        .load(conn)
}

/// The frame of a year and sub-portfolio, if there is one.
pub fn find_frame_for(
    conn: &mut PgConnection,
    year: i32,
    sub_portfolio: SubPortfolio,
) -> QueryResult<Option<FrameRow>> {
    budget_frames::table
        .filter(
            budget_frames::year
                .eq(year)
                .and(budget_frames::sub_portfolio.eq(sub_portfolio)),
        )
        .select(FrameRow::as_select())
        .first(conn)
        .optional()
}

/// Locks a frame row for the rest of the transaction (404 when missing).
pub fn lock_frame(conn: &mut PgConnection, id: Uuid) -> Result<FrameRow, StoreError> {
    budget_frames::table
        .find(id)
        .select(FrameRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("budget frame {id}")))
}

/// Locks several frames in a fixed order (by id), so two transactions locking overlapping
/// sets never deadlock. Missing ids are simply absent from the result.
pub fn lock_frames(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<FrameRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    budget_frames::table
        .filter(budget_frames::id.eq_any(ids))
        .order(budget_frames::id)
        .select(FrameRow::as_select())
        .for_update()
        .load(conn)
}

struct HistoryEntry<'a> {
    frame: &'a FrameRow,
    allocation_id: Option<Uuid>,
    action: FrameAction,
    delta: i64,
    reason: &'a str,
}

fn write_history(conn: &mut PgConnection, actor: &Actor, e: HistoryEntry<'_>) -> QueryResult<()> {
    diesel::insert_into(budget_frame_history::table)
        .values((
            budget_frame_history::frame_id.eq(e.frame.id),
            budget_frame_history::allocation_id.eq(e.allocation_id),
            budget_frame_history::actor_subject.eq(&actor.subject),
            budget_frame_history::actor_org.eq(actor.org_number.as_deref()),
            budget_frame_history::request_id.eq(&actor.request_id),
            budget_frame_history::action.eq(e.action),
            budget_frame_history::delta_nok.eq(e.delta),
            budget_frame_history::amount_nok.eq(e.frame.amount_nok),
            budget_frame_history::allocated_nok.eq(e.frame.allocated_nok),
            budget_frame_history::spent_nok.eq(e.frame.spent_nok),
            budget_frame_history::reason.eq(e.reason),
        ))
        .execute(conn)?;
    Ok(())
}

fn set_totals(
    conn: &mut PgConnection,
    before: &FrameRow,
    money: &BudgetFrame,
) -> QueryResult<FrameRow> {
    diesel::update(budget_frames::table.find(before.id))
        .set((
            budget_frames::amount_nok.eq(money.amount()),
            budget_frames::allocated_nok.eq(money.allocated()),
            budget_frames::spent_nok.eq(money.spent()),
            budget_frames::version.eq(before.version + 1),
            budget_frames::updated_at.eq(Utc::now()),
        ))
        .returning(FrameRow::as_returning())
        .get_result(conn)
}

pub fn create_frame(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    sub_portfolio: SubPortfolio,
    amount_nok: i64,
    reason: &str,
) -> Result<FrameRow, StoreError> {
    BudgetFrame::new(amount_nok).map_err(|e| prefix_field(e, "amount_nok"))?;
    if find_frame_for(conn, year, sub_portfolio)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "{year} already has a budget frame for {sub_portfolio}; change its amount instead"
        )));
    }
    let row = diesel::insert_into(budget_frames::table)
        .values((
            budget_frames::year.eq(year),
            budget_frames::sub_portfolio.eq(sub_portfolio),
            budget_frames::amount_nok.eq(amount_nok),
        ))
        .returning(FrameRow::as_returning())
        .get_result(conn)?;
    write_history(
        conn,
        actor,
        HistoryEntry {
            frame: &row,
            allocation_id: None,
            action: FrameAction::Created,
            delta: amount_nok,
            reason,
        },
    )?;
    changes::record(
        conn,
        actor,
        &[Change::new("budget_frame", row.id, "created")
            .version(row.version)
            .after(&row)],
    )?;
    Ok(row)
}

/// Resizes a frame; never below what is allocated.
pub fn change_amount(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    amount_nok: i64,
    reason: &str,
) -> Result<FrameRow, StoreError> {
    let before = lock_frame(conn, id)?;
    if_match.check(before.version)?;
    let mut money = before.money()?;
    money
        .set_amount(amount_nok)
        .map_err(|e| prefix_field(e, "amount_nok"))?;
    let row = set_totals(conn, &before, &money)?;
    write_history(
        conn,
        actor,
        HistoryEntry {
            frame: &row,
            allocation_id: None,
            action: FrameAction::AmountChanged,
            delta: amount_nok - before.amount_nok,
            reason,
        },
    )?;
    changes::record(
        conn,
        actor,
        &[Change::new("budget_frame", id, "amount_changed")
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

/// The domain's error about an amount, as an error about the request's `field`.
fn prefix_field(e: DomainError, field: &str) -> StoreError {
    match e {
        DomainError::Invalid { message, .. } => StoreError::invalid(field, message),
        other => other.into(),
    }
}

/// The 409 of an allocation that does not fit.
pub fn exceeded(frame: &FrameRow, requested: i64) -> StoreError {
    StoreError::Conflict(format!(
        "budget frame {} ({}) cannot take {requested} NOK: only {} NOK of {} NOK remain unallocated",
        frame.label(),
        frame.id,
        frame.amount_nok - frame.allocated_nok,
        frame.amount_nok
    ))
}

/// Allocates `amount_nok` from a frame the caller has ALREADY LOCKED in this transaction
/// (`frame` is its current row). Returns the frame after the change, the allocation and the
/// changes to record; records nothing itself, so callers can apply several changes and record
/// them together.
pub fn allocate_locked(
    conn: &mut PgConnection,
    actor: &Actor,
    frame: &FrameRow,
    kind: AllocationKind,
    amount_nok: i64,
    purpose: &str,
) -> Result<(FrameRow, AllocationRow, Vec<Change>), StoreError> {
    let mut money = frame.money()?;
    money.allocate(amount_nok).map_err(|e| match e {
        DomainError::BudgetExceeded { requested, .. } => exceeded(frame, requested),
        other => prefix_field(other, "amount_nok"),
    })?;
    let allocation = diesel::insert_into(budget_allocations::table)
        .values((
            budget_allocations::frame_id.eq(frame.id),
            budget_allocations::kind.eq(kind),
            budget_allocations::amount_nok.eq(amount_nok),
            budget_allocations::original_nok.eq(amount_nok),
            budget_allocations::purpose.eq(purpose),
        ))
        .returning(AllocationRow::as_returning())
        .get_result(conn)?;
    let after = set_totals(conn, frame, &money)?;
    write_history(
        conn,
        actor,
        HistoryEntry {
            frame: &after,
            allocation_id: Some(allocation.id),
            action: FrameAction::Allocated,
            delta: amount_nok,
            reason: purpose,
        },
    )?;
    let changes = vec![
        Change::new("budget_allocation", allocation.id, "created")
            .version(allocation.version)
            .after(&allocation),
        Change::new("budget_frame", frame.id, "allocated")
            .version(after.version)
            .before(frame)
            .after(&after),
    ];
    Ok((after, allocation, changes))
}

/// A direct allocation over HTTP: lock, check, write, record.
pub fn allocate(
    conn: &mut PgConnection,
    actor: &Actor,
    frame_id: Uuid,
    amount_nok: i64,
    purpose: &str,
) -> Result<AllocationRow, StoreError> {
    let frame = lock_frame(conn, frame_id)?;
    let (_, allocation, changes) = allocate_locked(
        conn,
        actor,
        &frame,
        AllocationKind::Direct,
        amount_nok,
        purpose,
    )?;
    changes::record(conn, actor, &changes)?;
    Ok(allocation)
}

pub fn find_allocation(
    conn: &mut PgConnection,
    frame_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<AllocationRow>> {
    budget_allocations::table
        .filter(
            budget_allocations::id
                .eq(id)
                .and(budget_allocations::frame_id.eq(frame_id)),
        )
        .select(AllocationRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_allocations(
    conn: &mut PgConnection,
    frame_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<AllocationRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = budget_allocations::table
        .filter(budget_allocations::frame_id.eq(frame_id))
        .select(AllocationRow::as_select())
        .order((budget_allocations::created_at, budget_allocations::id))
        .into_boxed();
    if let Some((t, id)) = after {
        q = q.filter(
            sql::<Bool>("(budget_allocations.created_at, budget_allocations.id) > (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    q.limit(limit + 1).load(conn)
}

/// Releases the unspent part of an allocation back to its frame, with the frame already
/// locked by the caller. The allocation keeps what was spent. Records nothing itself.
pub fn release_locked(
    conn: &mut PgConnection,
    actor: &Actor,
    frame: &FrameRow,
    allocation_id: Uuid,
    reason: &str,
) -> Result<(FrameRow, AllocationRow, Vec<Change>), StoreError> {
    let before = budget_allocations::table
        .find(allocation_id)
        .select(AllocationRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("budget allocation {allocation_id}")))?;
    if before.status == AllocationStatus::Released {
        return Err(StoreError::Conflict(format!(
            "allocation {allocation_id} is already released"
        )));
    }
    let unspent = before.amount_nok - before.spent_nok;
    let mut money = frame.money()?;
    if unspent > 0 {
        money.release(unspent)?;
    }
    let now = Utc::now();
    let allocation = diesel::update(budget_allocations::table.find(allocation_id))
        .set((
            budget_allocations::amount_nok.eq(before.spent_nok),
            budget_allocations::status.eq(AllocationStatus::Released),
            budget_allocations::released_at.eq(Some(now)),
            budget_allocations::version.eq(before.version + 1),
            budget_allocations::updated_at.eq(now),
        ))
        .returning(AllocationRow::as_returning())
        .get_result(conn)?;
    let after = if unspent > 0 {
        set_totals(conn, frame, &money)?
    } else {
        frame.clone()
    };
    write_history(
        conn,
        actor,
        HistoryEntry {
            frame: &after,
            allocation_id: Some(allocation_id),
            action: FrameAction::Released,
            delta: -unspent,
            reason,
        },
    )?;
    let mut changes = vec![Change::new("budget_allocation", allocation_id, "released")
        .version(allocation.version)
        .before(&before)
        .after(&allocation)];
    if unspent > 0 {
        changes.push(
            Change::new("budget_frame", frame.id, "released")
                .version(after.version)
                .before(frame)
                .after(&after),
        );
    }
    Ok((after, allocation, changes))
}

/// Releases a direct allocation over HTTP. A study's allocation is released only by a
/// board decision (cancelling the study).
pub fn release(
    conn: &mut PgConnection,
    actor: &Actor,
    frame_id: Uuid,
    allocation_id: Uuid,
    if_match: &IfMatch,
    reason: &str,
) -> Result<AllocationRow, StoreError> {
    let frame = lock_frame(conn, frame_id)?;
    let current = find_allocation(conn, frame_id, allocation_id)?
        .ok_or_else(|| StoreError::not_found(format!("budget allocation {allocation_id}")))?;
    if_match.check(current.version)?;
    if current.kind == AllocationKind::Study {
        return Err(StoreError::Conflict(
            "this allocation is a concept study's budget; it is released by a board decision cancelling the study".into(),
        ));
    }
    let (_, allocation, changes) = release_locked(conn, actor, &frame, allocation_id, reason)?;
    changes::record(conn, actor, &changes)?;
    Ok(allocation)
}

/// Records `amount` NOK more spent on an allocation, with its frame already locked.
/// Records nothing in the change log itself.
pub fn spend_locked(
    conn: &mut PgConnection,
    actor: &Actor,
    frame: &FrameRow,
    allocation_id: Uuid,
    amount: i64,
    reason: &str,
) -> Result<(FrameRow, Vec<Change>), StoreError> {
    let before = budget_allocations::table
        .find(allocation_id)
        .select(AllocationRow::as_select())
        .for_update()
        .first(conn)?;
    let unspent = before.amount_nok - before.spent_nok;
    if amount > unspent {
        return Err(StoreError::Conflict(format!(
            "{amount} NOK more spent would exceed the allocation: only {unspent} NOK of it is unspent"
        )));
    }
    let mut money = frame.money()?;
    money.record_spent(amount)?;
    let now = Utc::now();
    let allocation = diesel::update(budget_allocations::table.find(allocation_id))
        .set((
            budget_allocations::spent_nok.eq(before.spent_nok + amount),
            budget_allocations::version.eq(before.version + 1),
            budget_allocations::updated_at.eq(now),
        ))
        .returning(AllocationRow::as_returning())
        .get_result(conn)?;
    let after = set_totals(conn, frame, &money)?;
    write_history(
        conn,
        actor,
        HistoryEntry {
            frame: &after,
            allocation_id: Some(allocation_id),
            action: FrameAction::Spent,
            delta: amount,
            reason,
        },
    )?;
    Ok((
        after.clone(),
        vec![
            Change::new("budget_allocation", allocation_id, "spent")
                .version(allocation.version)
                .before(&before)
                .after(&allocation),
            Change::new("budget_frame", frame.id, "spent")
                .version(after.version)
                .before(frame)
                .after(&after),
        ],
    ))
}

pub fn history(
    conn: &mut PgConnection,
    frame_id: Uuid,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<HistoryRow>> {
    let mut q = budget_frame_history::table
        .filter(budget_frame_history::frame_id.eq(frame_id))
        .select(HistoryRow::as_select())
        .order(budget_frame_history::id)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(budget_frame_history::id.gt(a));
    }
    q.limit(limit + 1).load(conn)
}
