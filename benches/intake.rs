//! Whole-ticket intake latency through the Bot API simulator.
//!
//! Target (issue): from the customer's last intake message (the description)
//! to "forum topic created, internal note pinned, agent assigned", p99 under
//! 20 ms with an instant CRM.
//!
//! ```sh
//! cargo bench --bench intake                 # logs at `warn` (the default here)
//! RUST_LOG=info cargo bench --bench intake   # with the bot's production log level
//! ```
//!
//! The real bot runs in-process (`TestBot`) on a tokio runtime with one
//! worker per core, like `#[tokio::main]` in `src/main.rs`, against the
//! simulator (`tests/support/sim.rs`), a fresh SQLite database in a temp dir
//! and an instant fake CRM (`ROUTING_WEBHOOK_URL`). One agent with `billing:3`
//! and `general:1` and a capacity larger than the run, so every ticket is
//! assigned.
//!
//! For each customer: `/start` → the billing button → the description prompt
//! (not timed); then the clock starts, the description is injected, and the
//! clock stops once (a) the ticket's forum topic exists, (b) its first message
//! (the internal note) is pinned and (c) the ticket row has an `assignee_id`.
//!
//! How completion is observed: the driver runs on its own OS thread (not a
//! runtime worker) and wakes every `POLL_INTERVAL`. Each wake it reads only
//! the support group's *new* messages from the simulator (a cursor over
//! message ids: the `forum_topic_created` service message, the note, then the
//! `pinned_message` service message), so a poll costs the same with 1 or 600
//! topics. Once topic and pin are seen, one database query checks the
//! assignee; the clock stops after that query (so the figure includes it, and
//! is conservative by the query's cost, which is reported). The actual wake
//! interval and the cost of a poll are printed.
//!
//! Two runs: 300 customers one after the other, then 300 more with 10
//! customers in flight at any time (a new one
//! starts as soon as one finishes). The simulator, the CRM, the bot and the
//! driver share the machine's cores. The result is printed as PASS or MISS;
//! the benchmark never fails the build.

#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use support::{
    bot::TestBot,
    sim::{BotApiSim, SUPPORT_GROUP_ID, SimKind, SimMessage, SimUser},
};
use tokio::runtime::Runtime;
use topicdesk::domain::SkillLevel;
use tracing_subscriber::{EnvFilter, fmt};

/// Customers per run (`INTAKE_CUSTOMERS` overrides, for experiments).
const CUSTOMERS: usize = 300;
/// Customers in flight in the concurrent run (`INTAKE_CONCURRENCY` overrides).
const CONCURRENT: usize = 10;
/// Untimed tickets first: connections, statement caches, the allocator.
const WARM_UP_CUSTOMERS: usize = 20;
const POLL_INTERVAL: Duration = Duration::from_micros(200);
/// Anything slower is a hang: stop with the simulator's call log.
const STUCK_AFTER: Duration = Duration::from_secs(15);
const TARGET_P99_MS: f64 = 20.0;
const AGENT_ID: i64 = 1001;
const CRM_BODY: &str = r#"{"tier":"premium","order_count":3}"#;
const DESCRIPTION: &str =
    "I was charged twice for order 48213 on Monday; please refund one of the two payments.";

// ---------------------------------------------------------------------------
// The instant CRM
// ---------------------------------------------------------------------------

/// When the CRM received a request, per customer (found in the body without
/// parsing it, to keep the CRM as close to instant as possible).
type CrmLog = Arc<Mutex<Vec<(Instant, i64)>>>;

async fn start_crm(log: CrmLog) -> String {
    async fn answer(
        axum::extract::State(log): axum::extract::State<CrmLog>,
        body: axum::body::Bytes,
    ) -> impl axum::response::IntoResponse {
        let at = Instant::now();
        if let Some(customer) = json_int_after(&body, b"\"telegram_id\":") {
            log.lock().expect("crm log").push((at, customer));
        }
        ([(axum::http::header::CONTENT_TYPE, "application/json")], CRM_BODY)
    }
    let app = axum::Router::new().route("/crm", axum::routing::post(answer)).with_state(log);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the CRM");
    let addr = listener.local_addr().expect("CRM address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/crm")
}

