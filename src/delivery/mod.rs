//! Delivery (DESIGN §9): everything the bot sends goes through the durable
//! outbox and the flood-control [`limiter`].
//!
//! 1. A handler (or a background task) pushes a [`Job`] into the outbox. A
//!    handler's jobs carry a dedupe key `"<update id>:<n>"` and are stored in
//!    the same transaction as the update's inbox mark ([`as_effect_of`]), so
//!    a replayed update (after a crash) enqueues nothing twice.
//! 2. The [`worker`] sends jobs lane by lane: a lane is a ticket's topic or a
//!    customer's chat, sent one job at a time in id order, so each
//!    conversation arrives in the order it was written. Lanes run
//!    concurrently.
//! 3. Every Bot API call of a job goes through [`Courier::call`]: it waits for
//!    the limiter (premium first), honours `429 retry_after` exactly, retries
//!    network errors and 5xx with backoff, and returns only permanent errors.
//! 4. A job is marked done right after Telegram accepted it. The one window
//!    where a crash duplicates a message is between Telegram's answer and
//!    that local write (see README, "Delivery guarantees").

pub mod batch;
pub mod gate;
pub mod limiter;
pub mod retry;
pub mod worker;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use teloxide::{RequestError, types::InlineKeyboardMarkup};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::SharedClock,
    delivery::retry::{error_code, is_transient},
    domain::Tier,
    storage::{DialogueChange, MessagePair, NewOutboxRow, QueuedRow, Storage, StorageResult, Ticket},
    telemetry::{self, names},
};
pub use limiter::{Cost, Limiter, Limits};

/// One unit of outbound work. Stored as JSON in the outbox; the `kind` tag
/// and field names are a storage format: add fields with defaults only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Text to any chat (a customer, a topic, General), maybe with buttons.
    Text {
        chat: i64,
        #[serde(default)]
        thread: Option<i32>,
        #[serde(default)]
        reply_to: Option<i32>,
        text: String,
        #[serde(default)]
        buttons: Option<InlineKeyboardMarkup>,
    },
    /// Text into a ticket's topic, wherever that topic is when it is sent.
    TopicText {
        ticket: i64,
        #[serde(default)]
        reply_to: Option<i32>,
        text: String,
    },
    /// A ticket's topic and pinned internal note; `unpin` is the note the
    /// new one replaces (after a re-assignment).
    Publish {
        ticket: i64,
        #[serde(default)]
        unpin: Option<i32>,
        /// A fresh note in place of whatever note is current when the job
        /// runs (after a re-assignment), rather than the first note only.
        #[serde(default)]
        fresh: bool,
    },
    /// A customer's message copied into the ticket's topic; `reply_to` is
    /// the message it answers in the customer's chat (its counterpart in the
    /// topic is looked up when the copy is sent).
    ToTopic {
        ticket: i64,
        from_chat: i64,
        message: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i32>,
        /// The message's kind (`photo`, `poll`, …), named if it cannot be copied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_kind: Option<String>,
        /// The album (`media_group_id`) the message belongs to: its parts
        /// are copied together, in one call (DESIGN §12).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        album: Option<String>,
        /// The customer forwarded it from elsewhere: it is forwarded into
        /// the topic, so the agents see where it came from.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        forwarded: bool,
    },
    /// An agent's message copied to the customer; `reply_to` and `kind` as
    /// above, in the topic.
    ToCustomer {
        ticket: i64,
        from_chat: i64,
        message: i32,
        thread: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        album: Option<String>,
    },
    /// Close (`open: false`) or reopen the ticket's topic.
    TopicState { ticket: i64, open: bool },
    /// A relayed message was edited: its copy on the other side gets the new
    /// text (or caption, with `caption`), entities kept. Queued in the lane
    /// of the original's copy, so it runs after that copy.
    EditCopy {
        ticket: i64,
        from_chat: i64,
        message: i32,
        text: String,
        #[serde(default)]
        entities: Vec<teloxide::types::MessageEntity>,
        #[serde(default)]
        caption: bool,
    },
}

impl Job {
    /// A copy of a person's message is queued at most once, whichever path
    /// queues it (a relay, what an intake kept, a replay): its dedupe key is
    /// the source message rather than the update that queued it.
    pub fn once_key(&self) -> Option<String> {
        match self {
            Job::ToTopic { from_chat, message, .. } | Job::ToCustomer { from_chat, message, .. } => {
                Some(format!("copy:{from_chat}:{message}"))
            }
            _ => None,
        }
    }

