//! The support group's handlers (assembled in [`crate::dispatch`]): agents'
//! messages in ticket topics and the ticket commands (`/close`, `/reopen`,
//! `/note`, `/help`).

use teloxide::{
    prelude::*,
    types::{ChatMemberUpdated, Me},
};

use super::{RelayOutcome, TicketDesk};
use crate::{
    storage::ReopenOutcome,
    telegram::{
        HandlerError, commands::GroupCommand, commands::group_command_list, is_written_by_a_person,
        sender_lang, topic_thread,
    },
};

/// The bot was promoted, demoted, removed or added back in the support
/// group: its health follows at once (logged, shown by `/healthz`), and the
/// team hears in General when the group can hold tickets again.
pub(crate) async fn bot_membership_changed(
    desk: TicketDesk,
    me: Me,
    update: ChatMemberUpdated,
) -> Result<(), HandlerError> {
    use crate::group::{Change, ChatShape, assess};
    tracing::info!(
        by = update.from.id.0,
        status = ?update.new_chat_member.kind.status(),
        "the bot's membership in the support group changed"
    );
    // The update may be old (replayed after a restart): the group is asked
    // how it is now; only if Telegram cannot be reached does the update's
    // own account count.
    let group = desk.group();
    let mut change = desk.check_group_now(me.user.id).await;
    if matches!(group.health(), crate::group::Health::Unknown(_)) {
        group.set_title(update.chat.title().map(str::to_owned));
        change = group.record(None, assess(ChatShape::of(&update.chat), &update.new_chat_member.kind));
    }
    if change == Change::Unchanged {
        return Ok(());
    }
    desk.group_changed(change).await?;
    Ok(())
}

/// Someone closed or reopened a ticket's topic in Telegram: the same as
/// `/close` or `/reopen` by them (the customer is told, the agent's load is
/// freed), so the ticket never stays open in a closed topic.
pub(crate) async fn topic_changed_by_hand(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let Some(thread) = topic_thread(&msg) else { return Ok(()) };
    let Some(by) = msg.from.as_ref() else { return Ok(()) };
    let Some(ticket) = desk.storage().ticket_by_thread(thread).await? else { return Ok(()) };
    let closing = msg.forum_topic_closed().is_some();
    tracing::info!(
        ticket_id = ticket.id.0,
        user_id = by.id.0,
        closing,
        "ticket topic changed in Telegram by hand"
    );
    if closing {
        desk.close(&ticket, by).await?;
        return Ok(());
    }
    if let ReopenOutcome::CustomerHasOpenTicket(other) = desk.reopen(&ticket, by).await? {
        let text =
            desk.i18n().t_args(sender_lang(&msg), "ticket-reopen-conflict", &[("other", other.0.into())]);
        desk.tell_topic(Some(thread), None, text).await?;
    }
    Ok(())
}

/// Ignores the bot's own messages, other bots and service messages (topic
/// created, pinned, …). Anonymous admins post as the group itself: kept.
pub(crate) fn is_from_a_person(msg: Message, me: Me) -> bool {
    let Some(from) = msg.from.as_ref() else { return false };
    if from.id == me.user.id {
        return false;
    }
    // A person posting as the group (an anonymous admin) or as a channel
    // shows as a bot account with `sender_chat`: still a person. (Only
    // agents and admins are relayed: a channel post gets the hint.)
    if from.is_bot && msg.sender_chat.is_none() {
        return false;
    }
    // Every kind a person writes is theirs to relay: what Telegram then
    // refuses to copy gets a notice.
    is_written_by_a_person(&msg)
}

/// For a `/command` message: `Some(true)` if it is addressed to us (or to
/// nobody in particular), `Some(false)` if to another bot; `None` if the
/// message is not a command. Commands are never relayed to customers.
pub(crate) fn command_target(msg: &Message, me: &Me) -> Option<bool> {
    let first = msg.text()?.split_whitespace().next()?;
    let command = first.strip_prefix('/').filter(|c| !c.is_empty())?;
    Some(match command.split_once('@') {
        Some((_, bot)) => bot.eq_ignore_ascii_case(me.username()),
        None => true,
    })
}

pub(crate) async fn ignore() -> Result<(), HandlerError> {
    Ok(())
}

pub(crate) async fn unknown_command(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let text = desk.i18n().t_args(
        sender_lang(&msg),
        "group-unknown-command",
        &[("commands", group_command_list().into())],
    );
    desk.tell_topic(topic_thread(&msg), Some(msg.id), text).await?;
    Ok(())
}

