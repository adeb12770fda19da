//! The outbox worker: reads pending jobs, runs them lane by lane, marks them.
//!
//! Memory stays bounded: at most [`MAX_IN_FLIGHT_JOBS`] jobs are read from
//! the database at a time; the rest wait there.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::Duration,
};

use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::{CallError, Job, Outbox, batch::Batcher};
use crate::{
    clock::SharedClock,
    storage::DatabaseUrl,
    storage::{FinishedJob, MessagePair, OutboxRow, Storage},
    telemetry::names,
};

/// Jobs held in memory at most.
pub const MAX_IN_FLIGHT_JOBS: usize = 2048;
/// How often the worker looks for jobs pushed by other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often every pending job is re-read (a PostgreSQL row can commit after
/// a row with a higher id was read).
const RESCAN_INTERVAL: Duration = Duration::from_secs(5);
/// Back-off while the database is unreachable.
const DB_BACKOFF: Duration = Duration::from_secs(1);

/// Why Telegram refused a job for good, as agents are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The customer blocked the bot or deleted their account.
    Unreachable,
    /// This kind of message cannot be copied.
    Uncopyable,
    /// Anything else (missing rights, bad request).
    Other,
}

/// What runs the jobs the worker reads: the ticket desk, which knows the
/// tickets, their topics and whom to tell when Telegram refuses. A trait, so
/// the delivery layer does not depend on the ticket layer above it.
pub trait JobRunner: Clone + Send + Sync + 'static {
    /// Runs one job.
    fn deliver(
        &self,
        job: &Job,
        priority: i32,
    ) -> impl Future<Output = Result<Delivered, super::DeliveryError>> + Send;
    /// Runs the parts of one album (two or more copies from one chat, in
    /// message order) as one album. A refusal sends the parts one by one.
    fn deliver_album(
        &self,
        parts: &[Job],
        priority: i32,
    ) -> impl Future<Output = Result<Delivered, super::DeliveryError>> + Send;
    /// How long an album's parts are collected after the last one came.
    fn album_wait(&self) -> Duration;
    /// Tells people about a job Telegram refused for good.
    fn surface_failure(&self, job: &Job, refusal: Refusal, detail: &str) -> impl Future<Output = ()> + Send;
    /// Tells the team a job waits for the group to be fixed.
    fn report_hold(&self, job: &Job, hold: super::gate::Hold) -> impl Future<Output = ()> + Send;
}

/// How a job ended.
#[derive(Debug)]
pub enum Delivered {
    /// Telegram accepted it (or there was nothing left to do).
    Done,
    /// Telegram refused for good; the reason is recorded and shown to agents.
    Refused { refusal: Refusal, detail: String },
    /// Telegram refused because of the group's state; the job is run again
    /// when the group's gate opens (see [`super::gate`]).
    Held { hold: super::gate::Hold, detail: String },
}

struct LaneHandle {
    sender: mpsc::UnboundedSender<OutboxRow>,
    pending: usize,
}

