//! A tertial report's content: captured into a draft by `store::tertial::capture`, frozen
//! when published and served as stored from then on (see the module doc of `documents`).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::documents::checkpoint::Checkpoint;

/// What a report captures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportContent {
    /// Late milestones are those planned before this day and not done (the tertial's last
    /// day, or the capture day while the tertial is running).
    pub as_of: NaiveDate,
    /// The previous published tertial report the changes are measured against, e.g. `2022-T3`.
    pub previous_published: Option<String>,
    /// The improvement portfolio per service area.
    pub service_areas: Vec<AreaSection>,
    /// The concept studies the tertial reports on: those started from the previous and
    /// this year's cycles (`capture_concept_studies`).
    #[schema(value_type = Option<Vec<Object>>)]
    pub concept_studies: Option<serde_json::Value>,
    /// The year's budget frames.
    pub budget_frames: Vec<FrameLine>,
    /// Benefits realisation: every benefit with its progress as of `as_of`, and totals.
    /// Absent in reports captured before benefits were tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benefits: Option<BenefitSection>,
    /// The audit chain's newest signed checkpoint when the report was published: a reader who
    /// keeps the report can later verify the chain against it (`/api/v1/audit/verify?against=`)
    /// and detect a removed tail. Absent in drafts and in reports published before checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_checkpoint: Option<Checkpoint>,
}

/// The tertial report's benefits section.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BenefitSection {
    pub totals: BenefitTotals,
    pub benefits: Vec<BenefitLine>,
}

/// One benefit in a tertial report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BenefitLine {
    pub benefit_id: Uuid,
    pub title: String,
    /// `concept_study`, `concept` or `measure`.
    pub parent_kind: String,
    pub parent_id: Uuid,
    pub need_id: Option<Uuid>,
    pub category: String,
    pub owner_org: String,
    pub status: String,
    pub indicator: String,
    pub unit: String,
    pub direction: String,
    pub baseline_value: f64,
    pub baseline_date: NaiveDate,
    pub target_value: f64,
    pub target_date: NaiveDate,
    pub latest_value: Option<f64>,
    pub latest_measured_on: Option<NaiveDate>,
    pub realised_share: Option<f64>,
    pub expected_share: f64,
    pub rag: Option<String>,
    pub stale: bool,
    pub yearly_value_nok: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AreaSection {
    pub service_area_id: Uuid,
    pub name: String,
    pub kind: String,
    pub measure_count: i64,
    /// Measures per lifecycle status.
    pub by_status: BTreeMap<String, i64>,
    /// Measures per RAG health (`none` = no status reported yet).
    pub by_rag: BTreeMap<String, i64>,
    /// Measures whose status or RAG differs from the previous published report.
    pub changed_since_previous: Vec<ChangeLine>,
    pub late_milestones: Vec<LateMilestone>,
    pub measures: Vec<MeasureLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MeasureLine {
    pub measure_id: Uuid,
    pub partner_reference: String,
    pub title: String,
    pub status: String,
    pub rag: Option<String>,
    pub progress: Option<i16>,
    pub forecast_date: Option<NaiveDate>,
    pub late_milestones: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeLine {
    pub measure_id: Uuid,
    pub partner_reference: String,
    /// Status in the previous report (`null`: the measure was not in it).
    pub previous_status: Option<String>,
    pub status: String,
    pub previous_rag: Option<String>,
    pub rag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LateMilestone {
    pub measure_id: Uuid,
    pub partner_reference: String,
    pub name: String,
    pub planned_date: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FrameLine {
    pub sub_portfolio: String,
    pub amount_nok: i64,
    pub allocated_nok: i64,
    pub spent_nok: i64,
    pub remaining_nok: i64,
}

/// Counts and money of a set of benefits on a day: the overview's and the tertial
/// report's benefits figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BenefitTotals {
    /// Number of benefits.
    pub total: i64,
    /// Benefits per status.
    pub by_status: BTreeMap<String, i64>,
    /// Benefits per RAG (`none` = cancelled, no longer followed up).
    pub by_rag: BTreeMap<String, i64>,
    /// Benefits in realisation with no measurement for more than six months.
    pub stale: i64,
    /// Priced benefits (not cancelled): yearly NOK value when fully realised.
    pub priced_planned_nok_per_year: i64,
    /// Priced benefits (not cancelled): yearly NOK value times realised share (pro rata
    /// of the indicator's movement towards its target).
    pub priced_realised_nok_per_year: i64,
}
