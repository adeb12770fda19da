//! The error a handler ends with.

use teloxide::RequestError;

use crate::storage::StorageError;

/// Errors a handler can end with. Each is logged with the update id by the
/// runtime; the person gets a short localised message where it matters.
/// The services' own errors convert into it where they are defined (a
/// storage error inside one stays a storage error, so it is retried).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Telegram(#[from] RequestError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A service refused for a reason running again would not change (an
    /// invalid stored value, …).
    #[error(transparent)]
    Service(Box<dyn std::error::Error + Send + Sync>),
    /// Telegram sent an update teloxide cannot read; it is kept in the inbox.
    #[error("the update could not be read (kept raw in the inbox)")]
    Unparsed,
}

impl HandlerError {
    /// Whether running the handler again may succeed: the database was
    /// unreachable or busy. (Handlers are safe to run again: what they queue
    /// in the outbox is keyed by the update.)
    pub fn is_transient(&self) -> bool {
        matches!(self, HandlerError::Storage(StorageError::Query(_) | StorageError::Connect { .. }))
    }
}