/// The integer right after `key` in `haystack`.
fn json_int_after(haystack: &[u8], key: &[u8]) -> Option<i64> {
    let start = haystack.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: String = haystack[start..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit() || **b == b'-')
        .map(|&b| char::from(b))
        .collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------
// Watching the support group
// ---------------------------------------------------------------------------

/// What the support group shows for one customer's ticket.
#[derive(Clone, Copy, Debug, Default)]
struct Published {
    thread: Option<i32>,
    note: Option<i32>,
    pinned_seen: Option<Instant>,
}

/// Reads the support group's messages once each, in id order.
struct GroupWatch {
    cursor: Option<i32>,
    topics: HashSet<i32>,
    /// thread → (customer, note id)
    notes: HashMap<i32, (i64, i32)>,
    by_customer: HashMap<i64, Published>,
}

impl GroupWatch {
    fn new(sim: &BotApiSim) -> Self {
        let cursor = sim.all_messages(SUPPORT_GROUP_ID).iter().map(|m| m.message_id).max().map(|id| id + 1);
        Self { cursor, topics: HashSet::new(), notes: HashMap::new(), by_customer: HashMap::new() }
    }

    /// Reads every message added since the last call.
    fn poll(&mut self, sim: &BotApiSim, now: Instant) {
        let Some(mut cursor) = self.cursor else {
            // Empty group so far: find its first message id once there is one.
            let mut all = sim.all_messages(SUPPORT_GROUP_ID);
            if all.is_empty() {
                return;
            }
            all.sort_by_key(|m| m.message_id);
            for m in &all {
                self.read(m, now);
            }
            self.cursor = all.last().map(|m| m.message_id + 1);
            return;
        };
        loop {
            if let Some(m) = sim.message(SUPPORT_GROUP_ID, cursor) {
                self.read(&m, now);
                cursor += 1;
                continue;
            }
            // An id can be allocated for a request that then failed: skip a small gap.
            match (1..=8).find(|k| sim.message(SUPPORT_GROUP_ID, cursor + k).is_some()) {
                Some(k) => cursor += k,
                None => break,
            }
        }
        self.cursor = Some(cursor);
    }

    fn read(&mut self, m: &SimMessage, now: Instant) {
        match (&m.kind, m.thread_id) {
            (SimKind::Service(name), _) if name == "forum_topic_created" => {
                self.topics.insert(m.message_id);
            }
            (SimKind::Text, Some(thread)) if m.from_bot && !self.notes.contains_key(&thread) => {
                let html = m.html.as_deref().or(m.text.as_deref()).unwrap_or_default();
                if let Some(customer) = json_int_after(html.as_bytes(), b"tg://user?id=") {
                    self.notes.insert(thread, (customer, m.message_id));
                    let entry = self.by_customer.entry(customer).or_default();
                    entry.thread = Some(thread);
                    entry.note = Some(m.message_id);
                }
            }
            (SimKind::Service(name), Some(thread)) if name == "pinned_message" => {
                let pinned = m.media.as_ref().and_then(|v| v["message_id"].as_i64());
                if let Some(&(customer, note)) = self.notes.get(&thread)
                    && pinned == Some(i64::from(note))
                    && let Some(entry) = self.by_customer.get_mut(&customer)
                {
                    entry.pinned_seen.get_or_insert(now);
                }
            }
            _ => {}
        }
    }

    /// Topic exists and its note is pinned.
    fn published(&self, customer: i64) -> Option<Published> {
        let p = *self.by_customer.get(&customer)?;
        let thread = p.thread?;
        (self.topics.contains(&thread) && p.pinned_seen.is_some()).then_some(p)
    }
}

// ---------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------

enum Stage {
    /// `/start` sent; waiting for the category buttons.
    Menu,
    /// Billing pressed; waiting for the description prompt.
    Prompt { before: usize },
    /// Description sent at `t0`; waiting for topic + pin + assignee.
    Ticket { t0: Instant },
}

struct Customer {
    user: SimUser,
    stage: Stage,
    started: Instant,
}

/// One finished ticket.
#[derive(Clone, Copy, Debug)]
struct Sample {
    customer: i64,
    t0: Instant,
    /// Topic and pin seen by the driver.
    pinned_seen: Instant,
    /// The assignee confirmed in the database: the clock stops here.
    done: Instant,
}

/// Polling statistics.
#[derive(Default)]
struct PollStats {
    ticks: u64,
    /// Time spent reading the simulator per tick.
    work: Duration,
    /// Time from the end of one tick to the start of the next (the sleep).
    slept: Duration,
    db_checks: u64,
    db_time: Duration,
    /// CPU time of the whole process during the run.
    cpu: Duration,
}

struct Driver<'a> {
    rt: &'a Runtime,
    bot: &'a TestBot,
    watch: GroupWatch,
    stats: PollStats,
}

