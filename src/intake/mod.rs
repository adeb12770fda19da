//! The customer side: the intake dialogue (`/start` → category → description
//! → ticket, DESIGN §4) and relaying customer messages into their ticket.
//!
//! Nothing a customer sends during the intake is thrown away: the first
//! words they wrote are offered as the description once a category is
//! chosen, and everything else (a photo without a caption, a sticker, more
//! text) is kept in the dialogue state and relayed into the ticket's topic
//! right after its note.

pub mod store;

use teloxide::{
    dispatching::{HandlerExt, UpdateFilterExt, UpdateHandler, dialogue, dialogue::Dialogue},
    prelude::*,
    types::{InlineKeyboardButton, InlineKeyboardMarkup, User},
};

pub use store::IntakeStore;

pub use crate::domain::intake::{Draft, IntakeState, Kept};
use crate::{
    i18n::Lang,
    storage::{NewTicket, Ticket},
    telegram::{
        HandlerError,
        callback::CallbackData,
        commands::{CustomerCommand, GroupCommand},
    },
    tickets::{TicketDesk, note::category_label},
};

/// The dialogue handle injected into intake handlers.
pub type IntakeDialogue = Dialogue<IntakeState, IntakeStore>;

/// The private-chat branch of the handler tree.
pub fn branch() -> UpdateHandler<HandlerError> {
    use dptree::case;

    // Service messages in a private chat (a pin, …) are not the customer's
    // words: not relayed, not an intake.
    let messages = Update::filter_message()
        .filter(|msg: Message| crate::telegram::is_written_by_a_person(&msg))
        .branch(dptree::entry().filter_command::<CustomerCommand>().endpoint(customer_command))
        .branch(
            dptree::entry()
                .filter_command::<GroupCommand>()
                .filter_async(
                    |desk: TicketDesk, msg: Message| async move { is_on_the_team(&desk, &msg).await },
                )
                .endpoint(team_command_in_private),
        )
        .branch(case![IntakeState::ChoosingCategory { kept }].endpoint(choosing_message))
        .branch(case![IntakeState::Describing { category, kept }].endpoint(receive_description))
        .branch(dptree::endpoint(idle_message));

    dialogue::enter::<Update, IntakeStore, IntakeState, _>()
        .branch(messages)
        .branch(Update::filter_callback_query().endpoint(button_pressed))
        .branch(Update::filter_edited_message().endpoint(edited_message))
}

/// Whether the sender is an agent or an admin (a storage error counts as
/// no: their message is then a customer's, as before).
async fn is_on_the_team(desk: &TicketDesk, msg: &Message) -> bool {
    let Some(user) = msg.from.as_ref() else { return false };
    if desk.config().is_admin(user.id) {
        return true;
    }
    match desk.storage().agent(user.id.0 as i64).await {
        Ok(agent) => agent.is_some(),
        Err(error) => {
            tracing::warn!(%error, user_id = user.id.0, "cannot tell whether a private command comes from an agent");
            false
        }
    }
}

/// A support-group command sent to the bot in private by an agent or admin:
/// a pointer to the group, not a customer's intake.
async fn team_command_in_private(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let lang = lang_of(&desk, msg.from.as_ref()).await;
    let command = msg.text().and_then(|t| t.split_whitespace().next()).unwrap_or_default();
    let command = command.split('@').next().unwrap_or(command).to_owned();
    let group = desk.group().title().unwrap_or_else(|| desk.config().support_group.0.to_string());
    let text = desk.i18n().t_args(
        lang,
        "team-command-in-private",
        &[("command", command.into()), ("group", group.into())],
    );
    tell(&desk, msg.chat.id, text).await
}

/// The language to speak with `user`: their `/language` choice, else their
/// Telegram app's.
async fn lang_of(desk: &TicketDesk, user: Option<&User>) -> Lang {
    match user {
        Some(user) => desk.customer_lang(user).await,
        None => Lang::En,
    }
}

async fn say(desk: &TicketDesk, chat: ChatId, lang: Lang, key: &str) -> Result<(), HandlerError> {
    let text = desk.i18n().t(lang, key);
    tell(desk, chat, text).await
}

/// Queues text for a customer's chat (the outbox sends it, in order).
async fn tell(desk: &TicketDesk, chat: ChatId, text: String) -> Result<(), HandlerError> {
    desk.outbox().text(chat.0, None, None, text, None).await?;
    Ok(())
}

