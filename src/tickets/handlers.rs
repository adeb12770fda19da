//! The support group's part of the handler tree: agents' messages in ticket
//! topics and the ticket commands (`/close`, `/reopen`, `/note`, `/help`).

use teloxide::{
    dispatching::{HandlerExt, UpdateFilterExt, UpdateHandler},
    prelude::*,
    types::Me,
};

use super::{GROUP_LANG, RelayOutcome, TicketDesk};
use crate::{
    storage::ReopenOutcome,
    telegram::{commands::GroupCommand, commands::group_command_list, schema::HandlerError, topic_thread},
};

/// Updates from the support group. Other chats never reach this branch.
pub fn branch() -> UpdateHandler<HandlerError> {
    Update::filter_message()
        .filter(is_from_a_person)
        .branch(
            dptree::entry()
                .filter_command::<GroupCommand>()
                .branch(crate::admin::branch())
                .branch(dptree::endpoint(group_command)),
        )
        .branch(
            dptree::filter(|msg: Message, me: Me| command_target(&msg, &me) == Some(false)).endpoint(ignore),
        )
        .branch(
            dptree::filter(|msg: Message, me: Me| command_target(&msg, &me) == Some(true))
                .endpoint(unknown_command),
        )
        .branch(dptree::filter(|msg: Message| topic_thread(&msg).is_some()).endpoint(agent_message))
}

/// Ignores the bot's own messages, other bots and service messages (topic
/// created, pinned, …). Anonymous admins post as the group itself: kept.
fn is_from_a_person(msg: Message, me: Me) -> bool {
    let Some(from) = msg.from.as_ref() else { return false };
    if from.id == me.user.id {
        return false;
    }
    let anonymous_admin = msg.sender_chat.as_ref().is_some_and(|c| c.id == msg.chat.id);
    if from.is_bot && !anonymous_admin {
        return false;
    }
    msg.text().is_some() || msg.caption().is_some() || has_relayable_media(&msg)
}

fn has_relayable_media(msg: &Message) -> bool {
    msg.photo().is_some()
        || msg.document().is_some()
        || msg.video().is_some()
        || msg.voice().is_some()
        || msg.audio().is_some()
        || msg.sticker().is_some()
        || msg.animation().is_some()
        || msg.video_note().is_some()
        || msg.location().is_some()
        || msg.contact().is_some()
}

/// For a `/command` message: `Some(true)` if it is addressed to us (or to
/// nobody in particular), `Some(false)` if to another bot; `None` if the
/// message is not a command. Commands are never relayed to customers.
fn command_target(msg: &Message, me: &Me) -> Option<bool> {
    let first = msg.text()?.split_whitespace().next()?;
    let command = first.strip_prefix('/').filter(|c| !c.is_empty())?;
    Some(match command.split_once('@') {
        Some((_, bot)) => bot.eq_ignore_ascii_case(me.username()),
        None => true,
    })
}

async fn ignore() -> Result<(), HandlerError> {
    Ok(())
}

async fn unknown_command(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let text =
        desk.i18n().t_args(GROUP_LANG, "group-unknown-command", &[("commands", group_command_list().into())]);
    desk.tell_topic(topic_thread(&msg), Some(msg.id), text).await?;
    Ok(())
}

async fn group_command(desk: TicketDesk, msg: Message, command: GroupCommand) -> Result<(), HandlerError> {
    let thread = topic_thread(&msg);
    let reply = match command {
        GroupCommand::Help => {
            Some(desk.i18n().t_args(GROUP_LANG, "group-help", &[("commands", group_command_list().into())]))
        }
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
    let thread = topic_thread(msg);
    let ticket = match thread {
        Some(t) => desk.storage().ticket_by_thread(t).await?,
        None => None,
    };
    let Some(ticket) = ticket else {
        let key = if thread.is_some() { "topic-not-a-ticket" } else { "command-needs-ticket-topic" };
        return Ok(Some(i18n.t(GROUP_LANG, key)));
    };
    let Some(by) = msg.from.as_ref() else { return Ok(None) };
    let id = ("id", ticket.id.0.into());
    let reply = match action {
        TicketAction::Close => {
            if desk.close(&ticket, by).await? {
                return Ok(None);
            }
            i18n.t_args(GROUP_LANG, "ticket-already-closed", &[id])
        }
        TicketAction::Reopen => match desk.reopen(&ticket, by).await? {
            ReopenOutcome::Reopened => return Ok(None),
            ReopenOutcome::AlreadyOpen => i18n.t_args(GROUP_LANG, "ticket-already-open-group", &[id]),
            ReopenOutcome::CustomerHasOpenTicket(other) => {
                i18n.t_args(GROUP_LANG, "ticket-reopen-conflict", &[("other", other.0.into())])
            }
            ReopenOutcome::NotFound => i18n.t(GROUP_LANG, "topic-not-a-ticket"),
        },
        TicketAction::Note(text) if text.trim().is_empty() => i18n.t(GROUP_LANG, "note-usage"),
        TicketAction::Note(_) => {
            tracing::info!(ticket_id = ticket.id.0, agent_id = by.id.0, "internal note");
            i18n.t(GROUP_LANG, "note-recorded")
        }
    };
    Ok(Some(reply))
}

async fn agent_message(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let Some(thread) = topic_thread(&msg) else { return Ok(()) };
    let Some(ticket) = desk.storage().ticket_by_thread(thread).await? else {
        tracing::debug!(thread_id = thread, "message in a topic that is not a ticket; ignored");
        return Ok(());
    };
    let i18n = desk.i18n();
    let notice = match desk.relay_from_agent(&ticket, &msg).await? {
        RelayOutcome::Queued => return Ok(()),
        RelayOutcome::TicketClosed => {
            i18n.t_args(GROUP_LANG, "ticket-closed-no-relay", &[("id", ticket.id.0.into())])
        }
    };
    tracing::info!(ticket_id = ticket.id.0, "agent message not relayed: {notice}");
    desk.tell_topic(Some(thread), Some(msg.id), notice).await?;
    Ok(())
}
