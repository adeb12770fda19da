//! The sending side of tickets: the outbox worker runs each [`Job`] here.
//! Every Bot API call goes through the [`Courier`](crate::delivery::Courier)
//! (flood control, `429`, retries); what comes back is either success or a
//! permanent refusal, which is recorded and shown to the agents.

use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{InlineKeyboardMarkup, InputFile, MessageId, ParseMode, ReplyParameters, Rgb, ThreadId},
};

use super::{TicketDesk, note};
use crate::{
    delivery::{CallError, Cost, DeliveryError, Job, Turn, gate::Hold, worker::Delivered},
    domain::{TicketId, TicketStatus},
    storage::Ticket,
};

/// A file sent into the support group (see [`TicketDesk::send_group_file`]).
#[derive(Clone, Debug)]
pub enum GroupFile {
    /// A PNG image, shown as a photo.
    Photo { png: Vec<u8>, name: String, caption: String },
    /// A file on disk, sent as a document named `name`.
    Document { path: std::path::PathBuf, name: String, caption: String },
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

/// Telegram's longest text message, in UTF-16 code units.
const TEXT_LIMIT_UTF16: usize = 4096;

/// How long a refused topic set-up is not reported again for its ticket.
const REPORT_AGAIN_AFTER_MS: i64 = 10 * 60 * 1000;

fn refused(error: RequestError) -> DeliveryError {
    DeliveryError::Call(CallError::Refused(error))
}

/// What [`TicketDesk::post_in_topic`] posts.
#[derive(Clone, Copy)]
enum TopicPost<'a> {
    /// A copy (or, for a message the customer forwarded, a forward) of a
    /// customer's message.
    Copy { from_chat: i64, message: i32, reply_to: Option<i32>, forward: bool },
    /// The parts of a customer's album, in message order.
    Album { from_chat: i64, messages: &'a [i32], forward: bool },
    /// Text, as a reply to `reply_to`.
    Text { reply_to: Option<i32>, text: &'a str },
}

/// An album's parts to carry across in one call.
#[derive(Clone, Copy)]
struct Album<'a> {
    from: i64,
    messages: &'a [i32],
    /// Forward rather than copy (the customer forwarded them from elsewhere).
    forward: bool,
}

/// An edited message's new version, for its copy.
struct Edit<'a> {
    from_chat: i64,
    message: i32,
    text: &'a str,
    entities: &'a [teloxide::types::MessageEntity],
    caption: bool,
}

pub use crate::delivery::worker::Refusal;

impl crate::delivery::worker::JobRunner for TicketDesk {
    async fn deliver(&self, job: &Job, priority: i32) -> Result<Delivered, DeliveryError> {
        self.run_job(job, priority).await
    }

    async fn deliver_album(&self, parts: &[Job], priority: i32) -> Result<Delivered, DeliveryError> {
        self.run_album(parts, priority).await
    }

    fn album_wait(&self) -> std::time::Duration {
        self.config.album_wait
    }

    async fn surface_failure(&self, job: &Job, refusal: Refusal, detail: &str) {
        self.tell_refusal(job, refusal, detail).await
    }

    async fn report_hold(&self, job: &Job, hold: Hold) {
        self.tell_hold(job, hold).await
    }
}

impl Refusal {
    fn of(error: &RequestError) -> Self {
        if is_unreachable(error) {
            Refusal::Unreachable
        } else if is_uncopyable(error) {
            Refusal::Uncopyable
        } else {
            Refusal::Other
        }
    }
}

