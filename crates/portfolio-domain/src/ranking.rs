//! Ranking of needs and the explanation of a need's place.

use core::cmp::Ordering;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::criteria::Criterion;
use crate::error::DomainError;
use crate::macros::wire_enum;
use crate::need::NeedReference;
use crate::scoring::{summarise, Aggregation, NeedScores, NeedSummary, ScoringModel};

/// A need with its place in the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedNeed {
    /// 1-based place; every need has a distinct rank.
    pub rank: usize,
    /// The numbers the place is based on.
    #[serde(flatten)]
    pub summary: NeedSummary,
}

wire_enum! {
    /// Which step of the tie-break put one need above its neighbour.
    pub enum RankDecider {
        /// One need is scored, the other is not.
        Scored => "scored",
        /// Higher overall score.
        Overall => "overall",
        /// Same overall score; more trusts scored it.
        Coverage => "coverage",
        /// Same overall score and coverage; the trusts agree more.
        Dispersion => "dispersion",
        /// Everything else equal; earlier reference.
        Reference => "reference",
    }
}

/// Scores are compared on a binary grid of 2⁻²⁰ points (≈ 10⁻⁶). Floating-point
/// noise (from weights scaled by a constant, or two criteria mixes giving the same
/// exact value) is far below the grid, and exact scores from small integer scales
/// never fall on a rounding boundary, so equal scores compare equal and the
/// tie-break, not the last bit of a float, decides.
fn grid(x: f64) -> i64 {
    (x * 1_048_576.0).round() as i64
}

/// Compares two summaries for ranking and says which step decided. `Less` means
/// `a` ranks above `b`.
fn compare(a: &NeedSummary, b: &NeedSummary) -> (Ordering, RankDecider) {
    let steps = [
        (
            b.overall.is_some().cmp(&a.overall.is_some()),
            RankDecider::Scored,
        ),
        (
            b.overall.map(grid).cmp(&a.overall.map(grid)),
            RankDecider::Overall,
        ),
        (b.coverage.cmp(&a.coverage), RankDecider::Coverage),
        (
            a.dispersion.map(grid).cmp(&b.dispersion.map(grid)),
            RankDecider::Dispersion,
        ),
        (a.reference.cmp(&b.reference), RankDecider::Reference),
    ];
    steps
        .into_iter()
        .find(|(o, _)| o.is_ne())
        .unwrap_or((Ordering::Equal, RankDecider::Reference))
}

/// Ranks needs by the adopted criteria.
///
/// Order (deterministic, documented for the board):
/// 1. scored needs before unscored ones (a need no trust scored has no overall
///    score and is reported as unscored, never as zero);
/// 2. higher overall score (mean, median or calibrated mean per `aggregation`);
/// 3. higher coverage (more trusts scored it);
/// 4. lower dispersion (the trusts agree more);
/// 5. need reference ascending (year, then sequence number).
///
/// References are unique, so no two needs share a rank. Scores are absolute, so
/// adding a need never changes another need's score, only possibly its rank.
/// Cost: one pass over all sheets plus one sort — O(needs·trusts·criteria +
/// needs·log needs).
pub fn rank(
    needs: &[NeedScores],
    criteria: &[Criterion],
    aggregation: Aggregation,
) -> Result<Vec<RankedNeed>, DomainError> {
    let mut summaries = if aggregation == Aggregation::Calibrated {
        crate::calibration::calibrated_summaries(needs, criteria)?
    } else {
        let model = ScoringModel::new(criteria)?;
        let mut seen = HashSet::with_capacity(needs.len());
        let mut summaries = Vec::with_capacity(needs.len());
        for need in needs {
            if !seen.insert(need.reference) {
                return Err(DomainError::conflict(format!(
                    "need {} appears more than once",
                    need.reference
                )));
            }
            summaries.push(summarise(&model, need, aggregation)?);
        }
        summaries
    };
    summaries.sort_by(|a, b| compare(a, b).0);
    Ok(summaries
        .into_iter()
        .enumerate()
        .map(|(i, summary)| RankedNeed {
            rank: i + 1,
            summary,
        })
        .collect())
}

