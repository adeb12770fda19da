//! An injectable clock, so time-dependent logic is testable without sleeping.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// The source of "now".
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// The current time as unix milliseconds, the storage representation.
    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Shared clock handle, injected into services.
pub type SharedClock = Arc<dyn Clock>;
