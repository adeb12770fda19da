//! The simulator's output: one column per scenario and policy, one row per
//! figure; or JSON for machines.

use super::engine::{GROUP_LIMIT, Percentiles, Report};

const TIERS: [&str; 4] = ["premium", "standard", "basic", "unknown"];

/// `45s`, `4.9m`, `2.3h`: durations short enough for a table cell.
pub fn short_duration(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.1}m", s / 60.0)
    } else {
        format!("{:.1}h", s / 3600.0)
    }
}

fn cell(p: Option<Percentiles>, pick: impl Fn(&Percentiles) -> u64) -> String {
    p.map_or_else(|| "–".to_owned(), |p| short_duration(pick(&p)))
}

/// The table (Markdown, so it reads in a terminal and pastes into docs).
pub fn table(scenarios: &[(String, Vec<Report>)]) -> String {
    let columns: Vec<(String, &Report)> = scenarios
        .iter()
        .flat_map(|(name, reports)| {
            reports.iter().map(move |r| {
                (if name.is_empty() { r.policy.to_owned() } else { format!("{name} · {}", r.policy) }, r)
            })
        })
        .collect();
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: String, f: &dyn Fn(&Report) -> String| {
        rows.push((label, columns.iter().map(|(_, r)| f(r)).collect()));
    };
    row("tickets".into(), &|r| r.tickets.to_string());
    for (i, tier) in TIERS.iter().enumerate() {
        if columns.iter().all(|(_, r)| r.first_response[i].is_none() && r.resolution[i].is_none()) {
            continue;
        }
        row(format!("first response {tier} p50 / p90 / p99"), &|r| {
            format!(
                "{} / {} / {}",
                cell(r.first_response[i], |p| p.p50),
                cell(r.first_response[i], |p| p.p90),
                cell(r.first_response[i], |p| p.p99)
            )
        });
        row(format!("resolution {tier} p50 / p90"), &|r| {
            format!("{} / {}", cell(r.resolution[i], |p| p.p50), cell(r.resolution[i], |p| p.p90))
        });
    }
    row("escalations (tickets escalated)".into(), &|r| {
        format!("{} ({:.1} %)", r.escalations, r.escalated_share * 100.0)
    });
    row("premium overrides".into(), &|r| r.premium_overrides.to_string());
    row("misroutes: senior on a basic ticket".into(), &|r| r.misroutes_senior_on_basic.to_string());
    row("misroutes: agent below the complexity".into(), &|r| r.misroutes_below_complexity.to_string());
    for level in 0..3 {
        if columns.iter().all(|(_, r)| r.utilisation_by_level[level].is_none()) {
            continue;
        }
        row(format!("utilisation, level-{} agents", level + 1), &|r| {
            r.utilisation_by_level[level].map_or_else(|| "–".to_owned(), |u| format!("{:.0} %", u * 100.0))
        });
    }
    row(format!("group messages/min p50 / peak (limit {GROUP_LIMIT})"), &|r| {
        format!("{} / {}", r.group_messages_p50, r.group_messages_peak)
    });
    row(format!("minutes over {GROUP_LIMIT} messages"), &|r| r.group_minutes_over_limit.to_string());
    row("unresolved at the end".into(), &|r| r.unresolved.to_string());

    let mut out = String::new();
    out.push_str("| |");
    for (name, _) in &columns {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|");
    for _ in &columns {
        out.push_str("---|");
    }
    for (label, cells) in rows {
        out.push_str(&format!("\n| {label} |"));
        for cell in cells {
            out.push_str(&format!(" {cell} |"));
        }
    }
    out
}

/// The same figures as JSON: `[{"scenario": …, "reports": [Report…]}]`,
/// durations in milliseconds.
pub fn json(scenarios: &[(String, Vec<Report>)]) -> String {
    let value: Vec<serde_json::Value> = scenarios
        .iter()
        .map(|(name, reports)| {
            let reports: Vec<serde_json::Value> = reports.iter().map(labelled).collect();
            serde_json::json!({ "scenario": name, "reports": reports })
        })
        .collect();
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// A report with its per-tier and per-level arrays as named fields
/// (`"first_response": {"premium": …}`, `"utilisation_by_level": {"1": …}`).
fn labelled(report: &Report) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    let name = |key: &str, names: &[&str], value: &mut serde_json::Value| {
        if let Some(serde_json::Value::Array(items)) = value.get_mut(key) {
            let map: serde_json::Map<String, serde_json::Value> =
                names.iter().map(|n| (*n).to_owned()).zip(std::mem::take(items)).collect();
            value[key] = serde_json::Value::Object(map);
        }
    };
    name("first_response", &TIERS, &mut value);
    name("resolution", &TIERS, &mut value);
    name("utilisation_by_level", &["1", "2", "3"], &mut value);
    value
}

#[cfg(test)]
mod tests {
    use super::short_duration;

    #[test]
    fn durations_fit_a_cell() {
        assert_eq!(short_duration(45_000), "45s");
        assert_eq!(short_duration(294_000), "4.9m");
        assert_eq!(short_duration(8_280_000), "2.3h");
    }
}
