//! What every request handler shares.

use std::path::PathBuf;
use std::sync::Arc;

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::keys::Keys;
use crate::scan::Scanner;

pub struct AppState {
    pub dir: PathBuf,
    pub config: Config,
    pub db: Db,
    pub keys: Keys,
    pub store: Arc<dyn BlobStore>,
    pub clock: Clock,
    /// Base of recipients' links, without a trailing slash.
    pub public_base_url: String,
    /// Every inbound file, and outbound ones unless disabled, passes it.
    pub scanner: Arc<Scanner>,
}

pub type Shared = Arc<AppState>;
