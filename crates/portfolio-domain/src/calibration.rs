//! Rater calibration: how lenient or strict each trust scores, criterion by
//! criterion, and the calibrated aggregation that evens it out.
//!
//! All numbers are on the 0–100 scale of one criterion: a value v on a scale
//! min..=max counts as x = 100·(v − min)/(max − min).
//!
//! **Leniency** (per trust t and criterion i), over the needs t scored that at
//! least one other trust also scored: d = x(t) − mean of the other trusts' x;
//! `offset` is the mean of d (positive: t scores higher than the others on the
//! same needs) and `spread` the population standard deviation of d (how
//! consistently it does so).
//!
//! **Calibrated aggregation**: with μ(t,i), σ(t,i) the mean and population
//! standard deviation of x over every need t scored, and μ(i), σ(i) the mean of
//! μ(t,i) and of σ(t,i) over the trusts that scored criterion i (each trust counts
//! once, however many needs it scored), each value becomes
//! x′ = μ(i) + σ(i)·(x − μ(t,i))/σ(t,i) — the trust's value mapped onto the
//! average trust's location and spread — or x′ = x − μ(t,i) + μ(i) when σ(t,i) = 0
//! (a trust that gave one value only is shifted, not stretched); x′ is then
//! clamped to 0..=100. The weighted sum and the mean over trusts follow exactly
//! as for the plain mean. Caveat the board should know: a trust that scored only
//! strong needs looks lenient to this method; the leniency report (same needs
//! only) is the check.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::criteria::Criterion;
use crate::error::DomainError;
use crate::need::NeedReference;
use crate::ranking::RankedNeed;
use crate::scoring::{
    normalised_sheets, summarise_normalised, Aggregation, NeedScores, NeedSummary, NormalisedSheet,
    ScoringModel,
};

/// How one trust scores one criterion compared with the other trusts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaterCalibration {
    /// The trust, by organisation number.
    pub trust: String,
    /// The criterion code.
    pub criterion: String,
    /// Needs the trust scored.
    pub needs_scored: usize,
    /// Of those, needs at least one other trust also scored (the comparison base).
    pub shared_needs: usize,
    /// Mean of the trust's values minus the other trusts' mean on the same needs,
    /// 0–100 points; positive = lenient, negative = strict. `None` without shared needs.
    pub offset: Option<f64>,
    /// Population standard deviation of those differences, points.
    pub spread: Option<f64>,
    /// Mean of the trust's values over every need it scored, points (μ(t,i)).
    pub mean: f64,
    /// Their population standard deviation, points (σ(t,i)).
    pub sd: f64,
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Every need's normalised sheets, by reference.
type Prepared = Vec<(NeedReference, Vec<NormalisedSheet>)>;

/// Checked, normalised sheets of every need, needs sorted by reference so sums
/// do not depend on input order.
fn prepare(
    needs: &[NeedScores],
    criteria: &[Criterion],
) -> Result<(ScoringModel, Prepared), DomainError> {
    let model = ScoringModel::new(criteria)?;
    let mut seen = HashSet::with_capacity(needs.len());
    let mut all = Vec::with_capacity(needs.len());
    for need in needs {
        if !seen.insert(need.reference) {
            return Err(DomainError::conflict(format!(
                "need {} appears more than once",
                need.reference
            )));
        }
        all.push((need.reference, normalised_sheets(&model, need)?));
    }
    all.sort_by_key(|(r, _)| *r);
    Ok((model, all))
}

/// Per trust, per criterion: every value it gave (0–100), in need order.
type Given = BTreeMap<String, Vec<Vec<f64>>>;

fn given(model: &ScoringModel, all: &[(NeedReference, Vec<NormalisedSheet>)]) -> Given {
    let k = model.criteria().len();
    let mut given: Given = BTreeMap::new();
    for (_, sheets) in all {
        for s in sheets {
            let per = given
                .entry(s.trust.clone())
                .or_insert_with(|| vec![Vec::new(); k]);
            for (i, v) in s.values.iter().enumerate() {
                per[i].push(100.0 * v);
            }
        }
    }
    given
}

