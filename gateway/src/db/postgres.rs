//! PostgreSQL, the supported database for larger deployments.

use super::Backend;

pub struct PostgresBackend;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn connection_setup(&self) -> &'static [&'static str] {
        &["SET TIME ZONE 'UTC'"]
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    /// Every write transaction first takes one transaction-level advisory
    /// lock, so writers are serialised across processes as they are within
    /// one (`Db::write`'s mutex): a maintenance command, the audit pruning
    /// connection of the owner role or another gateway process can never
    /// append to the audit chain at the same time and fork it. Taken first,
    /// before any row lock, so it cannot be part of a deadlock; released by
    /// COMMIT or ROLLBACK.
    fn begin_statement(&self) -> &'static str {
        "BEGIN; SELECT pg_advisory_xact_lock(5301203)"
    }

    /// A session-level advisory lock: held for as long as the connection
    /// lives, so it moves to another replica the moment this process dies
    /// or loses the database.
    fn lease_query(&self) -> Option<&'static str> {
        Some("SELECT pg_try_advisory_lock($1)")
    }

    fn overwrite_before_delete(&self) -> bool {
        // PostgreSQL keeps old row versions until VACUUM; overwriting first
        // leaves only zeros in the version that dies with the DELETE.
        true
    }

    fn max_connections(&self) -> u32 {
        16
    }
}