async fn customer_command(
    desk: TicketDesk,
    dialogue: IntakeDialogue,
    msg: Message,
    command: CustomerCommand,
) -> Result<(), HandlerError> {
    let lang = lang_of(&desk, msg.from.as_ref()).await;
    match command {
        CustomerCommand::Help => say(&desk, msg.chat.id, lang, "customer-help").await,
        CustomerCommand::Cancel => {
            let in_intake = !matches!(dialogue.get().await?, None | Some(IntakeState::Idle));
            if in_intake {
                dialogue.exit().await?;
                return say(&desk, msg.chat.id, lang, "intake-cancelled").await;
            }
            match open_ticket_of_sender(&desk, &msg).await? {
                Some(ticket) => {
                    let text =
                        desk.i18n().t_args(lang, "intake-cancel-ticket-open", &[("id", ticket.id.0.into())]);
                    tell(&desk, msg.chat.id, text).await
                }
                None => say(&desk, msg.chat.id, lang, "intake-nothing-to-cancel").await,
            }
        }
        CustomerCommand::Language => {
            let buttons = Lang::ALL
                .into_iter()
                .map(|l| {
                    let data = CallbackData::Language(l.code().to_owned()).encode();
                    InlineKeyboardButton::callback(desk.i18n().t(l, "language-name"), data)
                })
                .collect::<Vec<_>>();
            let text = desk.i18n().t(lang, "language-choose");
            desk.outbox()
                .text(msg.chat.id.0, None, None, text, Some(InlineKeyboardMarkup::new([buttons])))
                .await?;
            Ok(())
        }
        CustomerCommand::Close => {
            let (Some(customer), Some(ticket)) =
                (msg.from.as_ref(), open_ticket_of_sender(&desk, &msg).await?)
            else {
                return say(&desk, msg.chat.id, lang, "customer-close-nothing").await;
            };
            // The same close as an agent's: the topic is told and closed,
            // the agent's load freed, the customer asked for a rating.
            desk.close(&ticket, customer).await?;
            Ok(())
        }
        CustomerCommand::Start => {
            // A /start in the middle of an intake starts over, keeping what
            // was written so far.
            let kept =
                dialogue.get().await?.as_ref().and_then(IntakeState::kept).cloned().unwrap_or_default();
            start_intake(&desk, &dialogue, &msg, lang, Kept { hinted: false, ..kept }).await
        }
    }
}

/// Offers the categories, unless the customer already has an open ticket
/// (then what they wrote goes to it).
async fn start_intake(
    desk: &TicketDesk,
    dialogue: &IntakeDialogue,
    msg: &Message,
    lang: Lang,
    kept: Kept,
) -> Result<(), HandlerError> {
    let Some(customer) = msg.from.as_ref() else { return Ok(()) };
    if let Some(ticket) = desk.storage().open_ticket_of_customer(customer.id.0 as i64).await? {
        dialogue.exit().await?;
        desk.relay_kept(&ticket, msg.chat.id.0, &kept.to_relay(0)).await?;
        let text = desk.i18n().t_args(lang, "ticket-already-open", &[("id", ticket.id.0.into())]);
        return tell(desk, msg.chat.id, text).await;
    }
    let buttons = desk.config().categories.iter().map(|category| {
        vec![InlineKeyboardButton::callback(
            category_label(desk.i18n(), lang, category.name()),
            CallbackData::PickCategory(category.name().to_owned()).encode(),
        )]
    });
    let keyboard = InlineKeyboardMarkup::new(buttons);
    let text = desk.i18n().t_args(lang, "intake-welcome", &[("name", customer.first_name.clone().into())]);
    desk.outbox().text(msg.chat.id.0, None, None, text, Some(keyboard)).await?;
    dialogue.update(IntakeState::ChoosingCategory { kept }).await?;
    Ok(())
}

/// The words a message carries (its text or caption), and whether it
/// carries anything besides text. A command the bot does not know
/// (`/something`) is not a description.
fn words_of(msg: &Message) -> (Option<&str>, bool) {
    let words = msg.text().or(msg.caption()).filter(|w| !w.trim_start().starts_with('/'));
    (words, msg.text().is_none())
}

