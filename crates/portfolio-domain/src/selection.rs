//! Selection scenarios: which candidates give the most priority for a budget.
//!
//! This is the 0/1 knapsack problem, solved exactly (never greedily): a greedy
//! pick by priority per krone can leave money unused that a different set would
//! have turned into more priority, and the board must be able to trust that no
//! better set exists.

use core::cmp::Ordering;
use core::fmt;
use core::hash::Hash;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::constrained::{optimise, Item, Limits};
use crate::error::DomainError;
use crate::macros::wire_enum;

/// Largest accepted priority score; keeps priority sums far from `i64` limits.
pub const PRIORITY_MAX: f64 = 1e9;

/// A need that may be chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate<K> {
    /// The need (id or reference).
    pub id: K,
    /// Priority score, ≥ 0. Compared at 0.01 resolution: scores are rounded to two
    /// decimals, which lets the optimum be computed in exact integer arithmetic.
    pub priority: f64,
    /// Cost in NOK, > 0.
    pub cost: i64,
    /// Estimated IT-partner capacity, person-months a year, ≥ 0 (counts only
    /// when the problem has a capacity limit).
    #[serde(default)]
    pub load: i64,
}

wire_enum! {
    /// Where a selection scenario's budget came from.
    pub enum BudgetSource {
        /// Given in the request.
        Request => "request",
        /// What remained of the year's concept-study frame.
        Frame => "frame",
    }
}

wire_enum! {
    /// How one need depends on another.
    pub enum DependencyKind {
        /// The need can only be chosen together with the other.
        Requires => "requires",
        /// The two can never both be chosen.
        Excludes => "excludes",
    }
}

/// A dependency between two candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency<K> {
    /// The need that depends.
    pub need: K,
    /// How.
    pub kind: DependencyKind,
    /// The need it depends on (or excludes).
    pub other: K,
}

/// A candidate that must be in (or out of) every answer, with the reason given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forced<K> {
    /// The candidate.
    pub id: K,
    /// Why (shown back in the result).
    pub reason: String,
}

/// A selection scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionProblem<K> {
    /// Candidates; ids must be unique.
    pub candidates: Vec<Candidate<K>>,
    /// Money available, NOK ≥ 0.
    pub budget: i64,
    /// Candidates that must be chosen; their total cost must fit the budget.
    pub forced_in: Vec<Forced<K>>,
    /// Candidates that must not be chosen.
    pub forced_out: Vec<Forced<K>>,
    /// IT-partner capacity available, person-months a year; `None` for no limit.
    #[serde(default)]
    pub capacity: Option<i64>,
    /// Dependencies between candidates.
    #[serde(default)]
    pub dependencies: Vec<Dependency<K>>,
    /// When to stop searching and return the best set found with its gap (only
    /// with a capacity limit or dependencies; the budget-only solver always
    /// finishes). `None`: search to the proven optimum.
    #[serde(skip)]
    pub deadline: Option<Instant>,
}

wire_enum! {
    /// Why a candidate is or is not in the chosen set.
    pub enum SelectionReason {
        /// Chosen because it was forced in.
        ForcedIn => "forced_in",
        /// Left out because it was forced out.
        ForcedOut => "forced_out",
        /// Chosen by the optimisation.
        SelectedOptimal => "selected_optimal",
        /// Costs more than the whole budget left after forced-in candidates.
        DoesNotFit => "does_not_fit",
        /// Would fit on its own, but the optimal set gives more total priority
        /// without it.
        ExcludedByOptimum => "excluded_by_optimum",
    }
}

/// The verdict on one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateResult<K> {
    /// The candidate.
    pub id: K,
    /// Whether it is in the chosen set.
    pub selected: bool,
    /// Why.
    pub reason: SelectionReason,
    /// The forced-in/out reason given by the user, if any.
    pub note: Option<String>,
    /// Its priority (as given).
    pub priority: f64,
    /// Its cost in NOK.
    pub cost: i64,
    /// For `does_not_fit`: the budget left after forced-in candidates. For
    /// `excluded_by_optimum`: the budget left unused by the optimal set (so
    /// `cost − available` is how much more money it would need without dropping
    /// anything). `None` otherwise.
    pub available: Option<i64>,
}

