//! The update runtime: long polling into a durable inbox, then handling in
//! per-conversation lanes.
//!
//! Why not teloxide's `Dispatcher` (DESIGN §11): its polling confirms a batch
//! to Telegram before the handlers run, so a crash loses it; and its default
//! distribution key puts every topic of the support group in one queue.
//! Here each update is
//! 1. stored in the inbox *before* the next `getUpdates` confirms its offset,
//! 2. handled in its lane — one per private chat and one per forum topic, so
//!    a conversation stays in order while different ones run concurrently,
//! 3. marked handled afterwards. Unhandled inbox rows are replayed at start.
//!
//! A fixed pool of permits bounds the updates held in memory: the poller asks
//! Telegram only for as many updates as it has room for.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use teloxide::{
    ApiError, RequestError,
    dispatching::UpdateHandler,
    dptree::di::DependencyMap,
    prelude::*,
    requests::{JsonRequest, Payload},
    types::{AllowedUpdate, Update, UpdateKind},
};
use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use super::{HandlerError, update_kind_name};
use crate::{
    clock::SharedClock,
    delivery::batch::Batcher,
    storage::DatabaseUrl,
    storage::{HandledUpdate, PollerLock, Storage},
};

/// Updates held in memory at most (received, not yet handled).
pub const MAX_IN_FLIGHT: usize = 512;
/// A handler that hit a database error is run again after this, doubling up
/// to `HANDLER_MAX_BACKOFF`, for as long as it takes: its lane waits (the
/// conversation stays in order), other lanes go on, and nothing is skipped.
const HANDLER_BACKOFF: Duration = Duration::from_millis(500);
const HANDLER_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Long-polling timeout sent to Telegram.
const POLL_TIMEOUT_SECS: u32 = 10;
/// Back-off after a failed `getUpdates` or inbox write.
const POLL_BACKOFF: Duration = Duration::from_secs(1);

/// The update kinds topicdesk handles; Telegram filters the rest out.
pub fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::EditedMessage,
        AllowedUpdate::CallbackQuery,
        AllowedUpdate::MyChatMember,
    ]
}

/// Which lane an update is handled in: updates in one lane are handled one
/// at a time, in order; lanes run concurrently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LaneKey {
    /// A private chat, or the General topic of a group.
    Chat(i64),
    /// One forum topic.
    Topic(i64, i32),
    /// Updates without a chat.
    Global,
}

/// The lane of an update (the `(chat id, thread id)` key of DESIGN §11).
pub fn lane_key(update: &Update) -> LaneKey {
    use teloxide::types::UpdateKind as K;
    let message = match &update.kind {
        K::Message(m) | K::EditedMessage(m) => Some(m),
        _ => None,
    };
    if let Some(msg) = message
        && let Some(thread) = super::topic_thread(msg)
    {
        return LaneKey::Topic(msg.chat.id.0, thread);
    }
    match update.chat() {
        Some(chat) => LaneKey::Chat(chat.id.0),
        None => LaneKey::Global,
    }
}

struct Lane {
    /// Updates are boxed: a channel allocates its slots in blocks of 32, and
    /// an `Update` is over a kilobyte, so an idle lane (up to 1,024 are kept)
    /// would hold tens of kilobytes for nothing.
    sender: mpsc::UnboundedSender<(Box<Update>, OwnedSemaphorePermit)>,
    pending: Arc<AtomicUsize>,
}

/// Runs handlers for updates, lane by lane, and records them as handled.
pub struct UpdateEngine {
    handler: Arc<UpdateHandler<HandlerError>>,
    deps: DependencyMap,
    storage: Storage,
    clock: SharedClock,
    committer: Batcher<HandledUpdate>,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    lanes: HashMap<LaneKey, Lane>,
    tasks: JoinSet<()>,
    /// Cancelled by [`UpdateEngine::drain`]: a lane waiting out a database
    /// outage leaves its updates in the inbox for the next start.
    stopping: CancellationToken,
    strangers: Strangers,
}

/// Groups other than the support group that sent the bot something, each
/// logged once so the operator can find a group's id (README, step 5).
#[derive(Clone)]
struct Strangers {
    support_group: ChatId,
    seen: Arc<Mutex<HashSet<i64>>>,
}

