//! Holds for refusals that depend on the support group's state (DESIGN §9:
//! nothing is lost).
//!
//! Telegram refuses some calls because of how the group is set up right now:
//! the bot lacks "Manage topics", was demoted to a member, or was removed.
//! Such a refusal is not permanent: once an admin fixes the group, the same
//! call succeeds. So instead of failing the job, the [`Courier`] closes a
//! *gate* for the group. Every later call behind that gate waits (in its
//! lane, so the lane keeps its order); one call at a time probes whether the
//! group was fixed, after a back-off that grows to [`MAX_PROBE_INTERVAL`].
//! The first success opens the gate and every waiting call goes on.
//!
//! Two gates per group, because losing "Manage topics" does not stop posts
//! into existing topics: [`Hold::Topics`] (creating, closing and reopening
//! topics) and [`Hold::Group`] (anything at all in the group).
//!
//! [`Courier`]: super::Courier

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use teloxide::{ApiError, RequestError};
use tokio::{sync::Notify, time::Instant};

/// What a group-state refusal blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hold {
    /// Nothing can be posted in the group: the bot was removed, or may not
    /// write there.
    Group,
    /// Topics cannot be created or managed: the bot lacks "Manage topics"
    /// (or the group is not a forum).
    Topics,
}

/// First wait before probing a closed gate again; doubles on each refusal.
const FIRST_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait between two probes: a fixed group is noticed within this.
pub const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(8);

/// The gates a call to `method` in a group must pass, in order.
pub fn gates_of(method: &str, chat: i64) -> &'static [Hold] {
    if chat >= 0 {
        return &[];
    }
    match method {
        // A missing pin right only costs the pin: logged, never held.
        "pinChatMessage" | "unpinChatMessage" => &[],
        m if manages_topics(m) => &[Hold::Group, Hold::Topics],
        _ => &[Hold::Group],
    }
}

fn manages_topics(method: &str) -> bool {
    matches!(method, "createForumTopic" | "closeForumTopic" | "reopenForumTopic" | "editForumTopic")
}

/// Whether `error`, answered to `method` in group `chat`, is a refusal that
/// depends on the group's state, and which gate it closes.
pub fn hold_for(method: &str, chat: i64, error: &RequestError) -> Option<Hold> {
    if gates_of(method, chat).is_empty() {
        return None;
    }
    let RequestError::Api(api) = error else { return None };
    match api {
        ApiError::BotKicked | ApiError::BotKickedFromSupergroup | ApiError::ChatNotFound => Some(Hold::Group),
        ApiError::Unknown(description) => {
            let d = description.as_str();
            let membership =
                ["bot is not a member", "bot was kicked", "CHAT_WRITE_FORBIDDEN", "CHAT_RESTRICTED"];
            if membership.iter().any(|m| d.contains(m)) {
                return Some(Hold::Group);
            }
            let rights = d.contains("not enough rights")
                || d.contains("have no rights")
                || d.contains("CHAT_ADMIN_REQUIRED")
                || d.contains("the chat is not a forum");
            match (rights, manages_topics(method)) {
                (true, true) => Some(Hold::Topics),
                (true, false) => Some(Hold::Group),
                _ => None,
            }
        }
        _ => None,
    }
}

#[derive(Debug)]
struct Gate {
    /// No probe before this.
    until: Instant,
    backoff: Duration,
    /// A call is probing right now; the others wait for its answer.
    probing: bool,
}

/// The gates of every group; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Gates {
    closed: Arc<Mutex<HashMap<(i64, Hold), Gate>>>,
    changed: Arc<Notify>,
}

/// What passing the gates gave a call: the gates it probes. Dropping it
/// without [`Gates::answered`] (the call was cancelled) lets another probe.
#[derive(Debug)]
pub struct Pass {
    gates: Gates,
    chat: i64,
    probing: Vec<Hold>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        if self.probing.is_empty() {
            return;
        }
        let mut closed = self.gates.lock();
        for hold in self.probing.drain(..) {
            if let Some(gate) = closed.get_mut(&(self.chat, hold)) {
                gate.probing = false;
            }
        }
        drop(closed);
        self.gates.changed.notify_waiters();
    }
}

impl Gates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, Hold), Gate>> {
        self.closed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `hold` is closed for `chat` right now.
    pub fn is_closed(&self, chat: i64, hold: Hold) -> bool {
        self.lock().contains_key(&(chat, hold))
    }

    /// Waits until a call to `method` in `chat` may be made: every gate it
    /// must pass is open, or it is this call's turn to probe one.
    pub async fn pass(&self, method: &str, chat: i64) -> Pass {
        let holds = gates_of(method, chat);
        loop {
            // Registered before checking, so an opening in between is seen.
            let changed = self.changed.notified();
            let wait = {
                let mut closed = self.lock();
                let now = Instant::now();
                let mut wait: Option<Option<Instant>> = None;
                for hold in holds {
                    match closed.get(&(chat, *hold)) {
                        None => {}
                        Some(gate) if gate.probing => wait = Some(None),
                        Some(gate) if gate.until > now => wait = Some(Some(gate.until)),
                        Some(_) => {}
                    }
                    if wait.is_some() {
                        break;
                    }
                }
                match wait {
                    Some(wait) => wait,
                    None => {
                        let mut probing = Vec::new();
                        for hold in holds {
                            if let Some(gate) = closed.get_mut(&(chat, *hold)) {
                                gate.probing = true;
                                probing.push(*hold);
                            }
                        }
                        return Pass { gates: self.clone(), chat, probing };
                    }
                }
            };
            match wait {
                Some(until) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                // A probe is out: its answer notifies; the timeout only
                // guards against a lost wake-up.
                None => {
                    let _ = tokio::time::timeout(MAX_PROBE_INTERVAL, changed).await;
                }
            }
        }
    }

