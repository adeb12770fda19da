//! `/stats` (DESIGN §15): every figure of a period, read from storage in
//! one place, so the command and its benchmark run the same code.
//!
//! The tickets opened in the period are read once, as a stream of their
//! stored timestamps; the per-tier, per-agent and per-day figures are
//! computed from that one pass (a single indexed range scan, rather than a
//! sorting query per figure). Counts of other tables (overrides,
//! reassignments, CRM fallbacks, closures, the group's budget) are SQL
//! aggregates. Percentiles are nearest-rank: the value at rank ⌈n × p⌉ of
//! the sorted set.

use std::collections::{BTreeMap, HashMap};

use super::chart::DayPoint;
use crate::{
    domain::Tier,
    storage::{Budget, Counters, Spread, Storage, StorageResult, TicketTiming, Window},
};

const DAY_MS: i64 = 86_400_000;

/// Tickets opened and closed in a period, per tier (`""` = unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierCount {
    pub tier: String,
    pub opened: i64,
    pub closed: i64,
}

/// One agent's figures: tickets opened in the period that they hold, their
/// first-response p50, and those tickets' ratings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentFigures {
    pub agent_id: i64,
    /// The agent's name, or their id when they are no longer an agent.
    pub name: String,
    pub tickets: i64,
    pub first_response_p50: Option<i64>,
    pub csat_sum: i64,
    pub csat_count: i64,
}

/// Everything `/stats` shows for a period.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsFigures {
    /// Opened and closed per tier, premium first.
    pub tiers: Vec<TierCount>,
    /// First response (opened → first agent message delivered) per tier.
    pub first_response: Vec<Spread>,
    /// Resolution (opened → closed) per tier.
    pub resolution: Vec<Spread>,
    pub counters: Counters,
    pub csat_sum: i64,
    pub csat_count: i64,
    /// Busiest first.
    pub agents: Vec<AgentFigures>,
    pub budget: Budget,
    /// The chart's days, one per day of the period (empty: no tickets).
    pub days: Vec<DayPoint>,
}

impl StatsFigures {
    /// No ticket was opened or closed in the period.
    pub fn is_empty(&self) -> bool {
        self.tiers.iter().all(|t| t.opened == 0 && t.closed == 0)
    }
}

/// Tiers in the order figures are shown: premium, standard, basic, unknown.
pub fn tier_order(stored: &str) -> usize {
    Tier::slot(Tier::parse(stored))
}

const TIER_KEYS: [&str; 4] = ["premium", "standard", "basic", ""];

/// Nearest-rank p50/p90/p99 of `values` (sorted here); `None` when empty.
pub fn spread(key: &str, mut values: Vec<i64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let rank = |p: usize| values[(n * p).div_ceil(100).clamp(1, n) - 1];
    Some(Spread { key: key.to_owned(), count: n as i64, p50: rank(50), p90: rank(90), p99: rank(99) })
}

/// What one pass over the period's tickets collects.
#[derive(Default)]
struct Pass {
    opened: [i64; 4],
    first_response: [Vec<i64>; 4],
    resolution: [Vec<i64>; 4],
    csat_sum: i64,
    csat_count: i64,
    /// Per agent: tickets, first responses, rating sum and count.
    agents: BTreeMap<i64, (i64, Vec<i64>, i64, i64)>,
    /// Per day: tickets, first responses per tier.
    days: BTreeMap<i64, (u64, [Vec<i64>; 4])>,
}

impl Pass {
    fn add(&mut self, t: TicketTiming) {
        let tier = Tier::slot(t.tier);
        self.opened[tier] += 1;
        let day = self.days.entry(t.created_ms.div_euclid(DAY_MS)).or_default();
        day.0 += 1;
        let frt = t.first_response_ms.map(|at| at - t.created_ms);
        if let Some(frt) = frt {
            self.first_response[tier].push(frt);
            day.1[tier].push(frt);
        }
        if let Some(closed) = t.closed_ms {
            self.resolution[tier].push(closed - t.created_ms);
        }
        if let Some(csat) = t.csat {
            self.csat_sum += csat;
            self.csat_count += 1;
        }
        if let Some(agent) = t.assignee_id {
            let entry = self.agents.entry(agent).or_default();
            entry.0 += 1;
            entry.1.extend(frt);
            if let Some(csat) = t.csat {
                entry.2 += csat;
                entry.3 += 1;
            }
        }
    }
}