pub(crate) async fn group_command(
    desk: TicketDesk,
    msg: Message,
    command: GroupCommand,
) -> Result<(), HandlerError> {
    let thread = topic_thread(&msg);
    let reply = match command {
        GroupCommand::Help => Some(desk.i18n().t_args(
            sender_lang(&msg),
            "group-help",
            &[("commands", group_command_list().into())],
        )),
        GroupCommand::Close => ticket_command(&desk, &msg, TicketAction::Close).await?,
        GroupCommand::Reopen => ticket_command(&desk, &msg, TicketAction::Reopen).await?,
        GroupCommand::Note(text) => ticket_command(&desk, &msg, TicketAction::Note(text)).await?,
        // Handled by the admin branch before this endpoint.
        _ => None,
    };
    if let Some(reply) = reply {
        desk.tell_topic(thread, Some(msg.id), reply).await?;
    }
    Ok(())
}

/// What a ticket command asks for.
enum TicketAction {
    Close,
    Reopen,
    Note(String),
}

/// Runs a command that needs the ticket of the current topic; returns the
/// reply to post, or `None` when the action posted its own lines.
async fn ticket_command(
    desk: &TicketDesk,
    msg: &Message,
    action: TicketAction,
) -> Result<Option<String>, HandlerError> {
    let i18n = desk.i18n();
    let lang = sender_lang(msg);
    let thread = topic_thread(msg);
    let ticket = match thread {
        Some(t) => desk.storage().ticket_by_thread(t).await?,
        None => None,
    };
    let Some(ticket) = ticket else {
        let key = if thread.is_some() { "topic-not-a-ticket" } else { "command-needs-ticket-topic" };
        return Ok(Some(i18n.t(lang, key)));
    };
    let Some(by) = msg.from.as_ref() else { return Ok(None) };
    if !desk.is_staff(msg).await? {
        tracing::info!(ticket_id = ticket.id.0, user_id = by.id.0, "ticket command from a non-agent refused");
        return Ok(Some(i18n.t_args(lang, "agent-only", &[("id", (by.id.0 as i64).into())])));
    }
    let id = ("id", ticket.id.0.into());
    let reply = match action {
        TicketAction::Close => {
            if desk.close(&ticket, by).await? {
                return Ok(None);
            }
            i18n.t_args(lang, "ticket-already-closed", &[id])
        }
        TicketAction::Reopen => match desk.reopen(&ticket, by).await? {
            ReopenOutcome::Reopened => return Ok(None),
            ReopenOutcome::AlreadyOpen => i18n.t_args(lang, "ticket-already-open-group", &[id]),
            ReopenOutcome::CustomerHasOpenTicket(other) => {
                i18n.t_args(lang, "ticket-reopen-conflict", &[("other", other.0.into())])
            }
            ReopenOutcome::NotFound => i18n.t(lang, "topic-not-a-ticket"),
        },
        TicketAction::Note(text) if text.trim().is_empty() => i18n.t(lang, "note-usage"),
        TicketAction::Note(_) => {
            tracing::info!(ticket_id = ticket.id.0, agent_id = by.id.0, "internal note");
            i18n.t(lang, "note-recorded")
        }
    };
    Ok(Some(reply))
}

pub(crate) async fn agent_message(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let Some(thread) = topic_thread(&msg) else { return Ok(()) };
    let Some(ticket) = desk.storage().ticket_by_thread(thread).await? else {
        tracing::debug!(thread_id = thread, "message in a topic that is not a ticket; ignored");
        return Ok(());
    };
    let i18n = desk.i18n();
    if !desk.is_staff(&msg).await? {
        // Only agents and admins speak for the team; a removed agent too.
        let user = msg.from.as_ref().map_or(0, |u| u.id.0 as i64);
        // Posts "as a channel" all come from one bot account: told per channel.
        let sender = msg.sender_chat.as_ref().map_or(user, |chat| chat.id.0);
        tracing::info!(
            ticket_id = ticket.id.0,
            user_id = user,
            sender,
            "message from a non-agent in a ticket topic; not relayed"
        );
        if desk.first_time_outsider(sender) {
            let text = i18n.t_args(sender_lang(&msg), "outsider-not-relayed", &[("id", user.into())]);
            desk.tell_topic(Some(thread), Some(msg.id), text).await?;
        }
        return Ok(());
    }
    if let Some(user) = msg.from.as_ref() {
        desk.learn_agent_name(user).await?;
    }
    let notice = match desk.relay_from_agent(&ticket, &msg).await? {
        RelayOutcome::Queued => return Ok(()),
        RelayOutcome::TicketClosed => {
            i18n.t_args(sender_lang(&msg), "ticket-closed-no-relay", &[("id", ticket.id.0.into())])
        }
    };
    tracing::info!(ticket_id = ticket.id.0, "agent message not relayed: {notice}");
    desk.tell_topic(Some(thread), Some(msg.id), notice).await?;
    Ok(())
}