/// A need next to the explained one in the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The neighbour.
    pub reference: NeedReference,
    /// Its rank.
    pub rank: usize,
    /// Its overall score (`None` when unscored).
    pub overall: Option<f64>,
    /// Its coverage.
    pub coverage: usize,
    /// Its dispersion.
    pub dispersion: Option<f64>,
    /// Overall-score gap in points, always ≥ 0: the higher-ranked need's score
    /// minus the lower-ranked one's. `None` when either is unscored.
    pub gap: Option<f64>,
    /// The tie-break step that separates the two.
    pub decided_by: RankDecider,
}

/// Why a need sits where it does, in numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The need with its rank, per-trust scores and per-criterion contributions.
    pub need: RankedNeed,
    /// Total number of ranked needs.
    pub of: usize,
    /// The need directly above, if any.
    pub above: Option<Neighbour>,
    /// The need directly below, if any.
    pub below: Option<Neighbour>,
}

/// Explains the place of `reference` in a ranking produced by [`rank`]; `None` if
/// it is not in the ranking.
pub fn explain(ranking: &[RankedNeed], reference: &NeedReference) -> Option<Explanation> {
    let pos = ranking
        .iter()
        .position(|r| &r.summary.reference == reference)?;
    let me = &ranking[pos];
    let neighbour = |other: &RankedNeed, above: bool| {
        let (hi, lo) = if above {
            (&other.summary, &me.summary)
        } else {
            (&me.summary, &other.summary)
        };
        Neighbour {
            reference: other.summary.reference,
            rank: other.rank,
            overall: other.summary.overall,
            coverage: other.summary.coverage,
            dispersion: other.summary.dispersion,
            gap: hi.overall.zip(lo.overall).map(|(h, l)| h - l),
            decided_by: compare(hi, lo).1,
        }
    };
    Some(Explanation {
        need: me.clone(),
        of: ranking.len(),
        above: pos.checked_sub(1).map(|i| neighbour(&ranking[i], true)),
        below: ranking.get(pos + 1).map(|r| neighbour(r, false)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criteria::{criterion, CriterionKind};
    use crate::scoring::{ScoreSheet, TrustSheet};
    use crate::testutil::Rng;

    fn reference(seq: u32) -> NeedReference {
        NeedReference::new(2023, seq).expect("valid")
    }

    fn criteria(n: usize, rng: &mut Rng) -> Vec<Criterion> {
        (0..n)
            .map(|i| {
                let max = rng.range(1, 10) as i32;
                criterion(
                    &format!("K{i}"),
                    CriterionKind::Prioritisation,
                    rng.range(1, 5) as f64,
                    0,
                    max,
                )
            })
            .collect()
    }

    fn random_needs(
        rng: &mut Rng,
        criteria: &[Criterion],
        n: usize,
        trusts: usize,
    ) -> Vec<NeedScores> {
        (0..n)
            .map(|i| {
                let scoring: Vec<usize> = (0..trusts).filter(|_| rng.chance(0.8)).collect();
                let sheets = scoring
                    .into_iter()
                    .map(|t| TrustSheet {
                        trust: format!("98397{t:04}"),
                        values: criteria
                            .iter()
                            .map(|c| {
                                let v = rng.range(c.scale_min.into(), c.scale_max.into()) as i32;
                                (c.code.clone(), v)
                            })
                            .collect::<ScoreSheet>(),
                    })
                    .collect();
                NeedScores {
                    reference: reference(i as u32 + 1),
                    sheets,
                }
            })
            .collect()
    }

    fn order(r: &[RankedNeed]) -> Vec<NeedReference> {
        r.iter().map(|n| n.summary.reference).collect()
    }

    fn one(trust: &str, v: i32) -> TrustSheet {
        TrustSheet {
            trust: trust.into(),
            values: [("K".to_string(), v)].into(),
        }
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(RankDecider::ALL, RankDecider::as_str);
    }

    #[test]
    fn tie_break_order() {
        let c = vec![criterion("K", CriterionKind::Prioritisation, 1.0, 0, 4)];
        let needs = vec![
            NeedScores {
                reference: reference(1),
                sheets: vec![],
            },
            NeedScores {
                reference: reference(2),
                sheets: vec![one("A", 2)],
            },
            NeedScores {
                reference: reference(3),
                sheets: vec![one("A", 2), one("B", 2)],
            },
            NeedScores {
                reference: reference(4),
                sheets: vec![one("A", 1), one("B", 3)],
            },
            NeedScores {
                reference: reference(5),
                sheets: vec![one("A", 4)],
            },
            NeedScores {
                reference: reference(6),
                sheets: vec![one("B", 2)],
            },
            NeedScores {
                reference: reference(7),
                sheets: vec![],
            },
        ];
        let r = rank(&needs, &c, Aggregation::Mean).expect("ranked");
        let seqs: Vec<u32> = r.iter().map(|n| n.summary.reference.seq()).collect();
        // 5: 100; then 50 each: 3 (2 trusts, agree), 4 (2 trusts, disagree), 2 & 6 (1 trust, by reference); unscored last by reference.
        assert_eq!(seqs, [5, 3, 4, 2, 6, 1, 7]);
        assert_eq!(
            r.iter().map(|n| n.rank).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7]
        );

        let e = explain(&r, &reference(4)).expect("present");
        assert_eq!(e.need.rank, 3);
        assert_eq!(e.of, 7);
        let above = e.above.expect("above");
        assert_eq!(
            (above.reference, above.decided_by, above.gap),
            (reference(3), RankDecider::Dispersion, Some(0.0))
        );
        let below = e.below.expect("below");
        assert_eq!(
            (below.reference, below.decided_by),
            (reference(2), RankDecider::Coverage)
        );
        let e = explain(&r, &reference(3)).expect("present");
        assert_eq!(
            e.above.as_ref().map(|a| (a.decided_by, a.gap)),
            Some((RankDecider::Overall, Some(50.0)))
        );
        let e = explain(&r, &reference(6)).expect("present");
        assert_eq!(
            e.above.as_ref().map(|a| a.decided_by),
            Some(RankDecider::Reference)
        );
        assert_eq!(
            e.below.as_ref().map(|b| (b.decided_by, b.gap)),
            Some((RankDecider::Scored, None))
        );
        let e = explain(&r, &reference(5)).expect("present");
        assert!(e.above.is_none());
        assert!(explain(&r, &reference(99)).is_none());

        let dup = vec![needs[0].clone(), needs[0].clone()];
        assert!(matches!(
            rank(&dup, &c, Aggregation::Mean),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn screening_criteria_do_not_change_the_ranking() {
        let mut rng = Rng::new(13);
        let c = criteria(3, &mut rng);
        let needs = random_needs(&mut rng, &c, 25, 6);
        let mut screened = c.clone();
        screened.insert(
            1,
            Criterion::screening("STRATEGI", "Strategisk forankring", ""),
        );
        for agg in [
            Aggregation::Mean,
            Aggregation::Median,
            Aggregation::Calibrated,
        ] {
            let plain = rank(&needs, &c, agg).expect("ranked");
            let with_screening = rank(&needs, &screened, agg).expect("ranked");
            assert_eq!(format!("{plain:?}"), format!("{with_screening:?}"), "{agg}");
        }
    }

    #[test]
    fn unscored_is_reported_and_last() {
        let mut rng = Rng::new(7);
        let c = criteria(4, &mut rng);
        let mut needs = random_needs(&mut rng, &c, 30, 5);
        needs[0].sheets.clear();
        needs[0].reference = reference(1);
        let r = rank(&needs, &c, Aggregation::Mean).expect("ranked");
        let unscored: Vec<&RankedNeed> = r.iter().filter(|n| n.summary.overall.is_none()).collect();
        assert!(!unscored.is_empty());
        let first_unscored = r
            .iter()
            .position(|n| n.summary.overall.is_none())
            .expect("one");
        assert!(r[first_unscored..]
            .iter()
            .all(|n| n.summary.overall.is_none() && n.summary.coverage == 0));
        assert!(r[..first_unscored]
            .iter()
            .all(|n| n.summary.overall.is_some()));
        // Even a scored need at 0 points ranks above an unscored one.
        let c1 = vec![criterion("K", CriterionKind::Prioritisation, 1.0, 0, 4)];
        let needs = vec![
            NeedScores {
                reference: reference(1),
                sheets: vec![],
            },
            NeedScores {
                reference: reference(2),
                sheets: vec![one("A", 0)],
            },
        ];
        let r = rank(&needs, &c1, Aggregation::Mean).expect("ranked");
        assert_eq!(order(&r), [reference(2), reference(1)]);
        assert_eq!(r[0].summary.overall, Some(0.0));
    }

    #[test]
    fn prop_trust_order_does_not_matter() {
        for seed in 1..=40 {
            let mut rng = Rng::new(seed);
            let c = criteria(rng.range(1, 8) as usize, &mut rng);
            let needs = random_needs(&mut rng, &c, 40, 11);
            for agg in [Aggregation::Mean, Aggregation::Median] {
                let base = rank(&needs, &c, agg).expect("ranked");
                let mut shuffled = needs.clone();
                for n in &mut shuffled {
                    rng.shuffle(&mut n.sheets);
                }
                rng.shuffle(&mut shuffled);
                let again = rank(&shuffled, &c, agg).expect("ranked");
                assert_eq!(base, again, "seed {seed}");
            }
        }
    }

    #[test]
    fn prop_scaling_weights_keeps_ranks() {
        for seed in 1..=40 {
            let mut rng = Rng::new(seed);
            let c = criteria(rng.range(1, 8) as usize, &mut rng);
            // Few trusts and small scales so exact ties are common.
            let needs = random_needs(&mut rng, &c, 60, 3);
            let base = order(&rank(&needs, &c, Aggregation::Mean).expect("ranked"));
            for k in [0.001, 0.37, 3.0, 7.1, 1e6] {
                let scaled: Vec<Criterion> = c
                    .iter()
                    .map(|x| Criterion {
                        weight: x.weight * k,
                        ..x.clone()
                    })
                    .collect();
                let again = order(&rank(&needs, &scaled, Aggregation::Mean).expect("ranked"));
                assert_eq!(base, again, "seed {seed}, factor {k}");
            }
        }
    }

    #[test]
    fn prop_adding_a_need_keeps_other_scores() {
        let mut rng = Rng::new(99);
        let c = criteria(5, &mut rng);
        let needs = random_needs(&mut rng, &c, 20, 6);
        let before = rank(&needs, &c, Aggregation::Mean).expect("ranked");
        let mut more = needs.clone();
        more.extend(random_needs(&mut rng, &c, 25, 6).into_iter().skip(20));
        let after = rank(&more, &c, Aggregation::Mean).expect("ranked");
        for b in &before {
            let a = after
                .iter()
                .find(|a| a.summary.reference == b.summary.reference)
                .expect("kept");
            assert_eq!(a.summary, b.summary);
        }
    }

    #[test]
    fn median_option() {
        let c = vec![criterion("K", CriterionKind::Prioritisation, 1.0, 0, 4)];
        // Need 1: 0, 0, 100 → mean 33.3, median 0. Need 2: 25, 25, 25 → 25 either way.
        let needs = vec![
            NeedScores {
                reference: reference(1),
                sheets: vec![one("A", 0), one("B", 0), one("C", 4)],
            },
            NeedScores {
                reference: reference(2),
                sheets: vec![one("A", 1), one("B", 1), one("C", 1)],
            },
        ];
        let mean = rank(&needs, &c, Aggregation::Mean).expect("ranked");
        assert_eq!(order(&mean), [reference(1), reference(2)]);
        let median = rank(&needs, &c, Aggregation::Median).expect("ranked");
        assert_eq!(order(&median), [reference(2), reference(1)]);
        assert_eq!(median[1].summary.overall, Some(0.0));
    }

    #[test]
    fn contributions_sum_to_mean() {
        let mut rng = Rng::new(5);
        let c = criteria(8, &mut rng);
        for n in rank(&random_needs(&mut rng, &c, 50, 11), &c, Aggregation::Median).expect("ranked")
        {
            if let Some(mean) = n.summary.mean {
                let total: f64 = n.summary.contributions.iter().map(|c| c.contribution).sum();
                assert!((total - mean).abs() < 1e-9);
                assert!((0.0..=100.0).contains(&mean));
            }
        }
    }

    #[test]
    fn thousand_needs_eleven_trusts_eight_criteria() {
        let mut rng = Rng::new(1234);
        let c = criteria(8, &mut rng);
        let needs = random_needs(&mut rng, &c, 1000, 11);
        let start = std::time::Instant::now();
        let r = rank(&needs, &c, Aggregation::Mean).expect("ranked");
        let e = explain(&r, &reference(500)).expect("present");
        // Generous even for an unoptimised debug build; release takes a few ms.
        assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
        assert_eq!(r.len(), 1000);
        assert_eq!(e.of, 1000);
    }
}
