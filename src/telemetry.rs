//! Structured logging with an env filter (`RUST_LOG`, default `info`).

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber. Safe to call more than once (later calls
/// are ignored), so tests can call it too.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: log files and journald would show the
    // escape codes raw.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Like [`init`], but through the test harness's capture, so passing tests
/// stay quiet and failing ones show their logs.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt().with_env_filter(filter).with_target(false).with_test_writer().try_init();
}

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Metric names, in one place so dashboards and tests agree.
pub mod names {
    pub const UPDATES: &str = "topicdesk_updates_total";
    pub const TICKETS_OPENED: &str = "topicdesk_tickets_opened_total";
    pub const ASSIGNMENTS: &str = "topicdesk_assignments_total";
    pub const OVERRIDES: &str = "topicdesk_premium_overrides_total";
    pub const ESCALATIONS: &str = "topicdesk_escalations_total";
    pub const CRM_DURATION: &str = "topicdesk_crm_webhook_duration_seconds";
    pub const CRM_FAILURES: &str = "topicdesk_crm_webhook_failures_total";
    pub const BOT_API_ERRORS: &str = "topicdesk_bot_api_errors_total";
    pub const QUEUE_LENGTH: &str = "topicdesk_queue_length";
    pub const INBOX_PENDING: &str = "topicdesk_inbox_pending";
    pub const OUTBOX_PENDING: &str = "topicdesk_outbox_pending";
    pub const OUTBOX_FAILED: &str = "topicdesk_outbox_failed";
    pub const DELIVERIES: &str = "topicdesk_deliveries_total";
    pub const GROUP_MESSAGES_PER_MINUTE: &str = "topicdesk_group_messages_per_minute";
    pub const GROUP_LONGEST_WAIT: &str = "topicdesk_group_longest_wait_seconds";
    pub const LAST_API_SUCCESS: &str = "topicdesk_last_bot_api_success_timestamp_seconds";
}

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
/// Milliseconds after [`process_start`] of the last successful Bot API call, plus one.
static LAST_API_SUCCESS: AtomicU64 = AtomicU64::new(0);

/// Installs the Prometheus recorder once per process and returns its handle
/// (`None` if another recorder was installed first, e.g. by an embedding app).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::CRM_DURATION.to_owned()),
                    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(names::UPDATES, "Telegram updates handled, by kind and outcome");
    describe_counter!(names::TICKETS_OPENED, "Tickets opened, by customer tier");
    describe_counter!(names::ASSIGNMENTS, "Ticket assignments, by routing rule");
    describe_counter!(names::OVERRIDES, "Premium tickets re-routed by the time-in-queue override");
    describe_counter!(names::ESCALATIONS, "Re-assignments away from an agent (override or /reassign)");
    describe_histogram!(names::CRM_DURATION, "Duration of CRM enrichment webhook calls");
    describe_counter!(names::CRM_FAILURES, "Failed CRM enrichment calls, by reason");
    describe_counter!(names::BOT_API_ERRORS, "Bot API errors, by method and error code");
    describe_gauge!(names::QUEUE_LENGTH, "Open tickets waiting for an agent");
    describe_gauge!(names::INBOX_PENDING, "Updates received but not yet handled");
    describe_gauge!(names::OUTBOX_PENDING, "Messages in the outbox not yet accepted by Telegram");
    describe_gauge!(names::OUTBOX_FAILED, "Messages Telegram refused for good (kept for 48 h)");
    describe_counter!(names::DELIVERIES, "Outbox jobs finished, by kind and outcome");
    describe_gauge!(
        names::GROUP_MESSAGES_PER_MINUTE,
        "Messages the bot sent into the support group in the last full minute (Telegram allows about 20)"
    );
    describe_gauge!(
        names::GROUP_LONGEST_WAIT,
        "Longest time a message sent into the group in the last full minute waited in the outbox"
    );
    describe_gauge!(names::LAST_API_SUCCESS, "Unix time of the last successful Bot API call");
}

/// Notes a successful Bot API call (for `/healthz` and the metric).
///
/// One clock for both: a monotonic one, so a wall clock set back or forth
/// (or a test's simulated clock) never makes the Bot API look stale.
pub fn bot_api_ok() {
    let since_start = u64::try_from(process_start().elapsed().as_millis()).unwrap_or(u64::MAX);
    // +1: zero means "never".
    LAST_API_SUCCESS.store(since_start.saturating_add(1), Ordering::Relaxed);
}

/// How long ago the last successful Bot API call was, if there was one.
pub fn bot_api_age() -> Option<std::time::Duration> {
    let stored = LAST_API_SUCCESS.load(Ordering::Relaxed);
    if stored == 0 {
        return None;
    }
    let at = std::time::Duration::from_millis(stored - 1);
    Some(process_start().elapsed().saturating_sub(at))
}

/// The unix time of the last successful Bot API call, in seconds (for the
/// gauge), derived from its age.
pub fn bot_api_ok_unix_seconds() -> Option<f64> {
    let age = bot_api_age()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(now.saturating_sub(age).as_secs_f64())
}

fn process_start() -> std::time::Instant {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

/// How often memory freed after a burst is handed back to the system.
const RELEASE_MEMORY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Hands memory freed after a burst back to the system, every
/// [`RELEASE_MEMORY_EVERY`]. glibc's allocator keeps what it freed in its
/// per-thread arenas for reuse: after 10,000 intakes in bursts of 1,000, the
/// bot's live heap was back to a few megabytes but its resident memory
/// stayed 27 MB higher (BENCHMARKS.md §4 E). Elsewhere (musl, other
/// systems) this does nothing.
pub async fn release_memory(shutdown: tokio_util::sync::CancellationToken) {
    let mut interval = tokio::time::interval(RELEASE_MEMORY_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        // It walks every arena: off the async workers.
        if let Err(error) = tokio::task::spawn_blocking(trim).await {
            tracing::debug!(%error, "memory release did not run");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists under
    // its locks; it takes no pointers from us and is safe to call from any
    // thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
