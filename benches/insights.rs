//! Insights with 1,000,000 tickets stored (issue 14): `/stats 30d` (every
//! figure read and the chart rendered) in under 1 s, and `/export 30d` of
//! 100,000 rows streamed in under 3 s with a peak RSS growth under 30 MB;
//! on SQLite and, when `TEST_POSTGRES_URL` is set, PostgreSQL.
//!
//! Run: `cargo bench --bench insights` (add
//! `TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test` for
//! PostgreSQL). Seeding takes a while; the commands' work is timed, with
//! the same functions the handlers call.
//!
//! The history: 1,000,000 tickets spread evenly over 300 days (so the last
//! 30 days hold 100,000), 50 agents, every ticket with a CRM call record,
//! 90 % answered, 80 % closed, 30 % rated; 300 days of the group's
//! per-minute budget.

#[path = "support/memory.rs"]
mod memory;
#[path = "support/postgres.rs"]
mod postgres;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::{Connection, Executor};
use topicdesk::{
    admin::insights::{chart_labels, stats_lines},
    config::DatabaseUrl,
    i18n::{I18n, Lang},
    insights::{chart, export, period, stats},
    storage::{Storage, Window},
};

const TICKETS: i64 = 1_000_000;
const DAYS: i64 = 300;
const DAY_MS: i64 = 86_400_000;
const BATCH: i64 = 2_000;
const AGENTS: i64 = 50;

/// A cheap deterministic hash of `i` (SplitMix64).
fn mix(i: i64) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn ticket_row(i: i64, start: i64) -> String {
    let h = mix(i);
    let created = start + i * (DAYS * DAY_MS / TICKETS);
    let tier = match h % 10 {
        0..=1 => "'premium'",
        2..=5 => "'standard'",
        6..=8 => "'basic'",
        _ => "NULL",
    };
    let agent = 9_000 + (h >> 8) as i64 % AGENTS;
    let answered = h % 100 < 90;
    let first = if answered {
        format!("{}", created + 30_000 + ((h >> 16) % 3_600_000) as i64)
    } else {
        "NULL".into()
    };
    let closed = if answered && h % 100 < 80 {
        format!("{}", created + 3_700_000 + ((h >> 24) % 86_400_000) as i64)
    } else {
        "NULL".into()
    };
    let csat = if answered && (h >> 32) % 10 < 3 { format!("{}", 1 + (h >> 40) % 5) } else { "NULL".into() };
    let status = if closed == "NULL" { "open" } else { "closed" };
    // Names and descriptions a spreadsheet must not run, with commas and quotes.
    format!(
        "({c}, {c}, 'Customer, \"{i}\"', 'en', 'billing', 'billing', '=HYPERLINK(\"x\") order {i}', 1, '{status}', \
         {tier}, 50, {created}, {agent}, {first}, {first}, {closed}, {csat}, {i})",
        c = 1_000_000 + i
    )
}

fn crm_row(i: i64, start: i64) -> String {
    let h = mix(i + 7);
    let at = start + i * (DAYS * DAY_MS / TICKETS);
    let outcome = match h % 50 {
        0 => "'timeout'",
        1 => "'http_error'",
        2 => "'invalid_fields'",
        _ => "'ok'",
    };
    let fields = if h % 50 == 2 { "'tier'" } else { "''" };
    format!("({}, {at}, {outcome}, {}, {fields})", i + 1, 50 + (h >> 8) % 400)
}

