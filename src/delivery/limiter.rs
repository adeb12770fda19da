//! Proactive flood control (DESIGN §9): Telegram allows about 30 messages/s
//! overall, 1/s per chat and 20/min per group. Every send asks the limiter
//! first; when the bot must wait, waiting sends are granted by priority
//! (premium first), then in the order they were queued.
//!
//! The windows are sliding, like Telegram's (and the simulator's): a send is
//! allowed when fewer than `count` sends were granted in the last `per`. A
//! small margin covers the time between our grant and Telegram's clock.
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

/// At most `count` sends in any `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub count: u32,
    pub per: Duration,
}

impl Window {
    /// `count` per `per`.
    pub const fn new(count: u32, per: Duration) -> Self {
        Self { count, per }
    }
}

/// The three limits Telegram applies to sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// All chats together.
    pub global: Window,
    /// One chat (private or group).
    pub per_chat: Window,
    /// One group chat, over a longer window.
    pub per_group: Window,
}

impl Limits {
    /// Telegram's documented limits (Bot API FAQ).
    pub const TELEGRAM: Limits = Limits {
        global: Window::new(30, Duration::from_secs(1)),
        per_chat: Window::new(1, Duration::from_secs(1)),
        per_group: Window::new(20, Duration::from_secs(60)),
    };
}

/// Safety margin added to each window: our grant precedes Telegram's
/// arrival time by a network hop, and hops vary.
fn margin(per: Duration) -> Duration {
    (per / 50).max(Duration::from_millis(15))
}

/// A sliding window of recent grants.
#[derive(Debug)]
struct Slider {
    window: Window,
    grants: VecDeque<Instant>,
}

impl Slider {
    fn new(window: Window) -> Self {
        Self { window, grants: VecDeque::new() }
    }

    /// When the next grant is allowed.
    fn ready_at(&mut self, now: Instant) -> Instant {
        let span = self.window.per + margin(self.window.per);
        while self.grants.front().is_some_and(|t| now.saturating_duration_since(*t) >= span) {
            self.grants.pop_front();
        }
        let count = self.window.count.max(1) as usize;
        if self.grants.len() < count { now } else { self.grants[self.grants.len() - count] + span }
    }

    fn record(&mut self, at: Instant) {
        self.grants.push_back(at);
    }

    fn is_idle(&mut self, now: Instant) -> bool {
        self.ready_at(now) <= now && self.grants.is_empty()
    }
}

/// What a send counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// A message (send, copy, topic creation): counts against every window.
    Message,
    /// A call that posts nothing (pin, close a topic): only waits out a 429.
    Free,
}

struct Request {
    chat: i64,
    reply: oneshot::Sender<()>,
}

type Penalties = Arc<Mutex<HashMap<i64, Instant>>>;

/// Handle to the limiter; cheap to clone.
#[derive(Clone, Debug)]
pub struct Limiter {
    requests: Option<mpsc::UnboundedSender<(Key, Request)>>,
    penalties: Penalties,
}

/// Waiters are granted in key order: priority, then sequence.
type Key = (i32, i64, u64);

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

    /// Waits until a call to `chat` may be made. Lower `priority` goes
    /// first; among equals, lower `seq`.
    pub async fn acquire(&self, chat: i64, cost: Cost, priority: i32, seq: i64) {
        while let Some(until) = self.blocked_until(chat) {
            tokio::time::sleep_until(until).await;
        }
        let Some(requests) = self.requests.as_ref().filter(|_| cost == Cost::Message) else { return };
        let (reply, granted) = oneshot::channel();
        let key = (priority, seq, next_tiebreak());
        if requests.send((key, Request { chat, reply })).is_ok() {
            // The scheduler checks the penalty again when granting. An error
            // means it is gone (the runtime is shutting down).
            let _ = granted.await;
        }
    }
}

