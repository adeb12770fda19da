//! Tickets: creation, lookup by customer and topic, lifecycle.

use super::{Backend, Storage, StorageError, StorageResult, with_pool, with_read_pool};
use crate::domain::{TicketId, TicketState, TicketStatus, Tier};

/// What intake knows when it opens a ticket.
#[derive(Clone, Debug)]
pub struct NewTicket {
    pub customer_id: i64,
    pub customer_chat_id: i64,
    pub customer_name: String,
    pub customer_username: Option<String>,
    pub language: String,
    pub category: String,
    pub required_skill: String,
    pub description: String,
    pub description_message_id: i32,
    pub description_has_media: bool,
    pub created_at_ms: i64,
}

/// A stored ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    pub id: TicketId,
    pub customer_id: i64,
    pub customer_chat_id: i64,
    pub customer_name: String,
    pub customer_username: Option<String>,
    pub language: String,
    pub category: String,
    pub required_skill: String,
    pub description: String,
    pub description_message_id: i32,
    pub description_has_media: bool,
    pub status: TicketStatus,
    /// The forum topic, once created.
    pub thread_id: Option<i32>,
    /// The pinned internal note, once posted.
    pub note_message_id: Option<i32>,
    pub tier: Option<Tier>,
    pub priority: i64,
    pub assignee_id: Option<i64>,
    pub routing_reason: Option<String>,
    pub created_at_ms: i64,
    pub first_response_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    /// The CRM's raw answer, or why enrichment failed (for audits).
    pub enrichment: Option<String>,
    /// Which routing rule assigned the ticket (`Rule::as_str`).
    pub routing_rule: Option<String>,
    pub assigned_at_ms: Option<i64>,
    /// The pending premium first-response deadline, if any.
    pub override_due_at_ms: Option<i64>,
    /// How often the premium override re-routed this ticket.
    pub escalation_count: i64,
    /// The note is posted but its pin (or attachment copy) may be missing.
    pub note_setup_pending: bool,
    /// The first agent message that reached the customer since the ticket
    /// was (re)opened: the ticket is answered.
    pub answered_at_ms: Option<i64>,
    /// When the ticket was last reopened.
    pub reopened_at_ms: Option<i64>,
}

impl Ticket {
    /// Where the ticket is in its lifecycle (DESIGN §13).
    pub fn state(&self) -> TicketState {
        if self.status == TicketStatus::Closed {
            TicketState::Closed
        } else if self.assignee_id.is_none() {
            TicketState::Waiting
        } else if self.answered_at_ms.is_some() {
            TicketState::Answered
        } else {
            TicketState::Assigned
        }
    }
}

/// The result of trying to reopen a ticket.
#[derive(Clone, Debug, PartialEq)]
pub enum ReopenOutcome {
    Reopened,
    AlreadyOpen,
    /// The customer opened another ticket meanwhile; one chat maps to one open ticket.
    CustomerHasOpenTicket(TicketId),
    NotFound,
}

#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
    id: i64,
    customer_id: i64,
    customer_chat_id: i64,
    customer_name: String,
    customer_username: Option<String>,
    language: String,
    category: String,
    required_skill: String,
    description: String,
    description_message_id: i64,
    description_has_media: bool,
    status: String,
    thread_id: Option<i64>,
    note_message_id: Option<i64>,
    tier: Option<String>,
    priority: i64,
    assignee_id: Option<i64>,
    routing_reason: Option<String>,
    created_at: i64,
    first_response_at: Option<i64>,
    closed_at: Option<i64>,
    enrichment: Option<String>,
    routing_rule: Option<String>,
    assigned_at: Option<i64>,
    override_due_at: Option<i64>,
    escalation_count: i64,
    note_setup_pending: bool,
    answered_at: Option<i64>,
    reopened_at: Option<i64>,
}

/// The columns [`TicketRow`] reads, as a literal so queries stay `&'static str`.
macro_rules! ticket_columns {
    () => {
        "id, customer_id, customer_chat_id, customer_name, customer_username, language, category, \
         required_skill, description, description_message_id, description_has_media, status, thread_id, \
         note_message_id, tier, priority, assignee_id, routing_reason, created_at, first_response_at, closed_at, \
         enrichment, routing_rule, assigned_at, override_due_at, escalation_count, note_setup_pending, \
         answered_at, reopened_at"
    };
}

