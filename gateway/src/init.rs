//! `sekisho-gateway init`: a working data directory from nothing: config,
//! keys, TLS certificate, database and the first sysadmin account. The state
//! it needs for the account is built by [`AppState::assemble`], the same code
//! every later command runs through [`AppState::open`].

use std::path::Path;

use anyhow::{Result, bail};
use sekisho_proto::{CreateUserRequest, NewAccount, Role};

use crate::config::{Config, DatabaseUrl};
use crate::keys::Keys;
use crate::service::{Origin, accounts};
use crate::state::AppState;
use crate::{fsutil, tls};

pub struct Initialised {
    pub admin: NewAccount,
    pub ca_file: std::path::PathBuf,
}

pub fn is_initialised(dir: &Path) -> bool {
    Config::path(dir).exists()
}

/// `database_url` is written into the new configuration (`database.url`):
/// unlike an override, it stays the directory's database.
pub async fn run(
    dir: &Path,
    database_url: Option<&DatabaseUrl>,
    admin_name: &str,
) -> Result<Initialised> {
    if is_initialised(dir) {
        bail!(
            "{} is already initialised (it has {}); refusing to overwrite it",
            dir.display(),
            crate::config::CONFIG_FILE
        );
    }
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty; initialise into a new or empty folder",
            dir.display()
        );
    }
    fsutil::create_private_dir(dir)?;
    let mut config = Config::default();
    if let Some(url) = database_url.filter(|u| !u.is_empty()) {
        config.database.url = url.clone();
    }
    Keys::generate(dir)?;
    tls::generate(dir, &[])?;
    let state = AppState::assemble(dir, config.clone()).await?;
    let admin = accounts::create(
        &state,
        None,
        &CreateUserRequest {
            username: admin_name.to_string(),
            role: Role::Sysadmin,
            email: None,
        },
        &Origin("local".to_string()),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot create the first sysadmin: {e:?}"))?;
    state.db.close().await;
    // The config is written last: its presence marks a complete init.
    fsutil::write_atomic(&Config::path(dir), config.to_toml()?.as_bytes(), 0o600)?;
    Ok(Initialised {
        admin,
        ca_file: tls::ca_path(dir),
    })
}