/// Reads every figure of `window`.
pub async fn gather(storage: &Storage, window: Window) -> StorageResult<StatsFigures> {
    let mut pass = Pass::default();
    storage.ticket_timings(window, |t| pass.add(t)).await?;
    let closed: HashMap<String, i64> = storage.closed_by_tier(window).await?.into_iter().collect();
    let tiers = TIER_KEYS
        .iter()
        .enumerate()
        .map(|(i, key)| TierCount {
            tier: (*key).to_owned(),
            opened: pass.opened[i],
            closed: closed.get(*key).copied().unwrap_or_default(),
        })
        .filter(|t| t.opened > 0 || t.closed > 0)
        .collect();
    let per_tier = |values: [Vec<i64>; 4]| -> Vec<Spread> {
        values.into_iter().zip(TIER_KEYS).filter_map(|(v, key)| spread(key, v)).collect()
    };
    let first_response = per_tier(std::mem::take(&mut pass.first_response));
    let resolution = per_tier(std::mem::take(&mut pass.resolution));
    let names: HashMap<i64, String> = storage.roster().await?.into_iter().map(|a| (a.id, a.name)).collect();
    let mut agents: Vec<AgentFigures> = pass
        .agents
        .into_iter()
        .map(|(agent_id, (tickets, frts, csat_sum, csat_count))| AgentFigures {
            agent_id,
            name: names.get(&agent_id).cloned().unwrap_or_else(|| agent_id.to_string()),
            tickets,
            first_response_p50: spread("", frts).map(|s| s.p50),
            csat_sum,
            csat_count,
        })
        .collect();
    agents.sort_by(|a, b| b.tickets.cmp(&a.tickets).then(a.agent_id.cmp(&b.agent_id)));
    let days = chart_days(window, pass.days);
    Ok(StatsFigures {
        tiers,
        first_response,
        resolution,
        counters: storage.counters(window).await?,
        csat_sum: pass.csat_sum,
        csat_count: pass.csat_count,
        agents,
        budget: storage.group_budget(window).await?,
        days,
    })
}

/// The chart's points: every day of the window with its volume and each
/// tier's first-response p90 (none when no ticket was opened).
fn chart_days(window: Window, seen: BTreeMap<i64, (u64, [Vec<i64>; 4])>) -> Vec<DayPoint> {
    if seen.is_empty() {
        return Vec::new();
    }
    let first = window.from_ms.div_euclid(DAY_MS);
    let last = (window.to_ms - 1).div_euclid(DAY_MS);
    let mut seen = seen;
    (first..=last)
        .map(|day| {
            let (tickets, frts) = seen.remove(&day).unwrap_or_default();
            let mut p90 = [None; 4];
            for (slot, values) in p90.iter_mut().zip(frts) {
                *slot = spread("", values).map(|s| s.p90);
            }
            DayPoint { day_start_ms: day * DAY_MS, tickets, frt_p90_ms: p90 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(spread("k", vec![]), None);
        let one = spread("k", vec![7]).expect("one");
        assert_eq!((one.p50, one.p90, one.p99, one.count), (7, 7, 7, 1));
        let ten = spread("k", (1..=10).rev().collect()).expect("ten");
        assert_eq!((ten.p50, ten.p90, ten.p99), (5, 9, 10));
        let hundred = spread("k", (1..=100).collect()).expect("hundred");
        assert_eq!((hundred.p50, hundred.p90, hundred.p99), (50, 90, 99));
    }

    #[test]
    fn days_without_tickets_are_drawn_empty() {
        let window = Window { from_ms: 10 * DAY_MS + 5, to_ms: 13 * DAY_MS };
        let mut seen = BTreeMap::new();
        seen.insert(11, (2, [vec![60_000, 120_000], vec![], vec![], vec![5]]));
        let days = chart_days(window, seen);
        assert_eq!(days.len(), 3);
        assert_eq!((days[0].tickets, days[1].tickets, days[2].tickets), (0, 2, 0));
        assert_eq!(days[1].frt_p90_ms, [Some(120_000), None, None, Some(5)]);
        assert_eq!(days[1].day_start_ms, 11 * DAY_MS);
    }
}
