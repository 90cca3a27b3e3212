//! Needs (behov): intake with gap-free references, edits, withdrawal, first assessment and
//! reopening. Status changes go through `portfolio_domain::need::NeedStatus` so every module
//! that moves a need (first assessment here, board decisions elsewhere) agrees on the rules.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::criteria::{check_override, validate_screening, ScreeningResult};
use portfolio_domain::cycle::CyclePhase;
use portfolio_domain::need::{NeedReference, NeedStatus, Origin};
use portfolio_domain::organisation::OrgNumber;
use portfolio_domain::service_area::{check_forwarding, ForwardingRole, Party};
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{cycles, needs, organisations, service_areas};
use crate::etag::IfMatch;
use crate::store::cycles::{adopted_criteria, lock_cycle, share_cycle};
use crate::store::StoreError;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = needs)]
pub struct NeedRow {
    pub id: Uuid,
    pub cycle_year: i32,
    pub seq: i32,
    pub reference: String,
    pub title: String,
    pub description: String,
    pub expected_benefit: String,
    pub origin: Origin,
    pub organisation_number: OrgNumber,
    pub service_area_id: Option<Uuid>,
    pub estimated_study_cost_nok: i64,
    /// IT-partner capacity estimate, person-months a year (`PUT /needs/{id}/dependencies`).
    pub estimated_capacity_person_months: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub status: NeedStatus,
    pub assessment_reason: Option<String>,
    pub screening: Option<serde_json::Value>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub assessed_at: Option<DateTime<Utc>>,
    pub assessed_by: Option<String>,
    pub reported_by: String,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    pub forwarded_by_role: Option<String>,
    pub forwarded_by_org: Option<String>,
    pub forwarded_by_name: Option<String>,
    pub screening_override_reason: Option<String>,
}

impl NeedRow {
    /// Who forwarded the need (the service area's system owner or system responsible, as
    /// they were then).
    pub fn forwarded_by(&self) -> Result<Option<(ForwardingRole, Party)>, StoreError> {
        let corrupt = |e: String| StoreError::corrupt(format!("need {}: {e}", self.id));
        match (
            &self.forwarded_by_role,
            &self.forwarded_by_org,
            &self.forwarded_by_name,
        ) {
            (Some(role), Some(org), Some(name)) => {
                let role = role.parse().map_err(|e| corrupt(format!("{e}")))?;
                let org_number =
                    OrgNumber::parse(org).map_err(|e| corrupt(format!("{org:?}: {e}")))?;
                Ok(Some((
                    role,
                    Party {
                        org_number,
                        name: name.clone(),
                    },
                )))
            }
            _ => Ok(None),
        }
    }
}

/// The fields a reporter gives (already validated for shape and length).
#[derive(Debug, Clone)]
pub struct NeedFields {
    pub title: String,
    pub description: String,
    pub expected_benefit: String,
    pub origin: Origin,
    pub service_area_id: Option<Uuid>,
    pub estimated_study_cost_nok: i64,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    /// Which of the service area's parties forwarded the need.
    pub forwarded_by: Option<ForwardingRole>,
}

/// Filters of the need list.
#[derive(Debug, Clone, Default)]
pub struct NeedFilter {
    pub year: Option<i32>,
    pub status: Option<NeedStatus>,
    pub origin: Option<Origin>,
    pub organisation_number: Option<String>,
    pub service_area_id: Option<Uuid>,
    pub q: Option<String>,
}

fn check_service_area(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    year: i32,
) -> Result<(), StoreError> {
    let Some(id) = id else { return Ok(()) };
    let found: Option<(i32, Option<DateTime<Utc>>)> = service_areas::table
        .find(id)
        .select((service_areas::year, service_areas::retired_at))
        .first(conn)
        .optional()?;
    match found {
        None => Err(StoreError::invalid(
            "service_area_id",
            "is not a known service area",
        )),
        Some((y, _)) if y != year => Err(StoreError::invalid(
            "service_area_id",
            format!("is a service area of {y}, not of the cycle year {year}"),
        )),
        Some((_, Some(_))) => Err(StoreError::invalid(
            "service_area_id",
            "the service area is retired and takes no new needs",
        )),
        Some(_) => Ok(()),
    }
}

