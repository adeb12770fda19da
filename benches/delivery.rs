//! Delivery throughput and flood-control utilisation of the REAL binary.
//!
//! ```sh
//! cargo bench --bench delivery                      # both scenarios (≈ 4–5 min)
//! DELIVERY_BENCH=a cargo bench --bench delivery     # only the burst (≈ 20 s)
//! DELIVERY_BENCH=b cargo bench --bench delivery     # only the overload (≈ 3.3 min)
//! DELIVERY_BENCH=c cargo bench --bench delivery     # only the topic outage (≈ 1.5 min)
//! ```
//!
//! The bot is the release `topicdesk` binary (`CARGO_BIN_EXE_topicdesk`,
//! built by `cargo bench` with the bench profile), started as a child process
//! with a clean environment, a fresh SQLite file in its own temp dir and
//! `RUST_LOG=info` (the binary's default; `RUST_LOG` overrides it), its log
//! written to a file. The Bot API simulator (`tests/support/sim.rs`) runs in
//! this process on a tokio runtime; the driver runs on the main thread and
//! talks to the simulator directly (no HTTP). Bot, simulator and driver share
//! the machine's cores. The bot's figures come from the kernel, not from the
//! bot: CPU = `utime + stime` of `/proc/<pid>/stat` (all threads, in clock
//! ticks, `getconf CLK_TCK`, 10 ms each at 100 Hz), peak RSS = `VmHWM` of
//! `/proc/<pid>/status`. Every run starts a fresh simulator, database and bot.
//!
//! Scenario A — a burst, `RATE_LIMITS=off`, the simulator enforces nothing
//! and answers at once. 50 customers go through intake concurrently (`/start`
//! → the billing button → a description, as `TestBot::open_ticket` does),
//! then the driver waits until all 50 forum topics exist with their internal
//! note pinned and the outbox is empty. No agent exists (relaying does not
//! need one). Idle CPU over 1 s is measured, then the CPU counter is read and
//! the clock starts: 2,000 private texts are injected at once (round-robin
//! over the customers: `c{i}-m{n}` for n = 0..40, i = 0..50). Every ~1 ms the
//! driver reads only the support group's *new* messages (a cursor over
//! message ids, so a poll costs the same however many are there); the clock
//! stops when the 2,000th copy is there, and the CPU counter is read again.
//! Reported per run: messages/s = 2,000 / (injection start → last copy seen),
//! CPU ms per message = CPU delta / 2,000, peak RSS (VmHWM, which includes the
//! intake); for diagnosis: the kernel part of that CPU (`stime`), CPU and
//! context switches (voluntary + involuntary) per thread name
//! (`/proc/<pid>/task/*/{stat,status}`), this process's CPU (simulator and
//! driver, which compete with the bot for the cores), the bot's CPU until
//! its outbox and inbox are drained; and the checks: lost (a marker
//! never copied within 60 s), reordered (a copy that arrives after a later
//! message of the same customer), misplaced (a copy outside the customer's
//! topic), duplicated. Three runs and the median; targets: ≥ 2,500 msg/s,
//! ≤ 0.3 ms CPU per message, < 40 MB peak RSS (MB = 10^6 bytes), 0 lost,
//! 0 reordered.
//!
//! Scenario B — one group overloaded, `RATE_LIMITS=telegram` in the bot and
//! Telegram's limits in the simulator (`RateLimits::default()`: 30/s
//! overall, 1/s per chat, 20/min per group; the simulator answers 429 with
//! `retry_after` above them). 10 customers go through intake (no wait for
//! their topics: each ticket's topic and note are 2 of the group's
//! messages). Right after the descriptions, each customer sends 3 texts, then
//! one customer (round-robin) sends one text every second: 60/min offered
//! into a group that takes 20/min. The window starts at the first message
//! the simulator accepted into the group (the first `createForumTopic`) and
//! lasts 180 s. Utilisation = messages the simulator created in the support
//! group within the window (successful `createForumTopic`, `sendMessage`,
//! `copyMessage`, … calls, from the simulator's call log) ÷ (20/min × the
//! window). Because Telegram's 20/min window slides, the count in a fixed
//! window depends on where the window starts; so the long-run rate is printed
//! too: the time from the 1st to the 61st accepted message (ideally 180 s),
//! as a percentage of 20/min. 429s = `rate_limited_count()` of the simulator.
//! After the window the offers stop, the driver waits until the simulator
//! has no unconfirmed update and the inbox has no unhandled row, then reads
//! the pending outbox rows (`done_at IS NULL AND failed_at IS NULL`) from the
//! SQLite file, and after that the group's messages (in that order, so a job
//! sent in between is seen in the group): every injected marker must be in
//! its topic or pending in the outbox (`to_topic` jobs, by source chat and
//! message id). Delivered copies are checked for order as in A, and for a
//! later message delivered while an earlier one is still pending.
//!
//! Scenario C — topic creation refused, then allowed again (DESIGN §9: a
//! refusal that depends on the group's state is not permanent). The bot is
//! a plain member of the group (the simulator's `demote_bot`: no "Manage
//! topics"), `RATE_LIMITS=off`. 200 customers go through intake and each
//! sends 2 texts (`c{i}-m{n}`); no topic can be created. 60 s after the
//! outage began, the bot is promoted again. Reported: the probes made during
//! the outage, the outbox rows failed (must be 0), the time from the
//! promotion until every topic exists with its pinned note, and until every
//! marker is in its own topic; lost, reordered, duplicated. Target: every
//! message within 30 s of the rights returning.
//!
//! Scenario D — relay latency (issue 12), `RATE_LIMITS=off`: 10 tickets,
//! then one message at a time: 300 photos with a caption, 40 albums of 5,
//! 300 edits of a relayed text. Latency = from just before the simulator
//! queues the update (the bot's long poll is waiting) to the arrival of the
//! bot's call (`copyMessage`, `copyMessages`, `editMessageText`) at the
//! simulator (`Call::at`). For an album the clock starts at its last part
//! and the collection window (`ALBUM_WAIT`, 1 s) is subtracted. p50, p90,
//! p99 (nearest rank), max; target p99 < 20 ms for each.
//!
//! Scenario E — memory (issue 12), `RATE_LIMITS=off`: after one warm-up
//! ticket and 12 s idle, `VmRSS` is the baseline; then 10,000 customers send
//! `/start` and stay in the intake, 10,000 more open tickets (in chunks of
//! 1,000) and each sends 20 texts (200,000 relays and id pairs); after
//! everything was handled and 12 s idle (the bot releases freed memory every
//! 10 s), `VmRSS` again. Target: growth
//! < 20 MB. Knobs `DELIVERY_E_INTAKES`, `DELIVERY_E_TICKETS`, `DELIVERY_E_CHUNK`
//! (1,000), `DELIVERY_E_MALLOC_ARENA_MAX` (passed to the bot as `MALLOC_ARENA_MAX`).
//!
//! `DELIVERY_BENCH=compare` — A's burst, interleaved run by run, on this
//! build, on `DELIVERY_PREV_BIN` (an earlier release build, when set) and
//! on a bare teloxide relay with no database (`examples/bare_relay.rs`,
//! built by the bench): bot CPU per message and the ratio to the bare relay.
//!
//! Knobs: `DELIVERY_BENCH` (`a`, `b`, `c`, `d`, `e`, `compare`; unset: a–e), `DELIVERY_A_RUNS` (3),
//! `DELIVERY_C_CUSTOMERS` (200), `DELIVERY_C_OUTAGE_SECS` (60),
//! `DELIVERY_B_WINDOW_SECS` (180), `DELIVERY_B_CUSTOMERS` (10),
//! `DELIVERY_PERF=<file>`: record the bot with `perf record` during the
//! first burst of A (that run's CPU figure includes perf's sampling cost);
//! `DELIVERY_PERF_FLAT=1`: the whole machine, without call graphs (cheaper);
//! `DELIVERY_BOT_LOG=<file>`: append the bot's log there after each run;
//! `DELIVERY_BOT_BIN=<path>`: run another build of the binary.
//! Results are printed as PASS or MISS, with a Markdown table to paste; the
//! benchmark never fails the build unless the bot cannot start at all.

#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use support::{
    bot::{free_port, ticket_number},
    sim::{BotApiSim, RateLimits, SUPPORT_GROUP_ID, SimMessage, SimUser, TOKEN},
};
use tokio::runtime::Runtime;

const A_CUSTOMERS: usize = 50;
const A_PER_CUSTOMER: usize = 40;
const A_RUNS: usize = 3;
const A_POLL: Duration = Duration::from_millis(1);
/// A copy not there this long after the injection counts as lost.
const A_TIMEOUT: Duration = Duration::from_secs(60);
const A_TARGET_MSGS_PER_SEC: f64 = 2500.0;
const A_TARGET_CPU_MS_PER_MSG: f64 = 0.3;
const A_TARGET_RSS_MB: f64 = 40.0;