/// Lanes kept once their conversation is idle (a new update of it reuses the
/// task). Above this, idle ones are dropped: each holds its task, a copy of
/// the dependency map and its channel, and 1,024 of them were 5 MB of a
/// large desk's resident memory (BENCHMARKS.md §4 E); a new task costs
/// microseconds.
const MAX_IDLE_LANES: usize = 64;

/// At most this many other groups are remembered (and logged).
const MAX_STRANGERS: usize = 1024;

impl Strangers {
    /// Logs, once per chat, a group or channel topicdesk is not set up for.
    fn note(&self, update: &Update) {
        let Some(chat) = update.chat() else { return };
        if chat.is_private() || chat.id == self.support_group {
            return;
        }
        let first = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            seen.len() < MAX_STRANGERS && seen.insert(chat.id.0)
        };
        if first {
            let forum = crate::group::ChatShape::of(chat) == crate::group::ChatShape::Forum;
            tracing::info!(
                chat_id = chat.id.0,
                title = chat.title().unwrap_or(""),
                forum,
                "a group topicdesk is not set up for wrote to the bot; if it is your support group, set \
                 SUPPORT_GROUP_ID={} and restart",
                chat.id.0
            );
        }
    }
}

impl UpdateEngine {
    /// Builds the engine; `deps` are the handler tree's dependencies.
    /// `wake` is signalled when handled updates queued something to send.
    pub fn new(
        handler: UpdateHandler<HandlerError>,
        support_group: ChatId,
        deps: DependencyMap,
        storage: Storage,
        clock: SharedClock,
        wake: Arc<Notify>,
    ) -> Self {
        let committer = {
            let storage = storage.clone();
            let clock = clock.clone();
            Batcher::spawn(move |handled: Vec<HandledUpdate>| {
                let storage = storage.clone();
                let now = clock.now_ms();
                async move { storage.commit_handled(&handled, now).await }
            })
        };
        Self {
            handler: Arc::new(handler),
            deps,
            storage,
            clock,
            committer,
            wake,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            lanes: HashMap::new(),
            tasks: JoinSet::new(),
            stopping: CancellationToken::new(),
            strangers: Strangers { support_group, seen: Arc::default() },
        }
    }

    /// Re-dispatches updates that were stored but not handled before the
    /// last stop (a crash, or a kill).
    pub async fn replay_inbox(&mut self) -> Result<usize, crate::storage::StorageError> {
        let pending =
            self.storage.inbox_pending(i64::try_from(MAX_IN_FLIGHT * 20).unwrap_or(i64::MAX)).await?;
        let count = pending.len();
        for row in pending {
            let decoded =
                serde_json::from_str::<serde_json::Value>(&row.payload).map_err(|e| e.to_string()).and_then(
                    |raw| decode_update(raw).map(|(update, _)| update).map_err(|_| "no update id".to_owned()),
                );
            match decoded {
                Ok(update) => {
                    let permit = self.permits.clone().acquire_owned().await;
                    let Ok(permit) = permit else { break };
                    self.dispatch(update, permit);
                }
                Err(error) => {
                    tracing::error!(update_id = row.update_id, %error, "stored update does not decode; skipping");
                    let reason = format!("undecodable: {error}");
                    self.storage
                        .inbox_mark_handled(row.update_id, self.clock.now_ms(), Some(&reason))
                        .await?;
                }
            }
        }
        if count > 0 {
            tracing::info!(count, "replayed unhandled updates from the inbox");
        }
        Ok(count)
    }

