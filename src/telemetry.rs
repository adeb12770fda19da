//! Structured logging with an env filter (`RUST_LOG`, default `info`).

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber. Safe to call more than once (later calls
/// are ignored), so tests can call it too.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

/// Like [`init`], but through the test harness's capture, so passing tests
/// stay quiet and failing ones show their logs.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt().with_env_filter(filter).with_target(false).with_test_writer().try_init();
}
