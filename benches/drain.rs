//! Queue drain cost (issue 10): 1,000 waiting tickets and 50 agents, on
//! SQLite and, when `TEST_POSTGRES_URL` is set, PostgreSQL. Target: a drain
//! completes in under 20 ms.
//!
//! Run: `cargo bench --bench drain` (add `TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test`
//! for PostgreSQL). Three drains are timed, each on a freshly seeded queue:
//!
//! - *nobody fits*: one agent has room but lacks the skill every waiting
//!   ticket needs (premium, enriched), the other 49 are full: every ticket
//!   is routed in memory, nothing is written;
//! - *one free slot each*: the 50 agents have one slot each: 50 tickets are
//!   assigned, in one transaction;
//! - *all full*: nobody has room: one roster read and nothing else.

#[path = "support/postgres.rs"]
mod postgres;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::{Connection, Executor};
use topicdesk::{
    clock::SystemClock,
    config::DatabaseUrl,
    domain::SkillLevel,
    i18n::I18n,
    routing::{RoutingPolicy, service::RoutingService},
    storage::Storage,
};

const WAITING: i64 = 1_000;
const AGENTS: i64 = 50;
/// Closed history beside the queue, so the queries run on a realistic table.
const HISTORY: i64 = 100_000;
const BATCH: i64 = 2_000;
const TARGET: Duration = Duration::from_millis(20);
const RUNS: usize = 5;

#[derive(Clone, Copy, Debug)]
enum Scenario {
    NobodyFits,
    OneSlotEach,
    AllFull,
}

/// One ticket row; `assignee` is the agent it counts against (an open one
/// is load), `None` for a waiting ticket (routed once, enriched, queued).
fn row(i: i64, now_ms: i64, status: &str, assignee: Option<i64>, skill: &str) -> String {
    let customer = 1_000_000 + i;
    let assignee = assignee.map_or("NULL".to_owned(), |a| a.to_string());
    let (rule, enrichment) = if assignee == "NULL" && status == "open" {
        (
            "'queued'",
            r#"'{"status":"ok","response":{"tier":"premium","order_count":4,"recent_ticket_count":1}}'"#,
        )
    } else {
        ("'specialist'", "NULL")
    };
    format!(
        "({customer}, {customer}, 'Customer {i}', 'en', '{skill}', '{skill}', 'a description of the problem, \
         long enough to be realistic for a support ticket', 1, '{status}', 'premium', 100, {}, {assignee}, \
         {rule}, 'waits', {enrichment})",
        now_ms - 3_600_000 + i
    )
}

async fn insert<C>(conn: &mut C, rows: Vec<String>)
where
    for<'c> &'c mut C: Executor<'c>,
{
    for chunk in rows.chunks(BATCH as usize) {
        let sql = format!(
            "INSERT INTO tickets (customer_id, customer_chat_id, customer_name, language, category, \
             required_skill, description, description_message_id, status, tier, priority, created_at, \
             assignee_id, routing_rule, routing_reason, enrichment) VALUES {}",
            chunk.join(",")
        );
        (&mut *conn).execute(sqlx::AssertSqlSafe(sql)).await.expect("seed batch");
    }
}

/// The rows of one scenario: history, the agents' load, the waiting queue.
fn rows(scenario: Scenario, now_ms: i64) -> Vec<String> {
    let mut rows = Vec::new();
    let mut i = 0;
    for _ in 0..HISTORY {
        rows.push(row(i, now_ms, "closed", Some(9_000 + i % AGENTS), "billing"));
        i += 1;
    }
    for agent in 0..AGENTS {
        // Capacity 5: four open tickets leave one slot; five fill it. In
        // "nobody fits", agent 0 (billing only) keeps its room.
        let load = match scenario {
            Scenario::OneSlotEach => 4,
            Scenario::AllFull => 5,
            Scenario::NobodyFits if agent == 0 => 0,
            Scenario::NobodyFits => 5,
        };
        for _ in 0..load {
            rows.push(row(i, now_ms, "open", Some(9_000 + agent), "technical"));
            i += 1;
        }
    }
    for _ in 0..WAITING {
        rows.push(row(i, now_ms, "open", None, "technical"));
        i += 1;
    }
    rows
}

