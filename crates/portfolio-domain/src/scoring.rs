//! Score sheets and the per-need summary (overall score, coverage, dispersion,
//! per-criterion breakdown) that the ranking is built from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::criteria::{validate_criteria, Criterion, CriterionKind};
use crate::error::DomainError;
use crate::macros::wire_enum;
use crate::need::NeedReference;

/// One trust's scores for one need: criterion code → scale value.
pub type ScoreSheet = BTreeMap<String, i32>;

wire_enum! {
    /// How the per-trust scores of a need are combined into its overall score.
    #[derive(Default)]
    pub enum Aggregation {
        /// Arithmetic mean (the default).
        #[default]
        Mean => "mean",
        /// Median; less swayed by one trust that disagrees strongly.
        Median => "median",
        /// Mean after standardising each trust's scores per criterion, so a
        /// lenient or strict trust counts like an average one (see
        /// [`crate::calibration`]).
        Calibrated => "calibrated",
    }
}

/// Checks one trust's sheet against the criteria and returns it as a map.
///
/// Every prioritisation criterion must be scored exactly once, with a value on its
/// scale; screening criteria and unknown codes are refused. Errors name the code
/// (and the scale when the value is off it); `field` is `scores[i]` for the i-th
/// entry, or `scores` for a missing criterion.
pub fn validate_sheet<'a, I>(criteria: &[Criterion], values: I) -> Result<ScoreSheet, DomainError>
where
    I: IntoIterator<Item = (&'a str, i32)>,
{
    let mut sheet = ScoreSheet::new();
    for (i, (code, value)) in values.into_iter().enumerate() {
        let field = format!("scores[{i}]");
        let c = criteria
            .iter()
            .find(|c| c.code == code)
            .ok_or_else(|| DomainError::invalid(&field, format!("unknown criterion {code:?}")))?;
        if c.kind != CriterionKind::Prioritisation {
            return Err(DomainError::invalid(
                &field,
                format!("criterion {code} is a screening criterion; trusts score only prioritisation criteria"),
            ));
        }
        if !c.in_scale(value) {
            return Err(DomainError::invalid(
                &field,
                format!(
                    "{value} is outside the scale {}..={} of criterion {code}",
                    c.scale_min, c.scale_max
                ),
            ));
        }
        if sheet.insert(code.to_string(), value).is_some() {
            return Err(DomainError::invalid(
                &field,
                format!("criterion {code} is scored more than once"),
            ));
        }
    }
    if let Some(missing) = criteria
        .iter()
        .find(|c| c.kind == CriterionKind::Prioritisation && !sheet.contains_key(&c.code))
    {
        return Err(DomainError::invalid(
            "scores",
            format!("criterion {} has no score", missing.code),
        ));
    }
    Ok(sheet)
}

/// The prioritisation criteria of a set, prepared for scoring many sheets.
#[derive(Debug, Clone)]
pub struct ScoringModel {
    criteria: Vec<Criterion>,
    weight_sum: f64,
}

impl ScoringModel {
    /// Validates the set and keeps its prioritisation criteria (in the given order).
    pub fn new(criteria: &[Criterion]) -> Result<Self, DomainError> {
        validate_criteria(criteria)?;
        let criteria: Vec<Criterion> = criteria
            .iter()
            .filter(|c| c.kind == CriterionKind::Prioritisation)
            .cloned()
            .collect();
        if criteria.is_empty() {
            return Err(DomainError::invalid(
                "criteria",
                "there is no prioritisation criterion to score on",
            ));
        }
        let weight_sum = criteria.iter().map(|c| c.weight).sum();
        Ok(Self {
            criteria,
            weight_sum,
        })
    }

    /// The prioritisation criteria, in breakdown order.
    pub fn criteria(&self) -> &[Criterion] {
        &self.criteria
    }

    /// One trust's 0–100 score and its parts per criterion (same order as
    /// [`criteria`](Self::criteria)); the parts sum to the score.
    ///
    /// part_i = 100 · weight_i · (value_i − min_i)/(max_i − min_i) / Σ weights.
    /// Dividing by the weight sum keeps the score in 0..=100 whatever the weights,
    /// and makes scaling all weights by a constant a no-op.
    pub fn trust_parts(&self, sheet: &ScoreSheet) -> Result<(f64, Vec<f64>), DomainError> {
        let mut parts = Vec::with_capacity(self.criteria.len());
        let mut score = 0.0;
        for c in &self.criteria {
            let value = *sheet.get(&c.code).ok_or_else(|| {
                DomainError::invalid("scores", format!("criterion {} has no score", c.code))
            })?;
            if !c.in_scale(value) {
                return Err(DomainError::invalid(
                    "scores",
                    format!(
                        "{value} is outside the scale {}..={} of criterion {}",
                        c.scale_min, c.scale_max, c.code
                    ),
                ));
            }
            let part = 100.0 * c.weight * c.normalise(value) / self.weight_sum;
            score += part;
            parts.push(part);
        }
        if sheet.len() != self.criteria.len() {
            return Err(DomainError::invalid(
                "scores",
                "the sheet scores criteria outside the prioritisation set",
            ));
        }
        Ok((score, parts))
    }
}

/// One trust's complete sheet for a need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustSheet {
    /// The trust, by organisation number.
    pub trust: String,
    /// Its scores.
    pub values: ScoreSheet,
}

