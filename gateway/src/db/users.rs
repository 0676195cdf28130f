//! Accounts and sessions.

use anyhow::{Context, Result};
use sekisho_proto::{AccountStatus, Role};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub must_change_password: bool,
    pub totp_secret_wrapped: Vec<u8>,
    pub totp_last_step: i64,
    pub status: AccountStatus,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    /// Where notifications go; `None` until a sysadmin gives one.
    pub email: Option<String>,
}

/// The password hash is masked (it can be attacked offline); the wrapped TOTP
/// seed shows only its length.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("password_hash", &"***")
            .field("must_change_password", &self.must_change_password)
            .field(
                "totp_secret_wrapped",
                &format_args!("<{} bytes>", self.totp_secret_wrapped.len()),
            )
            .field("totp_last_step", &self.totp_last_step)
            .field("status", &self.status)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("created_at", &self.created_at)
            .field("email", &self.email)
            .finish()
    }
}

const USER_COLUMNS: &str = "id, username, role, password_hash, must_change_password, \
     totp_secret_wrapped, totp_last_step, status, failed_logins, locked_until, created_at, email";

fn user_from_row(row: &AnyRow) -> Result<UserRow> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: role
            .parse()
            .map_err(|e: String| anyhow::anyhow!("stored account has a bad role: {e}"))?,
        password_hash: row.try_get("password_hash")?,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        totp_secret_wrapped: row.try_get("totp_secret_wrapped")?,
        totp_last_step: row.try_get("totp_last_step")?,
        status: status
            .parse()
            .map_err(|e| anyhow::anyhow!("stored account has a bad status: {e}"))?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        email: row.try_get("email")?,
    })
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub totp_secret_wrapped: &'a [u8],
    pub created_at: i64,
    pub email: Option<&'a str>,
}

pub async fn insert(conn: &mut AnyConnection, user: &NewUser<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, username, role, password_hash, must_change_password, \
         totp_secret_wrapped, totp_last_step, status, failed_logins, created_at, email) \
         VALUES ($1, $2, $3, $4, 1, $5, 0, 'active', 0, $6, $7)",
    )
    .bind(user.id)
    .bind(user.username)
    .bind(user.role.as_str())
    .bind(user.password_hash)
    .bind(user.totp_secret_wrapped)
    .bind(user.created_at)
    .bind(user.email)
    .execute(conn)
    .await
    .context("cannot store the new account")?;
    Ok(())
}

pub async fn by_name(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
    )))
    .bind(username)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<UserRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<UserRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY username"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter().map(user_from_row).collect()
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(conn)
        .await?
        .try_get("n")?)
}

pub async fn record_failure(
    conn: &mut AnyConnection,
    id: &str,
    failed_logins: i64,
    locked_until: Option<i64>,
) -> Result<()> {
    sqlx::query("UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3")
        .bind(failed_logins)
        .bind(locked_until)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A successful login: clears failures and remembers the TOTP step so the
/// same code cannot be used twice.
pub async fn record_success(conn: &mut AnyConnection, id: &str, totp_step: i64) -> Result<()> {
    sqlx::query(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, totp_last_step = $1 WHERE id = $2",
    )
    .bind(totp_step)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_totp_step(conn: &mut AnyConnection, id: &str, totp_step: i64) -> Result<()> {
    sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2")
        .bind(totp_step)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password(
    conn: &mut AnyConnection,
    id: &str,
    password_hash: &str,
    must_change: bool,
) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(i64::from(must_change))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_status(conn: &mut AnyConnection, id: &str, status: AccountStatus) -> Result<()> {
    sqlx::query(
        "UPDATE users SET status = $1, failed_logins = 0, locked_until = NULL WHERE id = $2",
    )
    .bind(status.as_str())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_role(conn: &mut AnyConnection, id: &str, role: Role) -> Result<()> {
    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_email(conn: &mut AnyConnection, id: &str, email: &str) -> Result<()> {
    sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
        .bind(email)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Active accounts with `role` and an e-mail address: who a notice for
/// that role goes to.
pub async fn mailable_with_role(conn: &mut AnyConnection, role: Role) -> Result<Vec<UserRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE role = $1 AND status = 'active' \
         AND email IS NOT NULL ORDER BY username"
    )))
    .bind(role.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(user_from_row).collect()
}

/// Every active account of `role`, with or without an address (an absent
/// approver's stand-in is told in their place even when they have none).
pub async fn active_with_role(conn: &mut AnyConnection, role: Role) -> Result<Vec<UserRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE role = $1 AND status = 'active' ORDER BY username"
    )))
    .bind(role.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(user_from_row).collect()
}

pub struct SessionUser {
    pub user: UserRow,
    pub expires_at: i64,
    /// Console sessions only: the quiet period that ends them.
    pub idle_minutes: Option<i64>,
    pub last_seen_at: Option<i64>,
}

/// A session to store: only the token's hash, never the token.
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
    pub idle_minutes: Option<i64>,
}

pub async fn insert_session(conn: &mut AnyConnection, session: &NewSession<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, idle_minutes, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $3)",
    )
    .bind(session.token_hash)
    .bind(session.user_id)
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(session.idle_minutes)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a session was used at `now` (for its idle time-out).
pub async fn touch_session(conn: &mut AnyConnection, token_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(now)
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn session_user(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<SessionUser>> {
    let row = sqlx::query(
        "SELECT user_id, expires_at, idle_minutes, last_seen_at FROM sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user_id: String = row.try_get("user_id")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let idle_minutes: Option<i64> = row.try_get("idle_minutes")?;
    let last_seen_at: Option<i64> = row.try_get("last_seen_at")?;
    Ok(by_id(conn, &user_id).await?.map(|user| SessionUser {
        user,
        expires_at,
        idle_minutes,
        last_seen_at,
    }))
}

pub async fn delete_session(conn: &mut AnyConnection, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_sessions_of(conn: &mut AnyConnection, user_id: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn delete_expired_sessions(conn: &mut AnyConnection, now: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected())
}