/// An agent edited a message in a ticket topic: its copy in the customer's
/// chat gets the new text or caption; an edit that cannot be passed on (a
/// replaced photo) is said at once, so the agent never believes the
/// customer sees a correction they do not.
pub(crate) async fn agent_edit(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let Some(thread) = topic_thread(&msg) else { return Ok(()) };
    let Some(ticket) = desk.storage().ticket_by_thread(thread).await? else { return Ok(()) };
    // A live location moving arrives as edits: nothing to say about those.
    if !desk.is_staff(&msg).await? || msg.location().is_some() {
        return Ok(());
    }
    if desk.relay_edit(&ticket, &msg, true).await? {
        return Ok(());
    }
    let text = desk.i18n().t(sender_lang(&msg), "edit-not-relayed-agent");
    desk.tell_topic(Some(thread), Some(msg.id), text).await?;
    Ok(())
}

/// An update teloxide could not read (`UpdateKind::Error` with the raw
/// JSON): the person who sent it is told, where that can be worked out, and
/// the update is recorded as unreadable (kept raw in the inbox).
pub async fn unreadable_update(bot: Bot, desk: TicketDesk, update: Update) -> Result<(), HandlerError> {
    let teloxide::types::UpdateKind::Error(raw) = &update.kind else { return Ok(()) };
    if let Some(query) = raw.get("callback_query") {
        // A button press: answered, so the spinner stops and the person
        // knows to try again (an unanswered query expires silently).
        let lang = query.get("from").and_then(|f| f.get("language_code")).and_then(serde_json::Value::as_str);
        if let Some(id) = query.get("id").and_then(serde_json::Value::as_str) {
            let text = desk.i18n().t(crate::i18n::Lang::from_code(lang), "button-unreadable");
            let answered =
                bot.answer_callback_query(teloxide::types::CallbackQueryId(id.to_owned())).text(text).await;
            if let Err(error) = answered {
                tracing::debug!(%error, "answerCallbackQuery for an unreadable button press failed");
            }
        }
        return Err(HandlerError::Unparsed);
    }
    let message = raw.get("message").or_else(|| raw.get("edited_message"));
    let chat = message.and_then(|m| m.get("chat"));
    let chat_id = chat.and_then(|c| c.get("id")).and_then(serde_json::Value::as_i64);
    let private = chat.and_then(|c| c.get("type")).and_then(serde_json::Value::as_str) == Some("private");
    let message_id = message
        .and_then(|m| m.get("message_id"))
        .and_then(serde_json::Value::as_i64)
        .and_then(|id| i32::try_from(id).ok());
    match chat_id {
        Some(chat) if private => {
            let lang = message
                .and_then(|m| m.get("from"))
                .and_then(|f| f.get("language_code"))
                .and_then(serde_json::Value::as_str);
            let text = desk.i18n().t(crate::i18n::Lang::from_code(lang), "message-unreadable");
            desk.outbox().text(chat, None, message_id, text, None).await?;
        }
        Some(chat) if chat == desk.config().support_group.0 => {
            let thread = message
                .filter(|m| m.get("is_topic_message").and_then(serde_json::Value::as_bool) == Some(true))
                .and_then(|m| m.get("message_thread_id"))
                .and_then(serde_json::Value::as_i64)
                .and_then(|t| i32::try_from(t).ok());
            let lang = message
                .and_then(|m| m.get("from"))
                .and_then(|f| f.get("language_code"))
                .and_then(serde_json::Value::as_str);
            let text = desk.i18n().t(crate::i18n::Lang::from_code(lang), "message-unreadable-group");
            desk.tell_topic(thread, message_id.map(teloxide::types::MessageId), text).await?;
        }
        _ => {}
    }
    Err(HandlerError::Unparsed)
}
