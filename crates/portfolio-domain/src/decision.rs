//! Board decision cases, planned all-or-nothing.

use core::fmt;
use core::hash::Hash;
use std::collections::{HashMap, HashSet};

use crate::error::DomainError;
use crate::macros::wire_enum;
use crate::need::NeedStatus;
use crate::state::StateMachine;
use crate::study::{ConceptStatus, StudyStatus};

wire_enum! {
    /// What an item of a decision case asks the board to do.
    pub enum DecisionItemKind {
        /// Start a concept study for an accepted need, with a budget (BP1).
        StartStudy => "start_study",
        /// Start a concept study that does not come from the cycle's needs (e.g. an
        /// interregional study run "in addition"), with a budget (BP1).
        StartAdditionalStudy => "start_additional_study",
        /// Pause a study.
        PauseStudy => "pause_study",
        /// Resume a paused study.
        ResumeStudy => "resume_study",
        /// Cancel a study; its unspent money goes back to its frame.
        CancelStudy => "cancel_study",
        /// Record a concept from a completed study.
        RecordConcept => "record_concept",
        /// Change a concept's status.
        ChangeConceptStatus => "change_concept_status",
        /// Carry an accepted need to next year.
        DeferNeed => "defer_need",
        /// Decline an accepted need.
        DeclineNeed => "decline_need",
    }
}

wire_enum! {
    /// Where a decision case stands.
    pub enum CaseStatus {
        /// Being prepared; its items can still change.
        Draft => "draft",
        /// Decided by the board; immutable.
        Decided => "decided",
    }
}

wire_enum! {
    /// The board's answer to one item.
    pub enum ItemOutcome {
        /// Approved as proposed.
        Approved => "approved",
        /// Not approved; the item changes nothing.
        Rejected => "rejected",
        /// Approved with changes (e.g. another budget); the changed values are
        /// the ones in the item's [`DecisionAction`].
        Amended => "amended",
    }
}

impl ItemOutcome {
    /// Whether the item takes effect.
    pub const fn takes_effect(self) -> bool {
        matches!(self, Self::Approved | Self::Amended)
    }
}

/// An item together with the current state of what it acts on. `F` identifies
/// budget frames (e.g. a UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionAction<F> {
    /// Start a study for a need, allocating `budget` NOK (> 0) from `frame`.
    StartStudy {
        /// Current status of the need (must be `accepted`).
        need: NeedStatus,
        /// Frame to allocate from.
        frame: F,
        /// Budget in NOK.
        budget: i64,
    },
    /// Start a study that no need asked for, allocating `budget` NOK (> 0) from `frame`.
    /// It acts on no existing need, study or concept, so several may share an item target.
    StartAdditionalStudy {
        /// Frame to allocate from.
        frame: F,
        /// Budget in NOK.
        budget: i64,
    },
    /// Pause a study.
    PauseStudy {
        /// Its current status.
        study: StudyStatus,
    },
    /// Resume a paused study.
    ResumeStudy {
        /// Its current status.
        study: StudyStatus,
    },
    /// Cancel a study and give its unspent money back to `frame`.
    CancelStudy {
        /// Its current status.
        study: StudyStatus,
        /// Frame the study's money came from.
        frame: F,
        /// Allocated minus spent, in NOK (≥ 0).
        unspent: i64,
    },
    /// Record a concept that came out of a study.
    RecordConcept {
        /// The study's current status (must be `completed`).
        study: StudyStatus,
    },
    /// Change a concept's status.
    ChangeConceptStatus {
        /// Its current status.
        concept: ConceptStatus,
        /// The status decided.
        to: ConceptStatus,
    },
    /// Defer a need to next year.
    DeferNeed {
        /// Its current status (must be `accepted`).
        need: NeedStatus,
    },
    /// Decline a need.
    DeclineNeed {
        /// Its current status (must be `accepted`).
        need: NeedStatus,
    },
}

impl<F> DecisionAction<F> {
    /// The item's kind.
    pub const fn kind(&self) -> DecisionItemKind {
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
}

/// One item of a decision case. `T` identifies the need, study or concept acted
/// on; `F` identifies budget frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionItem<T, F> {
    /// The need (start/defer/decline), study (pause/resume/cancel/record concept)
    /// or concept (change status) the item acts on.
    pub target: T,
    /// What to do, with the target's current state.
    pub action: DecisionAction<F>,
    /// The board's answer.
    pub outcome: ItemOutcome,
}

