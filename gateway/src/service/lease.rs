//! One replica at a time runs the work nobody asks for (housekeeping,
//! retention, checkpoints, mail, the audit export): each job is a lease,
//! a PostgreSQL advisory lock held by a connection of its own. When the
//! holder dies its connection closes, the lock is free, and the next
//! replica to ask takes it over within one round. On SQLite only one
//! process uses the database, and it always holds every lease.

use sqlx::{Connection, Row};

use crate::state::Shared;

/// The jobs that must not run twice at once. The numbers are advisory-lock
/// keys next to the writers' 5301203 (db/postgres.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Housekeeping,
    AuditExport,
}

impl Job {
    fn key(self) -> i64 {
        match self {
            Job::Housekeeping => 5_301_204,
            Job::AuditExport => 5_301_205,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Job::Housekeeping => "housekeeping",
            Job::AuditExport => "the audit export",
        }
    }
}

pub struct Lease {
    job: Job,
    /// The connection that holds the lock, while this replica holds it.
    held: Option<sqlx::AnyConnection>,
}

impl Lease {
    pub fn new(job: Job) -> Self {
        Self { job, held: None }
    }

    /// Whether this replica runs the job now: keeps the lease while its
    /// connection answers, otherwise tries to take it. A database error
    /// means "not now"; the caller asks again next round.
    pub async fn hold(&mut self, state: &Shared) -> bool {
        let Some(query) = state.db.lease_query() else {
            return true;
        };
        if let Some(conn) = self.held.as_mut() {
            if crate::db::ping(conn).await.is_ok() {
                return true;
            }
            tracing::warn!(
                "lost the database connection that held {}; another replica may take it over",
                self.job.name()
            );
            self.held = None;
        }
        match try_take(state, query, self.job.key()).await {
            Ok(Some(conn)) => {
                tracing::info!("this replica now runs {}", self.job.name());
                self.held = Some(conn);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("cannot ask for {}, will ask again: {e:#}", self.job.name());
                false
            }
        }
    }
}

async fn try_take(
    state: &Shared,
    query: &'static str,
    key: i64,
) -> anyhow::Result<Option<sqlx::AnyConnection>> {
    // A connection outside the pool: the pool may close or recycle its
    // own, and with it the lock.
    let mut conn = state.db.read().await?.detach();
    let row = sqlx::query(query).bind(key).fetch_one(&mut conn).await?;
    if row.try_get::<bool, _>(0)? {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}
