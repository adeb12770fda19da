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
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use teloxide::{
    ApiError, RequestError,
    dispatching::UpdateHandler,
    dptree::di::DependencyMap,
    prelude::*,
    types::{AllowedUpdate, Update},
};
use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use super::{schema::HandlerError, update_kind_name};
use crate::{
    clock::SharedClock,
    config::DatabaseUrl,
    delivery::batch::Batcher,
    storage::{HandledUpdate, PollerLock, Storage},
};

/// Updates held in memory at most (received, not yet handled).
pub const MAX_IN_FLIGHT: usize = 512;
/// How often a handler that hit a database error is run (backoff doubling
/// from `HANDLER_BACKOFF`: 0.5 + 1 + 2 + 4 + 8 s). After that the update is
/// recorded with its error, and the log says so.
const HANDLER_ATTEMPTS: u32 = 6;
const HANDLER_BACKOFF: Duration = Duration::from_millis(500);
/// Long-polling timeout sent to Telegram.
const POLL_TIMEOUT_SECS: u32 = 10;
/// Back-off after a failed `getUpdates` or inbox write.
const POLL_BACKOFF: Duration = Duration::from_secs(1);

/// The update kinds topicdesk handles; Telegram filters the rest out.
pub fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![AllowedUpdate::Message, AllowedUpdate::EditedMessage, AllowedUpdate::CallbackQuery]
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
    sender: mpsc::UnboundedSender<(Update, OwnedSemaphorePermit)>,
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
}

impl UpdateEngine {
    /// Builds the engine; `deps` are the handler tree's dependencies.
    /// `wake` is signalled when handled updates queued something to send.
    pub fn new(
        handler: UpdateHandler<HandlerError>,
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
        }
    }

    /// Re-dispatches updates that were stored but not handled before the
    /// last stop (a crash, or a kill).
    pub async fn replay_inbox(&mut self) -> Result<usize, crate::storage::StorageError> {
        let pending =
            self.storage.inbox_pending(i64::try_from(MAX_IN_FLIGHT * 20).unwrap_or(i64::MAX)).await?;
        let count = pending.len();
        for row in pending {
            match serde_json::from_str::<Update>(&row.payload) {
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
        if self.lanes.len() > 1024 {
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
            };
            self.tasks.spawn(worker.run(receiver));
            Lane { sender, pending }
        });
        lane.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::error::SendError((update, _))) = lane.sender.send((update, permit)) {
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
}

impl LaneWorker {
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<(Update, OwnedSemaphorePermit)>) {
        while let Some((update, permit)) = receiver.recv().await {
            self.handle(update).await;
            self.pending.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
        }
    }

    async fn handle(&self, update: Update) {
        let update_id = i64::from(update.id.0);
        let kind = update_kind_name(&update);
        let mut attempt = 1;
        let handled = loop {
            let mut deps = self.deps.clone();
            deps.insert(update.clone());
            // What the handler queues in the outbox is keyed by this update,
            // so running it again (here, or after a crash) queues nothing twice.
            let (handled, queued) =
                crate::delivery::as_effect_of(update_id, self.handler.dispatch(deps)).await;
            match handled {
                std::ops::ControlFlow::Break(Err(error))
                    if error.is_transient() && attempt < HANDLER_ATTEMPTS =>
                {
                    let delay = HANDLER_BACKOFF * 2u32.pow(attempt - 1);
                    tracing::warn!(update_id, kind, attempt, ?delay, %error, "handler hit a database error; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => break (other, queued),
            }
        };
        let (handled, queued) = handled;
        let (error, outcome) = match handled {
            std::ops::ControlFlow::Break(Ok(())) => (None, "handled"),
            std::ops::ControlFlow::Break(Err(error)) if error.is_transient() => {
                // Not marked: the update stays in the inbox and is handled
                // again at the next start, rather than being lost.
                tracing::error!(update_id, kind, error = %error, "handler failed on the database; the update is kept for the next start");
                metrics::counter!(crate::telemetry::names::UPDATES, "kind" => kind, "outcome" => "deferred")
                    .increment(1);
                return;
            }
            std::ops::ControlFlow::Break(Err(error)) => {
                tracing::error!(update_id, kind, error = %error, "handler failed");
                (Some(error.to_string()), "failed")
            }
            std::ops::ControlFlow::Continue(_) => {
                tracing::debug!(update_id, kind, "update not handled (not for topicdesk)");
                (None, "ignored")
            }
        };
        metrics::counter!(crate::telemetry::names::UPDATES, "kind" => kind, "outcome" => outcome)
            .increment(1);
        let sends = !queued.is_empty();
        let handled = HandledUpdate { update_id, rows: queued, error };
        let mut attempt = 1;
        loop {
            match self.committer.submit(handled.clone()).await {
                Ok(()) => break,
                Err(error) if attempt < HANDLER_ATTEMPTS => {
                    tracing::warn!(update_id, %error, attempt, "cannot store the update's outcome; retrying");
                    tokio::time::sleep(HANDLER_BACKOFF * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
                Err(error) => {
                    // Neither its effects nor its mark are stored: the update
                    // is handled again at the next start.
                    tracing::error!(update_id, %error, "cannot store the update's outcome; it will be replayed");
                    return;
                }
            }
        }
        if sends {
            self.wake.notify_one();
        }
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
        let mut request = bot
            .get_updates()
            .timeout(POLL_TIMEOUT_SECS)
            .limit(u8::try_from(room).unwrap_or(100))
            .allowed_updates(allowed_updates());
        if let Some(offset) = offset {
            request = request.offset(offset);
        }
        let batch = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            result = request.send() => result,
        };
        let updates = match batch {
            Ok(updates) => {
                crate::telemetry::bot_api_ok(clock.now_ms());
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
        // One transaction for the whole batch, before any is confirmed.
        let mut batch = Vec::with_capacity(updates.len());
        for update in updates {
            match serde_json::to_string(&update) {
                Ok(payload) => batch.push((update, payload)),
                Err(error) => {
                    tracing::error!(update_id = update.id.0, %error, "cannot serialise update; skipping");
                    offset = Some(next_offset(update.id.0));
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

fn next_offset(update_id: u32) -> i32 {
    i32::try_from(update_id).map_or(i32::MAX, |id| id.saturating_add(1))
}

async fn sleep_or_shutdown(duration: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(duration) => {}
    }
}
