//! A decision item's proposal: what the board is asked to do. Accepted as a request body,
//! stored as JSON with its case (`decision_items.proposal`) and shown back unchanged.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// Start a concept study that does not come from the cycle's needs — e.g. an interregional
    /// study run "in addition" on behalf of the four regions — with a budget from a frame
    /// (BP1). The same budget rules as any study.
    StartAdditionalStudy {
        /// The frame the budget comes from (`concept_studies` or `interregional`).
        frame_id: Uuid,
        /// Whole NOK, > 0.
        budget_nok: i64,
        /// The study's name.
        #[schema(min_length = 1, max_length = 200)]
        title: String,
        /// What the study is for (there is no need to say it).
        #[schema(min_length = 1, max_length = 10000)]
        purpose: String,
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

/// A concept's status on the wire (the domain's `ConceptStatus`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConceptStatusName {
    Active,
    Paused,
    Realised,
    Discontinued,
}

impl ConceptStatusName {
    pub fn domain(self) -> portfolio_domain::study::ConceptStatus {
        use portfolio_domain::study::ConceptStatus as C;
        match self {
            Self::Active => C::Active,
            Self::Paused => C::Paused,
            Self::Realised => C::Realised,
            Self::Discontinued => C::Discontinued,
        }
    }
    pub fn of(s: portfolio_domain::study::ConceptStatus) -> Self {
        use portfolio_domain::study::ConceptStatus as C;
        match s {
            C::Active => Self::Active,
            C::Paused => Self::Paused,
            C::Realised => Self::Realised,
            C::Discontinued => Self::Discontinued,
        }
    }
}
