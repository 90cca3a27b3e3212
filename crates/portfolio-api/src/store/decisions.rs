//! Decision cases (beslutningssaker): prepared by the portfolio office, decided by the board,
//! and applied all-or-nothing in one transaction through
//! `portfolio_domain::decision::plan_decision`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::budget::{AllocationKind, SubPortfolio};
use portfolio_domain::decision::{
    plan_decision, CaseStatus, Change as Effect, DecisionAction, DecisionItem, DecisionItemKind,
    ItemOutcome, PlannedEffect,
};
use portfolio_domain::need::NeedStatus;
use portfolio_domain::organisation::OrganisationKind;
use portfolio_domain::study::{ConceptStatus, DateRange, StudyStatus};
use portfolio_domain::{DomainError, StateMachine};
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{concept_studies, concepts, decision_cases, decision_items, organisations};
use crate::documents::decision_item::{ExpectedCompletion, ItemProposal};
use crate::etag::IfMatch;
use crate::store::budget::{self, FrameRow};
use crate::store::studies::{self, ConceptRow, NeedRef, StudyRow};
use crate::store::StoreError;
use portfolio_domain::{FieldIssue, FieldPath};

/// Most regional authorities an interregional study is run on behalf of (declared as `maxItems`).
pub const ON_BEHALF_OF_MAX: usize = portfolio_domain::study::ON_BEHALF_OF_MAX;

/// What an item acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Need(Uuid),
    Study(Uuid),
    Concept(Uuid),
    /// An additional study acts on no existing need, study or concept: only on the frame its
    /// money comes from.
    Frame(Uuid),
}

impl Target {
    pub fn id(self) -> Uuid {
        match self {
            Target::Need(id) | Target::Study(id) | Target::Concept(id) | Target::Frame(id) => id,
        }
    }

    /// The proposal's field that names it.
    pub fn field(self) -> &'static str {
        match self {
            Target::Need(_) => "need_id",
            Target::Study(_) => "study_id",
            Target::Concept(_) => "concept_id",
            Target::Frame(_) => "frame_id",
        }
    }

    /// What it is, in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Target::Need(_) => "need",
            Target::Study(_) => "study",
            Target::Concept(_) => "concept",
            Target::Frame(_) => "budget frame",
        }
    }
}

/// The fields every study start has, for a need or in addition.
pub struct StudyStart<'a> {
    pub frame_id: Uuid,
    pub budget_nok: i64,
    pub title: &'a str,
    pub responsible_org: &'a String,
    pub interregional: bool,
    pub on_behalf_of: &'a [String],
    pub expected_completion: Option<&'a ExpectedCompletion>,
}

/// The ids of the needs, studies and concepts that `proposals` act on.
fn target_ids(proposals: &[ItemProposal]) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) {
    let (mut needs, mut studies, mut concepts) = (Vec::new(), Vec::new(), Vec::new());
    for p in proposals {
        match p.target() {
            Target::Need(id) => needs.push(id),
            Target::Study(id) => studies.push(id),
            Target::Concept(id) => concepts.push(id),
            Target::Frame(_) => {}
        }
    }
    (needs, studies, concepts)
}

impl ItemProposal {
    pub fn kind(&self) -> DecisionItemKind {
        match self {
            Self::StartStudy { .. } => DecisionItemKind::StartStudy,
            Self::StartAdditionalStudy { .. } => DecisionItemKind::StartAdditionalStudy,
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
            Self::StartAdditionalStudy { frame_id, .. } => Target::Frame(*frame_id),
        }
    }