/// A change the API must apply, all in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<F> {
    /// Move the target need to `to`.
    NeedStatus {
        /// Current status.
        from: NeedStatus,
        /// New status.
        to: NeedStatus,
    },
    /// Create a `not_started` study — for the target need, or (an additional study) for no
    /// need — and allocate `budget` from `frame`.
    CreateStudy {
        /// Frame to allocate from.
        frame: F,
        /// Amount in NOK.
        budget: i64,
    },
    /// Move the target study to `to`.
    StudyStatus {
        /// Current status.
        from: StudyStatus,
        /// New status.
        to: StudyStatus,
    },
    /// Release `amount` NOK back to `frame`.
    Release {
        /// Frame the money goes back to.
        frame: F,
        /// Amount in NOK.
        amount: i64,
    },
    /// Create an `active` concept from the target study.
    CreateConcept,
    /// Move the target concept to `to`.
    ConceptStatus {
        /// Current status.
        from: ConceptStatus,
        /// New status.
        to: ConceptStatus,
    },
}

/// One change, tied to the item (by index) that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEffect<T, F> {
    /// Index of the item in the decision case.
    pub index: usize,
    /// The item's target.
    pub target: T,
    /// What changes.
    pub change: Change<F>,
}

/// Why a decision cannot be applied: the first item that fails, by index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {index}: {reason}")]
pub struct ItemFailure {
    /// Index of the failing item in the decision case.
    pub index: usize,
    /// What is wrong with it.
    pub reason: DomainError,
}

/// Reserves a study's `budget` (> 0) from what `frame` has left after the approved starts
/// before it in the same decision.
fn fit_budget<'a, F>(
    index: usize,
    frame: &'a F,
    budget: i64,
    remaining: &HashMap<F, i64>,
    used: &mut HashMap<&'a F, i64>,
) -> Result<(), DomainError>
where
    F: Eq + Hash + fmt::Display,
{
    if budget <= 0 {
        return Err(DomainError::invalid(
            format!("items[{index}].budget"),
            "a study budget must be greater than 0",
        ));
    }
    let available = *remaining.get(frame).ok_or_else(|| {
        DomainError::invalid(
            format!("items[{index}].frame"),
            format!("unknown budget frame {frame}"),
        )
    })?;
    let so_far = used.entry(frame).or_insert(0);
    let left = available.saturating_sub(*so_far);
    if budget > left {
        return Err(DomainError::BudgetExceeded {
            requested: budget,
            remaining: left,
        });
    }
    *so_far += budget;
    Ok(())
}

/// Plans a board decision all-or-nothing: either every approved or amended item is
/// valid and the returned effects can all be applied, or nothing is.
///
/// Checks, in item order: each transition is allowed from the current state; no
/// target is acted on twice (additional studies act on none); start budgets are > 0;
/// and per frame, the sum of
/// approved start budgets fits `remaining` (money released by cancellations in
/// the same decision is not counted, so the outcome does not depend on item
/// order). Rejected items produce no effects and are not checked.
pub fn plan_decision<T, F>(
    items: &[DecisionItem<T, F>],
    remaining: &HashMap<F, i64>,
) -> Result<Vec<PlannedEffect<T, F>>, ItemFailure>
where
    T: Clone + Eq + Hash + fmt::Display,
    F: Clone + Eq + Hash + fmt::Display,
{
    let mut effects = Vec::new();
    let mut used: HashMap<&F, i64> = HashMap::new();
    let mut targets: HashSet<&T> = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        if !item.outcome.takes_effect() {
            continue;
        }
        let fail = |reason: DomainError| ItemFailure { index, reason };
        let acts_on_target = !matches!(item.action, DecisionAction::StartAdditionalStudy { .. });
        if acts_on_target && !targets.insert(&item.target) {
            return Err(fail(DomainError::conflict(format!(
                "{} is acted on by more than one approved item",
                item.target
            ))));
        }
        let changes = item_changes(index, &item.action, remaining, &mut used).map_err(fail)?;
        effects.extend(changes.into_iter().map(|change| PlannedEffect {
            index,
            target: item.target.clone(),
            change,
        }));
    }
    Ok(effects)
}

