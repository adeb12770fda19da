//! Insights for the team lead (DESIGN §15): the pieces of `/stats`,
//! `/audit` and `/export` that are neither SQL (in `storage`) nor a handler
//! (in `admin`): the period argument, the chart, the CSV file.

pub mod chart;
pub mod export;
pub mod period;
pub mod stats;

/// "4m", "2h 5m", "3d 4h": how long something took or waited, rounded
/// to its largest two units.
pub fn duration_label(waited_ms: i64) -> String {
    let ms = waited_ms.max(0);
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 { format!("{big}{big_unit}") } else { format!("{big}{big_unit} {small}{small_unit}") }
    };
    if ms == 0 {
        "0s".to_owned()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 9_950 {
        let text = format!("{:.1}", ms as f64 / 1000.0);
        format!("{}s", text.trim_end_matches(".0"))
    } else if ms < 59_500 {
        format!("{}s", (ms + 500) / 1000)
    } else if ms < 3_570_000 {
        format!("{}m", (ms + 30_000) / 60_000)
    } else if ms < 86_370_000 {
        let minutes = (ms + 30_000) / 60_000;
        pair(minutes / 60, "h", minutes % 60, "m")
    } else {
        let hours = (ms + 1_800_000) / 3_600_000;
        pair(hours / 24, "d", hours % 24, "h")
    }
}