/// The party of `service_area` in `role`, as recorded on a need (`None` when not forwarded).
fn forwarder(
    conn: &mut PgConnection,
    service_area: Option<Uuid>,
    role: Option<ForwardingRole>,
) -> Result<Option<(ForwardingRole, Party)>, StoreError> {
    check_forwarding(service_area.map(|_| ""), role)?;
    let (Some(area), Some(role)) = (service_area, role) else {
        return Ok(None);
    };
    let row = crate::store::reference::find_service_area(conn, area)?
        .ok_or_else(|| StoreError::invalid("service_area_id", "is not a known service area"))?;
    let party = row.owners()?.forwarder("forwarded_by", &row.name, role)?;
    Ok(Some((role, party)))
}

fn forwarded_columns(
    f: &Option<(ForwardingRole, Party)>,
) -> (Option<&'static str>, Option<String>, Option<String>) {
    match f {
        Some((role, party)) => (
            Some(role.as_str()),
            Some(party.org_number.to_string()),
            Some(party.name.clone()),
        ),
        None => (None, None, None),
    }
}

/// Reports a need during intake. The reference comes from the cycle's counter, incremented
/// under the cycle's row lock in this transaction: concurrent reports queue on the lock, a
/// failed report rolls its number back, so references are consecutive and never reused.
pub fn create_need(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    organisation_number: &str,
    fields: NeedFields,
) -> Result<NeedRow, StoreError> {
    let cycle = lock_cycle(conn, year)?;
    cycle.require_phase(CyclePhase::Intake)?;
    let org_exists: i64 = organisations::table
        .filter(organisations::org_number.eq(organisation_number))
        .count()
        .get_result(conn)?;
    if org_exists == 0 {
        return Err(StoreError::invalid(
            "organisation_number",
            "is not a registered organisation",
        ));
    }
    check_service_area(conn, fields.service_area_id, year)?;
    let forwarded = forwarder(conn, fields.service_area_id, fields.forwarded_by)?;
    let (fw_role, fw_org, fw_name) = forwarded_columns(&forwarded);
    let seq = cycle.last_need_seq + 1;
    let reference = NeedReference::new(year, seq as u32)?;
    diesel::update(cycles::table.find(year))
        .set(cycles::last_need_seq.eq(seq))
        .execute(conn)?;
    let row = diesel::insert_into(needs::table)
        .values((
            needs::cycle_year.eq(year),
            needs::seq.eq(seq),
            needs::reference.eq(reference.to_string()),
            needs::title.eq(&fields.title),
            needs::description.eq(&fields.description),
            needs::expected_benefit.eq(&fields.expected_benefit),
            needs::origin.eq(fields.origin),
            needs::organisation_number.eq(organisation_number),
            needs::service_area_id.eq(fields.service_area_id),
            needs::estimated_study_cost_nok.eq(fields.estimated_study_cost_nok),
            needs::contact_name.eq(&fields.contact_name),
            needs::contact_email.eq(&fields.contact_email),
            needs::reported_by.eq(&actor.subject),
            needs::forwarded_by_role.eq(fw_role),
            needs::forwarded_by_org.eq(fw_org),
            needs::forwarded_by_name.eq(fw_name),
        ))
        .returning(NeedRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("need", row.id, "created")
            .version(1)
            .after(&row)],
    )?;
    Ok(row)
}

pub fn find_need(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<NeedRow>> {
    needs::table
        .find(id)
        .select(NeedRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_need_by_reference(
    conn: &mut PgConnection,
    reference: &str,
) -> QueryResult<Option<NeedRow>> {
    needs::table
        .filter(needs::reference.eq(reference))
        .select(NeedRow::as_select())
        .first(conn)
        .optional()
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A page of needs in (year, sequence) order, keyset after `after`.
pub fn list_needs(
    conn: &mut PgConnection,
    f: NeedFilter,
    after: Option<(i32, i32)>,
    limit: i64,
) -> QueryResult<Vec<NeedRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Int4, Text};
    let mut q = needs::table
        .select(NeedRow::as_select())
        .order((needs::cycle_year, needs::seq))
        .into_boxed();
    if let Some(y) = f.year {
        q = q.filter(needs::cycle_year.eq(y));
    }
    if let Some(s) = f.status {
        q = q.filter(needs::status.eq(s));
    }
    if let Some(o) = f.origin {
        q = q.filter(needs::origin.eq(o));
    }
    if let Some(o) = f.organisation_number {
        q = q.filter(needs::organisation_number.eq(o));
    }
    if let Some(sa) = f.service_area_id {
        q = q.filter(needs::service_area_id.eq(sa));
    }
    if let Some(text) = f.q {
        let pattern = format!("%{}%", like_escape(text.trim()));
        // The same expression as the trigram index needs_text_trgm_idx.
        q = q.filter(
            sql::<Bool>(
                "(needs.title || ' ' || needs.description || ' ' || needs.expected_benefit) ILIKE ",
            )
            .bind::<Text, _>(pattern),
        );
    }
    if let Some((y, s)) = after {
        q = q.filter(
            sql::<Bool>("(needs.cycle_year, needs.seq) > (")
                .bind::<Int4, _>(y)
                .sql(", ")
                .bind::<Int4, _>(s)
                .sql(")"),
        );
    }
    q.limit(limit + 1).load(conn)
}

/// The need locked for the rest of the transaction, or 404.
pub fn lock_need(conn: &mut PgConnection, id: Uuid) -> Result<NeedRow, StoreError> {
    needs::table
        .find(id)
        .select(NeedRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("need {id}")))
}

/// A partial edit of a submitted need (`None` = unchanged): diesel leaves a `None` column as it
/// is, and `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = needs)]
pub struct NeedEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub expected_benefit: Option<String>,
    pub origin: Option<Origin>,
    /// `Some(None)` clears the service area.
    pub service_area_id: Option<Option<Uuid>>,
    pub estimated_study_cost_nok: Option<i64>,
    pub contact_name: Option<Option<String>>,
    pub contact_email: Option<Option<String>>,
    /// `Some(None)` clears who forwarded the need. Not a column: the role is resolved to the
    /// service area's party, whose three columns `edit_need` sets.
    #[diesel(skip_update)]
    pub forwarded_by: Option<Option<ForwardingRole>>,
}