fn message_id(raw: i64, column: &str, ticket: i64) -> StorageResult<i32> {
    i32::try_from(raw)
        .map_err(|_| StorageError::Corrupt(format!("ticket {ticket}: {column} {raw} out of range")))
}

impl TryFrom<TicketRow> for Ticket {
    type Error = StorageError;

    fn try_from(row: TicketRow) -> StorageResult<Self> {
        let id = row.id;
        let status = TicketStatus::parse(&row.status)
            .ok_or_else(|| StorageError::Corrupt(format!("ticket {id}: unknown status {:?}", row.status)))?;
        let tier = match row.tier.as_deref() {
            None => None,
            Some(raw) => Some(
                Tier::parse(raw)
                    .ok_or_else(|| StorageError::Corrupt(format!("ticket {id}: unknown tier {raw:?}")))?,
            ),
        };
        Ok(Ticket {
            id: TicketId(id),
            customer_id: row.customer_id,
            customer_chat_id: row.customer_chat_id,
            customer_name: row.customer_name,
            customer_username: row.customer_username,
            language: row.language,
            category: row.category,
            required_skill: row.required_skill,
            description: row.description,
            description_message_id: message_id(row.description_message_id, "description_message_id", id)?,
            description_has_media: row.description_has_media,
            status,
            thread_id: row.thread_id.map(|t| message_id(t, "thread_id", id)).transpose()?,
            note_message_id: row.note_message_id.map(|m| message_id(m, "note_message_id", id)).transpose()?,
            tier,
            priority: row.priority,
            assignee_id: row.assignee_id,
            routing_reason: row.routing_reason,
            created_at_ms: row.created_at,
            first_response_at_ms: row.first_response_at,
            closed_at_ms: row.closed_at,
            enrichment: row.enrichment,
            routing_rule: row.routing_rule,
            assigned_at_ms: row.assigned_at,
            override_due_at_ms: row.override_due_at,
            escalation_count: row.escalation_count,
            note_setup_pending: row.note_setup_pending,
            answered_at_ms: row.answered_at,
            reopened_at_ms: row.reopened_at,
        })
    }
}

fn to_tickets(rows: Vec<TicketRow>) -> StorageResult<Vec<Ticket>> {
    rows.into_iter().map(Ticket::try_from).collect()
}

impl Storage {
    /// The tickets a `SELECT <ticket columns> …` with one bound value finds.
    async fn tickets_where(&self, sql: &'static str, value: i64) -> StorageResult<Vec<Ticket>> {
        let rows: Vec<TicketRow> =
            with_pool!(self, |pool| sqlx::query_as(sql).bind(value).fetch_all(pool).await)?;
        to_tickets(rows)
    }
}