impl Driver<'_> {
    fn start_customer(&self, id: i64) -> Customer {
        let user = SimUser::customer(id, &format!("Customer {id}"));
        self.bot.sim.private_command(&user, "/start");
        Customer { user, stage: Stage::Menu, started: Instant::now() }
    }

    /// Advances one customer; returns the sample when their ticket is complete.
    fn step(&mut self, c: &mut Customer) -> Option<Sample> {
        let sim = &self.bot.sim;
        match c.stage {
            Stage::Menu => {
                let messages = sim.messages_in(c.user.id, None);
                let menu = messages.iter().find(|m| !m.callback_data().is_empty())?;
                let data = menu
                    .callback_data()
                    .into_iter()
                    .find(|d| d.ends_with("/billing"))
                    .unwrap_or_else(|| panic!("no billing button: {:?}", menu.callback_data()));
                sim.press_button(&c.user, menu.message_id, &data);
                c.stage = Stage::Prompt { before: messages.len() };
                None
            }
            Stage::Prompt { before } => {
                if sim.messages_in(c.user.id, None).len() <= before {
                    return None;
                }
                let t0 = Instant::now();
                sim.private_text(&c.user, DESCRIPTION);
                c.stage = Stage::Ticket { t0 };
                None
            }
            Stage::Ticket { t0 } => {
                let published = self.watch.published(c.user.id)?;
                let check = Instant::now();
                let ticket = self
                    .rt
                    .block_on(self.bot.db.storage.open_ticket_of_customer(c.user.id))
                    .expect("ticket query")
                    .expect("the customer has an open ticket");
                let done = Instant::now();
                self.stats.db_checks += 1;
                self.stats.db_time += done - check;
                assert_eq!(ticket.thread_id, published.thread, "the ticket row names the topic seen");
                assert_eq!(ticket.note_message_id, published.note, "the ticket row names the pinned note");
                ticket.assignee_id?;
                let pinned_seen = published.pinned_seen.expect("published means pinned");
                Some(Sample { customer: c.user.id, t0, pinned_seen, done })
            }
        }
    }

    /// Runs `count` customers with at most `concurrency` in flight.
    fn run(&mut self, first_id: i64, count: usize, concurrency: usize) -> (Vec<Sample>, Duration) {
        self.watch = GroupWatch::new(&self.bot.sim);
        self.stats = PollStats::default();
        let mut next = 0usize;
        let mut in_flight: Vec<Customer> = Vec::new();
        let mut samples = Vec::with_capacity(count);
        let begin = Instant::now();
        let cpu_begin = process_cpu();
        let mut last_tick_end: Option<Instant> = None;
        while samples.len() < count {
            while in_flight.len() < concurrency && next < count {
                in_flight.push(self.start_customer(first_id + next as i64));
                next += 1;
            }
            let tick = Instant::now();
            if let Some(end) = last_tick_end {
                self.stats.slept += tick - end;
            }
            self.watch.poll(&self.bot.sim, tick);
            self.stats.ticks += 1;
            self.stats.work += tick.elapsed();
            let mut i = 0;
            while i < in_flight.len() {
                if let Some(sample) = self.step(&mut in_flight[i]) {
                    samples.push(sample);
                    in_flight.swap_remove(i);
                } else {
                    if in_flight[i].started.elapsed() > STUCK_AFTER {
                        panic!(
                            "customer {} stuck for {STUCK_AFTER:?}\n{}",
                            in_flight[i].user.id,
                            self.bot.sim.dump_calls(40)
                        );
                    }
                    i += 1;
                }
            }
            last_tick_end = Some(Instant::now());
            std::thread::sleep(POLL_INTERVAL);
        }
        self.stats.cpu = process_cpu().saturating_sub(cpu_begin);
        (samples, begin.elapsed())
    }
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

/// CPU time of the whole process so far (user + system; Linux only, else
/// zero): the bot, the simulator, the CRM and the driver together.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the command name (which is in parentheses): state is field 3,
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn summary(values: &[f64]) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    format!(
        "p50 {:6.2}  p90 {:6.2}  p99 {:6.2}  max {:6.2}  mean {:6.2} ms",
        percentile(&v, 50.0),
        percentile(&v, 90.0),
        percentile(&v, 99.0),
        v[v.len() - 1],
        mean
    )
}

fn p99(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 99.0)
}

