//! `/stats`: first response time per tier, resolution time, escalations and
//! load — computed from the tickets table as pure functions over rows.

use crate::domain::Tier;

pub use crate::domain::Timing;

/// Percentiles of a set of durations (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: i64,
    pub p90: i64,
    pub count: usize,
}

/// Nearest-rank percentiles; `None` for an empty set.
pub fn percentiles(mut values: Vec<i64>) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = |p: usize| values[((values.len() * p).div_ceil(100)).saturating_sub(1).min(values.len() - 1)];
    Some(Percentiles { p50: rank(50), p90: rank(90), count: values.len() })
}

/// First-response percentiles per tier (`None` tier = unknown), in the
/// order premium, standard, basic, unknown; tiers without answers omitted.
pub fn first_response_by_tier(rows: &[Timing]) -> Vec<(Option<Tier>, Percentiles)> {
    [Some(Tier::Premium), Some(Tier::Standard), Some(Tier::Basic), None]
        .into_iter()
        .filter_map(|tier| {
            let values = rows
                .iter()
                .filter(|r| r.tier == tier)
                .filter_map(|r| Some(r.first_response_ms? - r.created_ms))
                .collect();
            percentiles(values).map(|p| (tier, p))
        })
        .collect()
}

/// Resolution-time percentiles over closed tickets.
pub fn resolution(rows: &[Timing]) -> Option<Percentiles> {
    percentiles(rows.iter().filter_map(|r| Some(r.closed_ms? - r.created_ms)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(tier: Option<Tier>, first: Option<i64>, closed: Option<i64>) -> Timing {
        Timing { tier, created_ms: 0, first_response_ms: first, closed_ms: closed }
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentiles(vec![]), None);
        assert_eq!(percentiles(vec![7]), Some(Percentiles { p50: 7, p90: 7, count: 1 }));
        let p = percentiles((1..=10).rev().collect()).expect("some");
        assert_eq!((p.p50, p.p90, p.count), (5, 9, 10));
    }

    #[test]
    fn first_response_is_split_by_tier() {
        let rows = vec![
            timing(Some(Tier::Premium), Some(60_000), None),
            timing(Some(Tier::Premium), Some(120_000), Some(600_000)),
            timing(Some(Tier::Basic), None, None),
            timing(None, Some(30_000), Some(90_000)),
        ];
        let by_tier = first_response_by_tier(&rows);
        assert_eq!(by_tier.len(), 2, "basic has no answers yet");
        assert_eq!(by_tier[0], (Some(Tier::Premium), Percentiles { p50: 60_000, p90: 120_000, count: 2 }));
        assert_eq!(by_tier[1].0, None);
        assert_eq!(resolution(&rows), Some(Percentiles { p50: 90_000, p90: 600_000, count: 2 }));
    }
}