impl Storage {
    /// Creates an open ticket. Fails with a unique-violation if the customer
    /// already has an open ticket (callers check first; the index is the guard).
    pub async fn create_ticket(&self, new: &NewTicket) -> StorageResult<Ticket> {
        let sql = concat!(
            "INSERT INTO tickets (customer_id, customer_chat_id, customer_name, customer_username, language, \
             category, required_skill, description, description_message_id, description_has_media, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
            ticket_columns!(),
            ""
        );
        let row: TicketRow = with_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(new.customer_id)
                .bind(new.customer_chat_id)
                .bind(&new.customer_name)
                .bind(&new.customer_username)
                .bind(&new.language)
                .bind(&new.category)
                .bind(&new.required_skill)
                .bind(&new.description)
                .bind(i64::from(new.description_message_id))
                .bind(new.description_has_media)
                .bind(new.created_at_ms)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// The ticket with this number.
    pub async fn ticket(&self, id: TicketId) -> StorageResult<Option<Ticket>> {
        let sql = concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id = $1");
        let row: Option<TicketRow> =
            with_read_pool!(self, |pool| sqlx::query_as(sql).bind(id.0).fetch_optional(pool).await)?;
        row.map(Ticket::try_from).transpose()
    }

    /// The customer's open ticket, if any.
    pub async fn open_ticket_of_customer(&self, customer_id: i64) -> StorageResult<Option<Ticket>> {
        let sql =
            concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE customer_id = $1 AND status = 'open'");
        let row: Option<TicketRow> =
            with_read_pool!(self, |pool| sqlx::query_as(sql).bind(customer_id).fetch_optional(pool).await)?;
        row.map(Ticket::try_from).transpose()
    }

    /// The customer's tickets before `before`: how many, and the last
    /// `limit` of them, newest first (for the note's history line).
    pub async fn customer_history(
        &self,
        customer_id: i64,
        before: TicketId,
        limit: i64,
    ) -> StorageResult<(i64, Vec<PastTicket>)> {
        let (count, rows) = with_read_pool!(self, |pool| {
            async {
                let (count,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM tickets WHERE customer_id = $1 AND id < $2")
                        .bind(customer_id)
                        .bind(before.0)
                        .fetch_one(pool)
                        .await?;
                let rows: Vec<PastRow> = sqlx::query_as(
                    "SELECT id, created_at, category, csat, thread_id FROM tickets \
                     WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(customer_id)
                .bind(before.0)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                Ok::<_, sqlx::Error>((count, rows))
            }
            .await
        })?;
        let past = rows
            .into_iter()
            .map(|(id, created_at_ms, category, csat, thread)| PastTicket {
                id,
                created_at_ms,
                category,
                csat: csat.and_then(|c| u8::try_from(c).ok()),
                thread_id: thread.and_then(|t| i32::try_from(t).ok()),
            })
            .collect();
        Ok((count, past))
    }

    /// The customer's most recently closed ticket.
    pub async fn last_closed_ticket_of_customer(&self, customer_id: i64) -> StorageResult<Option<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE customer_id = $1 AND status = 'closed' ORDER BY closed_at DESC, id DESC LIMIT 1"
        );
        let row: Option<TicketRow> =
            with_read_pool!(self, |pool| sqlx::query_as(sql).bind(customer_id).fetch_optional(pool).await)?;
        row.map(Ticket::try_from).transpose()
    }

    /// Records the customer's rating of their ticket (a later tap replaces
    /// it). `None` if the ticket is not this customer's; else the rating it
    /// had before.
    pub async fn rate_ticket(
        &self,
        id: TicketId,
        customer_id: i64,
        score: u8,
        now_ms: i64,
    ) -> StorageResult<Option<Option<u8>>> {
        let previous = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let row: Option<(Option<i64>,)> =
                    sqlx::query_as("SELECT csat FROM tickets WHERE id = $1 AND customer_id = $2")
                        .bind(id.0)
                        .bind(customer_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if row.is_some() {
                    sqlx::query("UPDATE tickets SET csat = $2, csat_at = $3 WHERE id = $1")
                        .bind(id.0)
                        .bind(i64::from(score))
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(row)
            }
            .await
        })?;
        Ok(previous.map(|(csat,)| csat.and_then(|c| u8::try_from(c).ok())))
    }

    /// The ticket whose forum topic is `thread_id`.
    pub async fn ticket_by_thread(&self, thread_id: i32) -> StorageResult<Option<Ticket>> {
        let sql = concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE thread_id = $1");
        let row: Option<TicketRow> = with_read_pool!(self, |pool| sqlx::query_as(sql)
            .bind(i64::from(thread_id))
            .fetch_optional(pool)
            .await)?;
        row.map(Ticket::try_from).transpose()
    }