const B_CUSTOMERS: usize = 10;
const B_WINDOW_SECS: u64 = 180;
/// Texts each customer sends at once right after the description.
const B_INITIAL_PER_CUSTOMER: usize = 3;
/// Then one text (from the next customer in turn) this often: 60/min.
const B_OFFER_EVERY: Duration = Duration::from_secs(1);
const B_POLL: Duration = Duration::from_millis(20);
/// Telegram's group limit.
const B_GROUP_PER_MIN: f64 = 20.0;
const B_TARGET_UTILISATION: f64 = 90.0;
/// How long after the window the run goes on, so the 61st message (due
/// ~180–184 s after the first) is seen for the long-run rate.
const B_AFTER_WINDOW: Duration = Duration::from_secs(6);

const C_CUSTOMERS: usize = 200;
/// Texts each customer sends after the description, while no topic can exist.
const C_PER_CUSTOMER: usize = 2;
const C_OUTAGE_SECS: u64 = 60;
const C_TIMEOUT: Duration = Duration::from_secs(120);
const C_TARGET_RECOVERY_SECS: f64 = 30.0;

const INTAKE_TIMEOUT: Duration = Duration::from_secs(60);
const DESCRIPTION: &str = "My last payment was charged twice; please refund one of them.";

// ---------------------------------------------------------------------------
// The bot as a child process
// ---------------------------------------------------------------------------

/// The release binary running against `sim`, on a fresh SQLite file.
struct BotProcess {
    child: Child,
    db_url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl BotProcess {
    fn start(sim: &BotApiSim, rate_limits: &str) -> BotProcess {
        Self::start_with(sim, rate_limits, &[])
    }

    /// As [`BotProcess::start`], with extra settings.
    fn start_with(sim: &BotApiSim, rate_limits: &str, extra: &[(&str, &str)]) -> BotProcess {
        Self::start_binary(&bot_binary(), sim, rate_limits, extra)
    }

    /// `binary` (topicdesk, another build of it, or the bare relay) against `sim`.
    fn start_binary(binary: &str, sim: &BotApiSim, rate_limits: &str, extra: &[(&str, &str)]) -> BotProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = format!("sqlite://{}", dir.path().join("topicdesk.db").display());
        let log = dir.path().join("bot.log");
        let out = File::create(&log).expect("bot log file");
        let err = out.try_clone().expect("bot log file");
        let child = Command::new(binary)
            // Run where no .env file is, with a clean environment.
            .env_clear()
            .current_dir(dir.path())
            .env("TELOXIDE_TOKEN", TOKEN)
            .env("TELOXIDE_API_URL", sim.api_url().as_str())
            .env("SUPPORT_GROUP_ID", SUPPORT_GROUP_ID.to_string())
            .env("DATABASE_URL", &db_url)
            .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("RATE_LIMITS", rate_limits)
            .env("RUST_LOG", log_level())
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start the topicdesk binary");
        let mut bot = BotProcess { child, db_url, log, _dir: dir };
        let started = Instant::now();
        while !sim.is_polling() {
            if let Ok(Some(status)) = bot.child.try_wait() {
                panic!("the bot exited at start ({status}):\n{}", bot.log_tail(30));
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the bot did not start polling within 20 s:\n{}",
                bot.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        bot
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `utime + stime` of every thread, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let (user, system) = self.cpu_split();
        user + system
    }

    /// (`utime`, `stime`) of every thread, in clock ticks.
    fn cpu_split(&self) -> (u64, u64) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        stat_split(&stat).unwrap_or((0, 0))
    }

    /// Every live thread: tid → (thread name, CPU ticks, context switches).
    fn threads(&self) -> HashMap<u32, ThreadStat> {
        let mut out = HashMap::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else { return out };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let switches = status
                .lines()
                .filter(|l| {
                    l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:")
                })
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
            if let Some((name, ticks)) = stat_ticks(&stat) {
                out.insert(tid, ThreadStat { name, ticks, switches });
            }
        }
        out
    }

    /// `VmHWM` (peak resident set) in kB.
    fn peak_rss_kb(&self) -> u64 {
        self.status_kb("VmHWM:")
    }

    /// `VmRSS` (resident set now) in kB.
    fn rss_kb(&self) -> u64 {
        self.status_kb("VmRSS:")
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the bot's log at `WARN` or `ERROR`.
    fn log_problems(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(strip_ansi)
            .filter(|l| l.split_whitespace().nth(1).is_some_and(|level| level == "WARN" || level == "ERROR"))
            .collect()
    }

    /// SIGTERM, then up to 20 s for a clean exit (SIGKILL after that).
    /// With `DELIVERY_BOT_LOG=<file>`, the bot's log is appended there.
    fn stop(mut self) {
        self.stop_child();
        if let Ok(path) = std::env::var("DELIVERY_BOT_LOG") {
            let log = std::fs::read(&self.log).unwrap_or_default();
            let kept = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &log));
            if let Err(error) = kept {
                println!("delivery: cannot keep the bot's log in {path}: {error}");
            }
        }
    }

    fn stop_child(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return,
                Ok(Some(status)) => {
                    println!("delivery: the bot exited with {status}; log tail:\n{}", self.log_tail(20));
                    return;
                }
                Ok(None) if started.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    println!("delivery: the bot did not stop within 20 s of SIGTERM; killing it");
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

/// The text without terminal colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One thread of the bot, from `/proc/<pid>/task/<tid>/{stat,status}`.
#[derive(Clone, Debug)]
struct ThreadStat {
    name: String,
    ticks: u64,
    switches: u64,
}

/// (utime, stime) from a `/proc/…/stat` line.
fn stat_split(stat: &str) -> Option<(u64, u64)> {
    let close = stat.rfind(')')?;
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    Some((fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?))
}

/// (thread name, utime + stime) from a `/proc/…/stat` line.
fn stat_ticks(stat: &str) -> Option<(String, u64)> {
    // The name is in parentheses and may contain spaces; after it come the
    // fields from state (3) on: utime and stime are fields 14 and 15.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// `utime + stime` of this process (the simulator and the driver).
fn own_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat_ticks(&stat).map_or(0, |(_, ticks)| ticks)
}

fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// The binary under test: this package's, or `DELIVERY_BOT_BIN` (to
/// compare builds).
fn bot_binary() -> String {
    std::env::var("DELIVERY_BOT_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_topicdesk").to_owned())
}

fn log_level() -> String {
    std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "info".to_owned())
}

/// A small read-only pool on the bot's SQLite file.
fn open_db(rt: &Runtime, url: &str) -> SqlitePool {
    let options = SqliteConnectOptions::from_str(url).expect("sqlite url").read_only(true);
    rt.block_on(SqlitePoolOptions::new().max_connections(1).connect_with(options)).expect("open the bot's db")
}

/// (pending outbox rows, failed outbox rows, unhandled inbox rows).
fn queue_counts(rt: &Runtime, db: &SqlitePool) -> (i64, i64, i64) {
    rt.block_on(
        sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT \
               (SELECT COUNT(*) FROM outbox WHERE done_at IS NULL AND failed_at IS NULL), \
               (SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL), \
               (SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL)",
        )
        .fetch_one(db),
    )
    .expect("count the queues")
}

