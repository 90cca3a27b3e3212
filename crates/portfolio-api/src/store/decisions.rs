//! Decision cases (beslutningssaker): prepared by the portfolio office, decided by the board,
//! and applied all-or-nothing in one transaction through
//! `portfolio_domain::decision::plan_decision`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::budget::{AllocationKind, SubPortfolio};
use portfolio_domain::decision::{
    plan_decision, CaseStatus, Change as Effect, DecisionAction, DecisionItem, DecisionItemKind,
    ItemOutcome,
};
use portfolio_domain::need::NeedStatus;
use portfolio_domain::organisation::OrganisationKind;
use portfolio_domain::study::{DateRange, StudyStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{concept_studies, concepts, decision_cases, decision_items, organisations};
use crate::etag::IfMatch;
use crate::store::budget::{self, FrameRow};
use crate::store::studies::{self, ConceptRow, ConceptStatusName, NeedRef, StudyRow};
use crate::store::StoreError;
use portfolio_domain::{FieldIssue, FieldPath};

/// An expected completion: a date range, and how people say it (e.g. a season).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2023-08-15", "to": "2023-10-15", "label": "sensommer/tidlig høst 2023"}))]
pub struct ExpectedCompletion {
    /// First day of the range: RFC 3339 full-date (YYYY-MM-DD), years 2000–2100.
    #[serde(deserialize_with = "crate::dates::strict")]
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: NaiveDate,
    /// Last day of the range (not before `from`), same form.
    #[serde(deserialize_with = "crate::dates::strict")]
    #[schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: NaiveDate,
    /// The range as written in board papers, e.g. "sensommer/tidlig høst 2023".
    #[schema(max_length = 200)]
    pub label: Option<String>,
}

/// Most regional authorities an interregional study is run on behalf of (declared as `maxItems`).
pub const ON_BEHALF_OF_MAX: usize = 10;

/// One item of a decision case, as proposed. `kind` says what the board is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schema(example = json!({"kind": "start_study", "need_id": "3b9d3c0e-1f1a-4d8e-9a77-0c6d7e8f9a10", "frame_id": "6f1c2a4e-2b7d-4c55-9d0e-3a8b9c1d2e3f", "budget_nok": 1500000, "title": "Nasjonalt genomsenter", "responsible_org": "991324968", "interregional": true, "on_behalf_of": ["991324968", "983658725", "983658776", "883658752"], "expected_completion": {"from": "2023-08-15", "to": "2023-10-15", "label": "sensommer/tidlig høst 2023"}}))]
pub enum ItemProposal {
    /// Start a concept study for an accepted need, with a budget from a frame (BP1).
    StartStudy {
        need_id: Uuid,
        /// The frame the budget comes from (`concept_studies` or `interregional`).
        frame_id: Uuid,
        /// Whole NOK, > 0.
        budget_nok: i64,
        /// The study's name.
        #[schema(min_length = 1, max_length = 200)]
        title: String,
        /// Organisation number of the organisation responsible for the study.
        #[schema(example = "991324968")]
        responsible_org: String,
        /// Run by one region on behalf of several (then `responsible_org` is a regional authority).
        #[serde(default)]
        interregional: bool,
        /// For interregional studies: the regional authorities it is run on behalf of
        /// (organisation numbers, at most 10).
        #[serde(default)]
        #[schema(max_items = 10)]
        on_behalf_of: Vec<String>,
        expected_completion: Option<ExpectedCompletion>,
    },
    /// Pause a study.
    PauseStudy { study_id: Uuid },
    /// Resume a paused study.
    ResumeStudy { study_id: Uuid },
    /// Cancel a study; its unspent money goes back to its frame.
    CancelStudy { study_id: Uuid },
    /// Record the concept a completed study yielded (it starts `active`).
    RecordConcept {
        study_id: Uuid,
        #[schema(min_length = 1, max_length = 200)]
        title: String,
        #[serde(default)]
        #[schema(max_length = 10000)]
        description: String,
    },
    /// Change a concept's status.
    ChangeConceptStatus {
        concept_id: Uuid,
        to: ConceptStatusName,
    },
    /// Carry an accepted need to next year.
    DeferNeed { need_id: Uuid },
    /// Decline an accepted need.
    DeclineNeed { need_id: Uuid },
}

/// What an item acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Need(Uuid),
    Study(Uuid),
    Concept(Uuid),
}

impl Target {
    pub fn id(self) -> Uuid {
        match self {
            Target::Need(id) | Target::Study(id) | Target::Concept(id) => id,
        }
    }

    /// The proposal's field that names it.
    pub fn field(self) -> &'static str {
        match self {
            Target::Need(_) => "need_id",
            Target::Study(_) => "study_id",
            Target::Concept(_) => "concept_id",
        }
    }

    /// What it is, in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Target::Need(_) => "need",
            Target::Study(_) => "study",
            Target::Concept(_) => "concept",
        }
    }
}