    /// Open tickets whose topic or pinned note is still missing (a Telegram
    /// error interrupted their creation), oldest first.
    pub async fn tickets_missing_topic(&self, limit: i64) -> StorageResult<Vec<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE status = 'open' \
             AND (thread_id IS NULL OR note_message_id IS NULL) ORDER BY id LIMIT $1"
        );
        self.tickets_where(sql, limit).await
    }

    /// Records the forum topic created for the ticket.
    pub async fn set_ticket_thread(&self, id: TicketId, thread_id: i32) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE tickets SET thread_id = $2 WHERE id = $1")
                .bind(id.0)
                .bind(i64::from(thread_id))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Records the internal note posted (and pinned) in the ticket's topic.
    pub async fn set_ticket_note(&self, id: TicketId, note_message_id: i32) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE tickets SET note_message_id = $2, note_setup_pending = TRUE WHERE id = $1")
                .bind(id.0)
                .bind(i64::from(note_message_id))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Records that the note's pin (and attachment copy) are done.
    pub async fn finish_note_setup(&self, id: TicketId) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE tickets SET note_setup_pending = FALSE WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Records the first agent reply, once. Returns whether this was the first.
    pub async fn record_first_response(&self, id: TicketId, now_ms: i64) -> StorageResult<bool> {
        // Only the first agent message since the ticket was (re)opened
        // writes: later ones match no row. The premium deadline ends with
        // the very first response.
        let first: Option<(Option<i64>,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE tickets SET answered_at = $2, first_response_at = COALESCE(first_response_at, $2), \
                 override_due_at = CASE WHEN first_response_at IS NULL THEN NULL ELSE override_due_at END \
                 WHERE id = $1 AND answered_at IS NULL RETURNING first_response_at",
            )
            .bind(id.0)
            .bind(now_ms)
            .fetch_optional(pool)
            .await
        })?;
        Ok(first.is_some_and(|(at,)| at == Some(now_ms)))
    }

    /// Closes an open ticket. Returns `false` if it was not open.
    ///
    /// `by_update` is the update doing it: a replay of that same update
    /// (after a crash before its inbox mark) is told `true` again, so it
    /// finishes the close instead of reporting it as done by someone else.
    pub async fn close_ticket(
        &self,
        id: TicketId,
        now_ms: i64,
        by_update: Option<i64>,
    ) -> StorageResult<bool> {
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tickets SET status = 'closed', closed_at = $2, override_due_at = NULL, state_update_id = $3
                 WHERE id = $1 AND status = 'open'",
            )
            .bind(id.0)
            .bind(now_ms)
            .bind(by_update)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if result == 1 {
            return Ok(true);
        }
        self.ticket_state_set_by(id, "closed", by_update).await
    }

    /// Whether the ticket is in `status` because of update `by_update`.
    async fn ticket_state_set_by(
        &self,
        id: TicketId,
        status: &str,
        by_update: Option<i64>,
    ) -> StorageResult<bool> {
        let Some(update) = by_update else { return Ok(false) };
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM tickets WHERE id = $1 AND status = $2 AND state_update_id = $3")
                .bind(id.0)
                .bind(status)
                .bind(update)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.is_some())
    }

    /// Reopens a closed ticket unless its customer has another open one.
    /// Whether update `by_update` made the ticket's last change (a close,
    /// reopen or hand-off): its replay after a crash finishes that change's
    /// work instead of reporting it as done by someone else.
    pub async fn ticket_changed_by(&self, id: TicketId, by_update: Option<i64>) -> StorageResult<bool> {
        let Some(update) = by_update else { return Ok(false) };
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM tickets WHERE id = $1 AND state_update_id = $2")
                .bind(id.0)
                .bind(update)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.is_some())
    }

    /// Open tickets that update `update_id` assigned (it is being replayed:
    /// the notes of those assignments must be posted again).
    pub async fn tickets_assigned_by(&self, update_id: i64) -> StorageResult<Vec<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE state_update_id = $1 AND status = 'open' AND assignee_id IS NOT NULL ORDER BY id"
        );
        self.tickets_where(sql, update_id).await
    }

    /// `by_update` as for [`Storage::close_ticket`].
    pub async fn reopen_ticket(
        &self,
        id: TicketId,
        now_ms: i64,
        by_update: Option<i64>,
    ) -> StorageResult<ReopenOutcome> {
        let Some(ticket) = self.ticket(id).await? else {
            return Ok(ReopenOutcome::NotFound);
        };
        if ticket.status == TicketStatus::Open {
            if self.ticket_state_set_by(id, "open", by_update).await? {
                return Ok(ReopenOutcome::Reopened);
            }
            return Ok(ReopenOutcome::AlreadyOpen);
        }
        if let Some(other) = self.open_ticket_of_customer(ticket.customer_id).await? {
            return Ok(ReopenOutcome::CustomerHasOpenTicket(other.id));
        }
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tickets SET status = 'open', closed_at = NULL, answered_at = NULL, reopened_at = $3, \
                 state_update_id = $2 WHERE id = $1 AND status = 'closed'",
            )
            .bind(id.0)
            .bind(by_update)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        });
        match result {
            Ok(1) => Ok(ReopenOutcome::Reopened),
            Ok(_) => Ok(ReopenOutcome::AlreadyOpen),
            // Lost a race with the customer opening a new ticket: the unique index held.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                match self.open_ticket_of_customer(ticket.customer_id).await? {
                    Some(other) => Ok(ReopenOutcome::CustomerHasOpenTicket(other.id)),
                    None => Err(StorageError::Query(sqlx::Error::Database(e))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Storage {
    /// Forgets a ticket's topic and note (the topic was deleted by hand), so
    /// the next relay creates a fresh one.
    pub async fn reset_ticket_topic(&self, id: TicketId) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE tickets SET thread_id = NULL, note_message_id = NULL WHERE id = $1")
                .bind(id.0)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }
}

/// `id, created_at, category, csat, thread_id` of an earlier ticket.
type PastRow = (i64, i64, String, Option<i64>, Option<i64>);

/// One of a customer's earlier tickets, as the note lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastTicket {
    pub id: i64,
    pub created_at_ms: i64,
    pub category: String,
    pub csat: Option<u8>,
    pub thread_id: Option<i32>,
}

