//! Accounts, logins and sessions (policy 4.(3)②, 5.(4), 6.(2), 7.(5)②).

use secrecy::ExposeSecret;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use sekisho_proto::{
    AccountStatus, ChangePasswordRequest, CreateUserRequest, LoginRequest, LoginResponse,
    NewAccount, UserInfo, UserSummary,
};
use serde_json::json;

use super::Origin;
use crate::auth::{password, token, totp};
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::users::{self, NewUser, UserRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::state::AppState;

/// The one answer to every failed login, a locked account's included.
const BAD_LOGIN: &str = "ユーザー名、パスワードまたはワンタイムコードが違います。続けて失敗すると、しばらくログインできなくなります。 \
     wrong user name, password or one-time code; after repeated failures logins are refused for a while \
     (ask the system staff if you cannot log in)";

pub fn actor_of(user: &UserRow) -> Actor {
    Actor {
        user_id: user.id.clone(),
        username: user.username.clone(),
        role: user.role,
        must_change_password: user.must_change_password,
        stands_in_for: Vec::new(),
    }
}

pub fn check_username(name: &str) -> AppResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "bad_username",
            "a user name is 1 to 64 characters: lower-case letters, digits, '.', '_' or '-'",
        ))
    }
}

/// Creates an account with a temporary password and a fresh TOTP secret.
/// `by` is `None` only for the first sysadmin, made by `init`.
pub async fn create(
    state: &AppState,
    by: Option<&Actor>,
    request: &CreateUserRequest,
    origin: &Origin,
) -> AppResult<NewAccount> {
    // `None` is `init` making the first sysadmin: no account exists yet
    // that could be granted anything.
    let _grant = by.map(policy::manage_accounts).transpose()?;
    check_username(&request.username)?;
    let email = request.email.as_deref().map(check_email).transpose()?;
    let temporary = password::generate_temporary();
    let hashed = tokio::task::spawn_blocking({
        let temporary = temporary.clone();
        move || password::hash(&temporary)
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))??;
    let secret = totp::generate(&request.username)?;
    let wrapped = state.keys.wrap(secret.base32.as_bytes())?;
    let now = state.clock.now_ms();
    let id = uuid::Uuid::new_v4().to_string();

    let mut tx = state.db.write().await?;
    if users::by_name(tx.conn(), &request.username)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(
            "user_exists",
            format!("an account named '{}' already exists", request.username),
        ));
    }
    users::insert(
        tx.conn(),
        &NewUser {
            id: &id,
            username: &request.username,
            role: request.role,
            password_hash: &hashed,
            totp_secret_wrapped: &wrapped,
            created_at: now,
            email: email.as_deref(),
        },
    )
    .await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: by.map_or_else(|| "(init)".to_string(), |a| a.username.clone()),
            action: Action::UserCreate,
            object: ObjectRef::User(request.username.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "role": request.role.as_str(), "email": email }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(NewAccount {
        username: request.username.clone(),
        role: request.role,
        temporary_password: temporary.to_string(),
        totp_secret: secret.base32,
        otpauth_uri: secret.otpauth_uri,
    })
}

