//! Improvement measures, their delivery status and the status sync from the IT
//! partner.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::macros::wire_enum;
use crate::need::{validate_optional_text, validate_text};
use crate::state::StateMachine;

/// Longest milestone name or reporter name, in characters.
pub const SHORT_TEXT_MAX: usize = 200;
/// Longest delivery-status comment, in characters.
pub const COMMENT_MAX: usize = 4_000;
/// Most milestones in one delivery status.
pub const MILESTONES_MAX: usize = 100;

wire_enum! {
    /// Lifecycle of an improvement measure.
    pub enum MeasureStatus {
        /// Suggested through a service area's system owner.
        Proposed => "proposed",
        /// Accepted and scheduled.
        Planned => "planned",
        /// Being delivered by the IT partner.
        InDelivery => "in_delivery",
        /// Stopped for now.
        OnHold => "on_hold",
        /// Delivered (final).
        Delivered => "delivered",
        /// Given up (final).
        Cancelled => "cancelled",
    }
}

impl StateMachine for MeasureStatus {
    const ENTITY: &'static str = "measure";

    fn can_transition_to(self, to: Self) -> bool {
        use MeasureStatus::*;
        matches!(
            (self, to),
            (Proposed, Planned | Cancelled)
                | (Planned, InDelivery | OnHold | Cancelled)
                | (InDelivery, OnHold | Delivered | Cancelled)
                | (OnHold, Planned | InDelivery | Cancelled)
        )
    }

    fn all() -> &'static [Self] {
        Self::ALL
    }
}

wire_enum! {
    /// Health of a delivery (RAG).
    pub enum Rag {
        /// On plan.
        Green => "green",
        /// Some deviation from plan.
        Yellow => "yellow",
        /// Significant deviation from plan, or very likely not delivered as planned.
        Red => "red",
    }
}

wire_enum! {
    /// Kind of service area a measure belongs to.
    pub enum ServiceAreaKind {
        /// Clinical (e.g. Bildediagnostikk, Laboratorievirksomhet).
        Clinical => "clinical",
        /// Administrative (e.g. HR, Økonomi, innkjøp og logistikk).
        Administrative => "administrative",
    }
}

wire_enum! {
    /// What a sync did with one incoming delivery status.
    pub enum SyncOutcome {
        /// Stored (new, or newer than what was stored).
        Applied => "applied",
        /// Identical to what is stored (e.g. a retried batch); nothing changes.
        Unchanged => "unchanged",
        /// Older than what is stored, or same age with other content; ignored.
        Stale => "stale",
    }
}

/// A planned step of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// What is delivered at this step.
    pub name: String,
    /// When it is planned.
    pub planned_date: NaiveDate,
    /// When it was done, if it is.
    pub done_date: Option<NaiveDate>,
}

/// Delivery status of a measure as reported by the IT partner or a supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// Percent complete, 0–100.
    pub progress: u8,
    /// Health.
    pub rag: Rag,
    /// Expected delivery date.
    pub forecast_date: Option<NaiveDate>,
    /// Milestones, names unique.
    pub milestones: Vec<Milestone>,
    /// Free comment.
    pub comment: Option<String>,
    /// Who reported it: the IT partner or a named supplier.
    pub reported_by: String,
    /// When the reporting system produced this status; orders updates.
    pub source_timestamp: DateTime<Utc>,
}