/// One assignment of a batch: `ticket` goes to the assignment's agent if
/// its assignee is still `expected`.
#[derive(Clone, Debug)]
pub struct Claim<'a> {
    pub ticket: TicketId,
    pub expected: Option<i64>,
    pub assignment: Assignment<'a>,
}

/// A routing decision to record on a ticket.
#[derive(Clone, Debug)]
pub struct Assignment<'a> {
    pub agent_id: i64,
    pub rule: &'a str,
    pub reason: &'a str,
    pub now_ms: i64,
    /// The update whose handler made the assignment (`/take`, `/reassign`):
    /// its replay after a crash finds the change made ([`Storage::ticket_changed_by`]).
    pub by_update: Option<i64>,
    /// A person took responsibility (`/take`, `/reassign`): a pending
    /// premium-override deadline starts again from here instead of firing
    /// on the deadline set at opening.
    pub restart_override_at: Option<i64>,
}

impl Storage {
    /// Records what enrichment said, the resulting tier and priority, and
    /// the premium first-response deadline (one write on the intake path).
    pub async fn set_ticket_enrichment(
        &self,
        id: TicketId,
        tier: Option<Tier>,
        priority: i64,
        enrichment: Option<&str>,
        override_due_at: Option<i64>,
    ) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tickets SET tier = $2, priority = $3, enrichment = $4, override_due_at = $5 WHERE id = $1",
            )
            .bind(id.0)
            .bind(tier.map(Tier::as_str))
            .bind(priority)
            .bind(enrichment)
            .bind(override_due_at)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Takes an open ticket away from its assignee and puts it back in the
    /// queue, with the reason why.
    pub async fn requeue_ticket(&self, id: TicketId, rule: &str, reason: &str) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tickets SET assignee_id = NULL, assigned_at = NULL, routing_rule = $2, routing_reason = $3 \
                 WHERE id = $1 AND status = 'open'",
            )
            .bind(id.0)
            .bind(rule)
            .bind(reason)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Puts `context` before a ticket's routing reason ("Alice went
    /// offline…; least-loaded available agent: Bob").
    pub async fn prefix_routing_reason(&self, id: TicketId, context: &str) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tickets SET routing_reason = CASE WHEN routing_reason IS NULL THEN $2 \
                 ELSE $2 || '; ' || routing_reason END WHERE id = $1",
            )
            .bind(id.0)
            .bind(context)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Records why a ticket waits in the queue.
    pub async fn set_ticket_queued(&self, id: TicketId, rule: &str, reason: &str) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tickets SET routing_rule = $2, routing_reason = $3 WHERE id = $1 AND assignee_id IS NULL",
            )
            .bind(id.0)
            .bind(rule)
            .bind(reason)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Assigns an open ticket, atomically: only if its assignee is still
    /// `expected` (so two routers never both claim it), and only if the agent
    /// is still under capacity. Returns whether this call made the assignment.
    pub async fn assign_ticket(
        &self,
        id: TicketId,
        expected: Option<i64>,
        assignment: &Assignment<'_>,
    ) -> StorageResult<bool> {
        let claim = Claim { ticket: id, expected, assignment: assignment.clone() };
        Ok(self.assign_tickets(std::slice::from_ref(&claim)).await?.first().copied().unwrap_or(false))
    }

    /// Makes several assignments in one transaction (a queue drain), each
    /// on the terms of [`Storage::assign_ticket`]: a claim whose ticket
    /// changed or whose agent is full is skipped. Returns, per claim,
    /// whether it was made.
    pub async fn assign_tickets(&self, claims: &[Claim<'_>]) -> StorageResult<Vec<bool>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Postgres(pool) => Ok(assign_tickets_pg(pool, claims).await?),
            Backend::Sqlite(pool) => Ok(assign_tickets_sqlite(pool, claims).await?),
        }
    }

    /// Open tickets assigned to `agent_id` that no agent has answered since
    /// they were opened or reopened (state `assigned`), oldest first.
    pub async fn unanswered_tickets_of(&self, agent_id: i64) -> StorageResult<Vec<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE status = 'open' AND assignee_id = $1 AND answered_at IS NULL ORDER BY id"
        );
        self.tickets_where(sql, agent_id).await
    }

    /// Waiting tickets a queue drain may hand out: open, unassigned and
    /// already routed once (a new ticket is left to its own routing, which
    /// waits for the CRM's answer), highest priority first, then oldest.
    pub async fn routed_queue(&self, limit: i64) -> StorageResult<Vec<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE status = 'open' AND assignee_id IS NULL AND routing_rule IS NOT NULL \
             ORDER BY priority DESC, created_at, id LIMIT $1"
        );
        self.tickets_where(sql, limit).await
    }

    /// Waiting tickets: open and unassigned, highest priority first, then oldest.
    pub async fn queue(&self, limit: i64) -> StorageResult<Vec<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE status = 'open' AND assignee_id IS NULL ORDER BY priority DESC, created_at, id LIMIT $1"
        );
        self.tickets_where(sql, limit).await
    }
}

