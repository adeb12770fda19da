//! The handler tree: one branch per domain, merged here (DESIGN §3: the bot
//! acts only in private chats and in the support group).

use teloxide::{RequestError, dispatching::UpdateHandler, prelude::*, types::UpdateKind};

use crate::{intake, storage::StorageError, tickets};

/// Errors a handler can end with. Each is logged with the update id by the
/// runtime; the person gets a short localised message where it matters.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Telegram(#[from] RequestError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Desk(#[from] tickets::DeskError),
    #[error(transparent)]
    Routing(#[from] crate::routing::service::RoutingError),
    /// Telegram sent an update teloxide cannot read; it is kept in the inbox.
    #[error("the update could not be read (kept raw in the inbox)")]
    Unparsed,
}

impl HandlerError {
    /// Whether running the handler again may succeed: the database was
    /// unreachable or busy. (Handlers are safe to run again: what they queue
    /// in the outbox is keyed by the update.)
    pub fn is_transient(&self) -> bool {
        let storage = match self {
            HandlerError::Storage(e)
            | HandlerError::Desk(tickets::DeskError::Storage(e))
            | HandlerError::Desk(tickets::DeskError::Routing(
                crate::routing::service::RoutingError::Storage(e),
            ))
            | HandlerError::Routing(crate::routing::service::RoutingError::Storage(e)) => e,
            _ => return false,
        };
        matches!(storage, StorageError::Query(_) | StorageError::Connect { .. })
    }
}

/// Builds the whole tree. Updates from any other chat fall through unhandled
/// and are logged by the runtime.
pub fn schema(support_group: ChatId) -> UpdateHandler<HandlerError> {
    dptree::entry()
        .branch(
            dptree::filter(|update: Update| matches!(update.kind, UpdateKind::Error(_)))
                .endpoint(tickets::handlers::unreadable_update),
        )
        .branch(
            dptree::filter(|update: Update| update.chat().is_some_and(|c| c.is_private()))
                .chain(intake::branch()),
        )
        .branch(
            dptree::filter(move |update: Update| update.chat().is_some_and(|c| c.id == support_group))
                .chain(tickets::handlers::branch()),
        )
}
