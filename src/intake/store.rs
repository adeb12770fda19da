//! teloxide's dialogue `Storage` over our own storage layer (DESIGN §11: the
//! teloxide SQL storages would pull in a second sqlx).
//!
//! States are stored as versioned JSON (`domain::intake`).

use std::sync::Arc;

use futures::future::BoxFuture;
use teloxide::{dispatching::dialogue::Storage as DialogueStorage, types::ChatId};

use super::IntakeState;
use crate::{
    clock::SharedClock,
    storage::{Storage, StorageError},
};

/// The dialogue store injected into the handler tree.
#[derive(Clone, Debug)]
pub struct IntakeStore {
    storage: Storage,
    clock: SharedClock,
}

impl IntakeStore {
    /// Wraps the storage.
    pub fn new(storage: Storage, clock: SharedClock) -> Self {
        Self { storage, clock }
    }

    /// Encodes a state for storage.
    pub fn encode(state: &IntakeState) -> String {
        crate::domain::intake::encode(state)
    }

    /// Decodes a stored state; `None` for anything unknown.
    pub fn decode(raw: &str) -> Option<IntakeState> {
        crate::domain::intake::decode(raw)
    }
}

impl DialogueStorage<IntakeState> for IntakeStore {
    type Error = StorageError;

    // Inside a handler, writes are kept and stored with the update's inbox
    // mark (one transaction, `delivery::as_effect_of`), and reads see them:
    // a crash in between replays the update against the state it first saw.
    // These futures are polled inside the handler's task, so the task-local
    // staging is checked where they run.
    fn remove_dialogue(self: Arc<Self>, chat_id: ChatId) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            if crate::delivery::stage_dialogue(chat_id.0, None) {
                return Ok(());
            }
            self.storage.remove_dialogue(chat_id.0).await
        })
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: IntakeState,
    ) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            let raw = Self::encode(&dialogue);
            if crate::delivery::stage_dialogue(chat_id.0, Some(raw.clone())) {
                return Ok(());
            }
            self.storage.set_dialogue(chat_id.0, &raw, self.clock.now_ms()).await
        })
    }

    fn get_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<Option<IntakeState>, Self::Error>> {
        Box::pin(async move {
            let raw = match crate::delivery::staged_dialogue(chat_id.0) {
                Some(staged) => staged,
                None => self.storage.dialogue(chat_id.0).await?,
            };
            let Some(raw) = raw else {
                return Ok(None);
            };
            let state = Self::decode(&raw);
            if state.is_none() {
                tracing::warn!(chat_id = chat_id.0, "discarding an undecodable dialogue state");
            }
            Ok(state)
        })
    }
}
