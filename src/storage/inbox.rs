//! The durable inbox of updates received from Telegram (DESIGN §9, §11).
//!
//! An update is written here before its offset is confirmed to Telegram, and
//! marked handled once processed, so a crash between receiving and handling
//! replays it at the next start instead of losing it.

use super::{Storage, StorageResult, with_pool, with_read_pool};

/// An update that was received but not yet handled.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingUpdate {
    pub update_id: i64,
    pub payload: String,
}

impl Storage {
    /// Records a received update. Returns `false` when it was already known
    /// (Telegram re-delivered it), in which case it must not be handled again.
    pub async fn inbox_record(&self, update_id: i64, payload: &str, now_ms: i64) -> StorageResult<bool> {
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO inbox (update_id, payload, received_at) VALUES ($1, $2, $3)
                 ON CONFLICT (update_id) DO NOTHING",
            )
            .bind(update_id)
            .bind(payload)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(result == 1)
    }

    /// Records a batch of received updates in one transaction; for each,
    /// whether it was new (see [`Storage::inbox_record`]).
    pub async fn inbox_record_batch(
        &self,
        updates: &[(i64, String)],
        now_ms: i64,
    ) -> StorageResult<Vec<bool>> {
        let inserted = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let mut inserted = Vec::with_capacity(updates.len());
            for (update_id, payload) in updates {
                let done = sqlx::query(
                    "INSERT INTO inbox (update_id, payload, received_at) VALUES ($1, $2, $3)
                     ON CONFLICT (update_id) DO NOTHING",
                )
                .bind(update_id)
                .bind(payload)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                inserted.push(done.rows_affected() == 1);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(inserted)
        }
        .await)?;
        Ok(inserted)
    }

    /// Marks an update handled; `error` records why it could not be.
    pub async fn inbox_mark_handled(
        &self,
        update_id: i64,
        now_ms: i64,
        error: Option<&str>,
    ) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE inbox SET handled_at = $2, error = $3 WHERE update_id = $1")
                .bind(update_id)
                .bind(now_ms)
                .bind(error)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Updates received but not handled (after a crash), oldest first.
    pub async fn inbox_pending(&self, limit: i64) -> StorageResult<Vec<PendingUpdate>> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT update_id, payload FROM inbox WHERE handled_at IS NULL ORDER BY update_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Deletes handled updates received before `before_ms`. Telegram keeps
    /// updates for 24 hours, so older ids can never be re-delivered.
    /// The stored JSON of an update, as Telegram sent it.
    pub async fn inbox_payload(&self, update_id: i64) -> StorageResult<Option<String>> {
        let row: Option<(String,)> = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT payload FROM inbox WHERE update_id = $1")
                .bind(update_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(payload,)| payload))
    }

    /// Updates that could not be handled (kept with their error, raw) stay
    /// until `failed_before_ms`, for an operator to look at.
    pub async fn inbox_prune(&self, before_ms: i64, failed_before_ms: i64) -> StorageResult<u64> {
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM inbox WHERE handled_at IS NOT NULL AND received_at < $1
                 AND (error IS NULL OR received_at < $2)",
            )
            .bind(before_ms)
            .bind(failed_before_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(result)
    }
}

impl Storage {
    /// How many received updates are not handled yet (for `/metrics`).
    pub async fn inbox_pending_count(&self) -> StorageResult<i64> {
        let (n,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL").fetch_one(pool).await
        })?;
        Ok(n)
    }
}