/// Source (chat, message id) of every pending `to_topic` job.
fn pending_relays(rt: &Runtime, db: &SqlitePool) -> HashSet<(i64, i32)> {
    let rows: Vec<(String,)> = rt
        .block_on(
            sqlx::query_as("SELECT job FROM outbox WHERE done_at IS NULL AND failed_at IS NULL")
                .fetch_all(db),
        )
        .expect("read the outbox");
    rows.iter()
        .filter_map(|(job,)| serde_json::from_str::<Value>(job).ok())
        .filter(|job| job["kind"] == "to_topic")
        .filter_map(|job| {
            let chat = job["from_chat"].as_i64()?;
            let message = i32::try_from(job["message"].as_i64()?).ok()?;
            Some((chat, message))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Driving the simulator
// ---------------------------------------------------------------------------

/// Polls `done` every `every` until it holds; panics after `timeout`.
fn wait_until(
    sim: &BotApiSim,
    what: &str,
    timeout: Duration,
    every: Duration,
    mut done: impl FnMut() -> bool,
) {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > timeout {
            panic!("delivery: {what}: not done within {timeout:?}\n{}", sim.dump_calls(40));
        }
        std::thread::sleep(every);
    }
}

fn customers(first_id: i64, count: usize) -> Vec<SimUser> {
    (0..count).map(|i| SimUser::customer(first_id + i as i64, &format!("Customer {i}"))).collect()
}

/// Takes every customer through `/start` → the billing button → the
/// description, all at once; returns how many bot messages each chat had
/// before the description (the ticket's confirmation comes after).
fn intake(sim: &BotApiSim, customers: &[SimUser], poll: Duration) -> Vec<usize> {
    for c in customers {
        sim.private_command(c, "/start");
    }
    let mut menus: Vec<Option<(i32, String)>> = vec![None; customers.len()];
    wait_until(sim, "intake menus", INTAKE_TIMEOUT, poll, || {
        for (c, menu) in customers.iter().zip(menus.iter_mut()) {
            if menu.is_some() {
                continue;
            }
            if let Some(m) = sim.messages_in(c.id, None).iter().find(|m| !m.callback_data().is_empty()) {
                let data = m.callback_data().into_iter().find(|d| d.ends_with("/billing"));
                let data = data.unwrap_or_else(|| panic!("no billing button: {:?}", m.callback_data()));
                *menu = Some((m.message_id, data));
            }
        }
        menus.iter().all(Option::is_some)
    });
    let mut before = Vec::with_capacity(customers.len());
    for (c, menu) in customers.iter().zip(&menus) {
        let (id, data) = menu.as_ref().expect("menu");
        before.push(sim.messages_in(c.id, None).len());
        sim.press_button(c, *id, data);
    }
    wait_until(sim, "intake prompts", INTAKE_TIMEOUT, poll, || {
        customers.iter().zip(&before).all(|(c, &n)| sim.messages_in(c.id, None).len() > n)
    });
    let mut before = Vec::with_capacity(customers.len());
    for c in customers {
        before.push(sim.messages_in(c.id, None).len());
        sim.private_text(c, DESCRIPTION);
    }
    before
}

/// The ticket number from the confirmation each customer got after `before`.
fn ticket_numbers(sim: &BotApiSim, customers: &[SimUser], before: &[usize]) -> Option<Vec<i64>> {
    customers
        .iter()
        .zip(before)
        .map(|(c, &n)| {
            let messages = sim.messages_in(c.id, None);
            let opened = messages.iter().skip(n).find(|m| m.body().is_some_and(|b| b.contains('#')))?;
            Some(ticket_number(opened.body().unwrap_or_default()))
        })
        .collect()
}

/// Each ticket's topic thread, once the topic exists and its note is pinned.
fn published_threads(sim: &BotApiSim, tickets: &[i64]) -> Option<Vec<i32>> {
    let topics = sim.topics();
    tickets
        .iter()
        .map(|n| {
            let prefix = format!("#{n} ");
            let topic =
                topics.iter().find(|t| t.chat_id == SUPPORT_GROUP_ID && t.name.starts_with(&prefix))?;
            sim.pinned(SUPPORT_GROUP_ID, Some(topic.thread_id))?;
            Some(topic.thread_id)
        })
        .collect()
}

/// Reads the support group's messages once each, in id order.
struct GroupCursor {
    next: Option<i32>,
    /// Ids jumped over (allocated for a request that failed).
    skipped: Vec<i32>,
}

impl GroupCursor {
    /// Starts after the group's current last message.
    fn at_end(sim: &BotApiSim) -> Self {
        let next = sim.all_messages(SUPPORT_GROUP_ID).iter().map(|m| m.message_id).max().map(|id| id + 1);
        Self { next, skipped: Vec::new() }
    }

    /// Appends every message added since the last call to `out`.
    fn poll(&mut self, sim: &BotApiSim, out: &mut Vec<SimMessage>) {
        let Some(mut next) = self.next else {
            let all = sim.all_messages(SUPPORT_GROUP_ID);
            self.next = all.iter().map(|m| m.message_id).max().map(|id| id + 1);
            out.extend(all);
            return;
        };
        loop {
            if let Some(m) = sim.message(SUPPORT_GROUP_ID, next) {
                out.push(m);
                next += 1;
                continue;
            }
            // An id can be allocated for a request that then failed: skip a
            // small gap. The simulator allocates and stores an id under one
            // lock, in id order; so once `next + k` exists, each id below it
            // either exists by now or never will. Look at them again: they
            // may have been stored since the first look (skipping on the
            // first look alone loses about 1 copy in 20 bursts).
            match (1..=8).find(|k| sim.message(SUPPORT_GROUP_ID, next + k).is_some()) {
                Some(k) => {
                    for id in next..next + k {
                        match sim.message(SUPPORT_GROUP_ID, id) {
                            Some(m) => out.push(m),
                            None => self.skipped.push(id),
                        }
                    }
                    next += k;
                }
                None => break,
            }
        }
        self.next = Some(next);
    }
}

/// (customer index, message number) from a `c{i}-m{n}` marker.
fn parse_marker(text: &str) -> Option<(usize, usize)> {
    let (c, m) = text.strip_prefix('c')?.split_once("-m")?;
    Some((c.parse().ok()?, m.parse().ok()?))
}

/// Order checks over the copies of customers' markers, in arrival order.
#[derive(Debug, Default)]
struct Arrivals {
    /// customer → message numbers, in arrival order.
    by_customer: BTreeMap<usize, Vec<usize>>,
    /// Copies outside the customer's topic.
    misplaced: usize,
    duplicates: usize,
    seen: HashSet<(usize, usize)>,
}

impl Arrivals {
    /// Reads a group message; returns whether it was a marker's copy.
    fn read(&mut self, m: &SimMessage, chats: &HashMap<i64, usize>, threads: Option<&[i32]>) -> bool {
        let Some((from, _)) = m.copied_from else { return false };
        let Some(&customer) = chats.get(&from) else { return false };
        let Some((i, n)) = m.body().and_then(parse_marker) else { return false };
        if i != customer || threads.is_some_and(|t| m.thread_id != Some(t[customer])) {
            self.misplaced += 1;
        }
        if !self.seen.insert((customer, n)) {
            self.duplicates += 1;
        }
        self.by_customer.entry(customer).or_default().push(n);
        true
    }

    /// Copies that arrived after a later message of the same customer.
    fn reordered(&self) -> usize {
        self.by_customer
            .values()
            .map(|ns| {
                let mut max = None;
                ns.iter()
                    .filter(|&&n| {
                        let late = max.is_some_and(|m| n < m);
                        max = max.max(Some(n));
                        late
                    })
                    .count()
            })
            .sum()
    }
}

// ---------------------------------------------------------------------------
// Scenario A: a burst of 2,000 messages
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct BurstRun {
    messages: usize,
    delivered: usize,
    inject: Duration,
    wall: Duration,
    cpu_ms: f64,
    cpu_drained_ms: f64,
    drained_after: Duration,
    idle_cpu_ms_per_sec: f64,
    peak_rss_kb: u64,
    lost: usize,
    reordered: usize,
    misplaced: usize,
    duplicates: usize,
    /// CPU of this process (simulator and driver) during the burst.
    own_cpu_ms: f64,
    /// Kernel (`stime`) part of the bot's CPU during the burst.
    system_ms: f64,
    /// Per thread name: CPU ms and context switches during the burst.
    threads: Vec<(String, f64, u64)>,
    log_problems: Vec<String>,
}

impl BurstRun {
    fn msgs_per_sec(&self) -> f64 {
        self.delivered as f64 / self.wall.as_secs_f64()
    }
    fn cpu_per_msg(&self) -> f64 {
        self.cpu_ms / self.messages as f64
    }
    fn rss_mb(&self) -> f64 {
        self.peak_rss_kb as f64 * 1024.0 / 1e6
    }
}

fn burst_run(rt: &Runtime, run: usize, tick_ms: f64) -> BurstRun {
    burst_run_of(rt, run, tick_ms, &Relay::Topicdesk(bot_binary()))
}

/// What scenario A's burst runs against.
enum Relay {
    /// A topicdesk binary (this build or another).
    Topicdesk(String),
    /// The bare relay (no intake: each customer's first text creates their topic).
    Bare(String),
}

/// The burst of scenario A against `relay`.
fn burst_run_of(rt: &Runtime, run: usize, tick_ms: f64, relay: &Relay) -> BurstRun {
    let sim = rt.block_on(BotApiSim::start());
    let (bot, bare) = match relay {
        Relay::Bare(binary) => (BotProcess::start_binary(binary, &sim, "off", &[]), Some(())),
        Relay::Topicdesk(binary) => (BotProcess::start_binary(binary, &sim, "off", &[]), None),
    };
    let people = customers(70_000_000 + run as i64 * 1000, A_CUSTOMERS);
    let chats: HashMap<i64, usize> = people.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let (db, threads) = match bare {
        Some(_) => {
            // The bare relay: each customer's first text creates their topic.
            let started = Instant::now();
            for c in &people {
                sim.private_text(c, "hello");
            }
            let mut threads = None;
            wait_until(&sim, "50 topics with a first copy", INTAKE_TIMEOUT, Duration::from_millis(5), || {
                let topics = sim.topics();
                threads = people
                    .iter()
                    .map(|c| {
                        let name = format!("chat {}", c.id);
                        let topic = topics.iter().find(|t| t.name == name)?;
                        (!sim.messages_in(SUPPORT_GROUP_ID, Some(topic.thread_id)).is_empty())
                            .then_some(topic.thread_id)
                    })
                    .collect::<Option<Vec<i32>>>();
                threads.is_some()
            });
            println!(
                "delivery A run {run} (bare relay): {A_CUSTOMERS} topics in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            (None, threads.expect("threads"))
        }
        None => {
            let db = open_db(rt, &bot.db_url);
            let started = Instant::now();
            let before = intake(&sim, &people, Duration::from_millis(2));
            let mut tickets = None;
            wait_until(&sim, "ticket confirmations", INTAKE_TIMEOUT, Duration::from_millis(5), || {
                tickets = ticket_numbers(&sim, &people, &before);
                tickets.is_some()
            });
            let tickets = tickets.expect("ticket numbers");
            let mut threads = None;
            wait_until(&sim, "50 topics with pinned notes", INTAKE_TIMEOUT, Duration::from_millis(5), || {
                threads = published_threads(&sim, &tickets);
                threads.is_some()
            });
            let threads = threads.expect("threads");
            wait_until(
                &sim,
                "outbox drained after intake",
                INTAKE_TIMEOUT,
                Duration::from_millis(20),
                || queue_counts(rt, &db) == (0, 0, 0),
            );
            println!(
                "delivery A run {run}: {A_CUSTOMERS} tickets open (topics, pinned notes) in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            (Some(db), threads)
        }
    };

    // Idle cost, then the burst.
    let idle_from = bot.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let cpu_before = bot.cpu_ticks();
    let idle_cpu_ms_per_sec = (cpu_before - idle_from) as f64 * tick_ms;
    let perf =
        (run == 1).then(|| std::env::var("DELIVERY_PERF").ok()).flatten().map(|path| start_perf(&bot, &path));
    let cpu_before = if perf.is_some() { bot.cpu_ticks() } else { cpu_before };
    let threads_before = bot.threads();
    let mut cursor = GroupCursor::at_end(&sim);
    let own_before = own_cpu_ticks();
    let split_before = bot.cpu_split();

    let messages = A_CUSTOMERS * A_PER_CUSTOMER;
    let mut source_ids: Vec<Vec<i32>> =
        (0..A_CUSTOMERS).map(|_| Vec::with_capacity(A_PER_CUSTOMER)).collect();
    let t0 = Instant::now();
    for n in 0..A_PER_CUSTOMER {
        for (i, c) in people.iter().enumerate() {
            source_ids[i].push(sim.private_text(c, &format!("c{i}-m{n}")));
        }
    }
    let inject = t0.elapsed();

    let mut arrivals = Arrivals::default();
    let mut delivered = 0;
    let mut new = Vec::new();
    let mut last_copy = t0;
    while delivered < messages && t0.elapsed() < A_TIMEOUT {
        new.clear();
        cursor.poll(&sim, &mut new);
        let now = Instant::now();
        for m in &new {
            if arrivals.read(m, &chats, Some(&threads)) {
                delivered += 1;
                last_copy = now;
            }
        }
        if delivered < messages {
            std::thread::sleep(A_POLL);
        }
    }
    let wall = last_copy - t0;
    let timed_out = delivered < messages;
    let cpu_after = bot.cpu_ticks();
    let split_after = bot.cpu_split();
    let system_ms = split_after.1.saturating_sub(split_before.1) as f64 * tick_ms;
    let own_cpu_ms = own_cpu_ticks().saturating_sub(own_before) as f64 * tick_ms;
    let threads_after = bot.threads();
    if let Some(perf) = perf {
        stop_perf(perf);
    }
    let peak_rss_kb = bot.peak_rss_kb();

    // Bookkeeping after the last copy (marking rows done, the inbox).
    let drained = Instant::now();
    if let Some(db) = &db {
        wait_until(
            &sim,
            "outbox drained after the burst",
            Duration::from_secs(30),
            Duration::from_millis(5),
            || {
                let (pending, _, unhandled) = queue_counts(rt, db);
                pending == 0 && unhandled == 0
            },
        );
    }
    let drained_after = drained.elapsed();
    let cpu_drained = bot.cpu_ticks();

    let cpu_ms = (cpu_after - cpu_before) as f64 * tick_ms;
    if timed_out {
        explain_lost(&sim, &people, &source_ids, &arrivals, run, t0);
        println!("delivery A run {run}: ids the group cursor skipped: {:?}", cursor.skipped);
    }
    let result = BurstRun {
        messages,
        delivered,
        inject,
        wall,
        cpu_ms,
        cpu_drained_ms: (cpu_drained - cpu_before) as f64 * tick_ms,
        drained_after,
        idle_cpu_ms_per_sec,
        peak_rss_kb,
        lost: messages - arrivals.seen.len(),
        reordered: arrivals.reordered(),
        misplaced: arrivals.misplaced,
        duplicates: arrivals.duplicates,
        own_cpu_ms,
        system_ms,
        threads: thread_split(&threads_before, &threads_after, cpu_ms, tick_ms),
        log_problems: bot.log_problems(),
    };
    if let Some(db) = db {
        rt.block_on(db.close());
    }
    bot.stop();
    let violations = sim.schema_violations();
    if !violations.is_empty() {
        println!("delivery A run {run}: simulator schema violations: {violations:?}");
    }
    sim.shutdown();
    result
}

/// What the simulator saw of the markers that never arrived.
fn explain_lost(
    sim: &BotApiSim,
    people: &[SimUser],
    source_ids: &[Vec<i32>],
    arrivals: &Arrivals,
    run: usize,
    t0: Instant,
) {
    let calls = sim.calls();
    let as_i64 = |v: Option<&Value>| v.and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
    let mut shown = 0;
    for (i, ids) in source_ids.iter().enumerate() {
        for (n, &id) in ids.iter().enumerate() {
            if arrivals.seen.contains(&(i, n)) || shown >= 10 {
                continue;
            }
            shown += 1;
            let copies: Vec<String> = calls
                .iter()
                .filter(|c| {
                    c.method == "copyMessage"
                        && as_i64(c.params.get("from_chat_id")) == Some(people[i].id)
                        && as_i64(c.params.get("message_id")) == Some(i64::from(id))
                })
                .map(|c| {
                    let at = c.at.saturating_duration_since(t0).as_secs_f64();
                    format!("at {at:.3} s: {:?} -> {:?} (thread {:?})", c.error, c.result, c.thread_id())
                })
                .collect();
            let to_customer: Vec<String> = sim
                .messages_in(people[i].id, None)
                .iter()
                .skip(3)
                .map(|m| m.body().unwrap_or_default().chars().take(60).collect())
                .collect();
            println!(
                "delivery A run {run}: lost c{i}-m{n} (message {id} in chat {}): copyMessage calls {copies:?}; \
                 bot messages to the customer after intake: {to_customer:?}",
                people[i].id
            );
        }
    }
}

/// CPU and context switches per thread name between two snapshots, as
/// (name, ms, switches); CPU of threads that exited in between is
/// "(exited threads)".
fn thread_split(
    before: &HashMap<u32, ThreadStat>,
    after: &HashMap<u32, ThreadStat>,
    total_ms: f64,
    tick_ms: f64,
) -> Vec<(String, f64, u64)> {
    let mut by_name: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for (tid, now) in after {
        let (ticks, switches) = before.get(tid).map_or((0, 0), |b| (b.ticks, b.switches));
        let entry = by_name.entry(now.name.clone()).or_default();
        entry.0 += now.ticks.saturating_sub(ticks) as f64 * tick_ms;
        entry.1 += now.switches.saturating_sub(switches);
    }
    let counted: f64 = by_name.values().map(|(ms, _)| ms).sum();
    if total_ms - counted >= tick_ms {
        by_name.insert("(exited threads)".to_owned(), (total_ms - counted, 0));
    }
    let mut split: Vec<(String, f64, u64)> = by_name
        .into_iter()
        .filter(|(_, (ms, switches))| *ms > 0.0 || *switches > 0)
        .map(|(name, (ms, switches))| (name, ms, switches))
        .collect();
    split.sort_by(|a, b| b.1.total_cmp(&a.1));
    split
}

fn start_perf(bot: &BotProcess, path: &str) -> Child {
    // Following one process costs it perf's bookkeeping at every context
    // switch (and this bot switches a lot), plus the call graphs' stack
    // copies. `DELIVERY_PERF_FLAT=1` samples the whole machine instead,
    // without call graphs (filter with `perf report --pid`).
    let pid = bot.pid().to_string();
    let args: Vec<&str> = if std::env::var_os("DELIVERY_PERF_FLAT").is_some() {
        vec!["record", "-a", "-F", "999", "-o", path]
    } else {
        vec!["record", "-F", "2999", "--call-graph", "dwarf,16384", "-o", path, "-p", &pid]
    };
    let perf = Command::new("perf")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start perf record");
    // Let perf attach before the burst.
    std::thread::sleep(Duration::from_millis(1500));
    println!(
        "delivery A run 1: perf record ({}) → {path} (this run's CPU includes sampling)",
        args.join(" ")
    );
    perf
}

fn stop_perf(mut perf: Child) {
    let _ = Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
    let _ = perf.wait();
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn scenario_a(rt: &Runtime, tick_ms: f64) {
    let runs = env_usize("DELIVERY_A_RUNS", A_RUNS);
    println!(
        "delivery A: {A_CUSTOMERS} customers × {A_PER_CUSTOMER} texts = {} messages at once, RATE_LIMITS=off, \
         instant simulator, bot RUST_LOG={}, {runs} runs",
        A_CUSTOMERS * A_PER_CUSTOMER,
        log_level()
    );
    let mut results = Vec::new();
    for run in 1..=runs {
        let r = burst_run(rt, run, tick_ms);
        println!(
            "delivery A run {run}: {}/{} copies in {:.3} s = {:.0} msg/s (injection took {:.1} ms); \
             bot CPU {:.0} ms = {:.3} ms/msg ({:.0} ms = {:.3} ms/msg until the outbox and inbox were drained, \
             {:.0} ms after the last copy); idle {:.0} ms CPU/s; peak RSS {:.1} MB (VmHWM {} kB)",
            r.delivered,
            r.messages,
            r.wall.as_secs_f64(),
            r.msgs_per_sec(),
            r.inject.as_secs_f64() * 1e3,
            r.cpu_ms,
            r.cpu_per_msg(),
            r.cpu_drained_ms,
            r.cpu_drained_ms / r.messages as f64,
            r.drained_after.as_secs_f64() * 1e3,
            r.idle_cpu_ms_per_sec,
            r.rss_mb(),
            r.peak_rss_kb
        );
        println!(
            "delivery A run {run}: lost {}{}, reordered {}, misplaced {}, duplicated {}; WARN/ERROR log lines {}",
            r.lost,
            if r.lost > 0 {
                format!(" (not there {} s after the injection)", A_TIMEOUT.as_secs())
            } else {
                String::new()
            },
            r.reordered,
            r.misplaced,
            r.duplicates,
            r.log_problems.len()
        );
        for line in r.log_problems.iter().take(10) {
            println!("delivery A run {run}:   bot log: {line}");
        }
        let split: Vec<String> = r
            .threads
            .iter()
            .map(|(name, ms, switches)| {
                format!(
                    "{name} {ms:.0} ms ({:.0} %, {:.1} switches/msg)",
                    ms / r.cpu_ms.max(1e-9) * 100.0,
                    *switches as f64 / r.messages as f64
                )
            })
            .collect();
        let switches: u64 = r.threads.iter().map(|(_, _, n)| n).sum();
        println!(
            "delivery A run {run}: bot CPU by thread: {}; in the kernel (stime) {:.0} ms ({:.0} %); \
             {:.1} context switches per message; simulator + driver (this process) {:.0} ms CPU",
            split.join(", "),
            r.system_ms,
            r.system_ms / r.cpu_ms.max(1e-9) * 100.0,
            switches as f64 / r.messages as f64,
            r.own_cpu_ms
        );
        results.push(r);
    }
    let mut rates: Vec<f64> = results.iter().map(BurstRun::msgs_per_sec).collect();
    let mut cpus: Vec<f64> = results.iter().map(BurstRun::cpu_per_msg).collect();
    let mut rss: Vec<f64> = results.iter().map(BurstRun::rss_mb).collect();
    let (rate, cpu, rss) = (median(&mut rates), median(&mut cpus), median(&mut rss));
    let lost: usize = results.iter().map(|r| r.lost).sum();
    let reordered: usize = results.iter().map(|r| r.reordered + r.misplaced + r.duplicates).sum();

    println!();
    println!("| run | msg/s | bot CPU ms/msg | peak RSS MB | lost | reordered |");
    println!("|---|---|---|---|---|---|");
    for (i, r) in results.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.3} | {:.1} | {} | {} |",
            i + 1,
            r.msgs_per_sec(),
            r.cpu_per_msg(),
            r.rss_mb(),
            r.lost,
            r.reordered + r.misplaced + r.duplicates
        );
    }
    println!("| median | {rate:.0} | {cpu:.3} | {rss:.1} | {lost} (all runs) | {reordered} (all runs) |");
    println!();
    println!(
        "delivery A throughput: {rate:.0} msg/s (target ≥ {A_TARGET_MSGS_PER_SEC:.0}) {}",
        verdict(rate >= A_TARGET_MSGS_PER_SEC)
    );
    println!(
        "delivery A CPU: {cpu:.3} ms per message (target ≤ {A_TARGET_CPU_MS_PER_MSG}) {}",
        verdict(cpu <= A_TARGET_CPU_MS_PER_MSG)
    );
    println!(
        "delivery A peak RSS: {rss:.1} MB (target < {A_TARGET_RSS_MB:.0}) {}",
        verdict(rss < A_TARGET_RSS_MB)
    );
    println!("delivery A lost: {lost} (target 0) {}", verdict(lost == 0));
    println!(
        "delivery A reordered: {reordered} (target 0; misplaced and duplicated copies included) {}",
        verdict(reordered == 0)
    );
}

// ---------------------------------------------------------------------------
// Scenario B: one group overloaded under Telegram's limits
// ---------------------------------------------------------------------------

/// One injected text.
struct Sent {
    at: Instant,
    customer: usize,
    chat: i64,
    message: i32,
    n: usize,
}

fn scenario_b(rt: &Runtime) {
    let window = Duration::from_secs(env_u64("DELIVERY_B_WINDOW_SECS", B_WINDOW_SECS));
    let count = env_usize("DELIVERY_B_CUSTOMERS", B_CUSTOMERS);
    println!(
        "delivery B: {count} customers, RATE_LIMITS=telegram in the bot, RateLimits::default() in the simulator \
         (30/s, 1/s per chat, 20/min per group); {B_INITIAL_PER_CUSTOMER} texts each at once, then 1 every \
         {B_OFFER_EVERY:?}; window {} s from the first message accepted into the group",
        window.as_secs()
    );
    let sim = rt.block_on(BotApiSim::start());
    sim.set_rate_limits(RateLimits::default());
    let bot = BotProcess::start(&sim, "telegram");
    let db = open_db(rt, &bot.db_url);
    let people = customers(80_000_000, count);
    let chats: HashMap<i64, usize> = people.iter().enumerate().map(|(i, c)| (c.id, i)).collect();

    let started = Instant::now();
    let before = intake(&sim, &people, Duration::from_millis(10));
    println!("delivery B: descriptions sent {:.2} s after the first /start", started.elapsed().as_secs_f64());

    let mut sent: Vec<Sent> = Vec::new();
    let mut next_n = vec![0usize; count];
    let mut offer = |who: usize, sent: &mut Vec<Sent>| {
        let n = next_n[who];
        next_n[who] += 1;
        let at = Instant::now();
        let message = sim.private_text(&people[who], &format!("c{who}-m{n}"));
        sent.push(Sent { at, customer: who, chat: people[who].id, message, n });
    };
    for _ in 0..B_INITIAL_PER_CUSTOMER {
        for who in 0..count {
            offer(who, &mut sent);
        }
    }
    let mut next_offer = Instant::now() + B_OFFER_EVERY;
    let mut turn = 0;
    let mut cursor = GroupCursor { next: None, skipped: Vec::new() };
    let mut group_seen = Vec::new();
    let mut first_accepted: Option<Instant> = None;
    let mut next_report = Instant::now() + Duration::from_secs(30);
    loop {
        let now = Instant::now();
        if first_accepted.is_some_and(|t| now >= t + window + B_AFTER_WINDOW) {
            break;
        }
        assert!(
            first_accepted.is_some() || started.elapsed() < INTAKE_TIMEOUT,
            "nothing reached the group:\n{}",
            sim.dump_calls(40)
        );
        if now >= next_offer {
            offer(turn % count, &mut sent);
            turn += 1;
            next_offer += B_OFFER_EVERY;
        }
        cursor.poll(&sim, &mut group_seen);
        if first_accepted.is_none() && !group_seen.is_empty() {
            first_accepted = Some(now);
        }
        if now >= next_report {
            next_report += Duration::from_secs(30);
            println!(
                "delivery B: t = {:>3.0} s: {} texts offered, {} messages in the group (service messages too), {} 429s",
                started.elapsed().as_secs_f64(),
                sent.len(),
                group_seen.len(),
                sim.rate_limited_count()
            );
        }
        std::thread::sleep(B_POLL);
    }

    // Utilisation, from the simulator's call log.
    let calls = sim.calls();
    let mut accepted: Vec<(Instant, String)> = calls
        .iter()
        .filter(|c| c.error.is_none() && c.result.is_some() && c.chat_id() == Some(SUPPORT_GROUP_ID))
        .filter(|c| {
            c.result
                .as_ref()
                .is_some_and(|r| r.get("message_id").is_some() || r.get("message_thread_id").is_some())
        })
        .map(|c| (c.at, c.method.clone()))
        .collect();
    accepted.sort_by_key(|(at, _)| *at);
    let t1 = accepted.first().map(|(at, _)| *at).expect("the group accepted something");
    let in_window: Vec<&(Instant, String)> = accepted.iter().filter(|(at, _)| *at < t1 + window).collect();
    let allowed = B_GROUP_PER_MIN * window.as_secs_f64() / 60.0;
    let utilisation = in_window.len() as f64 / allowed * 100.0;
    let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, method) in &in_window {
        *by_method.entry(method.as_str()).or_default() += 1;
    }
    let long_run = accepted.get(60).map(|(at, _)| {
        let span = *at - t1;
        (span, 180.0 / span.as_secs_f64() * 100.0)
    });
    let rate_limited = sim.rate_limited_count();
    let group_429s = calls
        .iter()
        .filter(|c| c.chat_id() == Some(SUPPORT_GROUP_ID) && c.error.as_ref().is_some_and(|e| e.0 == 429))
        .count();
    let offered_in_window = sent.iter().filter(|s| s.at < t1 + window).count();

    // Nothing lost: every marker is in its topic or pending in the outbox.
    let settle = Instant::now();
    wait_until(
        &sim,
        "offered texts stored and handled",
        Duration::from_secs(30),
        Duration::from_millis(20),
        || sim.pending_updates() == 0 && queue_counts(rt, &db).2 == 0,
    );
    let (_, failed, unhandled) = queue_counts(rt, &db);
    let pending = pending_relays(rt, &db); // before reading the group
    let mut threads = vec![None; count];
    if let Some(tickets) = ticket_numbers(&sim, &people, &before) {
        let topics = sim.topics();
        for (i, n) in tickets.iter().enumerate() {
            let prefix = format!("#{n} ");
            threads[i] = topics.iter().find(|t| t.name.starts_with(&prefix)).map(|t| t.thread_id);
        }
    }
    let mut arrivals = Arrivals::default();
    let mut delivered: HashSet<(i64, i32)> = HashSet::new();
    let mut misplaced_thread = 0;
    for m in sim.all_messages(SUPPORT_GROUP_ID) {
        if arrivals.read(&m, &chats, None) {
            let (chat, id) = m.copied_from.expect("a copy");
            delivered.insert((chat, id));
            if threads[chats[&chat]].is_some_and(|t| m.thread_id != Some(t)) {
                misplaced_thread += 1;
            }
        }
    }
    let mut lost = Vec::new();
    let mut pending_markers = 0;
    let mut skipped = 0; // delivered while an earlier message of the customer is pending
    let mut first_pending: HashMap<usize, usize> = HashMap::new();
    for s in &sent {
        if delivered.contains(&(s.chat, s.message)) {
            continue;
        }
        if pending.contains(&(s.chat, s.message)) {
            pending_markers += 1;
            let e = first_pending.entry(s.customer).or_insert(s.n);
            *e = (*e).min(s.n);
        } else {
            lost.push(format!("c{}-m{}", s.customer, s.n));
        }
    }
    for s in &sent {
        if delivered.contains(&(s.chat, s.message))
            && first_pending.get(&s.customer).is_some_and(|&f| s.n > f)
        {
            skipped += 1;
        }
    }
    let reordered = arrivals.reordered() + skipped;
    let misplaced = arrivals.misplaced + misplaced_thread + arrivals.duplicates;
    println!(
        "delivery B: after the window: {} texts offered, {} in their topics, {} pending in the outbox, \
         {} lost, {failed} failed outbox rows, {unhandled} unhandled inbox rows (checked {:.1} s after the offers stopped)",
        sent.len(),
        delivered.len(),
        pending_markers,
        lost.len(),
        settle.elapsed().as_secs_f64()
    );
    if !lost.is_empty() {
        println!("delivery B: lost markers: {lost:?}");
    }
    let problems = bot.log_problems();
    for line in problems.iter().take(10) {
        println!("delivery B:   bot log: {line}");
    }
    let problems = problems.len();
    rt.block_on(db.close());
    bot.stop();
    sim.shutdown();

    let methods: Vec<String> = by_method.iter().map(|(m, n)| format!("{m} {n}")).collect();
    println!(
        "delivery B: {} messages accepted into the group in {} s ({}) of {allowed:.0} allowed = {utilisation:.1} %",
        in_window.len(),
        window.as_secs(),
        methods.join(", ")
    );
    match long_run {
        Some((span, pct)) => println!(
            "delivery B: long-run rate: the 1st to the 61st group message took {:.1} s (20/min: 180 s) = {pct:.1} %",
            span.as_secs_f64()
        ),
        None => println!("delivery B: long-run rate: fewer than 61 group messages; not measured"),
    }
    println!(
        "delivery B: 429s from the simulator: {rate_limited} ({group_429s} for the group); \
         texts offered before the window closed: {offered_in_window} ({:.0}/min); bot WARN/ERROR log lines: {problems}",
        offered_in_window as f64 * 60.0 / window.as_secs_f64()
    );
    println!();
    println!(
        "| window | accepted into the group | allowed (20/min) | utilisation | long-run rate | 429s | offered | in topics | pending in outbox | lost | reordered |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} s | {} | {allowed:.0} | {utilisation:.1} % | {} | {rate_limited} | {} | {} | {pending_markers} | {} | {} |",
        window.as_secs(),
        in_window.len(),
        long_run.map_or("n/a".to_owned(), |(_, pct)| format!("{pct:.1} %")),
        sent.len(),
        delivered.len(),
        lost.len(),
        reordered + misplaced
    );
    println!();
    println!(
        "delivery B utilisation: {utilisation:.1} % (target ≥ {B_TARGET_UTILISATION:.0} %) {}",
        verdict(utilisation >= B_TARGET_UTILISATION)
    );
    println!("delivery B 429s: {rate_limited}");
    println!(
        "delivery B lost: {} (target 0) {}; reordered/misplaced: {} (target 0) {}",
        lost.len(),
        verdict(lost.is_empty()),
        reordered + misplaced,
        verdict(reordered + misplaced == 0)
    );
}

// ---------------------------------------------------------------------------

/// Scenario C: the group refuses topic creation (the bot was demoted to a
/// member) while customers write; then the bot is promoted again.
fn scenario_c(rt: &Runtime) {
    let customers_n = env_usize("DELIVERY_C_CUSTOMERS", C_CUSTOMERS);
    let outage = Duration::from_secs(env_u64("DELIVERY_C_OUTAGE_SECS", C_OUTAGE_SECS));
    println!(
        "delivery C: {customers_n} customers write while the group refuses topic creation for {outage:?}, RATE_LIMITS=off"
    );
    let sim = rt.block_on(BotApiSim::start());
    sim.demote_bot();
    let bot = BotProcess::start(&sim, "off");
    let db = open_db(rt, &bot.db_url);
    let people = customers(90_000_000, customers_n);
    let chats: HashMap<i64, usize> = people.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let outage_started = Instant::now();
    let before = intake(&sim, &people, Duration::from_millis(5));
    // While the group cannot hold topics the customer hears "received and
    // kept" without a ticket number (no promise the bot cannot keep yet):
    // wait for that reply, then read the numbers from the database.
    wait_until(&sim, "ticket confirmations", INTAKE_TIMEOUT, Duration::from_millis(10), || {
        people.iter().zip(&before).all(|(c, &n)| {
            sim.messages_in(c.id, None)
                .iter()
                .skip(n)
                .any(|m| m.body().is_some_and(|b| b.contains("kept it safe")))
        })
    });
    let tickets: Vec<i64> = people
        .iter()
        .map(|c| {
            rt.block_on(
                sqlx::query_as::<_, (i64,)>("SELECT id FROM tickets WHERE customer_id = $1")
                    .bind(c.id)
                    .fetch_one(&db),
            )
            .expect("the customer's ticket")
            .0
        })
        .collect();
    for n in 0..C_PER_CUSTOMER {
        for (i, c) in people.iter().enumerate() {
            sim.private_text(c, &format!("c{i}-m{n}"));
        }
    }
    while outage_started.elapsed() < outage {
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused_calls = sim.calls_to("createForumTopic").len();
    let (_, failed, _) = queue_counts(rt, &db);
    let topics_during = sim.topics().len();

    let promoted = Instant::now();
    sim.promote_bot();
    let mut threads = None;
    wait_until(&sim, "every topic with its pinned note", C_TIMEOUT, Duration::from_millis(10), || {
        threads = published_threads(&sim, &tickets);
        threads.is_some()
    });
    let topics_after = promoted.elapsed();
    let threads = threads.expect("threads");
    let expected = customers_n * C_PER_CUSTOMER;
    let mut arrivals = Arrivals::default();
    let mut recovered = None;
    while promoted.elapsed() < C_TIMEOUT {
        arrivals = Arrivals::default();
        for m in sim.all_messages(SUPPORT_GROUP_ID) {
            arrivals.read(&m, &chats, Some(&threads));
        }
        if arrivals.seen.len() >= expected {
            recovered = Some(promoted.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let lost = expected - arrivals.seen.len().min(expected);
    let recovered_s = recovered.map_or(f64::INFINITY, |d| d.as_secs_f64());
    println!(
        "delivery C: during the outage: {topics_during} topics, {refused_calls} createForumTopic calls (probes), {failed} outbox rows failed"
    );
    println!(
        "delivery C: after the rights returned: all {customers_n} topics and notes in {:.1} s, every message ({expected}) in {:.1} s",
        topics_after.as_secs_f64(),
        recovered_s
    );
    println!(
        "delivery C: lost {lost}, reordered {}, misplaced {}, duplicated {}",
        arrivals.reordered(),
        arrivals.misplaced,
        arrivals.duplicates
    );
    let pass = recovered_s <= C_TARGET_RECOVERY_SECS
        && lost == 0
        && failed == 0
        && arrivals.reordered() == 0
        && arrivals.duplicates == 0;
    println!(
        "| recovery after the rights return | {recovered_s:.1} s | ≤ {C_TARGET_RECOVERY_SECS:.0} s, 0 lost/failed/reordered/duplicated | **{}** |",
        verdict(pass)
    );
    let problems = bot.log_problems();
    let errors = problems.iter().filter(|l| l.contains("ERROR")).count();
    println!("delivery C: bot log: {} WARN/ERROR lines ({errors} ERROR)", problems.len());
    rt.block_on(db.close());
    bot.stop();
    sim.shutdown();
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let which = std::env::var("DELIVERY_BENCH").unwrap_or_default().to_ascii_lowercase();
    let tick_ms = 1000.0 / clock_ticks_per_sec() as f64;
    println!(
        "delivery: bot = {} (child process), {} cores, CLK_TCK {:.0} Hz",
        bot_binary(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        1000.0 / tick_ms
    );
    if which.is_empty() || which == "a" {
        scenario_a(&rt, tick_ms);
    }
    if which.is_empty() || which == "b" {
        if which.is_empty() {
            println!();
        }
        scenario_b(&rt);
    }
    if which.is_empty() || which == "c" {
        if which.is_empty() {
            println!();
        }
        scenario_c(&rt);
    }
    if which == "compare" {
        scenario_compare(&rt, tick_ms);
    }
    if which.is_empty() || which == "d" {
        if which.is_empty() {
            println!();
        }
        scenario_d(&rt);
    }
    if which.is_empty() || which == "e" {
        if which.is_empty() {
            println!();
        }
        scenario_e(&rt);
    }
}

// ---------------------------------------------------------------------------
// Comparison: the burst of A against another build and a bare relay
// ---------------------------------------------------------------------------

/// Builds the bare teloxide relay (`examples/bare_relay.rs`) and returns its path.
fn bare_relay_binary() -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "--example", "bare_relay"])
        .status()
        .expect("run cargo build for the bare relay");
    assert!(status.success(), "the bare relay does not build");
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")));
    format!("{target}/release/examples/bare_relay")
}

/// `DELIVERY_BENCH=compare`: A's burst (50 × 40) on this build, on
/// `DELIVERY_PREV_BIN` (an earlier build, when set) and on the bare relay
/// (no database, no intake), interleaved run by run so they share the
/// machine's state; medians of bot CPU per message and the ratios.
fn scenario_compare(rt: &Runtime, tick_ms: f64) {
    let runs = env_usize("DELIVERY_A_RUNS", A_RUNS);
    let bare = bare_relay_binary();
    let prev = std::env::var("DELIVERY_PREV_BIN").ok().filter(|p| !p.is_empty());
    println!(
        "delivery compare: {A_CUSTOMERS} × {A_PER_CUSTOMER} burst, {runs} interleaved runs: this build, {}, bare relay ({bare})",
        prev.as_deref().unwrap_or("(no DELIVERY_PREV_BIN)")
    );
    let mut this = Vec::new();
    let mut before = Vec::new();
    let mut floor = Vec::new();
    for run in 1..=runs {
        let r = burst_run_of(rt, run, tick_ms, &Relay::Topicdesk(bot_binary()));
        println!(
            "delivery compare run {run}: this build {:.3} ms/msg, {:.0} msg/s, lost {}",
            r.cpu_per_msg(),
            r.msgs_per_sec(),
            r.lost
        );
        this.push(r.cpu_per_msg());
        if let Some(prev) = &prev {
            let r = burst_run_of(rt, run, tick_ms, &Relay::Topicdesk(prev.clone()));
            println!(
                "delivery compare run {run}: earlier build {:.3} ms/msg, {:.0} msg/s, lost {}",
                r.cpu_per_msg(),
                r.msgs_per_sec(),
                r.lost
            );
            before.push(r.cpu_per_msg());
        }
        let r = burst_run_of(rt, run, tick_ms, &Relay::Bare(bare.clone()));
        println!(
            "delivery compare run {run}: bare relay {:.3} ms/msg, {:.0} msg/s, lost {}",
            r.cpu_per_msg(),
            r.msgs_per_sec(),
            r.lost
        );
        floor.push(r.cpu_per_msg());
    }
    let (this, floor) = (median(&mut this), median(&mut floor));
    println!("| build | CPU ms/msg (median) | × bare relay |");
    println!("|---|---|---|");
    println!("| this build | {this:.3} | {:.2} |", this / floor);
    if !before.is_empty() {
        let before = median(&mut before);
        println!("| earlier build | {before:.3} | {:.2} |", before / floor);
    }
    println!("| bare teloxide relay, no database | {floor:.3} | 1.00 |");
}

// ---------------------------------------------------------------------------
// Scenario D: relay latency (issue 12)
// ---------------------------------------------------------------------------

const D_CUSTOMERS: usize = 10;
const D_SAMPLES: usize = 300;
const D_ALBUM_SAMPLES: usize = 40;
const D_ALBUM_PARTS: usize = 5;
const D_TARGET_P99_MS: f64 = 20.0;
/// The bot's album collection window (`ALBUM_WAIT`, its default).
const D_ALBUM_WAIT: Duration = Duration::from_secs(1);

/// Nearest-rank percentile of sorted values.
fn rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[index.clamp(1, sorted.len()) - 1]
}

/// Waits for the first call of `method` matching `pred`; returns when it
/// reached the simulator.
fn call_at(
    rt: &Runtime,
    sim: &BotApiSim,
    method: &str,
    pred: impl Fn(&support::sim::Call) -> bool,
) -> Instant {
    rt.block_on(sim.wait_for_call_within(method, pred, Duration::from_secs(30))).at
}

fn param_i64(call: &support::sim::Call, name: &str) -> Option<i64> {
    let value = &call.params[name];
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn latency_line(what: &str, samples: &mut [f64], minus_ms: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let net: Vec<f64> = samples.iter().map(|v| v - minus_ms).collect();
    let p99 = rank(&net, 99.0);
    println!(
        "delivery D: {what}: n {} · p50 {:.1} ms · p90 {:.1} ms · p99 {:.1} ms · max {:.1} ms{} — {}",
        samples.len(),
        rank(&net, 50.0),
        rank(&net, 90.0),
        p99,
        net.last().copied().unwrap_or(f64::NAN),
        if minus_ms > 0.0 {
            format!(" (after the {minus_ms:.0} ms collection window)")
        } else {
            String::new()
        },
        if p99 < D_TARGET_P99_MS { "PASS" } else { "MISS" }
    );
    p99
}

/// Bot-side latency, update received → copy accepted by the simulator, with
/// rate limits off: a photo with a caption, an album of five, an edit. The
/// clock starts just before the simulator queues the update (the bot's long
/// poll is waiting, so it is answered at once) and stops when the bot's call
/// (`copyMessage`, `copyMessages`, `editMessageCaption`/`editMessageText`)
/// reaches the simulator (`Call::at`). One message at a time. For the album
/// the clock starts at its last part and the collection window (`ALBUM_WAIT`,
/// 1 s: the bot waits that long after the last part for more) is subtracted.
fn scenario_d(rt: &Runtime) {
    println!(
        "delivery D: relay latency, RATE_LIMITS=off, {D_CUSTOMERS} tickets, {D_SAMPLES} photos with a caption, \
         {D_ALBUM_SAMPLES} albums of {D_ALBUM_PARTS}, {D_SAMPLES} edits, one at a time; target p99 < {D_TARGET_P99_MS} ms"
    );
    let sim = rt.block_on(BotApiSim::start());
    let bot = BotProcess::start(&sim, "off");
    let db = open_db(rt, &bot.db_url);
    let people = customers(700_000, D_CUSTOMERS);
    let before = intake(&sim, &people, Duration::from_millis(5));
    let mut tickets = None;
    wait_until(&sim, "tickets", INTAKE_TIMEOUT, Duration::from_millis(5), || {
        tickets = ticket_numbers(&sim, &people, &before);
        tickets.is_some()
    });
    let tickets = tickets.expect("tickets");
    wait_until(&sim, "topics", INTAKE_TIMEOUT, Duration::from_millis(5), || {
        published_threads(&sim, &tickets).is_some() && queue_counts(rt, &db).0 == 0
    });

    let photo = |i: usize| {
        let who = &people[i % people.len()];
        let started = Instant::now();
        let id = sim.private_photo(who, Some(&format!("receipt {i}")));
        let (chat, message) = (who.id, i64::from(id));
        let at = call_at(rt, &sim, "copyMessage", |c| {
            param_i64(c, "from_chat_id") == Some(chat) && param_i64(c, "message_id") == Some(message)
        });
        (id, at.saturating_duration_since(started).as_secs_f64() * 1e3)
    };
    // Warm-up: connections, caches.
    for i in 0..30 {
        photo(i);
    }
    let mut photos: Vec<f64> = (0..D_SAMPLES).map(|i| photo(i).1).collect();

    let mut albums = Vec::new();
    for i in 0..D_ALBUM_SAMPLES {
        let who = &people[i % people.len()];
        let ids = sim.private_album(who, D_ALBUM_PARTS, Some("the parcel"));
        let started = Instant::now();
        let first = i64::from(ids[0]);
        let chat = who.id;
        let at = call_at(rt, &sim, "copyMessages", |c| {
            param_i64(c, "from_chat_id") == Some(chat)
                && c.params["message_ids"].as_array().and_then(|a| a.first()).and_then(Value::as_i64)
                    == Some(first)
        });
        albums.push(at.saturating_duration_since(started).as_secs_f64() * 1e3);
    }

    let mut edits = Vec::new();
    for i in 0..D_SAMPLES {
        let who = &people[i % people.len()];
        let id = sim.private_text(who, &format!("order {i}"));
        let (chat, message) = (who.id, i64::from(id));
        call_at(rt, &sim, "copyMessage", |c| {
            param_i64(c, "from_chat_id") == Some(chat) && param_i64(c, "message_id") == Some(message)
        });
        // The copy is recorded right after Telegram's answer; give the
        // pair's write its moment, as a person editing would.
        std::thread::sleep(Duration::from_millis(20));
        let text = format!("order {i} (corrected)");
        let started = Instant::now();
        sim.edit_private_text(who, id, &text);
        let at = call_at(rt, &sim, "editMessageText", |c| c.params["text"].as_str() == Some(text.as_str()));
        edits.push(at.saturating_duration_since(started).as_secs_f64() * 1e3);
    }
    let p_photo = latency_line("photo with caption", &mut photos, 0.0);
    let p_album = latency_line("album of 5", &mut albums, D_ALBUM_WAIT.as_secs_f64() * 1e3);
    let p_edit = latency_line("edit", &mut edits, 0.0);
    println!("| case | n | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (what, samples, minus) in [
        ("photo with caption", &photos, 0.0),
        ("album of 5 (after the 1 s window)", &albums, D_ALBUM_WAIT.as_secs_f64() * 1e3),
        ("edit", &edits, 0.0),
    ] {
        let net: Vec<f64> = samples.iter().map(|v| v - minus).collect();
        println!(
            "| {what} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            net.len(),
            rank(&net, 50.0),
            rank(&net, 90.0),
            rank(&net, 99.0),
            net.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "delivery D: {}",
        if p_photo.max(p_album).max(p_edit) < D_TARGET_P99_MS { "PASS" } else { "MISS" }
    );
    bot.stop();
}

// ---------------------------------------------------------------------------
// Scenario E: memory with many intakes, tickets and id pairs (issue 12)
// ---------------------------------------------------------------------------

const E_INTAKES: usize = 10_000;
const E_TICKETS: usize = 10_000;
const E_PER_TICKET: usize = 20;
const E_TARGET_GROWTH_MB: f64 = 20.0;
/// Idle time before each reading: the bot hands freed memory back to the
/// system every 10 s, so a reading after 12 s idle sees the steady state.
const E_IDLE_SECS: u64 = 12;

/// Resident memory added by 10,000 customers in the middle of the intake
/// and 10,000 open tickets with 20 relayed messages each (200,000 id pairs
/// stored). The baseline is `VmRSS` after one ticket went through (the
/// connections, the runtime and the caches exist) and 12 s idle; the figure
/// is `VmRSS` after everything was handled and 12 s idle, minus the
/// baseline; `VmHWM` is printed too.
fn scenario_e(rt: &Runtime) {
    let intakes = env_usize("DELIVERY_E_INTAKES", E_INTAKES);
    let ticket_count = env_usize("DELIVERY_E_TICKETS", E_TICKETS);
    println!(
        "delivery E: memory; {intakes} customers left in the intake, {ticket_count} tickets × {E_PER_TICKET} relayed \
         messages, RATE_LIMITS=off; target growth < {E_TARGET_GROWTH_MB} MB"
    );
    let sim = rt.block_on(BotApiSim::start());
    let arenas = std::env::var("DELIVERY_E_MALLOC_ARENA_MAX").unwrap_or_default();
    let extra: Vec<(&str, &str)> =
        if arenas.is_empty() { Vec::new() } else { vec![("MALLOC_ARENA_MAX", arenas.as_str())] };
    let bot = BotProcess::start_with(&sim, "off", &extra);
    let db = open_db(rt, &bot.db_url);
    let drained = |what: &str, timeout: Duration| {
        wait_until(&sim, what, timeout, Duration::from_millis(200), || {
            sim.pending_updates() == 0 && queue_counts(rt, &db) == (0, 0, 0)
        });
    };
    let warm = customers(800_000, 1);
    intake(&sim, &warm, Duration::from_millis(5));
    drained("warm-up", INTAKE_TIMEOUT);
    std::thread::sleep(Duration::from_secs(E_IDLE_SECS));
    let baseline = bot.rss_kb();
    let baseline_anon = bot.status_kb("RssAnon:");
    let mb = |kb: u64| kb as f64 * 1024.0 / 1e6;
    let split = |bot: &BotProcess| {
        format!(
            "anonymous {:.1} MB, file-backed {:.1} MB",
            mb(bot.status_kb("RssAnon:")),
            mb(bot.status_kb("RssFile:") + bot.status_kb("RssShmem:"))
        )
    };
    println!("delivery E: baseline VmRSS {:.1} MB ({})", mb(baseline), split(&bot));

    let started = Instant::now();
    let waiting = customers(810_000, intakes);
    let chunk = env_usize("DELIVERY_E_CHUNK", 1000);
    for group in waiting.chunks(chunk) {
        for c in group {
            sim.private_command(c, "/start");
        }
        drained("intakes", Duration::from_secs(600));
    }
    println!("delivery E: after the intakes VmRSS {:.1} MB ({})", mb(bot.rss_kb()), split(&bot));
    let people = customers(900_000, ticket_count);
    for group in people.chunks(chunk) {
        intake(&sim, group, Duration::from_millis(50));
        drained("tickets", Duration::from_secs(600));
    }
    println!("delivery E: after the tickets VmRSS {:.1} MB ({})", mb(bot.rss_kb()), split(&bot));
    for n in 0..E_PER_TICKET {
        for group in people.chunks(chunk) {
            for c in group {
                sim.private_text(c, &format!("m{n}"));
            }
            drained("relays", Duration::from_secs(600));
        }
        if n == 0 || n + 1 == E_PER_TICKET {
            println!(
                "delivery E: after relay round {} VmRSS {:.1} MB ({})",
                n + 1,
                mb(bot.rss_kb()),
                split(&bot)
            );
        }
    }
    let took = started.elapsed();
    let (pairs, dialogues, open): (i64, i64, i64) = rt
        .block_on(
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM message_pairs), (SELECT COUNT(*) FROM dialogues),                  (SELECT COUNT(*) FROM tickets WHERE status = 'open')",
            )
            .fetch_one(&db),
        )
        .expect("counts");
    std::thread::sleep(Duration::from_secs(E_IDLE_SECS));
    let after = bot.rss_kb();
    let growth_mb = mb(after) - mb(baseline);
    let anon_growth_mb = mb(bot.status_kb("RssAnon:")) - mb(baseline_anon);
    println!(
        "delivery E: {dialogues} dialogues, {open} open tickets, {pairs} id pairs stored in {:.0} s; \
         VmRSS {:.1} MB → {:.1} MB: +{growth_mb:.1} MB, anonymous +{anon_growth_mb:.1} MB ({}); \
         VmHWM {:.1} MB — {}",
        took.as_secs_f64(),
        mb(baseline),
        mb(after),
        split(&bot),
        mb(bot.peak_rss_kb()),
        if growth_mb < E_TARGET_GROWTH_MB { "PASS" } else { "MISS" }
    );
    bot.stop();
}