/// Where the time goes: when each step of a ticket reached the simulator or
/// the CRM, relative to the description (medians and p99 over the run).
fn breakdown(sim: &BotApiSim, crm: &CrmLog, samples: &[Sample]) {
    let calls = sim.calls();
    let crm = crm.lock().expect("crm log").clone();
    let t0_of: HashMap<i64, Instant> = samples.iter().map(|s| (s.customer, s.t0)).collect();
    // customer → ticket number (from the "Ticket #N opened" message) and its time.
    let mut ack: HashMap<i64, (Instant, i64)> = HashMap::new();
    let mut number_to_customer: HashMap<i64, i64> = HashMap::new();
    let mut steps: HashMap<i64, [Option<Instant>; 5]> = HashMap::new();
    let mut note_to_customer: HashMap<i64, i64> = HashMap::new();
    for call in &calls {
        if call.error.is_some() {
            continue;
        }
        let Some(chat) = call.chat_id() else { continue };
        if call.method == "sendMessage" && t0_of.contains_key(&chat) {
            let Some(t0) = t0_of.get(&chat) else { continue };
            let text = call.str_param("text").unwrap_or_default();
            if call.at >= *t0
                && let Some(n) = text.split('#').nth(1).and_then(|r| {
                    r.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<i64>().ok()
                })
            {
                ack.entry(chat).or_insert((call.at, n));
                number_to_customer.insert(n, chat);
            }
        }
    }
    for (customer, (at, _)) in &ack {
        steps.entry(*customer).or_default()[0] = Some(*at);
    }
    for (at, customer) in crm {
        if let Some(s) = steps.get_mut(&customer)
            && s[1].is_none()
        {
            s[1] = Some(at);
        }
    }
    for call in &calls {
        if call.error.is_some() || call.chat_id() != Some(SUPPORT_GROUP_ID) {
            continue;
        }
        match call.method.as_str() {
            "createForumTopic" => {
                let name = call.str_param("name").unwrap_or_default();
                let n = name.trim_start_matches('#').split(' ').next().and_then(|n| n.parse::<i64>().ok());
                if let Some(c) = n.and_then(|n| number_to_customer.get(&n))
                    && let Some(s) = steps.get_mut(c)
                {
                    s[2].get_or_insert(call.at);
                }
            }
            "sendMessage" => {
                let text = call.str_param("text").unwrap_or_default();
                if let Some(c) = json_int_after(text.as_bytes(), b"tg://user?id=")
                    && let Some(s) = steps.get_mut(&c)
                    && s[3].is_none()
                {
                    s[3] = Some(call.at);
                    if let Some(id) = call.result.as_ref().and_then(|r| r["message_id"].as_i64()) {
                        note_to_customer.insert(id, c);
                    }
                }
            }
            _ => {}
        }
    }
    for call in &calls {
        if call.method == "pinChatMessage"
            && call.error.is_none()
            && let Some(id) = call.params.get("message_id").and_then(value_i64)
            && let Some(c) = note_to_customer.get(&id)
            && let Some(s) = steps.get_mut(c)
        {
            s[4].get_or_insert(call.at);
        }
    }
    let labels = [
        "description → 'Ticket #N opened' sent to the customer",
        "description → CRM request received",
        "description → createForumTopic received",
        "description → note sendMessage received",
        "description → pinChatMessage received",
    ];
    for (i, label) in labels.iter().enumerate() {
        let values: Vec<f64> = samples
            .iter()
            .filter_map(|s| steps.get(&s.customer).and_then(|st| st[i]).map(|at| ms(at - s.t0)))
            .collect();
        if values.is_empty() {
            println!("intake:   {label:<55} (not observed)");
        } else {
            println!("intake:   {label:<55} {}", summary(&values));
        }
    }
    let seen: Vec<f64> = samples.iter().map(|s| ms(s.pinned_seen - s.t0)).collect();
    println!("intake:   {:<55} {}", "description → pin seen by the driver", summary(&seen));
    let total: Vec<f64> = samples.iter().map(|s| ms(s.done - s.t0)).collect();
    println!("intake:   {:<55} {}", "description → assignee confirmed (the measure)", summary(&total));
}

