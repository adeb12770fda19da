//! Premium-override deadlines and escalations, claimed atomically so several
//! instances can sweep one database.

use super::{Storage, StorageResult, Ticket, tickets::TicketRow, with_pool};
use crate::domain::TicketId;

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

/// What the sweeper wants to record for one overdue ticket.
#[derive(Clone, Debug)]
pub struct Escalate<'a> {
    pub ticket: TicketId,
    /// The deadline the sweeper saw; the claim fails if it changed meanwhile.
    pub seen_due_at: i64,
    pub from_agent: Option<i64>,
    pub to_agent: i64,
    pub reason: &'a str,
    /// The next deadline, if the new agent does not answer either.
    pub next_due_at: i64,
    pub now_ms: i64,
}

impl Storage {
    /// Sets (or clears) a ticket's first-response deadline.
    pub async fn set_override_due(&self, id: TicketId, due_at: Option<i64>) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE tickets SET override_due_at = $2 WHERE id = $1 AND status = 'open'")
                .bind(id.0)
                .bind(due_at)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

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

    /// Re-assigns an overdue ticket if, and only if, its deadline is still
    /// the one the sweeper saw, it is still open and unanswered, and the new
    /// agent has room. Returns whether this call won the claim.
    pub async fn escalate(&self, e: &Escalate<'_>) -> StorageResult<bool> {
        let won = with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(
                "UPDATE tickets SET assignee_id = $2, routing_rule = 'premium_override', routing_reason = $3, \
                 assigned_at = $4, override_due_at = $5, escalation_count = escalation_count + 1 \
                 WHERE id = $1 AND override_due_at = $6 AND status = 'open' AND first_response_at IS NULL \
                 AND (SELECT COUNT(*) FROM tickets o WHERE o.status = 'open' AND o.assignee_id = $2) \
                     < (SELECT capacity FROM agents WHERE user_id = $2)",
            )
            .bind(e.ticket.0)
            .bind(e.to_agent)
            .bind(e.reason)
            .bind(e.now_ms)
            .bind(e.next_due_at)
            .bind(e.seen_due_at)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(false);
            }
            sqlx::query(
                "INSERT INTO escalations (ticket_id, due_at, from_agent, to_agent, reason, at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(e.ticket.0)
            .bind(e.seen_due_at)
            .bind(e.from_agent)
            .bind(e.to_agent)
            .bind(e.reason)
            .bind(e.now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE agents SET idle_since = $2 WHERE user_id = $1")
                .bind(e.to_agent)
                .bind(e.now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await
        })?;
        Ok(won)
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