    /// The album a copy belongs to: the parts of one album queued in one
    /// lane are sent together.
    pub fn album(&self) -> Option<&str> {
        match self {
            Job::ToTopic { album, .. } | Job::ToCustomer { album, .. } => album.as_deref(),
            _ => None,
        }
    }

    /// The person's message a copy is made of (0 for other jobs).
    pub fn message_id(&self) -> i32 {
        match self {
            Job::ToTopic { message, .. } | Job::ToCustomer { message, .. } => *message,
            _ => 0,
        }
    }

    /// How many sends into the support group the job makes, as the
    /// group's message budget counts them (DESIGN §15): a topic and its
    /// note are two, an edit of a copy in a topic one. Private chats have
    /// positive ids, groups negative ones.
    pub fn group_messages(&self) -> u32 {
        match self {
            Job::Publish { .. } => 2,
            Job::TopicText { .. } | Job::ToTopic { .. } => 1,
            Job::Text { chat, .. } => u32::from(*chat < 0),
            // An edit of the customer's message changes its copy in the topic.
            Job::EditCopy { from_chat, .. } => u32::from(*from_chat > 0),
            Job::ToCustomer { .. } | Job::TopicState { .. } => 0,
        }
    }

    /// The ticket the job belongs to, if any.
    pub fn ticket(&self) -> Option<i64> {
        match self {
            Job::Text { .. } => None,
            Job::TopicText { ticket, .. }
            | Job::Publish { ticket, .. }
            | Job::ToTopic { ticket, .. }
            | Job::ToCustomer { ticket, .. }
            | Job::TopicState { ticket, .. }
            | Job::EditCopy { ticket, .. } => Some(*ticket),
        }
    }

    /// A short name, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Text { .. } => "text",
            Job::TopicText { .. } => "topic_text",
            Job::Publish { .. } => "publish",
            Job::ToTopic { .. } => "to_topic",
            Job::ToCustomer { .. } => "to_customer",
            Job::TopicState { .. } => "topic_state",
            Job::EditCopy { .. } => "edit_copy",
        }
    }
}

/// Lane names: jobs in one lane are sent in order.
pub mod lane {
    pub use crate::domain::Lane;

    /// Everything posted into a ticket's topic (and the topic itself).
    pub fn ticket(id: i64) -> Lane {
        Lane::Ticket(id)
    }

    /// A chat outside tickets: a customer's private chat, or a group topic.
    pub fn chat(chat: i64, thread: Option<i32>) -> Lane {
        Lane::Chat { chat, thread }
    }
}

/// Premium work is sent first when the bot must wait.
pub fn priority_of(ticket: &Ticket) -> i32 {
    match ticket.tier {
        Some(Tier::Premium) => 0,
        _ => 1,
    }
}

/// The default priority of work not tied to a premium ticket.
pub const NORMAL: i32 = 1;

/// The priority of a reply to a person's command: someone is waiting for
/// it right now, so it goes before relays (DESIGN §12, fair share).
pub const INTERACTIVE: i32 = -1;

tokio::task_local! {
    static ORIGIN: Origin;
}

/// The update being handled: dedupe keys of its effects, and the effects
/// themselves until they are stored with the update's inbox mark.
struct Origin {
    update_id: i64,
    effects: AtomicU32,
    queued: std::sync::Mutex<Vec<QueuedRow>>,
    dialogues: std::sync::Mutex<Vec<DialogueChange>>,
}

/// What a handler did that is stored with its update's inbox mark.
#[derive(Debug, Default)]
pub struct Effects {
    /// Outbox rows, keyed by the update.
    pub rows: Vec<QueuedRow>,
    /// Dialogue states written, the last per chat.
    pub dialogues: Vec<DialogueChange>,
}

/// Runs `handler` as the handling of `update_id`. What it pushes into the
/// outbox and the dialogue states it writes are not written yet but
/// returned, keyed by the update, for the caller to store in the same
/// transaction as the update's inbox mark
/// ([`Storage::commit_handled`](crate::storage::Storage::commit_handled)):
/// an update is handled exactly when its effects are stored, and running it
/// again (after a crash) stores nothing twice and sees the state it saw the
/// first time.
pub async fn as_effect_of<F: Future>(update_id: i64, handler: F) -> (F::Output, Effects) {
    let origin = Origin {
        update_id,
        effects: AtomicU32::new(0),
        queued: std::sync::Mutex::new(Vec::new()),
        dialogues: std::sync::Mutex::new(Vec::new()),
    };
    ORIGIN
        .scope(origin, async {
            let output = handler.await;
            let effects = ORIGIN.with(|o| Effects {
                rows: std::mem::take(&mut *o.queued.lock().unwrap_or_else(|e| e.into_inner())),
                dialogues: std::mem::take(&mut *o.dialogues.lock().unwrap_or_else(|e| e.into_inner())),
            });
            (output, effects)
        })
        .await
}

