//! Relayed messages and their copies (DESIGN §12): the counterpart of a
//! message on the other side of a ticket, for replies and edits.

use super::{Storage, StorageResult, with_pool};

/// A message in one chat and its copy in another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessagePair {
    pub origin_chat: i64,
    pub origin_message: i32,
    pub copy_chat: i64,
    pub copy_message: i32,
    pub ticket_id: i64,
}

impl Storage {
    /// Records a copy Telegram accepted. A second record of the same origin
    /// (a job run again after a crash) keeps the first.
    pub async fn record_pair(&self, pair: &MessagePair, now_ms: i64) -> StorageResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO message_pairs (origin_chat, origin_message, copy_chat, copy_message, ticket_id, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(pair.origin_chat)
            .bind(i64::from(pair.origin_message))
            .bind(pair.copy_chat)
            .bind(i64::from(pair.copy_message))
            .bind(pair.ticket_id)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// The message on the other side of `message` in `chat`, within
    /// `ticket` (a customer's chat holds every ticket's messages): its copy
    /// if it was relayed, its origin if it is a copy. One indexed read
    /// either way.
    pub async fn counterpart(
        &self,
        ticket: i64,
        chat: i64,
        message: i32,
    ) -> StorageResult<Option<(i64, i32)>> {
        let row: Option<(i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT copy_chat, copy_message FROM message_pairs \
                 WHERE origin_chat = $1 AND origin_message = $2 AND ticket_id = $3 \
                 UNION ALL \
                 SELECT origin_chat, origin_message FROM message_pairs \
                 WHERE copy_chat = $1 AND copy_message = $2 AND ticket_id = $3 \
                 LIMIT 1",
            )
            .bind(chat)
            .bind(i64::from(message))
            .bind(ticket)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.and_then(|(chat, message)| i32::try_from(message).ok().map(|m| (chat, m))))
    }
}
