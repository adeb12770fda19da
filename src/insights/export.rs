//! `/export` (DESIGN §15): tickets as CSV (RFC 4180, UTF-8, header row,
//! CRLF line ends), one row per ticket opened in the period.
//!
//! Text a person typed (names, descriptions, categories) is neutralised
//! against spreadsheet formula injection: a cell that begins with `=`, `+`,
//! `-`, `@`, a tab or a carriage return gets a leading `'`, so a spreadsheet
//! shows it as text and never runs it (OWASP's advice). Numbers and times
//! are written as they are.

use std::io::Write;

use serde_json::Value;

use crate::storage::{ExportRow, Storage, StorageError, Window};

/// The columns, in order: DESIGN §15's, then the customer's name and the
/// ticket's description.
pub const COLUMNS: [&str; 16] = [
    "ticket",
    "opened_at",
    "customer_id",
    "tier",
    "category",
    "priority",
    "agent_id",
    "first_response_at",
    "frt_seconds",
    "closed_at",
    "resolution_seconds",
    "escalations",
    "csat",
    "enrichment",
    "customer_name",
    "description",
];

/// Writes the CSV row by row.
pub struct CsvExport<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> CsvExport<W> {
    /// Starts the file with its header row.
    pub fn new(out: W) -> Result<Self, csv::Error> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(out);
        writer.write_record(COLUMNS)?;
        Ok(Self { writer })
    }

    /// One ticket.
    pub fn row(&mut self, row: &ExportRow) -> Result<(), csv::Error> {
        let seconds =
            |from: i64, to: Option<i64>| to.map(|to| ((to - from) / 1000).to_string()).unwrap_or_default();
        let time = |ms: Option<i64>| ms.map(iso_utc).unwrap_or_default();
        self.writer.write_record([
            row.id.to_string(),
            iso_utc(row.created_at),
            row.customer_id.to_string(),
            row.tier.clone().unwrap_or_default(),
            neutralise(&row.category),
            row.priority.to_string(),
            row.assignee_id.map(|id| id.to_string()).unwrap_or_default(),
            time(row.first_response_at),
            seconds(row.created_at, row.first_response_at),
            time(row.closed_at),
            seconds(row.created_at, row.closed_at),
            row.escalation_count.to_string(),
            row.csat.map(|c| c.to_string()).unwrap_or_default(),
            enrichment(row.crm_outcome.as_deref(), row.legacy_enrichment.as_deref()),
            neutralise(&row.customer_name),
            neutralise(&row.description),
        ])
    }

    /// Flushes and hands back the output.
    pub fn finish(self) -> Result<W, csv::Error> {
        self.writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write the export: {0}")]
    Write(#[from] csv::Error),
}

/// Streams the tickets opened in `window` into `out` as CSV, row by row
/// (never all in memory). Returns how many rows were written.
pub async fn write(storage: &Storage, window: Window, out: impl Write) -> Result<u64, ExportError> {
    let mut csv = CsvExport::new(std::io::BufWriter::with_capacity(64 * 1024, out))?;
    let written = storage.export_tickets(window, |row| csv.row(&row)).await??;
    let mut out = csv.finish()?;
    out.flush().map_err(csv::Error::from)?;
    Ok(written)
}

/// `2026-12-05T09:30:00Z`.
pub fn iso_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `tickets-2026-11-28-2026-12-05.csv`.
pub fn file_name(window: Window) -> String {
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    format!("tickets-{}-{}.csv", day(window.from_ms), day(window.to_ms))
}

/// A cell a spreadsheet will show as text, never run as a formula.
pub fn neutralise(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// `ok`, or `fallback:<reason>` (DESIGN §15). `outcome` is the recorded
/// CRM call's; tickets from before calls were recorded fall back to the
/// enrichment record stored with the ticket.
pub fn enrichment(outcome: Option<&str>, legacy: Option<&str>) -> String {
    let reason = match outcome {
        Some("ok") => return "ok".to_owned(),
        Some(other) => other.to_owned(),
        None => match legacy.map(serde_json::from_str::<Value>) {
            None => "not_configured".to_owned(),
            Some(Ok(record)) => match record.get("status").and_then(Value::as_str) {
                Some("ok") => return "ok".to_owned(),
                Some("unusable") => "invalid_fields".to_owned(),
                _ => "unavailable".to_owned(),
            },
            Some(Err(_)) => "unavailable".to_owned(),
        },
    };
    format!("fallback:{reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ExportRow {
        ExportRow {
            id: 7,
            created_at: 1_764_927_000_000,
            customer_id: 42,
            customer_name: "Doe, \"JD\"".into(),
            tier: Some("premium".into()),
            category: "billing".into(),
            priority: 100,
            assignee_id: Some(9),
            first_response_at: Some(1_764_927_090_000),
            closed_at: None,
            escalation_count: 1,
            csat: Some(5),
            crm_outcome: Some("timeout".into()),
            legacy_enrichment: None,
            description: "=HYPERLINK(\"http://x\")\nline two".into(),
        }
    }

    #[test]
    fn rows_follow_rfc_4180_and_never_run_as_formulas() {
        let mut export = CsvExport::new(Vec::new()).expect("header");
        export.row(&row()).expect("row");
        let text = String::from_utf8(export.finish().expect("finish")).expect("utf-8");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(
            text.split_once("\r\n").map(|(_, rest)| rest),
            Some(
                "7,2025-12-05T09:30:00Z,42,premium,billing,100,9,2025-12-05T09:31:30Z,90,,,1,5,fallback:timeout,\
                 \"Doe, \"\"JD\"\"\",\"'=HYPERLINK(\"\"http://x\"\")\nline two\"\r\n"
            )
        );
        // Read back by a CSV reader: the same fields.
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().expect("a row").expect("valid");
        assert_eq!(&record[14], "Doe, \"JD\"");
        assert_eq!(&record[15], "'=HYPERLINK(\"http://x\")\nline two");
    }

    #[test]
    fn every_formula_start_is_neutralised() {
        for cell in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"));
        }
        assert_eq!(neutralise("plain"), "plain");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn enrichment_reads_ok_or_the_fallback_reason() {
        assert_eq!(enrichment(Some("ok"), None), "ok");
        assert_eq!(enrichment(Some("http_error"), None), "fallback:http_error");
        assert_eq!(enrichment(None, None), "fallback:not_configured");
        assert_eq!(enrichment(None, Some(r#"{"status":"ok","response":{}}"#)), "ok");
        assert_eq!(enrichment(None, Some(r#"{"status":"failed","reason":"x"}"#)), "fallback:unavailable");
        assert_eq!(enrichment(None, Some("garbage")), "fallback:unavailable");
    }

    #[test]
    fn the_file_is_named_by_its_days() {
        let window = Window { from_ms: 1_764_322_200_000, to_ms: 1_764_927_000_000 };
        assert_eq!(file_name(window), "tickets-2025-11-28-2025-12-05.csv");
    }
}