/// The ids of the needs, studies and concepts that `proposals` act on.
fn target_ids(proposals: &[ItemProposal]) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) {
    let (mut needs, mut studies, mut concepts) = (Vec::new(), Vec::new(), Vec::new());
    for p in proposals {
        match p.target() {
            Target::Need(id) => needs.push(id),
            Target::Study(id) => studies.push(id),
            Target::Concept(id) => concepts.push(id),
        }
    }
    (needs, studies, concepts)
}

impl ItemProposal {
    pub fn kind(&self) -> DecisionItemKind {
        match self {
            Self::StartStudy { .. } => DecisionItemKind::StartStudy,
            Self::PauseStudy { .. } => DecisionItemKind::PauseStudy,
            Self::ResumeStudy { .. } => DecisionItemKind::ResumeStudy,
            Self::CancelStudy { .. } => DecisionItemKind::CancelStudy,
            Self::RecordConcept { .. } => DecisionItemKind::RecordConcept,
            Self::ChangeConceptStatus { .. } => DecisionItemKind::ChangeConceptStatus,
            Self::DeferNeed { .. } => DecisionItemKind::DeferNeed,
            Self::DeclineNeed { .. } => DecisionItemKind::DeclineNeed,
        }
    }

    /// The need, study or concept the item acts on.
    pub fn target(&self) -> Target {
        match self {
            Self::StartStudy { need_id, .. }
            | Self::DeferNeed { need_id }
            | Self::DeclineNeed { need_id } => Target::Need(*need_id),
            Self::PauseStudy { study_id }
            | Self::ResumeStudy { study_id }
            | Self::CancelStudy { study_id }
            | Self::RecordConcept { study_id, .. } => Target::Study(*study_id),
            Self::ChangeConceptStatus { concept_id, .. } => Target::Concept(*concept_id),
        }
    }