    /// Records the answer of a call that passed: a hold closes (or stays
    /// closed, with a longer back-off) its gate; anything else opens the
    /// gates the call was subject to. Returns whether a gate opened.
    pub fn answered(&self, mut pass: Pass, method: &str, hold: Option<Hold>) -> bool {
        let chat = pass.chat;
        pass.probing.clear();
        let mut closed = self.lock();
        let opened = match hold {
            Some(hold) => {
                let gate = closed.entry((chat, hold)).or_insert(Gate {
                    until: Instant::now(),
                    backoff: FIRST_PROBE_INTERVAL,
                    probing: false,
                });
                gate.until = Instant::now() + gate.backoff;
                gate.backoff = (gate.backoff * 2).min(MAX_PROBE_INTERVAL);
                gate.probing = false;
                false
            }
            None => {
                let mut opened = false;
                for hold in gates_of(method, chat) {
                    opened |= closed.remove(&(chat, *hold)).is_some();
                }
                opened
            }
        };
        drop(closed);
        self.changed.notify_waiters();
        opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(text: &str) -> RequestError {
        RequestError::Api(ApiError::Unknown(text.to_owned()))
    }

    #[test]
    fn group_state_refusals_are_holds_and_others_are_not() {
        let group = -100;
        let rights = unknown("Bad Request: not enough rights to create a topic");
        assert_eq!(hold_for("createForumTopic", group, &rights), Some(Hold::Topics));
        let member = unknown("Forbidden: bot is not a member of the supergroup chat");
        assert_eq!(hold_for("sendMessage", group, &member), Some(Hold::Group));
        assert_eq!(hold_for("createForumTopic", group, &member), Some(Hold::Group));
        let kicked = RequestError::Api(ApiError::BotKickedFromSupergroup);
        assert_eq!(hold_for("copyMessage", group, &kicked), Some(Hold::Group));
        let send = unknown("Bad Request: not enough rights to send text messages to the chat");
        assert_eq!(hold_for("sendMessage", group, &send), Some(Hold::Group));
        // Not about the group's state.
        assert_eq!(hold_for("copyMessage", group, &unknown("Bad Request: message can't be copied")), None);
        assert_eq!(hold_for("sendMessage", group, &unknown("Bad Request: TOPIC_CLOSED")), None);
        // A missing pin right is never a hold, and private chats have no gates.
        let pin = RequestError::Api(ApiError::NotEnoughRightsToManagePins);
        assert_eq!(hold_for("pinChatMessage", group, &pin), None);
        assert_eq!(hold_for("sendMessage", 42, &RequestError::Api(ApiError::ChatNotFound)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_gate_lets_one_probe_through_after_its_backoff_and_opens_on_success() {
        let gates = Gates::default();
        let group = -100;
        let pass = gates.pass("createForumTopic", group).await;
        assert!(!gates.answered(pass, "createForumTopic", Some(Hold::Topics)));
        assert!(gates.is_closed(group, Hold::Topics));
        // Posting into existing topics is not held by the topics gate.
        let start = Instant::now();
        let post = gates.pass("sendMessage", group).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        drop(post);
        // A topic call waits for the back-off, then probes alone.
        let probe = gates.pass("createForumTopic", group).await;
        assert!(start.elapsed() >= FIRST_PROBE_INTERVAL);
        let other = {
            let gates = gates.clone();
            tokio::spawn(async move {
                let _pass = gates.pass("createForumTopic", group).await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!other.is_finished(), "a second call waits while the probe is out");
        let answered_at = Instant::now();
        assert!(gates.answered(probe, "createForumTopic", None));
        let passed_at = other.await.expect("waiter");
        assert_eq!(passed_at, answered_at, "waiters go on as soon as the probe succeeded");
        assert!(!gates.is_closed(group, Hold::Topics));
    }

    #[tokio::test(start_paused = true)]
    async fn the_backoff_grows_to_its_cap_and_a_cancelled_probe_frees_the_turn() {
        let gates = Gates::default();
        let group = -7;
        let mut last = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..6 {
            let pass = gates.pass("sendMessage", group).await;
            waits.push(Instant::now() - last);
            last = Instant::now();
            gates.answered(pass, "sendMessage", Some(Hold::Group));
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, vec![0, 1, 2, 4, 8, 8]);
        let probe = gates.pass("sendMessage", group).await;
        drop(probe);
        let start = Instant::now();
        let again = gates.pass("sendMessage", group).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "a dropped probe lets the next call probe at once");
        drop(again);
    }
}
