//! The storage layer: the only module that speaks SQL.
//!
//! One [`Storage`] wraps either an SQLite or a PostgreSQL pool. Queries are
//! written once where both dialects agree (both accept `$1` placeholders,
//! `RETURNING`, partial indexes and `ON CONFLICT`), and the [`with_pool!`]
//! macro runs the same code on whichever pool is in use, with native types on
//! each side. Where the dialects differ, the repository method carries two
//! small queries instead of one clever one.

// `tickets` first: its `ticket_columns!` macro is used by the others.
#[macro_use]
mod tickets;
mod agents;
mod dialogues;
mod escalations;
mod inbox;
mod insights;
mod outbox;
mod pairs;

use std::{str::FromStr, time::Duration};

use sqlx::{
    Connection, PgConnection, PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use agents::{AgentUpsert, Audit};
pub use escalations::{EscalationRow, OverridePlan};
pub use inbox::PendingUpdate;
pub use insights::{
    Budget, Counters, CrmCall, CrmHealth, ExportRow, Flagged, HistoryRow, Spread, TicketTiming, Window,
};
pub use outbox::{
    DialogueChange, FinishedJob, HandledUpdate, NewOutboxRow, OutboxCounts, OutboxRow, QueuedRow,
};
pub use pairs::MessagePair;
pub use tickets::{Assignment, Claim, NewTicket, PastTicket, ReopenOutcome, Ticket};

/// Errors of the storage layer. The cause is kept for logs; users only ever
/// see a generic localised apology.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database at {url}: {cause}")]
    Connect { url: String, cause: sqlx::Error },
    #[error("cannot create the directory for the SQLite database {path}: {cause}")]
    CreateDir { path: String, cause: std::io::Error },
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Shorthand for storage results.
pub type StorageResult<T> = Result<T, StorageError>;

/// Which database backend to use and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file, created if missing.
    Sqlite(String),
    /// A PostgreSQL server (needed for several instances on one database).
    Postgres(String),
}

/// Keeps a password in a database URL out of error messages and logs.
pub fn redact_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the active pool (SQLite or PostgreSQL).
macro_rules! with_pool {
    ($storage:expr, |$pool:ident| $body:expr) => {
        match &$storage.backend {
            $crate::storage::Backend::Sqlite($pool) => $body,
            $crate::storage::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// `DATABASE_URL=sqlite://data/topicdesk.db` should work on a fresh machine.
fn create_parent_dir(file: &std::path::Path) -> StorageResult<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|cause| StorageError::CreateDir { path: file.display().to_string(), cause }),
        _ => Ok(()),
    }
}

/// Handle to the database; cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub struct Storage {
    backend: Backend,
    /// SQLite: read-only connections for the hot reads, beside the one
    /// writer connection (WAL readers never wait for the writer).
    reader: Option<SqlitePool>,
}

/// Runs `$body` with `$pool` bound to a pool for a read: SQLite's readers
/// when there are any, else the same pool as [`with_pool!`].
macro_rules! with_read_pool {
    ($storage:expr, |$pool:ident| $body:expr) => {
        match (&$storage.backend, &$storage.reader) {
            ($crate::storage::Backend::Sqlite(_), Some($pool)) => $body,
            ($crate::storage::Backend::Sqlite($pool), None) => $body,
            ($crate::storage::Backend::Postgres($pool), _) => $body,
        }
    };
}
pub(crate) use with_read_pool;

/// Read-only SQLite connections.
const SQLITE_READERS: u32 = 4;