/// The intake ends in the customer's open ticket: the one this very message
/// opened before a crash (its work is finished), or one an agent reopened
/// meanwhile (what the intake kept, and `relay`, go to it).
async fn into_open_ticket(
    desk: &TicketDesk,
    dialogue: &IntakeDialogue,
    lang: Lang,
    open: Ticket,
    kept: &Kept,
    description_id: i32,
    relay: Option<&Message>,
) -> Result<(), HandlerError> {
    dialogue.exit().await?;
    if open.description_message_id == description_id {
        // The outbox keeps what the first run queued from being queued twice.
        return confirm_and_route(desk, dialogue.chat_id(), lang, open, kept).await;
    }
    desk.relay_kept(&open, dialogue.chat_id().0, &kept.to_relay(0)).await?;
    if let Some(msg) = relay {
        desk.relay_from_customer(&open, msg).await?;
    }
    Ok(())
}

/// A message during the intake when the customer has an open ticket after
/// all: the intake ends there ([`into_open_ticket`]). `true` if it did.
async fn ended_in_open_ticket(
    desk: &TicketDesk,
    dialogue: &IntakeDialogue,
    msg: &Message,
    kept: &Kept,
) -> Result<bool, HandlerError> {
    let Some(customer) = msg.from.as_ref() else { return Ok(false) };
    let Some(open) = open_ticket_of(desk, customer).await? else { return Ok(false) };
    let lang = lang_of(desk, Some(customer)).await;
    into_open_ticket(desk, dialogue, lang, open, kept, msg.id.0, Some(msg)).await?;
    Ok(true)
}

/// The customer's open ticket, if they have one.
async fn open_ticket_of(desk: &TicketDesk, customer: &User) -> Result<Option<Ticket>, HandlerError> {
    Ok(desk.storage().open_ticket_of_customer(customer.id.0 as i64).await?)
}

/// A message while the category buttons are offered: kept for the ticket,
/// with a hint (once for an album).
async fn choosing_message(
    desk: TicketDesk,
    dialogue: IntakeDialogue,
    msg: Message,
    mut kept: Kept,
) -> Result<(), HandlerError> {
    if ended_in_open_ticket(&desk, &dialogue, &msg, &kept).await? {
        return Ok(());
    }
    let lang = lang_of(&desk, msg.from.as_ref()).await;
    let (words, has_media) = words_of(&msg);
    kept.keep(msg.id.0, words, has_media, msg.media_group_id().map(|id| id.0.as_str()));
    let hint = !kept.hinted || msg.media_group_id().is_none();
    kept.hinted = true;
    dialogue.update(IntakeState::ChoosingCategory { kept }).await?;
    if hint {
        say(&desk, msg.chat.id, lang, "intake-hint-pick-category").await?;
    }
    Ok(())
}

async fn button_pressed(
    bot: Bot,
    desk: TicketDesk,
    dialogue: IntakeDialogue,
    query: CallbackQuery,
) -> Result<(), HandlerError> {
    let lang = lang_of(&desk, Some(&query.from)).await;
    let data = query.data.as_deref().and_then(CallbackData::decode);
    let state = dialogue.get().await?;
    match (data, state) {
        (Some(CallbackData::PickCategory(name)), Some(IntakeState::ChoosingCategory { kept }))
            if desk.config().category(&name).is_some() =>
        {
            if let Some(open) = open_ticket_of(&desk, &query.from).await? {
                // Reopened meanwhile: the intake ends there.
                let text = desk.i18n().t_args(lang, "ticket-already-open", &[("id", open.id.0.into())]);
                answer(&bot, &query, Some(text)).await;
                return into_open_ticket(&desk, &dialogue, lang, open, &kept, 0, None).await;
            }
            answer(&bot, &query, None).await;
            pick_category(&desk, &dialogue, lang, name, kept).await
        }
        (Some(CallbackData::UseDraft(id)), Some(IntakeState::Describing { category, kept }))
            if kept.draft.as_ref().is_some_and(|d| d.message_id == id) =>
        {
            answer(&bot, &query, None).await;
            let Some(draft) = kept.draft.clone() else { return Ok(()) };
            if let Some(open) = open_ticket_of(&desk, &query.from).await? {
                return into_open_ticket(&desk, &dialogue, lang, open, &kept, draft.message_id, None).await;
            }
            open_ticket(&desk, &dialogue, &query.from, lang, &category, &draft, &kept).await
        }
        (Some(CallbackData::Language(code)), _) if Lang::ALL.iter().any(|l| l.code() == code) => {
            let chosen = Lang::from_code(Some(&code));
            desk.set_customer_lang(&query.from, chosen).await?;
            answer(&bot, &query, None).await;
            let chat = query.message.as_ref().map(|m| m.chat().id).unwrap_or(ChatId(query.from.id.0 as i64));
            say(&desk, chat, chosen, "language-set").await
        }
        (Some(CallbackData::Rate { ticket, score }), _) => {
            let rated = desk.rate(crate::domain::TicketId(ticket), &query.from, score).await?;
            let key = if rated { "csat-thanks" } else { "button-expired" };
            answer(&bot, &query, Some(desk.i18n().t(lang, key))).await;
            Ok(())
        }
        (_, state) => {
            // An old keyboard, a removed category, or a double tap. With a
            // ticket open (reopened meanwhile), the intake ends there.
            let open = desk.storage().open_ticket_of_customer(query.from.id.0 as i64).await?;
            let text = match open {
                Some(ticket) => {
                    if let Some(kept) = state.as_ref().and_then(IntakeState::kept) {
                        dialogue.exit().await?;
                        desk.relay_kept(&ticket, dialogue.chat_id().0, &kept.to_relay(0)).await?;
                    }
                    desk.i18n().t_args(lang, "ticket-already-open", &[("id", ticket.id.0.into())])
                }
                None => desk.i18n().t(lang, "button-expired"),
            };
            answer(&bot, &query, Some(text)).await;
            Ok(())
        }
    }
}