/// Edits a submitted need, locked by the caller (who has checked that the caller may).
pub fn edit_need(
    conn: &mut PgConnection,
    actor: &Actor,
    before: NeedRow,
    if_match: &IfMatch,
    edit: NeedEdit,
) -> Result<NeedRow, StoreError> {
    let id = before.id;
    if_match.check(before.version)?;
    if before.status != NeedStatus::Submitted {
        return Err(StoreError::Conflict(format!(
            "need {} is '{}'; only a submitted need can be edited",
            before.reference, before.status
        )));
    }
    if let Some(sa) = edit.service_area_id {
        check_service_area(conn, sa, before.cycle_year)?;
    }
    // Who forwarded the need is looked up again only when the area or the role changes;
    // otherwise the recorded party stays as it was.
    let forwarded = if edit.service_area_id.is_some() || edit.forwarded_by.is_some() {
        let area = edit.service_area_id.unwrap_or(before.service_area_id);
        let role = match edit.forwarded_by {
            Some(role) => role,
            None => before.forwarded_by()?.map(|(role, _)| role),
        };
        forwarder(conn, area, role)?
    } else {
        before.forwarded_by()?
    };
    let (fw_role, fw_org, fw_name) = forwarded_columns(&forwarded);
    let row = diesel::update(needs::table.find(id))
        .set((
            &edit,
            needs::forwarded_by_role.eq(fw_role),
            needs::forwarded_by_org.eq(fw_org),
            needs::forwarded_by_name.eq(fw_name),
            needs::version.eq(before.version + 1),
            needs::updated_at.eq(Utc::now()),
        ))
        .returning(NeedRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("need", id, "updated")
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

/// What a status change records of the first assessment (all `None` to clear it).
#[derive(Default)]
struct Recorded<'a> {
    reason: Option<&'a str>,
    screening: Option<&'a serde_json::Value>,
    override_reason: Option<&'a str>,
    assessed: Option<&'a Actor>,
}

fn set_status(
    conn: &mut PgConnection,
    before: &NeedRow,
    to: NeedStatus,
    recorded: Recorded<'_>,
) -> Result<NeedRow, StoreError> {
    let now = Utc::now();
    let Recorded {
        reason,
        screening,
        override_reason,
        assessed,
    } = recorded;
    Ok(diesel::update(needs::table.find(before.id))
        .set((
            needs::status.eq(to),
            needs::assessment_reason.eq(reason),
            needs::screening.eq(screening),
            needs::screening_override_reason.eq(override_reason),
            needs::assessed_at.eq(assessed.map(|_| now)),
            needs::assessed_by.eq(assessed.map(|a| a.subject.as_str())),
            needs::version.eq(before.version + 1),
            needs::updated_at.eq(now),
        ))
        .returning(NeedRow::as_returning())
        .get_result(conn)?)
}

/// Withdraws a submitted need, locked by the caller (who has checked that the caller may).
pub fn withdraw_need(
    conn: &mut PgConnection,
    actor: &Actor,
    before: NeedRow,
    if_match: &IfMatch,
    reason: Option<String>,
) -> Result<NeedRow, StoreError> {
    let id = before.id;
    if_match.check(before.version)?;
    before
        .status
        .transition_with_reason(NeedStatus::Withdrawn, reason.as_deref())?;
    let row = set_status(
        conn,
        &before,
        NeedStatus::Withdrawn,
        Recorded {
            reason: reason.as_deref(),
            ..Recorded::default()
        },
    )?;
    changes::record(
        conn,
        actor,
        &[Change::new("need", id, "withdrawn")
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

/// A first assessment as the portfolio office gives it.
#[derive(Debug, Clone)]
pub struct AssessmentInput {
    /// `accepted` or `rejected`.
    pub decision: NeedStatus,
    /// Why (mandatory for a rejection).
    pub reason: Option<String>,
    /// Pass or fail per screening criterion of the adopted set.
    pub screening: Vec<(String, ScreeningResult)>,
    /// Why a need that fails screening is accepted all the same.
    pub override_reason: Option<String>,
}

/// The first assessment: accepted or rejected (reason mandatory), with a pass/fail result
/// per screening criterion of the adopted set; accepting a need that fails one needs an
/// override reason. Only in the first-assessment phase.
pub fn assess_need(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    a: AssessmentInput,
) -> Result<NeedRow, StoreError> {
    let before = lock_need(conn, id)?;
    if_match.check(before.version)?;
    let cycle = share_cycle(conn, before.cycle_year)?;
    cycle.require_phase(CyclePhase::FirstAssessment)?;
    let decision = a.decision;
    if !matches!(decision, NeedStatus::Accepted | NeedStatus::Rejected) {
        return Err(StoreError::invalid(
            "decision",
            "must be accepted or rejected",
        ));
    }
    let current = before.status;
    if matches!(current, NeedStatus::Accepted | NeedStatus::Rejected) {
        return Err(StoreError::Conflict(format!(
            "need {} is already {current}; reopen it (POST /api/v1/needs/{}/reopen) before assessing it again",
            before.reference, before.id
        )));
    }
    current.transition_with_reason(decision, a.reason.as_deref())?;
    let (_, criteria) = adopted_criteria(conn, before.cycle_year)?;
    let results = validate_screening(&criteria, a.screening.iter().map(|(c, r)| (c.as_str(), *r)))?;
    check_override(decision, &results, a.override_reason.as_deref())?;
    let screening = serde_json::to_value(&results).map_err(StoreError::corrupt)?;
    let row = set_status(
        conn,
        &before,
        decision,
        Recorded {
            reason: a.reason.as_deref(),
            screening: Some(&screening),
            override_reason: a.override_reason.as_deref(),
            assessed: Some(actor),
        },
    )?;
    changes::record(
        conn,
        actor,
        &[Change::new("need", id, decision.as_str())
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

/// Undoes a first assessment (explicit, with a reason kept in the audit trail). Only in the
/// first-assessment phase, so no trust has scored the need yet.
pub fn reopen_need(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    reason: String,
) -> Result<NeedRow, StoreError> {
    let before = lock_need(conn, id)?;
    if_match.check(before.version)?;
    let cycle = share_cycle(conn, before.cycle_year)?;
    cycle.require_phase(CyclePhase::FirstAssessment)?;
    let to = before.status.reopen()?;
    let row = set_status(conn, &before, to, Recorded::default())?;
    changes::record(
        conn,
        actor,
        &[Change::new("need", id, "reopened")
            .version(row.version)
            .before(&before)
            .after(&serde_json::json!({"need": &row, "reopen_reason": reason}))],
    )?;
    Ok(row)
}

/// Moves a need along the domain state machine (used by other modules, e.g. board
/// decisions: accepted → deferred / declined / study_started). The caller locks and records.
pub fn transition(
    conn: &mut PgConnection,
    before: &NeedRow,
    to: NeedStatus,
    reason: Option<&str>,
) -> Result<NeedRow, StoreError> {
    before.status.transition_with_reason(to, reason)?;
    let now = Utc::now();
    Ok(diesel::update(needs::table.find(before.id))
        .set((
            needs::status.eq(to),
            needs::version.eq(before.version + 1),
            needs::updated_at.eq(now),
        ))
        .returning(NeedRow::as_returning())
        .get_result(conn)?)
}

/// Counts of a year's needs by status (one query).
pub fn status_counts(conn: &mut PgConnection, year: i32) -> QueryResult<Vec<(NeedStatus, i64)>> {
    use diesel::dsl::count_star;
    needs::table
        .filter(needs::cycle_year.eq(year))
        .group_by(needs::status)
        .select((needs::status, count_star()))
        .load(conn)
}