    /// Sends an update to its lane, starting the lane if needed.
    pub fn dispatch(&mut self, update: Update, permit: OwnedSemaphorePermit) {
        if self.lanes.len() > MAX_IDLE_LANES {
            self.lanes.retain(|_, lane| lane.pending.load(Ordering::Acquire) > 0);
        }
        let key = lane_key(&update);
        let lane = self.lanes.entry(key).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let pending = Arc::new(AtomicUsize::new(0));
            let worker = LaneWorker {
                handler: self.handler.clone(),
                deps: self.deps.clone(),
                committer: self.committer.clone(),
                wake: self.wake.clone(),
                pending: pending.clone(),
                stopping: self.stopping.clone(),
                strangers: self.strangers.clone(),
            };
            self.tasks.spawn(worker.run(receiver));
            Lane { sender, pending }
        });
        lane.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::error::SendError((update, _))) = lane.sender.send((Box::new(update), permit)) {
            // Only possible if the lane task died; the update stays in the
            // inbox and is replayed at the next start.
            tracing::error!(update_id = update.id.0, "lane is gone; update left for replay");
        }
        // Reap finished lane tasks so the set does not grow.
        while let Some(result) = self.tasks.try_join_next() {
            if let Err(error) = result {
                tracing::error!(%error, "a lane task failed");
            }
        }
    }

    /// Stops accepting updates and waits until every dispatched one is handled.
    pub async fn drain(mut self) {
        self.stopping.cancel();
        self.lanes.clear();
        while let Some(result) = self.tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a lane task failed");
            }
        }
    }

    /// The permit pool that bounds in-flight updates.
    pub fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
    }
}

struct LaneWorker {
    handler: Arc<UpdateHandler<HandlerError>>,
    deps: DependencyMap,
    committer: Batcher<HandledUpdate>,
    wake: Arc<Notify>,
    pending: Arc<AtomicUsize>,
    stopping: CancellationToken,
    strangers: Strangers,
}

/// How handling an update ended.
#[derive(PartialEq, Eq)]
enum Handled {
    /// Its outcome and effects are stored.
    Stored,
    /// The bot is stopping while the database fails: the update stays in the
    /// inbox, and so must every later one of its lane (to keep their order).
    Deferred,
}

impl LaneWorker {
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<(Box<Update>, OwnedSemaphorePermit)>) {
        let mut deferring = false;
        while let Some((update, permit)) = receiver.recv().await {
            if deferring {
                tracing::info!(
                    update_id = update.id.0,
                    "left in the inbox behind an earlier update of its conversation"
                );
            } else {
                deferring = self.handle(*update).await == Handled::Deferred;
            }
            self.pending.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
        }
    }

    /// Waits before the next attempt; `false` if the bot is stopping.
    async fn back_off(&self, delay: &mut Duration) -> bool {
        let wait = *delay;
        *delay = (*delay * 2).min(HANDLER_MAX_BACKOFF);
        tokio::select! {
            _ = self.stopping.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }

    async fn handle(&self, update: Update) -> Handled {
        let update_id = i64::from(update.id.0);
        let kind = update_kind_name(&update);
        let mut attempt = 1;
        let mut delay = HANDLER_BACKOFF;
        let handled = loop {
            let mut deps = self.deps.clone();
            deps.insert(update.clone());
            // What the handler queues in the outbox is keyed by this update,
            // so running it again (here, or after a crash) queues nothing twice.
            let (handled, effects) =
                crate::delivery::as_effect_of(update_id, self.handler.dispatch(deps)).await;
            match handled {
                std::ops::ControlFlow::Break(Err(error)) if error.is_transient() => {
                    tracing::warn!(update_id, kind, attempt, ?delay, %error, "handler hit a database error; its conversation waits and it is retried");
                    if !self.back_off(&mut delay).await {
                        return self.defer(update_id, kind);
                    }
                    attempt += 1;
                }
                other => break (other, effects),
            }
        };
        let (handled, effects) = handled;
        let (error, outcome) = match handled {
            std::ops::ControlFlow::Break(Ok(())) => (None, "handled"),
            std::ops::ControlFlow::Break(Err(error @ HandlerError::Unparsed)) => {
                tracing::warn!(
                    update_id,
                    kind,
                    "Telegram sent an update topicdesk cannot read; kept raw in the inbox"
                );
                (Some(error.to_string()), "unparsed")
            }
            std::ops::ControlFlow::Break(Err(error)) => {
                tracing::error!(update_id, kind, error = %error, "handler failed");
                (Some(error.to_string()), "failed")
            }
            std::ops::ControlFlow::Continue(_) => {
                self.strangers.note(&update);
                tracing::debug!(update_id, kind, "update not handled (not for topicdesk)");
                (None, "ignored")
            }
        };
        metrics::counter!(crate::telemetry::names::UPDATES, "kind" => kind, "outcome" => outcome)
            .increment(1);
        let sends = !effects.rows.is_empty();
        let handled = HandledUpdate { update_id, rows: effects.rows, dialogues: effects.dialogues, error };
        let mut delay = HANDLER_BACKOFF;
        loop {
            match self.committer.submit(handled.clone()).await {
                Ok(()) => break,
                Err(error) => {
                    // Neither its effects nor its mark are stored yet: the
                    // conversation waits until they are.
                    tracing::warn!(update_id, %error, ?delay, "cannot store the update's outcome; its conversation waits and it is retried");
                    if !self.back_off(&mut delay).await {
                        return self.defer(update_id, kind);
                    }
                }
            }
        }
        if sends {
            self.wake.notify_one();
        }
        Handled::Stored
    }

    /// Leaves an update unmarked in the inbox: it is handled at the next start.
    fn defer(&self, update_id: i64, kind: &'static str) -> Handled {
        tracing::error!(
            update_id,
            kind,
            "stopping while the database fails; the update is kept for the next start"
        );
        metrics::counter!(crate::telemetry::names::UPDATES, "kind" => kind, "outcome" => "deferred")
            .increment(1);
        Handled::Deferred
    }
}