/// Runs the outbox until `shutdown`. Only one instance per database sends
/// (a PostgreSQL advisory lock); the others stand by.
pub async fn run<R: JobRunner>(
    desk: R,
    outbox: Outbox,
    storage: Storage,
    database: DatabaseUrl,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    let Some(_lock) = sender_lock(&storage, &database, &shutdown).await else { return };
    let wake = outbox.wake();
    let marks = {
        let storage = storage.clone();
        Batcher::spawn(move |jobs: Vec<FinishedJob>| {
            let storage = storage.clone();
            let now = clock.now_ms();
            async move { storage.outbox_finish(&jobs, now).await }
        })
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(i64, String)>();
    let mut lanes: HashMap<String, LaneHandle> = HashMap::new();
    let mut in_flight: HashSet<i64> = HashSet::new();
    let mut tasks = JoinSet::new();
    let mut cursor = 0_i64;
    let mut rescan = tokio::time::interval(RESCAN_INTERVAL);
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    let mut full = true;
    let mut fetch = true;
    loop {
        let room = MAX_IN_FLIGHT_JOBS.saturating_sub(in_flight.len());
        if fetch && room > 0 {
            fetch = false;
            let after = if full { 0 } else { cursor };
            match storage.outbox_pending(after, i64::try_from(room).unwrap_or(i64::MAX)).await {
                Ok(rows) => {
                    full = false;
                    for row in rows {
                        cursor = cursor.max(row.id);
                        if !in_flight.insert(row.id) {
                            continue;
                        }
                        let lane = lanes.entry(row.lane.clone()).or_insert_with(|| {
                            let (sender, receiver) = mpsc::unbounded_channel();
                            let runner = LaneRunner {
                                desk: desk.clone(),
                                storage: storage.clone(),
                                marks: marks.clone(),
                                done: done_tx.clone(),
                                shutdown: shutdown.clone(),
                            };
                            tasks.spawn(runner.run(receiver));
                            LaneHandle { sender, pending: 0 }
                        });
                        lane.pending += 1;
                        if let Err(mpsc::error::SendError(row)) = lane.sender.send(row) {
                            // The lane's task died: forget it; the next
                            // rescan dispatches the row to a new one.
                            tracing::error!(
                                outbox_id = row.id,
                                lane = row.lane,
                                "outbox lane is gone; retrying"
                            );
                            in_flight.remove(&row.id);
                            lanes.remove(&row.lane);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read the outbox; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(DB_BACKOFF) => {}
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => fetch = true,
            _ = poll.tick() => fetch = true,
            _ = rescan.tick() => { full = true; fetch = true; }
            finished = done_rx.recv() => {
                // A full worker looks for more as soon as there is room.
                fetch |= in_flight.len() >= MAX_IN_FLIGHT_JOBS;
                let mut next = finished;
                while let Some((id, lane)) = next {
                    in_flight.remove(&id);
                    if let Some(handle) = lanes.get_mut(&lane) {
                        handle.pending -= 1;
                        if handle.pending == 0 {
                            lanes.remove(&lane);
                        }
                    }
                    next = done_rx.try_recv().ok();
                }
            }
        }
        while let Some(result) = tasks.try_join_next() {
            if let Err(error) = result {
                tracing::error!(%error, "an outbox lane failed");
            }
        }
    }
    // Let each lane finish the call it is in (its waits end at once), so a
    // message Telegram accepted is marked before the process exits.
    lanes.clear();
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "an outbox lane failed");
        }
    }
}

struct LaneRunner<R> {
    desk: R,
    storage: Storage,
    marks: Batcher<FinishedJob>,
    done: mpsc::UnboundedSender<(i64, String)>,
    shutdown: CancellationToken,
}

/// A row read from the lane, with its job decoded (or why it does not decode).
type Decoded = (OutboxRow, Result<Job, String>);

fn decode(row: OutboxRow) -> Decoded {
    let job = serde_json::from_str(&row.job).map_err(|error| format!("undecodable job: {error}"));
    (row, job)
}

/// Telegram puts at most this many messages in one album.
const ALBUM_MAX_PARTS: usize = 10;
/// However slowly the parts of an album come in, it goes out this long after
/// its first part at the latest.
const ALBUM_MAX_WAIT: Duration = Duration::from_secs(5);

impl<R: JobRunner> LaneRunner<R> {
    async fn run(self, mut rows: mpsc::UnboundedReceiver<OutboxRow>) {
        // Rows read ahead while an album was collected, in lane order.
        let mut ahead: VecDeque<Decoded> = VecDeque::new();
        loop {
            let (row, job) = match ahead.pop_front() {
                Some(decoded) => decoded,
                None => match rows.recv().await {
                    Some(row) => decode(row),
                    None => return,
                },
            };
            if self.shutdown.is_cancelled() {
                return;
            }
            let parts = match job {
                Err(detail) => {
                    tracing::error!(
                        outbox_id = row.id,
                        detail,
                        "stored job does not decode; giving up on it"
                    );
                    if !self.record(&[row.id], "undecodable", Err(detail), Vec::new(), 0).await {
                        return;
                    }
                    let _ = self.done.send((row.id, row.lane));
                    continue;
                }
                Ok(job) => match job.album().map(str::to_owned) {
                    Some(album) => {
                        let Some(parts) = self.collect_album(&album, (row, job), &mut rows, &mut ahead).await
                        else {
                            return; // Stopping: the parts stay pending.
                        };
                        parts
                    }
                    None => vec![(row, job)],
                },
            };
            if !self.send(&parts, Vec::new()).await {
                return; // Stopping: the job stays pending for the next start.
            }
            for (row, _) in parts {
                let _ = self.done.send((row.id, row.lane));
            }
        }
    }

    /// Gathers the parts of `album` queued in this lane right after `first`:
    /// the ones already read, and those that arrive until none has come for
    /// the album wait (about a second), ten parts are in, another job comes
    /// in between, or [`ALBUM_MAX_WAIT`] has passed.
    /// The parts go out in the order they were written (message id order,
    /// which `copyMessages` requires). `None` when stopping.
    async fn collect_album(
        &self,
        album: &str,
        first: (OutboxRow, Job),
        rows: &mut mpsc::UnboundedReceiver<OutboxRow>,
        ahead: &mut VecDeque<Decoded>,
    ) -> Option<Vec<(OutboxRow, Job)>> {
        let wait = self.desk.album_wait();
        let started = tokio::time::Instant::now();
        let mut last_part = started;
        let mut parts = vec![first];
        let mut open = true;
        loop {
            // Parts are taken while they come in a row: a job queued between
            // two parts ends the album there, so the lane keeps its order.
            while parts.len() < ALBUM_MAX_PARTS
                && ahead.front().is_some_and(|(_, job)| job.as_ref().is_ok_and(|j| j.album() == Some(album)))
            {
                if let Some((row, Ok(job))) = ahead.pop_front() {
                    last_part = tokio::time::Instant::now();
                    parts.push((row, job));
                }
            }
            if !open || !ahead.is_empty() || parts.len() >= ALBUM_MAX_PARTS {
                break;
            }
            let until = (last_part + wait).min(started + ALBUM_MAX_WAIT);
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return None,
                row = rows.recv() => match row {
                    Some(row) => ahead.push_back(decode(row)),
                    None => open = false,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        parts.sort_by_key(|(_, job)| job.message_id());
        Some(parts)
    }

    /// Runs one job, or one album's parts together, and records how it
    /// ended; `false` when stopping.
    async fn send(&self, parts: &[(OutboxRow, Job)], mut pairs: Vec<MessagePair>) -> bool {
        let Some((first, job)) = parts.first() else { return true };
        let jobs: Vec<Job> = parts.iter().map(|(_, job)| job.clone()).collect();
        let ids: Vec<i64> = parts.iter().map(|(row, _)| row.id).collect();
        let kind = job.kind();
        loop {
            // Pairs of copies Telegram accepted in an attempt that did not
            // finish (held, interrupted) are kept: those copies are not
            // made again.
            let (delivered, made) = if jobs.len() == 1 {
                super::with_pairs(self.desk.deliver(job, first.priority)).await
            } else {
                super::with_pairs(self.desk.deliver_album(&jobs, first.priority)).await
            };
            pairs.extend(made);
            let outcome = match delivered {
                Ok(Delivered::Done) => Ok(()),
                Ok(Delivered::Refused { refusal, detail }) if jobs.len() > 1 => {
                    // Telegram would not copy the album as a whole: each part
                    // goes on its own, so one that cannot be copied is named
                    // and the others still arrive.
                    tracing::warn!(
                        lane = first.lane,
                        parts = jobs.len(),
                        ?refusal,
                        detail,
                        "album refused; sending its parts one by one"
                    );
                    let mut carried = Some(std::mem::take(&mut pairs));
                    for part in parts {
                        let carried = carried.take().unwrap_or_default();
                        if !Box::pin(self.send(std::slice::from_ref(part), carried)).await {
                            return false;
                        }
                    }
                    return true;
                }
                Ok(Delivered::Refused { refusal, detail }) => {
                    tracing::error!(
                        outbox_id = first.id,
                        lane = first.lane,
                        kind,
                        detail,
                        "Telegram refused a message for good"
                    );
                    self.desk.surface_failure(job, refusal, &detail).await;
                    Err(detail)
                }
                Ok(Delivered::Held { hold, detail }) => {
                    tracing::warn!(
                        outbox_id = first.id,
                        lane = first.lane,
                        kind,
                        ?hold,
                        detail,
                        "held until the support group is fixed"
                    );
                    self.desk.report_hold(job, hold).await;
                    // The next attempt waits at the group's gate.
                    continue;
                }
                Err(super::DeliveryError::Call(CallError::Stopped)) => return false,
                Err(error) => {
                    // The database failed mid-job: try the job again.
                    tracing::warn!(outbox_id = first.id, %error, "outbox job interrupted; retrying");
                    if let Err(error) = self.storage.outbox_retrying(first.id, &error.to_string()).await {
                        tracing::debug!(%error, "cannot record the retry");
                    }
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(DB_BACKOFF) => continue,
                    }
                }
            };
            return self.record(&ids, kind, outcome, pairs, job.group_messages()).await;
        }
    }

    /// Marks the jobs `ids` (one job, or an album's parts) together, with
    /// the message pairs they relayed.
    async fn record(
        &self,
        ids: &[i64],
        kind: &'static str,
        outcome: Result<(), String>,
        pairs: Vec<MessagePair>,
        group_messages: u32,
    ) -> bool {
        let label = if outcome.is_ok() { "sent" } else { "refused" };
        metrics::counter!(names::DELIVERIES, "kind" => kind, "outcome" => label).increment(ids.len() as u64);
        let mut pairs = Some(pairs);
        let finished: Vec<FinishedJob> = ids
            .iter()
            .map(|id| FinishedJob {
                id: *id,
                refused: outcome.clone().err(),
                pairs: pairs.take().unwrap_or_default(),
                group_messages,
            })
            .collect();
        loop {
            // Marked together with other lanes' jobs (group commit); this
            // lane waits for its marks before sending its next job.
            match self.marks.submit_all(finished.clone()).await {
                Ok(()) => return true,
                Err(error) => {
                    // Not marked: keep trying, or it would be sent again.
                    tracing::error!(outbox_ids = ?ids, %error, "cannot mark an outbox job; retrying");
                    tokio::time::sleep(DB_BACKOFF).await;
                }
            }
        }
    }
}

/// How often a standby instance checks whether the sender went away.
const STANDBY_RETRY: Duration = Duration::from_secs(3);

async fn sender_lock(
    storage: &Storage,
    database: &DatabaseUrl,
    shutdown: &CancellationToken,
) -> Option<crate::storage::PollerLock> {
    let mut announced = false;
    loop {
        match storage.try_sender_lock(database).await {
            Ok(Some(lock)) => return Some(lock),
            Ok(None) if !announced => {
                tracing::info!("another instance sends the outbox; standing by");
                announced = true;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "cannot check the outbox lock; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(STANDBY_RETRY) => {}
        }
    }
}
