//! The figures of `/stats`, `/audit` and `/export` (DESIGN §15), computed
//! in SQL from stored timestamps, the same way on SQLite and PostgreSQL.
//!
//! Percentiles are nearest-rank (`rank = ceil(n × p / 100)`), computed with
//! window functions both dialects share, so the two backends give the same
//! numbers to the millisecond.

use futures::TryStreamExt;

use sqlx::{postgres::PgRow, sqlite::SqliteRow};

use super::{Storage, StorageResult, with_pool};
use crate::domain::Tier;

/// A time window `[from_ms, to_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Nearest-rank percentiles of one group of durations (ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spread {
    /// The group: a tier (`""` = unknown), an agent id, a day and tier, …
    pub key: String,
    pub count: i64,
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
}

/// One ticket opened in a window, as `/stats` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketTiming {
    pub tier: Option<Tier>,
    pub created_ms: i64,
    pub first_response_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    pub assignee_id: Option<i64>,
    pub csat: Option<i64>,
}

/// One ticket of the desk's history, for the routing simulator.
pub type HistoryRow = (i64, Option<String>, String, Option<i64>, Option<i64>, i64);

type TimingRow = (Option<String>, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// Counts over a window that `/stats` shows beside the percentiles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub premium_overrides: i64,
    pub reassignments: i64,
    pub crm_fallbacks: i64,
}

/// The support group's message budget over a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Minutes in which the bot sent anything into the group.
    pub active_minutes: i64,
    /// Messages per active minute: median and peak.
    pub p50: i64,
    pub peak: i64,
    /// The longest a message waited in the outbox before it went out.
    pub longest_wait_ms: i64,
}

/// What one CRM call for a ticket came to (DESIGN §15, `/audit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrmCall {
    pub ticket_id: i64,
    pub at_ms: i64,
    /// `ok`, `invalid_fields`, `invalid_body`, `timeout`, `http_error`,
    /// `connection`, `circuit_open` or `other`.
    pub outcome: String,
    pub latency_ms: Option<i64>,
    pub http_status: Option<i64>,
    /// Names of the fields dropped as invalid, sorted.
    pub invalid_fields: Vec<String>,
    /// The same fields as `name value (why)`, as the note names them.
    pub invalid_values: Vec<String>,
    pub tier: Option<String>,
    pub preferred_agent_id: Option<i64>,
    pub opened_circuit: bool,
}

/// A ticket an audit flag points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flagged {
    pub ticket_id: i64,
    pub thread_id: Option<i64>,
    /// What is wrong: the old and new tier, the unknown agent's id, or the
    /// invalid fields' names.
    pub detail: String,
}

/// `/audit`'s counts of CRM calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrmHealth {
    /// Calls made (refusals by the open circuit not counted).
    pub calls: i64,
    /// Per outcome, including `circuit_open`.
    pub outcomes: Vec<(String, i64)>,
    /// Dropped fields by name, most frequent first.
    pub invalid_fields: Vec<(String, i64)>,
    /// Latency of the calls made, when any was.
    pub latency: Option<Spread>,
    pub breaker_openings: i64,
}

/// One row of `/export` (DESIGN §15), times in ms.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ExportRow {
    pub id: i64,
    pub created_at: i64,
    pub customer_id: i64,
    pub customer_name: String,
    pub tier: Option<String>,
    pub category: String,
    pub priority: i64,
    pub assignee_id: Option<i64>,
    pub first_response_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub escalation_count: i64,
    pub csat: Option<i64>,
    pub crm_outcome: Option<String>,
    /// The stored enrichment record, only for tickets without a CRM call row
    /// (opened before calls were recorded).
    pub legacy_enrichment: Option<String>,
    pub description: String,
}

/// A group's key, size and p50/p90/p99 as the percentile query returns them.
type SpreadRow = (String, i64, Option<i64>, Option<i64>, Option<i64>);

/// Adds a finished batch's group messages to its minute (the tail of an
/// `INSERT INTO group_minutes … SELECT`).
pub(super) const GROUP_MINUTES_UPSERT: &str = "ON CONFLICT (minute) DO UPDATE SET \
       messages = group_minutes.messages + excluded.messages, \
       longest_wait_ms = CASE WHEN excluded.longest_wait_ms > group_minutes.longest_wait_ms \
         THEN excluded.longest_wait_ms ELSE group_minutes.longest_wait_ms END";

