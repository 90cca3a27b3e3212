//! Concept studies and the concepts they yield. Both are created only by a board decision
//! (see `store::decisions`); here: reading them, the portfolio office's operational changes
//! (starting and completing a study, reporting spent-to-date) and the need → study → concept
//! lineage.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::need::NeedStatus;
use portfolio_domain::organisation::OrgNumber;
use portfolio_domain::study::{ConceptStatus, StudyBudget, StudyStatus};
use portfolio_domain::StateMachine;
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{concept_studies, concepts};
use crate::etag::IfMatch;
use crate::store::budget;
use crate::store::StoreError;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = concept_studies)]
pub struct StudyRow {
    pub id: Uuid,
    /// The need the study is for; `None` for a study started in addition to the cycle's
    /// needs (then `purpose` says why).
    pub need_id: Option<Uuid>,
    pub cycle_year: i32,
    pub title: String,
    pub responsible_org: OrgNumber,
    pub interregional: bool,
    pub on_behalf_of: Vec<OrgNumber>,
    pub frame_id: Uuid,
    pub allocation_id: Uuid,
    pub allocated_nok: i64,
    pub spent_nok: i64,
    pub status: StudyStatus,
    pub expected_from: Option<NaiveDate>,
    pub expected_to: Option<NaiveDate>,
    pub expected_label: Option<String>,
    pub decision_case_id: Uuid,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// What a study without a need is for.
    pub purpose: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = concepts)]
pub struct ConceptRow {
    pub id: Uuid,
    pub study_id: Uuid,
    /// The need of the study it came from (`None` for an additional study's concept).
    pub need_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub status: ConceptStatus,
    pub decision_case_id: Uuid,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// The need a study or concept came from, as this module sees it.
#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct NeedRef {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Int4)]
    pub cycle_year: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub reference: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub status: NeedStatus,
    #[diesel(sql_type = diesel::sql_types::Int4)]
    pub version: i32,
}

/// Needs by id, in one query; with `lock`, locked FOR UPDATE in id order.
pub fn needs_by_id(conn: &mut PgConnection, ids: &[Uuid], lock: bool) -> QueryResult<Vec<NeedRef>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, cycle_year, reference, status, version FROM needs WHERE id = ANY($1) ORDER BY id{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
        .load(conn)
}

#[derive(Debug, Default, Clone)]
pub struct StudyFilter {
    pub year: Option<i32>,
    pub status: Option<StudyStatus>,
    pub interregional: Option<bool>,
    pub need_id: Option<Uuid>,
}

pub fn list_studies(
    conn: &mut PgConnection,
    f: &StudyFilter,
    after: Option<(i32, DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<StudyRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Int4, Timestamptz, Uuid as SqlUuid};
    let mut q = concept_studies::table
        .select(StudyRow::as_select())
        .order((
            concept_studies::cycle_year,
            concept_studies::created_at,
            concept_studies::id,
        ))
        .into_boxed();
    if let Some(y) = f.year {
        q = q.filter(concept_studies::cycle_year.eq(y));
    }
    if let Some(s) = f.status {
        q = q.filter(concept_studies::status.eq(s));
    }
    if let Some(i) = f.interregional {
        q = q.filter(concept_studies::interregional.eq(i));
    }
    if let Some(n) = f.need_id {
        q = q.filter(concept_studies::need_id.eq(n));
    }
    if let Some((y, t, id)) = after {
        q = q.filter(
            sql::<Bool>(
                "(concept_studies.cycle_year, concept_studies.created_at, concept_studies.id) > (",
            )
            .bind::<Int4, _>(y)
            .sql(", ")
            .bind::<Timestamptz, _>(t)
            .sql(", ")
            .bind::<SqlUuid, _>(id)
            .sql(")"),
        );
    }
    q.limit(limit + 1).load(conn)
}

pub fn find_study(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<StudyRow>> {
    concept_studies::table
        .find(id)
        .select(StudyRow::as_select())
        .first(conn)
        .optional()
}

pub fn studies_by_id(
    conn: &mut PgConnection,
    ids: &[Uuid],
    lock: bool,
) -> QueryResult<Vec<StudyRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = concept_studies::table
        .filter(concept_studies::id.eq_any(ids))
        .order(concept_studies::id)
        .select(StudyRow::as_select());
    if lock {
        q.for_update().load(conn)
    } else {
        q.load(conn)
    }
}

pub fn concepts_by_id(
    conn: &mut PgConnection,
    ids: &[Uuid],
    lock: bool,
) -> QueryResult<Vec<ConceptRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = concepts::table
        .filter(concepts::id.eq_any(ids))
        .order(concepts::id)
        .select(ConceptRow::as_select());
    if lock {
        q.for_update().load(conn)
    } else {
        q.load(conn)
    }
}

