//! The session file: `$SEKISHO_HOME/session.json`.
//!
//! It holds only what is needed to call the gateway again (gateway, user
//! name, bearer token, expiry), never a password. The token is as good as a
//! logged-in user until it expires, so the file is created 0600 inside a
//! 0700 folder, written to a temporary name and renamed so a crash never
//! leaves half a token behind, and the token lives in a `SecretString` so
//! it is wiped from memory and cannot be printed by accident.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub struct Session {
    pub gateway: String,
    pub username: String,
    pub token: SecretString,
    pub expires_at: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("gateway", &self.gateway)
            .field("username", &self.username)
            .field("token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The on-disk shape. Kept private so the token only leaves the file
/// through `Session`, where it is a secret.
#[derive(Serialize, Deserialize)]
struct SessionFile {
    gateway: String,
    username: String,
    token: String,
    expires_at: String,
}

impl Session {
    /// `Ok(None)` when nobody is logged in on this computer.
    pub fn load(path: &Path) -> Result<Option<Session>> {
        let text = match fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("could not read the session file {}", path.display())
                });
            }
        };
        warn_if_loose(path);
        let file: SessionFile = serde_json::from_slice(&text).with_context(|| {
            format!(
                "the session file {} is damaged; delete it and log in again with `sekisho login --user NAME`",
                path.display()
            )
        })?;
        Ok(Some(Session {
            gateway: file.gateway,
            username: file.username,
            token: SecretString::from(file.token),
            expires_at: file.expires_at,
        }))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let file = SessionFile {
            gateway: self.gateway.clone(),
            username: self.username.clone(),
            token: self.token.expose_secret().to_string(),
            expires_at: self.expires_at.clone(),
        };
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(&file).context("could not encode the session")?,
        );
        let mut token = file.token;
        zeroize::Zeroize::zeroize(&mut token);

        crate::private_file::write_atomically(path, &json, "the session")
    }

    /// Returns whether there was a file to delete.
    pub fn delete(path: &Path) -> Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "could not delete the session file {}; delete it by hand",
                    path.display()
                )
            }),
        }
    }
}

#[cfg(unix)]
fn warn_if_loose(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: the session file {} can be read by other users (mode {:o}); run `chmod 600 {}` or log in again.",
                path.display(),
                mode,
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_loose(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Session {
        Session {
            gateway: "https://127.0.0.1:8443/".into(),
            username: "alice".into(),
            token: SecretString::from("tok-123".to_string()),
            expires_at: "2026-11-25T12:00:00Z".into(),
        }
    }

    #[test]
    fn round_trip_and_delete() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("home").join("session.json");
        assert!(Session::load(&path)?.is_none());
        sample().save(&path)?;
        let loaded = Session::load(&path)?.context("session missing")?;
        assert_eq!(loaded.username, "alice");
        assert_eq!(loaded.token.expose_secret(), "tok-123");
        // Saving again replaces the session rather than failing.
        sample().save(&path)?;
        assert!(Session::delete(&path)?);
        assert!(!Session::delete(&path)?);
        Ok(())
    }

    #[test]
    fn file_holds_no_password_and_debug_hides_token() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("session.json");
        sample().save(&path)?;
        let value: serde_json::Value = serde_json::from_slice(&fs::read(&path)?)?;
        let mut keys: Vec<_> = value
            .as_object()
            .context("not an object")?
            .keys()
            .cloned()
            .collect();
        keys.sort();
        assert_eq!(keys, ["expires_at", "gateway", "token", "username"]);
        assert!(!format!("{:?}", sample()).contains("tok-123"));
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_and_folder_0700() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("sekisho");
        fs::create_dir(&home)?;
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755))?;
        let path = home.join("session.json");
        sample().save(&path)?;
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&home)?.permissions().mode() & 0o777, 0o700);
        Ok(())
    }
}
