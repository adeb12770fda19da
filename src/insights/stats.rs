//! `/stats` (DESIGN §15): every figure of a period, read from storage in
//! one place, so the command and its benchmark run the same queries.

use std::collections::HashMap;

use super::chart::DayPoint;
use crate::storage::{AgentFigures, Budget, Counters, Spread, Storage, StorageResult, TierCount, Window};

const DAY_MS: i64 = 86_400_000;

/// Everything `/stats` shows for a period.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsFigures {
    /// Opened and closed per tier, premium first.
    pub tiers: Vec<TierCount>,
    pub first_response: Vec<Spread>,
    pub resolution: Vec<Spread>,
    pub counters: Counters,
    pub agents: Vec<AgentFigures>,
    /// First-response p50 per agent id.
    pub agent_first_response_p50: HashMap<i64, i64>,
    pub budget: Budget,
    /// The chart's days, one per day of the window (empty: no tickets).
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
    ["premium", "standard", "basic"].iter().position(|t| *t == stored).unwrap_or(3)
}

/// Reads every figure of `window`.
pub async fn gather(storage: &Storage, window: Window) -> StorageResult<StatsFigures> {
    let mut tiers = storage.tickets_by_tier(window).await?;
    tiers.sort_by_key(|t| tier_order(&t.tier));
    let mut first_response = storage.first_response_by_tier(window).await?;
    first_response.sort_by_key(|s| tier_order(&s.key));
    let mut resolution = storage.resolution_by_tier(window).await?;
    resolution.sort_by_key(|s| tier_order(&s.key));
    let agents = storage.agent_figures(window).await?;
    let agent_first_response_p50 = storage
        .first_response_by_agent(window)
        .await?
        .into_iter()
        .filter_map(|s| Some((s.key.parse().ok()?, s.p50)))
        .collect();
    let days = chart_days(storage, window).await?;
    Ok(StatsFigures {
        tiers,
        first_response,
        resolution,
        counters: storage.counters(window).await?,
        agents,
        agent_first_response_p50,
        budget: storage.group_budget(window).await?,
        days,
    })
}

/// The chart's points: every day of the window with its volume and each
/// tier's first-response p90 (none when no ticket was opened).
async fn chart_days(storage: &Storage, window: Window) -> StorageResult<Vec<DayPoint>> {
    let volumes = storage.tickets_by_day(window).await?;
    if volumes.is_empty() {
        return Ok(Vec::new());
    }
    let p90s = storage.first_response_by_day(window).await?;
    let first = window.from_ms.div_euclid(DAY_MS);
    let last = (window.to_ms - 1).div_euclid(DAY_MS);
    let mut days: Vec<DayPoint> = (first..=last)
        .map(|day| DayPoint { day_start_ms: day * DAY_MS, tickets: 0, frt_p90_ms: [None; 4] })
        .collect();
    let index = |day: i64| usize::try_from(day - first).ok();
    for volume in volumes {
        if let Some(point) = index(volume.day).and_then(|i| days.get_mut(i)) {
            point.tickets = u64::try_from(volume.tickets).unwrap_or_default();
        }
    }
    for spread in p90s {
        let Some((day, tier)) = spread.key.split_once(':') else { continue };
        let Ok(day) = day.parse::<i64>() else { continue };
        if let Some(point) = index(day).and_then(|i| days.get_mut(i)) {
            point.frt_p90_ms[tier_order(tier)] = Some(spread.p90);
        }
    }
    Ok(days)
}