    /// Rules on the item's own fields (no database), as field errors under `at`.
    pub fn check(&self, at: &FieldPath, out: &mut Vec<FieldIssue>) {
        let field = |name: &str| at.clone().join(FieldPath::from(name));
        let text = |name: &str, v: &str, min: usize, max: usize, out: &mut Vec<FieldIssue>| {
            let n = v.trim().chars().count();
            if n < min || v.chars().count() > max {
                out.push(FieldIssue::new(
                    field(name),
                    format!("length must be between {min} and {max}"),
                ));
            }
        };
        match self {
            Self::StartStudy {
                budget_nok,
                title,
                interregional,
                on_behalf_of,
                expected_completion,
                ..
            } => {
                if *budget_nok <= 0 {
                    out.push(FieldIssue::new(
                        field("budget_nok"),
                        "must be greater than 0",
                    ));
                }
                text("title", title, 1, 200, out);
                if !interregional && !on_behalf_of.is_empty() {
                    out.push(FieldIssue::new(
                        field("on_behalf_of"),
                        "only an interregional study is run on behalf of other regions",
                    ));
                }
                if *interregional && on_behalf_of.is_empty() {
                    out.push(FieldIssue::new(
                        field("on_behalf_of"),
                        "an interregional study names the regional authorities it is run on behalf of",
                    ));
                }
                if on_behalf_of.len() > ON_BEHALF_OF_MAX {
                    out.push(FieldIssue::new(
                        field("on_behalf_of"),
                        format!("must have at most {ON_BEHALF_OF_MAX} items"),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for (j, o) in on_behalf_of.iter().enumerate() {
                    if !seen.insert(o) {
                        out.push(FieldIssue::new(
                            field("on_behalf_of").index(j),
                            "is listed more than once",
                        ));
                    }
                }
                if let Some(e) = expected_completion {
                    if DateRange::new(e.from, e.to).is_err() {
                        out.push(FieldIssue::new(
                            field("expected_completion.to"),
                            "is before `from`",
                        ));
                    }
                    if let Some(l) = &e.label {
                        text("expected_completion.label", l, 1, 200, out);
                    }
                }
            }
            Self::RecordConcept {
                title, description, ..
            } => {
                text("title", title, 1, 200, out);
                text("description", description, 0, 10_000, out);
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = decision_cases)]
pub struct CaseRow {
    pub id: Uuid,
    pub meeting_date: NaiveDate,
    pub title: String,
    pub background: String,
    pub scenario_id: Option<Uuid>,
    pub status: CaseStatus,
    pub rationale: Option<String>,
    pub minutes_reference: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = decision_items)]
pub struct ItemRow {
    pub case_id: Uuid,
    pub position: i32,
    pub kind: DecisionItemKind,
    pub target_id: Uuid,
    pub proposal: serde_json::Value,
    pub outcome: Option<ItemOutcome>,
    pub amended_budget_nok: Option<i64>,
    pub outcome_note: Option<String>,
    pub created_id: Option<Uuid>,
}

impl ItemRow {
    pub fn proposal(&self) -> Result<ItemProposal, StoreError> {
        serde_json::from_value(self.proposal.clone()).map_err(|e| {
            StoreError::corrupt(format!(
                "stored item {} of case {} is unreadable: {e}",
                self.position, self.case_id
            ))
        })
    }
}

/// A case with its items (in position order).
#[derive(Debug, Clone, Serialize)]
pub struct CaseWithItems {
    pub case: CaseRow,
    pub items: Vec<ItemRow>,
}

/// A case as prepared (create or replace).
#[derive(Debug, Clone)]
pub struct CaseDraft {
    pub meeting_date: NaiveDate,
    pub title: String,
    pub background: String,
    pub scenario_id: Option<Uuid>,
    pub items: Vec<ItemProposal>,
}

/// Checks that everything the items refer to exists (one query per table), as 422s
/// pointing at the item's field.
fn check_references(conn: &mut PgConnection, draft: &CaseDraft) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for (i, p) in draft.items.iter().enumerate() {
        p.check(&FieldPath::from("items").index(i), &mut errors);
    }
    let (need_ids, study_ids, concept_ids) = target_ids(&draft.items);
    let frame_ids: Vec<Uuid> = draft
        .items
        .iter()
        .filter_map(|p| match p {
            ItemProposal::StartStudy { frame_id, .. } => Some(*frame_id),
            _ => None,
        })
        .collect();
    let orgs: Vec<String> = draft
        .items
        .iter()
        .filter_map(|p| match p {
            ItemProposal::StartStudy {
                responsible_org,
                on_behalf_of,
                ..
            } => Some(std::iter::once(responsible_org).chain(on_behalf_of.iter())),
            _ => None,
        })
        .flatten()
        .cloned()
        .collect();
    let needs: HashMap<Uuid, NeedRef> = studies::needs_by_id(conn, &need_ids, false)?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    let found_studies: HashMap<Uuid, StudyRow> = studies::studies_by_id(conn, &study_ids, false)?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let found_concepts: HashMap<Uuid, ConceptRow> =
        studies::concepts_by_id(conn, &concept_ids, false)?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let frames: HashMap<Uuid, FrameRow> = budget::frames_by_id(conn, &frame_ids)?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let org_kinds: HashMap<String, OrganisationKind> = organisations::table
        .filter(organisations::org_number.eq_any(&orgs))
        .select((organisations::org_number, organisations::kind))
        .load::<(String, OrganisationKind)>(conn)?
        .into_iter()
        .collect();
    const RHA: OrganisationKind = OrganisationKind::RegionalHealthAuthority;
    for (i, p) in draft.items.iter().enumerate() {
        let at = |name: &str| FieldPath::from("items").index(i).key(name);
        let target = p.target();
        let exists = match target {
            Target::Need(id) => needs.contains_key(&id),
            Target::Study(id) => found_studies.contains_key(&id),
            Target::Concept(id) => found_concepts.contains_key(&id),
        };
        if !exists {
            errors.push(FieldIssue::new(
                at(target.field()),
                format!("no such {}", target.noun()),
            ));
        }
        if let ItemProposal::StartStudy {
            frame_id,
            responsible_org,
            interregional,
            on_behalf_of,
            ..
        } = p
        {
            match frames.get(frame_id) {
                None => errors.push(FieldIssue::new(
                    at("frame_id"),
                    "no such budget frame",
                )),
                Some(f)
                    if !matches!(
                        f.sub_portfolio,
                        SubPortfolio::ConceptStudies | SubPortfolio::Interregional
                    ) =>
                {
                    errors.push(FieldIssue::new(
                        at("frame_id"),
                        format!(
                            "studies are funded from a concept_studies or interregional frame, not {}",
                            f.sub_portfolio
                        ),
                    ))
                }
                Some(_) => {}
            }
            match org_kinds.get(responsible_org) {
                None => errors.push(FieldIssue::new(
                    at("responsible_org"),
                    "is not a registered organisation",
                )),
                Some(k) if *interregional && *k != RHA => errors.push(FieldIssue::new(
                    at("responsible_org"),
                    "an interregional study is run by a regional health authority",
                )),
                Some(_) => {}
            }
            for (j, o) in on_behalf_of.iter().enumerate() {
                if org_kinds.get(o) != Some(&RHA) {
                    errors.push(FieldIssue::new(
                        at("on_behalf_of").index(j),
                        "is not a registered regional health authority",
                    ));
                }
            }
        }
    }
    if let Some(s) = draft.scenario_id {
        use crate::db::schema::selection_scenarios;
        let n: i64 = selection_scenarios::table
            .find(s)
            .count()
            .get_result(conn)?;
        if n == 0 {
            errors.push(FieldIssue::new("scenario_id", "no such selection scenario"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(errors))
    }
}

fn insert_items(
    conn: &mut PgConnection,
    case_id: Uuid,
    items: &[ItemProposal],
) -> Result<(), StoreError> {
    let rows: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok((
                decision_items::case_id.eq(case_id),
                decision_items::position.eq(i as i32),
                decision_items::kind.eq(p.kind()),
                decision_items::target_id.eq(p.target().id()),
                decision_items::proposal.eq(serde_json::to_value(p).map_err(StoreError::corrupt)?),
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    diesel::insert_into(decision_items::table)
        .values(rows)
        .execute(conn)?;
    Ok(())
}

fn load_items(conn: &mut PgConnection, case_ids: &[Uuid]) -> QueryResult<Vec<ItemRow>> {
    decision_items::table
        .filter(decision_items::case_id.eq_any(case_ids))
        .order((decision_items::case_id, decision_items::position))
        .select(ItemRow::as_select())
        .load(conn)
}

pub fn create_case(
    conn: &mut PgConnection,
    actor: &Actor,
    draft: CaseDraft,
) -> Result<CaseWithItems, StoreError> {
    check_references(conn, &draft)?;
    let case = diesel::insert_into(decision_cases::table)
        .values((
            decision_cases::meeting_date.eq(draft.meeting_date),
            decision_cases::title.eq(draft.title.trim()),
            decision_cases::background.eq(&draft.background),
            decision_cases::scenario_id.eq(draft.scenario_id),
        ))
        .returning(CaseRow::as_returning())
        .get_result(conn)?;
    insert_items(conn, case.id, &draft.items)?;
    let items = load_items(conn, &[case.id])?;
    let out = CaseWithItems { case, items };
    changes::record(
        conn,
        actor,
        &[Change::new("decision_case", out.case.id, "created")
            .version(out.case.version)
            .after(&out)],
    )?;
    Ok(out)
}

fn lock_case(conn: &mut PgConnection, id: Uuid) -> Result<CaseRow, StoreError> {
    decision_cases::table
        .find(id)
        .select(CaseRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("decision case {id}")))
}

fn immutable(case: &CaseRow) -> StoreError {
    StoreError::Conflict(format!(
        "decision case {} was decided{}; a decided case is immutable",
        case.id,
        case.decided_at
            .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default()
    ))
}

/// Replaces a draft case's content (meeting, texts, cited scenario, items).
pub fn replace_case(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    draft: CaseDraft,
) -> Result<CaseWithItems, StoreError> {
    let before_case = lock_case(conn, id)?;
    if_match.check(before_case.version)?;
    if before_case.status == CaseStatus::Decided {
        return Err(immutable(&before_case));
    }
    check_references(conn, &draft)?;
    let before = CaseWithItems {
        items: load_items(conn, &[id])?,
        case: before_case,
    };
    diesel::delete(decision_items::table.filter(decision_items::case_id.eq(id))).execute(conn)?;
    insert_items(conn, id, &draft.items)?;
    let case = diesel::update(decision_cases::table.find(id))
        .set((
            decision_cases::meeting_date.eq(draft.meeting_date),
            decision_cases::title.eq(draft.title.trim()),
            decision_cases::background.eq(&draft.background),
            decision_cases::scenario_id.eq(draft.scenario_id),
            decision_cases::version.eq(before.case.version + 1),
            decision_cases::updated_at.eq(Utc::now()),
        ))
        .returning(CaseRow::as_returning())
        .get_result(conn)?;
    let out = CaseWithItems {
        items: load_items(conn, &[id])?,
        case,
    };
    changes::record(
        conn,
        actor,
        &[Change::new("decision_case", id, "updated")
            .version(out.case.version)
            .before(&before)
            .after(&out)],
    )?;
    Ok(out)
}

pub fn find_case(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<CaseWithItems>> {
    let Some(case) = decision_cases::table
        .find(id)
        .select(CaseRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let items = load_items(conn, &[id])?;
    Ok(Some(CaseWithItems { case, items }))
}

pub fn list_cases(
    conn: &mut PgConnection,
    status: Option<CaseStatus>,
    year: Option<i32>,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<CaseWithItems>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Date, Uuid as SqlUuid};
    let mut q = decision_cases::table
        .select(CaseRow::as_select())
        .order((decision_cases::meeting_date, decision_cases::id))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(decision_cases::status.eq(s));
    }
    if let Some(y) = year {
        let from = NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or_default();
        let to = NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap_or_default();
        q = q.filter(
            decision_cases::meeting_date
                .ge(from)
                .and(decision_cases::meeting_date.lt(to)),
        );
    }
    if let Some((d, id)) = after {
        q = q.filter(
            sql::<Bool>("(decision_cases.meeting_date, decision_cases.id) > (")
                .bind::<Date, _>(d)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    let cases: Vec<CaseRow> = q.limit(limit + 1).load(conn)?;
    let ids: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
    let mut by_case: HashMap<Uuid, Vec<ItemRow>> = HashMap::new();
    for item in load_items(conn, &ids)? {
        by_case.entry(item.case_id).or_default().push(item);
    }
    Ok(cases
        .into_iter()
        .map(|case| CaseWithItems {
            items: by_case.remove(&case.id).unwrap_or_default(),
            case,
        })
        .collect())
}

/// The board's answer to one item.
#[derive(Debug, Clone)]
pub struct OutcomeInput {
    pub outcome: ItemOutcome,
    pub amended_budget_nok: Option<i64>,
    pub note: Option<String>,
}

/// The board's decision on a case.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub rationale: String,
    pub minutes_reference: String,
    pub outcomes: Vec<OutcomeInput>,
}

fn item_failure(
    index: usize,
    p: &ItemProposal,
    describe: &str,
    reason: impl std::fmt::Display,
) -> StoreError {
    StoreError::Conflict(format!(
        "item {index} ({} {describe}) cannot be applied: {reason}; nothing was changed",
        p.kind()
    ))
}

/// The certificate step of deciding: freezes the robustness certificate of the studies the
/// case starts (`store::certificates`), from the state before anything is applied; the
/// budget is what the frames they draw on have left.
fn freeze_certificate(
    conn: &mut PgConnection,
    id: Uuid,
    proposals: &[ItemProposal],
    outcomes: &[OutcomeInput],
    remaining: &HashMap<Uuid, i64>,
) -> Result<(), StoreError> {
    let mut started = HashMap::new();
    let mut frames = std::collections::BTreeSet::new();
    for (p, o) in proposals.iter().zip(outcomes) {
        if let (
            ItemProposal::StartStudy {
                need_id,
                frame_id,
                budget_nok,
                ..
            },
            true,
        ) = (p, o.outcome.takes_effect())
        {
            started.insert(*need_id, o.amended_budget_nok.unwrap_or(*budget_nok));
            frames.insert(*frame_id);
        }
    }
    let budget = frames.iter().filter_map(|f| remaining.get(f)).sum();
    crate::store::certificates::freeze(conn, id, &started, budget)
}

/// Decides a case: records the outcome per item and applies every approved or amended item,
/// all-or-nothing, in the caller's transaction. Frames are locked FOR UPDATE first, then
/// needs, studies and concepts; every current state is read under those locks.
pub fn decide(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    input: DecisionInput,
) -> Result<CaseWithItems, StoreError> {
    let case = lock_case(conn, id)?;
    if_match.check(case.version)?;
    if case.status == CaseStatus::Decided {
        return Err(immutable(&case));
    }
    let item_rows = load_items(conn, &[id])?;
    if input.outcomes.len() != item_rows.len() {
        return Err(StoreError::invalid(
            "outcomes",
            format!(
                "must give exactly one outcome per item: the case has {} items",
                item_rows.len()
            ),
        ));
    }
    let proposals: Vec<ItemProposal> = item_rows
        .iter()
        .map(ItemRow::proposal)
        .collect::<Result<_, _>>()?;
    let mut errors = Vec::new();
    for (i, (p, o)) in proposals.iter().zip(&input.outcomes).enumerate() {
        let start = matches!(p, ItemProposal::StartStudy { .. });
        match (o.outcome, o.amended_budget_nok, start) {
            (ItemOutcome::Amended, None, true) => errors.push(FieldIssue::new(
                FieldPath::from("outcomes")
                    .index(i)
                    .key("amended_budget_nok"),
                "an amended study start names the budget decided",
            )),
            (ItemOutcome::Amended, Some(b), true) if b <= 0 => errors.push(FieldIssue::new(
                FieldPath::from("outcomes")
                    .index(i)
                    .key("amended_budget_nok"),
                "must be greater than 0",
            )),
            (ItemOutcome::Amended, Some(_), true) | (_, None, _) => {}
            (_, Some(_), _) => errors.push(FieldIssue::new(
                FieldPath::from("outcomes")
                    .index(i)
                    .key("amended_budget_nok"),
                "only an amended start_study item carries a budget",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(StoreError::Invalid(errors));
    }

    // Current state, under locks: frames, then needs, studies, concepts.
    let (need_ids, study_ids, concept_ids) = target_ids(&proposals);
    let study_frames: Vec<Uuid> = studies::studies_by_id(conn, &study_ids, false)?
        .into_iter()
        .map(|s| s.frame_id)
        .collect();
    let mut frame_ids: Vec<Uuid> = proposals
        .iter()
        .filter_map(|p| match p {
            ItemProposal::StartStudy { frame_id, .. } => Some(*frame_id),
            _ => None,
        })
        .chain(study_frames)
        .collect();
    frame_ids.sort();
    frame_ids.dedup();
    let mut frames: HashMap<Uuid, FrameRow> = budget::lock_frames(conn, &frame_ids)?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let mut needs: HashMap<Uuid, NeedRef> = studies::needs_by_id(conn, &need_ids, true)?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    let mut study_rows: HashMap<Uuid, StudyRow> = studies::studies_by_id(conn, &study_ids, true)?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut concept_rows: HashMap<Uuid, ConceptRow> =
        studies::concepts_by_id(conn, &concept_ids, true)?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let with_concept: std::collections::HashSet<Uuid> =
        studies::concepts_of_studies(conn, &study_ids)?
            .into_iter()
            .map(|c| c.study_id)
            .collect();

    let describe = |p: &ItemProposal| -> String {
        match p.target() {
            Target::Need(t) => format!(
                "for need {}",
                needs
                    .get(&t)
                    .map(|n| n.reference.clone())
                    .unwrap_or_else(|| t.to_string())
            ),
            Target::Study(t) => format!(
                "of study {}",
                study_rows
                    .get(&t)
                    .map(|s| format!("{:?}", s.title))
                    .unwrap_or_else(|| t.to_string())
            ),
            Target::Concept(t) => format!(
                "of concept {}",
                concept_rows
                    .get(&t)
                    .map(|c| format!("{:?}", c.title))
                    .unwrap_or_else(|| t.to_string())
            ),
        }
    };

    let mut items = Vec::with_capacity(proposals.len());
    for (i, (p, o)) in proposals.iter().zip(&input.outcomes).enumerate() {
        let missing =
            |what: &str| item_failure(i, p, &describe(p), format!("the {what} no longer exists"));
        let need_status = |n: Uuid| -> Result<NeedStatus, StoreError> {
            Ok(needs.get(&n).ok_or_else(|| missing("need"))?.status)
        };
        let study = |s: Uuid| study_rows.get(&s).ok_or_else(|| missing("study"));
        let effective = o.outcome.takes_effect();
        let action = match p {
            _ if !effective => {
                // Rejected items are neither checked nor applied; any placeholder will do.
                DecisionAction::DeferNeed {
                    need: NeedStatus::Accepted,
                }
            }
            ItemProposal::StartStudy {
                need_id,
                frame_id,
                budget_nok,
                ..
            } => DecisionAction::StartStudy {
                need: need_status(*need_id)?,
                frame: *frame_id,
                budget: o.amended_budget_nok.unwrap_or(*budget_nok),
            },
            ItemProposal::PauseStudy { study_id } => DecisionAction::PauseStudy {
                study: study(*study_id)?.status,
            },
            ItemProposal::ResumeStudy { study_id } => DecisionAction::ResumeStudy {
                study: study(*study_id)?.status,
            },
            ItemProposal::CancelStudy { study_id } => {
                let s = study(*study_id)?;
                DecisionAction::CancelStudy {
                    study: s.status,
                    frame: s.frame_id,
                    unspent: s.allocated_nok - s.spent_nok,
                }
            }
            ItemProposal::RecordConcept { study_id, .. } => {
                if with_concept.contains(study_id) {
                    return Err(item_failure(
                        i,
                        p,
                        &describe(p),
                        "the study already has a concept",
                    ));
                }
                DecisionAction::RecordConcept {
                    study: study(*study_id)?.status,
                }
            }
            ItemProposal::ChangeConceptStatus { concept_id, to } => {
                let c = concept_rows
                    .get(concept_id)
                    .ok_or_else(|| missing("concept"))?;
                DecisionAction::ChangeConceptStatus {
                    concept: c.status,
                    to: to.domain(),
                }
            }
            ItemProposal::DeferNeed { need_id } => DecisionAction::DeferNeed {
                need: need_status(*need_id)?,
            },
            ItemProposal::DeclineNeed { need_id } => DecisionAction::DeclineNeed {
                need: need_status(*need_id)?,
            },
        };
        items.push(DecisionItem {
            target: p.target().id(),
            action,
            outcome: o.outcome,
        });
    }
    let remaining: HashMap<Uuid, i64> = frames
        .values()
        .map(|f| (f.id, f.amount_nok - f.allocated_nok))
        .collect();
    let effects = plan_decision(&items, &remaining).map_err(|f| {
        let p = &proposals[f.index];
        let mut reason = f.reason.to_string();
        if let ItemProposal::StartStudy { frame_id, .. } = p {
            if let Some(fr) = frames.get(frame_id) {
                reason = format!("{reason} in budget frame {}", fr.label());
            }
        }
        item_failure(f.index, p, &describe(p), reason)
    })?;

    freeze_certificate(conn, id, &proposals, &input.outcomes, &remaining)?;

    let descriptions: Vec<String> = proposals.iter().map(describe).collect();
    // Apply, in item order.
    let mut changes = Vec::new();
    let mut created: Vec<Option<Uuid>> = vec![None; proposals.len()];
    for e in effects {
        let i = e.index;
        let p = &proposals[i];
        let fail = |err: StoreError| match err {
            StoreError::Conflict(m) | StoreError::NotFound(m) => {
                item_failure(i, p, &descriptions[i], m)
            }
            other => other,
        };
        match e.change {
            Effect::NeedStatus { to, .. } => {
                let before = needs
                    .get(&e.target)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("need vanished"))?;
                let after = set_need_status(conn, e.target, to).map_err(|er| fail(er.into()))?;
                changes.push(
                    Change::new("need", e.target, to.as_str())
                        .version(after.version)
                        .before(&before)
                        .after(&after),
                );
                needs.insert(e.target, after);
            }
            Effect::CreateStudy { frame, budget } => {
                let ItemProposal::StartStudy {
                    title,
                    responsible_org,
                    interregional,
                    on_behalf_of,
                    expected_completion,
                    ..
                } = p
                else {
                    return Err(StoreError::corrupt("a study start from another item kind"));
                };
                let frame_row = frames
                    .get(&frame)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("frame vanished"))?;
                let need = needs
                    .get(&e.target)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("need vanished"))?;
                let purpose = format!(
                    "Konseptutredning: {} (beslutningssak {:?})",
                    title.trim(),
                    case.title
                );
                let (frame_after, allocation, c) = budget::allocate_locked(
                    conn,
                    actor,
                    &frame_row,
                    AllocationKind::Study,
                    budget,
                    &purpose,
                )
                .map_err(fail)?;
                changes.extend(c);
                frames.insert(frame, frame_after);
                let study: StudyRow = diesel::insert_into(concept_studies::table)
                    .values((
                        concept_studies::need_id.eq(e.target),
                        concept_studies::cycle_year.eq(need.cycle_year),
                        concept_studies::title.eq(title.trim()),
                        concept_studies::responsible_org.eq(responsible_org),
                        concept_studies::interregional.eq(interregional),
                        concept_studies::on_behalf_of.eq(on_behalf_of),
                        concept_studies::frame_id.eq(frame),
                        concept_studies::allocation_id.eq(allocation.id),
                        concept_studies::allocated_nok.eq(budget),
                        concept_studies::expected_from
                            .eq(expected_completion.as_ref().map(|x| x.from)),
                        concept_studies::expected_to.eq(expected_completion.as_ref().map(|x| x.to)),
                        concept_studies::expected_label
                            .eq(expected_completion.as_ref().and_then(|x| x.label.clone())),
                        concept_studies::decision_case_id.eq(id),
                    ))
                    .returning(StudyRow::as_returning())
                    .get_result(conn)
                    .map_err(|er| fail(er.into()))?;
                changes.push(
                    Change::new("concept_study", study.id, "created")
                        .version(study.version)
                        .after(&study),
                );
                created[i] = Some(study.id);
            }
            Effect::StudyStatus { to, .. } => {
                let before = study_rows
                    .get(&e.target)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("study vanished"))?;
                let after: StudyRow = diesel::update(concept_studies::table.find(e.target))
                    .set((
                        concept_studies::status.eq(to),
                        concept_studies::version.eq(before.version + 1),
                        concept_studies::updated_at.eq(Utc::now()),
                    ))
                    .returning(StudyRow::as_returning())
                    .get_result(conn)
                    .map_err(|er| fail(er.into()))?;
                changes.push(
                    Change::new("concept_study", e.target, to.as_str())
                        .version(after.version)
                        .before(&before)
                        .after(&after),
                );
                study_rows.insert(e.target, after);
            }
            Effect::Release { frame, .. } => {
                let s = study_rows
                    .get(&e.target)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("study vanished"))?;
                let frame_row = frames
                    .get(&frame)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("frame vanished"))?;
                let reason = format!(
                    "Konseptutredning {:?} avbrutt (beslutningssak {:?})",
                    s.title, case.title
                );
                let (frame_after, _, c) =
                    budget::release_locked(conn, actor, &frame_row, s.allocation_id, &reason)
                        .map_err(fail)?;
                changes.extend(c);
                frames.insert(frame, frame_after);
            }
            Effect::CreateConcept => {
                let ItemProposal::RecordConcept {
                    title, description, ..
                } = p
                else {
                    return Err(StoreError::corrupt("a concept from another item kind"));
                };
                let s = study_rows
                    .get(&e.target)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("study vanished"))?;
                let concept: ConceptRow = diesel::insert_into(concepts::table)
                    .values((
                        concepts::study_id.eq(s.id),
                        concepts::need_id.eq(s.need_id),
                        concepts::title.eq(title.trim()),
                        concepts::description.eq(description),
                        concepts::decision_case_id.eq(id),
                    ))
                    .returning(ConceptRow::as_returning())
                    .get_result(conn)
                    .map_err(|er| fail(er.into()))?;
                changes.push(
                    Change::new("concept", concept.id, "created")
                        .version(concept.version)
                        .after(&concept),
                );
                created[i] = Some(concept.id);
            }
            Effect::ConceptStatus { to, .. } => {
                let before = concept_rows
                    .get(&e.target)
                    .cloned()
                    .ok_or_else(|| StoreError::corrupt("concept vanished"))?;
                let after: ConceptRow = diesel::update(concepts::table.find(e.target))
                    .set((
                        concepts::status.eq(to),
                        concepts::version.eq(before.version + 1),
                        concepts::updated_at.eq(Utc::now()),
                    ))
                    .returning(ConceptRow::as_returning())
                    .get_result(conn)
                    .map_err(|er| fail(er.into()))?;
                changes.push(
                    Change::new("concept", e.target, to.as_str())
                        .version(after.version)
                        .before(&before)
                        .after(&after),
                );
                concept_rows.insert(e.target, after);
            }
        }
    }

    // The outcomes, in one statement.
    let positions: Vec<i32> = (0..proposals.len() as i32).collect();
    let outcomes: Vec<String> = input
        .outcomes
        .iter()
        .map(|o| o.outcome.as_str().to_owned())
        .collect();
    let amended: Vec<Option<i64>> = input
        .outcomes
        .iter()
        .map(|o| o.amended_budget_nok)
        .collect();
    let notes: Vec<Option<String>> = input.outcomes.iter().map(|o| o.note.clone()).collect();
    {
        use diesel::sql_types::{Array, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
        diesel::sql_query(
            "UPDATE decision_items d SET outcome = u.outcome, amended_budget_nok = u.amended, \
             outcome_note = u.note, created_id = u.created \
             FROM unnest($2::int4[], $3::text[], $4::int8[], $5::text[], $6::uuid[]) \
                  AS u(position, outcome, amended, note, created) \
             WHERE d.case_id = $1 AND d.position = u.position",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Array<Int4>, _>(&positions)
        .bind::<Array<Text>, _>(&outcomes)
        .bind::<Array<Nullable<Int8>>, _>(&amended)
        .bind::<Array<Nullable<Text>>, _>(&notes)
        .bind::<Array<Nullable<SqlUuid>>, _>(&created)
        .execute(conn)?;
    }
    let now = Utc::now();
    let decided = diesel::update(decision_cases::table.find(id))
        .set((
            decision_cases::status.eq(CaseStatus::Decided),
            decision_cases::rationale.eq(input.rationale.trim()),
            decision_cases::minutes_reference.eq(input.minutes_reference.trim()),
            decision_cases::decided_at.eq(Some(now)),
            decision_cases::decided_by.eq(Some(&actor.subject)),
            decision_cases::version.eq(case.version + 1),
            decision_cases::updated_at.eq(now),
        ))
        .returning(CaseRow::as_returning())
        .get_result(conn)?;
    let out = CaseWithItems {
        items: load_items(conn, &[id])?,
        case: decided,
    };
    changes.push(
        Change::new("decision_case", id, "decided")
            .version(out.case.version)
            .before(&case)
            .after(&out),
    );
    changes::record(conn, actor, &changes)?;
    Ok(out)
}

fn set_need_status(conn: &mut PgConnection, id: Uuid, to: NeedStatus) -> QueryResult<NeedRef> {
    diesel::sql_query(
        "UPDATE needs SET status = $1, version = version + 1, updated_at = now() WHERE id = $2 \
         RETURNING id, cycle_year, reference, status, version",
    )
    .bind::<diesel::sql_types::Text, _>(to.as_str())
    .bind::<diesel::sql_types::Uuid, _>(id)
    .get_result(conn)
}

/// Studies by status for a set of needs' years, for the funnel.
/// Concept studies funded from a budget year's frames: (status, the cycle year that proposed
/// them, count).
pub fn studies_funded_in(
    conn: &mut PgConnection,
    budget_year: i32,
) -> QueryResult<Vec<(StudyStatus, i32, i64)>> {
    use diesel::sql_types::{BigInt, Int4, Text};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        status: StudyStatus,
        #[diesel(sql_type = Int4)]
        cycle_year: i32,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT s.status, s.cycle_year, count(*) AS n
         FROM concept_studies s JOIN budget_frames f ON f.id = s.frame_id
         WHERE f.year = $1
         GROUP BY s.status, s.cycle_year",
    )
    .bind::<Int4, _>(budget_year)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.status, r.cycle_year, r.n))
        .collect())
}

pub fn study_status_counts(
    conn: &mut PgConnection,
    year: i32,
) -> QueryResult<Vec<(StudyStatus, i64)>> {
    concept_studies::table
        .filter(concept_studies::cycle_year.eq(year))
        .group_by(concept_studies::status)
        .select((concept_studies::status, diesel::dsl::count_star()))
        .load(conn)
}
