//! Tickets: opening one (row, forum topic, pinned internal note), relaying
//! messages both ways, closing and reopening. Handlers call [`TicketDesk`],
//! which records what must be sent in the outbox; the outbox worker calls
//! back into [`TicketDesk::deliver`] (in `deliver.rs`) to send it. The
//! decisions it needs (note text, topic name) are pure functions in [`note`].

mod deliver;
pub use deliver::{GroupFile, Refusal};
pub mod handlers;
pub mod note;
pub mod sweep;

use std::sync::Arc;

use teloxide::{
    prelude::*,
    types::{MessageId, User},
};

use crate::{
    clock::SharedClock,
    config::Config,
    delivery::{Courier, Job, Outbox, lane, priority_of},
    i18n::{I18n, Lang},
    routing::service::{RoutingError, RoutingService},
    storage::{NewTicket, ReopenOutcome, Storage, StorageError, Ticket},
};

/// Errors while working on a ticket.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
}

impl From<DeskError> for crate::telegram::HandlerError {
    fn from(error: DeskError) -> Self {
        match error {
            DeskError::Storage(error) => Self::Storage(error),
            DeskError::Routing(error) => error.into(),
        }
    }
}

/// What became of a message to relay, as far as the handler can tell.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayOutcome {
    /// In the outbox: it will be sent, in order.
    Queued,
    /// The ticket is closed; nothing was sent.
    TicketClosed,
}

/// How long after the CRM's deadline a new ticket's own handler is trusted
/// to route it before the repair task does.
const ROUTING_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a customer's language choice is trusted from memory.
const LANGUAGE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// A customer's language choice and when it was read.
type ReadLang = (Option<Lang>, std::time::Instant);

/// An agent's name and @username as last seen.
type SeenAs = (String, Option<String>);

/// The ticket service shared by all handlers.
#[derive(Clone, Debug)]
pub struct TicketDesk {
    bot: Bot,
    outbox: Outbox,
    courier: Courier,
    storage: Storage,
    config: Arc<Config>,
    i18n: Arc<I18n>,
    clock: SharedClock,
    routing: RoutingService,
    group: crate::group::SupportGroup,
    /// When each kind of hold was last reported in General.
    hold_reports: Arc<std::sync::Mutex<std::collections::HashMap<crate::delivery::gate::Hold, i64>>>,
    /// Group members who were told once that only agents reach customers.
    told_outsiders: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    /// The name and @username each agent was last seen with (written when
    /// they change).
    agent_names: Arc<std::sync::Mutex<std::collections::HashMap<i64, SeenAs>>>,
    /// Customers' chosen languages as last read (`None`: they chose none),
    /// with when they were read: re-read after [`LANGUAGE_TTL`], so a choice
    /// made through another instance is picked up.
    customer_langs: Arc<std::sync::Mutex<std::collections::HashMap<i64, ReadLang>>>,
    /// Customers' recent message times, to notice one who floods.
    bursts: Arc<std::sync::Mutex<crate::domain::burst::Bursts>>,
}