/// All sheets given for one need (possibly none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedScores {
    /// The need.
    pub reference: NeedReference,
    /// One sheet per trust that scored it, in any order.
    pub sheets: Vec<TrustSheet>,
}

/// A trust's 0–100 score for a need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustScore {
    /// The trust, by organisation number.
    pub trust: String,
    /// Its weighted, normalised score, 0–100.
    pub score: f64,
}

/// How much one criterion adds to a need's mean score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionContribution {
    /// Criterion code.
    pub code: String,
    /// The criterion's share of the total weight, 0–1.
    pub weight_share: f64,
    /// Mean over the scoring trusts of the criterion's part of their score, in
    /// score points; the contributions of a need sum to its mean score.
    pub contribution: f64,
}

/// Everything the ranking knows about one need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeedSummary {
    /// The need.
    pub reference: NeedReference,
    /// Score used for ranking (mean or median, per the chosen [`Aggregation`]);
    /// `None` when no trust has scored: unscored is not the same as zero.
    pub overall: Option<f64>,
    /// Mean of the per-trust scores.
    pub mean: Option<f64>,
    /// Median of the per-trust scores.
    pub median: Option<f64>,
    /// How many trusts scored the need.
    pub coverage: usize,
    /// Population standard deviation of the per-trust scores: how much the trusts
    /// disagree (0 with a single trust).
    pub dispersion: Option<f64>,
    /// Per-trust scores, ordered by trust.
    pub trust_scores: Vec<TrustScore>,
    /// Per-criterion breakdown of the mean score; empty when unscored.
    pub contributions: Vec<CriterionContribution>,
}

/// Summarises one need. Sheets are sorted by trust first, so the result (down to
/// the last bit of every float) does not depend on the order trusts scored in.
///
/// With [`Aggregation::Calibrated`] the sheets are taken as they are (a single
/// need carries no calibration); [`crate::ranking::rank`] calibrates across needs
/// first.
pub fn summarise(
    model: &ScoringModel,
    need: &NeedScores,
    aggregation: Aggregation,
) -> Result<NeedSummary, DomainError> {
    let sheets = normalised_sheets(model, need)?;
    Ok(summarise_normalised(
        model,
        need.reference,
        &sheets,
        aggregation,
    ))
}

/// One trust's values for one need, each mapped to 0..=1 on its criterion's
/// scale, in the model's criterion order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NormalisedSheet {
    pub(crate) trust: String,
    pub(crate) values: Vec<f64>,
}

