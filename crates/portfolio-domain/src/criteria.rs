//! The year's criteria set: what needs are screened and scored on.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, FieldPath};
use crate::macros::wire_enum;
use crate::need::{validate_optional_text, validate_text, NeedStatus, REASON_MAX};

/// Longest criterion code, in characters.
pub const CODE_MAX: usize = 16;
/// Longest criterion name or scale label, in characters.
pub const NAME_MAX: usize = 200;
/// Longest criterion description, in characters.
pub const DESCRIPTION_MAX: usize = 4_000;

wire_enum! {
    /// What a criterion is used for.
    pub enum CriterionKind {
        /// Pass/fail, judged by the portfolio office at first assessment; no weight, no scale.
        Screening => "screening",
        /// Scored by every health trust; the only kind that feeds the ranking.
        Prioritisation => "prioritisation",
    }
}

wire_enum! {
    /// Lifecycle of a criteria set. Adopted sets are frozen because scores already
    /// given against them would change meaning if a weight or scale moved.
    pub enum CriteriaSetStatus {
        /// Being prepared; may change freely.
        Draft => "draft",
        /// Adopted for the year; never changes again.
        Adopted => "adopted",
    }
}

impl CriteriaSetStatus {
    /// Refuses changes to an adopted set.
    pub fn ensure_editable(self) -> Result<(), DomainError> {
        match self {
            Self::Draft => Ok(()),
            Self::Adopted => Err(DomainError::conflict(
                "the criteria set is adopted and can no longer be changed",
            )),
        }
    }

    /// Adopts a draft set after checking it is complete: valid criteria and at least
    /// one prioritisation criterion (otherwise trusts would have nothing to score).
    pub fn adopt(self, criteria: &[Criterion]) -> Result<Self, DomainError> {
        if self != Self::Draft {
            return Err(DomainError::transition("criteria set", self, Self::Adopted));
        }
        validate_criteria(criteria)?;
        if !criteria
            .iter()
            .any(|c| c.kind == CriterionKind::Prioritisation)
        {
            return Err(DomainError::invalid(
                "criteria",
                "an adopted set needs at least one prioritisation criterion",
            ));
        }
        Ok(Self::Adopted)
    }
}

/// One named point on a criterion's scale, e.g. `5 = "very high benefit"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleStep {
    /// Scale value the label belongs to.
    pub value: i32,
    /// What the value means.
    pub label: String,
}

wire_enum! {
    /// The result of screening a need against one screening criterion.
    pub enum ScreeningResult {
        /// The need meets the criterion.
        Pass => "pass",
        /// The need does not meet the criterion.
        Fail => "fail",
    }
}

/// The screening results of a first assessment: criterion code → pass or fail.
pub type Screening = BTreeMap<String, ScreeningResult>;

/// The weight a screening criterion is stored with: it has none, and nothing reads it.
pub const SCREENING_WEIGHT: f64 = 0.0;
/// The scale a screening criterion is stored with (`0..=1`): it has none, and nothing reads it.
pub const SCREENING_SCALE: (i32, i32) = (0, 1);

/// One criterion of a criteria set.
///
/// `weight` and the scale belong to prioritisation criteria. A screening criterion is
/// pass/fail: it has neither, and is stored with [`SCREENING_WEIGHT`] and
/// [`SCREENING_SCALE`] (built by [`Criterion::screening`]), which no rule reads — scoring
/// and ranking use prioritisation criteria only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Short stable code, `A-Z`, `0-9`, `_`, 1 to 16 characters (e.g. `PATIENT_SAFETY`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Longer explanation for the scorers; may be empty.
    pub description: String,
    /// Screening or prioritisation.
    pub kind: CriterionKind,
    /// Relative weight, finite and > 0. Only ratios between weights matter.
    pub weight: f64,
    /// Lowest scale value.
    pub scale_min: i32,
    /// Highest scale value, > `scale_min`.
    pub scale_max: i32,
    /// Optional labels for scale values.
    pub scale_labels: Vec<ScaleStep>,
}

impl Criterion {
    /// A pass/fail screening criterion.
    pub fn screening(code: &str, name: &str, description: &str) -> Self {
        Self {
            code: code.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            kind: CriterionKind::Screening,
            weight: SCREENING_WEIGHT,
            scale_min: SCREENING_SCALE.0,
            scale_max: SCREENING_SCALE.1,
            scale_labels: Vec::new(),
        }
    }

    /// Checks one criterion; field names in errors are relative (`weight`, ...).
    pub fn validate(&self) -> Result<(), DomainError> {
        validate_code("code", &self.code)?;
        validate_text("name", &self.name, NAME_MAX, true)?;
        validate_text("description", &self.description, DESCRIPTION_MAX, false)?;
        match self.kind {
            CriterionKind::Screening => self.validate_pass_fail(),
            CriterionKind::Prioritisation => self.validate_scale(),
        }
    }