/// A fatal polling error: the bot cannot work until the operator acts.
#[derive(Debug, thiserror::Error)]
pub enum PollingError {
    #[error("Telegram rejected the bot token (TELOXIDE_TOKEN): {0}")]
    InvalidToken(RequestError),
}

/// Long-polls Telegram until `shutdown`, storing each batch in the inbox
/// before confirming it, and dispatching it to `engine`.
pub async fn poll(
    bot: &Bot,
    engine: &mut UpdateEngine,
    storage: &Storage,
    database: &DatabaseUrl,
    clock: &SharedClock,
    shutdown: &CancellationToken,
) -> Result<(), PollingError> {
    // Only one instance may long-poll: the others wait here (and meanwhile
    // sweep and serve /healthz), taking over if the poller goes away.
    let Some(_lock) = poller_lock(storage, database, shutdown).await else { return Ok(()) };
    let permits = engine.permits();
    let mut offset: Option<i32> = None;
    loop {
        // Wait for room before asking Telegram for more (bounded memory).
        let first = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
        };
        let room = (permits.available_permits() + 1).min(100);
        let request = RawGetUpdates {
            offset,
            limit: u8::try_from(room).unwrap_or(100),
            timeout: POLL_TIMEOUT_SECS,
            allowed_updates: allowed_updates(),
        };
        let batch = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            result = JsonRequest::new(bot.clone(), request).send() => result,
        };
        let updates = match batch {
            Ok(updates) => {
                crate::telemetry::bot_api_ok();
                updates
            }
            Err(error @ RequestError::Api(ApiError::InvalidToken)) => {
                return Err(PollingError::InvalidToken(error));
            }
            Err(RequestError::RetryAfter(seconds)) => {
                sleep_or_shutdown(seconds.duration(), shutdown).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "getUpdates failed; retrying");
                sleep_or_shutdown(POLL_BACKOFF, shutdown).await;
                continue;
            }
        };
        let mut first = Some(first);
        let mut stored_all = true;
        // One transaction for the whole batch, before any is confirmed. The
        // raw JSON is stored as Telegram sent it, even what teloxide cannot
        // read.
        let mut batch = Vec::with_capacity(updates.len());
        for raw in updates {
            match decode_update(raw) {
                Ok(decoded) => batch.push(decoded),
                Err(Undecodable { update_id, raw }) => {
                    // Without an id it can be neither stored nor confirmed
                    // alone; the next update's id confirms it.
                    tracing::warn!(update_id, raw = %raw, "Telegram sent an update without a usable id; skipped");
                    metrics::counter!(crate::telemetry::names::UPDATES, "kind" => "unparsed", "outcome" => "skipped").increment(1);
                }
            }
        }
        let rows: Vec<(i64, String)> =
            batch.iter().map(|(update, payload)| (i64::from(update.id.0), payload.clone())).collect();
        match storage.inbox_record_batch(&rows, clock.now_ms()).await {
            Ok(inserted) => {
                for ((update, _), new) in batch.into_iter().zip(inserted) {
                    let update_id = update.id.0;
                    offset = Some(next_offset(update_id));
                    if !new {
                        tracing::debug!(update_id, "update already in the inbox; not handled twice");
                        continue;
                    }
                    let permit = match first.take() {
                        Some(p) => p,
                        None => match permits.clone().acquire_owned().await {
                            Ok(p) => p,
                            Err(_) => return Ok(()),
                        },
                    };
                    tracing::debug!(update_id, kind = update_kind_name(&update), "update received");
                    engine.dispatch(update, permit);
                }
            }
            Err(error) => {
                // Not stored: do not confirm them; Telegram sends them again.
                tracing::error!(%error, "cannot store updates in the inbox; will fetch them again");
                stored_all = false;
            }
        }
        if !stored_all {
            sleep_or_shutdown(POLL_BACKOFF, shutdown).await;
        }
    }
}