/// Leniency of every trust on every prioritisation criterion, ordered by trust
/// then criterion (criteria-set order). Only trusts that scored something appear.
pub fn rater_calibration(
    needs: &[NeedScores],
    criteria: &[Criterion],
) -> Result<Vec<RaterCalibration>, DomainError> {
    let (model, all) = prepare(needs, criteria)?;
    let given = given(&model, &all);
    let mut out = Vec::new();
    for (trust, per) in &given {
        for (i, c) in model.criteria().iter().enumerate() {
            let mut diffs = Vec::new();
            for (_, sheets) in &all {
                let Some(mine) = sheets.iter().find(|s| &s.trust == trust) else {
                    continue;
                };
                let others: Vec<f64> = sheets
                    .iter()
                    .filter(|s| &s.trust != trust)
                    .map(|s| 100.0 * s.values[i])
                    .collect();
                if !others.is_empty() {
                    let (m, _) = mean_sd(&others);
                    diffs.push(100.0 * mine.values[i] - m);
                }
            }
            let (offset, spread) = if diffs.is_empty() {
                (None, None)
            } else {
                let (m, sd) = mean_sd(&diffs);
                (Some(m), Some(sd))
            };
            let (mean, sd) = mean_sd(&per[i]);
            out.push(RaterCalibration {
                trust: trust.clone(),
                criterion: c.code.clone(),
                needs_scored: per[i].len(),
                shared_needs: diffs.len(),
                offset,
                spread,
                mean,
                sd,
            });
        }
    }
    Ok(out)
}

/// The calibrated summary of every need (see the module documentation), in
/// reference order. `overall`, the trust scores, the dispersion and the
/// contributions are calibrated (the contributions sum to `overall`); `mean`
/// and `median` stay the raw ones, so both can be shown side by side.
pub(crate) fn calibrated_summaries(
    needs: &[NeedScores],
    criteria: &[Criterion],
) -> Result<Vec<NeedSummary>, DomainError> {
    let (model, all) = prepare(needs, criteria)?;
    let given = given(&model, &all);
    let k = model.criteria().len();
    // (μ(t,i), σ(t,i)) per trust, and the average trust per criterion.
    let stats: BTreeMap<&String, Vec<(f64, f64)>> = given
        .iter()
        .map(|(t, per)| (t, per.iter().map(|xs| mean_sd(xs)).collect()))
        .collect();
    let typical: Vec<(f64, f64)> = (0..k)
        .map(|i| {
            let n = stats.len() as f64;
            let mu = stats.values().map(|s| s[i].0).sum::<f64>() / n;
            let sd = stats.values().map(|s| s[i].1).sum::<f64>() / n;
            (mu, sd)
        })
        .collect();
    Ok(all
        .into_iter()
        .map(|(reference, sheets)| {
            let raw = summarise_normalised(&model, reference, &sheets, Aggregation::Mean);
            let calibrated: Vec<NormalisedSheet> = sheets
                .into_iter()
                .map(|s| {
                    let st = &stats[&s.trust];
                    let values = s
                        .values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let (mu_t, sd_t) = st[i];
                            let (mu, sd) = typical[i];
                            let x = 100.0 * v;
                            let x = if sd_t > 0.0 {
                                mu + sd * (x - mu_t) / sd_t
                            } else {
                                x - mu_t + mu
                            };
                            x.clamp(0.0, 100.0) / 100.0
                        })
                        .collect();
                    NormalisedSheet {
                        trust: s.trust,
                        values,
                    }
                })
                .collect();
            NeedSummary {
                mean: raw.mean,
                median: raw.median,
                ..summarise_normalised(&model, reference, &calibrated, Aggregation::Calibrated)
            }
        })
        .collect())
}

/// A need's rank under each aggregation and how far it moves between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankMovement {
    /// The need.
    pub reference: NeedReference,
    /// Rank by mean.
    pub mean: usize,
    /// Rank by median.
    pub median: usize,
    /// Rank by calibrated mean.
    pub calibrated: usize,
    /// Largest minus smallest of the three ranks: 0 when the aggregations agree.
    pub movement: usize,
}