    /// A screening criterion has no weight and no scale.
    fn validate_pass_fail(&self) -> Result<(), DomainError> {
        let no = |field: &str, what: &str| {
            DomainError::invalid(
                field,
                format!("a screening criterion is pass/fail and has no {what}"),
            )
        };
        if self.weight != SCREENING_WEIGHT {
            return Err(no("weight", "weight"));
        }
        if (self.scale_min, self.scale_max) != SCREENING_SCALE {
            return Err(no("scale_min", "scale"));
        }
        if !self.scale_labels.is_empty() {
            return Err(no("scale_labels", "scale"));
        }
        Ok(())
    }

    /// A prioritisation criterion's weight and scale.
    fn validate_scale(&self) -> Result<(), DomainError> {
        if !self.weight.is_finite() || self.weight <= 0.0 {
            return Err(DomainError::invalid(
                "weight",
                "must be a finite number greater than 0",
            ));
        }
        if self.scale_min >= self.scale_max {
            return Err(DomainError::invalid(
                "scale_max",
                format!("must be greater than scale_min ({})", self.scale_min),
            ));
        }
        let mut seen = HashSet::new();
        for (i, step) in self.scale_labels.iter().enumerate() {
            if !self.in_scale(step.value) {
                return Err(DomainError::invalid(
                    format!("scale_labels[{i}].value"),
                    format!(
                        "{} is outside the scale {}..={}",
                        step.value, self.scale_min, self.scale_max
                    ),
                ));
            }
            if !seen.insert(step.value) {
                return Err(DomainError::invalid(
                    format!("scale_labels[{i}].value"),
                    format!("value {} has more than one label", step.value),
                ));
            }
            validate_text(
                &format!("scale_labels[{i}].label"),
                &step.label,
                NAME_MAX,
                true,
            )?;
        }
        Ok(())
    }

    /// Whether `value` lies on this criterion's scale.
    pub fn in_scale(&self, value: i32) -> bool {
        (self.scale_min..=self.scale_max).contains(&value)
    }

    /// Maps a scale value to 0..=1. Absolute (depends only on the scale, never on
    /// other needs), so adding a need cannot change another need's score.
    pub fn normalise(&self, value: i32) -> f64 {
        // i64 so extreme i32 scales cannot overflow the span.
        let span = i64::from(self.scale_max) - i64::from(self.scale_min);
        (i64::from(value) - i64::from(self.scale_min)) as f64 / span as f64
    }
}

/// Checks a criterion code by hand (`^[A-Z0-9_]{1,16}$`) rather than with a regex
/// dependency.
pub fn validate_code(field: &str, code: &str) -> Result<(), DomainError> {
    let ok = !code.is_empty()
        && code.len() <= CODE_MAX
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{code:?} must be 1 to {CODE_MAX} characters of A-Z, 0-9 and _"),
        ))
    }
}

/// Checks a whole set: each criterion valid, codes unique. Errors name the
/// criterion by position (`criteria[2].weight`).
pub fn validate_criteria(criteria: &[Criterion]) -> Result<(), DomainError> {
    let mut codes = HashSet::new();
    for (i, c) in criteria.iter().enumerate() {
        c.validate().map_err(|e| match e {
            DomainError::Invalid { field, message } => DomainError::invalid(
                FieldPath::root().key("criteria").index(i).join(field),
                message,
            ),
            other => other,
        })?;
        if !codes.insert(c.code.as_str()) {
            return Err(DomainError::invalid(
                format!("criteria[{i}].code"),
                format!("code {} is used more than once", c.code),
            ));
        }
    }
    Ok(())
}