/// The changes one approved item makes, in the order they are applied, after
/// checking its transition (and, for a start, reserving its budget in `used`).
fn item_changes<'a, F>(
    index: usize,
    action: &'a DecisionAction<F>,
    remaining: &HashMap<F, i64>,
    used: &mut HashMap<&'a F, i64>,
) -> Result<Vec<Change<F>>, DomainError>
where
    F: Clone + Eq + Hash + fmt::Display,
{
    let create_study = |frame: &F, budget: i64| Change::CreateStudy {
        frame: frame.clone(),
        budget,
    };
    Ok(match action {
        DecisionAction::StartStudy {
            need,
            frame,
            budget,
        } => {
            let to = need.transition(NeedStatus::StudyStarted)?;
            fit_budget(index, frame, *budget, remaining, used)?;
            vec![
                Change::NeedStatus { from: *need, to },
                create_study(frame, *budget),
            ]
        }
        DecisionAction::StartAdditionalStudy { frame, budget } => {
            fit_budget(index, frame, *budget, remaining, used)?;
            vec![create_study(frame, *budget)]
        }
        DecisionAction::PauseStudy { study } => vec![study_change(*study, StudyStatus::Paused)?],
        DecisionAction::ResumeStudy { study } => vec![resume_study(*study)?],
        DecisionAction::CancelStudy {
            study,
            frame,
            unspent,
        } => cancel_study(index, *study, frame, *unspent)?,
        DecisionAction::RecordConcept { study } => vec![record_concept(*study)?],
        DecisionAction::ChangeConceptStatus { concept, to } => vec![Change::ConceptStatus {
            from: *concept,
            to: concept.transition(*to)?,
        }],
        DecisionAction::DeferNeed { need } => vec![need_change(*need, NeedStatus::Deferred)?],
        DecisionAction::DeclineNeed { need } => vec![need_change(*need, NeedStatus::Declined)?],
    })
}

fn need_change<F>(from: NeedStatus, to: NeedStatus) -> Result<Change<F>, DomainError> {
    Ok(Change::NeedStatus {
        from,
        to: from.transition(to)?,
    })
}

fn study_change<F>(from: StudyStatus, to: StudyStatus) -> Result<Change<F>, DomainError> {
    Ok(Change::StudyStatus {
        from,
        to: from.transition(to)?,
    })
}

/// Resuming means coming back from a pause, not starting fresh.
fn resume_study<F>(study: StudyStatus) -> Result<Change<F>, DomainError> {
    if study != StudyStatus::Paused {
        return Err(DomainError::transition(
            "study",
            study,
            StudyStatus::InProgress,
        ));
    }
    study_change(study, StudyStatus::InProgress)
}

/// Cancelling gives the study's unspent money back to its frame.
fn cancel_study<F: Clone>(
    index: usize,
    study: StudyStatus,
    frame: &F,
    unspent: i64,
) -> Result<Vec<Change<F>>, DomainError> {
    let cancel = study_change(study, StudyStatus::Cancelled)?;
    if unspent < 0 {
        return Err(DomainError::invalid(
            format!("items[{index}].unspent"),
            "must not be negative",
        ));
    }
    let release = (unspent > 0).then(|| Change::Release {
        frame: frame.clone(),
        amount: unspent,
    });
    Ok([Some(cancel), release].into_iter().flatten().collect())
}