impl TicketDesk {
    /// Runs one outbox job. `Ok(Refused)` for a permanent refusal;
    /// `Err(Stopped)` when the bot is stopping (the job stays queued).
    pub async fn run_job(&self, job: &Job, priority: i32) -> Result<Delivered, DeliveryError> {
        let turn = Turn { priority };
        let result = match job {
            Job::Text { chat, thread, reply_to, text, buttons } => {
                self.send_text(*chat, *thread, *reply_to, text, buttons.as_ref(), turn).await.map(|_| ())
            }
            Job::TopicText { ticket, reply_to, text } => {
                self.post_in_topic(*ticket, TopicPost::Text { reply_to: *reply_to, text }, turn).await
            }
            Job::Publish { ticket, unpin, fresh } => match self.storage.ticket(TicketId(*ticket)).await? {
                // Rows queued before `fresh` existed carry the note they replace.
                Some(found) => self.ensure_topic(found, *fresh || unpin.is_some(), turn).await.map(|_| ()),
                None => Ok(()),
            },
            Job::ToTopic { ticket, from_chat, message, reply_to, forwarded, .. } => {
                let reply_to = self.counterpart(*ticket, *from_chat, *reply_to).await;
                let post = TopicPost::Copy {
                    from_chat: *from_chat,
                    message: *message,
                    reply_to,
                    forward: *forwarded,
                };
                self.post_in_topic(*ticket, post, turn).await
            }
            Job::ToCustomer { ticket, from_chat, message, reply_to, .. } => {
                let reply_to = self.counterpart(*ticket, *from_chat, *reply_to).await;
                self.copy_to_customer(*ticket, *from_chat, *message, reply_to, turn).await
            }
            Job::TopicState { ticket, open } => self.topic_state(*ticket, *open, turn).await,
            Job::EditCopy { ticket, from_chat, message, text, entities, caption } => {
                let edit =
                    Edit { from_chat: *from_chat, message: *message, text, entities, caption: *caption };
                self.edit_copy(*ticket, edit, turn).await
            }
        };
        Self::outcome(result)
    }

    /// Runs the parts of one album (copies from one chat into one ticket,
    /// in message order) as one `copyMessages` call.
    pub async fn run_album(&self, parts: &[Job], priority: i32) -> Result<Delivered, DeliveryError> {
        let turn = Turn { priority };
        let messages: Vec<i32> = parts.iter().map(Job::message_id).collect();
        let result = match parts.first() {
            Some(Job::ToTopic { ticket, from_chat, forwarded, .. }) => {
                let post =
                    TopicPost::Album { from_chat: *from_chat, messages: &messages, forward: *forwarded };
                self.post_in_topic(*ticket, post, turn).await
            }
            Some(Job::ToCustomer { ticket, from_chat, .. }) => {
                self.album_to_customer(*ticket, *from_chat, &messages, turn).await
            }
            Some(other) => return self.run_job(other, priority).await,
            None => Ok(()),
        };
        Self::outcome(result)
    }

    fn outcome(result: Result<(), DeliveryError>) -> Result<Delivered, DeliveryError> {
        match result {
            Ok(()) => Ok(Delivered::Done),
            Err(DeliveryError::Call(CallError::Refused(error))) => Ok(Delivered::Refused {
                refusal: Refusal::of(&error),
                detail: crate::telegram::telegram_says(&error),
            }),
            Err(DeliveryError::Call(CallError::Held { hold, error })) => {
                Ok(Delivered::Held { hold, detail: crate::telegram::telegram_says(&error) })
            }
            Err(other) => Err(other),
        }
    }

    /// Tells the agents that a ticket's messages wait because the group
    /// refuses them (at most once per [`REPORT_AGAIN_AFTER_MS`] for each
    /// kind of hold). A group the bot cannot post in is only logged: no
    /// notice could reach it.
    pub async fn tell_hold(&self, job: &Job, hold: Hold) {
        let Some(ticket_id) = job.ticket() else { return };
        if hold == Hold::Group {
            tracing::error!(
                ticket_id,
                "the bot cannot post in the support group (removed, or not allowed to write); messages are kept until it can"
            );
            return;
        }
        let now = self.now_ms();
        {
            let mut reported = self.hold_reports.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if reported.get(&hold).is_some_and(|at| now - at < REPORT_AGAIN_AFTER_MS) {
                return;
            }
            reported.insert(hold, now);
        }
        let text = self.i18n.t_args(self.group_lang(), "delivery-held-topics", &[("id", ticket_id.into())]);
        if let Err(error) = self.outbox.text(self.config.support_group.0, None, None, text, None).await {
            tracing::warn!(ticket_id, %error, "cannot queue the notice about held messages");
        }
    }

