//! The durable outbox (DESIGN §9): what the bot is going to send, written
//! before it is sent and marked done once Telegram accepted it.

use super::{Storage, StorageResult, with_pool, with_read_pool};

/// A row to add to the outbox.
#[derive(Clone, Debug)]
pub struct NewOutboxRow<'a> {
    /// Rows of one lane are sent one at a time, in id order.
    pub lane: &'a str,
    /// 0 is sent first when the bot must wait (premium), then 1, …
    pub priority: i32,
    /// The job, as JSON.
    pub job: &'a str,
    /// Makes the insert idempotent (`None`: always insert).
    pub dedupe_key: Option<&'a str>,
    pub ticket_id: Option<i64>,
    pub created_at: i64,
}

/// A row waiting to be sent.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub lane: String,
    pub priority: i32,
    pub job: String,
    pub attempts: i32,
}

/// Values bound in one statement at most (SQLite allows 32,766).
const MAX_BOUND_ROWS: usize = 3000;

/// Counts of the outbox by state, for `/metrics` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub failed: i64,
}

impl Storage {
    /// Adds a row; `None` when its dedupe key was already used (the effect
    /// of a replayed update that was enqueued before the crash).
    pub async fn outbox_push(&self, row: &NewOutboxRow<'_>) -> StorageResult<Option<i64>> {
        let id: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO outbox (lane, priority, job, dedupe_key, ticket_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            )
            .bind(row.lane)
            .bind(row.priority)
            .bind(row.job)
            .bind(row.dedupe_key)
            .bind(row.ticket_id)
            .bind(row.created_at)
            .fetch_optional(pool)
            .await
        })?;
        Ok(id.map(|(id,)| id))
    }

    /// Pending rows with an id above `after`, in id order.
    pub async fn outbox_pending(&self, after: i64, limit: i64) -> StorageResult<Vec<OutboxRow>> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, lane, priority, job, attempts FROM outbox \
                 WHERE done_at IS NULL AND failed_at IS NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Records a failed attempt that will be retried.
    pub async fn outbox_retrying(&self, id: i64, error: &str) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE outbox SET error = $2, attempts = attempts + 1 WHERE id = $1")
                .bind(id)
                .bind(error)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Pending and failed rows.
    pub async fn outbox_counts(&self) -> StorageResult<OutboxCounts> {
        let (pending, failed): (i64, i64) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT \
                   (SELECT COUNT(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL), \
                   (SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL)",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok(OutboxCounts { pending, failed })
    }

    /// Whether a lane has rows waiting (the topic repair task leaves such
    /// tickets to the worker).
    pub async fn outbox_lane_busy(&self, lane: &crate::domain::Lane) -> StorageResult<bool> {
        let lane = lane.to_string();
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id FROM outbox WHERE lane = $1 AND done_at IS NULL AND failed_at IS NULL LIMIT 1",
            )
            .bind(lane)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.is_some())
    }

    /// Whether a job of `lane` was refused since `since_ms` (to report a
    /// lasting problem once, not on every retry).
    pub async fn outbox_refused_since(
        &self,
        lane: &crate::domain::Lane,
        since_ms: i64,
    ) -> StorageResult<bool> {
        let lane = lane.to_string();
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id FROM outbox WHERE lane = $1 AND failed_at >= $2 LIMIT 1")
                .bind(lane)
                .bind(since_ms)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.is_some())
    }

    /// Deletes finished rows created before `before_ms`.
    pub async fn outbox_prune(&self, before_ms: i64) -> StorageResult<u64> {
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM outbox WHERE (done_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at < $1",
            )
            .bind(before_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(result)
    }
}

/// An outbox row queued by a handler, written with its update's inbox mark.
#[derive(Clone, Debug)]
pub struct QueuedRow {
    pub lane: String,
    pub priority: i32,
    pub job: String,
    pub dedupe_key: String,
    pub ticket_id: Option<i64>,
}

/// A dialogue state written by a handler, stored with its update's inbox
/// mark: `None` removes the dialogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogueChange {
    pub chat_id: i64,
    pub state: Option<String>,
}

/// What handling one update produced: its outbox rows, its dialogue
/// changes, and how it ended.
#[derive(Clone, Debug)]
pub struct HandledUpdate {
    pub update_id: i64,
    pub rows: Vec<QueuedRow>,
    pub dialogues: Vec<DialogueChange>,
    pub error: Option<String>,
}

/// How an outbox job ended.
#[derive(Clone, Debug)]
pub struct FinishedJob {
    pub id: i64,
    /// `None`: sent; `Some(reason)`: refused for good.
    pub refused: Option<String>,
    /// The messages the job relayed and their copies, recorded with its
    /// mark (no write of their own).
    pub pairs: Vec<super::MessagePair>,
    /// Sends into the support group the job made: counted in the group's
    /// per-minute budget when sent.
    pub group_messages: u32,
}