/// Nearest-rank p50/p90/p99 of `value` grouped by `key` over `source`
/// (`FROM … WHERE …`, binding `$1`/`$2` as the window).
fn spread_sql(key: &str, value: &str, source: &str) -> String {
    format!(
        "SELECT k, n, \
           MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN v END) AS p50, \
           MAX(CASE WHEN rn = (n * 90 + 99) / 100 THEN v END) AS p90, \
           MAX(CASE WHEN rn = (n * 99 + 99) / 100 THEN v END) AS p99 \
         FROM (SELECT {key} AS k, {value} AS v, \
                 ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {value}) AS rn, \
                 COUNT(*) OVER (PARTITION BY {key}) AS n \
               {source}) s \
         GROUP BY k, n ORDER BY k"
    )
}

impl Storage {
    async fn spreads(&self, sql: &str, window: Window) -> StorageResult<Vec<Spread>> {
        let rows: Vec<SpreadRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(window.from_ms)
                .bind(window.to_ms)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(key, count, p50, p90, p99)| Spread {
                key,
                count,
                p50: p50.unwrap_or_default(),
                p90: p90.unwrap_or_default(),
                p99: p99.unwrap_or_default(),
            })
            .collect())
    }

    /// Tickets each agent first answered in the window (their first
    /// response fell in it), with the first-response time: key = the
    /// agent's id (`/agents`' "today").
    pub async fn answered_by_agent(&self, window: Window) -> StorageResult<Vec<Spread>> {
        let source = "FROM tickets WHERE first_response_at >= $1 AND first_response_at < $2 \
                      AND assignee_id IS NOT NULL";
        self.spreads(
            &spread_sql("CAST(assignee_id AS TEXT)", "first_response_at - created_at", source),
            window,
        )
        .await
    }

    /// The timings of every ticket opened in the window, streamed to
    /// `each` (one pass over the window's tickets: `/stats` computes its
    /// per-tier, per-agent and per-day figures from it).
    pub async fn ticket_timings(
        &self,
        window: Window,
        mut each: impl FnMut(TicketTiming),
    ) -> StorageResult<()> {
        const SQL: &str = "SELECT tier, created_at, first_response_at, closed_at, assignee_id, csat \
             FROM tickets WHERE created_at >= $1 AND created_at < $2";
        let read = self
            .stream_window(SQL, window, |row: TimingRow| {
                each(TicketTiming {
                    tier: row.0.as_deref().and_then(Tier::parse),
                    created_ms: row.1,
                    first_response_ms: row.2,
                    closed_ms: row.3,
                    assignee_id: row.4,
                    csat: row.5,
                });
                Ok::<(), std::convert::Infallible>(())
            })
            .await?;
        let Ok(_) = read;
        Ok(())
    }

    /// Tickets closed in the window, per tier (`""` = unknown).
    pub async fn closed_by_tier(&self, window: Window) -> StorageResult<Vec<(String, i64)>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COALESCE(tier, ''), COUNT(*) FROM tickets WHERE closed_at >= $1 AND closed_at < $2 \
                 GROUP BY COALESCE(tier, '') ORDER BY COALESCE(tier, '')",
            )
            .bind(window.from_ms)
            .bind(window.to_ms)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Premium overrides, reassignments and CRM fallbacks in the window.
    pub async fn counters(&self, window: Window) -> StorageResult<Counters> {
        let row: (i64, i64, i64) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT \
                   (SELECT COUNT(*) FROM escalations WHERE at >= $1 AND at < $2), \
                   (SELECT COUNT(*) FROM audit_log WHERE action = 'reassign' AND at >= $1 AND at < $2), \
                   (SELECT COUNT(*) FROM crm_calls WHERE outcome <> 'ok' AND at >= $1 AND at < $2)",
            )
            .bind(window.from_ms)
            .bind(window.to_ms)
            .fetch_one(pool)
            .await
        })?;
        Ok(Counters { premium_overrides: row.0, reassignments: row.1, crm_fallbacks: row.2 })
    }

    /// Counts sends into the support group made outside the outbox (a
    /// `/stats` chart, an `/export` file) in the group's budget.
    pub async fn record_group_sends(&self, now_ms: i64, messages: i64) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO group_minutes (minute, messages, longest_wait_ms) VALUES ($1, $2, 0) {GROUP_MINUTES_UPSERT}"
        );
        with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(now_ms.div_euclid(60_000))
                .bind(messages)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The group's message budget over the window.
    pub async fn group_budget(&self, window: Window) -> StorageResult<Budget> {
        let from = window.from_ms.div_euclid(60_000);
        let to = window.to_ms.div_euclid(60_000);
        let source = "FROM group_minutes WHERE minute >= $1 AND minute < $2";
        let spread =
            self.spreads(&spread_sql("''", "messages", source), Window { from_ms: from, to_ms: to }).await?;
        let (peak, longest): (Option<i64>, Option<i64>) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT MAX(messages), MAX(longest_wait_ms) FROM group_minutes WHERE minute >= $1 AND minute < $2")
                .bind(from)
                .bind(to)
                .fetch_one(pool)
                .await
        })?;
        let Some(spread) = spread.into_iter().next() else { return Ok(Budget::default()) };
        Ok(Budget {
            active_minutes: spread.count,
            p50: spread.p50,
            peak: peak.unwrap_or_default(),
            longest_wait_ms: longest.unwrap_or_default(),
        })
    }

    /// Stores what the CRM call for a ticket came to (replacing an earlier
    /// record for the same ticket).
    pub async fn record_crm_call(&self, call: &CrmCall) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO crm_calls (ticket_id, at, outcome, latency_ms, http_status, invalid_fields, tier, \
                   preferred_agent_id, opened_circuit, invalid_values) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (ticket_id) DO UPDATE SET at = excluded.at, outcome = excluded.outcome, \
                   latency_ms = excluded.latency_ms, http_status = excluded.http_status, \
                   invalid_fields = excluded.invalid_fields, tier = excluded.tier, \
                   preferred_agent_id = excluded.preferred_agent_id, opened_circuit = excluded.opened_circuit, \
                   invalid_values = excluded.invalid_values",
            )
            .bind(call.ticket_id)
            .bind(call.at_ms)
            .bind(&call.outcome)
            .bind(call.latency_ms)
            .bind(call.http_status)
            .bind(call.invalid_fields.join(","))
            .bind(&call.tier)
            .bind(call.preferred_agent_id)
            .bind(call.opened_circuit)
            .bind(call.invalid_values.join("; "))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The CRM's health over the window.
    pub async fn crm_health(&self, window: Window) -> StorageResult<CrmHealth> {
        let outcomes: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT outcome, COUNT(*) FROM crm_calls WHERE at >= $1 AND at < $2 GROUP BY outcome ORDER BY outcome",
            )
            .bind(window.from_ms)
            .bind(window.to_ms)
            .fetch_all(pool)
            .await
        })?;
        let (openings,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM crm_calls WHERE opened_circuit AND at >= $1 AND at < $2")
                .bind(window.from_ms)
                .bind(window.to_ms)
                .fetch_one(pool)
                .await
        })?;
        let combos: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT invalid_fields, COUNT(*) FROM crm_calls \
                 WHERE invalid_fields <> '' AND at >= $1 AND at < $2 GROUP BY invalid_fields",
            )
            .bind(window.from_ms)
            .bind(window.to_ms)
            .fetch_all(pool)
            .await
        })?;
        let mut fields: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for (combo, n) in combos {
            for name in combo.split(',').filter(|name| !name.is_empty()) {
                *fields.entry(name.to_owned()).or_default() += n;
            }
        }
        let mut invalid_fields: Vec<(String, i64)> = fields.into_iter().collect();
        invalid_fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let source = "FROM crm_calls WHERE at >= $1 AND at < $2 AND latency_ms IS NOT NULL";
        let latency = self.spreads(&spread_sql("''", "latency_ms", source), window).await?.into_iter().next();
        let calls = outcomes.iter().filter(|(o, _)| o != "circuit_open").map(|(_, n)| n).sum();
        Ok(CrmHealth { calls, outcomes, invalid_fields, latency, breaker_openings: openings })
    }

    /// Tickets opened in the window whose tier differs from the customer's
    /// previous ticket with a tier (`detail` = `old→new`).
    pub async fn tier_changes(&self, window: Window, limit: i64) -> StorageResult<(i64, Vec<Flagged>)> {
        let base = "FROM tickets t JOIN tickets p ON p.id = ( \
                 SELECT MAX(q.id) FROM tickets q \
                 WHERE q.customer_id = t.customer_id AND q.id < t.id AND q.tier IS NOT NULL) \
             WHERE t.created_at >= $1 AND t.created_at < $2 AND t.tier IS NOT NULL AND p.tier <> t.tier";
        self.flagged(
            &format!("SELECT COUNT(*) {base}"),
            &format!("SELECT t.id, t.thread_id, p.tier || '→' || t.tier {base} ORDER BY t.id DESC LIMIT $3"),
            window,
            limit,
        )
        .await
    }

    /// Tickets whose CRM answer named a `preferred_agent_id` who is not an
    /// agent now (`detail` = the id).
    pub async fn unknown_preferred_agents(
        &self,
        window: Window,
        limit: i64,
    ) -> StorageResult<(i64, Vec<Flagged>)> {
        let base = "FROM crm_calls c JOIN tickets t ON t.id = c.ticket_id \
             WHERE c.at >= $1 AND c.at < $2 AND c.preferred_agent_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.user_id = c.preferred_agent_id)";
        self.flagged(
            &format!("SELECT COUNT(*) {base}"),
            &format!(
                "SELECT t.id, t.thread_id, CAST(c.preferred_agent_id AS TEXT) {base} ORDER BY t.id DESC LIMIT $3"
            ),
            window,
            limit,
        )
        .await
    }

    /// Tickets whose CRM answer had invalid values (`detail` = each field
    /// as `name value (why)`).
    pub async fn out_of_range(&self, window: Window, limit: i64) -> StorageResult<(i64, Vec<Flagged>)> {
        let base = "FROM crm_calls c JOIN tickets t ON t.id = c.ticket_id \
             WHERE c.at >= $1 AND c.at < $2 AND c.invalid_fields <> ''";
        self.flagged(
            &format!("SELECT COUNT(*) {base}"),
            &format!("SELECT t.id, t.thread_id, c.invalid_values {base} ORDER BY t.id DESC LIMIT $3"),
            window,
            limit,
        )
        .await
    }

    async fn flagged(
        &self,
        count_sql: &str,
        rows_sql: &str,
        window: Window,
        limit: i64,
    ) -> StorageResult<(i64, Vec<Flagged>)> {
        let (count,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(count_sql.to_owned()))
                .bind(window.from_ms)
                .bind(window.to_ms)
                .fetch_one(pool)
                .await
        })?;
        let rows: Vec<(i64, Option<i64>, String)> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(rows_sql.to_owned()))
                .bind(window.from_ms)
                .bind(window.to_ms)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok((
            count,
            rows.into_iter()
                .map(|(ticket_id, thread_id, detail)| Flagged { ticket_id, thread_id, detail })
                .collect(),
        ))
    }

    /// The tickets opened in the window, oldest first, as the routing
    /// simulator replays them: `(created_at, tier, category,
    /// first_response_at, closed_at, escalation_count)`, streamed.
    pub async fn history<E>(
        &self,
        window: Window,
        each: impl FnMut(HistoryRow) -> Result<(), E>,
    ) -> StorageResult<Result<u64, E>> {
        const SQL: &str = "SELECT created_at, tier, category, first_response_at, closed_at, escalation_count \
             FROM tickets WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id";
        self.stream_window(SQL, window, each).await
    }

    /// Streams the tickets opened in the window, oldest first, to `each`
    /// (rows are read one at a time, never all held in memory). Returns how
    /// many there were.
    pub async fn export_tickets<E>(
        &self,
        window: Window,
        each: impl FnMut(ExportRow) -> Result<(), E>,
    ) -> StorageResult<Result<u64, E>> {
        const SQL: &str = "SELECT t.id, t.created_at, t.customer_id, t.customer_name, t.tier, t.category, \
               t.priority, t.assignee_id, t.first_response_at, t.closed_at, t.escalation_count, t.csat, \
               c.outcome AS crm_outcome, \
               CASE WHEN c.outcome IS NULL THEN t.enrichment END AS legacy_enrichment, t.description \
             FROM tickets t LEFT JOIN crm_calls c ON c.ticket_id = t.id \
             WHERE t.created_at >= $1 AND t.created_at < $2 ORDER BY t.created_at, t.id";
        self.stream_window(SQL, window, each).await
    }

    /// Runs `sql` (binding the window as `$1`, `$2`) and hands each row to
    /// `each` as it is read, never holding them all; stops at the first
    /// error `each` returns. Returns how many rows `each` took.
    async fn stream_window<R, E>(
        &self,
        sql: &'static str,
        window: Window,
        mut each: impl FnMut(R) -> Result<(), E>,
    ) -> StorageResult<Result<u64, E>>
    where
        R: Send + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        let mut read = 0u64;
        with_pool!(self, |pool| {
            async {
                let mut rows =
                    sqlx::query_as::<_, R>(sql).bind(window.from_ms).bind(window.to_ms).fetch(pool);
                while let Some(row) = rows.try_next().await? {
                    if let Err(error) = each(row) {
                        return Ok(Err(error));
                    }
                    read += 1;
                }
                Ok(Ok(read))
            }
            .await
        })
    }
}
