//! Premium-override deadlines and escalations, claimed atomically so several
//! instances can sweep one database.

use super::{
    Backend, Storage, StorageResult, Ticket,
    agents::{AgentRow, ROSTER_SQL, snapshot},
    tickets::TicketRow,
    with_pool,
};
use crate::domain::{TicketId, agent::AgentSnapshot};

/// A re-assignment by the premium override, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EscalationRow {
    pub ticket_id: i64,
    pub due_at: i64,
    pub from_agent: Option<i64>,
    pub to_agent: i64,
    pub reason: String,
    pub at: i64,
}

impl Storage {
    /// Open tickets whose deadline has passed, most overdue first. Uses the
    /// partial index on `override_due_at`: cost grows with the overdue
    /// tickets only.
    pub async fn overdue_tickets(&self, now_ms: i64, limit: i64) -> StorageResult<Vec<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE override_due_at IS NOT NULL AND override_due_at <= $1 \
             ORDER BY override_due_at LIMIT $2"
        );
        let rows: Vec<TicketRow> =
            with_pool!(self, |pool| sqlx::query_as(sql).bind(now_ms).bind(limit).fetch_all(pool).await)?;
        rows.into_iter().map(Ticket::try_from).collect()
    }

    /// Every escalation, oldest first (audits, tests, /stats).
    pub async fn escalations(&self) -> StorageResult<Vec<EscalationRow>> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT ticket_id, due_at, from_agent, to_agent, reason, at FROM escalations ORDER BY id",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}

/// One re-assignment the sweeper decided on, inside its claim transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverridePlan {
    pub ticket: TicketId,
    pub seen_due_at: i64,
    pub from_agent: Option<i64>,
    pub to_agent: i64,
    pub reason: String,
}

/// The agents with their load (skills are not needed: the override ignores them).
fn load_snapshot(rows: Vec<AgentRow>) -> StorageResult<Vec<AgentSnapshot>> {
    rows.into_iter().map(|row| snapshot(row, Vec::new())).collect()
}

impl Storage {
    /// One sweep's claim, in a single transaction: take the overdue tickets
    /// this instance can have (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
    /// concurrent sweepers split the work; SQLite: `BEGIN IMMEDIATE`, one
    /// writer at a time), read the agents' load under lock, let `plan` pick
    /// (skills are not loaded: the override ignores them), and apply every
    /// pick with its escalation row. Returns the applied plans.
    pub async fn claim_overdue<F>(
        &self,
        now_ms: i64,
        limit: i64,
        next_due_at: i64,
        plan: F,
    ) -> StorageResult<Vec<OverridePlan>>
    where
        F: FnOnce(&[Ticket], &mut [AgentSnapshot]) -> Vec<OverridePlan>,
    {
        let overdue_sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE override_due_at IS NOT NULL AND override_due_at <= $1 \
             ORDER BY override_due_at LIMIT $2"
        );
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let rows: Vec<TicketRow> =
                    sqlx::query_as(overdue_sql).bind(now_ms).bind(limit).fetch_all(&mut *tx).await?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let tickets = rows.into_iter().map(Ticket::try_from).collect::<StorageResult<Vec<_>>>()?;
                let mut roster = load_snapshot(sqlx::query_as(ROSTER_SQL).fetch_all(&mut *tx).await?)?;
                let plans = plan(&tickets, &mut roster);
                if plans.is_empty() {
                    return Ok(plans);
                }
                // Set-based through JSON1: three statements for the whole batch.
                let batch = serde_json::Value::Array(
                    plans
                        .iter()
                        .map(|p| {
                            serde_json::json!({"id": p.ticket.0, "due": p.seen_due_at, "from": p.from_agent,
                                "to": p.to_agent, "reason": p.reason})
                        })
                        .collect(),
                )
                .to_string();
                sqlx::query(
                    "UPDATE tickets SET assignee_id = v.to_agent, routing_rule = 'premium_override', \
                     routing_reason = v.reason, assigned_at = $2, override_due_at = $3, \
                     escalation_count = escalation_count + 1 \
                     FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.to') AS to_agent, \
                           json_extract(value, '$.reason') AS reason, json_extract(value, '$.due') AS due \
                           FROM json_each($1)) AS v \
                     WHERE tickets.id = v.id AND tickets.override_due_at = v.due",
                )
                .bind(&batch)
                .bind(now_ms)
                .bind(next_due_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO escalations (ticket_id, due_at, from_agent, to_agent, reason, at) \
                     SELECT json_extract(value, '$.id'), json_extract(value, '$.due'), json_extract(value, '$.from'), \
                            json_extract(value, '$.to'), json_extract(value, '$.reason'), $2 \
                     FROM json_each($1)",
                )
                .bind(&batch)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE agents SET idle_since = $2 \
                     WHERE user_id IN (SELECT json_extract(value, '$.to') FROM json_each($1))",
                )
                .bind(&batch)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(plans)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // Agents first, in a fixed order: concurrent sweepers queue
                // here instead of over-filling someone's capacity.
                sqlx::query("SELECT user_id FROM agents ORDER BY user_id FOR UPDATE")
                    .execute(&mut *tx)
                    .await?;
                let locked_sql = concat!(
                    "SELECT ",
                    ticket_columns!(),
                    " FROM tickets WHERE override_due_at IS NOT NULL AND override_due_at <= $1 \
                     ORDER BY override_due_at LIMIT $2 FOR UPDATE SKIP LOCKED"
                );
                let rows: Vec<TicketRow> =
                    sqlx::query_as(locked_sql).bind(now_ms).bind(limit).fetch_all(&mut *tx).await?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let tickets = rows.into_iter().map(Ticket::try_from).collect::<StorageResult<Vec<_>>>()?;
                let mut roster = load_snapshot(sqlx::query_as(ROSTER_SQL).fetch_all(&mut *tx).await?)?;
                let plans = plan(&tickets, &mut roster);
                if plans.is_empty() {
                    return Ok(plans);
                }
                let ids: Vec<i64> = plans.iter().map(|p| p.ticket.0).collect();
                let dues: Vec<i64> = plans.iter().map(|p| p.seen_due_at).collect();
                let froms: Vec<Option<i64>> = plans.iter().map(|p| p.from_agent).collect();
                let tos: Vec<i64> = plans.iter().map(|p| p.to_agent).collect();
                let reasons: Vec<String> = plans.iter().map(|p| p.reason.clone()).collect();
                // Set-based: three statements for the whole batch.
                sqlx::query(
                    "UPDATE tickets t SET assignee_id = v.to_agent, routing_rule = 'premium_override', \
                     routing_reason = v.reason, assigned_at = $5, override_due_at = $6, \
                     escalation_count = t.escalation_count + 1 \
                     FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[]) AS v(id, to_agent, reason, due) \
                     WHERE t.id = v.id AND t.override_due_at = v.due",
                )
                .bind(&ids)
                .bind(&tos)
                .bind(&reasons)
                .bind(&dues)
                .bind(now_ms)
                .bind(next_due_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO escalations (ticket_id, due_at, from_agent, to_agent, reason, at) \
                     SELECT v.id, v.due, v.from_agent, v.to_agent, v.reason, $6 \
                     FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[]) \
                     AS v(id, due, from_agent, to_agent, reason)",
                )
                .bind(&ids)
                .bind(&dues)
                .bind(&froms)
                .bind(&tos)
                .bind(&reasons)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE agents SET idle_since = $2 WHERE user_id = ANY($1::bigint[])")
                    .bind(&tos)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(plans)
            }
        }
    }
}