fn value_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn report(name: &str, samples: &[Sample], wall: Duration, stats: &PollStats) -> Vec<f64> {
    let latencies: Vec<f64> = samples.iter().map(|s| ms(s.done - s.t0)).collect();
    println!(
        "intake: {name}: {} tickets in {:.2} s ({:.0} tickets/s, including the untimed /start and button steps)",
        samples.len(),
        wall.as_secs_f64(),
        samples.len() as f64 / wall.as_secs_f64()
    );
    println!("intake: {name}: latency {}", summary(&latencies));
    let over = latencies.iter().filter(|&&l| l >= TARGET_P99_MS).count();
    println!(
        "intake: {name}: {over} of {} tickets at or over {TARGET_P99_MS} ms; process CPU {:.2} s = {:.2} ms per ticket \
         ({:.0} % of {} cores over the run)",
        latencies.len(),
        stats.cpu.as_secs_f64(),
        ms(stats.cpu) / latencies.len().max(1) as f64,
        stats.cpu.as_secs_f64() / wall.as_secs_f64() * 100.0 / cores() as f64,
        cores()
    );
    let third = latencies.len() / 3;
    if third > 0 {
        println!(
            "intake: {name}: first third {} | last third {}",
            summary(&latencies[..third]),
            summary(&latencies[latencies.len() - third..])
        );
    }
    let ticks = stats.ticks.max(1) as f64;
    println!(
        "intake: {name}: polling: {} wakes, interval {:.0} µs mean (asked {} µs), {:.1} µs of simulator reads per wake; \
         assignee check {:.0} µs mean ({} queries)",
        stats.ticks,
        stats.slept.as_secs_f64() * 1e6 / (ticks - 1.0).max(1.0),
        POLL_INTERVAL.as_micros(),
        stats.work.as_secs_f64() * 1e6 / ticks,
        stats.db_time.as_secs_f64() * 1e6 / stats.db_checks.max(1) as f64,
        stats.db_checks
    );
    latencies
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn main() {
    // The bot logs through `tracing`; `TestBot` would install a subscriber at
    // `info` unless one exists. Default to `warn` here (RUST_LOG overrides).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let crm_log: CrmLog = Arc::default();
    let crm_url = rt.block_on(start_crm(crm_log.clone()));
    let mut bot = rt.block_on(TestBot::start_with(&[("ROUTING_WEBHOOK_URL", &crm_url)]));
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    rt.block_on(async {
        let storage = &bot.db.storage;
        storage.upsert_agent(AGENT_ID, "Alice Senior", 1_000_000, now_ms, None).await.expect("add agent");
        for skill in ["billing:3", "general:1"] {
            let skill = SkillLevel::parse(skill).expect("valid skill");
            assert!(storage.set_agent_skill(AGENT_ID, &skill, None).await.expect("add skill"));
        }
    });
    println!(
        "intake: bot on {} worker threads, SQLite in a temp dir, instant CRM at {crm_url}, 1 agent",
        cores()
    );

    let mut driver =
        Driver { rt: &rt, bot: &bot, watch: GroupWatch::new(&bot.sim), stats: PollStats::default() };
    let (warm, warm_wall) = driver.run(30_000_000, WARM_UP_CUSTOMERS, 1);
    println!("intake: warm-up: {} tickets in {:.2} s (not counted)", warm.len(), warm_wall.as_secs_f64());

    let customers = env_usize("INTAKE_CUSTOMERS", CUSTOMERS);
    let concurrency = env_usize("INTAKE_CONCURRENCY", CONCURRENT);
    let (sequential, wall) = driver.run(10_000_000, customers, 1);
    let seq = report("sequential (1 customer at a time)", &sequential, wall, &driver.stats);
    breakdown(&bot.sim, &crm_log, &sequential);

    let (concurrent, wall) = driver.run(20_000_000, customers, concurrency);
    let label = format!("concurrent ({concurrency} customers in flight)");
    let conc = report(&label, &concurrent, wall, &driver.stats);
    breakdown(&bot.sim, &crm_log, &concurrent);

    let violations = bot.sim.schema_violations();
    if !violations.is_empty() {
        println!("intake: simulator schema violations: {violations:?}");
    }
    drop(driver);
    if let Err(error) = rt.block_on(bot.stop()) {
        println!("intake: the bot stopped with an error: {error:#}");
    }

    let worst = p99(&seq).max(p99(&conc));
    let verdict = if worst < TARGET_P99_MS { "PASS" } else { "MISS" };
    println!(
        "intake p99: {worst:.2} ms (target < {TARGET_P99_MS} ms) {verdict} [sequential {:.2} ms, concurrent {:.2} ms]",
        p99(&seq),
        p99(&conc)
    );
}