async fn agents(storage: &Storage, scenario: Scenario) {
    for n in 0..AGENTS {
        let id = 9_000 + n;
        storage.upsert_agent(id, &format!("agent{n}"), 5, 0, None).await.expect("agent");
        let skill = match scenario {
            Scenario::NobodyFits if n == 0 => "billing:2",
            _ => "technical:2",
        };
        storage.set_agent_skill(id, &SkillLevel::parse(skill).expect("skill"), None).await.expect("skill");
    }
}

async fn run_scenario(label: &str, url: &DatabaseUrl, raw_url: &str, scenario: Scenario) -> Duration {
    let now = chrono::Utc::now().timestamp_millis();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let storage = Storage::connect(url).await.expect("storage");
        match url {
            DatabaseUrl::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(raw_url).await.expect("connect");
                conn.execute("DELETE FROM tickets").await.expect("clear");
                conn.execute("DELETE FROM agent_skills").await.expect("clear");
                conn.execute("DELETE FROM agents").await.expect("clear");
                conn.execute("BEGIN").await.expect("begin");
                insert(&mut conn, rows(scenario, now)).await;
                conn.execute("COMMIT").await.expect("commit");
                conn.execute("ANALYZE").await.expect("analyze");
                conn.close().await.ok();
            }
            DatabaseUrl::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(raw_url).await.expect("connect");
                conn.execute("TRUNCATE tickets CASCADE").await.expect("clear");
                conn.execute("DELETE FROM agent_skills").await.expect("clear");
                conn.execute("DELETE FROM agents").await.expect("clear");
                insert(&mut conn, rows(scenario, now)).await;
                conn.execute("ANALYZE").await.expect("analyze");
                conn.close().await.ok();
            }
        }
        agents(&storage, scenario).await;
        let i18n = Arc::new(I18n::load().expect("locales"));
        let routing = RoutingService::new(
            storage.clone(),
            None,
            RoutingPolicy::default(),
            i18n,
            Arc::new(SystemClock),
            Duration::from_secs(300),
        );
        // Warm the connections and caches as a running bot has them.
        let _ = storage.roster().await.expect("roster");
        let t = Instant::now();
        let assigned = routing.drain_queue(None).await.expect("drain");
        times.push(t.elapsed());
        let expected = match scenario {
            Scenario::NobodyFits | Scenario::AllFull => 0,
            Scenario::OneSlotEach => AGENTS as usize,
        };
        assert_eq!(assigned.len(), expected, "{scenario:?}");
        let waiting = storage.queue_length().await.expect("queue");
        assert_eq!(waiting, WAITING - expected as i64, "{scenario:?}");
        storage.close().await;
    }
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "{label}: drain, {WAITING} waiting, {AGENTS} agents, {scenario:?}: median {:.2?} (min {:.2?}, max {:.2?}) {}",
        median,
        times[0],
        times[RUNS - 1],
        if median < TARGET { "PASS < 20 ms" } else { "MISS >= 20 ms" }
    );
    median
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("drain.db");
    let raw = format!("sqlite://{}", path.display());
    let url = DatabaseUrl::Sqlite(raw.clone());
    for scenario in [Scenario::NobodyFits, Scenario::OneSlotEach, Scenario::AllFull] {
        run_scenario("sqlite", &url, &raw, scenario).await;
    }

    if let Some(scratch) = postgres::ScratchDatabase::create("drain_bench").await {
        let raw = scratch.url.clone();
        let url = DatabaseUrl::Postgres(raw.clone());
        for scenario in [Scenario::NobodyFits, Scenario::OneSlotEach, Scenario::AllFull] {
            run_scenario("postgres", &url, &raw, scenario).await;
        }
        scratch.drop_now().await;
    } else {
        println!("postgres: skipped (set TEST_POSTGRES_URL)");
    }
}