    /// The study this item starts, for a need or in addition (`None` for other kinds).
    pub fn study_start(&self) -> Option<StudyStart<'_>> {
        match self {
            Self::StartStudy {
                frame_id,
                budget_nok,
                title,
                responsible_org,
                interregional,
                on_behalf_of,
                expected_completion,
                ..
            }
            | Self::StartAdditionalStudy {
                frame_id,
                budget_nok,
                title,
                responsible_org,
                interregional,
                on_behalf_of,
                expected_completion,
                ..
            } => Some(StudyStart {
                frame_id: *frame_id,
                budget_nok: *budget_nok,
                title,
                responsible_org,
                interregional: *interregional,
                on_behalf_of,
                expected_completion: expected_completion.as_ref(),
            }),
            _ => None,
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
        if let Some(start) = self.study_start() {
            if start.budget_nok <= 0 {
                out.push(FieldIssue::new(
                    field("budget_nok"),
                    "must be greater than 0",
                ));
            }
            text("title", start.title, 1, 200, out);
            out.extend(
                portfolio_domain::study::interregional_issues(
                    start.interregional,
                    start.on_behalf_of,
                )
                .into_iter()
                .map(|i| FieldIssue::new(at.clone().join(i.field), i.message)),
            );
            if let Some(e) = start.expected_completion {
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
        match self {
            Self::StartAdditionalStudy { purpose, .. } => {
                text("purpose", purpose, 1, 10_000, out);
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

/// What the items of a draft refer to, read without locks (one query per table).
struct Referenced {
    needs: HashSet<Uuid>,
    studies: HashSet<Uuid>,
    concepts: HashSet<Uuid>,
    frames: HashMap<Uuid, FrameRow>,
    org_kinds: HashMap<String, OrganisationKind>,
}

const RHA: OrganisationKind = OrganisationKind::RegionalHealthAuthority;

impl Referenced {
    fn load(conn: &mut PgConnection, items: &[ItemProposal]) -> Result<Referenced, StoreError> {
        let (need_ids, study_ids, concept_ids) = target_ids(items);
        let mut frame_ids = Vec::new();
        let mut orgs = Vec::new();
        for start in items.iter().filter_map(ItemProposal::study_start) {
            frame_ids.push(start.frame_id);
            orgs.push(start.responsible_org.clone());
            orgs.extend(start.on_behalf_of.iter().cloned());
        }
        Ok(Referenced {
            needs: studies::needs_by_id(conn, &need_ids, false)?
                .into_iter()
                .map(|n| n.id)
                .collect(),
            studies: studies::studies_by_id(conn, &study_ids, false)?
                .into_iter()
                .map(|s| s.id)
                .collect(),
            concepts: studies::concepts_by_id(conn, &concept_ids, false)?
                .into_iter()
                .map(|c| c.id)
                .collect(),
            frames: by_id(budget::frames_by_id(conn, &frame_ids)?, |f| f.id),
            org_kinds: organisations::table
                .filter(organisations::org_number.eq_any(&orgs))
                .select((organisations::org_number, organisations::kind))
                .load::<(String, OrganisationKind)>(conn)?
                .into_iter()
                .collect(),
        })
    }

    fn exists(&self, target: Target) -> bool {
        match target {
            Target::Need(id) => self.needs.contains(&id),
            Target::Study(id) => self.studies.contains(&id),
            Target::Concept(id) => self.concepts.contains(&id),
            // The frame is checked with the study start's other fields (`check_start`).
            Target::Frame(_) => true,
        }
    }

    /// A study start's frame and organisations, as issues of the fields `at` names.
    fn check_start(
        &self,
        p: &ItemProposal,
        at: impl Fn(&str) -> FieldPath,
        errors: &mut Vec<FieldIssue>,
    ) {
        let Some(StudyStart {
            frame_id,
            responsible_org,
            interregional,
            on_behalf_of,
            ..
        }) = p.study_start()
        else {
            return;
        };
        match self.frames.get(&frame_id).map(|f| f.sub_portfolio) {
            None => errors.push(FieldIssue::new(at("frame_id"), "no such budget frame")),
            Some(SubPortfolio::ConceptStudies | SubPortfolio::Interregional) => {}
            Some(other) => errors.push(FieldIssue::new(
                at("frame_id"),
                format!(
                    "studies are funded from a concept_studies or interregional frame, not {other}"
                ),
            )),
        }
        match self.org_kinds.get(responsible_org) {
            None => errors.push(FieldIssue::new(
                at("responsible_org"),
                "is not a registered organisation",
            )),
            Some(k) if interregional && *k != RHA => errors.push(FieldIssue::new(
                at("responsible_org"),
                "an interregional study is run by a regional health authority",
            )),
            Some(_) => {}
        }
        for (j, o) in on_behalf_of.iter().enumerate() {
            if self.org_kinds.get(o) != Some(&RHA) {
                errors.push(FieldIssue::new(
                    at("on_behalf_of").index(j),
                    "is not a registered regional health authority",
                ));
            }
        }
    }
}

/// Checks that everything the items refer to exists (one query per table), as 422s
/// pointing at the item's field.
fn check_references(conn: &mut PgConnection, draft: &CaseDraft) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for (i, p) in draft.items.iter().enumerate() {
        p.check(&FieldPath::from("items").index(i), &mut errors);
    }
    let found = Referenced::load(conn, &draft.items)?;
    for (i, p) in draft.items.iter().enumerate() {
        let at = |name: &str| FieldPath::from("items").index(i).key(name);
        let target = p.target();
        if !found.exists(target) {
            errors.push(FieldIssue::new(
                at(target.field()),
                format!("no such {}", target.noun()),
            ));
        }
        found.check_start(p, at, &mut errors);
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
    StoreError::check(errors)
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
/// all-or-nothing, in the caller's transaction. The steps: lock the case and check its
/// version; check the outcomes against its items; lock and read what the items act on
/// (frames first, then needs, studies, concepts); plan in the domain; freeze the
/// certificate; apply each effect; record the outcomes and the decided case.
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
    let proposals = load_proposals(conn, id, input.outcomes.len())?;
    check_outcomes(&proposals, &input.outcomes)?;
    let state = Locked::load(conn, &proposals)?;
    let effects = plan(&state, &proposals, &input.outcomes)?;
    freeze_certificate(conn, id, &proposals, &input.outcomes, &state.remaining())?;
    let mut apply = Apply::new(conn, actor, &case, &proposals, state);
    for e in effects {
        apply.effect(e)?;
    }
    let Apply {
        mut changes,
        created,
        ..
    } = apply;
    record_outcomes(conn, id, &input.outcomes, &created)?;
    let out = mark_decided(conn, actor, &case, &input)?;
    changes.push(
        Change::new("decision_case", id, "decided")
            .version(out.case.version)
            .before(&case)
            .after(&out),
    );
    changes::record(conn, actor, &changes)?;
    Ok(out)
}

/// The case's items as proposals; the board gives exactly one outcome per item.
fn load_proposals(
    conn: &mut PgConnection,
    id: Uuid,
    outcomes: usize,
) -> Result<Vec<ItemProposal>, StoreError> {
    let rows = load_items(conn, &[id])?;
    if outcomes != rows.len() {
        return Err(StoreError::invalid(
            "outcomes",
            format!(
                "must give exactly one outcome per item: the case has {} items",
                rows.len()
            ),
        ));
    }
    rows.iter().map(ItemRow::proposal).collect()
}

/// An amended study start names the budget decided (> 0); no other outcome carries one.
fn check_outcomes(proposals: &[ItemProposal], outcomes: &[OutcomeInput]) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for (i, (p, o)) in proposals.iter().zip(outcomes).enumerate() {
        let start = p.study_start().is_some();
        let problem = match (o.outcome, o.amended_budget_nok, start) {
            (ItemOutcome::Amended, None, true) => {
                Some("an amended study start names the budget decided")
            }
            (ItemOutcome::Amended, Some(b), true) if b <= 0 => Some("must be greater than 0"),
            (ItemOutcome::Amended, Some(_), true) | (_, None, _) => None,
            (_, Some(_), _) => Some(
                "only an amended study start (start_study, start_additional_study) carries a budget",
            ),
        };
        if let Some(message) = problem {
            errors.push(FieldIssue::new(
                FieldPath::from("outcomes")
                    .index(i)
                    .key("amended_budget_nok"),
                message,
            ));
        }
    }
    StoreError::check(errors)
}

fn by_id<T>(rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> HashMap<Uuid, T> {
    rows.into_iter().map(|r| (id(&r), r)).collect()
}

/// What a decision acts on, locked for the rest of the transaction and read under the locks
/// (one query per table).
struct Locked {
    frames: HashMap<Uuid, FrameRow>,
    needs: HashMap<Uuid, NeedRef>,
    studies: HashMap<Uuid, StudyRow>,
    concepts: HashMap<Uuid, ConceptRow>,
    /// The studies that already have a concept.
    with_concept: HashSet<Uuid>,
}

impl Locked {
    /// Frames are locked first (in id order), then needs, studies and concepts.
    fn load(conn: &mut PgConnection, proposals: &[ItemProposal]) -> Result<Locked, StoreError> {
        let (need_ids, study_ids, concept_ids) = target_ids(proposals);
        let study_frames = studies::studies_by_id(conn, &study_ids, false)?
            .into_iter()
            .map(|s| s.frame_id);
        let mut frame_ids: Vec<Uuid> = proposals
            .iter()
            .filter_map(|p| Some(p.study_start()?.frame_id))
            .chain(study_frames)
            .collect();
        frame_ids.sort();
        frame_ids.dedup();
        Ok(Locked {
            frames: by_id(budget::lock_frames(conn, &frame_ids)?, |f| f.id),
            needs: by_id(studies::needs_by_id(conn, &need_ids, true)?, |n| n.id),
            studies: by_id(studies::studies_by_id(conn, &study_ids, true)?, |s| s.id),
            concepts: by_id(studies::concepts_by_id(conn, &concept_ids, true)?, |c| c.id),
            with_concept: studies::concepts_of_studies(conn, &study_ids)?
                .into_iter()
                .map(|c| c.study_id)
                .collect(),
        })
    }

    /// What each frame has left to allocate.
    fn remaining(&self) -> HashMap<Uuid, i64> {
        self.frames
            .values()
            .map(|f| (f.id, f.amount_nok - f.allocated_nok))
            .collect()
    }

    /// The item's target in messages: `for need B-2023-004`, `of study "…"`.
    fn describe(&self, p: &ItemProposal) -> String {
        match p.target() {
            Target::Need(t) => format!(
                "for need {}",
                self.needs
                    .get(&t)
                    .map(|n| n.reference.clone())
                    .unwrap_or_else(|| t.to_string())
            ),
            Target::Study(t) => format!(
                "of study {}",
                self.studies
                    .get(&t)
                    .map(|s| format!("{:?}", s.title))
                    .unwrap_or_else(|| t.to_string())
            ),
            Target::Concept(t) => format!(
                "of concept {}",
                self.concepts
                    .get(&t)
                    .map(|c| format!("{:?}", c.title))
                    .unwrap_or_else(|| t.to_string())
            ),
            // Only an additional study targets a frame: it is named by its title.
            Target::Frame(t) => match p.study_start() {
                Some(s) => format!("{:?}, in addition to the cycle's needs", s.title.trim()),
                None => format!("from budget frame {t}"),
            },
        }
    }

    /// Effective item `i` as the domain sees it: what it does, with its target's current state.
    fn action(
        &self,
        i: usize,
        p: &ItemProposal,
        o: &OutcomeInput,
    ) -> Result<DecisionAction<Uuid>, StoreError> {
        let refuse = |why: &str| item_failure(i, p, &self.describe(p), why);
        let missing = |what: &str| refuse(&format!("the {what} no longer exists"));
        let need = |id: &Uuid| {
            self.needs
                .get(id)
                .map(|n| n.status)
                .ok_or_else(|| missing("need"))
        };
        let study = |id: &Uuid| self.studies.get(id).ok_or_else(|| missing("study"));
        Ok(match p {
            ItemProposal::StartStudy {
                need_id,
                frame_id,
                budget_nok,
                ..
            } => DecisionAction::StartStudy {
                need: need(need_id)?,
                frame: *frame_id,
                budget: o.amended_budget_nok.unwrap_or(*budget_nok),
            },
            ItemProposal::StartAdditionalStudy {
                frame_id,
                budget_nok,
                ..
            } => DecisionAction::StartAdditionalStudy {
                frame: *frame_id,
                budget: o.amended_budget_nok.unwrap_or(*budget_nok),
            },
            ItemProposal::PauseStudy { study_id } => DecisionAction::PauseStudy {
                study: study(study_id)?.status,
            },
            ItemProposal::ResumeStudy { study_id } => DecisionAction::ResumeStudy {
                study: study(study_id)?.status,
            },
            ItemProposal::CancelStudy { study_id } => {
                let s = study(study_id)?;
                DecisionAction::CancelStudy {
                    study: s.status,
                    frame: s.frame_id,
                    unspent: s.allocated_nok - s.spent_nok,
                }
            }
            ItemProposal::RecordConcept { study_id, .. } => {
                if self.with_concept.contains(study_id) {
                    return Err(refuse("the study already has a concept"));
                }
                DecisionAction::RecordConcept {
                    study: study(study_id)?.status,
                }
            }
            ItemProposal::ChangeConceptStatus { concept_id, to } => {
                DecisionAction::ChangeConceptStatus {
                    concept: self
                        .concepts
                        .get(concept_id)
                        .ok_or_else(|| missing("concept"))?
                        .status,
                    to: to.domain(),
                }
            }
            ItemProposal::DeferNeed { need_id } => DecisionAction::DeferNeed {
                need: need(need_id)?,
            },
            ItemProposal::DeclineNeed { need_id } => DecisionAction::DeclineNeed {
                need: need(need_id)?,
            },
        })
    }

    /// The 409 of item `i`, which the domain refused (naming the frame a budget exceeds).
    fn refusal(&self, i: usize, p: &ItemProposal, reason: DomainError) -> StoreError {
        let mut reason = reason.to_string();
        if let Some(start) = p.study_start() {
            if let Some(f) = self.frames.get(&start.frame_id) {
                reason = format!("{reason} in budget frame {}", f.label());
            }
        }
        item_failure(i, p, &self.describe(p), reason)
    }
}

/// The domain's plan for the approved and amended items, each effect carrying the item's
/// position in the case. Rejected items are neither checked nor applied, so they are not
/// handed to the domain at all. One refused item refuses the whole decision.
fn plan(
    state: &Locked,
    proposals: &[ItemProposal],
    outcomes: &[OutcomeInput],
) -> Result<Vec<PlannedEffect<Uuid, Uuid>>, StoreError> {
    let mut positions = Vec::new();
    let mut items = Vec::new();
    for (i, (p, o)) in proposals.iter().zip(outcomes).enumerate() {
        if o.outcome.takes_effect() {
            items.push(DecisionItem {
                target: p.target().id(),
                action: state.action(i, p, o)?,
                outcome: o.outcome,
            });
            positions.push(i);
        }
    }
    let effects = plan_decision(&items, &state.remaining()).map_err(|f| {
        let i = positions[f.index];
        state.refusal(i, &proposals[i], f.reason)
    })?;
    Ok(effects
        .into_iter()
        .map(|e| PlannedEffect {
            index: positions[e.index],
            ..e
        })
        .collect())
}

/// Where a started study belongs (see `Apply::study_origin`).
struct Origin<'a> {
    need_id: Option<Uuid>,
    cycle_year: i32,
    purpose: Option<&'a str>,
}

/// Writes the planned effects in item order and collects the changes to record.
struct Apply<'a> {
    conn: &'a mut PgConnection,
    actor: &'a Actor,
    case: &'a CaseRow,
    proposals: &'a [ItemProposal],
    /// How each item is named in a refusal (read before anything changed).
    descriptions: Vec<String>,
    state: Locked,
    changes: Vec<Change>,
    /// The study or concept each item created.
    created: Vec<Option<Uuid>>,
}

impl<'a> Apply<'a> {
    fn new(
        conn: &'a mut PgConnection,
        actor: &'a Actor,
        case: &'a CaseRow,
        proposals: &'a [ItemProposal],
        state: Locked,
    ) -> Self {
        Apply {
            descriptions: proposals.iter().map(|p| state.describe(p)).collect(),
            created: vec![None; proposals.len()],
            changes: Vec::new(),
            conn,
            actor,
            case,
            proposals,
            state,
        }
    }

    fn effect(&mut self, e: PlannedEffect<Uuid, Uuid>) -> Result<(), StoreError> {
        let (i, target) = (e.index, e.target);
        let applied = match e.change {
            Effect::NeedStatus { to, .. } => self.status::<NeedRef>(target, to),
            Effect::CreateStudy { frame, budget } => self.create_study(i, target, frame, budget),
            Effect::StudyStatus { to, .. } => self.status::<StudyRow>(target, to),
            Effect::Release { frame, .. } => self.release(target, frame),
            Effect::CreateConcept => self.create_concept(i, target),
            Effect::ConceptStatus { to, .. } => self.status::<ConceptRow>(target, to),
        };
        // A conflict while applying (e.g. a frame that cannot take the budget) names the item.
        applied.map_err(|err| match err {
            StoreError::Conflict(m) | StoreError::NotFound(m) => {
                item_failure(i, &self.proposals[i], &self.descriptions[i], m)
            }
            other => other,
        })
    }

    /// Sets the status of a locked need, study or concept: one update, one change entry, and
    /// the locked copy replaced (a later item of the case sees the new status).
    fn status<R: StatusTarget>(&mut self, id: Uuid, to: R::Status) -> Result<(), StoreError> {
        let before = R::locked(&mut self.state)
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::corrupt(format!("{} vanished", R::Status::ENTITY)))?;
        let after = R::set_status(self.conn, &before, id, to)?;
        self.changes.push(
            Change::new(R::ENTITY, id, to.to_string())
                .version(after.version())
                .before(&before)
                .after(&after),
        );
        R::locked(&mut self.state).insert(id, after);
        Ok(())
    }

    /// Where a started study belongs: a study for a need belongs to the need's cycle; one in
    /// addition to the needs (its target is its frame) to the cycle of the board meeting that
    /// starts it, with its own purpose.
    fn study_origin(&self, p: &'a ItemProposal, target: Uuid) -> Result<Origin<'a>, StoreError> {
        if let ItemProposal::StartAdditionalStudy { purpose, .. } = p {
            return Ok(Origin {
                need_id: None,
                cycle_year: self.case.meeting_date.year(),
                purpose: Some(purpose.trim()),
            });
        }
        let need = self
            .state
            .needs
            .get(&target)
            .ok_or_else(|| StoreError::corrupt("need vanished"))?;
        Ok(Origin {
            need_id: Some(target),
            cycle_year: need.cycle_year,
            purpose: None,
        })
    }

    /// Allocates the study's budget from its frame and creates the `not_started` study.
    fn create_study(
        &mut self,
        i: usize,
        target: Uuid,
        frame: Uuid,
        budget: i64,
    ) -> Result<(), StoreError> {
        let proposals = self.proposals;
        let Some(start) = proposals[i].study_start() else {
            return Err(StoreError::corrupt("a study start from another item kind"));
        };
        let origin = self.study_origin(&proposals[i], target)?;
        let frame_row = self
            .state
            .frames
            .get(&frame)
            .cloned()
            .ok_or_else(|| StoreError::corrupt("frame vanished"))?;
        let title = start.title.trim();
        let allocation_purpose = format!(
            "Konseptutredning: {title} (beslutningssak {:?})",
            self.case.title
        );
        let (frame_after, allocation, c) = budget::allocate_locked(
            self.conn,
            self.actor,
            &frame_row,
            AllocationKind::Study,
            budget,
            &allocation_purpose,
        )?;
        self.changes.extend(c);
        self.state.frames.insert(frame, frame_after);
        let expected = start.expected_completion;
        let study: StudyRow = diesel::insert_into(concept_studies::table)
            .values((
                concept_studies::need_id.eq(origin.need_id),
                concept_studies::cycle_year.eq(origin.cycle_year),
                concept_studies::purpose.eq(origin.purpose),
                concept_studies::title.eq(title),
                concept_studies::responsible_org.eq(start.responsible_org),
                concept_studies::interregional.eq(start.interregional),
                concept_studies::on_behalf_of.eq(start.on_behalf_of),
                concept_studies::frame_id.eq(frame),
                concept_studies::allocation_id.eq(allocation.id),
                concept_studies::allocated_nok.eq(budget),
                concept_studies::expected_from.eq(expected.map(|x| x.from)),
                concept_studies::expected_to.eq(expected.map(|x| x.to)),
                concept_studies::expected_label.eq(expected.and_then(|x| x.label.clone())),
                concept_studies::decision_case_id.eq(self.case.id),
            ))
            .returning(StudyRow::as_returning())
            .get_result(self.conn)?;
        self.changes.push(
            Change::new("concept_study", study.id, "created")
                .version(study.version)
                .after(&study),
        );
        self.created[i] = Some(study.id);
        Ok(())
    }

    /// A cancelled study's unspent money goes back to its frame.
    fn release(&mut self, study_id: Uuid, frame: Uuid) -> Result<(), StoreError> {
        let (title, allocation_id) = self
            .state
            .studies
            .get(&study_id)
            .map(|s| (s.title.clone(), s.allocation_id))
            .ok_or_else(|| StoreError::corrupt("study vanished"))?;
        let frame_row = self
            .state
            .frames
            .get(&frame)
            .cloned()
            .ok_or_else(|| StoreError::corrupt("frame vanished"))?;
        let reason = format!(
            "Konseptutredning {title:?} avbrutt (beslutningssak {:?})",
            self.case.title
        );
        let (frame_after, _, c) =
            budget::release_locked(self.conn, self.actor, &frame_row, allocation_id, &reason)?;
        self.changes.extend(c);
        self.state.frames.insert(frame, frame_after);
        Ok(())
    }

    fn create_concept(&mut self, i: usize, study_id: Uuid) -> Result<(), StoreError> {
        let proposals = self.proposals;
        let ItemProposal::RecordConcept {
            title, description, ..
        } = &proposals[i]
        else {
            return Err(StoreError::corrupt("a concept from another item kind"));
        };
        let need_id = self
            .state
            .studies
            .get(&study_id)
            .map(|s| s.need_id)
            .ok_or_else(|| StoreError::corrupt("study vanished"))?;
        let concept: ConceptRow = diesel::insert_into(concepts::table)
            .values((
                concepts::study_id.eq(study_id),
                concepts::need_id.eq(need_id),
                concepts::title.eq(title.trim()),
                concepts::description.eq(description),
                concepts::decision_case_id.eq(self.case.id),
            ))
            .returning(ConceptRow::as_returning())
            .get_result(self.conn)?;
        self.changes.push(
            Change::new("concept", concept.id, "created")
                .version(concept.version)
                .after(&concept),
        );
        self.created[i] = Some(concept.id);
        Ok(())
    }
}

/// A row whose status a decision changes (need, study, concept): where the locked copy is
/// kept, and the one update that sets the status and the next version.
trait StatusTarget: Clone + Serialize {
    type Status: StateMachine;
    /// Its name in the audit trail and the feed.
    const ENTITY: &'static str;
    fn locked(state: &mut Locked) -> &mut HashMap<Uuid, Self>;
    fn version(&self) -> i32;
    fn set_status(
        conn: &mut PgConnection,
        before: &Self,
        id: Uuid,
        to: Self::Status,
    ) -> QueryResult<Self>;
}

impl StatusTarget for NeedRef {
    type Status = NeedStatus;
    const ENTITY: &'static str = "need";
    fn locked(state: &mut Locked) -> &mut HashMap<Uuid, Self> {
        &mut state.needs
    }
    fn version(&self) -> i32 {
        self.version
    }
    fn set_status(
        conn: &mut PgConnection,
        _: &Self,
        id: Uuid,
        to: NeedStatus,
    ) -> QueryResult<Self> {
        set_need_status(conn, id, to)
    }
}

/// `StatusTarget` for the rows of a table with `status`, `version` and `updated_at`.
macro_rules! status_target {
    ($row:ty, $status:ty, $entity:literal, $locked:ident, $table:ident) => {
        impl StatusTarget for $row {
            type Status = $status;
            const ENTITY: &'static str = $entity;
            fn locked(state: &mut Locked) -> &mut HashMap<Uuid, Self> {
                &mut state.$locked
            }
            fn version(&self) -> i32 {
                self.version
            }
            fn set_status(
                conn: &mut PgConnection,
                before: &Self,
                id: Uuid,
                to: $status,
            ) -> QueryResult<Self> {
                diesel::update($table::table.find(id))
                    .set((
                        $table::status.eq(to),
                        $table::version.eq(before.version + 1),
                        $table::updated_at.eq(Utc::now()),
                    ))
                    .returning(<$row>::as_returning())
                    .get_result(conn)
            }
        }
    };
}

status_target!(
    StudyRow,
    StudyStatus,
    "concept_study",
    studies,
    concept_studies
);
status_target!(ConceptRow, ConceptStatus, "concept", concepts, concepts);

/// The board's outcome of every item, in one statement.
fn record_outcomes(
    conn: &mut PgConnection,
    id: Uuid,
    outcomes: &[OutcomeInput],
    created: &[Option<Uuid>],
) -> QueryResult<usize> {
    use diesel::sql_types::{Array, Int4, Int8, Nullable, Text, Uuid as SqlUuid};
    let positions: Vec<i32> = (0..outcomes.len() as i32).collect();
    let names: Vec<String> = outcomes
        .iter()
        .map(|o| o.outcome.as_str().to_owned())
        .collect();
    let amended: Vec<Option<i64>> = outcomes.iter().map(|o| o.amended_budget_nok).collect();
    let notes: Vec<Option<String>> = outcomes.iter().map(|o| o.note.clone()).collect();
    diesel::sql_query(
        "UPDATE decision_items d SET outcome = u.outcome, amended_budget_nok = u.amended, \
         outcome_note = u.note, created_id = u.created \
         FROM unnest($2::int4[], $3::text[], $4::int8[], $5::text[], $6::uuid[]) \
              AS u(position, outcome, amended, note, created) \
         WHERE d.case_id = $1 AND d.position = u.position",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Array<Int4>, _>(&positions)
    .bind::<Array<Text>, _>(&names)
    .bind::<Array<Nullable<Int8>>, _>(&amended)
    .bind::<Array<Nullable<Text>>, _>(&notes)
    .bind::<Array<Nullable<SqlUuid>>, _>(created)
    .execute(conn)
}

/// The case becomes decided, with the board's rationale; returned with its items.
fn mark_decided(
    conn: &mut PgConnection,
    actor: &Actor,
    case: &CaseRow,
    input: &DecisionInput,
) -> Result<CaseWithItems, StoreError> {
    let now = Utc::now();
    let decided = diesel::update(decision_cases::table.find(case.id))
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
    Ok(CaseWithItems {
        items: load_items(conn, &[case.id])?,
        case: decided,
    })
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
