//! Proactive flood control (DESIGN §9): Telegram allows about 30 messages/s
//! overall, 1/s per chat and 20/min per group. Every send asks the limiter
//! first; when the bot must wait, waiting sends are granted by priority
//! (premium first), then in the order they asked. Each outbox lane (a
//! ticket's topic, a customer's chat) asks for one send at a time and asks
//! again only after it was served, so among equals the order is round-robin
//! between lanes: a customer who floods their ticket takes one turn in each
//! round, not every turn until their backlog is gone (DESIGN §12, fair share).
//!
//! The windows are sliding, like Telegram's (and the simulator's): a send is
//! allowed when fewer than `count` sends occupy the last `per`. A send
//! occupies its window from the grant until `per` after Telegram *answered*
//! (when the [`Permit`] is dropped), so a request delayed on the way cannot
//! land closer to the next one than the window allows. A small margin is
//! added on top.
//!
//! `429 retry_after` is honoured in both modes: [`Limiter::penalize`] blocks
//! the chat until the time is up, and nothing is granted to it before.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

pub use crate::config::{Limits, Window};

/// Safety margin added to each window: our grant precedes Telegram's
/// arrival time by a network hop, and hops vary.
fn margin(per: Duration) -> Duration {
    (per / 50).max(Duration::from_millis(15))
}

/// A sliding window of recent sends.
#[derive(Debug)]
struct Slider {
    window: Window,
    /// Sends answered, by when they were answered (oldest first).
    done: VecDeque<Instant>,
    /// Sends granted and not answered yet: they occupy a slot until then.
    in_flight: usize,
}

impl Slider {
    fn new(window: Window) -> Self {
        Self { window, done: VecDeque::new(), in_flight: 0 }
    }

    fn span(&self) -> Duration {
        self.window.per + margin(self.window.per)
    }

    /// When the next send is allowed; `None` if only an answer to a send in
    /// flight can free a slot.
    fn ready_at(&mut self, now: Instant) -> Option<Instant> {
        let span = self.span();
        while self.done.front().is_some_and(|t| now.saturating_duration_since(*t) >= span) {
            self.done.pop_front();
        }
        let count = self.window.count.max(1) as usize;
        let occupied = self.done.len() + self.in_flight;
        if occupied < count {
            return Some(now);
        }
        // Slots to free before one is available; answered sends expire oldest first.
        let to_free = occupied - count + 1;
        self.done.get(to_free - 1).map(|t| *t + span)
    }

    fn grant(&mut self) {
        self.in_flight += 1;
    }

    fn answered(&mut self, at: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let position = self.done.partition_point(|t| *t <= at);
        self.done.insert(position, at);
    }

    fn is_idle(&mut self, now: Instant) -> bool {
        self.ready_at(now) == Some(now) && self.done.is_empty() && self.in_flight == 0
    }
}

/// What a send counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// A message (send, copy, topic creation): counts against every window.
    Message,
    /// Several messages in one call (an album's parts): each counts, as
    /// Telegram may count them.
    Messages(u32),
    /// A call that posts nothing (pin, close a topic): only waits out a 429.
    Free,
}

struct Request {
    chat: i64,
    reply: oneshot::Sender<()>,
}

enum Message {
    Acquire(Key, Request),
    Answered { chat: i64, at: Instant },
}

/// Held while a call is made; dropping it tells the limiter the call was
/// answered (or abandoned), which starts its slot's window.
#[must_use = "hold the permit until Telegram answered"]
pub struct Permit {
    answered: Option<(mpsc::UnboundedSender<Message>, i64)>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((sender, chat)) = self.answered.take() {
            let _ = sender.send(Message::Answered { chat, at: Instant::now() });
        }
    }
}

type Penalties = Arc<Mutex<HashMap<i64, Instant>>>;

/// Handle to the limiter; cheap to clone.
#[derive(Clone, Debug)]
pub struct Limiter {
    requests: Option<mpsc::UnboundedSender<Message>>,
    penalties: Penalties,
}

/// Waiters are granted in key order: priority, then arrival.
type Key = (i32, u64);

