//! The customer side: the intake dialogue (`/start` → category → description
//! → ticket, DESIGN §4) and relaying customer messages into their ticket.

pub mod store;

use serde::{Deserialize, Serialize};
use teloxide::{
    dispatching::{HandlerExt, UpdateFilterExt, UpdateHandler, dialogue, dialogue::Dialogue},
    prelude::*,
    types::{InlineKeyboardButton, InlineKeyboardMarkup, User},
};

pub use store::IntakeStore;

use crate::{
    i18n::Lang,
    storage::{NewTicket, Ticket},
    telegram::{callback::CallbackData, commands::CustomerCommand, schema::HandlerError},
    tickets::{TicketDesk, note::category_label},
};

/// Where a customer is in the intake dialogue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntakeState {
    /// No dialogue: messages go to the open ticket, or start a new intake.
    #[default]
    Idle,
    /// Category buttons were offered.
    ChoosingCategory,
    /// A category was picked; waiting for the description.
    Describing { category: String },
}

/// The dialogue handle injected into intake handlers.
pub type IntakeDialogue = Dialogue<IntakeState, IntakeStore>;

/// The private-chat branch of the handler tree.
pub fn branch() -> UpdateHandler<HandlerError> {
    use dptree::case;

    let messages = Update::filter_message()
        .branch(dptree::entry().filter_command::<CustomerCommand>().endpoint(customer_command))
        .branch(case![IntakeState::ChoosingCategory].endpoint(hint_pick_category))
        .branch(case![IntakeState::Describing { category }].endpoint(receive_description))
        .branch(dptree::endpoint(idle_message));

    dialogue::enter::<Update, IntakeStore, IntakeState, _>()
        .branch(messages)
        .branch(Update::filter_callback_query().endpoint(button_pressed))
        .branch(Update::filter_edited_message().endpoint(edited_message))
}

fn lang_of(user: Option<&User>) -> Lang {
    Lang::from_code(user.and_then(|u| u.language_code.as_deref()))
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
    let lang = lang_of(msg.from.as_ref());
    match command {
        CustomerCommand::Help => say(&desk, msg.chat.id, lang, "customer-help").await,
        CustomerCommand::Cancel => {
            let in_intake = !matches!(dialogue.get().await?, None | Some(IntakeState::Idle));
            if in_intake {
                dialogue.exit().await?;
                say(&desk, msg.chat.id, lang, "intake-cancelled").await
            } else {
                say(&desk, msg.chat.id, lang, "intake-nothing-to-cancel").await
            }
        }
        CustomerCommand::Start => start_intake(&desk, &dialogue, &msg, lang).await,
    }
}

/// Offers the categories, unless the customer already has an open ticket.
async fn start_intake(
    desk: &TicketDesk,
    dialogue: &IntakeDialogue,
    msg: &Message,
    lang: Lang,
) -> Result<(), HandlerError> {
    let Some(customer) = msg.from.as_ref() else { return Ok(()) };
    if let Some(ticket) = desk.storage().open_ticket_of_customer(customer.id.0 as i64).await? {
        dialogue.exit().await?;
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
    dialogue.update(IntakeState::ChoosingCategory).await?;
    Ok(())
}

async fn hint_pick_category(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    say(&desk, msg.chat.id, lang_of(msg.from.as_ref()), "intake-hint-pick-category").await
}

async fn button_pressed(
    bot: Bot,
    desk: TicketDesk,
    dialogue: IntakeDialogue,
    query: CallbackQuery,
) -> Result<(), HandlerError> {
    let lang = lang_of(Some(&query.from));
    let picked = query
        .data
        .as_deref()
        .and_then(CallbackData::decode)
        .and_then(|CallbackData::PickCategory(name)| desk.config().category(&name).cloned());
    let state = dialogue.get().await?;
    let (Some(category), Some(IntakeState::ChoosingCategory)) = (picked, state) else {
        // An old keyboard, a removed category, or a double tap.
        let text = desk.i18n().t(lang, "button-expired");
        answer(&bot, &query, Some(text)).await;
        return Ok(());
    };
    answer(&bot, &query, None).await;
    dialogue.update(IntakeState::Describing { category: category.name().to_owned() }).await?;
    let label = category_label(desk.i18n(), lang, category.name());
    let text = desk.i18n().t_args(lang, "intake-ask-description", &[("category", label.into())]);
    tell(&desk, dialogue.chat_id(), text).await
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
    category: String,
) -> Result<(), HandlerError> {
    let lang = lang_of(msg.from.as_ref());
    let description = msg.text().or(msg.caption()).map(str::trim).unwrap_or_default();
    let Some(customer) = msg.from.as_ref() else { return Ok(()) };
    if description.is_empty() {
        return say(&desk, msg.chat.id, lang, "intake-hint-description").await;
    }
    let Some(category) = desk.config().category(&category).cloned() else {
        // The category was removed from the configuration mid-dialogue.
        dialogue.exit().await?;
        return start_intake(&desk, &dialogue, &msg, lang).await;
    };
    if let Some(open) = desk.storage().open_ticket_of_customer(customer.id.0 as i64).await? {
        if open.description_message_id != msg.id.0 {
            return start_intake(&desk, &dialogue, &msg, lang).await;
        }
        // This very message opened it before a crash: finish what that run
        // left undone. The outbox keeps what it already queued from being
        // queued twice.
        dialogue.exit().await?;
        return confirm_and_route(&desk, &msg, lang, open).await;
    }
    let new = NewTicket {
        customer_id: customer.id.0 as i64,
        customer_chat_id: msg.chat.id.0,
        customer_name: customer.full_name(),
        customer_username: customer.username.clone(),
        language: lang.code().to_owned(),
        category: category.name().to_owned(),
        required_skill: category.skill().as_str().to_owned(),
        description: description.to_owned(),
        description_message_id: msg.id.0,
        description_has_media: msg.text().is_none(),
        created_at_ms: desk.now_ms(),
    };
    let ticket = desk.create(new).await?;
    dialogue.exit().await?;
    confirm_and_route(&desk, &msg, lang, ticket).await
}

async fn confirm_and_route(
    desk: &TicketDesk,
    msg: &Message,
    lang: Lang,
    ticket: Ticket,
) -> Result<(), HandlerError> {
    let text = desk.i18n().t_args(lang, "ticket-opened", &[("id", ticket.id.0.into())]);
    tell(desk, msg.chat.id, text).await?;
    // The customer hears back at once; enrichment (up to its deadline) and
    // routing follow in this same lane, so their next messages queue behind
    // it, in order. The topic and note are queued in the ticket's lane.
    desk.route_and_publish(ticket).await?;
    Ok(())
}

/// A message outside the intake dialogue: relayed to the open ticket, or the
/// start of a new intake.
async fn idle_message(desk: TicketDesk, dialogue: IntakeDialogue, msg: Message) -> Result<(), HandlerError> {
    let lang = lang_of(msg.from.as_ref());
    let Some(customer) = msg.from.as_ref() else { return Ok(()) };
    let Some(ticket) = desk.storage().open_ticket_of_customer(customer.id.0 as i64).await? else {
        return start_intake(&desk, &dialogue, &msg, lang).await;
    };
    desk.relay_from_customer(&ticket, &msg).await?;
    Ok(())
}

async fn edited_message(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    say(&desk, msg.chat.id, lang_of(msg.from.as_ref()), "edit-not-relayed").await
}
