//! Tickets: opening one (row, forum topic, pinned internal note), relaying
//! messages both ways, closing and reopening. Handlers call [`TicketDesk`];
//! the decisions it needs (note text, topic name) are pure functions in
//! [`note`].

pub mod handlers;
pub mod note;

use std::sync::Arc;

use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{MessageId, ParseMode, ReplyParameters, Rgb, ThreadId, User},
};

use crate::{
    clock::SharedClock,
    config::Config,
    i18n::{I18n, Lang},
    routing::service::{RoutingError, RoutingService},
    storage::{NewTicket, ReopenOutcome, Storage, StorageError, Ticket},
    telegram::retry::with_retry,
};

/// Errors while working on a ticket.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error("Bot API call {call} failed for ticket {ticket}: {source}")]
    Telegram {
        call: &'static str,
        ticket: i64,
        #[source]
        source: RequestError,
    },
}

/// How a relay ended, when it did not simply succeed.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayOutcome {
    Delivered,
    /// The customer blocked the bot (or deleted their account).
    CustomerUnreachable,
    /// Telegram refused to copy this kind of message.
    Unsupported,
    /// The ticket is closed; nothing was sent.
    TicketClosed,
}

/// Which language group-facing text (notes, topic names) is written in.
pub const GROUP_LANG: Lang = Lang::En;

/// The ticket service shared by all handlers.
#[derive(Clone, Debug)]
pub struct TicketDesk {
    bot: Bot,
    storage: Storage,
    config: Arc<Config>,
    i18n: Arc<I18n>,
    clock: SharedClock,
    routing: RoutingService,
}

fn topic_error(error: &RequestError) -> Option<&str> {
    match error {
        RequestError::Api(ApiError::Unknown(d)) => Some(d.as_str()),
        _ => None,
    }
}

fn is_topic_closed(error: &RequestError) -> bool {
    topic_error(error).is_some_and(|d| d.contains("TOPIC_CLOSED"))
}

fn is_topic_gone(error: &RequestError) -> bool {
    topic_error(error).is_some_and(|d| d.contains("message thread not found") || d.contains("TOPIC_DELETED"))
}

fn is_unreachable(error: &RequestError) -> bool {
    matches!(
        error,
        RequestError::Api(ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound)
    )
}

fn is_uncopyable(error: &RequestError) -> bool {
    topic_error(error).is_some_and(|d| d.contains("can't be copied") || d.contains("MESSAGE_ID_INVALID"))
}

impl TicketDesk {
    /// Builds the service.
    pub fn new(
        bot: Bot,
        storage: Storage,
        config: Arc<Config>,
        i18n: Arc<I18n>,
        clock: SharedClock,
        routing: RoutingService,
    ) -> Self {
        Self { bot, storage, config, i18n, clock, routing }
    }

    /// The routing service.
    pub fn routing(&self) -> &RoutingService {
        &self.routing
    }