/// Ranks of each need under the three aggregations (rankings from
/// [`crate::ranking::rank`] over the same needs), in the order of `mean`.
pub fn rank_movements(
    mean: &[RankedNeed],
    median: &[RankedNeed],
    calibrated: &[RankedNeed],
) -> Vec<RankMovement> {
    let index = |r: &[RankedNeed]| -> BTreeMap<NeedReference, usize> {
        r.iter().map(|n| (n.summary.reference, n.rank)).collect()
    };
    let (md, cal) = (index(median), index(calibrated));
    mean.iter()
        .map(|n| {
            let r = n.summary.reference;
            let ranks = [
                n.rank,
                md.get(&r).copied().unwrap_or(n.rank),
                cal.get(&r).copied().unwrap_or(n.rank),
            ];
            let movement =
                ranks.iter().max().copied().unwrap_or(0) - ranks.iter().min().copied().unwrap_or(0);
            RankMovement {
                reference: r,
                mean: ranks[0],
                median: ranks[1],
                calibrated: ranks[2],
                movement,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criteria::{criterion, CriterionKind};
    use crate::ranking::rank;
    use crate::scoring::TrustSheet;

    fn reference(seq: u32) -> NeedReference {
        NeedReference::new(2022, seq).expect("valid")
    }

    fn sheet(trust: &str, v: i32) -> TrustSheet {
        TrustSheet {
            trust: trust.into(),
            values: [("K".to_string(), v)].into(),
        }
    }

    fn needs(rows: &[&[(&str, i32)]]) -> Vec<NeedScores> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| NeedScores {
                reference: reference(i as u32 + 1),
                sheets: r.iter().map(|(t, v)| sheet(t, *v)).collect(),
            })
            .collect()
    }

    fn one() -> Vec<Criterion> {
        vec![criterion("K", CriterionKind::Prioritisation, 1.0, 0, 4)]
    }

    #[test]
    fn lenient_trust_has_positive_offset() {
        // A always scores one step (25 points) above B on the same needs.
        let n = needs(&[
            &[("A", 3), ("B", 2)],
            &[("A", 4), ("B", 3)],
            &[("A", 1), ("B", 0)],
        ]);
        let r = rater_calibration(&n, &one()).expect("calibrated");
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].trust.as_str(), r[0].shared_needs), ("A", 3));
        assert!((r[0].offset.expect("shared") - 25.0).abs() < 1e-9);
        assert!(r[0].spread.expect("shared").abs() < 1e-9);
        assert!((r[1].offset.expect("shared") + 25.0).abs() < 1e-9);
        // Need 3 scored by A only: counted in needs_scored, not shared.
        let n = needs(&[&[("A", 3), ("B", 2)], &[("A", 4)]]);
        let r = rater_calibration(&n, &one()).expect("calibrated");
        assert_eq!((r[0].needs_scored, r[0].shared_needs), (2, 1));
        assert_eq!((r[1].needs_scored, r[1].shared_needs), (1, 1));
    }

    #[test]
    fn calibration_removes_a_constant_offset() {
        // A scores need 1 high and need 2 low; B does the same but one step
        // lower. Need 3 is scored by A alone, need 4 by B alone, with the same
        // raw value: after calibration B's (strict) 2 counts more than A's 2.
        let n = needs(&[
            &[("A", 4), ("B", 3)],
            &[("A", 2), ("B", 1)],
            &[("A", 2)],
            &[("B", 2)],
        ]);
        let raw = rank(&n, &one(), Aggregation::Mean).expect("ranked");
        let cal = rank(&n, &one(), Aggregation::Calibrated).expect("ranked");
        let score = |r: &[RankedNeed], seq: u32| {
            r.iter()
                .find(|x| x.summary.reference == reference(seq))
                .and_then(|x| x.summary.overall)
                .expect("scored")
        };
        assert_eq!(score(&raw, 3), score(&raw, 4));
        assert!(score(&cal, 4) > score(&cal, 3));
        // Raw mean and median stay reported on the calibrated ranking.
        let four = cal
            .iter()
            .find(|x| x.summary.reference == reference(4))
            .expect("present");
        assert_eq!(four.summary.mean, Some(50.0));
        let moves = rank_movements(
            &raw,
            &rank(&n, &one(), Aggregation::Median).expect("ranked"),
            &cal,
        );
        assert_eq!(moves.len(), 4);
        let m4 = moves
            .iter()
            .find(|m| m.reference == reference(4))
            .expect("present");
        assert!(m4.calibrated < m4.mean && m4.movement >= 1);
    }

    #[test]
    fn calibrated_is_order_independent() {
        let n = needs(&[
            &[("A", 4), ("B", 3), ("C", 0)],
            &[("A", 2), ("C", 1)],
            &[("B", 2)],
        ]);
        let base = rank(&n, &one(), Aggregation::Calibrated).expect("ranked");
        let mut rev = n.clone();
        rev.reverse();
        for x in &mut rev {
            x.sheets.reverse();
        }
        assert_eq!(
            base,
            rank(&rev, &one(), Aggregation::Calibrated).expect("ranked")
        );
        for r in &base {
            let o = r.summary.overall.expect("scored");
            assert!((0.0..=100.0).contains(&o));
        }
    }
}