/// The concept of each of these studies, if any (one query).
pub fn concepts_of_studies(
    conn: &mut PgConnection,
    study_ids: &[Uuid],
) -> QueryResult<Vec<ConceptRow>> {
    if study_ids.is_empty() {
        return Ok(Vec::new());
    }
    concepts::table
        .filter(concepts::study_id.eq_any(study_ids))
        .select(ConceptRow::as_select())
        .load(conn)
}

/// The operational changes the portfolio office makes without a board decision: a study
/// starts (`not_started → in_progress`) and is completed (`in_progress → completed`).
/// Pausing, resuming and cancelling are the board's (a decision item).
pub fn change_study_status(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    to: StudyStatus,
) -> Result<StudyRow, StoreError> {
    let before = concept_studies::table
        .find(id)
        .select(StudyRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("concept study {id}")))?;
    if_match.check(before.version)?;
    let from = before.status;
    let to = from.transition(to)?;
    let operational = matches!(
        (from, to),
        (StudyStatus::NotStarted, StudyStatus::InProgress)
            | (StudyStatus::InProgress, StudyStatus::Completed)
    );
    if !operational {
        return Err(StoreError::Conflict(format!(
            "a study goes from '{from}' to '{to}' only by a board decision (a decision case item)"
        )));
    }
    let row = diesel::update(concept_studies::table.find(id))
        .set((
            concept_studies::status.eq(to),
            concept_studies::version.eq(before.version + 1),
            concept_studies::updated_at.eq(Utc::now()),
        ))
        .returning(StudyRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("concept_study", id, to.as_str())
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

/// What the portfolio office may edit on a study.
#[derive(Debug, Default)]
pub struct StudyEdit {
    /// Spent-to-date in NOK (a new total; never less than before, never above allocated).
    pub spent_to_date_nok: Option<i64>,
    pub expected: Option<(NaiveDate, NaiveDate, Option<String>)>,
    /// A correction of whether the study is interregional and for whom.
    pub interregional: Option<InterregionalEdit>,
    pub reason: String,
}

/// A corrected interregional status: `on_behalf_of` absent keeps the regions already named
/// (for an interregional study) or clears them (for one that no longer is).
#[derive(Debug, Clone)]
pub struct InterregionalEdit {
    pub interregional: bool,
    pub on_behalf_of: Option<Vec<String>>,
}

/// The study's interregional status after `edit`, checked: the shape by the domain, and
/// that the responsible organisation and every region named are regional health authorities.
fn corrected_interregional(
    conn: &mut PgConnection,
    before: &StudyRow,
    edit: &InterregionalEdit,
) -> Result<(bool, Vec<OrgNumber>), StoreError> {
    use crate::db::schema::organisations;
    const RHA: &str = "regional_health_authority";
    let on_behalf_of: Vec<String> = match (&edit.on_behalf_of, edit.interregional) {
        (Some(list), _) => list.clone(),
        (None, true) => before.on_behalf_of.iter().map(|o| o.to_string()).collect(),
        (None, false) => Vec::new(),
    };
    let mut issues =
        portfolio_domain::study::interregional_issues(edit.interregional, &on_behalf_of);
    let responsible = before.responsible_org.to_string();
    let named: Vec<&str> = on_behalf_of
        .iter()
        .map(String::as_str)
        .chain([responsible.as_str()])
        .collect();
    let authorities: Vec<String> = organisations::table
        .filter(organisations::org_number.eq_any(named))
        .filter(organisations::kind.eq(RHA))
        .select(organisations::org_number)
        .load(conn)?;
    for (j, o) in on_behalf_of.iter().enumerate() {
        if !authorities.contains(o) {
            issues.push(portfolio_domain::FieldIssue::new(
                portfolio_domain::FieldPath::from("on_behalf_of").index(j),
                "is not a registered regional health authority",
            ));
        }
    }
    if edit.interregional && !authorities.contains(&responsible) {
        issues.push(portfolio_domain::FieldIssue::new(
            "interregional",
            format!(
                "an interregional study is run by a regional health authority; this one is run by {responsible}"
            ),
        ));
    }
    StoreError::check(issues)?;
    // Every number is a registered regional authority's by now.
    let on_behalf_of = on_behalf_of
        .iter()
        .map(|o| OrgNumber::parse(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::corrupt)?;
    Ok((edit.interregional, on_behalf_of))
}

/// A study's new spent-to-date `total`: never down, never past its allocation; what it adds
/// is spent from the study's allocation in its (locked) frame.
fn spend_to_date(
    conn: &mut PgConnection,
    actor: &Actor,
    frame: &budget::FrameRow,
    before: &StudyRow,
    total: i64,
    reason: &str,
) -> Result<(i64, Vec<Change>), StoreError> {
    if total < before.spent_nok {
        return Err(StoreError::Conflict(format!(
            "spent-to-date cannot go down: {} NOK is already reported",
            before.spent_nok
        )));
    }
    if total > before.allocated_nok {
        return Err(StoreError::Conflict(format!(
            "spent-to-date {total} NOK would exceed the study's allocated {} NOK; more money needs a board decision",
            before.allocated_nok
        )));
    }
    let delta = total - before.spent_nok;
    if delta == 0 {
        return Ok((before.spent_nok, Vec::new()));
    }
    let mut b = StudyBudget::from_parts(before.allocated_nok, before.spent_nok)?;
    b.record_spent(delta)?;
    let (_, changes) =
        budget::spend_locked(conn, actor, frame, before.allocation_id, delta, reason)?;
    Ok((b.spent(), changes))
}

pub fn edit_study(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    edit: StudyEdit,
) -> Result<StudyRow, StoreError> {
    // The frame is locked before the study (as in a decision), so the two never deadlock.
    let frame_id = find_study(conn, id)?
        .ok_or_else(|| StoreError::not_found(format!("concept study {id}")))?
        .frame_id;
    let frame = budget::lock_frame(conn, frame_id)?;
    let before = concept_studies::table
        .find(id)
        .select(StudyRow::as_select())
        .for_update()
        .first(conn)?;
    if_match.check(before.version)?;
    let (interregional, on_behalf_of) = match &edit.interregional {
        Some(e) => corrected_interregional(conn, &before, e)?,
        None => (before.interregional, before.on_behalf_of.clone()),
    };
    let (spent, mut changes) = match edit.spent_to_date_nok {
        Some(total) => spend_to_date(conn, actor, &frame, &before, total, &edit.reason)?,
        None => (before.spent_nok, Vec::new()),
    };
    let (from, to, label) = match edit.expected {
        Some((f, t, l)) => (Some(f), Some(t), l),
        None => (
            before.expected_from,
            before.expected_to,
            before.expected_label.clone(),
        ),
    };
    let row = diesel::update(concept_studies::table.find(id))
        .set((
            concept_studies::spent_nok.eq(spent),
            concept_studies::expected_from.eq(from),
            concept_studies::expected_to.eq(to),
            concept_studies::expected_label.eq(label),
            concept_studies::interregional.eq(interregional),
            concept_studies::on_behalf_of.eq(on_behalf_of),
            concept_studies::version.eq(before.version + 1),
            concept_studies::updated_at.eq(Utc::now()),
        ))
        .returning(StudyRow::as_returning())
        .get_result(conn)?;
    changes.push(
        Change::new("concept_study", id, "updated")
            .version(row.version)
            .before(&before)
            .after(&row),
    );
    changes::record(conn, actor, &changes)?;
    Ok(row)
}

#[derive(Debug, Default, Clone)]
pub struct ConceptFilter {
    pub status: Option<ConceptStatus>,
    pub need_id: Option<Uuid>,
}

pub fn list_concepts(
    conn: &mut PgConnection,
    f: &ConceptFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<ConceptRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
    let mut q = concepts::table
        .select(ConceptRow::as_select())
        .order((concepts::created_at, concepts::id))
        .into_boxed();
    if let Some(s) = f.status {
        q = q.filter(concepts::status.eq(s));
    }
    if let Some(n) = f.need_id {
        q = q.filter(concepts::need_id.eq(n));
    }
    if let Some((t, id)) = after {
        q = q.filter(
            sql::<Bool>("(concepts.created_at, concepts.id) > (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    q.limit(limit + 1).load(conn)
}

pub fn find_concept(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<ConceptRow>> {
    concepts::table
        .find(id)
        .select(ConceptRow::as_select())
        .first(conn)
        .optional()
}

/// A need with the studies started for it and the concepts they yielded.
pub struct Lineage {
    pub need: NeedRef,
    pub studies: Vec<StudyRow>,
    pub concepts: Vec<ConceptRow>,
}

pub fn lineage(conn: &mut PgConnection, need_id: Uuid) -> Result<Lineage, StoreError> {
    let need = needs_by_id(conn, &[need_id], false)?
        .pop()
        .ok_or_else(|| StoreError::not_found(format!("need {need_id}")))?;
    let studies = concept_studies::table
        .filter(concept_studies::need_id.eq(need_id))
        .order((concept_studies::created_at, concept_studies::id))
        .select(StudyRow::as_select())
        .load(conn)?;
    let concepts = concepts::table
        .filter(concepts::need_id.eq(need_id))
        .order((concepts::created_at, concepts::id))
        .select(ConceptRow::as_select())
        .load(conn)?;
    Ok(Lineage {
        need,
        studies,
        concepts,
    })
}