async fn seed_sql<C>(conn: &mut C, start: i64)
where
    for<'c> &'c mut C: Executor<'c>,
{
    let mut i = 0;
    while i < TICKETS {
        let range = i..(i + BATCH).min(TICKETS);
        let tickets: Vec<String> = range.clone().map(|n| ticket_row(n, start)).collect();
        let sql = format!(
            "INSERT INTO tickets (customer_id, customer_chat_id, customer_name, language, category, \
             required_skill, description, description_message_id, status, tier, priority, created_at, \
             assignee_id, first_response_at, answered_at, closed_at, csat, thread_id) VALUES {}",
            tickets.join(",")
        );
        (&mut *conn).execute(sqlx::AssertSqlSafe(sql)).await.expect("seed tickets");
        let calls: Vec<String> = range.map(|n| crm_row(n, start)).collect();
        let sql = format!(
            "INSERT INTO crm_calls (ticket_id, at, outcome, latency_ms, invalid_fields) VALUES {}",
            calls.join(",")
        );
        (&mut *conn).execute(sqlx::AssertSqlSafe(sql)).await.expect("seed calls");
        i += BATCH;
    }
    let first_minute = start / 60_000;
    let minutes = DAYS * 1440;
    let mut m = 0;
    while m < minutes {
        let rows: Vec<String> = (m..(m + 5_000).min(minutes))
            .map(|n| format!("({}, {}, {})", first_minute + n, 1 + mix(n) % 20, mix(n) % 30_000))
            .collect();
        let sql = format!(
            "INSERT INTO group_minutes (minute, messages, longest_wait_ms) VALUES {}",
            rows.join(",")
        );
        (&mut *conn).execute(sqlx::AssertSqlSafe(sql)).await.expect("seed minutes");
        m += 5_000;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn measure(label: &str, url: DatabaseUrl, now: i64, seed: impl std::future::Future<Output = ()>) {
    let storage = Storage::connect(&url).await.expect("storage");
    let started = Instant::now();
    seed.await;
    println!(
        "{label}: seeded {TICKETS} tickets (+ CRM calls, {DAYS} days of minutes) in {:.1?}",
        started.elapsed()
    );
    for id in 0..AGENTS {
        storage.upsert_agent(9_000 + id, &format!("Agent {id}"), 50, 0, None).await.expect("agent");
    }
    let i18n = Arc::new(I18n::load().expect("locales"));
    let span = period::parse("30d").expect("period");
    let window: Window = period::window(span, now);

    // /stats 30d: every figure, the text and the chart.
    let mut runs = Vec::new();
    let mut parts = (Duration::ZERO, Duration::ZERO);
    let mut png_len = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let figures = stats::gather(&storage, window).await.expect("figures");
        let queried = t.elapsed();
        let lines = stats_lines(&i18n, Lang::En, "30d", window, &figures);
        let png =
            chart::render_frt_chart(&figures.days, &chart_labels(&i18n, Lang::En, "30d")).expect("chart");
        runs.push(t.elapsed());
        parts = (queried, t.elapsed() - queried);
        png_len = png.len();
        assert!(lines.len() > 10 && figures.days.len() >= 30);
        assert_eq!(figures.tiers.iter().map(|t| t.opened).sum::<i64>(), 100_000);
    }
    let stats_median = median(runs);
    println!(
        "{label}: /stats 30d over 100,000 of {TICKETS} tickets: median {:.1?} ({}); last run: queries {:.1?}, text and chart {:.1?}, PNG {} KB",
        stats_median,
        if stats_median < Duration::from_secs(1) { "PASS < 1 s" } else { "MISS >= 1 s" },
        parts.0,
        parts.1,
        png_len / 1024
    );

    // /export 30d: 100,000 rows streamed to a file; peak memory growth.
    memory::check_peak_follows_rss();
    let mut runs = Vec::new();
    let mut growth = Vec::new();
    let mut size = 0;
    for _ in 0..3 {
        let file = tempfile::NamedTempFile::new().expect("tmp");
        memory::reset_peak();
        let (before, peak_after_reset) = memory::rss_kib();
        assert!(
            peak_after_reset <= before + 1024,
            "the peak was not reset ({peak_after_reset} KiB vs {before} KiB)"
        );
        let t = Instant::now();
        let written = export::write(&storage, window, file.reopen().expect("reopen")).await.expect("export");
        runs.push(t.elapsed());
        let (_, peak) = memory::rss_kib();
        growth.push(peak.saturating_sub(before));
        println!(
            "{label}:   export run: RSS before {:.1} MB, peak during {:.1} MB",
            before as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        assert_eq!(written, 100_000);
        size = std::fs::metadata(file.path()).map(|m| m.len()).unwrap_or(0);
    }
    let export_median = median(runs);
    let worst_growth = growth.iter().max().copied().unwrap_or(0);
    println!(
        "{label}: /export 30d, 100,000 rows ({:.1} MB): median {:.2?} ({}); peak RSS growth {:.1} MB worst of 3 ({})",
        size as f64 / 1e6,
        export_median,
        if export_median < Duration::from_secs(3) { "PASS < 3 s" } else { "MISS >= 3 s" },
        worst_growth as f64 / 1024.0,
        if worst_growth < 30 * 1024 { "PASS < 30 MB" } else { "MISS >= 30 MB" }
    );
    storage.close().await;
}

#[tokio::main]
async fn main() {
    let now = chrono::Utc::now().timestamp_millis();
    let start = now - DAYS * DAY_MS;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("insights.db");
    let url = DatabaseUrl::Sqlite(format!("sqlite://{}", path.display()));
    {
        let storage = Storage::connect(&url).await.expect("storage");
        storage.close().await;
    }
    let seed_url = format!("sqlite://{}", path.display());
    measure("sqlite", url, now, async move {
        let mut conn = sqlx::SqliteConnection::connect(&seed_url).await.expect("connect");
        conn.execute("BEGIN").await.expect("begin");
        seed_sql(&mut conn, start).await;
        conn.execute("COMMIT").await.expect("commit");
        conn.execute("ANALYZE").await.expect("analyze");
    })
    .await;

    if let Some(scratch) = postgres::ScratchDatabase::create("insights_bench").await {
        let db_url_s = scratch.url.clone();
        {
            let storage = Storage::connect(&DatabaseUrl::Postgres(db_url_s.clone())).await.expect("schema");
            storage.close().await;
        }
        let seed_url = db_url_s.clone();
        measure("postgres", DatabaseUrl::Postgres(db_url_s), now, async move {
            let mut c = sqlx::PgConnection::connect(&seed_url).await.expect("connect");
            c.execute("BEGIN").await.expect("begin");
            seed_sql(&mut c, start).await;
            c.execute("COMMIT").await.expect("commit");
            c.execute("ANALYZE").await.expect("analyze");
        })
        .await;
        scratch.drop_now().await;
    } else {
        println!("postgres: skipped (set TEST_POSTGRES_URL)");
    }
}