/// Inside a handler: keeps a dialogue state to be stored with the update's
/// inbox mark and returns `true`; outside one, `false` (store it directly).
pub fn stage_dialogue(chat_id: i64, state: Option<String>) -> bool {
    ORIGIN
        .try_with(|origin| {
            let mut staged = origin.dialogues.lock().unwrap_or_else(|e| e.into_inner());
            staged.retain(|change| change.chat_id != chat_id);
            staged.push(DialogueChange { chat_id, state });
        })
        .is_ok()
}

/// Inside a handler: the dialogue state it wrote for `chat_id`, if any
/// (`Some(None)`: removed), so it reads its own writes.
pub fn staged_dialogue(chat_id: i64) -> Option<Option<String>> {
    ORIGIN
        .try_with(|origin| {
            let staged = origin.dialogues.lock().unwrap_or_else(|e| e.into_inner());
            staged.iter().find(|change| change.chat_id == chat_id).map(|change| change.state.clone())
        })
        .ok()
        .flatten()
}

tokio::task_local! {
    static JOB_PAIRS: std::sync::Mutex<Vec<MessagePair>>;
}

/// Runs an outbox job's delivery, collecting the message pairs it relayed
/// ([`keep_pair`]) so they are written with the job's mark instead of
/// costing a write each.
pub async fn with_pairs<F: Future>(delivery: F) -> (F::Output, Vec<MessagePair>) {
    JOB_PAIRS
        .scope(std::sync::Mutex::new(Vec::new()), async {
            let output = delivery.await;
            let pairs =
                JOB_PAIRS.with(|pairs| std::mem::take(&mut *pairs.lock().unwrap_or_else(|e| e.into_inner())));
            (output, pairs)
        })
        .await
}

/// Inside a job's delivery: keeps `pair` to be written with the job's mark
/// and returns `true`; outside one, `false` (write it directly).
pub fn keep_pair(pair: MessagePair) -> bool {
    JOB_PAIRS.try_with(|pairs| pairs.lock().unwrap_or_else(|e| e.into_inner()).push(pair)).is_ok()
}

/// The update being handled, if called inside a handler.
pub fn current_update() -> Option<i64> {
    ORIGIN.try_with(|origin| origin.update_id).ok()
}

/// Handle for pushing jobs; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    storage: Storage,
    clock: SharedClock,
    wake: Arc<Notify>,
}

impl Outbox {
    /// Builds the handle; [`worker::run`] waits on the same `wake`.
    pub fn new(storage: Storage, clock: SharedClock) -> Self {
        Self { storage, clock, wake: Arc::new(Notify::new()) }
    }

