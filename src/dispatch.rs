//! The handler tree: one branch per domain, merged here (DESIGN §3: the bot
//! acts only in private chats and in the support group). The top of the
//! module graph: it knows every domain, none of them knows it.

use teloxide::{
    dispatching::{HandlerExt, UpdateFilterExt, UpdateHandler},
    prelude::*,
    types::{Me, UpdateKind},
};

use crate::{
    intake,
    telegram::{HandlerError, commands::GroupCommand, topic_thread},
    tickets::handlers as topics,
};

/// Builds the whole tree. Updates from any other chat fall through unhandled
/// and are logged by the runtime.
pub fn schema(support_group: ChatId) -> UpdateHandler<HandlerError> {
    dptree::entry()
        .branch(
            dptree::filter(|update: Update| matches!(update.kind, UpdateKind::Error(_)))
                .endpoint(topics::unreadable_update),
        )
        .branch(
            dptree::filter(|update: Update| update.chat().is_some_and(|c| c.is_private()))
                .chain(intake::branch()),
        )
        .branch(
            dptree::filter(move |update: Update| update.chat().is_some_and(|c| c.id == support_group))
                .chain(support_group_branch()),
        )
}

/// The support group: commands (admin and agent ones, then ticket ones),
/// agents' messages and edits in ticket topics, topics closed or reopened
/// by hand, and the bot's own membership.
fn support_group_branch() -> UpdateHandler<HandlerError> {
    let edits = Update::filter_edited_message()
        .filter(topics::is_from_a_person)
        .filter(|msg: Message, me: Me| {
            topic_thread(&msg).is_some() && topics::command_target(&msg, &me).is_none()
        })
        .endpoint(topics::agent_edit);
    let messages = Update::filter_message()
        .filter(topics::is_from_a_person)
        .branch(
            dptree::entry()
                .filter_command::<GroupCommand>()
                .branch(crate::admin::branch())
                .branch(dptree::endpoint(topics::group_command)),
        )
        .branch(
            dptree::filter(|msg: Message, me: Me| topics::command_target(&msg, &me) == Some(false))
                .endpoint(topics::ignore),
        )
        .branch(
            dptree::filter(|msg: Message, me: Me| topics::command_target(&msg, &me) == Some(true))
                .endpoint(topics::unknown_command),
        )
        .branch(dptree::filter(|msg: Message| topic_thread(&msg).is_some()).endpoint(topics::agent_message));
    // A topic closed or reopened from Telegram's own menu (by a person, not
    // by the bot itself) closes or reopens its ticket.
    let topic_changes = Update::filter_message()
        .filter(|msg: Message, me: Me| {
            msg.from.as_ref().is_some_and(|f| f.id != me.user.id)
                && (msg.forum_topic_closed().is_some() || msg.forum_topic_reopened().is_some())
        })
        .endpoint(topics::topic_changed_by_hand);
    let membership = Update::filter_my_chat_member().endpoint(topics::bot_membership_changed);
    dptree::entry().branch(messages).branch(edits).branch(topic_changes).branch(membership)
}
