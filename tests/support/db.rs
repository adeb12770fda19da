#![allow(dead_code)]

//! Fresh databases for tests: an SQLite file in a temp dir always, and a
//! throw-away PostgreSQL database when `TEST_POSTGRES_URL` is set.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use sqlx::{Connection, Executor, PgConnection};
use topicdesk::{config::DatabaseUrl, storage::Storage};

/// A database that lives as long as the test.
pub struct TestDb {
    pub url: DatabaseUrl,
    pub storage: Storage,
    cleanup: Cleanup,
}

enum Cleanup {
    TempDir(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A new SQLite database in its own temp directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("topicdesk.db");
        let url = DatabaseUrl::Sqlite(format!("sqlite://{}", path.display()));
        let storage = Storage::connect(&url).await.expect("sqlite storage");
        TestDb { url, storage, cleanup: Cleanup::TempDir(dir) }
    }

    /// A new PostgreSQL database, if `TEST_POSTGRES_URL` is set.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!(
            "topicdesk_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to TEST_POSTGRES_URL");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        let url = DatabaseUrl::Postgres(url.to_string());
        let storage = Storage::connect(&url).await.expect("postgres storage");
        Some(TestDb { url, storage, cleanup: Cleanup::Postgres { admin_url, name } })
    }

    /// Every backend available here: SQLite, plus PostgreSQL when configured.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres().await {
            dbs.push(pg);
        }
        dbs
    }

    /// Closes the pool and drops a PostgreSQL database.
    pub async fn destroy(self) {
        self.storage.close().await;
        if let Cleanup::Postgres { admin_url, name } = self.cleanup
            && let Ok(mut admin) = PgConnection::connect(&admin_url).await
        {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                .await;
        }
    }
}
