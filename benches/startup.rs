//! Start-up time (issue 11): from launching the release `topicdesk` binary
//! to its first `getUpdates`, with a healthy support group and SQLite,
//! against the Bot API simulator (no network latency: what is measured is
//! the bot's own work, the database and the calls it makes before polling).
//! Target: under 500 ms. Also counts the Bot API calls made before the first
//! poll; the group check adds at most two (`getChat`, `getChatMember`).
//!
//! Run: `cargo bench --bench startup`. Two cases, 10 starts each:
//! - *fresh*: a new database file (migrations run);
//! - *existing*: the same file again (the common restart).

#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use support::{
    bot::free_port,
    sim::{BotApiSim, SUPPORT_GROUP_ID, TOKEN},
};

const RUNS: usize = 10;
const TARGET: Duration = Duration::from_millis(500);

/// Starts the binary on `db` and returns the time to its first
/// `getUpdates` and the calls it made before.
async fn one_start(sim: &BotApiSim, db: &std::path::Path) -> (Duration, Vec<String>) {
    let before = sim.calls().len();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_topicdesk"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("TELOXIDE_API_URL", sim.api_url().as_str())
        .env("SUPPORT_GROUP_ID", SUPPORT_GROUP_ID.to_string())
        .env("ADMIN_IDS", "1")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let polled = loop {
        let calls = sim.calls();
        if let Some(at) = calls[before..].iter().position(|c| c.method == "getUpdates") {
            break (started.elapsed(), calls[before..before + at].iter().map(|c| c.method.clone()).collect());
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no getUpdates within 20 s");
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let _ = child.wait();
    polled
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "startup {label}: median {:.1?} (min {:.1?}, max {:.1?}) over {} starts {}",
        median,
        times[0],
        times[times.len() - 1],
        times.len(),
        if median < TARGET { "PASS < 500 ms" } else { "MISS >= 500 ms" }
    );
}

#[tokio::main]
async fn main() {
    let sim = BotApiSim::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut fresh = Vec::new();
    let mut existing = Vec::new();
    let mut before_poll = Vec::new();
    for run in 0..RUNS {
        let db = dir.path().join(format!("startup-{run}.db"));
        let (time, calls) = one_start(&sim, &db).await;
        fresh.push(time);
        before_poll = calls;
        let (time, _) = one_start(&sim, &db).await;
        existing.push(time);
    }
    report("fresh database", fresh);
    report("existing database", existing);
    let group_checks = before_poll.iter().filter(|m| *m == "getChat" || *m == "getChatMember").count();
    println!("calls before the first getUpdates: {before_poll:?} ({group_checks} for the group check)");
}