impl Limiter {
    /// A limiter enforcing `limits`, or only `429`s when `None`. Must be
    /// created inside a Tokio runtime (it spawns its scheduler).
    pub fn new(limits: Option<Limits>) -> Self {
        let penalties: Penalties = Arc::default();
        let requests = limits.map(|limits| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(schedule(limits, receiver, penalties.clone()));
            sender
        });
        Self { requests, penalties }
    }

    /// Blocks `chat` for `retry_after` (a `429` answer).
    pub fn penalize(&self, chat: i64, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut penalties = self.penalties.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = penalties.entry(chat).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// When `chat` may be called again, if it is blocked by a `429`.
    fn blocked_until(&self, chat: i64) -> Option<Instant> {
        let penalties = self.penalties.lock().unwrap_or_else(PoisonError::into_inner);
        penalties.get(&chat).copied().filter(|until| *until > Instant::now())
    }

    /// Waits until a call of `cost` to `chat` may be made: one slot per
    /// message it posts, all held until the call is answered. Lower
    /// `priority` goes first; among equals, whoever asked first.
    pub async fn acquire_all(&self, chat: i64, cost: Cost, priority: i32) -> Vec<Permit> {
        match cost {
            Cost::Messages(n) => {
                let mut permits = Vec::with_capacity(n as usize);
                for _ in 0..n.max(1) {
                    permits.push(self.acquire(chat, Cost::Message, priority).await);
                }
                permits
            }
            single => vec![self.acquire(chat, single, priority).await],
        }
    }

    /// Waits until a call to `chat` may be made. Lower `priority` goes
    /// first; among equals, whoever asked first. Hold the permit until the
    /// call is answered.
    pub async fn acquire(&self, chat: i64, cost: Cost, priority: i32) -> Permit {
        while let Some(until) = self.blocked_until(chat) {
            tokio::time::sleep_until(until).await;
        }
        let Some(requests) = self.requests.as_ref().filter(|_| cost != Cost::Free) else {
            return Permit { answered: None };
        };
        let (reply, granted) = oneshot::channel();
        let key = (priority, next_arrival());
        if requests.send(Message::Acquire(key, Request { chat, reply })).is_err() {
            // The scheduler is gone (the runtime is shutting down).
            return Permit { answered: None };
        }
        match granted.await {
            // The scheduler checked the penalty again when granting.
            Ok(()) => Permit { answered: Some((requests.clone(), chat)) },
            Err(_) => Permit { answered: None },
        }
    }
}

fn next_arrival() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

struct Windows {
    limits: Limits,
    global: Slider,
    chats: HashMap<i64, Slider>,
    groups: HashMap<i64, Slider>,
}

fn later(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    Some(a?.max(b?))
}

impl Windows {
    fn ready_at(&mut self, chat: i64, now: Instant) -> Option<Instant> {
        let limits = self.limits;
        let mut at = self.global.ready_at(now);
        at = later(at, self.chats.entry(chat).or_insert_with(|| Slider::new(limits.per_chat)).ready_at(now));
        if chat < 0 {
            at = later(
                at,
                self.groups.entry(chat).or_insert_with(|| Slider::new(limits.per_group)).ready_at(now),
            );
        }
        at
    }

    fn grant(&mut self, chat: i64) {
        self.global.grant();
        self.chats.entry(chat).or_insert_with(|| Slider::new(self.limits.per_chat)).grant();
        if chat < 0 {
            self.groups.entry(chat).or_insert_with(|| Slider::new(self.limits.per_group)).grant();
        }
    }

    fn answered(&mut self, chat: i64, at: Instant) {
        self.global.answered(at);
        if let Some(s) = self.chats.get_mut(&chat) {
            s.answered(at);
        }
        if let Some(s) = self.groups.get_mut(&chat) {
            s.answered(at);
        }
    }

    fn release(&mut self, chat: i64) {
        self.global.in_flight = self.global.in_flight.saturating_sub(1);
        for slider in [self.chats.get_mut(&chat), self.groups.get_mut(&chat)].into_iter().flatten() {
            slider.in_flight = slider.in_flight.saturating_sub(1);
        }
    }

    fn forget_idle(&mut self, now: Instant) {
        if self.chats.len() > 4096 {
            self.chats.retain(|_, s| !s.is_idle(now));
        }
    }
}