/// The customer picked a category: ask for the description, offering the
/// words they wrote first.
async fn pick_category(
    desk: &TicketDesk,
    dialogue: &IntakeDialogue,
    lang: Lang,
    category: String,
    mut kept: Kept,
) -> Result<(), HandlerError> {
    let label = category_label(desk.i18n(), lang, &category);
    kept.hinted = false;
    let (text, keyboard) = match &kept.draft {
        Some(draft) => {
            let text = desk.i18n().t_args(
                lang,
                "intake-ask-description-draft",
                &[("category", label.into()), ("draft", crate::tickets::note::preview(&draft.text).into())],
            );
            let button = InlineKeyboardButton::callback(
                desk.i18n().t(lang, "intake-use-draft"),
                CallbackData::UseDraft(draft.message_id).encode(),
            );
            (text, Some(InlineKeyboardMarkup::new([[button]])))
        }
        None => (desk.i18n().t_args(lang, "intake-ask-description", &[("category", label.into())]), None),
    };
    dialogue.update(IntakeState::Describing { category, kept }).await?;
    desk.outbox().text(dialogue.chat_id().0, None, None, text, keyboard).await?;
    Ok(())
}

/// Answers a callback query so the client stops its spinner; a failure here
/// (the query expired) matters to nobody.
async fn answer(bot: &Bot, query: &CallbackQuery, text: Option<String>) {
    let mut request = bot.answer_callback_query(query.id.clone());
    if let Some(text) = text {
        request = request.text(text);
    }
    if let Err(error) = request.await {
        tracing::debug!(%error, "answerCallbackQuery failed");
    }
}

async fn receive_description(
    desk: TicketDesk,
    dialogue: IntakeDialogue,
    msg: Message,
    (category, mut kept): (String, Kept),
) -> Result<(), HandlerError> {
    if ended_in_open_ticket(&desk, &dialogue, &msg, &kept).await? {
        return Ok(());
    }
    let lang = lang_of(&desk, msg.from.as_ref()).await;
    let Some(customer) = msg.from.as_ref() else { return Ok(()) };
    let (words, has_media) = words_of(&msg);
    let Some(text) = words.map(str::trim).filter(|t| !t.is_empty()) else {
        // A photo without a caption, a sticker, …: it belongs to the ticket;
        // the customer is asked for words once.
        kept.keep(msg.id.0, None, has_media, msg.media_group_id().map(|id| id.0.as_str()));
        // Once for media (an album is many messages), every time for text.
        let hint = !kept.hinted || !has_media;
        kept.hinted = true;
        dialogue.update(IntakeState::Describing { category, kept }).await?;
        if hint {
            say(&desk, msg.chat.id, lang, "intake-hint-description").await?;
        }
        return Ok(());
    };
    let draft = Draft { message_id: msg.id.0, text: text.to_owned(), has_media };
    open_ticket(&desk, &dialogue, customer, lang, &category, &draft, &kept).await
}