    /// Tells people about a job Telegram refused for good: agents in the
    /// ticket's topic (or General), the customer when their message could
    /// not be copied. Notices about notices are only logged.
    pub async fn tell_refusal(&self, job: &Job, refusal: Refusal, detail: &str) {
        let ticket_id = match job {
            Job::ToCustomer { ticket, .. } | Job::ToTopic { ticket, .. } | Job::Publish { ticket, .. } => {
                *ticket
            }
            Job::Text { .. } | Job::TopicText { .. } | Job::TopicState { .. } | Job::EditCopy { .. } => {
                return;
            }
        };
        let ticket = match self.storage.ticket(TicketId(ticket_id)).await {
            Ok(Some(ticket)) => ticket,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(ticket_id, %error, "cannot load the ticket to report a refused message");
                return;
            }
        };
        let pushed = match (job, refusal) {
            (Job::ToCustomer { message, .. }, Refusal::Unreachable) => {
                let text = self.i18n.t(self.group_lang(), "relay-not-delivered-blocked");
                self.outbox.topic_text(&ticket, Some(*message), text).await
            }
            (Job::ToCustomer { message, message_kind, .. }, Refusal::Uncopyable) => {
                let kind = self.kind_name(self.group_lang(), message_kind.as_deref());
                let text = self.i18n.t_args(
                    self.group_lang(),
                    "relay-not-delivered-uncopyable",
                    &[("kind", kind.into())],
                );
                self.outbox.topic_text(&ticket, Some(*message), text).await
            }
            (Job::ToCustomer { message, .. }, Refusal::Other) => {
                let text =
                    self.i18n.t_args(self.group_lang(), "relay-not-delivered", &[("reason", detail.into())]);
                self.outbox.topic_text(&ticket, Some(*message), text).await
            }
            (Job::ToTopic { message_kind, .. }, Refusal::Uncopyable) => {
                let lang = crate::i18n::Lang::from_code(Some(&ticket.language));
                let kind = self.kind_name(lang, message_kind.as_deref());
                self.outbox
                    .customer_text(
                        &ticket,
                        self.i18n.t_args(lang, "unsupported-message", &[("kind", kind.into())]),
                    )
                    .await
            }
            _ => {
                // A lasting problem (missing rights) is reported once per
                // ticket per REPORT_AGAIN_AFTER, not on every retry.
                let since = self.now_ms() - REPORT_AGAIN_AFTER_MS;
                match self
                    .storage
                    .outbox_refused_since(&crate::delivery::lane::ticket(ticket_id), since)
                    .await
                {
                    Ok(false) => {}
                    Ok(true) => return,
                    Err(error) => tracing::warn!(ticket_id, %error, "cannot check earlier refusals"),
                }
                let args = [("id", ticket_id.into()), ("reason", detail.into())];
                let text = self.i18n.t_args(self.group_lang(), "delivery-failed-topic", &args);
                self.outbox.text(self.config.support_group.0, None, None, text, None).await
            }
        };
        if let Err(error) = pushed {
            tracing::warn!(ticket_id, %error, "cannot queue the notice about a refused message");
        }
    }

    /// Sends a file into a topic of the support group (General when
    /// `thread` is `None`) as the reply to a command: a `/stats` chart as a
    /// photo, an `/export` as a document. Not kept in the outbox (a lost
    /// answer is asked for again), but it waits its turn under the group's
    /// limits, ahead of relays, as command replies do.
    pub async fn send_group_file(
        &self,
        thread: Option<i32>,
        reply_to: Option<MessageId>,
        file: GroupFile,
    ) -> Result<(), DeliveryError> {
        let chat = self.config.support_group.0;
        let turn = Turn { priority: crate::delivery::INTERACTIVE };
        let reply = reply_to.map(|id| ReplyParameters::new(id).allow_sending_without_reply());
        match file {
            GroupFile::Photo { png, name, caption } => {
                let input = InputFile::memory(png).file_name(name);
                self.courier
                    .call("sendPhoto", chat, Cost::Message, turn, || {
                        let mut request =
                            self.bot.send_photo(ChatId(chat), input.clone()).caption(caption.clone());
                        if let Some(t) = thread {
                            request = request.message_thread_id(ThreadId(MessageId(t)));
                        }
                        if let Some(reply) = &reply {
                            request = request.reply_parameters(reply.clone());
                        }
                        request.into_future()
                    })
                    .await?;
            }
            GroupFile::Document { path, name, caption } => {
                let input = InputFile::file(path).file_name(name);
                self.courier
                    .call("sendDocument", chat, Cost::Message, turn, || {
                        let mut request =
                            self.bot.send_document(ChatId(chat), input.clone()).caption(caption.clone());
                        if let Some(t) = thread {
                            request = request.message_thread_id(ThreadId(MessageId(t)));
                        }
                        if let Some(reply) = &reply {
                            request = request.reply_parameters(reply.clone());
                        }
                        request.into_future()
                    })
                    .await?;
            }
        }
        // Counted in the group's budget like the outbox's sends.
        if let Err(error) = self.storage.record_group_sends(self.clock.now_ms(), 1).await {
            tracing::warn!(%error, "cannot count a file sent into the group");
        }
        Ok(())
    }

    async fn send_text(
        &self,
        chat: i64,
        thread: Option<i32>,
        reply_to: Option<i32>,
        text: &str,
        buttons: Option<&InlineKeyboardMarkup>,
        turn: Turn,
    ) -> Result<MessageId, DeliveryError> {
        let sent = self
            .courier
            .call("sendMessage", chat, Cost::Message, turn, || {
                let mut request = self.bot.send_message(ChatId(chat), text.to_owned());
                if let Some(t) = thread {
                    request = request.message_thread_id(ThreadId(MessageId(t)));
                }
                if let Some(id) = reply_to {
                    request = request
                        .reply_parameters(ReplyParameters::new(MessageId(id)).allow_sending_without_reply());
                }
                if let Some(markup) = buttons {
                    request = request.reply_markup(markup.clone());
                }
                request.into_future()
            })
            .await?;
        Ok(sent.id)
    }

    /// Gives the copy of an edited message its new text or caption. Where
    /// Telegram will not edit it, the new version goes out as a reply to the
    /// copy, marked as an edit; an unchanged text is nothing to do.
    async fn edit_copy(&self, ticket: i64, edit: Edit<'_>, turn: Turn) -> Result<(), DeliveryError> {
        let Some((chat, copy)) = self.storage.counterpart(ticket, edit.from_chat, edit.message).await? else {
            // Never copied (a short description, shown in the note only) or
            // copied before copies were recorded: the other side still hears
            // the new version, marked as an edit.
            tracing::info!(ticket_id = ticket, "an edited message has no copy; its new version is posted");
            let Some(found) = self.storage.ticket(TicketId(ticket)).await? else { return Ok(()) };
            return if edit.from_chat == found.customer_chat_id {
                let line = self.i18n.t_args(self.group_lang(), "edited-copy", &[("text", edit.text.into())]);
                self.post_in_topic(ticket, TopicPost::Text { reply_to: None, text: &line }, turn).await
            } else {
                let lang = crate::i18n::Lang::from_code(Some(&found.language));
                let line = self.i18n.t_args(lang, "edited-copy", &[("text", edit.text.into())]);
                self.send_text(found.customer_chat_id, None, None, &line, None, turn).await.map(|_| ())
            };
        };
        let (what, edited) = if edit.caption {
            let call = self
                .courier
                .call("editMessageCaption", chat, Cost::Message, turn, || {
                    self.bot
                        .edit_message_caption(ChatId(chat), MessageId(copy))
                        .caption(edit.text.to_owned())
                        .caption_entities(edit.entities.to_vec())
                        .into_future()
                })
                .await;
            ("caption", call.map(|_| ()))
        } else {
            let call = self
                .courier
                .call("editMessageText", chat, Cost::Message, turn, || {
                    self.bot
                        .edit_message_text(ChatId(chat), MessageId(copy), edit.text.to_owned())
                        .entities(edit.entities.to_vec())
                        .into_future()
                })
                .await;
            ("text", call.map(|_| ()))
        };
        let error = match edited {
            Ok(()) => {
                tracing::info!(ticket_id = ticket, what, "an edit reached the copy");
                return Ok(());
            }
            Err(CallError::Refused(RequestError::Api(ApiError::MessageNotModified))) => return Ok(()),
            Err(CallError::Refused(error)) => error,
            Err(other) => return Err(other.into()),
        };
        tracing::info!(ticket_id = ticket, %error, "the copy cannot be edited; the new version goes as a reply");
        let Some(found) = self.storage.ticket(TicketId(ticket)).await? else { return Ok(()) };
        let (lang, thread) = if chat == found.customer_chat_id {
            (crate::i18n::Lang::from_code(Some(&found.language)), None)
        } else {
            (self.group_lang(), found.thread_id)
        };
        let line = self.i18n.t_args(lang, "edited-copy", &[("text", edit.text.into())]);
        self.send_text(chat, thread, Some(copy), &line, None, turn).await.map(|_| ())
    }

    /// "photo", "poll", … in `lang`, for a notice about a message of that
    /// kind ("message" when unknown).
    fn kind_name(&self, lang: crate::i18n::Lang, kind: Option<&str>) -> String {
        let kind = kind.filter(|k| crate::telegram::MESSAGE_KINDS.contains(k)).unwrap_or("other");
        self.i18n.t(lang, &format!("kind-{}", kind.replace('_', "-")))
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

    /// Makes sure the ticket has its forum topic and its pinned internal
    /// note; with `fresh`, posts a fresh note in place of the current one.
    async fn ensure_topic(
        &self,
        mut ticket: Ticket,
        fresh: bool,
        turn: Turn,
    ) -> Result<Ticket, DeliveryError> {
        let group = self.config.support_group;
        let ticket_id = ticket.id.0;
        let thread = match ticket.thread_id {
            Some(thread) => thread,
            None => {
                let name = note::topic_name(&self.i18n, self.group_lang(), &ticket);
                let color = Rgb::from_u32(note::topic_color(ticket.tier));
                let topic = self
                    .courier
                    .call("createForumTopic", group.0, Cost::Message, turn, || {
                        self.bot.create_forum_topic(group, name.clone()).icon_color(color).into_future()
                    })
                    .await?;
                let thread = topic.thread_id.0.0;
                self.storage.set_ticket_thread(ticket.id, thread).await?;
                ticket.thread_id = Some(thread);
                tracing::info!(ticket_id, thread_id = thread, "ticket topic created");
                thread
            }
        };
        // A fresh note replaces whatever note is current now (another
        // re-assignment may have replaced the one there when this job was
        // queued), unless this job posted it itself and stopped before
        // pinning it (its set-up is then still pending, and is finished).
        let replacing = fresh && !ticket.note_setup_pending;
        let previous = if replacing { ticket.note_message_id } else { None };
        if let Some(note) = ticket.note_message_id.filter(|_| !replacing) {
            if ticket.note_setup_pending {
                // An earlier run posted the note and stopped before the rest.
                self.finish_note(&ticket, thread, MessageId(note), None, fresh, turn).await?;
            }
            return Ok(ticket);
        }
        let assignee = self.assignee_name(&ticket).await;
        let (count, recent) = self.storage.customer_history(ticket.customer_id, ticket.id, 3).await?;
        let history = note::History { count, recent, group: group.0 };
        let html = note::render_note(&self.i18n, self.group_lang(), &ticket, assignee.as_deref(), &history);
        let sent = self
            .courier
            .call("sendMessage", group.0, Cost::Message, turn, || {
                self.bot
                    .send_message(group, html.clone())
                    .message_thread_id(ThreadId(MessageId(thread)))
                    .parse_mode(ParseMode::Html)
                    .into_future()
            })
            .await?;
        self.storage.set_ticket_note(ticket.id, sent.id.0).await?;
        ticket.note_message_id = Some(sent.id.0);
        self.finish_note(&ticket, thread, sent.id, previous, fresh, turn).await?;
        Ok(ticket)
    }

    /// Pins a posted note, unpins the one it replaces and, under a new
    /// ticket's first note, copies the description's attachment. Recorded
    /// as done at the end, so an interrupted run is finished by the next.
    async fn finish_note(
        &self,
        ticket: &Ticket,
        thread: i32,
        note: MessageId,
        unpin: Option<i32>,
        fresh: bool,
        turn: Turn,
    ) -> Result<(), DeliveryError> {
        let group = self.config.support_group;
        let ticket_id = ticket.id.0;
        let pinned = self
            .courier
            .call("pinChatMessage", group.0, Cost::Free, turn, || {
                self.bot.pin_chat_message(group, note).disable_notification(true).into_future()
            })
            .await;
        match pinned {
            Err(CallError::Stopped) => return Err(CallError::Stopped.into()),
            // The note is there; only the pin is missing. Tell the operator why.
            Err(error) => {
                tracing::warn!(ticket_id, %error, "could not pin the internal note (does the bot have the 'pin messages' right?)")
            }
            Ok(_) => {}
        }
        if let Some(old) = unpin.filter(|old| *old != note.0) {
            let unpinned = self
                .courier
                .call("unpinChatMessage", group.0, Cost::Free, turn, || {
                    self.bot.unpin_chat_message(group).message_id(MessageId(old)).into_future()
                })
                .await;
            match unpinned {
                Err(CallError::Stopped) => return Err(CallError::Stopped.into()),
                Err(error) => tracing::debug!(ticket_id, %error, "could not unpin the old note"),
                Ok(_) => {}
            }
        } else if !fresh && (ticket.description_has_media || note::description_is_shortened(ticket)) {
            // A new ticket's (or a recreated topic's) first note: the
            // description's attachment, or its full text where the note
            // shows only the start, follow it.
            let copied = self
                .copy(
                    ticket.id.0,
                    group.0,
                    Some(thread),
                    ticket.customer_chat_id,
                    ticket.description_message_id,
                    None,
                    turn,
                )
                .await;
            match copied {
                Err(DeliveryError::Call(CallError::Refused(error))) => {
                    tracing::warn!(ticket_id, %error, "could not copy the description's message into the topic");
                    if note::description_is_shortened(ticket) {
                        self.post_full_description(ticket, thread, turn).await?;
                    }
                }
                Err(other) => return Err(other),
                Ok(_) => {}
            }
        }
        self.storage.finish_note_setup(ticket.id).await?;
        Ok(())
    }

    /// Posts the stored description in pieces Telegram accepts (the
    /// customer's own message could not be copied, e.g. it was deleted).
    async fn post_full_description(
        &self,
        ticket: &Ticket,
        thread: i32,
        turn: Turn,
    ) -> Result<(), DeliveryError> {
        let group = self.config.support_group.0;
        for piece in note::split_utf16(ticket.description.trim(), TEXT_LIMIT_UTF16) {
            match self.send_text(group, Some(thread), None, &piece, None, turn).await {
                Err(DeliveryError::Call(CallError::Refused(error))) => {
                    tracing::warn!(ticket_id = ticket.id.0, %error, "could not post the full description");
                    return Ok(());
                }
                Err(other) => return Err(other),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Copies a person's message to the other side of its ticket, as a
    /// reply to `reply_to` there when given (sent anyway if that message is
    /// gone), and records the pair for later replies and edits.
    #[allow(clippy::too_many_arguments)]
    async fn copy(
        &self,
        ticket: i64,
        to: i64,
        thread: Option<i32>,
        from: i64,
        message: i32,
        reply_to: Option<i32>,
        turn: Turn,
    ) -> Result<MessageId, DeliveryError> {
        let copied = self
            .courier
            .call("copyMessage", to, Cost::Message, turn, || {
                let mut request = self.bot.copy_message(ChatId(to), ChatId(from), MessageId(message));
                if let Some(t) = thread {
                    request = request.message_thread_id(ThreadId(MessageId(t)));
                }
                if let Some(target) = reply_to {
                    request = request.reply_parameters(
                        ReplyParameters::new(MessageId(target)).allow_sending_without_reply(),
                    );
                }
                request.into_future()
            })
            .await?;
        self.remember(ticket, (from, message), (to, copied.0), self.now_ms()).await;
        Ok(copied)
    }

    /// Copies (or forwards) an album's parts to the other side of its
    /// ticket in one call (Telegram keeps them together as one album) and
    /// records each pair.
    async fn copy_album(
        &self,
        ticket: i64,
        to: i64,
        thread: Option<i32>,
        album: Album<'_>,
        turn: Turn,
    ) -> Result<(), DeliveryError> {
        let Album { from, messages, forward } = album;
        let ids = || messages.iter().map(|m| MessageId(*m));
        let cost = Cost::Messages(u32::try_from(messages.len()).unwrap_or(u32::MAX));
        let thread = thread.map(|t| ThreadId(MessageId(t)));
        let copies = if forward {
            self.courier
                .call("forwardMessages", to, cost, turn, || {
                    let mut request = self.bot.forward_messages(ChatId(to), ChatId(from), ids());
                    request.message_thread_id = thread;
                    request.into_future()
                })
                .await?
        } else {
            self.courier
                .call("copyMessages", to, cost, turn, || {
                    let mut request = self.bot.copy_messages(ChatId(to), ChatId(from), ids());
                    request.message_thread_id = thread;
                    request.into_future()
                })
                .await?
        };
        if copies.len() != messages.len() {
            // Telegram skips parts deleted meanwhile; which copy is which is
            // then unknown, so no pairs are recorded (replies to them go
            // without a target).
            tracing::warn!(
                ticket_id = ticket,
                parts = messages.len(),
                copied = copies.len(),
                "some parts of an album were gone before it was copied"
            );
            return Ok(());
        }
        let now = self.now_ms();
        for (message, copy) in messages.iter().zip(&copies) {
            self.remember(ticket, (from, *message), (to, copy.0), now).await;
        }
        Ok(())
    }

    /// Records that `origin` (chat, message) reached the other side of the
    /// ticket as `copy`, for later replies and edits. Telegram accepted the
    /// copy already: a failure here only costs the link.
    async fn remember(&self, ticket: i64, origin: (i64, i32), copy: (i64, i32), now_ms: i64) {
        let pair = crate::storage::MessagePair {
            origin_chat: origin.0,
            origin_message: origin.1,
            copy_chat: copy.0,
            copy_message: copy.1,
            ticket_id: ticket,
        };
        // In a job: written with the job's mark, in the same transaction.
        if !crate::delivery::keep_pair(pair)
            && let Err(error) = self.storage.record_pair(&pair, now_ms).await
        {
            tracing::warn!(ticket_id = ticket, %error, "cannot record a relayed message's copy");
        }
    }

    /// Forwards a message the customer forwarded from elsewhere into the
    /// topic, so the agents see its origin, and records the pair.
    async fn forward(
        &self,
        ticket: i64,
        to: i64,
        thread: Option<i32>,
        from: i64,
        message: i32,
        turn: Turn,
    ) -> Result<(), DeliveryError> {
        let forwarded = self
            .courier
            .call("forwardMessage", to, Cost::Message, turn, || {
                let mut request = self.bot.forward_message(ChatId(to), ChatId(from), MessageId(message));
                request.message_thread_id = thread.map(|t| ThreadId(MessageId(t)));
                request.into_future()
            })
            .await?;
        self.remember(ticket, (from, message), (to, forwarded.id.0), self.now_ms()).await;
        Ok(())
    }

    /// The counterpart, on the other side of the ticket, of the message in
    /// `chat` that a relayed message answers (none when it was never relayed,
    /// e.g. the note).
    async fn counterpart(&self, ticket: i64, chat: i64, reply_to: Option<i32>) -> Option<i32> {
        let target = reply_to?;
        match self.storage.counterpart(ticket, chat, target).await {
            Ok(found) => found.map(|(_, message)| message),
            Err(error) => {
                tracing::warn!(%error, "cannot look up the message a reply answers; sent without it");
                None
            }
        }
    }

    /// Repairs a topic that refused a post: reopens one closed by hand,
    /// recreates one deleted by hand. `false` if the error is not about that.
    async fn repair_after(
        &self,
        ticket: &mut Ticket,
        error: &RequestError,
        turn: Turn,
    ) -> Result<bool, DeliveryError> {
        let group = self.config.support_group;
        if ticket.status != TicketStatus::Open {
            return Ok(false);
        }
        if is_topic_closed(error)
            && let Some(thread) = ticket.thread_id
        {
            tracing::info!(
                ticket_id = ticket.id.0,
                "topic was closed by hand while the ticket is open; reopening it"
            );
            self.courier
                .call("reopenForumTopic", group.0, Cost::Free, turn, || {
                    self.bot.reopen_forum_topic(group, ThreadId(MessageId(thread))).into_future()
                })
                .await?;
            return Ok(true);
        }
        if is_topic_gone(error) {
            tracing::warn!(ticket_id = ticket.id.0, "ticket topic was deleted; creating a new one");
            self.storage.reset_ticket_topic(ticket.id).await?;
            ticket.thread_id = None;
            ticket.note_message_id = None;
            return Ok(true);
        }
        Ok(false)
    }

    /// Posts into a ticket's topic, setting the topic up first (a copy
    /// always, text only for an open ticket), and repairing the topic once
    /// if it was closed or deleted by hand.
    async fn post_in_topic(&self, ticket: i64, post: TopicPost<'_>, turn: Turn) -> Result<(), DeliveryError> {
        let group = self.config.support_group.0;
        let set_up_if_closed = matches!(post, TopicPost::Copy { .. } | TopicPost::Album { .. });
        let Some(mut ticket) = self.storage.ticket(TicketId(ticket)).await? else { return Ok(()) };
        for attempt in 0..2 {
            if set_up_if_closed || ticket.status == TicketStatus::Open {
                ticket = self.ensure_topic(ticket, false, turn).await?;
            }
            let thread = ticket.thread_id;
            let posted = match post {
                TopicPost::Copy { from_chat, message, reply_to, forward: false } => self
                    .copy(ticket.id.0, group, thread, from_chat, message, reply_to, turn)
                    .await
                    .map(|_| ()),
                TopicPost::Copy { from_chat, message, forward: true, .. } => {
                    self.forward(ticket.id.0, group, thread, from_chat, message, turn).await
                }
                TopicPost::Album { from_chat, messages, forward } => {
                    let album = Album { from: from_chat, messages, forward };
                    self.copy_album(ticket.id.0, group, thread, album, turn).await
                }
                TopicPost::Text { reply_to, text } => {
                    self.send_text(group, thread, reply_to, text, None, turn).await.map(|_| ())
                }
            };
            match posted {
                Ok(()) => return Ok(()),
                Err(DeliveryError::Call(CallError::Refused(error)))
                    if attempt == 0 && self.repair_after(&mut ticket, &error, turn).await? => {}
                Err(other) => return Err(other),
            }
        }
        Err(refused(RequestError::Api(ApiError::Unknown("the ticket's topic could not be repaired".into()))))
    }

    async fn copy_to_customer(
        &self,
        ticket: i64,
        from_chat: i64,
        message: i32,
        reply_to: Option<i32>,
        turn: Turn,
    ) -> Result<(), DeliveryError> {
        let Some(ticket) = self.storage.ticket(TicketId(ticket)).await? else { return Ok(()) };
        self.copy(ticket.id.0, ticket.customer_chat_id, None, from_chat, message, reply_to, turn).await?;
        self.answered(&ticket).await;
        Ok(())
    }

    async fn album_to_customer(
        &self,
        ticket: i64,
        from_chat: i64,
        messages: &[i32],
        turn: Turn,
    ) -> Result<(), DeliveryError> {
        let Some(ticket) = self.storage.ticket(TicketId(ticket)).await? else { return Ok(()) };
        let album = Album { from: from_chat, messages, forward: false };
        self.copy_album(ticket.id.0, ticket.customer_chat_id, None, album, turn).await?;
        self.answered(&ticket).await;
        Ok(())
    }

    /// An agent's message reached the customer: the first one is the
    /// ticket's first response.
    async fn answered(&self, ticket: &Ticket) {
        // Telegram accepted it: whatever happens now must not send it again.
        match self.storage.record_first_response(ticket.id, self.now_ms()).await {
            Ok(true) => tracing::info!(ticket_id = ticket.id.0, "first response"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(ticket_id = ticket.id.0, %error, "cannot record the first response time")
            }
        }
    }

    async fn topic_state(&self, ticket: i64, open: bool, turn: Turn) -> Result<(), DeliveryError> {
        let group = self.config.support_group;
        let Some(ticket) = self.storage.ticket(TicketId(ticket)).await? else { return Ok(()) };
        let Some(thread) = ticket.thread_id else { return Ok(()) };
        let thread = ThreadId(MessageId(thread));
        let (what, result) = if open {
            let r = self
                .courier
                .call("reopenForumTopic", group.0, Cost::Free, turn, || {
                    self.bot.reopen_forum_topic(group, thread).into_future()
                })
                .await;
            ("reopen", r)
        } else {
            let r = self
                .courier
                .call("closeForumTopic", group.0, Cost::Free, turn, || {
                    self.bot.close_forum_topic(group, thread).into_future()
                })
                .await;
            ("close", r)
        };
        match result {
            Ok(_) => Ok(()),
            Err(CallError::Refused(error))
                if topic_error(&error).is_some_and(|d| d.contains("TOPIC_NOT_MODIFIED")) =>
            {
                Ok(())
            }
            Err(CallError::Refused(error)) if is_topic_gone(&error) => {
                tracing::info!(ticket_id = ticket.id.0, what, "the topic is gone; nothing to {what}");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }
}
