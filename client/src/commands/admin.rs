//! `admin user add|disable|enable|role|email|retire|list`: account management
//! for system administrators.
//!
//! The gateway decides who may do this; the client's job is to show the
//! one-time credentials of a new account clearly, once, with the warning
//! that they cannot be shown again.

use anyhow::{Context, Result};
use sekisho_proto::{
    AccountStatus, ChangeEmailRequest, ChangeRoleRequest, CreateUserRequest, NewAccount,
    UserSummary,
};

use sekisho_proto::Role;

use super::values;
use crate::config::Config;
use crate::output::{Table, print_json, short_time};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create, disable, enable and list user accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account; prints its temporary password and TOTP secret once.
    Add {
        /// User name of the new account.
        name: String,
        /// One of ciso, approver, manager, sysadmin, auditor, staff.
        #[arg(long, value_name = "ROLE", value_parser = values::role)]
        role: Role,
        /// Where the account's notifications are mailed (e.g. tanaka@city.example.lg.jp).
        #[arg(long, value_name = "ADDR")]
        email: Option<String>,
    },
    /// Stop an account from logging in.
    Disable {
        /// User name.
        name: String,
    },
    /// Allow a disabled account to log in again.
    Enable {
        /// User name.
        name: String,
    },
    /// Give an account the role of its holder's new post; its sessions end.
    Role {
        /// User name.
        name: String,
        /// One of ciso, approver, manager, sysadmin, auditor, staff.
        #[arg(long, value_name = "ROLE", value_parser = values::role)]
        role: Role,
    },
    /// Give an account the e-mail address its notifications go to.
    Email {
        /// User name.
        name: String,
        /// The new address, e.g. tanaka@city.example.lg.jp.
        address: String,
    },
    /// Close an account for good when its holder leaves: it keeps its
    /// history and can never log in again.
    Retire {
        /// User name.
        name: String,
    },
    /// List all accounts.
    List,
}

pub fn run(cfg: &Config, cmd: Command) -> Result<()> {
    let Command::User(cmd) = cmd;
    let (api, _session) = super::logged_in(cfg)?;
    match cmd {
        UserCommand::Add { name, role, email } => {
            let request = CreateUserRequest {
                username: name.trim().to_string(),
                role,
                email: email.map(|e| e.trim().to_string()),
            };
            let account: NewAccount = api
                .post(api.url(&["admin", "users"])?, &request)
                .with_context(|| format!("the account {} was not created", request.username))?;
            if cfg.json {
                return print_json(&account);
            }
            println!("Account created: {} ({})", account.username, account.role);
            println!();
            println!("  Temporary password: {}", account.temporary_password);
            println!("  TOTP secret:        {}", account.totp_secret);
            println!("  otpauth URI:        {}", account.otpauth_uri);
            println!();
            println!(
                "These are shown only this once and cannot be shown again. Hand them to {} in person (not by e-mail).",
                account.username
            );
            println!(
                "They add the TOTP secret to their authenticator app, log in with `sekisho login --user {}`, and must then choose their own password with `sekisho password`.",
                account.username
            );
            Ok(())
        }
        UserCommand::Disable { name } => {
            let user: UserSummary = api
                .post_empty(api.url(&["admin", "users", name.trim(), "disable"])?)
                .with_context(|| format!("the account {} was not disabled", name.trim()))?;
            if cfg.json {
                return print_json(&user);
            }
            println!(
                "Account {} is now disabled: it can no longer log in, and its sessions have ended.",
                user.username
            );
            Ok(())
        }
        UserCommand::Enable { name } => {
            let user: UserSummary = api
                .post_empty(api.url(&["admin", "users", name.trim(), "enable"])?)
                .with_context(|| format!("the account {} was not enabled", name.trim()))?;
            if cfg.json {
                return print_json(&user);
            }
            println!("Account {} is enabled again and may log in.", user.username);
            Ok(())
        }
        UserCommand::Role { name, role } => {
            let user: UserSummary = api
                .post(
                    api.url(&["admin", "users", name.trim(), "role"])?,
                    &ChangeRoleRequest { role },
                )
                .with_context(|| format!("the role of {} was not changed", name.trim()))?;
            if cfg.json {
                return print_json(&user);
            }
            println!(
                "Account {} now has the role {}; its sessions have ended, so it logs in again with the new role.",
                user.username, user.role
            );
            Ok(())
        }
        UserCommand::Email { name, address } => {
            let user: UserSummary = api
                .post(
                    api.url(&["admin", "users", name.trim(), "email"])?,
                    &ChangeEmailRequest {
                        email: address.trim().to_string(),
                    },
                )
                .with_context(|| {
                    format!("the e-mail address of {} was not changed", name.trim())
                })?;
            if cfg.json {
                return print_json(&user);
            }
            println!(
                "{} への通知は {} に送られます。 Notifications for {} now go to {}.",
                user.username,
                user.email.as_deref().unwrap_or("-"),
                user.username,
                user.email.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        UserCommand::Retire { name } => {
            let user: UserSummary = api
                .post_empty(api.url(&["admin", "users", name.trim(), "retire"])?)
                .with_context(|| format!("the account {} was not retired", name.trim()))?;
            if cfg.json {
                return print_json(&user);
            }
            println!(
                "Account {} is retired: it keeps its history, its sessions have ended, and it can never log in again.",
                user.username
            );
            Ok(())
        }
        UserCommand::List => {
            let users: Vec<UserSummary> = api.get(api.url(&["admin", "users"])?)?;
            if cfg.json {
                return print_json(&users);
            }
            if users.is_empty() {
                println!("There are no accounts.");
                return Ok(());
            }
            let mut table = Table::new([
                "USER",
                "ROLE",
                "STATUS 状態",
                "MUST CHANGE PASSWORD",
                "LOCKED UNTIL",
                "CREATED",
                "E-MAIL メール",
            ]);
            for u in &users {
                table.row([
                    u.username.clone(),
                    u.role.to_string(),
                    match u.status {
                        AccountStatus::Active => "有効 active".to_string(),
                        AccountStatus::Disabled => "無効 disabled".to_string(),
                        AccountStatus::Retired => "廃止 retired".to_string(),
                    },
                    if u.must_change_password { "yes" } else { "no" }.to_string(),
                    u.locked_until
                        .as_deref()
                        .map(short_time)
                        .unwrap_or_default(),
                    short_time(&u.created_at),
                    u.email.clone().unwrap_or_default(),
                ]);
            }
            table.print();
            Ok(())
        }
    }
}
