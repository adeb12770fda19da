//! Premium-override sweep cost with 1,000,000 tickets of which 1,000 are
//! overdue (issue 4): target under 50 ms per sweep, on SQLite and, when
//! `TEST_POSTGRES_URL` is set, PostgreSQL.
//!
//! Run: `cargo bench --bench sweep` (add `TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test`
//! for PostgreSQL). Seeding a million rows takes a while; the sweep itself is timed.

#[path = "support/postgres.rs"]
mod postgres;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::{Connection, Executor};
use topicdesk::{
    clock::SystemClock, config::DatabaseUrl, domain::SkillLevel, i18n::I18n, routing::sweeper::Sweeper,
    storage::Storage,
};

const TICKETS: i64 = 1_000_000;
const OVERDUE: i64 = 1_000;
const BATCH: i64 = 5_000;

/// Rows of `(customer, created_at, status, assignee, override_due_at)`:
/// mostly closed history, some open tickets with future deadlines, and
/// `OVERDUE` open premium tickets whose deadline passed.
fn row(i: i64, now_ms: i64) -> String {
    let customer = 1_000_000 + i;
    let (status, due) = if i < OVERDUE {
        ("open", format!("{}", now_ms - 60_000 - i))
    } else if i < OVERDUE + 20_000 {
        ("open", "NULL".to_owned())
    } else if i < OVERDUE + 25_000 {
        ("open", format!("{}", now_ms + 300_000 + i))
    } else {
        ("closed", "NULL".to_owned())
    };
    format!(
        "({customer}, {customer}, 'C', 'en', 'billing', 'billing', 'x', 1, '{status}', 'premium', 100, {}, {due})",
        now_ms - 3_600_000 + i % 1000
    )
}

async fn seed_sql<C>(conn: &mut C, now_ms: i64)
where
    for<'c> &'c mut C: Executor<'c>,
{
    let mut i = 0;
    while i < TICKETS {
        let values: Vec<String> = (i..(i + BATCH).min(TICKETS)).map(|n| row(n, now_ms)).collect();
        let sql = format!(
            "INSERT INTO tickets (customer_id, customer_chat_id, customer_name, language, category, \
             required_skill, description, description_message_id, status, tier, priority, created_at, \
             override_due_at) VALUES {}",
            values.join(",")
        );
        (&mut *conn).execute(sqlx::AssertSqlSafe(sql)).await.expect("seed batch");
        i += BATCH;
    }
}

async fn agents(storage: &Storage) {
    for id in 0..50 {
        storage.upsert_agent(9_000 + id, &format!("agent{id}"), 50, 0, None).await.expect("agent");
        storage
            .set_agent_skill(9_000 + id, &SkillLevel::parse("general:1").expect("skill"), None)
            .await
            .expect("skill");
    }
}

async fn measure(label: &str, url: DatabaseUrl, seed_conn: impl std::future::Future<Output = ()>) {
    let storage = Storage::connect(&url).await.expect("storage");
    let started = Instant::now();
    seed_conn.await;
    println!("{label}: seeded {TICKETS} tickets in {:.1?}", started.elapsed());
    agents(&storage).await;
    let i18n = Arc::new(I18n::load().expect("locales"));
    let sweeper = Sweeper::new(storage.clone(), i18n, Arc::new(SystemClock), Duration::from_secs(300));

    // Finding the overdue tickets alone (the indexed query).
    let now = chrono::Utc::now().timestamp_millis();
    let mut finds = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let overdue = storage.overdue_tickets(now, 1_000).await.expect("query");
        finds.push(t.elapsed());
        assert_eq!(overdue.len() as i64, OVERDUE);
    }
    finds.sort();
    println!(
        "{label}: find {OVERDUE} overdue among {TICKETS}: median {:.2?} (min {:.2?}, max {:.2?})",
        finds[2], finds[0], finds[4]
    );

    // A whole sweep: find and claim all of them (1,000 compare-and-set updates).
    let t = Instant::now();
    let claimed = sweeper.claim_overdue().await.expect("sweep");
    let full = t.elapsed();
    assert_eq!(claimed.len() as i64, OVERDUE);
    // And an idle sweep afterwards (nothing overdue: the common case).
    let t = Instant::now();
    let none = sweeper.claim_overdue().await.expect("sweep");
    let idle = t.elapsed();
    assert!(none.is_empty());
    println!(
        "{label}: sweep claiming {OVERDUE} overdue: {:.1?} ({}); idle sweep: {:.2?}",
        full,
        if full < Duration::from_millis(50) { "PASS < 50 ms" } else { "MISS >= 50 ms" },
        idle
    );
    storage.close().await;
}

#[tokio::main]
async fn main() {
    let now = chrono::Utc::now().timestamp_millis();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("sweep.db");
    let url = DatabaseUrl::Sqlite(format!("sqlite://{}", path.display()));
    {
        // Create the schema first.
        let storage = Storage::connect(&url).await.expect("storage");
        storage.close().await;
    }
    let seed_url = format!("sqlite://{}", path.display());
    measure("sqlite", url, async move {
        let mut conn = sqlx::SqliteConnection::connect(&seed_url).await.expect("connect");
        conn.execute("BEGIN").await.expect("begin");
        seed_sql(&mut conn, now).await;
        conn.execute("COMMIT").await.expect("commit");
        conn.execute("ANALYZE").await.expect("analyze");
    })
    .await;

    if let Some(scratch) = postgres::ScratchDatabase::create("sweep_bench").await {
        let db_url_s = scratch.url.clone();
        {
            let storage = Storage::connect(&DatabaseUrl::Postgres(db_url_s.clone())).await.expect("schema");
            storage.close().await;
        }
        let seed_url = db_url_s.clone();
        measure("postgres", DatabaseUrl::Postgres(db_url_s), async move {
            let mut c = sqlx::PgConnection::connect(&seed_url).await.expect("connect");
            seed_sql(&mut c, now).await;
            c.execute("ANALYZE tickets").await.expect("analyze");
        })
        .await;
        scratch.drop_now().await;
    } else {
        println!("postgres: skipped (set TEST_POSTGRES_URL)");
    }
}
