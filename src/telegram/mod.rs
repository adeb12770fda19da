//! Everything that touches the Bot API: the bot, the update runtime, the
//! handlers' error, command menus and callback codecs.

pub mod callback;
pub mod commands;
pub mod error;
pub mod runtime;

pub use error::HandlerError;

use teloxide::{
    Bot,
    types::{Message, Update},
};

use crate::config::Config;

/// Idle connections to the Bot API kept for reuse. The outbox sends many
/// lanes at once, each call on its own connection over HTTP/1.1 (a
/// self-hosted Bot API server), and an idle connection keeps its buffers:
/// without a cap, a burst of 2,000 calls left 2,000 connections open for 90 s.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// Builds the bot from validated configuration (never `Bot::from_env`, which
/// panics on bad input), on teloxide's HTTP client settings with at most
/// [`MAX_IDLE_CONNECTIONS`] idle connections.
pub fn build_bot(config: &Config) -> Bot {
    let client =
        teloxide::net::default_reqwest_settings().pool_max_idle_per_host(MAX_IDLE_CONNECTIONS).build();
    let bot = match client {
        Ok(client) => Bot::with_client(&config.token, client),
        Err(error) => {
            tracing::warn!(%error, "cannot build the HTTP client with a connection cap; using teloxide's default");
            Bot::new(&config.token)
        }
    };
    bot.set_api_url(config.api_url.clone())
}

/// Sends plain text to a chat, retrying as [`crate::delivery::retry::with_retry`] does.
pub async fn send_text(
    bot: &Bot,
    chat: teloxide::types::ChatId,
    text: String,
) -> Result<Message, teloxide::RequestError> {
    use teloxide::prelude::Requester;
    crate::delivery::retry::with_retry("sendMessage", || bot.send_message(chat, text.clone()).into_future())
        .await
}

/// The forum topic a message belongs to, if it is really in one.
///
/// A reply in the General topic carries a thread id but is not a topic
/// message (DESIGN §11), so both must be checked.
pub fn topic_thread(msg: &Message) -> Option<i32> {
    if msg.is_topic_message { msg.thread_id.map(|t| t.0.0) } else { None }
}

/// Whether a message is something a person wrote (text, any media, a poll,
/// a dice, …) rather than a service message (topic created, pinned, member
/// joined, …). Only these are relayed.
///
/// A message whose content teloxide cannot read arrives as
/// `MessageKind::Empty` (e.g. an audio without `mime_type`): it is still a
/// person's message, and `copyMessage` copies it without reading it.
pub fn is_written_by_a_person(msg: &Message) -> bool {
    use teloxide::types::MessageKind as K;
    matches!(msg.kind, K::Common(_) | K::Dice(_) | K::Empty {} | K::Invoice(_) | K::Giveaway(_))
}

/// A short name for the kind of update, for logs.
pub fn update_kind_name(update: &Update) -> &'static str {
    use teloxide::types::UpdateKind as K;
    match &update.kind {
        K::Message(_) => "message",
        K::EditedMessage(_) => "edited_message",
        K::CallbackQuery(_) => "callback_query",
        K::MyChatMember(_) => "my_chat_member",
        K::ChatMember(_) => "chat_member",
        K::Error(_) => "unparsed",
        _ => "other",
    }
}

/// The message `msg` answers, when its sender chose one: in a forum topic
/// every message "replies" to the topic's first message, which is not a
/// choice.
pub fn replied_message(msg: &Message) -> Option<i32> {
    chosen_reply(msg).map(|replied| replied.id.0)
}

/// The message `msg` replies to by its sender's choice (not a topic's
/// first message, which every message in a topic "replies" to).
pub fn chosen_reply(msg: &Message) -> Option<&Message> {
    let replied = msg.reply_to_message()?;
    let topic_root = replied.forum_topic_created().is_some() || Some(replied.id.0) == topic_thread(msg);
    (!topic_root).then_some(replied)
}

/// The language of whoever sent `msg`: replies to a person's command follow
/// their Telegram language (DESIGN §14).
pub fn sender_lang(msg: &Message) -> crate::i18n::Lang {
    crate::i18n::Lang::from_code(msg.from.as_ref().and_then(|u| u.language_code.as_deref()))
}

/// The kinds [`message_kind`] names (each has a `kind-…` text); anything
/// else is `other`.
pub const MESSAGE_KINDS: &[&str] = &[
    "text",
    "photo",
    "video",
    "animation",
    "document",
    "audio",
    "voice",
    "video_note",
    "sticker",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
];

/// A stable name for the kind of a person's message (`photo`, `voice`,
/// `poll`, …), for notices that name what could not be passed on.
pub fn message_kind(msg: &Message) -> &'static str {
    use teloxide::types::{MediaKind as M, MessageKind as K};
    let common = match &msg.kind {
        K::Common(common) => common,
        K::Dice(_) => return "dice",
        _ => return "other",
    };
    match &common.media_kind {
        M::Text(_) => "text",
        M::Photo(_) => "photo",
        M::Video(_) => "video",
        M::Animation(_) => "animation",
        M::Document(_) => "document",
        M::Audio(_) => "audio",
        M::Voice(_) => "voice",
        M::VideoNote(_) => "video_note",
        M::Sticker(_) => "sticker",
        M::Location(_) => "location",
        M::Venue(_) => "venue",
        M::Contact(_) => "contact",
        M::Poll(_) => "poll",
        _ => "other",
    }
}

/// What Telegram said, in its own words ("Bad Request: message thread not
/// found"), for texts people read: without the library's wrapping ("A
/// Telegram's error: Unknown error: …").
pub fn telegram_says(error: &teloxide::RequestError) -> String {
    use teloxide::{ApiError, RequestError};
    match error {
        RequestError::Api(ApiError::Unknown(text)) => text.clone(),
        RequestError::Api(known) => known.to_string(),
        RequestError::RetryAfter(after) => format!("Too Many Requests: retry after {}s", after.seconds()),
        RequestError::Network(error) => format!("Telegram could not be reached ({error})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use teloxide::{ApiError, RequestError};

    use super::telegram_says;

    #[test]
    fn message_kinds_are_named() {
        let base = serde_json::json!({"message_id": 5, "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "Ivo"},
            "from": {"id": 42, "is_bot": false, "first_name": "Ivo"}});
        let cases = [
            (
                "voice",
                serde_json::json!({"file_id": "V1", "file_unique_id": "V1u", "duration": 2, "mime_type": "audio/ogg", "file_size": 1000}),
                "voice",
            ),
            ("dice", serde_json::json!({"emoji": "🎲", "value": 4}), "dice"),
            ("text", serde_json::json!("hi"), "text"),
        ];
        for (field, value, kind) in cases {
            let mut raw = base.clone();
            raw[field] = value;
            let msg: teloxide::types::Message = serde_json::from_value(raw).expect(field);
            assert_eq!(super::message_kind(&msg), kind, "{field}: {:?}", msg.kind);
        }
    }

    #[test]
    fn telegram_is_quoted_in_its_own_words() {
        let unknown = RequestError::Api(ApiError::Unknown("Bad Request: TOPIC_CLOSED".into()));
        assert_eq!(telegram_says(&unknown), "Bad Request: TOPIC_CLOSED");
        assert_eq!(telegram_says(&RequestError::Api(ApiError::ChatNotFound)), "Bad Request: chat not found");
        assert!(!telegram_says(&unknown).contains("A Telegram's error"));
    }
}
