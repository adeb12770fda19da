//! Intake dialogue state per private chat, as JSON text, and the language
//! each customer chose.

use super::{Storage, StorageResult, with_pool, with_read_pool};

impl Storage {
    /// The stored dialogue state of `chat_id`, if any.
    pub async fn dialogue(&self, chat_id: i64) -> StorageResult<Option<String>> {
        let row: Option<(String,)> = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT state FROM dialogues WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(state,)| state))
    }

    /// Stores (inserts or replaces) the dialogue state of `chat_id`.
    pub async fn set_dialogue(&self, chat_id: i64, state: &str, now_ms: i64) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO dialogues (chat_id, state, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(chat_id)
            .bind(state)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Forgets the dialogue of `chat_id` (no error if there was none).
    pub async fn remove_dialogue(&self, chat_id: i64) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM dialogues WHERE chat_id = $1")
                .bind(chat_id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }
}

impl Storage {
    /// The language a customer chose with `/language`, if any.
    pub async fn customer_language(&self, customer_id: i64) -> StorageResult<Option<String>> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT language FROM customer_languages WHERE customer_id = $1")
                .bind(customer_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(|(language,)| language))
    }

    /// Stores a customer's chosen language; their tickets follow (what the
    /// bot tells them about one from now on, reopened ones included).
    pub async fn set_customer_language(
        &self,
        customer_id: i64,
        language: &str,
        now_ms: i64,
    ) -> StorageResult<()> {
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO customer_languages (customer_id, language, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (customer_id) DO UPDATE SET language = excluded.language, \
                     updated_at = excluded.updated_at",
                )
                .bind(customer_id)
                .bind(language)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE tickets SET language = $2 WHERE customer_id = $1")
                    .bind(customer_id)
                    .bind(language)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await
        })?;
        Ok(())
    }
}