async fn log_login(
    state: &AppState,
    username: &str,
    outcome: Outcome,
    action: Action,
    reason: &str,
    origin: &Origin,
    change: Option<(&str, i64, Option<i64>)>,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    if let Some((user_id, failed, locked_until)) = change {
        users::record_failure(tx.conn(), user_id, failed, locked_until).await?;
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: username.to_string(),
            action,
            object: ObjectRef::User(username.to_string()),
            outcome,
            source: origin.0.clone(),
            detail: json!({ "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Logging in: the name, then a lock, then password and one-time code
/// together (so a wrong code does not tell the password was right), then
/// the policy's word on the account, then a session.
pub async fn login(
    state: &AppState,
    request: LoginRequest,
    origin: &Origin,
) -> AppResult<LoginResponse> {
    login_as(state, request, origin, SessionKind::Api).await
}

/// Where a session is used: the kind decides its idle time-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// The command line and other API clients: ends at its expiry only.
    Api,
    /// A browser: also ends after `auth.console_idle_minutes` unused.
    Console,
}

/// [`login`] for a session of the given kind: the same checks, lockout and
/// events whichever door a person comes through.
pub async fn login_as(
    state: &AppState,
    request: LoginRequest,
    origin: &Origin,
    kind: SessionKind,
) -> AppResult<LoginResponse> {
    let user = {
        let mut conn = state.db.read().await?;
        users::by_name(&mut conn, &request.username).await?
    };
    let Some(user) = user else {
        return Err(refuse_unknown_name(state, &request, origin).await);
    };
    let now_ms = state.clock.now_ms();
    if user.locked_until.is_some_and(|until| until > now_ms) {
        // A locked account answers exactly like a wrong password, at the
        // same cost: otherwise the answer tells which names exist (and
        // which an attacker has locked). The event says what happened.
        let password_text = request.password.clone();
        let _ = tokio::task::spawn_blocking(move || password::verify_dummy(&password_text)).await;
        log_login(
            state,
            &user.username,
            Outcome::Denied,
            Action::LoginFail,
            "account locked",
            origin,
            None,
        )
        .await?;
        return Err(AppError::Unauthenticated(BAD_LOGIN.to_string()));
    }
    let (password_ok, step) = check_credentials(state, &user, &request).await?;
    let Some(step) = step.filter(|_| password_ok) else {
        return Err(refuse_bad_credentials(state, &user, password_ok, origin).await);
    };
    if let Err(refusal) = policy::may_start_session(user.status) {
        let reason = match user.status {
            AccountStatus::Retired => "account retired",
            _ => "account disabled",
        };
        log_login(
            state,
            &user.username,
            Outcome::Denied,
            Action::LoginFail,
            reason,
            origin,
            None,
        )
        .await?;
        return Err(refusal.into());
    }
    start_session(state, user, step, origin, kind).await
}

/// An unknown name costs as much as a wrong password (no timing hint) and
/// is logged with the name as typed, control characters removed.
async fn refuse_unknown_name(
    state: &AppState,
    request: &LoginRequest,
    origin: &Origin,
) -> AppError {
    let shown_name: String = request
        .username
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let password_text = request.password.clone();
    let _ = tokio::task::spawn_blocking(move || password::verify_dummy(&password_text)).await;
    let logged = log_login(
        state,
        &shown_name,
        Outcome::Denied,
        Action::LoginFail,
        "unknown user",
        origin,
        None,
    )
    .await;
    match logged {
        Ok(()) => AppError::Unauthenticated(BAD_LOGIN.to_string()),
        Err(e) => e,
    }
}

/// Whether the password matched, and the TOTP step the code was for (a
/// step already used is no step).
async fn check_credentials(
    state: &AppState,
    user: &users::UserRow,
    request: &LoginRequest,
) -> AppResult<(bool, Option<i64>)> {
    let password_ok = {
        let password_text = request.password.clone();
        let stored = user.password_hash.clone();
        tokio::task::spawn_blocking(move || password::verify(&password_text, &stored))
            .await
            .map_err(|e| AppError::Internal(e.into()))?
    };
    let secret = state.keys.unwrap_string(&user.totp_secret_wrapped)?;
    let step = totp::verify(
        secret.expose_secret(),
        &request.otp,
        state.clock.now().unix_timestamp(),
        user.totp_last_step,
    );
    Ok((password_ok, step))
}

/// Counts the failure, locks the account at the threshold (5.(4)②), and
/// says which happened.
async fn refuse_bad_credentials(
    state: &AppState,
    user: &users::UserRow,
    password_ok: bool,
    origin: &Origin,
) -> AppError {
    let now_ms = state.clock.now_ms();
    let failed = user.failed_logins + 1;
    let threshold = i64::from(state.config.auth.lockout_threshold);
    let locked_until = (failed >= threshold)
        .then(|| now_ms + i64::from(state.config.auth.lockout_minutes) * 60_000);
    let reason = if password_ok {
        "wrong one-time code"
    } else {
        "wrong password"
    };
    let logged = async {
        log_login(
            state,
            &user.username,
            Outcome::Denied,
            Action::LoginFail,
            reason,
            origin,
            Some((&user.id, failed, locked_until)),
        )
        .await?;
        if locked_until.is_some() {
            log_login(
                state,
                &user.username,
                Outcome::Ok,
                Action::UserLock,
                "too many failed logins",
                origin,
                None,
            )
            .await?;
        }
        Ok::<_, AppError>(())
    }
    .await;
    match logged {
        Err(e) => e,
        Ok(()) => AppError::Unauthenticated(BAD_LOGIN.to_string()),
    }
}

/// A new 256-bit session, stored only hashed, with the TOTP step used up.
async fn start_session(
    state: &AppState,
    user: users::UserRow,
    step: i64,
    origin: &Origin,
    kind: SessionKind,
) -> AppResult<LoginResponse> {
    let now_ms = state.clock.now_ms();
    let session_token = token::generate();
    let expires_at = now_ms + i64::from(state.config.auth.session_minutes) * 60_000;
    let idle_minutes = match kind {
        SessionKind::Api => None,
        SessionKind::Console => Some(i64::from(state.config.auth.console_idle_minutes)),
    };
    let mut tx = state.db.write().await?;
    users::record_success(tx.conn(), &user.id, step).await?;
    users::insert_session(
        tx.conn(),
        &users::NewSession {
            token_hash: &token::hash(&session_token),
            user_id: &user.id,
            created_at: now_ms,
            expires_at,
            idle_minutes,
        },
    )
    .await?;
    audit::append(
        tx.conn(),
        now_ms,
        Record {
            actor: user.username.clone(),
            action: Action::LoginOk,
            object: ObjectRef::User(user.username.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "temporary_password": user.must_change_password,
                "console": kind == SessionKind::Console,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(LoginResponse {
        token: session_token.to_string(),
        expires_at: format_ms(expires_at),
        user: UserInfo {
            username: user.username,
            role: user.role,
            must_change_password: user.must_change_password,
        },
    })
}

/// Resolves a bearer token to the acting user; any doubt is "log in again".
pub async fn authenticate(state: &AppState, bearer: &str) -> AppResult<Actor> {
    let ended = || AppError::Unauthenticated("your session has ended; log in again".to_string());
    let hash = token::hash(bearer);
    let found = {
        let mut conn = state.db.read().await?;
        users::session_user(&mut conn, &hash).await?
    };
    let now = state.clock.now_ms();
    let Some(session) = found else {
        return Err(ended());
    };
    let last_seen = session.last_seen_at.unwrap_or(now);
    let idle_over = session
        .idle_minutes
        .is_some_and(|minutes| now - last_seen >= minutes * 60_000);
    if session.expires_at <= now || idle_over || session.user.status != AccountStatus::Active {
        return Err(ended());
    }
    // Only sessions with an idle time-out need the write, and at most once
    // a minute: reading a page must not cost a write each time.
    if session.idle_minutes.is_some() && now - last_seen >= TOUCH_EVERY_MS {
        let mut tx = state.db.write().await?;
        users::touch_session(tx.conn(), &hash, now).await?;
        tx.commit().await?;
    }
    let mut actor = actor_of(&session.user);
    if policy::has_approval_queue(&actor) {
        let mut conn = state.db.read().await?;
        actor.stands_in_for =
            super::delegations::stands_in_for(&mut conn, &actor.user_id, now).await?;
    }
    Ok(actor)
}

/// How stale a console session's `last_seen_at` may get before it is
/// written again.
const TOUCH_EVERY_MS: i64 = 60_000;

pub async fn logout(
    state: &AppState,
    actor: &Actor,
    bearer: &str,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    users::delete_session(tx.conn(), &token::hash(bearer)).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::Logout,
            object: ObjectRef::User(actor.username.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changing the password ends every session of the account, this one too.
pub async fn change_password(
    state: &AppState,
    actor: &Actor,
    request: ChangePasswordRequest,
    origin: &Origin,
) -> AppResult<()> {
    policy::may_change_own_password(actor)?;
    if let Err(reason) = sekisho_proto::password::check(&request.new_password) {
        return Err(AppError::invalid("weak_password", reason));
    }
    if request.new_password == request.current_password {
        return Err(AppError::invalid(
            "same_password",
            "the new password must differ from the current one",
        ));
    }
    let user = {
        let mut conn = state.db.read().await?;
        users::by_id(&mut conn, &actor.user_id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    let (current_ok, new_hash) = {
        let stored = user.password_hash.clone();
        tokio::task::spawn_blocking(move || {
            let ok = password::verify(&request.current_password, &stored);
            let hashed = if ok {
                password::hash(&request.new_password).map(Some)
            } else {
                Ok(None)
            };
            (ok, hashed)
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?
    };
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let Some(new_hash) = new_hash?.filter(|_| current_ok) else {
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: Action::PasswordChange,
                object: ObjectRef::User(actor.username.to_string()),
                outcome: Outcome::Denied,
                source: origin.0.clone(),
                detail: json!({ "reason": "wrong current password" }),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Forbidden(
            "the current password is wrong".to_string(),
        ));
    };
    users::set_password(tx.conn(), &actor.user_id, &new_hash, false).await?;
    users::delete_sessions_of(tx.conn(), &actor.user_id).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::PasswordChange,
            object: ObjectRef::User(actor.username.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub fn summary(user: &UserRow, now_ms: i64) -> UserSummary {
    UserSummary {
        username: user.username.clone(),
        role: user.role,
        status: user.status,
        must_change_password: user.must_change_password,
        locked_until: user.locked_until.filter(|t| *t > now_ms).map(format_ms),
        created_at: format_ms(user.created_at),
        email: user.email.clone(),
    }
}

pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<UserSummary>> {
    let _grant = policy::manage_accounts(actor)?;
    let mut conn = state.db.read().await?;
    let now = state.clock.now_ms();
    Ok(users::list(&mut conn)
        .await?
        .iter()
        .map(|u| summary(u, now))
        .collect())
}

/// Disabling ends the account's sessions in the same transaction, so a
/// suspended user is out at once (7.(5)②).
pub async fn set_enabled(
    state: &AppState,
    actor: &Actor,
    username: &str,
    enable: bool,
    origin: &Origin,
) -> AppResult<UserSummary> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let user = users::by_name(tx.conn(), username).await?;
    let Some(user) = user else {
        // The same refusal as for a real account, so names cannot be probed.
        policy::may_set_account_enabled(actor, "", AccountStatus::Active, enable)?;
        return Err(AppError::NotFound);
    };
    let grant = policy::set_account_enabled(actor, &user.id, user.status, enable, &user)?;
    let user = grant.object();
    let status = if enable {
        AccountStatus::Active
    } else {
        AccountStatus::Disabled
    };
    users::set_status(tx.conn(), &user.id, status).await?;
    let sessions_ended = if enable {
        0
    } else {
        users::delete_sessions_of(tx.conn(), &user.id).await?
    };
    let action = if enable {
        Action::UserEnable
    } else {
        Action::UserDisable
    };
    let detail = json!({ "by_role": actor.role.as_str(), "sessions_ended": sessions_ended });
    let change = AccountChange {
        actor,
        action,
        detail,
        origin,
    };
    finish(tx, now, &user.id, username, change).await
}

/// What an account change records about itself.
struct AccountChange<'a> {
    actor: &'a Actor,
    action: Action,
    detail: serde_json::Value,
    origin: &'a Origin,
}

/// The end every account change shares: its audit event in the same
/// transaction, then the account as it is now.
async fn finish(
    mut tx: crate::db::WriteTx<'_>,
    now: i64,
    user_id: &str,
    username: &str,
    change: AccountChange<'_>,
) -> AppResult<UserSummary> {
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: change.actor.username.clone(),
            action: change.action,
            object: ObjectRef::User(username.to_string()),
            outcome: Outcome::Ok,
            source: change.origin.0.clone(),
            detail: change.detail,
        },
    )
    .await?;
    let updated = users::by_id(tx.conn(), user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(summary(&updated, now))
}

/// An e-mail address as notifications need it: one mailbox, no display
/// name, checked by the mail library's own parser so that what is stored
/// is what can be sent to. Returns it trimmed.
pub fn check_email(text: &str) -> AppResult<String> {
    let text = text.trim();
    let parsed = (text.len() <= 254 && !text.chars().any(char::is_control))
        .then(|| text.parse::<lettre::Address>().ok())
        .flatten();
    match parsed {
        Some(address) => Ok(address.to_string()),
        None => Err(AppError::invalid(
            "bad_email",
            "メールアドレスの形式が正しくありません（例: tanaka@city.example.lg.jp）。 \
             the e-mail address is not valid: give one mailbox such as tanaka@city.example.lg.jp",
        )),
    }
}

/// A sysadmin gives an account the address its notifications go to.
pub async fn set_email(
    state: &AppState,
    actor: &Actor,
    username: &str,
    email: &str,
    origin: &Origin,
) -> AppResult<UserSummary> {
    let _grant = policy::manage_accounts(actor)?;
    let email = check_email(email)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let Some(user) = users::by_name(tx.conn(), username).await? else {
        return Err(AppError::NotFound);
    };
    users::set_email(tx.conn(), &user.id, &email).await?;
    let detail = json!({ "from": user.email, "to": email });
    let change = AccountChange {
        actor,
        action: Action::UserEmail,
        detail,
        origin,
    };
    finish(tx, now, &user.id, username, change).await
}

/// 5.(4)①, 6.(2)②: someone moved to another post. Their sessions end in
/// the same transaction, so no session carries the old role's rights on.
pub async fn change_role(
    state: &AppState,
    actor: &Actor,
    username: &str,
    role: sekisho_proto::Role,
    origin: &Origin,
) -> AppResult<UserSummary> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let Some(user) = users::by_name(tx.conn(), username).await? else {
        policy::may_change_role(actor, "", AccountStatus::Active)?;
        return Err(AppError::NotFound);
    };
    let grant = policy::change_role(actor, &user.id, user.status, &user)?;
    let user = grant.object();
    if user.role == role {
        return Err(AppError::Conflict(
            "same_role",
            format!(
                "{} はすでに {} です。{username} already has the role {}; nothing was changed",
                username,
                role.as_str(),
                role.as_str()
            ),
        ));
    }
    users::set_role(tx.conn(), &user.id, role).await?;
    let sessions_ended = users::delete_sessions_of(tx.conn(), &user.id).await?;
    let detail = json!({
        "from": user.role.as_str(),
        "to": role.as_str(),
        "sessions_ended": sessions_ended,
    });
    let user_id = user.id.clone();
    let change = AccountChange {
        actor,
        action: Action::UserRole,
        detail,
        origin,
    };
    finish(tx, now, &user_id, username, change).await
}

/// 5.(4)①, 6.(2)②: the holder left or moved for good. The account keeps
/// its history (its name stays taken), its sessions end, and it never logs
/// in again: no command turns a retired account back on.
pub async fn retire(
    state: &AppState,
    actor: &Actor,
    username: &str,
    origin: &Origin,
) -> AppResult<UserSummary> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let Some(user) = users::by_name(tx.conn(), username).await? else {
        policy::may_retire_account(actor, "", AccountStatus::Active)?;
        return Err(AppError::NotFound);
    };
    let grant = policy::retire_account(actor, &user.id, user.status, &user)?;
    let user = grant.object();
    users::set_status(tx.conn(), &user.id, AccountStatus::Retired).await?;
    let sessions_ended = users::delete_sessions_of(tx.conn(), &user.id).await?;
    let detail = json!({
        "role": user.role.as_str(),
        "was": user.status.as_str(),
        "sessions_ended": sessions_ended,
    });
    let user_id = user.id.clone();
    let change = AccountChange {
        actor,
        action: Action::UserRetire,
        detail,
        origin,
    };
    finish(tx, now, &user_id, username, change).await
}

/// 7.(5)②: accounts suspended (`user.disable`) in the last `days` days,
/// newest first, each with its status now, so the CISO sees every
/// suspension a manager made, whether or not it was lifted since.
pub async fn suspensions(
    state: &AppState,
    actor: &Actor,
    days: Option<u32>,
) -> AppResult<Vec<sekisho_proto::SuspensionView>> {
    let _allowed = policy::review_suspensions(actor)?;
    let days = days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(AppError::invalid(
            "bad_days",
            "日数は 1 から 366 の間で指定してください。 days must be between 1 and 366",
        ));
    }
    let since = state.clock.now_ms() - i64::from(days) * 86_400_000;
    let mut conn = state.db.read().await?;
    let query = audit::Query {
        since_ms: Some(since),
        until_ms: None,
        filter: sekisho_proto::AuditFilter {
            action: Some(Action::UserDisable.as_str().to_string()),
            outcome: Some(Outcome::Ok.as_str().to_string()),
            ..Default::default()
        },
    };
    let events = audit::page(&mut conn, 0, 1000, &query).await?;
    let mut out = Vec::with_capacity(events.len());
    for event in events.iter().rev() {
        let Ok(ObjectRef::User(username)) = ObjectRef::parse(&event.object) else {
            continue;
        };
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap_or_default();
        let status = users::by_name(&mut conn, &username)
            .await?
            .map(|u| u.status);
        out.push(sekisho_proto::SuspensionView {
            username,
            suspended_by: event.actor.clone(),
            by_role: detail
                .get("by_role")
                .and_then(|r| r.as_str())
                .and_then(|r| r.parse().ok()),
            suspended_at: event.at.clone(),
            status,
        });
    }
    Ok(out)
}

/// Step-up check for approvals: a fresh TOTP code, never used before.
///
/// A wrong code counts toward the account's lockout like a failed login
/// (a stolen session must not try codes at full speed) and is an audit
/// event; at the threshold the account locks and all its sessions end, the
/// stolen one included. A locked account cannot step up.
pub async fn step_up(
    state: &AppState,
    actor: &Actor,
    code: &str,
    origin: &Origin,
) -> AppResult<()> {
    let now_ms = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let user = users::by_id(tx.conn(), &actor.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let secret = state.keys.unwrap_string(&user.totp_secret_wrapped)?;
    let locked = user.locked_until.is_some_and(|until| until > now_ms);
    let step = totp::verify(
        secret.expose_secret(),
        code,
        state.clock.now().unix_timestamp(),
        user.totp_last_step,
    )
    .filter(|_| !locked);
    if let Some(step) = step {
        users::set_totp_step(tx.conn(), &user.id, step).await?;
        tx.commit().await?;
        return Ok(());
    }
    let failed = user.failed_logins + 1;
    let threshold = i64::from(state.config.auth.lockout_threshold);
    let locks_now = !locked && failed >= threshold;
    let locked_until = if locks_now {
        Some(now_ms + i64::from(state.config.auth.lockout_minutes) * 60_000)
    } else {
        user.locked_until
    };
    users::record_failure(tx.conn(), &user.id, failed, locked_until).await?;
    let reason = if locked {
        "account locked"
    } else {
        "wrong one-time code"
    };
    audit::append(
        tx.conn(),
        now_ms,
        Record {
            actor: user.username.clone(),
            action: Action::StepUpFail,
            object: ObjectRef::User(user.username.clone()),
            outcome: Outcome::Denied,
            source: origin.0.clone(),
            detail: json!({ "reason": reason, "failed": failed }),
        },
    )
    .await?;
    if locks_now {
        let sessions_ended = users::delete_sessions_of(tx.conn(), &user.id).await?;
        audit::append(
            tx.conn(),
            now_ms,
            Record {
                actor: user.username.clone(),
                action: Action::UserLock,
                object: ObjectRef::User(user.username.clone()),
                outcome: Outcome::Ok,
                source: origin.0.clone(),
                detail: json!({ "reason": "too many wrong step-up codes", "sessions_ended": sessions_ended }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Err(AppError::Forbidden(if locks_now || locked {
        "ワンタイムコードの誤りが続いたため、このアカウントはロックされ、ログインも終了しました。 \
         Too many wrong one-time codes: this account is locked and its sessions have ended; \
         log in again once the lock lifts, or ask the system staff"
            .to_string()
    } else {
        "ワンタイムコードが違うか、すでに使われています。次のコードを待って再度お試しください。 \
         The one-time code is wrong or was already used; wait for the next code and try again"
            .to_string()
    }))
}