/// Checks a need's sheets and maps them to 0..=1, sorted by trust.
pub(crate) fn normalised_sheets(
    model: &ScoringModel,
    need: &NeedScores,
) -> Result<Vec<NormalisedSheet>, DomainError> {
    let mut sheets: Vec<&TrustSheet> = need.sheets.iter().collect();
    sheets.sort_by(|a, b| a.trust.cmp(&b.trust));
    if let Some(w) = sheets.windows(2).find(|w| w[0].trust == w[1].trust) {
        return Err(DomainError::conflict(format!(
            "need {} has more than one score sheet from trust {}",
            need.reference, w[0].trust
        )));
    }
    sheets
        .into_iter()
        .map(|sheet| {
            model.trust_parts(&sheet.values).map_err(|e| match e {
                DomainError::Invalid { message, .. } => DomainError::invalid(
                    "scores",
                    format!("need {}, trust {}: {message}", need.reference, sheet.trust),
                ),
                other => other,
            })?;
            let values = model
                .criteria
                .iter()
                .map(|c| c.normalise(sheet.values[&c.code]))
                .collect();
            Ok(NormalisedSheet {
                trust: sheet.trust.clone(),
                values,
            })
        })
        .collect()
}

/// The summary of one need from its normalised sheets (sorted by trust).
pub(crate) fn summarise_normalised(
    model: &ScoringModel,
    reference: NeedReference,
    sheets: &[NormalisedSheet],
    aggregation: Aggregation,
) -> NeedSummary {
    let n_criteria = model.criteria.len();
    let mut trust_scores = Vec::with_capacity(sheets.len());
    let mut part_sums = vec![0.0; n_criteria];
    for sheet in sheets {
        let mut score = 0.0;
        for ((c, v), sum) in model.criteria.iter().zip(&sheet.values).zip(&mut part_sums) {
            let part = 100.0 * c.weight * v / model.weight_sum;
            score += part;
            *sum += part;
        }
        trust_scores.push(TrustScore {
            trust: sheet.trust.clone(),
            score,
        });
    }

    let coverage = trust_scores.len();
    let (mean, median, dispersion, contributions) = if coverage == 0 {
        (None, None, None, Vec::new())
    } else {
        let n = coverage as f64;
        let mean = trust_scores.iter().map(|t| t.score).sum::<f64>() / n;
        let variance = trust_scores
            .iter()
            .map(|t| (t.score - mean).powi(2))
            .sum::<f64>()
            / n;
        let mut sorted: Vec<f64> = trust_scores.iter().map(|t| t.score).collect();
        sorted.sort_by(f64::total_cmp);
        let mid = coverage / 2;
        let median = if coverage % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        let contributions = model
            .criteria
            .iter()
            .zip(&part_sums)
            .map(|(c, sum)| CriterionContribution {
                code: c.code.clone(),
                weight_share: c.weight / model.weight_sum,
                contribution: sum / n,
            })
            .collect();
        (
            Some(mean),
            Some(median),
            Some(variance.sqrt()),
            contributions,
        )
    };
    let overall = match aggregation {
        Aggregation::Mean | Aggregation::Calibrated => mean,
        Aggregation::Median => median,
    };
    NeedSummary {
        reference,
        overall,
        mean,
        median,
        coverage,
        dispersion,
        trust_scores,
        contributions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criteria::criterion;

    fn set() -> Vec<Criterion> {
        vec![
            criterion("BENEFIT", CriterionKind::Prioritisation, 3.0, 1, 5),
            criterion("RISK", CriterionKind::Prioritisation, 1.0, 0, 10),
            criterion("SCOPE", CriterionKind::Screening, 1.0, 0, 1),
        ]
    }

    fn reference(seq: u32) -> NeedReference {
        NeedReference::new(2023, seq).expect("valid")
    }

    fn sheet(trust: &str, benefit: i32, risk: i32) -> TrustSheet {
        TrustSheet {
            trust: trust.into(),
            values: [("BENEFIT".to_string(), benefit), ("RISK".to_string(), risk)].into(),
        }
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(Aggregation::ALL, Aggregation::as_str);
        assert_eq!(Aggregation::default(), Aggregation::Mean);
    }

    #[test]
    fn sheet_validation() {
        let c = set();
        let ok = validate_sheet(&c, [("BENEFIT", 5), ("RISK", 0)]).expect("valid");
        assert_eq!(ok.len(), 2);
        let msg = |r: Result<ScoreSheet, DomainError>| match r {
            Err(DomainError::Invalid { field, message }) => format!("{field}: {message}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            msg(validate_sheet(&c, [("BENEFIT", 5), ("NOPE", 1)])),
            "scores[1]: unknown criterion \"NOPE\""
        );
        let m = msg(validate_sheet(&c, [("BENEFIT", 6), ("RISK", 1)]));
        assert!(m.contains("BENEFIT") && m.contains("1..=5"), "{m}");
        let m = msg(validate_sheet(&c, [("BENEFIT", 5)]));
        assert!(m.contains("RISK has no score"), "{m}");
        let m = msg(validate_sheet(
            &c,
            [("BENEFIT", 5), ("RISK", 1), ("BENEFIT", 4)],
        ));
        assert!(
            m.starts_with("scores[2]") && m.contains("more than once"),
            "{m}"
        );
        let m = msg(validate_sheet(
            &c,
            [("BENEFIT", 5), ("RISK", 1), ("SCOPE", 1)],
        ));
        assert!(m.contains("screening"), "{m}");
    }

    #[test]
    fn weighted_normalised_score() {
        let model = ScoringModel::new(&set()).expect("model");
        // BENEFIT 3/4 of the way with weight 3, RISK half-way with weight 1:
        // 100 * (3*0.75 + 1*0.5) / 4 = 68.75
        let (score, parts) = model.trust_parts(&sheet("X", 4, 5).values).expect("scored");
        assert!((score - 68.75).abs() < 1e-9);
        assert!((parts[0] - 56.25).abs() < 1e-9 && (parts[1] - 12.5).abs() < 1e-9);
        let (top, _) = model
            .trust_parts(&sheet("X", 5, 10).values)
            .expect("scored");
        let (bottom, _) = model.trust_parts(&sheet("X", 1, 0).values).expect("scored");
        assert_eq!((top, bottom), (100.0, 0.0));
    }

    #[test]
    fn summary_numbers() {
        let model = ScoringModel::new(&set()).expect("model");
        let need = NeedScores {
            reference: reference(1),
            sheets: vec![sheet("B", 5, 10), sheet("A", 1, 0), sheet("C", 3, 5)],
        };
        let s = summarise(&model, &need, Aggregation::Mean).expect("summary");
        assert_eq!(s.coverage, 3);
        assert_eq!(
            s.trust_scores
                .iter()
                .map(|t| t.trust.as_str())
                .collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
        let mean = s.mean.expect("scored");
        assert!((mean - 50.0).abs() < 1e-9);
        assert_eq!(s.overall, s.mean);
        assert!((s.median.expect("scored") - 50.0).abs() < 1e-9);
        // scores 0, 100, 50 → population sd = sqrt(5000/3)
        assert!((s.dispersion.expect("scored") - (5000.0f64 / 3.0).sqrt()).abs() < 1e-9);
        let total: f64 = s.contributions.iter().map(|c| c.contribution).sum();
        assert!((total - mean).abs() < 1e-9);
        assert_eq!(s.contributions[0].weight_share, 0.75);

        let med = summarise(
            &model,
            &NeedScores {
                sheets: vec![sheet("A", 1, 0), sheet("B", 1, 0), sheet("C", 5, 10)],
                ..need.clone()
            },
            Aggregation::Median,
        )
        .expect("summary");
        assert_eq!(med.overall, Some(0.0));
        assert!((med.mean.expect("scored") - 100.0 / 3.0).abs() < 1e-9);
        let even = summarise(
            &model,
            &NeedScores {
                sheets: vec![sheet("A", 1, 0), sheet("B", 5, 10)],
                ..need.clone()
            },
            Aggregation::Median,
        )
        .expect("summary");
        assert_eq!(even.overall, Some(50.0));

        let none = summarise(
            &model,
            &NeedScores {
                sheets: vec![],
                ..need.clone()
            },
            Aggregation::Mean,
        )
        .expect("summary");
        assert_eq!(
            (none.overall, none.coverage, none.dispersion),
            (None, 0, None)
        );
        assert!(none.contributions.is_empty());

        let dup = NeedScores {
            sheets: vec![sheet("A", 1, 0), sheet("A", 2, 0)],
            ..need.clone()
        };
        assert!(matches!(
            summarise(&model, &dup, Aggregation::Mean),
            Err(DomainError::Conflict(_))
        ));
        let mut partial = sheet("A", 1, 0);
        partial.values.remove("RISK");
        let bad = NeedScores {
            sheets: vec![partial],
            ..need
        };
        assert!(summarise(&model, &bad, Aggregation::Mean).is_err());
    }
}
