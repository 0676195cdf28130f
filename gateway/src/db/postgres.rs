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

    fn overwrite_before_delete(&self) -> bool {
        // PostgreSQL keeps old row versions until VACUUM; overwriting first
        // leaves only zeros in the version that dies with the DELETE.
        true
    }

    fn max_connections(&self) -> u32 {
        16
    }
}