/// Checks the screening results of a first assessment against a set: every screening
/// criterion of the set exactly once, each pass or fail; prioritisation criteria and unknown
/// codes are refused. Errors name the entry (`screening[i]`) or `screening` for a missing
/// criterion.
pub fn validate_screening<'a, I>(
    criteria: &[Criterion],
    values: I,
) -> Result<Screening, DomainError>
where
    I: IntoIterator<Item = (&'a str, ScreeningResult)>,
{
    let mut out = Screening::new();
    for (i, (code, result)) in values.into_iter().enumerate() {
        let field = format!("screening[{i}]");
        let c = criteria
            .iter()
            .find(|c| c.code == code)
            .ok_or_else(|| DomainError::invalid(&field, format!("unknown criterion {code:?}")))?;
        if c.kind != CriterionKind::Screening {
            return Err(DomainError::invalid(
                &field,
                format!("criterion {code} is a prioritisation criterion; it is scored by the trusts, not screened"),
            ));
        }
        if out.insert(code.to_string(), result).is_some() {
            return Err(DomainError::invalid(
                &field,
                format!("criterion {code} is given more than once"),
            ));
        }
    }
    if let Some(missing) = criteria
        .iter()
        .find(|c| c.kind == CriterionKind::Screening && !out.contains_key(&c.code))
    {
        return Err(DomainError::invalid(
            "screening",
            format!("screening criterion {} has no result", missing.code),
        ));
    }
    Ok(out)
}

/// The override rule of a first assessment: accepting a need that fails a screening
/// criterion needs a written reason (`override_reason`), so the exception is on record; a
/// reason where nothing is overridden (a rejection, or every criterion passed) is refused so
/// the record never claims an override that did not happen.
pub fn check_override(
    decision: NeedStatus,
    screening: &Screening,
    override_reason: Option<&str>,
) -> Result<(), DomainError> {
    validate_optional_text("override_reason", override_reason, REASON_MAX)?;
    let failed: Vec<&str> = screening
        .iter()
        .filter(|(_, r)| **r == ScreeningResult::Fail)
        .map(|(code, _)| code.as_str())
        .collect();
    let overrides = decision == NeedStatus::Accepted && !failed.is_empty();
    match (overrides, override_reason) {
        (true, None) => Err(DomainError::invalid(
            "override_reason",
            format!(
                "the need fails screening criterion {}; accepting it needs an override reason",
                failed.join(", ")
            ),
        )),
        (false, Some(_)) => Err(DomainError::invalid(
            "override_reason",
            "only accepting a need that fails a screening criterion takes an override reason",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) fn criterion(
    code: &str,
    kind: CriterionKind,
    weight: f64,
    min: i32,
    max: i32,
) -> Criterion {
    if kind == CriterionKind::Screening {
        return Criterion::screening(code, &format!("Criterion {code}"), "");
    }
    Criterion {
        code: code.to_string(),
        name: format!("Criterion {code}"),
        description: String::new(),
        kind,
        weight,
        scale_min: min,
        scale_max: max,
        scale_labels: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: DomainError) -> String {
        match e {
            DomainError::Invalid { field, .. } => field.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(CriterionKind::ALL, CriterionKind::as_str);
        crate::macros::assert_wire_enum(CriteriaSetStatus::ALL, CriteriaSetStatus::as_str);
    }

    #[test]
    fn codes() {
        for ok in ["A", "PATIENT_SAFETY", "K1", "ABCDEFGHIJKLMNOP"] {
            assert!(validate_code("code", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "A-B", "ABCDEFGHIJKLMNOPQ", "Æ", "A B"] {
            assert!(validate_code("code", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn criterion_rules() {
        let good = criterion("K1", CriterionKind::Prioritisation, 2.0, 1, 5);
        assert!(good.validate().is_ok());
        for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let c = Criterion {
                weight: w,
                ..good.clone()
            };
            assert_eq!(field_of(c.validate().expect_err("bad weight")), "weight");
        }
        let c = Criterion {
            scale_min: 5,
            scale_max: 5,
            ..good.clone()
        };
        assert_eq!(
            field_of(c.validate().expect_err("empty scale")),
            "scale_max"
        );
        let step = |value: i32, label: &str| ScaleStep {
            value,
            label: label.into(),
        };
        let c = Criterion {
            scale_labels: vec![step(1, "low"), step(5, "high")],
            ..good.clone()
        };
        assert!(c.validate().is_ok());
        let c = Criterion {
            scale_labels: vec![step(6, "too high")],
            ..good.clone()
        };
        assert_eq!(
            field_of(c.validate().expect_err("out of range")),
            "scale_labels[0].value"
        );
        let c = Criterion {
            scale_labels: vec![step(1, "a"), step(1, "b")],
            ..good.clone()
        };
        assert_eq!(
            field_of(c.validate().expect_err("duplicate")),
            "scale_labels[1].value"
        );
        let c = Criterion {
            scale_labels: vec![step(2, " ")],
            ..good.clone()
        };
        assert_eq!(
            field_of(c.validate().expect_err("blank")),
            "scale_labels[0].label"
        );
        let c = Criterion {
            name: String::new(),
            ..good
        };
        assert_eq!(field_of(c.validate().expect_err("no name")), "name");
    }

    #[test]
    fn normalise_is_absolute_and_overflow_free() {
        let c = criterion("K", CriterionKind::Prioritisation, 1.0, 1, 5);
        assert_eq!(c.normalise(1), 0.0);
        assert_eq!(c.normalise(3), 0.5);
        assert_eq!(c.normalise(5), 1.0);
        let wide = criterion("W", CriterionKind::Prioritisation, 1.0, i32::MIN, i32::MAX);
        assert_eq!(wide.normalise(i32::MAX), 1.0);
    }

    #[test]
    fn screening_results_are_pass_or_fail() {
        use ScreeningResult::{Fail, Pass};
        let set = [
            criterion("P", CriterionKind::Prioritisation, 1.0, 0, 4),
            Criterion::screening("S", "Strategi", ""),
            Criterion::screening("T", "Teknologi", ""),
        ];
        let ok = validate_screening(&set, [("S", Pass), ("T", Fail)]).expect("valid");
        assert_eq!(ok.get("T"), Some(&Fail));
        let f = |r: Result<Screening, DomainError>| field_of(r.expect_err("invalid"));
        assert_eq!(f(validate_screening(&set, [("S", Pass)])), "screening");
        assert_eq!(
            f(validate_screening(&set, [("S", Pass), ("P", Pass)])),
            "screening[1]"
        );
        assert_eq!(
            f(validate_screening(&set, [("S", Pass), ("X", Pass)])),
            "screening[1]"
        );
        assert_eq!(
            f(validate_screening(
                &set,
                [("S", Pass), ("T", Pass), ("S", Fail)]
            )),
            "screening[2]"
        );
        let none = [criterion("P", CriterionKind::Prioritisation, 1.0, 0, 4)];
        assert!(validate_screening(&none, [])
            .expect("nothing to screen")
            .is_empty());
    }

    #[test]
    fn a_screening_criterion_has_no_weight_and_no_scale() {
        let s = Criterion::screening("S", "Strategi", "");
        assert!(s.validate().is_ok());
        let weighted = Criterion {
            weight: 2.0,
            ..s.clone()
        };
        assert_eq!(field_of(weighted.validate().expect_err("weight")), "weight");
        let scaled = Criterion {
            scale_max: 5,
            ..s.clone()
        };
        assert_eq!(field_of(scaled.validate().expect_err("scale")), "scale_min");
        let labelled = Criterion {
            scale_labels: vec![ScaleStep {
                value: 1,
                label: "Ja".into(),
            }],
            ..s
        };
        assert_eq!(
            field_of(labelled.validate().expect_err("labels")),
            "scale_labels"
        );
    }

    #[test]
    fn accepting_a_failed_need_needs_an_override_reason() {
        use ScreeningResult::{Fail, Pass};
        let failed: Screening = [("S".to_owned(), Fail), ("T".to_owned(), Pass)].into();
        let passed: Screening = [("S".to_owned(), Pass)].into();
        let accepted = NeedStatus::Accepted;
        let rejected = NeedStatus::Rejected;
        let e = check_override(accepted, &failed, None).expect_err("no reason");
        assert_eq!(field_of(e.clone()), "override_reason");
        assert!(e.to_string().contains('S'), "{e}");
        assert_eq!(
            field_of(check_override(accepted, &failed, Some(" ")).expect_err("blank")),
            "override_reason"
        );
        assert!(check_override(accepted, &failed, Some("Lovkrav")).is_ok());
        // Nothing to override: a reason would claim an exception that did not happen.
        for (decision, screening) in [(accepted, &passed), (rejected, &failed)] {
            assert_eq!(
                field_of(check_override(decision, screening, Some("x")).expect_err("nothing")),
                "override_reason"
            );
            assert!(check_override(decision, screening, None).is_ok());
        }
        assert!(check_override(accepted, &Screening::new(), None).is_ok());
    }

    #[test]
    fn set_rules_and_adoption() {
        let p = criterion("P", CriterionKind::Prioritisation, 1.0, 0, 4);
        let s = criterion("S", CriterionKind::Screening, 1.0, 0, 1);
        assert!(validate_criteria(&[p.clone(), s.clone()]).is_ok());
        let e = validate_criteria(&[p.clone(), s.clone(), p.clone()]).expect_err("duplicate");
        assert_eq!(field_of(e), "criteria[2].code");
        let bad = Criterion {
            weight: 1.0,
            ..s.clone()
        };
        assert_eq!(
            field_of(validate_criteria(&[p.clone(), bad]).expect_err("weight")),
            "criteria[1].weight"
        );

        let draft = CriteriaSetStatus::Draft;
        assert!(draft.ensure_editable().is_ok());
        assert!(
            draft.adopt(std::slice::from_ref(&s)).is_err(),
            "needs a prioritisation criterion"
        );
        let adopted = draft.adopt(&[p.clone(), s]).expect("adoptable");
        assert_eq!(adopted, CriteriaSetStatus::Adopted);
        assert!(matches!(
            adopted.ensure_editable(),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            adopted.adopt(&[p]),
            Err(DomainError::InvalidTransition { .. })
        ));
    }
}