/// Opens the ticket with `description`, then relays what the intake kept.
/// (The customer has no open ticket: the callers checked.)
async fn open_ticket(
    desk: &TicketDesk,
    dialogue: &IntakeDialogue,
    customer: &User,
    lang: Lang,
    category: &str,
    description: &Draft,
    kept: &Kept,
) -> Result<(), HandlerError> {
    let chat = dialogue.chat_id();
    let Some(category) = desk.config().category(category).cloned() else {
        // The category was removed from the configuration mid-dialogue.
        dialogue.update(IntakeState::ChoosingCategory { kept: kept.clone() }).await?;
        return say(desk, chat, lang, "intake-hint-pick-category").await;
    };
    let new = NewTicket {
        customer_id: customer.id.0 as i64,
        customer_chat_id: chat.0,
        customer_name: customer.full_name(),
        customer_username: customer.username.clone(),
        language: lang.code().to_owned(),
        category: category.name().to_owned(),
        required_skill: category.skill().as_str().to_owned(),
        description: description.text.clone(),
        description_message_id: description.message_id,
        description_has_media: description.has_media,
        created_at_ms: desk.now_ms(),
    };
    let ticket = desk.create(new).await?;
    dialogue.exit().await?;
    confirm_and_route(desk, chat, lang, ticket, kept).await
}

async fn confirm_and_route(
    desk: &TicketDesk,
    chat: ChatId,
    lang: Lang,
    ticket: Ticket,
    kept: &Kept,
) -> Result<(), HandlerError> {
    // No ticket promise while the support group cannot hold its topic: the
    // message is kept, and the topic follows once an admin fixes the group.
    let key = if desk.group().usable() { "ticket-opened" } else { "ticket-received" };
    let text = desk.i18n().t_args(lang, key, &[("id", ticket.id.0.into())]);
    tell(desk, chat, text).await?;
    // The customer hears back at once; enrichment (up to its deadline) and
    // routing follow in this same lane, so their next messages queue behind
    // it, in order. The topic and note are queued in the ticket's lane, and
    // what the intake kept follows them there.
    let ticket = desk.route_and_publish(ticket).await?;
    desk.relay_kept(&ticket, chat.0, &kept.to_relay(ticket.description_message_id)).await?;
    Ok(())
}

/// A message outside the intake dialogue: relayed to the open ticket, or the
/// start of a new intake.
async fn idle_message(desk: TicketDesk, dialogue: IntakeDialogue, msg: Message) -> Result<(), HandlerError> {
    let lang = lang_of(&desk, msg.from.as_ref()).await;
    let Some(customer) = msg.from.as_ref() else { return Ok(()) };
    let mut open = desk.storage().open_ticket_of_customer(customer.id.0 as i64).await?;
    if open.is_none() {
        // Written soon after a close (REOPEN_WINDOW): the same ticket goes on.
        open = desk.reopen_recent(customer).await?;
    }
    let Some(ticket) = open else {
        // The first message starts the intake, and is kept: its words are
        // offered as the description.
        let mut kept = Kept::default();
        let (words, has_media) = words_of(&msg);
        kept.keep(msg.id.0, words, has_media, msg.media_group_id().map(|id| id.0.as_str()));
        return start_intake(&desk, &dialogue, &msg, lang, kept).await;
    };
    desk.relay_from_customer(&ticket, &msg).await?;
    Ok(())
}

/// The open ticket of whoever sent `msg`.
async fn open_ticket_of_sender(desk: &TicketDesk, msg: &Message) -> Result<Option<Ticket>, HandlerError> {
    let Some(customer) = msg.from.as_ref() else { return Ok(None) };
    Ok(desk.storage().open_ticket_of_customer(customer.id.0 as i64).await?)
}

/// A customer edited a message: with a ticket open, its copy in the topic
/// follows (an edit never opens a ticket); otherwise they are told the edit
/// was not passed on.
async fn edited_message(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    if msg.location().is_some() {
        // A live location moving: Telegram sends each move as an edit.
        return Ok(());
    }
    if let Some(customer) = msg.from.as_ref()
        && let Some(ticket) = desk.storage().open_ticket_of_customer(customer.id.0 as i64).await?
        && desk.relay_edit(&ticket, &msg, false).await?
    {
        return Ok(());
    }
    say(&desk, msg.chat.id, lang_of(&desk, msg.from.as_ref()).await, "edit-not-relayed").await
}
