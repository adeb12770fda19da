//! A scratch PostgreSQL database for a bench, made from `TEST_POSTGRES_URL`
//! and dropped when the bench is done with it.

use sqlx::{Connection, Executor, PgConnection};

pub struct ScratchDatabase {
    admin: PgConnection,
    name: String,
    /// Where the bench connects.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `topicdesk_<purpose>_<pid>` on the server `TEST_POSTGRES_URL`
    /// names; `None` when it is not set.
    pub async fn create(purpose: &str) -> Option<Self> {
        let admin_url = std::env::var("TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
        let name = format!("topicdesk_{purpose}_{}", std::process::id());
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to TEST_POSTGRES_URL");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.expect("create db");
        let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Some(Self { admin, name, url: url.to_string() })
    }

    /// Drops the database (whoever is still connected).
    pub async fn drop_now(mut self) {
        let sql = format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name);
        let _ = self.admin.execute(sqlx::AssertSqlSafe(sql)).await;
    }
}