    /// The storage, for handlers that only read.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Localised text.
    pub fn i18n(&self) -> &I18n {
        &self.i18n
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current time in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Writes the ticket row. From here on the ticket exists: whatever
    /// Telegram or the CRM do next, it is routed and given a topic (now, on
    /// the next message, or by the repair task).
    pub async fn create(&self, new: NewTicket) -> Result<Ticket, DeskError> {
        let ticket = self.storage.create_ticket(&new).await?;
        tracing::info!(ticket_id = ticket.id.0, customer_id = ticket.customer_id, category = %ticket.category, "ticket opened");
        Ok(ticket)
    }

    /// Enriches and routes a new ticket, then sets up its topic and pinned
    /// note. Failures are logged and retried later, never lost.
    pub async fn route_and_publish(&self, mut ticket: Ticket) -> Ticket {
        let ticket_id = ticket.id.0;
        if ticket.routing_rule.is_none() {
            match self.routing.route_new(&ticket).await {
                Ok(routed) => ticket = routed.ticket,
                Err(error) => {
                    tracing::error!(ticket_id, %error, "routing failed; the ticket waits in the queue")
                }
            }
        }
        match self.ensure_topic(ticket.clone()).await {
            Ok(ticket) => ticket,
            Err(error) => {
                tracing::error!(ticket_id, %error, "could not set up the ticket topic yet; will retry");
                ticket
            }
        }
    }

    async fn assignee_name(&self, ticket: &Ticket) -> Option<String> {
        let agent = ticket.assignee_id?;
        match self.storage.agent_name(agent).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(ticket_id = ticket.id.0, %error, "cannot look up the assignee's name");
                None
            }
        }
    }

    /// Posts a fresh internal note (after a re-assignment), pins it in place
    /// of the old one, and mentions the new agent.
    pub async fn publish_assignment(&self, mut ticket: Ticket) -> Result<Ticket, DeskError> {
        if ticket.thread_id.is_none() || ticket.note_message_id.is_none() {
            return self.ensure_topic(ticket).await;
        }
        let old_note = ticket.note_message_id;
        ticket.note_message_id = None;
        let ticket = self.ensure_topic(ticket).await?;
        if let Some(old) = old_note {
            let unpinned = with_retry("unpinChatMessage", || {
                self.bot
                    .unpin_chat_message(self.config.support_group)
                    .message_id(MessageId(old))
                    .into_future()
            })
            .await;
            if let Err(error) = unpinned {
                tracing::debug!(ticket_id = ticket.id.0, %error, "could not unpin the old note");
            }
        }
        Ok(ticket)
    }

    /// Posts a fresh note for a ticket whose assignment changed (`/take`,
    /// `/reassign`), pinned in place of the old one.
    pub async fn republish(&self, id: crate::domain::TicketId) -> Result<Ticket, DeskError> {
        let ticket = self
            .storage
            .ticket(id)
            .await?
            .ok_or_else(|| StorageError::Corrupt(format!("ticket {} vanished", id.0)))?;
        self.publish_assignment(ticket).await
    }

    /// Hands waiting tickets to agents who can take them now, and posts each
    /// new assignment in its topic.
    pub async fn drain_queue(&self) -> Result<usize, DeskError> {
        let assigned = self.routing.drain_queue().await?;
        let count = assigned.len();
        for routed in assigned {
            let ticket_id = routed.ticket.id.0;
            if let Err(error) = self.publish_assignment(routed.ticket).await {
                tracing::warn!(ticket_id, %error, "could not post the assignment note");
            }
        }
        Ok(count)
    }

    /// Makes sure the ticket has its forum topic and its pinned internal note.
    pub async fn ensure_topic(&self, mut ticket: Ticket) -> Result<Ticket, DeskError> {
        let group = self.config.support_group;
        let ticket_id = ticket.id.0;
        let thread = match ticket.thread_id {
            Some(thread) => thread,
            None => {
                let name = note::topic_name(&self.i18n, GROUP_LANG, &ticket);
                let color = Rgb::from_u32(note::topic_color(ticket.tier));
                let topic = with_retry("createForumTopic", || {
                    self.bot.create_forum_topic(group, name.clone()).icon_color(color).into_future()
                })
                .await
                .map_err(|source| DeskError::Telegram {
                    call: "createForumTopic",
                    ticket: ticket_id,
                    source,
                })?;
                let thread = topic.thread_id.0.0;
                self.storage.set_ticket_thread(ticket.id, thread).await?;
                ticket.thread_id = Some(thread);
                tracing::info!(ticket_id, thread_id = thread, "ticket topic created");
                thread
            }
        };
        if ticket.note_message_id.is_none() {
            let assignee = self.assignee_name(&ticket).await;
            let html = note::render_note(&self.i18n, GROUP_LANG, &ticket, assignee.as_deref());
            let sent = with_retry("sendMessage", || {
                self.bot
                    .send_message(group, html.clone())
                    .message_thread_id(ThreadId(MessageId(thread)))
                    .parse_mode(ParseMode::Html)
                    .into_future()
            })
            .await
            .map_err(|source| DeskError::Telegram {
                call: "sendMessage(note)",
                ticket: ticket_id,
                source,
            })?;
            self.storage.set_ticket_note(ticket.id, sent.id.0).await?;
            ticket.note_message_id = Some(sent.id.0);
            let pinned = with_retry("pinChatMessage", || {
                self.bot.pin_chat_message(group, sent.id).disable_notification(true).into_future()
            })
            .await;
            if let Err(error) = pinned {
                // The note is there; only the pin is missing. Tell the operator why.
                tracing::warn!(ticket_id, %error, "could not pin the internal note (does the bot have the 'pin messages' right?)");
            }
            if ticket.description_has_media {
                let copied = self
                    .copy(group, Some(thread), ChatId(ticket.customer_chat_id), ticket.description_message_id)
                    .await;
                if let Err(error) = copied {
                    tracing::warn!(ticket_id, %error, "could not copy the description's attachment into the topic");
                }
            }
        }
        Ok(ticket)
    }

    async fn copy(
        &self,
        to: ChatId,
        thread: Option<i32>,
        from: ChatId,
        message: i32,
    ) -> Result<MessageId, RequestError> {
        with_retry("copyMessage", || {
            let request = self.bot.copy_message(to, from, MessageId(message));
            let request = match thread {
                Some(t) => request.message_thread_id(ThreadId(MessageId(t))),
                None => request,
            };
            request.into_future()
        })
        .await
    }

    /// Relays a customer's message into the ticket's topic, repairing the
    /// topic first if agents closed or deleted it by hand.
    pub async fn relay_from_customer(
        &self,
        ticket: Ticket,
        msg: &Message,
        update_id: i64,
    ) -> Result<RelayOutcome, DeskError> {
        let ticket_id = ticket.id.0;
        if self.storage.relay_done(update_id).await? {
            tracing::info!(ticket_id, update_id, "already relayed before a restart; not sending twice");
            return Ok(RelayOutcome::Delivered);
        }
        let mut ticket = if ticket.thread_id.is_some() && ticket.note_message_id.is_some() {
            ticket
        } else {
            self.route_and_publish(ticket).await
        };
        if ticket.thread_id.is_none() {
            ticket = self.ensure_topic(ticket).await?;
        }
        for attempt in 0..2 {
            let Some(thread) = ticket.thread_id else { break };
            match self.copy(self.config.support_group, Some(thread), msg.chat.id, msg.id.0).await {
                Ok(copied) => {
                    let target = (self.config.support_group.0, copied.0);
                    self.storage
                        .record_relay(update_id, ticket_id, "to_topic", target, self.now_ms())
                        .await?;
                    return Ok(RelayOutcome::Delivered);
                }
                Err(error) if attempt == 0 && is_topic_closed(&error) => {
                    tracing::info!(
                        ticket_id,
                        "topic was closed by hand while the ticket is open; reopening it"
                    );
                    let _ = with_retry("reopenForumTopic", || {
                        self.bot
                            .reopen_forum_topic(self.config.support_group, ThreadId(MessageId(thread)))
                            .into_future()
                    })
                    .await;
                }
                Err(error) if attempt == 0 && is_topic_gone(&error) => {
                    tracing::warn!(ticket_id, "ticket topic was deleted; creating a new one");
                    self.storage.reset_ticket_topic(ticket.id).await?;
                    ticket.thread_id = None;
                    ticket.note_message_id = None;
                    ticket = self.ensure_topic(ticket).await?;
                }
                Err(error) if is_uncopyable(&error) => return Ok(RelayOutcome::Unsupported),
                Err(source) => {
                    return Err(DeskError::Telegram {
                        call: "copyMessage(customer→topic)",
                        ticket: ticket_id,
                        source,
                    });
                }
            }
        }
        Err(DeskError::Telegram {
            call: "copyMessage(customer→topic)",
            ticket: ticket_id,
            source: RequestError::Api(ApiError::Unknown("topic could not be repaired".into())),
        })
    }

    /// Relays an agent's message from the topic to the customer.
    pub async fn relay_from_agent(
        &self,
        ticket: &Ticket,
        msg: &Message,
        update_id: i64,
    ) -> Result<RelayOutcome, DeskError> {
        if ticket.status != crate::domain::TicketStatus::Open {
            return Ok(RelayOutcome::TicketClosed);
        }
        if self.storage.relay_done(update_id).await? {
            tracing::info!(
                ticket_id = ticket.id.0,
                update_id,
                "already relayed before a restart; not sending twice"
            );
            return Ok(RelayOutcome::Delivered);
        }
        match self.copy(ChatId(ticket.customer_chat_id), None, msg.chat.id, msg.id.0).await {
            Ok(copied) => {
                let target = (ticket.customer_chat_id, copied.0);
                self.storage
                    .record_relay(update_id, ticket.id.0, "to_customer", target, self.now_ms())
                    .await?;
                if self.storage.record_first_response(ticket.id, self.now_ms()).await? {
                    tracing::info!(ticket_id = ticket.id.0, agent_id = ?msg.from.as_ref().map(|u| u.id.0), "first response");
                }
                Ok(RelayOutcome::Delivered)
            }
            Err(error) if is_unreachable(&error) => Ok(RelayOutcome::CustomerUnreachable),
            Err(error) if is_uncopyable(&error) => Ok(RelayOutcome::Unsupported),
            Err(source) => {
                Err(DeskError::Telegram {
                    call: "copyMessage(topic→customer)", ticket: ticket.id.0, source
                })
            }
        }
    }

    /// Sends plain text to the customer of a ticket, in their language.
    pub async fn tell_customer(&self, ticket: &Ticket, key: &str) -> Result<(), RequestError> {
        let lang = Lang::from_code(Some(&ticket.language));
        let text = self.i18n.t_args(lang, key, &[("id", ticket.id.0.into())]);
        crate::telegram::send_text(&self.bot, ChatId(ticket.customer_chat_id), text).await.map(|_| ())
    }

    /// Posts plain text into the ticket's topic (or General when it has none).
    pub async fn tell_topic(
        &self,
        thread: Option<i32>,
        reply_to: Option<MessageId>,
        text: String,
    ) -> Result<(), RequestError> {
        with_retry("sendMessage", || {
            let mut request = self.bot.send_message(self.config.support_group, text.clone());
            if let Some(t) = thread {
                request = request.message_thread_id(ThreadId(MessageId(t)));
            }
            if let Some(id) = reply_to {
                request = request.reply_parameters(ReplyParameters::new(id).allow_sending_without_reply());
            }
            request.into_future()
        })
        .await
        .map(|_| ())
    }

    /// Closes the ticket: the customer is told, the topic gets a line and is closed.
    pub async fn close(&self, ticket: &Ticket, by: &User) -> Result<bool, DeskError> {
        if !self.storage.close_ticket(ticket.id, self.now_ms()).await? {
            return Ok(false);
        }
        tracing::info!(ticket_id = ticket.id.0, agent_id = by.id.0, "ticket closed");
        if let Err(error) = self.tell_customer(ticket, "ticket-closed-for-customer").await {
            tracing::warn!(ticket_id = ticket.id.0, %error, "could not tell the customer the ticket is closed");
        }
        let line = self.i18n.t_args(
            GROUP_LANG,
            "ticket-closed-by",
            &[("id", ticket.id.0.into()), ("agent", by.full_name().into())],
        );
        if let Err(error) = self.tell_topic(ticket.thread_id, None, line).await {
            tracing::warn!(ticket_id = ticket.id.0, %error, "could not post the closing line");
        }
        // The agent has room for one more: give it to whoever waits longest.
        if let Err(error) = self.drain_queue().await {
            tracing::warn!(ticket_id = ticket.id.0, %error, "could not assign waiting tickets");
        }
        if let Some(thread) = ticket.thread_id {
            let closed = with_retry("closeForumTopic", || {
                self.bot
                    .close_forum_topic(self.config.support_group, ThreadId(MessageId(thread)))
                    .into_future()
            })
            .await;
            match closed {
                Err(error) if !topic_error(&error).is_some_and(|d| d.contains("TOPIC_NOT_MODIFIED")) => {
                    tracing::warn!(ticket_id = ticket.id.0, %error, "could not close the topic");
                }
                _ => {}
            }
        }
        Ok(true)
    }

    /// Reopens a closed ticket and its topic.
    pub async fn reopen(&self, ticket: &Ticket, by: &User) -> Result<ReopenOutcome, DeskError> {
        let outcome = self.storage.reopen_ticket(ticket.id).await?;
        if outcome != ReopenOutcome::Reopened {
            return Ok(outcome);
        }
        tracing::info!(ticket_id = ticket.id.0, agent_id = by.id.0, "ticket reopened");
        if let Some(thread) = ticket.thread_id {
            let reopened = with_retry("reopenForumTopic", || {
                self.bot
                    .reopen_forum_topic(self.config.support_group, ThreadId(MessageId(thread)))
                    .into_future()
            })
            .await;
            if let Err(error) = reopened {
                tracing::warn!(ticket_id = ticket.id.0, %error, "could not reopen the topic");
            }
        }
        let line = self.i18n.t_args(
            GROUP_LANG,
            "ticket-reopened-by",
            &[("id", ticket.id.0.into()), ("agent", by.full_name().into())],
        );
        if let Err(error) = self.tell_topic(ticket.thread_id, None, line).await {
            tracing::warn!(ticket_id = ticket.id.0, %error, "could not post the reopening line");
        }
        if let Err(error) = self.tell_customer(ticket, "ticket-reopened-for-customer").await {
            tracing::warn!(ticket_id = ticket.id.0, %error, "could not tell the customer the ticket is reopened");
        }
        Ok(outcome)
    }

    /// Retries topic set-up for tickets whose topic or note is missing.
    pub async fn repair_topics(&self) -> Result<usize, DeskError> {
        let mut repaired = 0;
        for ticket in self.storage.tickets_missing_topic(50).await? {
            let ticket = self.route_and_publish(ticket).await;
            if ticket.thread_id.is_none() || ticket.note_message_id.is_none() {
                break; // Telegram still refuses; try again next round.
            }
            repaired += 1;
        }
        Ok(repaired)
    }
}