/// The answer to a scenario at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionResult<K> {
    /// Budget solved for.
    pub budget: i64,
    /// Total cost of the chosen set.
    pub total_cost: i64,
    /// Total priority of the chosen set (sum of priorities rounded to 0.01).
    pub total_priority: f64,
    /// Budget left unused.
    pub remaining: i64,
    /// Total capacity of the chosen set, person-months a year.
    pub total_load: i64,
    /// False only when the deadline stopped the search.
    pub proven_optimal: bool,
    /// Proven bound on how much more total priority an optimal set could have
    /// (0 when proven optimal).
    pub gap: f64,
    /// One verdict per candidate, in input order.
    pub candidates: Vec<CandidateResult<K>>,
}

/// `budget` changed by `percent` (e.g. −20 or +20), rounded down to whole NOK.
pub fn scaled_budget(budget: i64, percent: i64) -> i64 {
    let scaled = i128::from(budget) * (100 + i128::from(percent)) / 100;
    scaled.clamp(0, i128::from(i64::MAX)) as i64
}

/// Per candidate: forced in or out, with the reason given; `None` when free.
type Forcing<'a> = Option<(SelectionReason, &'a str)>;

fn is_forced_in(f: &Forcing<'_>) -> bool {
    matches!(f, Some((SelectionReason::ForcedIn, _)))
}

/// What was left for the free candidates.
struct Room {
    /// The budget after the forced-in candidates.
    money: i64,
    /// The capacity after the forced-in candidates (`i64::MAX`: no limit).
    load: i64,
    /// The budget the final set leaves unused.
    unused: i64,
}

/// Why candidate `c` is or is not in the set.
fn verdict<K: Clone>(
    c: &Candidate<K>,
    forced: Forcing<'_>,
    chosen: bool,
    room: &Room,
) -> CandidateResult<K> {
    let (selected, reason, note, available) = match forced {
        Some((r, note)) => (
            r == SelectionReason::ForcedIn,
            r,
            Some(note.to_string()),
            None,
        ),
        None if chosen => (true, SelectionReason::SelectedOptimal, None, None),
        None if c.cost > room.money || c.load > room.load => {
            (false, SelectionReason::DoesNotFit, None, Some(room.money))
        }
        None => (
            false,
            SelectionReason::ExcludedByOptimum,
            None,
            Some(room.unused),
        ),
    };
    CandidateResult {
        id: c.id.clone(),
        selected,
        reason,
        note,
        priority: c.priority,
        cost: c.cost,
        available,
    }
}

/// What the optimiser chose among the free candidates.
struct Choice {
    /// Per candidate; false for every forced one.
    chosen: Vec<bool>,
    /// False only when the deadline stopped the search.
    proven_optimal: bool,
    /// Proven bound on the priority missed, hundredths.
    gap_cents: i64,
}

impl<K: Clone + Eq + Hash + fmt::Display> SelectionProblem<K> {
    /// Solves at the problem's own budget.
    pub fn solve(&self) -> Result<SelectionResult<K>, DomainError> {
        self.solve_at(self.budget)
    }

    /// Re-solves the same scenario at each budget (e.g. −20 %, as is, +20 %; see
    /// [`scaled_budget`]).
    pub fn evaluate_at_budgets(
        &self,
        budgets: &[i64],
    ) -> Result<Vec<SelectionResult<K>>, DomainError> {
        budgets.iter().map(|&b| self.solve_at(b)).collect()
    }

    /// Solves at `budget` instead of `self.budget`.
    pub fn solve_at(&self, budget: i64) -> Result<SelectionResult<K>, DomainError> {
        if budget < 0 {
            return Err(DomainError::invalid("budget", "must not be negative"));
        }
        let (index, cents) = self.index_and_cents()?;
        let forced = self.forcing(&index)?;
        let forced_cost: i64 = self
            .candidates
            .iter()
            .zip(&forced)
            .filter(|(_, f)| is_forced_in(f))
            .try_fold(0i64, |sum, (c, _)| sum.checked_add(c.cost))
            .unwrap_or(i64::MAX);
        if forced_cost > budget {
            return Err(DomainError::BudgetExceeded {
                requested: forced_cost,
                remaining: budget,
            });
        }
        let choice = self.choose(&index, &cents, &forced, budget, budget - forced_cost)?;
        Ok(self.result(budget, forced_cost, &cents, &forced, choice))
    }