/// How long SQLite waits for a lock before reporting `database is locked`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Storage {
    /// Opens (creating an SQLite file if needed) and migrates the database.
    pub async fn connect(url: &DatabaseUrl) -> StorageResult<Self> {
        let (backend, reader) = match url {
            DatabaseUrl::Sqlite(raw) => {
                let options = SqliteConnectOptions::from_str(raw)
                    .map_err(|cause| StorageError::Connect { url: raw.clone(), cause })?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    // Checkpoints run in the background (`checkpoint`), not
                    // inside whichever commit crosses the threshold: that
                    // commit's fsyncs were the intake latency's tail.
                    .pragma("wal_autocheckpoint", "0");
                create_parent_dir(options.get_filename())?;
                // One connection: SQLite has one writer anyway, and writers
                // queued in the pool are served in order at once, while
                // writers on separate connections wait in SQLite's busy
                // handler, which sleeps 1, 2, 5, 10… ms between tries.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.clone())
                    .await
                    .map_err(|cause| StorageError::Connect { url: raw.clone(), cause })?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                // An in-memory database exists only on its own connection.
                let in_memory =
                    options.get_filename() == std::path::Path::new(":memory:") || raw.contains("mode=memory");
                let reader = if in_memory {
                    None
                } else {
                    let pool = SqlitePoolOptions::new()
                        .max_connections(SQLITE_READERS)
                        .connect_with(options.read_only(true))
                        .await
                        .map_err(|cause| StorageError::Connect { url: raw.clone(), cause })?;
                    Some(pool)
                };
                (Backend::Sqlite(pool), reader)
            }
            DatabaseUrl::Postgres(raw) => {
                // One direct connection first: the pool would turn "connection
                // refused" or "password authentication failed" into a timeout.
                let probe = PgConnection::connect(raw)
                    .await
                    .map_err(|cause| StorageError::Connect { url: redact_password(raw), cause })?;
                probe.close().await.ok();
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(raw)
                    .await
                    .map_err(|cause| StorageError::Connect { url: redact_password(raw), cause })?;
                sqlx::migrate!("migrations/postgres").run(&pool).await?;
                (Backend::Postgres(pool), None)
            }
        };
        Ok(Self { backend, reader })
    }

    /// Which backend is in use, for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> StorageResult<()> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// Copies the SQLite write-ahead log into the database file without
    /// blocking writers (a no-op on PostgreSQL). Called every second.
    pub async fn checkpoint(&self) -> StorageResult<()> {
        if let Backend::Sqlite(pool) = &self.backend {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await?;
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        if let Some(reader) = &self.reader {
            reader.close().await;
        }
        with_pool!(self, |pool| pool.close().await);
    }
}

/// Held by the one instance that long-polls Telegram (Telegram allows one
/// `getUpdates` consumer per bot). On PostgreSQL it is a session advisory
/// lock on a dedicated connection: if the instance dies, the session ends
/// and another instance takes over. On SQLite (one process) it is a no-op.
#[derive(Debug)]
pub struct PollerLock {
    _connection: Option<PgConnection>,
}

/// The advisory-lock key: "topicdesk" in ASCII, as a number.
const POLLER_LOCK_KEY: i64 = 0x746f_7069_6364_6573;
/// The outbox sender's advisory-lock key.
const SENDER_LOCK_KEY: i64 = POLLER_LOCK_KEY + 1;

impl Storage {
    /// Tries to become the polling instance; `None` if another one is.
    pub async fn try_poller_lock(&self, url: &DatabaseUrl) -> StorageResult<Option<PollerLock>> {
        self.try_lock(url, POLLER_LOCK_KEY).await
    }

    /// Tries to become the instance that sends the outbox; `None` if another one is.
    pub async fn try_sender_lock(&self, url: &DatabaseUrl) -> StorageResult<Option<PollerLock>> {
        self.try_lock(url, SENDER_LOCK_KEY).await
    }

    async fn try_lock(&self, url: &DatabaseUrl, key: i64) -> StorageResult<Option<PollerLock>> {
        let DatabaseUrl::Postgres(raw) = url else {
            return Ok(Some(PollerLock { _connection: None }));
        };
        let mut connection = PgConnection::connect(raw)
            .await
            .map_err(|cause| StorageError::Connect { url: redact_password(raw), cause })?;
        let (locked,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut connection).await?;
        if locked {
            Ok(Some(PollerLock { _connection: Some(connection) }))
        } else {
            connection.close().await.ok();
            Ok(None)
        }
    }
}