impl Storage {
    /// Writes the outbox rows and dialogue changes of several handled
    /// updates and marks those updates handled, in one transaction: an update
    /// is marked handled exactly when its effects are stored (group commit).
    pub async fn commit_handled(&self, handled: &[HandledUpdate], now_ms: i64) -> StorageResult<()> {
        with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            for update in handled {
                for row in &update.rows {
                    sqlx::query(
                        "INSERT INTO outbox (lane, priority, job, dedupe_key, ticket_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING",
                    )
                    .bind(&row.lane)
                    .bind(row.priority)
                    .bind(&row.job)
                    .bind(&row.dedupe_key)
                    .bind(row.ticket_id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                for change in &update.dialogues {
                    match &change.state {
                        Some(state) => sqlx::query(
                            "INSERT INTO dialogues (chat_id, state, updated_at) VALUES ($1, $2, $3)
                             ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                        )
                        .bind(change.chat_id)
                        .bind(state)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?,
                        None => sqlx::query("DELETE FROM dialogues WHERE chat_id = $1")
                            .bind(change.chat_id)
                            .execute(&mut *tx)
                            .await?,
                    };
                }
                sqlx::query("UPDATE inbox SET handled_at = $2, error = $3 WHERE update_id = $1")
                    .bind(update.update_id)
                    .bind(now_ms)
                    .bind(update.error.as_deref())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await
        })?;
        Ok(())
    }

    /// Marks several jobs sent or refused, and records the message pairs
    /// they relayed, in one transaction: two statements for the marks (the
    /// sent ones together) plus one per refusal, and one for the pairs.
    pub async fn outbox_finish(&self, jobs: &[FinishedJob], now_ms: i64) -> StorageResult<()> {
        let sent: Vec<i64> = jobs.iter().filter(|job| job.refused.is_none()).map(|job| job.id).collect();
        let pairs: Vec<&super::MessagePair> = jobs.iter().flat_map(|job| &job.pairs).collect();
        let into_group: Vec<&FinishedJob> =
            jobs.iter().filter(|job| job.refused.is_none() && job.group_messages > 0).collect();
        with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            for ids in sent.chunks(MAX_BOUND_ROWS) {
                let mut update = sqlx::QueryBuilder::new("UPDATE outbox SET done_at = ");
                update.push_bind(now_ms).push(", attempts = attempts + 1 WHERE id IN (");
                let mut list = update.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                update.push(")");
                update.build().execute(&mut *tx).await?;
            }
            for job in jobs.iter().filter(|job| job.refused.is_some()) {
                sqlx::query(
                    "UPDATE outbox SET failed_at = $2, error = $3, attempts = attempts + 1 WHERE id = $1",
                )
                .bind(job.id)
                .bind(now_ms)
                .bind(job.refused.as_deref())
                .execute(&mut *tx)
                .await?;
            }
            for chunk in pairs.chunks(MAX_BOUND_ROWS / 6) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO message_pairs (origin_chat, origin_message, copy_chat, copy_message, ticket_id, created_at) ",
                );
                insert.push_values(chunk, |mut row, pair| {
                    row.push_bind(pair.origin_chat)
                        .push_bind(i64::from(pair.origin_message))
                        .push_bind(pair.copy_chat)
                        .push_bind(i64::from(pair.copy_message))
                        .push_bind(pair.ticket_id)
                        .push_bind(now_ms);
                });
                insert.push(" ON CONFLICT DO NOTHING");
                insert.build().execute(&mut *tx).await?;
            }
            for chunk in into_group.chunks(MAX_BOUND_ROWS) {
                // The group's budget: messages per minute and the longest
                // wait in the outbox (DESIGN §15).
                let messages: i64 = chunk.iter().map(|job| i64::from(job.group_messages)).sum();
                let mut count = sqlx::QueryBuilder::new(
                    "INSERT INTO group_minutes (minute, messages, longest_wait_ms) SELECT ",
                );
                count
                    .push_bind(now_ms.div_euclid(60_000))
                    .push(", ")
                    .push_bind(messages)
                    .push(", MAX(")
                    .push_bind(now_ms)
                    .push(" - created_at) FROM outbox WHERE id IN (");
                let mut list = count.separated(", ");
                for job in chunk {
                    list.push_bind(job.id);
                }
                count.push(") ").push(super::insights::GROUP_MINUTES_UPSERT);
                count.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await
        })?;
        Ok(())
    }
}