impl Storage {
    /// Open tickets nobody has answered yet (since they were opened or
    /// reopened): waiting for an agent, or assigned and not answered; by
    /// priority, then oldest first (`/queue`, DESIGN §15).
    pub async fn unanswered(&self, limit: i64) -> StorageResult<Vec<Ticket>> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE status = 'open' AND (assignee_id IS NULL OR answered_at IS NULL) \
             ORDER BY priority DESC, COALESCE(reopened_at, created_at), id LIMIT $1"
        );
        self.tickets_where(sql, limit).await
    }

    /// How many open tickets nobody has answered yet.
    pub async fn unanswered_count(&self) -> StorageResult<i64> {
        let (n,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM tickets WHERE status = 'open' AND (assignee_id IS NULL OR answered_at IS NULL)",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(n)
    }

    /// How many open tickets wait for an agent (for `/metrics`).
    pub async fn queue_length(&self) -> StorageResult<i64> {
        let (n,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM tickets WHERE status = 'open' AND assignee_id IS NULL")
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }
}

/// SQLite has one writer: its transactions never overlap, so each claim's
/// capacity check in its UPDATE counts every earlier assignment.
async fn assign_tickets_sqlite(
    pool: &sqlx::SqlitePool,
    claims: &[Claim<'_>],
) -> Result<Vec<bool>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut made = Vec::with_capacity(claims.len());
    for claim in claims {
        let assignment = &claim.assignment;
        let done = sqlx::query(
            "UPDATE tickets SET assignee_id = $2, routing_rule = $3, routing_reason = $4, \
             assigned_at = $5, state_update_id = COALESCE($7, state_update_id), \
             override_due_at = CASE WHEN override_due_at IS NULL THEN NULL \
                 ELSE COALESCE($8, override_due_at) END \
             WHERE id = $1 AND status = 'open' AND assignee_id IS NOT DISTINCT FROM $6 \
             AND (SELECT COUNT(*) FROM tickets o WHERE o.status = 'open' AND o.assignee_id = $2) \
                 < (SELECT capacity FROM agents WHERE user_id = $2)",
        )
        .bind(claim.ticket.0)
        .bind(assignment.agent_id)
        .bind(assignment.rule)
        .bind(assignment.reason)
        .bind(assignment.now_ms)
        .bind(claim.expected)
        .bind(assignment.by_update)
        .bind(assignment.restart_override_at)
        .execute(&mut *tx)
        .await?;
        let ok = done.rows_affected() == 1;
        if ok {
            sqlx::query("UPDATE agents SET idle_since = $2 WHERE user_id = $1")
                .bind(assignment.agent_id)
                .bind(assignment.now_ms)
                .execute(&mut *tx)
                .await?;
        }
        made.push(ok);
    }
    tx.commit().await?;
    Ok(made)
}

/// PostgreSQL, in five statements whatever the number of claims: lock the
/// agents' rows in a fixed order (as the sweeper does: under READ COMMITTED
/// two assignments of different tickets would otherwise both count an
/// agent's load before either commits, and both fit), read their loads
/// after the lock (a new statement sees what the lock's previous holder
/// committed), lock the claimed tickets and keep the claims whose ticket is
/// still as expected, decide which of those fit, then make them in one
/// UPDATE that checks each ticket's expected assignee again.
async fn assign_tickets_pg(pool: &sqlx::PgPool, claims: &[Claim<'_>]) -> Result<Vec<bool>, sqlx::Error> {
    let mut agents: Vec<i64> = claims.iter().map(|c| c.assignment.agent_id).collect();
    agents.sort_unstable();
    agents.dedup();
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT user_id FROM agents WHERE user_id = ANY($1) ORDER BY user_id FOR UPDATE")
        .bind(&agents)
        .execute(&mut *tx)
        .await?;
    let rooms: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT a.user_id, a.capacity - COALESCE(l.n, 0) FROM agents a \
         LEFT JOIN (SELECT assignee_id, COUNT(*) AS n FROM tickets \
             WHERE status = 'open' AND assignee_id = ANY($1) GROUP BY assignee_id) l ON l.assignee_id = a.user_id \
         WHERE a.user_id = ANY($1)",
    )
    .bind(&agents)
    .fetch_all(&mut *tx)
    .await?;
    let mut room: std::collections::HashMap<i64, i64> = rooms.into_iter().collect();
    // The claimed tickets as they are now (locked, after the agents, as the
    // sweeper locks them): a claim whose ticket changed takes no room.
    let ticket_ids: Vec<i64> = claims.iter().map(|c| c.ticket.0).collect();
    let current: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, assignee_id FROM tickets WHERE id = ANY($1) AND status = 'open' FOR UPDATE",
    )
    .bind(&ticket_ids)
    .fetch_all(&mut *tx)
    .await?;
    let current: std::collections::HashMap<i64, Option<i64>> = current.into_iter().collect();
    let fits: Vec<bool> = claims
        .iter()
        .map(|claim| {
            if current.get(&claim.ticket.0) != Some(&claim.expected) {
                return false;
            }
            match room.get_mut(&claim.assignment.agent_id) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            }
        })
        .collect();
    let chosen: Vec<&Claim<'_>> =
        claims.iter().zip(&fits).filter(|(_, fits)| **fits).map(|(c, _)| c).collect();
    let mut made_ids = std::collections::HashSet::new();
    if !chosen.is_empty() {
        let column = |f: fn(&Claim<'_>) -> Option<i64>| chosen.iter().map(|c| f(c)).collect::<Vec<_>>();
        let ids = column(|c| Some(c.ticket.0));
        let agent_ids = column(|c| Some(c.assignment.agent_id));
        let now = column(|c| Some(c.assignment.now_ms));
        let expected = column(|c| c.expected);
        let by_update = column(|c| c.assignment.by_update);
        let restart = column(|c| c.assignment.restart_override_at);
        let rules: Vec<&str> = chosen.iter().map(|c| c.assignment.rule).collect();
        let reasons: Vec<&str> = chosen.iter().map(|c| c.assignment.reason).collect();
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "UPDATE tickets t SET assignee_id = v.agent, routing_rule = v.rule, routing_reason = v.reason, \
             assigned_at = v.now, state_update_id = COALESCE(v.by_update, t.state_update_id), \
             override_due_at = CASE WHEN t.override_due_at IS NULL THEN NULL \
                 ELSE COALESCE(v.restart, t.override_due_at) END \
             FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[], \
                 $7::BIGINT[], $8::BIGINT[]) AS v(id, agent, rule, reason, now, expected, by_update, restart) \
             WHERE t.id = v.id AND t.status = 'open' AND t.assignee_id IS NOT DISTINCT FROM v.expected \
             RETURNING t.id, v.agent, v.now",
        )
        .bind(&ids)
        .bind(&agent_ids)
        .bind(&rules)
        .bind(&reasons)
        .bind(&now)
        .bind(&expected)
        .bind(&by_update)
        .bind(&restart)
        .fetch_all(&mut *tx)
        .await?;
        let mut idle: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
        for (id, agent, at) in rows {
            made_ids.insert(id);
            let latest = idle.entry(agent).or_insert(at);
            *latest = (*latest).max(at);
        }
        if !idle.is_empty() {
            let (agents, times): (Vec<i64>, Vec<i64>) = idle.into_iter().unzip();
            sqlx::query(
                "UPDATE agents a SET idle_since = v.at FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS v(agent, at) \
                 WHERE a.user_id = v.agent",
            )
            .bind(&agents)
            .bind(&times)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(claims.iter().zip(fits).map(|(claim, fits)| fits && made_ids.contains(&claim.ticket.0)).collect())
}