fn next_tiebreak() -> u64 {
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

impl Windows {
    fn ready_at(&mut self, chat: i64, now: Instant) -> Instant {
        let limits = self.limits;
        let mut at = self.global.ready_at(now);
        at = at.max(self.chats.entry(chat).or_insert_with(|| Slider::new(limits.per_chat)).ready_at(now));
        if chat < 0 {
            at = at
                .max(self.groups.entry(chat).or_insert_with(|| Slider::new(limits.per_group)).ready_at(now));
        }
        at
    }

    fn record(&mut self, chat: i64, now: Instant) {
        self.global.record(now);
        if let Some(s) = self.chats.get_mut(&chat) {
            s.record(now);
        }
        if let Some(s) = self.groups.get_mut(&chat) {
            s.record(now);
        }
    }

    fn forget_idle(&mut self, now: Instant) {
        if self.chats.len() > 4096 {
            self.chats.retain(|_, s| !s.is_idle(now));
        }
    }
}

async fn schedule(
    limits: Limits,
    mut requests: mpsc::UnboundedReceiver<(Key, Request)>,
    penalties: Penalties,
) {
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
            let ready = windows.ready_at(request.chat, now).max(blocked.unwrap_or(now));
            if ready <= now {
                windows.record(request.chat, now);
                granted.push(*key);
            } else {
                wake = Some(wake.map_or(ready, |w: Instant| w.min(ready)));
            }
            if windows.global.ready_at(now) > now {
                wake =
                    Some(wake.map_or(windows.global.ready_at(now), |w| w.min(windows.global.ready_at(now))));
                break;
            }
        }
        for key in granted {
            if let Some(request) = waiting.remove(&key) {
                let _ = request.reply.send(());
            }
        }
        windows.forget_idle(now);
        let received = match wake {
            Some(at) => tokio::select! {
                r = requests.recv() => r,
                _ = tokio::time::sleep_until(at) => continue,
            },
            None => requests.recv().await,
        };
        let Some((key, request)) = received else { return };
        waiting.insert(key, request);
        while let Ok((key, request)) = requests.try_recv() {
            waiting.insert(key, request);
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
        for seq in 0..3 {
            limiter.acquire(42, Cost::Message, 1, seq).await;
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
        for seq in 0..20 {
            limiter.acquire(-100, Cost::Message, 1, seq).await;
        }
        assert!(start.elapsed() < Duration::from_millis(10));
        limiter.acquire(-100, Cost::Message, 1, 20).await;
        assert!(start.elapsed() >= Duration::from_secs(60), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn premium_waiters_are_granted_before_earlier_regular_ones() {
        let limiter = Limiter::new(Some(limits(30, 1, 20)));
        limiter.acquire(-100, Cost::Message, 1, 0).await; // the window is now full for 1 s
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (priority, seq) in [(1, 1), (1, 2), (0, 3), (1, 4), (0, 5)] {
            let limiter = limiter.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                limiter.acquire(-100, Cost::Message, priority, seq).await;
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
    async fn a_penalty_blocks_the_chat_until_it_elapses_even_when_limits_are_off() {
        for limiter in [Limiter::new(None), Limiter::new(Some(limits(30, 1, 20)))] {
            let start = Instant::now();
            limiter.penalize(-100, Duration::from_secs(9));
            limiter.acquire(-100, Cost::Free, 0, 0).await;
            assert!(start.elapsed() >= Duration::from_secs(9));
            // Other chats were never blocked.
            let other = Instant::now();
            limiter.penalize(-100, Duration::from_secs(9));
            limiter.acquire(7, Cost::Message, 1, 1).await;
            assert!(other.elapsed() < Duration::from_millis(10));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_limit_spreads_many_chats_over_time() {
        let limiter = Limiter::new(Some(limits(30, 1, 20)));
        let start = Instant::now();
        for chat in 0..90 {
            limiter.acquire(chat + 1, Cost::Message, 1, chat).await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2200), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_mode_grants_at_once() {
        let limiter = Limiter::new(None);
        let start = Instant::now();
        for seq in 0..1000 {
            limiter.acquire(-100, Cost::Message, 1, seq).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