impl DeliveryStatus {
    /// Checks ranges and texts; field names are relative (`milestones[1].name`).
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.progress > 100 {
            return Err(DomainError::invalid("progress", "must be from 0 to 100"));
        }
        validate_text("reported_by", &self.reported_by, SHORT_TEXT_MAX, true)?;
        validate_optional_text("comment", self.comment.as_deref(), COMMENT_MAX)?;
        if self.milestones.len() > MILESTONES_MAX {
            return Err(DomainError::invalid(
                "milestones",
                format!("at most {MILESTONES_MAX} milestones"),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, m) in self.milestones.iter().enumerate() {
            validate_text(
                &format!("milestones[{i}].name"),
                &m.name,
                SHORT_TEXT_MAX,
                true,
            )?;
            if !names.insert(m.name.trim()) {
                return Err(DomainError::invalid(
                    format!("milestones[{i}].name"),
                    format!("milestone {:?} appears more than once", m.name),
                ));
            }
        }
        Ok(())
    }
}

/// Decides what a sync does with `incoming` given what is `stored`.
///
/// - nothing stored → `Applied`;
/// - older than stored → `Stale` (sync never goes backwards);
/// - same timestamp, same content → `Unchanged` (a retried batch is a no-op);
/// - same timestamp, different content → `Stale`. Two different statuses
///   claiming the same moment cannot be ordered; keeping the first one means a
///   sync can never flip-flop between them, and the partner corrects it by
///   sending a newer timestamp;
/// - newer than stored → `Applied`, even when only the timestamp moved, because
///   the newer timestamp must be stored for later stale updates to be recognised.
pub fn classify_sync(stored: Option<&DeliveryStatus>, incoming: &DeliveryStatus) -> SyncOutcome {
    let Some(stored) = stored else {
        return SyncOutcome::Applied;
    };
    match incoming.source_timestamp.cmp(&stored.source_timestamp) {
        core::cmp::Ordering::Less => SyncOutcome::Stale,
        core::cmp::Ordering::Equal if incoming == stored => SyncOutcome::Unchanged,
        core::cmp::Ordering::Equal => SyncOutcome::Stale,
        core::cmp::Ordering::Greater => SyncOutcome::Applied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::assert_transitions;
    use chrono::TimeZone;

    fn status(seconds: i64) -> DeliveryStatus {
        DeliveryStatus {
            progress: 40,
            rag: Rag::Yellow,
            forecast_date: NaiveDate::from_ymd_opt(2024, 3, 1),
            milestones: vec![Milestone {
                name: "Pilot".into(),
                planned_date: NaiveDate::from_ymd_opt(2024, 1, 15).expect("date"),
                done_date: None,
            }],
            comment: Some("Forsinket leveranse fra underleverandør".into()),
            reported_by: "Sykehuspartner HF".into(),
            source_timestamp: Utc
                .timestamp_opt(1_700_000_000 + seconds, 0)
                .single()
                .expect("time"),
        }
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(MeasureStatus::ALL, MeasureStatus::as_str);
        crate::macros::assert_wire_enum(Rag::ALL, Rag::as_str);
        crate::macros::assert_wire_enum(ServiceAreaKind::ALL, ServiceAreaKind::as_str);
        crate::macros::assert_wire_enum(SyncOutcome::ALL, SyncOutcome::as_str);
    }

    #[test]
    fn every_measure_transition() {
        use MeasureStatus::*;
        assert_transitions(&[
            (Proposed, Planned),
            (Proposed, Cancelled),
            (Planned, InDelivery),
            (Planned, OnHold),
            (Planned, Cancelled),
            (InDelivery, OnHold),
            (InDelivery, Delivered),
            (InDelivery, Cancelled),
            (OnHold, Planned),
            (OnHold, InDelivery),
            (OnHold, Cancelled),
        ]);
        assert!(Delivered.is_final() && Cancelled.is_final());
    }

    #[test]
    fn delivery_status_validation() {
        assert!(status(0).validate().is_ok());
        let field = |s: DeliveryStatus| match s.validate() {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(DeliveryStatus {
                progress: 101,
                ..status(0)
            }),
            "progress"
        );
        assert_eq!(
            field(DeliveryStatus {
                reported_by: " ".into(),
                ..status(0)
            }),
            "reported_by"
        );
        assert_eq!(
            field(DeliveryStatus {
                comment: Some("a\u{0}".into()),
                ..status(0)
            }),
            "comment"
        );
        let mut dup = status(0);
        dup.milestones.push(dup.milestones[0].clone());
        assert_eq!(field(dup), "milestones[1].name");
        let mut blank = status(0);
        blank.milestones[0].name = String::new();
        assert_eq!(field(blank), "milestones[0].name");
    }

    #[test]
    fn sync_classification() {
        let stored = status(100);
        assert_eq!(classify_sync(None, &stored), SyncOutcome::Applied);
        assert_eq!(
            classify_sync(Some(&stored), &stored.clone()),
            SyncOutcome::Unchanged
        );
        assert_eq!(
            classify_sync(Some(&stored), &status(99)),
            SyncOutcome::Stale
        );
        let same_time_other = DeliveryStatus {
            rag: Rag::Red,
            ..status(100)
        };
        assert_eq!(
            classify_sync(Some(&stored), &same_time_other),
            SyncOutcome::Stale
        );
        assert_eq!(
            classify_sync(Some(&stored), &status(101)),
            SyncOutcome::Applied
        );
        let newer_other = DeliveryStatus {
            progress: 60,
            ..status(101)
        };
        assert_eq!(
            classify_sync(Some(&stored), &newer_other),
            SyncOutcome::Applied
        );
    }
}
