//! Noticing a customer who sends faster than the support group can take
//! (DESIGN §12, fair share): more than [`LIMIT`] messages within [`WINDOW_MS`]
//! earns one polite notice; nothing they sent is dropped. The notice is not
//! repeated until the customer has been quiet for a whole window.

use std::collections::{HashMap, VecDeque};

/// Messages a customer may send within [`WINDOW_MS`] without a notice.
pub const LIMIT: usize = 20;
/// The window, in milliseconds.
pub const WINDOW_MS: i64 = 10_000;
/// Chats remembered before quiet ones are forgotten.
const MAX_CHATS: usize = 4096;

#[derive(Debug, Default)]
struct Recent {
    /// When the last messages came (at most `LIMIT + 1`), oldest first.
    times: VecDeque<i64>,
    /// This burst was already noticed.
    told: bool,
}

/// Recent message times per customer chat.
#[derive(Debug, Default)]
pub struct Bursts {
    chats: HashMap<i64, Recent>,
}

impl Bursts {
    /// Notes a message from `chat` at `now_ms`; `true` when this one takes
    /// the customer over the limit for the first time in this burst (tell
    /// them now).
    pub fn note(&mut self, chat: i64, now_ms: i64) -> bool {
        if self.chats.len() >= MAX_CHATS && !self.chats.contains_key(&chat) {
            self.chats.retain(|_, r| r.times.back().is_some_and(|t| now_ms - t < WINDOW_MS));
        }
        let recent = self.chats.entry(chat).or_default();
        // An update handled late (an older date) counts as arriving with the
        // newest one seen: a late message never looks like a new burst.
        let now_ms = recent.times.back().map_or(now_ms, |last| now_ms.max(*last));
        if recent.times.back().is_none_or(|t| now_ms - t >= WINDOW_MS) {
            // Quiet for a whole window: a new burst may be noticed again.
            recent.told = false;
        }
        recent.times.push_back(now_ms);
        while recent.times.front().is_some_and(|t| now_ms - t >= WINDOW_MS) || recent.times.len() > LIMIT + 1
        {
            recent.times.pop_front();
        }
        if recent.times.len() > LIMIT && !recent.told {
            recent.told = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twenty_first_message_in_ten_seconds_is_noticed_once() {
        let mut bursts = Bursts::default();
        let told: Vec<bool> = (0..60).map(|i| bursts.note(7, i * 100)).collect();
        assert_eq!(told.iter().filter(|t| **t).count(), 1, "one notice for the whole burst");
        assert!(told[20] && !told[19], "the 21st message is the one over the limit");
        // Another customer is counted apart.
        assert!(!bursts.note(8, 6_000));
    }

    #[test]
    fn a_steady_pace_under_the_limit_is_never_noticed() {
        let mut bursts = Bursts::default();
        // One message every 600 ms: 17 in any 10 s.
        assert!((0..200).all(|i| !bursts.note(7, i * 600)));
    }

    #[test]
    fn a_late_message_with_an_older_date_does_not_start_a_new_burst() {
        let mut bursts = Bursts::default();
        assert_eq!((0..25).filter(|i| bursts.note(7, 50_000 + i * 10)).count(), 1);
        assert!(!bursts.note(7, 30_000), "handled late, dated earlier");
        assert_eq!((0..25).filter(|i| bursts.note(7, 50_300 + i * 10)).count(), 0, "the same burst");
    }

    #[test]
    fn a_new_burst_after_a_quiet_window_is_noticed_again() {
        let mut bursts = Bursts::default();
        assert_eq!((0..25).filter(|i| bursts.note(7, i * 10)).count(), 1);
        // Still busy a little later: no second notice.
        assert_eq!((0..25).filter(|i| bursts.note(7, 5_000 + i * 10)).count(), 0);
        // Quiet for 10 s, then another burst.
        assert_eq!((0..25).filter(|i| bursts.note(7, 20_000 + i * 10)).count(), 1);
    }
}