/// Dispatches updates that arrive by webhook until `shutdown` (or until the
/// HTTP server goes away). They are already in the inbox.
pub async fn feed(
    engine: &mut UpdateEngine,
    mut updates: mpsc::Receiver<Update>,
    shutdown: &CancellationToken,
) {
    let permits = engine.permits();
    loop {
        let update = tokio::select! {
            _ = shutdown.cancelled() => return,
            update = updates.recv() => match update {
                Some(update) => update,
                None => return,
            },
        };
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        engine.dispatch(update, permit);
    }
}

/// How often a standby instance checks whether the poller went away.
const STANDBY_RETRY: Duration = Duration::from_secs(3);

async fn poller_lock(
    storage: &Storage,
    database: &DatabaseUrl,
    shutdown: &CancellationToken,
) -> Option<PollerLock> {
    let mut announced = false;
    loop {
        match storage.try_poller_lock(database).await {
            Ok(Some(lock)) => {
                if announced {
                    tracing::info!("this instance now receives updates (the previous poller stopped)");
                }
                return Some(lock);
            }
            Ok(None) if !announced => {
                tracing::info!(
                    "another instance is polling Telegram; standing by (sweeping and serving HTTP)"
                );
                announced = true;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot check the poller lock; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(STANDBY_RETRY) => {}
        }
    }
}

/// `getUpdates` answered as raw JSON, so an update teloxide cannot read is
/// still stored (and reported) as Telegram sent it.
#[derive(Debug, Clone, serde::Serialize)]
struct RawGetUpdates {
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i32>,
    limit: u8,
    timeout: u32,
    allowed_updates: Vec<AllowedUpdate>,
}

impl Payload for RawGetUpdates {
    type Output = Vec<serde_json::Value>;
    const NAME: &'static str = "GetUpdates";

    fn timeout_hint(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.timeout.into()))
    }
}

/// An update whose id cannot be read.
#[derive(Debug)]
pub struct Undecodable {
    pub update_id: Option<i64>,
    pub raw: serde_json::Value,
}

/// Reads one update as Telegram sent it: the update and its raw JSON. An
/// update teloxide cannot read becomes `UpdateKind::Error` carrying the raw
/// JSON (teloxide itself keeps only an empty object), so the handler tree
/// can report it.
pub fn decode_update(raw: serde_json::Value) -> Result<(Update, String), Undecodable> {
    let update_id = raw.get("update_id").and_then(serde_json::Value::as_i64);
    let Some(id) = update_id.and_then(|id| u32::try_from(id).ok()) else {
        return Err(Undecodable { update_id, raw });
    };
    let payload = raw.to_string();
    // From the text, not the `Value`: teloxide's types borrow while parsing.
    let update = match serde_json::from_str::<Update>(&payload) {
        Ok(Update { kind: UpdateKind::Error(_), id }) => Update { id, kind: UpdateKind::Error(raw) },
        Ok(update) => update,
        Err(_) => Update { id: teloxide::types::UpdateId(id), kind: UpdateKind::Error(raw) },
    };
    Ok((update, payload))
}

fn next_offset(update_id: u32) -> i32 {
    i32::try_from(update_id).map_or(i32::MAX, |id| id.saturating_add(1))
}

async fn sleep_or_shutdown(duration: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(duration) => {}
    }
}