    /// Checks the candidates and indexes them by id; their priorities in whole
    /// hundredths (the exact arithmetic the solvers work in).
    fn index_and_cents(&self) -> Result<(HashMap<&K, usize>, Vec<i64>), DomainError> {
        let mut index: HashMap<&K, usize> = HashMap::with_capacity(self.candidates.len());
        let mut cents = Vec::with_capacity(self.candidates.len());
        for (i, c) in self.candidates.iter().enumerate() {
            if index.insert(&c.id, i).is_some() {
                return Err(DomainError::invalid(
                    format!("candidates[{i}].id"),
                    format!("{} appears more than once", c.id),
                ));
            }
            if c.cost <= 0 {
                return Err(DomainError::invalid(
                    format!("candidates[{i}].cost"),
                    "must be greater than 0",
                ));
            }
            if !c.priority.is_finite() || !(0.0..=PRIORITY_MAX).contains(&c.priority) {
                return Err(DomainError::invalid(
                    format!("candidates[{i}].priority"),
                    format!("must be a number from 0 to {PRIORITY_MAX}"),
                ));
            }
            cents.push((c.priority * 100.0).round() as i64);
        }
        Ok((index, cents))
    }

    /// Per candidate, whether it is forced in or out and the reason given.
    fn forcing(&self, index: &HashMap<&K, usize>) -> Result<Vec<Forcing<'_>>, DomainError> {
        let mut forced: Vec<Forcing<'_>> = vec![None; self.candidates.len()];
        for (list, reason, name) in [
            (&self.forced_in, SelectionReason::ForcedIn, "forced_in"),
            (&self.forced_out, SelectionReason::ForcedOut, "forced_out"),
        ] {
            let mut seen = HashSet::new();
            for (j, f) in list.iter().enumerate() {
                let field = format!("{name}[{j}]");
                let &i = index.get(&f.id).ok_or_else(|| {
                    DomainError::invalid(&field, format!("{} is not a candidate", f.id))
                })?;
                if !seen.insert(i) {
                    return Err(DomainError::invalid(
                        &field,
                        format!("{} is listed more than once", f.id),
                    ));
                }
                if forced[i].is_some() {
                    return Err(DomainError::invalid(
                        &field,
                        format!("{} cannot be both forced in and forced out", f.id),
                    ));
                }
                crate::need::validate_text(
                    &format!("{field}.reason"),
                    &f.reason,
                    crate::need::REASON_MAX,
                    false,
                )?;
                forced[i] = Some((reason, f.reason.as_str()));
            }
        }
        Ok(forced)
    }

    /// The optimiser's choice among the free candidates: the knapsack when only
    /// the budget limits, else branch and bound. `capacity` is the budget left
    /// after the forced-in candidates.
    fn choose(
        &self,
        index: &HashMap<&K, usize>,
        cents: &[i64],
        forced: &[Forcing<'_>],
        budget: i64,
        capacity: i64,
    ) -> Result<Choice, DomainError> {
        let mut chosen = vec![false; self.candidates.len()];
        if self.capacity.is_none() && self.dependencies.is_empty() {
            // Free candidates that could fit at all and add priority go to the solver.
            let free: Vec<usize> = (0..self.candidates.len())
                .filter(|&i| {
                    forced[i].is_none() && self.candidates[i].cost <= capacity && cents[i] > 0
                })
                .collect();
            let costs: Vec<i64> = free.iter().map(|&i| self.candidates[i].cost).collect();
            let profits: Vec<i64> = free.iter().map(|&i| cents[i]).collect();
            for k in knapsack(&costs, &profits, capacity) {
                chosen[free[k]] = true;
            }
            return Ok(Choice {
                chosen,
                proven_optimal: true,
                gap_cents: 0,
            });
        }
        let outcome = self.solve_constrained(index, cents, forced, budget)?;
        for (i, c) in outcome.chosen.iter().enumerate() {
            chosen[i] = *c && forced[i].is_none();
        }
        Ok(Choice {
            chosen,
            proven_optimal: outcome.proven,
            gap_cents: outcome.upper_bound - outcome.profit,
        })
    }

    /// The totals and one verdict per candidate.
    fn result(
        &self,
        budget: i64,
        forced_cost: i64,
        cents: &[i64],
        forced: &[Forcing<'_>],
        choice: Choice,
    ) -> SelectionResult<K> {
        let chosen = &choice.chosen;
        let capacity = budget - forced_cost;
        let forced_load: i64 = self
            .candidates
            .iter()
            .zip(forced)
            .filter(|(_, f)| is_forced_in(f))
            .map(|(c, _)| c.load)
            .sum();
        let load_room = self.capacity.map_or(i64::MAX, |c| c - forced_load);
        let total_cost: i64 = forced_cost
            + (0..self.candidates.len())
                .filter(|&i| chosen[i])
                .map(|i| self.candidates[i].cost)
                .sum::<i64>();
        let in_set = |i: &usize| chosen[*i] || is_forced_in(&forced[*i]);
        let total_cents: i64 = (0..self.candidates.len())
            .filter(in_set)
            .map(|i| cents[i])
            .sum();
        let remaining = budget - total_cost;
        let room = Room {
            money: capacity,
            load: load_room,
            unused: remaining,
        };
        let candidates = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| verdict(c, forced[i], chosen[i], &room))
            .collect();
        let total_load = (0..self.candidates.len())
            .filter(in_set)
            .map(|i| self.candidates[i].load)
            .sum();
        SelectionResult {
            budget,
            total_cost,
            total_priority: total_cents as f64 / 100.0,
            remaining,
            total_load,
            proven_optimal: choice.proven_optimal,
            gap: choice.gap_cents as f64 / 100.0,
            candidates,
        }
    }

    /// Capacity limit or dependencies: branch and bound
    /// ([`crate::constrained::optimise`]) over all candidates, forced ones fixed.
    fn solve_constrained(
        &self,
        index: &HashMap<&K, usize>,
        cents: &[i64],
        forced: &[Forcing<'_>],
        budget: i64,
    ) -> Result<crate::constrained::Outcome, DomainError> {
        if let Some(c) = self.capacity {
            if c < 0 {
                return Err(DomainError::invalid("capacity", "must not be negative"));
            }
        }
        if let Some(i) = self.candidates.iter().position(|c| c.load < 0) {
            return Err(DomainError::invalid(
                format!("candidates[{i}].load"),
                "must not be negative",
            ));
        }
        let links = crate::sensitivity::links_by_index(index, &self.dependencies)?;
        let items: Vec<Item> = self
            .candidates
            .iter()
            .zip(cents)
            .map(|(c, &profit)| Item {
                profit,
                cost: c.cost,
                load: c.load,
            })
            .collect();
        let fixed: Vec<Option<bool>> = forced
            .iter()
            .map(|f| f.map(|(r, _)| r == SelectionReason::ForcedIn))
            .collect();
        let limits = Limits {
            budget,
            capacity: self.capacity,
        };
        optimise(&items, &links, limits, &fixed, self.deadline).ok_or_else(|| {
            DomainError::conflict(
                "the forced-in needs, their dependencies and the capacity admit no selection within the budget",
            )
        })
    }
}

/// Exact 0/1 knapsack: indices of a subset with the highest total profit whose
/// cost fits `capacity`; among such subsets, one with the lowest cost.
///
/// Method: dynamic programming over items in order of profit per krone, keeping
/// only Pareto-optimal (cost, profit) states — no state that costs at least as
/// much as another for no more profit — and dropping every state whose
/// LP-relaxation upper bound (fill the rest greedily, the last item
/// fractionally) is below the best profit already known to be feasible. All
/// arithmetic is integer, so the pruning never discards an optimum. The state
/// count is bounded by the number of distinct profit totals, so unlike a DP over
/// every krone of the budget it does not grow with the size of the costs.
///
/// Expects `costs[i] > 0`, `profits[i] ≥ 0`, `capacity ≥ 0`.
pub fn knapsack(costs: &[i64], profits: &[i64], capacity: i64) -> Vec<usize> {
    let items = ByDensity::new(costs, profits, capacity);
    // A feasible answer to start from: the greedy fill.
    let mut lower = items.greedy_profit(capacity);
    // Taken items as a tree of (parent, item) so states share their history.
    let mut nodes: Vec<(u32, u32)> = Vec::new();
    let mut states = vec![DpState {
        cost: 0,
        profit: 0,
        node: DP_ROOT,
    }];
    let mut next: Vec<DpState> = Vec::new();
    for k in 0..items.c.len() {
        next.clear();
        items.add_item(k, capacity, lower, &states, &mut next, &mut nodes);
        core::mem::swap(&mut states, &mut next);
        if let Some(best) = states.last() {
            lower = lower.max(i128::from(best.profit));
        }
    }
    items.picked(&nodes, states.last().map_or(DP_ROOT, |s| s.node))
}

/// The node of the empty set in the knapsack's tree of taken items.
const DP_ROOT: u32 = u32::MAX;

/// A Pareto-optimal partial set of the knapsack: its totals and its last taken
/// item in the tree of taken items.
#[derive(Clone, Copy)]
struct DpState {
    cost: i64,
    profit: i64,
    node: u32,
}

/// The knapsack's items that fit and add profit, in order of profit per krone,
/// with prefix sums for the LP bound.
struct ByDensity {
    /// Original index of each item.
    order: Vec<usize>,
    c: Vec<i64>,
    p: Vec<i64>,
    prefix_cost: Vec<i128>,
    prefix_profit: Vec<i128>,
}

impl ByDensity {
    fn new(costs: &[i64], profits: &[i64], capacity: i64) -> Self {
        let mut order: Vec<usize> = (0..costs.len())
            .filter(|&i| costs[i] <= capacity && profits[i] > 0)
            .collect();
        // Higher profit per krone first (cross-multiplied, exact); index breaks ties.
        order.sort_by(|&a, &b| {
            let lhs = i128::from(profits[a]) * i128::from(costs[b]);
            let rhs = i128::from(profits[b]) * i128::from(costs[a]);
            rhs.cmp(&lhs).then(a.cmp(&b))
        });
        let m = order.len();
        let c: Vec<i64> = order.iter().map(|&i| costs[i]).collect();
        let p: Vec<i64> = order.iter().map(|&i| profits[i]).collect();
        let mut prefix_cost = vec![0i128; m + 1];
        let mut prefix_profit = vec![0i128; m + 1];
        for k in 0..m {
            prefix_cost[k + 1] = prefix_cost[k] + i128::from(c[k]);
            prefix_profit[k + 1] = prefix_profit[k] + i128::from(p[k]);
        }
        ByDensity {
            order,
            c,
            p,
            prefix_cost,
            prefix_profit,
        }
    }

    /// LP bound on the profit still reachable from items `from..` with `room` left.
    fn bound(&self, from: usize, room: i64) -> i128 {
        let m = self.c.len();
        let room = i128::from(room);
        let base = self.prefix_cost[from];
        // Last k in from..=m with prefix_cost[k] - base <= room.
        let k = from + self.prefix_cost[from..=m].partition_point(|&pc| pc - base <= room) - 1;
        let mut ub = self.prefix_profit[k] - self.prefix_profit[from];
        if k < m {
            ub += (room - (self.prefix_cost[k] - base)) * i128::from(self.p[k])
                / i128::from(self.c[k]);
        }
        ub
    }

    /// Profit of the greedy fill: every item that still fits, in order.
    fn greedy_profit(&self, capacity: i64) -> i128 {
        let mut lower: i128 = 0;
        let mut room = capacity;
        for (&ck, &pk) in self.c.iter().zip(&self.p) {
            if ck <= room {
                room -= ck;
                lower += i128::from(pk);
            }
        }
        lower
    }

    /// One step of the DP: merges "skip item k" (`states`) and "take item k"
    /// (`states` + k), both sorted by cost, into `next`, keeping strictly
    /// increasing profit and only states whose LP bound reaches `lower`.
    fn add_item(
        &self,
        k: usize,
        capacity: i64,
        lower: i128,
        states: &[DpState],
        next: &mut Vec<DpState>,
        nodes: &mut Vec<(u32, u32)>,
    ) {
        let (ck, pk) = (self.c[k], self.p[k]);
        let (mut a, mut b) = (0, 0);
        let mut last_profit = -1i64;
        loop {
            let skip = states.get(a).copied();
            let take = states
                .get(b)
                .filter(|s| s.cost + ck <= capacity)
                .map(|s| DpState {
                    cost: s.cost + ck,
                    profit: s.profit + pk,
                    node: s.node,
                });
            let (candidate, is_take) = match (skip, take) {
                (None, None) => break,
                (Some(s), None) => (s, false),
                (None, Some(t)) => (t, true),
                (Some(s), Some(t)) => match s.cost.cmp(&t.cost).then(t.profit.cmp(&s.profit)) {
                    Ordering::Greater => (t, true),
                    _ => (s, false),
                },
            };
            if is_take {
                b += 1;
            } else {
                a += 1;
            }
            if candidate.profit <= last_profit {
                continue;
            }
            last_profit = candidate.profit;
            if i128::from(candidate.profit) + self.bound(k + 1, capacity - candidate.cost) < lower {
                continue;
            }
            let node = if is_take {
                nodes.push((candidate.node, k as u32));
                (nodes.len() - 1) as u32
            } else {
                candidate.node
            };
            next.push(DpState { node, ..candidate });
        }
    }

    /// The original indices of the items on the path from `node` to the root, sorted.
    fn picked(&self, nodes: &[(u32, u32)], mut node: u32) -> Vec<usize> {
        let mut picked = Vec::new();
        while node != DP_ROOT {
            let (parent, k) = nodes[node as usize];
            picked.push(self.order[k as usize]);
            node = parent;
        }
        picked.sort_unstable();
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    fn problem(candidates: Vec<(u32, f64, i64)>, budget: i64) -> SelectionProblem<u32> {
        SelectionProblem {
            candidates: candidates
                .into_iter()
                .map(|(id, priority, cost)| Candidate {
                    id,
                    priority,
                    cost,
                    load: 0,
                })
                .collect(),
            budget,
            forced_in: vec![],
            forced_out: vec![],
            capacity: None,
            dependencies: vec![],
            deadline: None,
        }
    }

    fn forced(id: u32, reason: &str) -> Forced<u32> {
        Forced {
            id,
            reason: reason.into(),
        }
    }

    /// Best total priority in cents by trying every subset.
    fn brute_force(p: &SelectionProblem<u32>) -> Option<i64> {
        let n = p.candidates.len();
        let is_in = |id| p.forced_in.iter().any(|f| f.id == id);
        let is_out = |id| p.forced_out.iter().any(|f| f.id == id);
        let mut best = None;
        for mask in 0u32..(1 << n) {
            let mut cost = 0;
            let mut cents = 0;
            let mut ok = true;
            for (i, c) in p.candidates.iter().enumerate() {
                let take = mask & (1 << i) != 0;
                if (take && is_out(c.id)) || (!take && is_in(c.id)) {
                    ok = false;
                    break;
                }
                if take {
                    cost += c.cost;
                    cents += (c.priority * 100.0).round() as i64;
                }
            }
            if ok && cost <= p.budget {
                best = best.max(Some(cents));
            }
        }
        best
    }

    fn random_problem(
        rng: &mut Rng,
        n: usize,
        max_cost: i64,
        budget: i64,
    ) -> SelectionProblem<u32> {
        let candidates = (0..n)
            .map(|i| {
                (
                    i as u32,
                    rng.range(0, 10_000) as f64 / 100.0,
                    rng.range(1, max_cost),
                )
            })
            .collect();
        problem(candidates, budget)
    }

    fn check(result: &SelectionResult<u32>, p: &SelectionProblem<u32>) {
        let cost: i64 = result
            .candidates
            .iter()
            .filter(|c| c.selected)
            .map(|c| c.cost)
            .sum();
        assert_eq!(cost, result.total_cost);
        assert!(cost <= result.budget);
        assert_eq!(result.remaining, result.budget - cost);
        assert_eq!(result.candidates.len(), p.candidates.len());
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(SelectionReason::ALL, SelectionReason::as_str);
        crate::macros::assert_wire_enum(BudgetSource::ALL, BudgetSource::as_str);
    }

    #[test]
    fn exact_not_greedy() {
        // Greedy by density takes A (density 6) then cannot fit B or C; B + C is better.
        let p = problem(
            vec![(1, 60.0, 10), (2, 50.0, 10), (3, 50.0, 10), (4, 10.0, 1)],
            20,
        );
        let p = SelectionProblem {
            candidates: vec![
                Candidate {
                    id: 1,
                    priority: 61.0,
                    cost: 11,
                    load: 0,
                },
                p.candidates[1].clone(),
                p.candidates[2].clone(),
            ],
            ..p
        };
        let r = p.solve().expect("solved");
        check(&r, &p);
        assert_eq!(r.total_priority, 100.0);
        let reasons: Vec<SelectionReason> = r.candidates.iter().map(|c| c.reason).collect();
        assert_eq!(
            reasons,
            [
                SelectionReason::ExcludedByOptimum,
                SelectionReason::SelectedOptimal,
                SelectionReason::SelectedOptimal
            ]
        );
        assert_eq!(r.candidates[0].available, Some(0));
    }

    #[test]
    fn reasons_and_forced_sets() {
        let mut p = problem(
            vec![
                (1, 10.0, 50),
                (2, 90.0, 60),
                (3, 50.0, 200),
                (4, 40.0, 30),
                (5, 0.0, 1),
            ],
            100,
        );
        p.forced_in = vec![forced(1, "regulatory deadline")];
        p.forced_out = vec![forced(2, "covered by national programme")];
        let r = p.solve().expect("solved");
        check(&r, &p);
        let by_id = |id: u32| r.candidates.iter().find(|c| c.id == id).expect("present");
        assert_eq!(
            (by_id(1).selected, by_id(1).reason),
            (true, SelectionReason::ForcedIn)
        );
        assert_eq!(by_id(1).note.as_deref(), Some("regulatory deadline"));
        assert_eq!(
            (by_id(2).selected, by_id(2).reason),
            (false, SelectionReason::ForcedOut)
        );
        assert_eq!(
            (by_id(3).reason, by_id(3).available),
            (SelectionReason::DoesNotFit, Some(50))
        );
        assert_eq!(by_id(4).reason, SelectionReason::SelectedOptimal);
        // Zero priority adds nothing, so the optimum leaves it out and keeps the money.
        assert_eq!(
            (by_id(5).reason, by_id(5).available),
            (SelectionReason::ExcludedByOptimum, Some(20))
        );
        assert_eq!(
            (r.total_cost, r.total_priority, r.remaining),
            (80, 50.0, 20)
        );
    }

    #[test]
    fn invalid_input() {
        let base = problem(vec![(1, 10.0, 50), (2, 20.0, 60)], 100);
        let mut p = base.clone();
        p.forced_in = vec![forced(1, "a"), forced(2, "b")];
        assert_eq!(
            p.solve(),
            Err(DomainError::BudgetExceeded {
                requested: 110,
                remaining: 100
            })
        );
        let mut p = base.clone();
        p.forced_in = vec![forced(1, "")];
        p.forced_out = vec![forced(1, "")];
        assert!(matches!(p.solve(), Err(DomainError::Invalid { .. })));
        let mut p = base.clone();
        p.forced_out = vec![forced(9, "")];
        assert!(matches!(p.solve(), Err(DomainError::Invalid { .. })));
        for (priority, cost) in [
            (-1.0, 10),
            (f64::NAN, 10),
            (f64::INFINITY, 10),
            (1.0, 0),
            (1.0, -5),
        ] {
            let p = problem(vec![(1, priority, cost)], 100);
            assert!(
                matches!(p.solve(), Err(DomainError::Invalid { .. })),
                "{priority} {cost}"
            );
        }
        assert!(problem(vec![(1, 1.0, 1), (1, 2.0, 1)], 10).solve().is_err());
        assert!(base.solve_at(-1).is_err());
        let empty = problem(vec![], 0).solve().expect("nothing to choose");
        assert_eq!((empty.total_cost, empty.total_priority), (0, 0.0));
    }

    #[test]
    fn prop_matches_brute_force() {
        for seed in 1..=400 {
            let mut rng = Rng::new(seed);
            let n = rng.range(0, 12) as usize;
            let max_cost = [10, 1_000, 10_000_000][seed as usize % 3];
            let budget = rng.range(0, max_cost * n as i64 / 2 + 1);
            let mut p = random_problem(&mut rng, n, max_cost, budget);
            for c in &p.candidates {
                if rng.chance(0.1) {
                    p.forced_out.push(forced(c.id, "out"));
                } else if rng.chance(0.1) {
                    p.forced_in.push(forced(c.id, "in"));
                }
            }
            let expected = brute_force(&p);
            match p.solve() {
                Ok(r) => {
                    check(&r, &p);
                    let cents = (r.total_priority * 100.0).round() as i64;
                    assert_eq!(Some(cents), expected, "seed {seed}");
                    for c in &r.candidates {
                        match c.reason {
                            SelectionReason::ForcedIn => {
                                assert!(p.forced_in.iter().any(|f| f.id == c.id))
                            }
                            SelectionReason::ForcedOut => {
                                assert!(p.forced_out.iter().any(|f| f.id == c.id))
                            }
                            _ => {}
                        }
                    }
                }
                Err(DomainError::BudgetExceeded { .. }) => {
                    assert_eq!(expected, None, "seed {seed}")
                }
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
    }

    #[test]
    fn knapsack_prefers_cheaper_among_equal_optima() {
        // {0} and {1, 2} both give 10; {0} costs less.
        assert_eq!(knapsack(&[5, 3, 3], &[10, 5, 5], 6), vec![0]);
        assert_eq!(knapsack(&[5, 3, 3], &[10, 5, 5], 100), vec![0, 1, 2]);
        assert!(knapsack(&[], &[], 10).is_empty());
        assert!(knapsack(&[5], &[1], 4).is_empty());
    }

    #[test]
    fn budgets_scenarios() {
        assert_eq!(scaled_budget(10_000_000, -20), 8_000_000);
        assert_eq!(scaled_budget(10_000_000, 20), 12_000_000);
        assert_eq!(scaled_budget(10, -200), 0);
        let mut rng = Rng::new(3);
        let p = random_problem(&mut rng, 40, 2_000_000, 10_000_000);
        let budgets: Vec<i64> = [-20, 0, 20]
            .iter()
            .map(|&pc| scaled_budget(p.budget, pc))
            .collect();
        let results = p.evaluate_at_budgets(&budgets).expect("solved");
        assert_eq!(results.len(), 3);
        assert!(results[0].total_priority <= results[1].total_priority);
        assert!(results[1].total_priority <= results[2].total_priority);
        assert_eq!(results[1], p.solve().expect("solved"));
    }

    #[test]
    fn prop_capacity_and_dependencies_match_brute_force() {
        use crate::constrained::{tests::brute_force, Item, Limits, Link};
        for seed in 1..=200 {
            let mut rng = Rng::new(seed);
            let n = rng.range(2, 12) as usize;
            let mut p = random_problem(&mut rng, n, 1_000, 0);
            for c in &mut p.candidates {
                c.load = rng.range(0, 6);
            }
            p.budget = rng.range(0, 1_000 * n as i64 / 2);
            p.capacity = Some(rng.range(0, 3 * n as i64));
            for _ in 0..3 {
                let (a, b) = (
                    rng.range(0, n as i64 - 1) as u32,
                    rng.range(0, n as i64 - 1) as u32,
                );
                if a != b {
                    let kind = if rng.chance(0.5) {
                        DependencyKind::Requires
                    } else {
                        DependencyKind::Excludes
                    };
                    p.dependencies.push(Dependency {
                        need: a,
                        kind,
                        other: b,
                    });
                }
            }
            let items: Vec<Item> = p
                .candidates
                .iter()
                .map(|c| Item {
                    profit: (c.priority * 100.0).round() as i64,
                    cost: c.cost,
                    load: c.load,
                })
                .collect();
            let links: Vec<Link> = p
                .dependencies
                .iter()
                .map(|d| match d.kind {
                    DependencyKind::Requires => Link::Requires {
                        need: d.need as usize,
                        on: d.other as usize,
                    },
                    DependencyKind::Excludes => Link::Excludes(d.need as usize, d.other as usize),
                })
                .collect();
            let limits = Limits {
                budget: p.budget,
                capacity: p.capacity,
            };
            let (best, _) =
                brute_force(&items, &links, limits, &vec![None; n]).expect("empty set fits");
            let r = p.solve().expect("solved");
            check(&r, &p);
            assert!(r.proven_optimal && r.gap == 0.0);
            assert_eq!(
                (r.total_priority * 100.0).round() as i64,
                best,
                "seed {seed}"
            );
            assert!(r.total_load <= p.capacity.expect("set"));
        }
    }

    fn timed(p: &SelectionProblem<u32>) -> f64 {
        let start = std::time::Instant::now();
        let r = p.solve().expect("solved");
        check(&r, p);
        start.elapsed().as_secs_f64()
    }

    #[test]
    fn three_hundred_items_are_fast() {
        let mut rng = Rng::new(42);
        // Budget 10 MNOK, costs up to 10 MNOK.
        let a = random_problem(&mut rng, 300, 10_000_000, 10_000_000);
        // Budget 100 MNOK, so dozens of items fit.
        let b = random_problem(&mut rng, 300, 10_000_000, 100_000_000);
        // Priority nearly proportional to cost: the hard case for bounds.
        let mut c = random_problem(&mut rng, 300, 10_000_000, 100_000_000);
        for cand in &mut c.candidates {
            cand.priority =
                ((cand.cost as f64 / 100_000.0) + rng.range(0, 100) as f64 / 100.0).min(100.0);
        }
        // Generous for a debug build; release is far faster.
        for p in [&a, &b, &c] {
            let t = timed(p);
            assert!(t < 10.0, "{t}s");
        }
    }
}
