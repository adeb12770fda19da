//! teloxide's dialogue `Storage` over our own storage layer (DESIGN §11: the
//! teloxide SQL storages would pull in a second sqlx).
//!
//! States are stored as versioned JSON. A state that no longer decodes (an
//! old version, a corrupt row) is treated as no dialogue: the customer starts
//! over instead of being stuck.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
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

/// The stored envelope; bump `v` when `IntakeState` changes incompatibly.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u8,
    state: IntakeState,
}

const VERSION: u8 = 1;

impl IntakeStore {
    /// Wraps the storage.
    pub fn new(storage: Storage, clock: SharedClock) -> Self {
        Self { storage, clock }
    }

    /// Encodes a state for storage.
    pub fn encode(state: &IntakeState) -> String {
        serde_json::to_string(&Stored { v: VERSION, state: state.clone() })
            .unwrap_or_else(|_| String::from("{}"))
    }

    /// Decodes a stored state; `None` for anything unknown.
    pub fn decode(raw: &str) -> Option<IntakeState> {
        match serde_json::from_str::<Stored>(raw) {
            Ok(stored) if stored.v == VERSION => Some(stored.state),
            _ => None,
        }
    }
}

impl DialogueStorage<IntakeState> for IntakeStore {
    type Error = StorageError;

    fn remove_dialogue(self: Arc<Self>, chat_id: ChatId) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move { self.storage.remove_dialogue(chat_id.0).await })
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: IntakeState,
    ) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            let raw = Self::encode(&dialogue);
            self.storage.set_dialogue(chat_id.0, &raw, self.clock.now_ms()).await
        })
    }

    fn get_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<Option<IntakeState>, Self::Error>> {
        Box::pin(async move {
            let Some(raw) = self.storage.dialogue(chat_id.0).await? else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_the_v1_format_is_frozen() {
        let state = IntakeState::Describing { category: "billing".into() };
        let raw = IntakeStore::encode(&state);
        assert_eq!(raw, r#"{"v":1,"state":{"Describing":{"category":"billing"}}}"#);
        assert_eq!(IntakeStore::decode(&raw), Some(state));
        assert_eq!(
            IntakeStore::decode(&IntakeStore::encode(&IntakeState::ChoosingCategory)),
            Some(IntakeState::ChoosingCategory)
        );
    }

    #[test]
    fn unknown_versions_and_garbage_decode_to_nothing() {
        for raw in
            ["", "{}", "not json", r#"{"v":2,"state":"ChoosingCategory"}"#, r#"{"v":1,"state":"Flying"}"#]
        {
            assert_eq!(IntakeStore::decode(raw), None, "{raw}");
        }
    }
}
