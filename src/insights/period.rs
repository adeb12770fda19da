//! The `[period]` argument of `/stats`, `/audit` and `/export`: `24h`,
//! `7d` (the default), `30d`, or any humantime duration (`2weeks`, `90m`).

use std::time::Duration;

use crate::storage::Window;

/// The default period.
pub const DEFAULT: Duration = Duration::from_secs(7 * 86_400);
/// The longest period accepted: a year and a day.
pub const LONGEST: Duration = Duration::from_secs(366 * 86_400);
/// The shortest: one minute.
pub const SHORTEST: Duration = Duration::from_secs(60);

/// A period that cannot be read; the handler answers with a usage hint.
#[derive(Debug, PartialEq, Eq)]
pub struct BadPeriod;

/// Reads the argument: empty means [`DEFAULT`].
pub fn parse(arg: &str) -> Result<Duration, BadPeriod> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Ok(DEFAULT);
    }
    let period = humantime::parse_duration(arg).map_err(|_| BadPeriod)?;
    if (SHORTEST..=LONGEST).contains(&period) { Ok(period) } else { Err(BadPeriod) }
}

/// The window of `period` that ends at `now_ms`.
pub fn window(period: Duration, now_ms: i64) -> Window {
    let span = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    Window { from_ms: now_ms.saturating_sub(span), to_ms: now_ms }
}

/// The period as people write it back: `7d`, `24h`, `90m`, `1d 12h`.
pub fn label(period: Duration) -> String {
    let minutes = period.as_secs() / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "m")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() { "0m".to_owned() } else { parts.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_as_people_write_them() {
        assert_eq!(parse(""), Ok(DEFAULT));
        assert_eq!(parse(" 24h "), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse("2weeks"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse("1d 12h"), Ok(Duration::from_secs(36 * 3600)));
        for bad in ["yesterday", "7", "-7d", "0s", "30s", "2y", "7d;drop"] {
            assert_eq!(parse(bad), Err(BadPeriod), "{bad}");
        }
    }

    #[test]
    fn windows_end_now_and_labels_read_back() {
        assert_eq!(window(Duration::from_secs(60), 1_000_000), Window { from_ms: 940_000, to_ms: 1_000_000 });
        assert_eq!(label(DEFAULT), "7d");
        assert_eq!(label(Duration::from_secs(36 * 3600)), "1d 12h");
        assert_eq!(label(Duration::from_secs(90 * 60)), "1h 30m");
    }
}
