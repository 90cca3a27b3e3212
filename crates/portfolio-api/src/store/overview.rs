//! The portfolio overview of a budget year: a handful of aggregate queries. What they count
//! is shaped into the overview's answer by `routes/portfolio_overview.rs`.

use chrono::NaiveDate;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::study::StudyStatus;
use uuid::Uuid;

use crate::db::schema::{measures, needs, service_areas};
use crate::documents::tertial_report::{BenefitTotals, FrameLine};
use crate::store::tertial::{capture_frames, year_areas, Area};
use crate::store::{benefits, decisions, StoreError};

/// What the database counts for one budget year.
pub struct OverviewCounts {
    /// The year's service areas, in report order.
    pub areas: Vec<Area>,
    /// Measures of the year's service areas per (service area, status).
    pub measures: Vec<(Uuid, String, i64)>,
    /// Those measures per RAG (`None`: no status reported yet).
    pub rag: Vec<(Option<String>, i64)>,
    /// Needs of the year's cycle per status.
    pub needs: Vec<(String, i64)>,
    /// Concept studies funded from the year's frames per (status, proposing cycle year).
    pub funded_studies: Vec<(StudyStatus, i32, i64)>,
    pub frames: Vec<FrameLine>,
    /// Every benefit (not only the year's), as of `today`.
    pub benefits: BenefitTotals,
}

pub fn counts(
    conn: &mut PgConnection,
    year: i32,
    today: NaiveDate,
) -> Result<OverviewCounts, StoreError> {
    Ok(OverviewCounts {
        areas: year_areas(conn, year)?,
        measures: measures::table
            .inner_join(service_areas::table)
            .filter(service_areas::year.eq(year))
            .group_by((measures::service_area_id, measures::status))
            .select((measures::service_area_id, measures::status, count_star()))
            .load(conn)?,
        rag: measures::table
            .inner_join(service_areas::table)
            .filter(service_areas::year.eq(year))
            .group_by(measures::rag)
            .select((measures::rag, count_star()))
            .load(conn)?,
        needs: needs::table
            .filter(needs::cycle_year.eq(year))
            .group_by(needs::status)
            .select((needs::status, count_star()))
            .load(conn)?,
        funded_studies: decisions::studies_funded_in(conn, year)?,
        frames: capture_frames(conn, year)?,
        benefits: benefits::totals(&benefits::all(conn)?, today)?,
    })
}