fn record_concept<F>(study: StudyStatus) -> Result<Change<F>, DomainError> {
    if study != StudyStatus::Completed {
        return Err(DomainError::conflict(format!(
            "a concept can only come from a completed study; this one is {study}"
        )));
    }
    Ok(Change::CreateConcept)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = DecisionItem<String, &'static str>;

    fn item(target: &str, action: DecisionAction<&'static str>, outcome: ItemOutcome) -> Item {
        DecisionItem {
            target: target.to_string(),
            action,
            outcome,
        }
    }

    fn start(target: &str, budget: i64) -> Item {
        item(
            target,
            DecisionAction::StartStudy {
                need: NeedStatus::Accepted,
                frame: "F2023",
                budget,
            },
            ItemOutcome::Approved,
        )
    }

    fn frames(remaining: i64) -> HashMap<&'static str, i64> {
        [("F2023", remaining)].into()
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(DecisionItemKind::ALL, DecisionItemKind::as_str);
        crate::macros::assert_wire_enum(ItemOutcome::ALL, ItemOutcome::as_str);
        crate::macros::assert_wire_enum(CaseStatus::ALL, CaseStatus::as_str);
    }

    #[test]
    fn full_decision_plans_every_effect() {
        let items = vec![
            start("N1", 4_000_000),
            start("N2", 6_000_000),
            item(
                "N3",
                DecisionAction::DeferNeed {
                    need: NeedStatus::Accepted,
                },
                ItemOutcome::Approved,
            ),
            item(
                "N4",
                DecisionAction::DeclineNeed {
                    need: NeedStatus::Accepted,
                },
                ItemOutcome::Amended,
            ),
            item(
                "S1",
                DecisionAction::PauseStudy {
                    study: StudyStatus::InProgress,
                },
                ItemOutcome::Approved,
            ),
            item(
                "S2",
                DecisionAction::ResumeStudy {
                    study: StudyStatus::Paused,
                },
                ItemOutcome::Approved,
            ),
            item(
                "S3",
                DecisionAction::CancelStudy {
                    study: StudyStatus::NotStarted,
                    frame: "F2022",
                    unspent: 300,
                },
                ItemOutcome::Approved,
            ),
            item(
                "S4",
                DecisionAction::RecordConcept {
                    study: StudyStatus::Completed,
                },
                ItemOutcome::Approved,
            ),
            item(
                "C1",
                DecisionAction::ChangeConceptStatus {
                    concept: ConceptStatus::Active,
                    to: ConceptStatus::Paused,
                },
                ItemOutcome::Approved,
            ),
            // Rejected: neither checked nor applied, even though it would not fit.
            start("N5", 99_000_000_000),
        ];
        let mut items = items;
        items[9].outcome = ItemOutcome::Rejected;
        let effects = plan_decision(&items, &frames(10_000_000)).expect("valid decision");
        let kinds: Vec<(usize, &Change<&str>)> =
            effects.iter().map(|e| (e.index, &e.change)).collect();
        assert_eq!(
            kinds,
            [
                (
                    0,
                    &Change::NeedStatus {
                        from: NeedStatus::Accepted,
                        to: NeedStatus::StudyStarted
                    }
                ),
                (
                    0,
                    &Change::CreateStudy {
                        frame: "F2023",
                        budget: 4_000_000
                    }
                ),
                (
                    1,
                    &Change::NeedStatus {
                        from: NeedStatus::Accepted,
                        to: NeedStatus::StudyStarted
                    }
                ),
                (
                    1,
                    &Change::CreateStudy {
                        frame: "F2023",
                        budget: 6_000_000
                    }
                ),
                (
                    2,
                    &Change::NeedStatus {
                        from: NeedStatus::Accepted,
                        to: NeedStatus::Deferred
                    }
                ),
                (
                    3,
                    &Change::NeedStatus {
                        from: NeedStatus::Accepted,
                        to: NeedStatus::Declined
                    }
                ),
                (
                    4,
                    &Change::StudyStatus {
                        from: StudyStatus::InProgress,
                        to: StudyStatus::Paused
                    }
                ),
                (
                    5,
                    &Change::StudyStatus {
                        from: StudyStatus::Paused,
                        to: StudyStatus::InProgress
                    }
                ),
                (
                    6,
                    &Change::StudyStatus {
                        from: StudyStatus::NotStarted,
                        to: StudyStatus::Cancelled
                    }
                ),
                (
                    6,
                    &Change::Release {
                        frame: "F2022",
                        amount: 300
                    }
                ),
                (7, &Change::CreateConcept),
                (
                    8,
                    &Change::ConceptStatus {
                        from: ConceptStatus::Active,
                        to: ConceptStatus::Paused
                    }
                ),
            ]
        );
        assert_eq!(effects[0].target, "N1");
        assert_eq!(
            items[8].action.kind(),
            DecisionItemKind::ChangeConceptStatus
        );
    }

    #[test]
    fn summed_budgets_must_fit_and_failure_names_item() {
        let items = vec![
            start("N1", 4_000_000),
            start("N2", 4_000_000),
            start("N3", 2_000_001),
        ];
        let err = plan_decision(&items, &frames(10_000_000)).expect_err("over budget");
        assert_eq!(err.index, 2);
        assert_eq!(
            err.reason,
            DomainError::BudgetExceeded {
                requested: 2_000_001,
                remaining: 2_000_000
            }
        );
        assert!(err.to_string().starts_with("item 2: budget exceeded"));
        assert!(plan_decision(&items[..2], &frames(8_000_000)).is_ok());

        let unknown = vec![item(
            "N1",
            DecisionAction::StartStudy {
                need: NeedStatus::Accepted,
                frame: "NOPE",
                budget: 1,
            },
            ItemOutcome::Approved,
        )];
        assert!(matches!(
            plan_decision(&unknown, &frames(10)),
            Err(ItemFailure {
                index: 0,
                reason: DomainError::Invalid { .. }
            })
        ));
        assert!(matches!(
            plan_decision(&[start("N1", 0)], &frames(10)),
            Err(ItemFailure {
                index: 0,
                reason: DomainError::Invalid { .. }
            })
        ));
    }

    #[test]
    fn invalid_transitions_name_item() {
        let cases: Vec<Item> = vec![
            item(
                "N",
                DecisionAction::StartStudy {
                    need: NeedStatus::Submitted,
                    frame: "F2023",
                    budget: 1,
                },
                ItemOutcome::Approved,
            ),
            item(
                "S",
                DecisionAction::PauseStudy {
                    study: StudyStatus::Completed,
                },
                ItemOutcome::Approved,
            ),
            item(
                "S",
                DecisionAction::ResumeStudy {
                    study: StudyStatus::NotStarted,
                },
                ItemOutcome::Approved,
            ),
            item(
                "S",
                DecisionAction::CancelStudy {
                    study: StudyStatus::Cancelled,
                    frame: "F2023",
                    unspent: 0,
                },
                ItemOutcome::Approved,
            ),
            item(
                "S",
                DecisionAction::RecordConcept {
                    study: StudyStatus::InProgress,
                },
                ItemOutcome::Approved,
            ),
            item(
                "C",
                DecisionAction::ChangeConceptStatus {
                    concept: ConceptStatus::Realised,
                    to: ConceptStatus::Active,
                },
                ItemOutcome::Amended,
            ),
            item(
                "N",
                DecisionAction::DeferNeed {
                    need: NeedStatus::Deferred,
                },
                ItemOutcome::Approved,
            ),
            item(
                "N",
                DecisionAction::DeclineNeed {
                    need: NeedStatus::Rejected,
                },
                ItemOutcome::Approved,
            ),
        ];
        for case in cases {
            let items = vec![start("OK", 1), case.clone()];
            let err = plan_decision(&items, &frames(10)).expect_err("invalid");
            assert_eq!(err.index, 1, "{case:?}");
            assert!(
                matches!(
                    err.reason,
                    DomainError::InvalidTransition { .. } | DomainError::Conflict(_)
                ),
                "{case:?}"
            );
            // The same item rejected by the board is fine.
            let rejected = vec![
                start("OK", 1),
                Item {
                    outcome: ItemOutcome::Rejected,
                    ..case
                },
            ];
            assert!(plan_decision(&rejected, &frames(10)).is_ok());
        }
    }

    #[test]
    fn one_target_once() {
        let items = vec![
            item(
                "N1",
                DecisionAction::DeferNeed {
                    need: NeedStatus::Accepted,
                },
                ItemOutcome::Approved,
            ),
            item(
                "N1",
                DecisionAction::DeclineNeed {
                    need: NeedStatus::Accepted,
                },
                ItemOutcome::Approved,
            ),
        ];
        let err = plan_decision(&items, &frames(0)).expect_err("twice");
        assert_eq!(err.index, 1);
        assert!(matches!(err.reason, DomainError::Conflict(_)));
    }

    #[test]
    fn an_additional_study_needs_no_need_and_shares_the_frame() {
        let additional = |target: &str, budget: i64| {
            item(
                target,
                DecisionAction::StartAdditionalStudy {
                    frame: "F2023",
                    budget,
                },
                ItemOutcome::Approved,
            )
        };
        // Two additional studies may name the same target (their frame): they act on nothing.
        let items = vec![
            start("N1", 4_000_000),
            additional("F2023", 3_000_000),
            additional("F2023", 2_000_000),
        ];
        let effects = plan_decision(&items, &frames(10_000_000)).expect("fits");
        let changes: Vec<(usize, &Change<&str>)> =
            effects.iter().map(|e| (e.index, &e.change)).collect();
        assert_eq!(changes.len(), 4, "need status + study, then one study each");
        assert_eq!(
            changes[2],
            (
                1,
                &Change::CreateStudy {
                    frame: "F2023",
                    budget: 3_000_000
                }
            )
        );
        assert!(!effects[2..]
            .iter()
            .any(|e| matches!(e.change, Change::NeedStatus { .. })));
        // The same budget rules as any study: within the frame, counted with the others.
        let over = vec![start("N1", 6_000_000), additional("F2023", 4_000_001)];
        let err = plan_decision(&over, &frames(10_000_000)).expect_err("over budget");
        assert_eq!(err.index, 1);
        assert!(matches!(err.reason, DomainError::BudgetExceeded { .. }));
        let zero = plan_decision(&[additional("F2023", 0)], &frames(10)).expect_err("zero");
        assert!(matches!(zero.reason, DomainError::Invalid { .. }));
        assert_eq!(
            items[1].action.kind(),
            DecisionItemKind::StartAdditionalStudy
        );
    }
}
