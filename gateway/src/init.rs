//! `sekisho-gateway init`: a working data directory from nothing: config,
//! keys, TLS certificate, database and the first sysadmin account.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sekisho_proto::{CreateUserRequest, NewAccount, Role};

use crate::blob::LocalDisk;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
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

pub async fn run(dir: &Path, database_url: Option<&str>, admin_name: &str) -> Result<Initialised> {
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
    if let Some(url) = database_url {
        config.database.url = url.to_string();
    }
    Keys::generate(dir)?;
    tls::generate(dir, &[])?;
    let db = Db::connect(&config.database_url(dir)).await?;
    let state = AppState {
        dir: dir.to_path_buf(),
        db,
        keys: Keys::load(dir)?,
        store: Arc::new(LocalDisk::open(&dir.join("store")).context("cannot create the store")?),
        clock: Clock::from_env(),
        public_base_url: String::new(),
        scanner: crate::build_scanner(&config, dir)?,
        config: config.clone(),
    };
    let admin = accounts::create(
        &state,
        None,
        &CreateUserRequest {
            username: admin_name.to_string(),
            role: Role::Sysadmin,
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
