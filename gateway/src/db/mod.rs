//! The database, behind the [`Backend`] trait with SQLite and PostgreSQL
//! implementations.
//!
//! Queries are written once, in SQL both databases accept (`$1` parameters,
//! BIGINT/TEXT/bytes columns, times as epoch milliseconds), and run through
//! sqlx's `Any` driver; what differs per database (connecting, migrations,
//! pragmas, erasing rows) is the backend's job. Queries are checked at run
//! time, not by macros, because a macro can only see one database.
//!
//! Every change goes through [`Db::write`]: one transaction at a time, so
//! the audit hash chain is extended in the same transaction as the change it
//! records and no two writers can fork it.

use anyhow::{Context, Result, bail};
use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool};
use std::sync::Arc;
use tokio::sync::{Mutex, MutexGuard};

pub mod alerts;
pub mod arrivals;
pub mod audit;
pub mod decode;
pub mod delegations;
pub mod deletions;
pub mod full;
pub mod inbound;
pub mod media;
pub mod objects;
pub mod outage;
pub mod outbox;
mod postgres;
pub mod recipients;
mod sqlite;
pub mod transfers;
pub mod users;

/// A database connection as services name it, so no driver type is spelt
/// outside this module.
pub type Conn = sqlx::AnyConnection;

pub use postgres::PostgresBackend;
pub use sqlite::SqliteBackend;

/// What differs between the supported databases.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Statements run on every new connection.
    fn connection_setup(&self) -> &'static [&'static str];
    fn migrator(&self) -> &'static sqlx::migrate::Migrator;
    fn max_connections(&self) -> u32;
    /// How a write transaction starts.
    fn begin_statement(&self) -> &'static str {
        "BEGIN"
    }
    /// Whether secret columns must be overwritten before a row is deleted,
    /// because the database itself does not overwrite freed space.
    fn overwrite_before_delete(&self) -> bool;
    /// How a process asks to be the one replica that runs a background
    /// job (`$1`: the job's key), answering true or false; `None` where only
    /// one process can use the database (SQLite), which always runs them.
    fn lease_query(&self) -> Option<&'static str> {
        None
    }
}

pub fn backend_for(url: &str) -> Result<Arc<dyn Backend>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteBackend))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresBackend))
    } else {
        bail!(
            "unsupported database URL '{}': use sqlite://PATH or postgres://...",
            redact_url(url)
        )
    }
}

/// Hides a password in a database URL before it reaches a message or log
/// (it lives with the configuration's `DatabaseUrl`, whose `Display` it is).
pub use crate::config::redact_url;

/// Whether any migration has not been applied yet. Checking first lets the
/// gateway run as a role that may not create tables once the schema is current.
async fn pending_migrations(pool: &AnyPool, migrator: &sqlx::migrate::Migrator) -> Result<bool> {
    let applied: Vec<i64> = match sqlx::query_scalar::<_, i64>(
        "SELECT version FROM _sqlx_migrations WHERE success = TRUE",
    )
    .fetch_all(pool)
    .await
    {
        Ok(versions) => versions,
        // No bookkeeping table yet: a new database.
        Err(_) => return Ok(true),
    };
    Ok(migrator.iter().any(|m| !applied.contains(&m.version)))
}

/// How long a request waits for a connection. sqlx's default (30 s) keeps a
/// clerk staring at a hung request while PostgreSQL is down; after this the
/// request answers 503 `unavailable` instead (see `crate::error`).
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Db {
    pool: AnyPool,
    backend: Arc<dyn Backend>,
    write_lock: Mutex<()>,
}

/// A write transaction holding the gateway-wide write lock, on a pool
/// connection of its own. Dropping it without [`WriteTx::commit`] rolls
/// everything back, audit events included.
///
/// The transaction is begun and committed with plain `BEGIN` / `COMMIT`
/// rather than sqlx's `Transaction`, because of what a failed `COMMIT`
/// leaves behind. SQLite rolls the whole transaction back when `COMMIT`
/// fails with a full disk, sqlx's own `ROLLBACK` then fails ("no
/// transaction is active") and its connection goes back to the pool still
/// counting one open transaction; the next transaction on it is started as
/// a `SAVEPOINT`, and once one of those is rolled back the savepoint stays
/// open: every later "commit" on that connection only releases a nested
/// savepoint, answers success and is never written, while the open
/// transaction holds the database's write lock ("database is locked") and
/// a stale snapshot until the gateway restarts. So a connection whose
/// transaction did not end in a successful `COMMIT` is never reused: it is
/// closed, which rolls back whatever the database still holds open.
pub struct WriteTx<'a> {
    conn: PoolConnection<Any>,
    committed: bool,
    _guard: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// Makes the transaction durable. An error means nothing of it was
    /// saved; the connection is discarded either way it failed.
    pub async fn commit(mut self) -> Result<()> {
        match sqlx::raw_sql("COMMIT").execute(&mut *self.conn).await {
            Ok(_) => {
                self.committed = true;
                Ok(())
            }
            // `Drop` closes the connection: its state is unknown.
            Err(e) => Err(anyhow::Error::from(e)
                .context("the database refused to commit; nothing of this request was saved")),
        }
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Closing the connection rolls back what is still open; a
            // rollback on a connection whose state is unknown (a statement
            // or the commit failed) could leave it half-open instead.
            self.conn.close_on_drop();
        }
    }
}

/// One round trip to the database (readiness).
pub async fn ping(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("SELECT 1")
        .execute(conn)
        .await
        .context("the database does not answer")?;
    Ok(())
}

impl Db {
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = backend_for(url)?;
        let setup = backend.connection_setup();
        let pool = AnyPoolOptions::new()
            .max_connections(backend.max_connections())
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for statement in setup {
                        sqlx::query(*statement).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(url)))?;
        if pending_migrations(&pool, backend.migrator()).await? {
            backend.migrator().run(&pool).await.with_context(|| {
                format!(
                    "cannot migrate the {} database (a least-privilege role cannot: run \
                     `sekisho-gateway migrate --dir DIR --database-url OWNER_URL` first)",
                    backend.name()
                )
            })?;
        }
        Ok(Self {
            pool,
            backend,
            write_lock: Mutex::new(()),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    pub fn overwrite_before_delete(&self) -> bool {
        self.backend.overwrite_before_delete()
    }

    pub fn lease_query(&self) -> Option<&'static str> {
        self.backend.lease_query()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<Any>> {
        self.pool
            .acquire()
            .await
            .context("the database is unavailable")
    }

    pub async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = self.write_lock.lock().await;
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("the database is unavailable")?;
        // A failed BEGIN leaves the connection in no known state either.
        if let Err(e) = sqlx::raw_sql(self.backend.begin_statement())
            .execute(&mut *conn)
            .await
        {
            conn.close_on_drop();
            return Err(anyhow::Error::from(e).context("the database is unavailable"));
        }
        Ok(WriteTx {
            conn,
            committed: false,
            _guard: guard,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://sekisho:hunter2@db:5432/sekisho"),
            "postgres://sekisho:***@db:5432/sekisho"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/s.db"),
            "sqlite:///var/lib/s.db"
        );
    }

    #[test]
    fn backend_is_picked_from_the_scheme() {
        assert_eq!(
            backend_for("sqlite://x.db").map(|b| b.name()).ok(),
            Some("sqlite")
        );
        assert_eq!(
            backend_for("postgres://h/d").map(|b| b.name()).ok(),
            Some("postgresql")
        );
        assert!(backend_for("mysql://h/d").is_err());
    }
}