    /// Signalled whenever a job is pushed.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Stores `job` in `lane`. Returns whether it was new (a replayed
    /// update's effects were stored before and are not stored again).
    pub async fn push(
        &self,
        lane: &lane::Lane,
        priority: i32,
        ticket: Option<i64>,
        job: &Job,
    ) -> StorageResult<bool> {
        let json = serde_json::to_string(job)
            .map_err(|e| crate::storage::StorageError::Corrupt(format!("cannot encode a job: {e}")))?;
        let once = job.once_key();
        // Inside a handler: kept for the update's commit.
        let buffered = ORIGIN.try_with(|origin| {
            let dedupe_key = once.clone().unwrap_or_else(|| {
                let n = origin.effects.fetch_add(1, Ordering::Relaxed);
                format!("{}:{n}", origin.update_id)
            });
            let row = QueuedRow {
                lane: lane.to_string(),
                priority,
                job: json.clone(),
                dedupe_key,
                ticket_id: ticket,
            };
            origin.queued.lock().unwrap_or_else(|e| e.into_inner()).push(row);
        });
        if buffered.is_ok() {
            tracing::debug!(%lane, kind = job.kind(), "queued with the update");
            return Ok(true);
        }
        let stored_lane = lane.to_string();
        let row = NewOutboxRow {
            lane: &stored_lane,
            priority,
            job: &json,
            dedupe_key: once.as_deref(),
            ticket_id: ticket,
            created_at: self.clock.now_ms(),
        };
        let id = self.storage.outbox_push(&row).await?;
        match id {
            Some(id) => {
                tracing::debug!(outbox_id = id, %lane, kind = job.kind(), "queued");
                self.wake.notify_one();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Pushes text for a ticket's topic.
    pub async fn topic_text(
        &self,
        ticket: &Ticket,
        reply_to: Option<i32>,
        text: String,
    ) -> StorageResult<bool> {
        let job = Job::TopicText { ticket: ticket.id.0, reply_to, text };
        self.push(&lane::ticket(ticket.id.0), priority_of(ticket), Some(ticket.id.0), &job).await
    }

    /// Pushes text for a ticket's customer.
    pub async fn customer_text(&self, ticket: &Ticket, text: String) -> StorageResult<bool> {
        let chat = ticket.customer_chat_id;
        let job = Job::Text { chat, thread: None, reply_to: None, text, buttons: None };
        self.push(&lane::chat(chat, None), priority_of(ticket), Some(ticket.id.0), &job).await
    }

    /// Pushes text for any chat.
    pub async fn text(
        &self,
        chat: i64,
        thread: Option<i32>,
        reply_to: Option<i32>,
        text: String,
        buttons: Option<InlineKeyboardMarkup>,
    ) -> StorageResult<bool> {
        let job = Job::Text { chat, thread, reply_to, text, buttons };
        self.push(&lane::chat(chat, thread), NORMAL, None, &job).await
    }
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The bot is stopping; the job stays in the outbox for the next start.
    #[error("stopping")]
    Stopped,
    /// Telegram refused for good (or the attempts ran out).
    #[error(transparent)]
    Refused(RequestError),
    /// Telegram refused because of how the group is set up right now (a
    /// missing right, the bot removed): the job waits and is tried again
    /// when the group's gate opens ([`gate`]).
    #[error("{error}")]
    Held { hold: gate::Hold, error: RequestError },
}

/// Makes Bot API calls for outbox jobs: flood control, `429`, retries.
#[derive(Clone, Debug)]
pub struct Courier {
    limiter: Limiter,
    gates: gate::Gates,
    shutdown: CancellationToken,
}

/// Backoff after a network error or a 5xx; doubles up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Who a call is made for, for the limiter's order.
#[derive(Clone, Copy, Debug)]
pub struct Turn {
    pub priority: i32,
}

impl Courier {
    /// A courier whose waits end when `shutdown` is cancelled.
    pub fn new(limiter: Limiter, shutdown: CancellationToken) -> Self {
        Self { limiter, gates: gate::Gates::default(), shutdown }
    }

    /// Calls `call` for `chat` until it succeeds or fails permanently.
    /// Network errors and 5xx are retried with backoff (forever: nothing is
    /// given up for a transient fault); `429` blocks the chat for exactly
    /// `retry_after`, for every lane. A refusal that depends on the group's
    /// state closes the group's gate and returns [`CallError::Held`]; calls
    /// behind a closed gate wait here until it opens.
    pub async fn call<T, F, Fut>(
        &self,
        what: &'static str,
        chat: i64,
        cost: Cost,
        turn: Turn,
        mut call: F,
    ) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RequestError>>,
    {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let pass = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Err(CallError::Stopped),
                pass = self.gates.pass(what, chat) => pass,
            };
            let permit = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Err(CallError::Stopped),
                permit = self.limiter.acquire_all(chat, cost, turn.priority) => permit,
            };
            let answer = call().await;
            drop(permit);
            let error = match answer {
                Ok(value) => {
                    telemetry::bot_api_ok();
                    if self.gates.answered(pass, what, None) {
                        tracing::info!(
                            call = what,
                            chat,
                            "Telegram accepts calls in the group again; held messages go out"
                        );
                    }
                    return Ok(value);
                }
                Err(error) => error,
            };
            if let Some(hold) = gate::hold_for(what, chat, &error) {
                metrics::counter!(names::BOT_API_ERRORS, "method" => what, "code" => error_code(&error))
                    .increment(1);
                self.gates.answered(pass, what, Some(hold));
                return Err(CallError::Held { hold, error });
            }
            // Not about the group's state: the gates stay as they were.
            drop(pass);
            metrics::counter!(names::BOT_API_ERRORS, "method" => what, "code" => error_code(&error))
                .increment(1);
            let wait = match &error {
                RequestError::RetryAfter(seconds) => {
                    self.limiter.penalize(chat, seconds.duration());
                    tracing::warn!(call = what, chat, retry_after = ?seconds.duration(), "Telegram asked to slow down");
                    continue;
                }
                error if is_transient(error) => backoff,
                _ => return Err(CallError::Refused(error)),
            };
            tracing::warn!(call = what, chat, retry_in = ?wait, %error, "Bot API call failed; retrying");
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(CallError::Stopped),
                _ = tokio::time::sleep(wait) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Why a job could not be finished now.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}