impl TicketDesk {
    /// Builds the service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bot: Bot,
        outbox: Outbox,
        courier: Courier,
        storage: Storage,
        config: Arc<Config>,
        i18n: Arc<I18n>,
        clock: SharedClock,
        routing: RoutingService,
        group: crate::group::SupportGroup,
    ) -> Self {
        Self {
            bot,
            outbox,
            courier,
            storage,
            config,
            i18n,
            clock,
            routing,
            group,
            hold_reports: Arc::default(),
            told_outsiders: Arc::default(),
            agent_names: Arc::default(),
            customer_langs: Arc::default(),
            bursts: Arc::default(),
        }
    }

    /// The outbox, for handlers that send replies.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The routing service.
    pub fn routing(&self) -> &RoutingService {
        &self.routing
    }

    /// The language of notes, topic names and the bot's own posts in the
    /// support group (`GROUP_LANGUAGE`).
    pub fn group_lang(&self) -> Lang {
        self.config.group_language
    }

    /// The support group and what is known about its set-up.
    pub fn group(&self) -> &crate::group::SupportGroup {
        &self.group
    }

    /// Checks the support group again (two Bot API calls) while something is
    /// wrong with it or it could not be checked; says so in General when it
    /// can hold tickets again.
    pub async fn recheck_group(&self, me: UserId) -> Result<(), StorageError> {
        if matches!(self.group.health(), crate::group::Health::Ready) {
            return Ok(());
        }
        let change = self.check_group_now(me).await;
        self.group_changed(change).await
    }

    /// Checks the support group now (two Bot API calls at once).
    pub async fn check_group_now(&self, me: UserId) -> crate::group::Change {
        crate::group::check(&self.bot, &self.group, me).await
    }

    /// Tells the team in General that the group can hold tickets again.
    pub async fn group_changed(&self, change: crate::group::Change) -> Result<(), StorageError> {
        if change != crate::group::Change::Fixed {
            return Ok(());
        }
        let text = self.i18n.t(self.group_lang(), "group-ready-again");
        self.tell_topic(None, None, text).await
    }

    /// Learns an agent's name from their own message in the group, so the
    /// roster and notes show it rather than "Agent 2001"; written only when
    /// it changed since this instance last saw it.
    pub async fn learn_agent_name(&self, user: &User) -> Result<(), StorageError> {
        let id = user.id.0 as i64;
        let seen = (user.full_name(), user.username.clone());
        let known = {
            let names = self.agent_names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            names.get(&id) == Some(&seen)
        };
        if known {
            return Ok(());
        }
        if self.storage.set_agent_identity(id, &seen.0, seen.1.as_deref()).await? {
            tracing::info!(agent_id = id, "agent's name learned from their message");
        }
        let mut names = self.agent_names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if names.len() >= 10_000 {
            names.clear();
        }
        names.insert(id, seen);
        Ok(())
    }

    /// The language to speak with a customer: the one they chose with
    /// `/language`, else their Telegram app's (English when unsupported).
    /// Read from the database once per customer, then kept.
    pub async fn customer_lang(&self, user: &User) -> Lang {
        let id = user.id.0 as i64;
        let cached = self
            .customer_langs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .filter(|(_, read)| read.elapsed() < LANGUAGE_TTL)
            .map(|(chosen, _)| *chosen);
        let chosen = match cached {
            Some(chosen) => chosen,
            None => match self.storage.customer_language(id).await {
                Ok(chosen) => {
                    let chosen = chosen.map(|code| Lang::from_code(Some(&code)));
                    let mut langs =
                        self.customer_langs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if langs.len() >= 100_000 {
                        langs.clear();
                    }
                    langs.insert(id, (chosen, std::time::Instant::now()));
                    chosen
                }
                Err(error) => {
                    tracing::warn!(customer_id = id, %error, "cannot read the customer's language; using Telegram's");
                    None
                }
            },
        };
        chosen.unwrap_or_else(|| Lang::from_code(user.language_code.as_deref()))
    }

    /// Stores the language a customer chose.
    pub async fn set_customer_lang(&self, user: &User, lang: Lang) -> Result<(), StorageError> {
        let id = user.id.0 as i64;
        self.storage.set_customer_language(id, lang.code(), self.now_ms()).await?;
        self.customer_langs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, (Some(lang), std::time::Instant::now()));
        Ok(())
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

    /// Enriches and routes a new ticket, then queues its topic and pinned
    /// note. Routing failures leave the ticket in the queue, never lost.
    pub async fn route_and_publish(&self, mut ticket: Ticket) -> Result<Ticket, DeskError> {
        let ticket_id = ticket.id.0;
        if ticket.routing_rule.is_none() {
            match self.routing.route_new(&ticket).await {
                Ok(routed) => ticket = routed,
                Err(error) => {
                    tracing::error!(ticket_id, %error, "routing failed; the ticket waits in the queue")
                }
            }
        }
        self.queue_publish(&ticket, false).await?;
        Ok(ticket)
    }

    async fn queue_publish(&self, ticket: &Ticket, fresh: bool) -> Result<(), DeskError> {
        let job = Job::Publish { ticket: ticket.id.0, unpin: None, fresh };
        self.outbox.push(&lane::ticket(ticket.id.0), priority_of(ticket), Some(ticket.id.0), &job).await?;
        Ok(())
    }

    /// Queues a fresh internal note (after a re-assignment), pinned in place
    /// of the old one, mentioning the new agent.
    pub async fn publish_assignment(&self, ticket: Ticket) -> Result<Ticket, DeskError> {
        self.queue_publish(&ticket, true).await?;
        Ok(ticket)
    }

    /// Queues a fresh note for a ticket whose assignment changed (`/take`,
    /// `/reassign`, the premium override).
    pub async fn republish(&self, id: crate::domain::TicketId) -> Result<Ticket, DeskError> {
        let ticket = self
            .storage
            .ticket(id)
            .await?
            .ok_or_else(|| StorageError::Corrupt(format!("ticket {} vanished", id.0)))?;
        self.publish_assignment(ticket).await
    }

    /// Hands waiting tickets to agents who can take them now, and queues
    /// each new assignment's note.
    ///
    /// Inside a handler, the assignments record the update; a replay of
    /// that update (its notes were lost with its failed commit, the
    /// assignments were not) posts the notes of what it assigned the first
    /// time too.
    pub async fn drain_queue(&self) -> Result<usize, DeskError> {
        Ok(self.drain_and_publish().await?.len())
    }

    /// [`TicketDesk::drain_queue`], returning the tickets whose notes it queued.
    async fn drain_and_publish(&self) -> Result<Vec<crate::domain::TicketId>, DeskError> {
        let update = crate::delivery::current_update();
        let assigned = self.routing.drain_queue(update).await?;
        let mut tickets: Vec<Ticket> = assigned.into_iter().map(|routed| routed.ticket).collect();
        if let Some(update) = update {
            for earlier in self.storage.tickets_assigned_by(update).await? {
                // `/take` and `/reassign` post their own note (and finish it
                // on their own replay).
                let by_hand = earlier
                    .routing_rule
                    .as_deref()
                    .and_then(crate::domain::Rule::parse)
                    .is_some_and(crate::domain::Rule::by_hand);
                if !by_hand && !tickets.iter().any(|t| t.id == earlier.id) {
                    tickets.push(earlier);
                }
            }
        }
        tickets.sort_by_key(|t| t.id);
        let ids = tickets.iter().map(|t| t.id).collect();
        for ticket in tickets {
            self.publish_assignment(ticket).await?;
        }
        Ok(ids)
    }

    /// An agent went offline (or away, where `AWAY_GIVES_BACK_TICKETS` is
    /// set): the tickets they have not answered yet go back to the queue and
    /// on to whoever can take them now, each with a fresh note saying why
    /// (answered conversations stay with the agent).
    pub async fn give_back_unanswered(
        &self,
        agent_id: i64,
        agent_name: &str,
        status: crate::routing::AgentStatus,
    ) -> Result<usize, DeskError> {
        let tickets = self.storage.unanswered_tickets_of(agent_id).await?;
        if tickets.is_empty() {
            return Ok(0);
        }
        let key = match status {
            crate::routing::AgentStatus::Away => "reason-agent-away",
            _ => "reason-agent-offline",
        };
        let reason = self.i18n.t_args(self.group_lang(), key, &[("previous", agent_name.into())]);
        let ids: Vec<_> = tickets.iter().map(|t| t.id).collect();
        self.route_again(&ids, &reason).await?;
        tracing::info!(
            agent_id,
            count = tickets.len(),
            status = status.as_str(),
            "unanswered tickets given back by an agent leaving"
        );
        Ok(tickets.len())
    }

    /// Takes `tickets` from their agent, back to the queue and on to whoever
    /// can take them now, each with a fresh note: who has it and why
    /// (`reason` first), or that it waits.
    async fn route_again(&self, tickets: &[crate::domain::TicketId], reason: &str) -> Result<(), DeskError> {
        for id in tickets {
            self.storage.requeue_ticket(*id, crate::routing::Rule::Queued.as_str(), reason).await?;
        }
        let assigned = self.drain_and_publish().await?;
        for id in tickets {
            if assigned.contains(id) {
                // Its new note (queued above, sent after this handler's
                // commit) says why it moved as well as who has it now.
                self.storage.prefix_routing_reason(*id, reason).await?;
            } else {
                // Nobody can take it now: it waits, and its note says so.
                self.republish(*id).await?;
            }
        }
        Ok(())
    }

    /// Queues a customer's message for the ticket's topic.
    pub async fn relay_from_customer(
        &self,
        ticket: &Ticket,
        msg: &Message,
    ) -> Result<RelayOutcome, DeskError> {
        let job = Job::ToTopic {
            ticket: ticket.id.0,
            from_chat: msg.chat.id.0,
            message: msg.id.0,
            reply_to: crate::telegram::replied_message(msg),
            message_kind: Some(crate::telegram::message_kind(msg).to_owned()),
            album: msg.media_group_id().map(|id| id.0.clone()),
            forwarded: msg.forward_origin().is_some(),
        };
        self.outbox.push(&lane::ticket(ticket.id.0), priority_of(ticket), Some(ticket.id.0), &job).await?;
        // Counted by when the customer sent it, so a backlog read after a
        // restart is not taken for a flood.
        let sent_at = msg.date.timestamp_millis();
        let flooding = self
            .bursts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .note(msg.chat.id.0, sent_at);
        if flooding {
            tracing::info!(
                ticket_id = ticket.id.0,
                "a customer sends faster than the group can take; told once"
            );
            let lang = match msg.from.as_ref() {
                Some(user) => self.customer_lang(user).await,
                None => self.config.group_language,
            };
            let text = self.i18n.t(lang, "customer-flood-notice");
            self.outbox.customer_text(ticket, text).await?;
        }
        Ok(RelayOutcome::Queued)
    }

    /// Whether the sender of a support-group message may talk to customers
    /// and use ticket commands: an agent, an admin, or an anonymous admin
    /// (posting as the group itself).
    pub async fn is_staff(&self, msg: &Message) -> Result<bool, StorageError> {
        if msg.sender_chat.as_ref().is_some_and(|c| c.id == msg.chat.id) {
            return Ok(true);
        }
        let Some(from) = msg.from.as_ref() else { return Ok(false) };
        if self.config.is_admin(from.id) {
            return Ok(true);
        }
        Ok(self.storage.agent(from.id.0 as i64).await?.is_some())
    }

    /// Whether `user` should be told (once per run) that their messages do
    /// not reach customers.
    pub fn first_time_outsider(&self, user: i64) -> bool {
        self.told_outsiders.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(user)
    }

    /// Queues messages the customer sent before the ticket could take them
    /// (during the intake) for the ticket's topic, in order.
    pub async fn relay_kept(
        &self,
        ticket: &Ticket,
        from_chat: i64,
        messages: &[(i32, Option<String>)],
    ) -> Result<(), DeskError> {
        for (message, album) in messages {
            let job = Job::ToTopic {
                ticket: ticket.id.0,
                from_chat,
                message: *message,
                reply_to: None,
                message_kind: None,
                album: album.clone(),
                forwarded: false,
            };
            self.outbox
                .push(&lane::ticket(ticket.id.0), priority_of(ticket), Some(ticket.id.0), &job)
                .await?;
        }
        Ok(())
    }

    /// Queues an agent's message for the customer.
    pub async fn relay_from_agent(&self, ticket: &Ticket, msg: &Message) -> Result<RelayOutcome, DeskError> {
        if ticket.status != crate::domain::TicketStatus::Open {
            return Ok(RelayOutcome::TicketClosed);
        }
        let Some(thread) = crate::telegram::topic_thread(msg) else { return Ok(RelayOutcome::TicketClosed) };
        let job = Job::ToCustomer {
            ticket: ticket.id.0,
            from_chat: msg.chat.id.0,
            message: msg.id.0,
            thread,
            reply_to: crate::telegram::replied_message(msg),
            message_kind: Some(crate::telegram::message_kind(msg).to_owned()),
            album: msg.media_group_id().map(|id| id.0.clone()),
        };
        let lane = lane::chat(ticket.customer_chat_id, None);
        self.outbox.push(&lane, priority_of(ticket), Some(ticket.id.0), &job).await?;
        Ok(RelayOutcome::Queued)
    }

    /// Queues an edited message's new text or caption for its copy on the
    /// other side of the ticket, in the lane its copy went through (so the
    /// edit follows the copy). A message without text or caption has
    /// nothing to sync.
    pub async fn relay_edit(
        &self,
        ticket: &Ticket,
        msg: &Message,
        to_customer: bool,
    ) -> Result<bool, DeskError> {
        let (text, entities, caption) = match (msg.text(), msg.caption()) {
            (Some(text), _) => (text, msg.entities().unwrap_or_default(), false),
            (None, Some(caption)) => (caption, msg.caption_entities().unwrap_or_default(), true),
            (None, None) => return Ok(false),
        };
        let job = Job::EditCopy {
            ticket: ticket.id.0,
            from_chat: msg.chat.id.0,
            message: msg.id.0,
            text: text.to_owned(),
            entities: entities.to_vec(),
            caption,
        };
        let lane =
            if to_customer { lane::chat(ticket.customer_chat_id, None) } else { lane::ticket(ticket.id.0) };
        self.outbox.push(&lane, priority_of(ticket), Some(ticket.id.0), &job).await?;
        Ok(true)
    }

    /// Queues plain text for the customer of a ticket, in their language.
    pub async fn tell_customer(&self, ticket: &Ticket, key: &str) -> Result<(), StorageError> {
        let lang = Lang::from_code(Some(&ticket.language));
        let text = self.i18n.t_args(lang, key, &[("id", ticket.id.0.into())]);
        self.outbox.customer_text(ticket, text).await.map(|_| ())
    }

    /// Queues plain text for a topic of the support group (General when
    /// `thread` is `None`), as a reply to `reply_to`. A reply to someone's
    /// command goes before relays waiting for the group's budget: that
    /// person is waiting now (DESIGN §12, fair share).
    pub async fn tell_topic(
        &self,
        thread: Option<i32>,
        reply_to: Option<MessageId>,
        text: String,
    ) -> Result<(), StorageError> {
        let reply_to = reply_to.map(|m| m.0);
        // A reply to someone's command: they are waiting now.
        let priority = |otherwise| if reply_to.is_some() { crate::delivery::INTERACTIVE } else { otherwise };
        if let Some(t) = thread
            && let Some(ticket) = self.storage.ticket_by_thread(t).await?
        {
            // In the ticket's lane, so it stays in order with the relays.
            let priority = priority(priority_of(&ticket));
            let job = Job::TopicText { ticket: ticket.id.0, reply_to, text };
            return self
                .outbox
                .push(&lane::ticket(ticket.id.0), priority, Some(ticket.id.0), &job)
                .await
                .map(|_| ());
        }
        let group = self.config.support_group.0;
        let priority = priority(crate::delivery::NORMAL);
        let job = Job::Text { chat: group, thread, reply_to, text, buttons: None };
        self.outbox.push(&lane::chat(group, thread), priority, None, &job).await.map(|_| ())
    }

    /// Closes the ticket: the customer is told, the topic gets a line and is closed.
    pub async fn close(&self, ticket: &Ticket, by: &User) -> Result<bool, DeskError> {
        if !self.storage.close_ticket(ticket.id, self.now_ms(), crate::delivery::current_update()).await? {
            return Ok(false);
        }
        tracing::info!(ticket_id = ticket.id.0, agent_id = by.id.0, "ticket closed");
        let key = if self.config.reopen_window.is_some() {
            "ticket-closed-for-customer"
        } else {
            "ticket-closed-for-customer-new"
        };
        self.tell_customer(ticket, key).await?;
        self.ask_for_rating(ticket).await?;
        let line = self.i18n.t_args(
            self.line_lang(ticket, by),
            "ticket-closed-by",
            &[("id", ticket.id.0.into()), ("agent", by.full_name().into())],
        );
        self.outbox.topic_text(ticket, None, line).await?;
        let job = Job::TopicState { ticket: ticket.id.0, open: false };
        self.outbox.push(&lane::ticket(ticket.id.0), priority_of(ticket), Some(ticket.id.0), &job).await?;
        // The agent has room for one more: give it to whoever waits longest.
        if let Err(error) = self.drain_queue().await {
            tracing::warn!(ticket_id = ticket.id.0, %error, "could not assign waiting tickets");
        }
        Ok(true)
    }

    /// The language of a line in the topic caused by `by`: theirs when an
    /// agent or admin acted (a reply to their command), the group's when the
    /// customer did (from their private chat).
    fn line_lang(&self, ticket: &Ticket, by: &User) -> Lang {
        if by.id.0 as i64 == ticket.customer_id {
            self.group_lang()
        } else {
            Lang::from_code(by.language_code.as_deref())
        }
    }

    /// Asks the customer to rate a closed ticket: one message, buttons 1–5.
    async fn ask_for_rating(&self, ticket: &Ticket) -> Result<(), StorageError> {
        let lang = Lang::from_code(Some(&ticket.language));
        let buttons = (1..=5u8)
            .map(|score| {
                let data = crate::telegram::callback::CallbackData::Rate { ticket: ticket.id.0, score };
                teloxide::types::InlineKeyboardButton::callback(format!("{score} ⭐"), data.encode())
            })
            .collect::<Vec<_>>();
        let markup = teloxide::types::InlineKeyboardMarkup::new([buttons]);
        let text = self.i18n.t(lang, "csat-question");
        self.outbox.text(ticket.customer_chat_id, None, None, text, Some(markup)).await.map(|_| ())
    }

    /// Records a customer's rating of their ticket (a second tap replaces the
    /// first) and tells the topic. `false` if the ticket is not theirs.
    pub async fn rate(&self, id: crate::domain::TicketId, by: &User, score: u8) -> Result<bool, DeskError> {
        let Some(previous) = self.storage.rate_ticket(id, by.id.0 as i64, score, self.now_ms()).await? else {
            return Ok(false);
        };
        if previous == Some(score) {
            return Ok(true);
        }
        tracing::info!(ticket_id = id.0, score, "customer rated the ticket");
        let Some(ticket) = self.storage.ticket(id).await? else { return Ok(true) };
        let key = if previous.is_some() { "csat-changed" } else { "csat-posted" };
        let line = self.i18n.t_args(self.group_lang(), key, &[("score", score.into())]);
        self.outbox.topic_text(&ticket, None, line).await?;
        Ok(true)
    }

    /// A customer wrote after their ticket was closed: within
    /// `REOPEN_WINDOW` of the close, that ticket reopens (its topic, a line
    /// there, the same agent if they can take it) and is returned.
    pub async fn reopen_recent(&self, customer: &User) -> Result<Option<Ticket>, DeskError> {
        let Some(window) = self.config.reopen_window else { return Ok(None) };
        let Some(last) = self.storage.last_closed_ticket_of_customer(customer.id.0 as i64).await? else {
            return Ok(None);
        };
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let recent = last.closed_at_ms.is_some_and(|closed| self.now_ms() - closed <= window_ms);
        if !recent {
            return Ok(None);
        }
        match self.reopen(&last, customer).await? {
            ReopenOutcome::Reopened | ReopenOutcome::AlreadyOpen => Ok(self.storage.ticket(last.id).await?),
            ReopenOutcome::CustomerHasOpenTicket(other) => Ok(self.storage.ticket(other).await?),
            ReopenOutcome::NotFound => Ok(None),
        }
    }

    /// Reopens a closed ticket and its topic.
    pub async fn reopen(&self, ticket: &Ticket, by: &User) -> Result<ReopenOutcome, DeskError> {
        let outcome =
            self.storage.reopen_ticket(ticket.id, self.now_ms(), crate::delivery::current_update()).await?;
        if outcome != ReopenOutcome::Reopened {
            return Ok(outcome);
        }
        tracing::info!(ticket_id = ticket.id.0, agent_id = by.id.0, "ticket reopened");
        let job = Job::TopicState { ticket: ticket.id.0, open: true };
        self.outbox.push(&lane::ticket(ticket.id.0), priority_of(ticket), Some(ticket.id.0), &job).await?;
        let line = self.i18n.t_args(
            self.line_lang(ticket, by),
            "ticket-reopened-by",
            &[("id", ticket.id.0.into()), ("agent", by.full_name().into())],
        );
        self.outbox.topic_text(ticket, None, line).await?;
        self.end_intake_into(ticket).await?;
        self.tell_customer(ticket, "ticket-reopened-for-customer").await?;
        self.reroute_if_orphaned(ticket.id).await?;
        Ok(outcome)
    }

    /// After a reopen: the previous agent keeps the ticket if they can take
    /// it now (still an agent, available, within capacity); otherwise it goes
    /// back to the queue, to whoever can take it, with a fresh note saying so.
    async fn reroute_if_orphaned(&self, id: crate::domain::TicketId) -> Result<(), DeskError> {
        let Some(ticket) = self.storage.ticket(id).await? else { return Ok(()) };
        let Some(previous) = ticket.assignee_id else {
            // It waited before the close: it waits again, first in line by age.
            self.drain_queue().await?;
            return Ok(());
        };
        let agent = self.storage.agent(previous).await?;
        // `open_tickets` already counts this reopened ticket.
        let keeps = agent.as_ref().is_some_and(|a| {
            a.status == crate::routing::AgentStatus::Available && a.open_tickets <= a.capacity
        });
        if keeps {
            return Ok(());
        }
        let name = agent.map(|a| a.name).unwrap_or_else(|| previous.to_string());
        let reason = self.i18n.t_args(
            self.group_lang(),
            "reason-reopened-previous-unavailable",
            &[("previous", name.into())],
        );
        tracing::info!(
            ticket_id = id.0,
            previous_agent = previous,
            "reopened ticket's agent cannot take it; routed again"
        );
        self.route_again(&[id], &reason).await
    }

    /// Ends an intake the customer started after this ticket was closed:
    /// the ticket is theirs again, so what that intake kept goes to it.
    /// (Should the customer's chat write the dialogue at the same moment,
    /// its next message finds the open ticket and ends the intake there.)
    async fn end_intake_into(&self, ticket: &Ticket) -> Result<(), DeskError> {
        let chat = ticket.customer_chat_id;
        let staged = crate::delivery::staged_dialogue(chat);
        let raw = match staged {
            Some(staged) => staged,
            None => self.storage.dialogue(chat).await?,
        };
        let Some(state) = raw.as_deref().and_then(crate::domain::intake::decode) else { return Ok(()) };
        let Some(kept) = state.kept() else { return Ok(()) };
        if !crate::delivery::stage_dialogue(chat, None) {
            self.storage.remove_dialogue(chat).await?;
        }
        tracing::info!(ticket_id = ticket.id.0, "the customer's new intake ended: their ticket was reopened");
        self.relay_kept(ticket, chat, &kept.to_relay(0)).await
    }

    /// Queues topic set-up again for tickets whose topic or note is missing
    /// and that have nothing waiting in the outbox (their set-up was refused
    /// for good earlier, e.g. while the bot lacked a right).
    pub async fn repair_topics(&self) -> Result<usize, DeskError> {
        let mut repaired = 0;
        // A new ticket is routed by its own handler, which may be waiting
        // for the CRM: left to it for the CRM's deadline and a margin.
        let grace = self.config.routing_webhook_timeout + ROUTING_GRACE;
        let young_after = self.now_ms() - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        for ticket in self.storage.tickets_missing_topic(50).await? {
            if ticket.routing_rule.is_none() && ticket.created_at_ms > young_after {
                continue;
            }
            if self.storage.outbox_lane_busy(&lane::ticket(ticket.id.0)).await? {
                continue;
            }
            self.route_and_publish(ticket).await?;
            repaired += 1;
        }
        Ok(repaired)
    }
}
