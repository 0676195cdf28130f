//! The embedded default: one SQLite file in the data directory.

use super::Backend;

pub struct SqliteBackend;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn connection_setup(&self) -> &'static [&'static str] {
        // secure_delete overwrites freed pages, so a deleted key does not
        // linger in the file; synchronous=FULL makes a commit survive power loss.
        &[
            "PRAGMA foreign_keys = ON",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA secure_delete = ON",
            "PRAGMA busy_timeout = 10000",
        ]
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn overwrite_before_delete(&self) -> bool {
        // secure_delete (set on every connection) overwrites freed pages.
        false
    }

    fn max_connections(&self) -> u32 {
        8
    }

    fn begin_statement(&self) -> &'static str {
        // The write lock is taken at once: a deferred transaction that reads
        // first and then writes fails without waiting ("database is locked")
        // when another process (a maintenance command) wrote in between.
        "BEGIN IMMEDIATE"
    }
}
