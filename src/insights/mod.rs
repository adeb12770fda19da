//! Insights for the team lead (DESIGN §15): the pieces of `/stats`,
//! `/audit` and `/export` that are neither SQL (in `storage`) nor a handler
//! (in `admin`): the period argument, the chart, the CSV file.

pub mod chart;
pub mod export;
pub mod period;
pub mod stats;

/// "4m", "2h 5m", "3d 4h": how long something took or waited.
pub fn duration_label(waited_ms: i64) -> String {
    let ms = waited_ms.max(0);
    let minutes = ms / 60_000;
    match minutes {
        0 if ms == 0 => "0s".to_owned(),
        0 if ms < 1000 => format!("{ms}ms"),
        0 if ms < 10_000 && ms % 1000 != 0 => format!("{:.1}s", ms as f64 / 1000.0),
        0 => format!("{}s", ms / 1000),
        1..=59 => format!("{minutes}m"),
        60..=1439 => format!("{}h {}m", minutes / 60, minutes % 60),
        _ => format!("{}d {}h", minutes / 1440, minutes / 60 % 24),
    }
}