async fn schedule(limits: Limits, mut messages: mpsc::UnboundedReceiver<Message>, penalties: Penalties) {
    let mut windows =
        Windows { limits, global: Slider::new(limits.global), chats: HashMap::new(), groups: HashMap::new() };
    let mut waiting: BTreeMap<Key, Request> = BTreeMap::new();
    loop {
        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        let mut granted = Vec::new();
        for (key, request) in &waiting {
            if request.reply.is_closed() {
                granted.push(*key);
                continue;
            }
            let blocked = {
                let p = penalties.lock().unwrap_or_else(PoisonError::into_inner);
                p.get(&request.chat).copied().filter(|until| *until > now)
            };
            match windows.ready_at(request.chat, now).map(|at| at.max(blocked.unwrap_or(now))) {
                Some(at) if at <= now => {
                    windows.grant(request.chat);
                    granted.push(*key);
                }
                Some(at) => wake = Some(wake.map_or(at, |w: Instant| w.min(at))),
                // Only an answer frees a slot: its message wakes us.
                None => {}
            }
            match windows.global.ready_at(now) {
                Some(at) if at <= now => {}
                Some(at) => {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    break;
                }
                None => break,
            }
        }
        for key in granted {
            if let Some(request) = waiting.remove(&key)
                && request.reply.send(()).is_err()
            {
                // Abandoned after the grant: give the slot back.
                windows.release(request.chat);
            }
        }
        windows.forget_idle(now);
        let received = match wake {
            Some(at) => tokio::select! {
                m = messages.recv() => m,
                _ = tokio::time::sleep_until(at) => continue,
            },
            None => messages.recv().await,
        };
        let Some(message) = received else { return };
        let mut next = Some(message);
        while let Some(message) = next {
            match message {
                Message::Acquire(key, request) => {
                    waiting.insert(key, request);
                }
                Message::Answered { chat, at } => windows.answered(chat, at),
            }
            next = messages.try_recv().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(global: u32, chat: u32, group_per_min: u32) -> Limits {
        Limits {
            global: Window::new(global, Duration::from_secs(1)),
            per_chat: Window::new(chat, Duration::from_secs(1)),
            per_group: Window::new(group_per_min, Duration::from_secs(60)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_gets_one_message_per_second() {
        let limiter = Limiter::new(Some(limits(30, 1, 20)));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..3 {
            drop(limiter.acquire(42, Cost::Message, 1).await);
            at.push(start.elapsed());
        }
        assert_eq!(at[0], Duration::ZERO);
        assert!(at[1] >= Duration::from_secs(1) && at[1] < Duration::from_millis(1100), "{at:?}");
        assert!(at[2] >= Duration::from_secs(2) && at[2] < Duration::from_millis(2200), "{at:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_gets_its_per_minute_allowance_then_waits_a_minute() {
        let limiter = Limiter::new(Some(limits(30, 100, 20)));
        let start = Instant::now();
        for _ in 0..20 {
            drop(limiter.acquire(-100, Cost::Message, 1).await);
        }
        assert!(start.elapsed() < Duration::from_millis(10));
        drop(limiter.acquire(-100, Cost::Message, 1).await);
        assert!(start.elapsed() >= Duration::from_secs(60), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn premium_waiters_are_granted_before_earlier_regular_ones() {
        let limiter = Limiter::new(Some(limits(30, 1, 20)));
        drop(limiter.acquire(-100, Cost::Message, 1).await); // the window is now full for 1 s
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (priority, seq) in [(1, 1), (1, 2), (0, 3), (1, 4), (0, 5)] {
            let limiter = limiter.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                drop(limiter.acquire(-100, Cost::Message, priority).await);
                order.lock().unwrap().push(seq);
            }));
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![3, 5, 1, 2, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lane_that_floods_takes_one_turn_per_round() {
        // One lane asks for 30 sends in a row (each after the previous was
        // answered, as an outbox lane does); another asks once, after the
        // flood began. It is served in the next round, not after the flood.
        let limiter = Limiter::new(Some(limits(30, 1, 20)));
        let start = Instant::now();
        let flood = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                for _ in 0..30 {
                    drop(limiter.acquire(-100, Cost::Message, 1).await);
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(2500)).await;
        drop(limiter.acquire(-100, Cost::Message, 1).await);
        let waited = start.elapsed();
        assert!(waited < Duration::from_secs(5), "the single send waited {waited:?} behind the flood");
        flood.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_album_takes_a_slot_per_part() {
        let limiter = Limiter::new(Some(limits(30, 100, 20)));
        let start = Instant::now();
        drop(limiter.acquire_all(-100, Cost::Messages(15), 1).await);
        drop(limiter.acquire_all(-100, Cost::Messages(5), 1).await);
        assert!(start.elapsed() < Duration::from_millis(10), "20 parts fit the group's minute");
        drop(limiter.acquire_all(-100, Cost::Messages(2), 1).await);
        assert!(start.elapsed() >= Duration::from_secs(60), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_penalty_blocks_the_chat_until_it_elapses_even_when_limits_are_off() {
        for limiter in [Limiter::new(None), Limiter::new(Some(limits(30, 1, 20)))] {
            let start = Instant::now();
            limiter.penalize(-100, Duration::from_secs(9));
            drop(limiter.acquire(-100, Cost::Free, 0).await);
            assert!(start.elapsed() >= Duration::from_secs(9));
            // Other chats were never blocked.
            let other = Instant::now();
            limiter.penalize(-100, Duration::from_secs(9));
            drop(limiter.acquire(7, Cost::Message, 1).await);
            assert!(other.elapsed() < Duration::from_millis(10));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_limit_spreads_many_chats_over_time() {
        let limiter = Limiter::new(Some(limits(30, 1, 20)));
        let start = Instant::now();
        for chat in 0..90 {
            drop(limiter.acquire(chat + 1, Cost::Message, 1).await);
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2200), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_holds_its_slot_until_a_window_after_it_arrives() {
        // Telegram counts a request when it arrives; a request delayed on the
        // way must not end up closer to the next one than the window.
        let limiter = Limiter::new(Some(limits(30, 1, 20)));
        let start = Instant::now();
        let slow = limiter.acquire(42, Cost::Message, 1).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(slow);
        drop(limiter.acquire(42, Cost::Message, 1).await);
        assert!(start.elapsed() >= Duration::from_secs(4), "{:?}", start.elapsed());
        assert!(start.elapsed() < Duration::from_millis(4100), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_mode_grants_at_once() {
        let limiter = Limiter::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            drop(limiter.acquire(-100, Cost::Message, 1).await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
