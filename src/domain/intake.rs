//! Where a customer is in the intake dialogue (DESIGN §4), and what they
//! wrote on the way: nothing a customer sends before their ticket exists is
//! thrown away (DESIGN §9).
//!
//! Stored per private chat as versioned JSON. A state that no longer decodes
//! (a corrupt row, a future version) is treated as no dialogue: the customer
//! starts over instead of being stuck.

use serde::{Deserialize, Serialize};

/// Where a customer is in the intake dialogue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntakeState {
    /// No dialogue: messages go to the open ticket, or start a new intake.
    #[default]
    Idle,
    /// Category buttons were offered.
    ChoosingCategory {
        #[serde(default)]
        kept: Kept,
    },
    /// A category was picked; waiting for the description.
    Describing {
        category: String,
        #[serde(default)]
        kept: Kept,
    },
}

impl IntakeState {
    /// What the customer wrote during this intake, if it is one.
    pub fn kept(&self) -> Option<&Kept> {
        match self {
            IntakeState::Idle => None,
            IntakeState::ChoosingCategory { kept } | IntakeState::Describing { kept, .. } => Some(kept),
        }
    }
}

/// What a customer sent during the intake that is not (yet) the description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The first words the customer wrote: offered as the description once
    /// a category is chosen, else relayed with the ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<Draft>,
    /// Other messages (photos without a caption, stickers, more text), in
    /// order: relayed into the ticket's topic once it exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<i32>,
    /// The customer was already given a hint at this step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hinted: bool,
    /// The album (`media_group_id`) of kept messages that belong to one, so
    /// an album sent during the intake still arrives as one.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub albums: std::collections::BTreeMap<i32, String>,
}

/// A message whose words could describe the problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub message_id: i32,
    pub text: String,
    /// It carries a photo or file (its text is a caption).
    #[serde(default)]
    pub has_media: bool,
}

impl Kept {
    /// Keeps a message: the first one with words becomes the draft, every
    /// other one is kept to be relayed.
    pub fn keep(&mut self, message_id: i32, words: Option<&str>, has_media: bool, album: Option<&str>) {
        if let Some(album) = album {
            self.albums.insert(message_id, album.to_owned());
        }
        if self.draft.is_none()
            && let Some(text) = words.map(str::trim).filter(|t| !t.is_empty())
        {
            self.draft = Some(Draft { message_id, text: text.to_owned(), has_media });
            return;
        }
        if !self.messages.contains(&message_id) {
            self.messages.push(message_id);
        }
    }

    /// The messages to relay into the ticket's topic, oldest first, each
    /// with its album if it belongs to one, leaving out the one that became
    /// the description.
    pub fn to_relay(&self, description_message_id: i32) -> Vec<(i32, Option<String>)> {
        let mut ids = self.messages.clone();
        if let Some(draft) = &self.draft {
            ids.push(draft.message_id);
        }
        ids.retain(|id| *id != description_message_id);
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|id| (id, self.albums.get(&id).cloned())).collect()
    }
}

/// The stored envelope; `v` is bumped when the state changes incompatibly.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u8,
    state: IntakeState,
}

const VERSION: u8 = 2;

/// The states as version 1 stored them (no kept messages).
#[derive(Deserialize)]
enum StateV1 {
    Idle,
    ChoosingCategory,
    Describing { category: String },
}

#[derive(Deserialize)]
struct StoredV1 {
    state: StateV1,
}

/// Encodes a state for storage.
pub fn encode(state: &IntakeState) -> String {
    serde_json::to_string(&Stored { v: VERSION, state: state.clone() }).unwrap_or_else(|_| String::from("{}"))
}

/// Decodes a stored state (this version or version 1); `None` for anything
/// unknown.
pub fn decode(raw: &str) -> Option<IntakeState> {
    #[derive(Deserialize)]
    struct Version {
        v: u8,
    }
    match serde_json::from_str::<Version>(raw).ok()?.v {
        VERSION => serde_json::from_str::<Stored>(raw).ok().map(|stored| stored.state),
        1 => serde_json::from_str::<StoredV1>(raw).ok().map(|stored| match stored.state {
            StateV1::Idle => IntakeState::Idle,
            StateV1::ChoosingCategory => IntakeState::ChoosingCategory { kept: Kept::default() },
            StateV1::Describing { category } => IntakeState::Describing { category, kept: Kept::default() },
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_the_v2_format_is_frozen() {
        let mut kept = Kept::default();
        kept.keep(7, Some("my order is late"), false, None);
        kept.keep(8, None, true, None);
        let state = IntakeState::Describing { category: "billing".into(), kept };
        let raw = encode(&state);
        assert_eq!(
            raw,
            r#"{"v":2,"state":{"Describing":{"category":"billing","kept":{"draft":{"message_id":7,"text":"my order is late","has_media":false},"messages":[8]}}}}"#
        );
        assert_eq!(decode(&raw), Some(state));
        let empty = IntakeState::ChoosingCategory { kept: Kept::default() };
        assert_eq!(encode(&empty), r#"{"v":2,"state":{"ChoosingCategory":{"kept":{}}}}"#);
        assert_eq!(decode(&encode(&empty)), Some(empty));
    }

    #[test]
    fn version_1_states_still_decode() {
        assert_eq!(
            decode(r#"{"v":1,"state":{"Describing":{"category":"billing"}}}"#),
            Some(IntakeState::Describing { category: "billing".into(), kept: Kept::default() })
        );
        assert_eq!(
            decode(r#"{"v":1,"state":"ChoosingCategory"}"#),
            Some(IntakeState::ChoosingCategory { kept: Kept::default() })
        );
    }

    #[test]
    fn unknown_versions_and_garbage_decode_to_nothing() {
        for raw in [
            "",
            "{}",
            "not json",
            r#"{"v":3,"state":"Idle"}"#,
            r#"{"v":1,"state":"Flying"}"#,
            r#"{"v":2,"state":"ChoosingCategory"}"#,
        ] {
            assert_eq!(decode(raw), None, "{raw}");
        }
    }

    #[test]
    fn the_first_words_become_the_draft_and_the_rest_is_relayed_in_order() {
        let mut kept = Kept::default();
        kept.keep(3, None, true, Some("a"));
        kept.keep(4, Some("  "), false, None);
        kept.keep(5, Some("hello"), false, None);
        kept.keep(6, Some("more"), false, None);
        kept.keep(6, Some("more"), false, None);
        assert_eq!(kept.draft.as_ref().map(|d| d.message_id), Some(5));
        let ids = |relay: Vec<(i32, Option<String>)>| relay.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(kept.to_relay(9)[0], (3, Some("a".to_owned())), "an album part keeps its album");
        assert_eq!(ids(kept.to_relay(9)), vec![3, 4, 5, 6]);
        assert_eq!(ids(kept.to_relay(5)), vec![3, 4, 6], "the draft used as the description is not relayed");
    }
}
