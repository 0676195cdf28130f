//! Where things are: the gateway address, its CA certificate and the folder
//! that holds the session.
//!
//! All three come from flags or environment variables rather than a config
//! file, so a clerk's machine needs no setup beyond two variables. The
//! gateway address is checked here once (HTTPS only, no path) so that no
//! command can send a token over plain HTTP or to a half-typed address.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use reqwest::Url;

use crate::cli::GlobalArgs;

/// Settings every command may need, resolved from the global flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub json: bool,
    /// The gateway named on the command line or in `SEKISHO_GATEWAY`, as
    /// typed; checked by [`Config::gateway`] only when a command needs it,
    /// so a stale variable does not break `receive`.
    gateway: Option<String>,
    pub ca: Option<PathBuf>,
    pub home: PathBuf,
}

impl Config {
    pub fn from_args(args: &GlobalArgs) -> Result<Self> {
        Ok(Config {
            json: args.json,
            gateway: args.gateway.clone().filter(|g| !g.trim().is_empty()),
            ca: args.ca.clone(),
            home: home_dir()?,
        })
    }

    /// The gateway asked for, if any; when absent, commands that need a
    /// session use the gateway the session was made with.
    pub fn gateway(&self) -> Result<Option<Url>> {
        self.gateway.as_deref().map(parse_gateway).transpose()
    }

    pub fn session_path(&self) -> PathBuf {
        self.home.join("session.json")
    }

    /// The CA file, or a sentence telling the clerk how to give it.
    pub fn ca_path(&self) -> Result<&Path> {
        match self.ca.as_deref() {
            Some(p) => Ok(p),
            None => bail!(
                "Sekisho needs the gateway's CA certificate to check it is talking to the real gateway; \
                 give it with --ca FILE or set SEKISHO_CA (ask your system administrator for the file)."
            ),
        }
    }
}

/// `$SEKISHO_HOME`, else `~/.config/sekisho`.
pub fn home_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SEKISHO_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|v| !v.is_empty())
        .context(
            "could not find your home folder; set SEKISHO_HOME to a folder where Sekisho may keep its session",
        )?;
    Ok(PathBuf::from(home).join(".config").join("sekisho"))
}

/// Accepts `https://host[:port]` with an optional trailing slash.
pub fn parse_gateway(text: &str) -> Result<Url> {
    let trimmed = text.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).with_context(|| {
        format!(
            "'{trimmed}' is not a gateway address; write it like https://sekisho.example.lg.jp:8443"
        )
    })?;
    if url.scheme() != "https" {
        bail!(
            "the gateway address must start with https:// (got '{trimmed}'); Sekisho never talks to the gateway unencrypted"
        );
    }
    if url.host_str().is_none() {
        bail!("the gateway address '{trimmed}' has no host name");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("the gateway address must not contain a user name or password");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        bail!(
            "the gateway address must be just https://HOST:PORT, without a path (got '{trimmed}')"
        );
    }
    Ok(url)
}

/// `https://host:port` without the trailing slash `Url` adds.
pub fn display_origin(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// Two addresses name the same gateway when scheme, host and port agree.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_must_be_plain_https_origin() {
        assert!(parse_gateway("https://127.0.0.1:8443").is_ok());
        assert!(parse_gateway("https://127.0.0.1:8443/").is_ok());
        assert!(parse_gateway("http://127.0.0.1:8443").is_err());
        assert!(parse_gateway("https://127.0.0.1:8443/api").is_err());
        assert!(parse_gateway("127.0.0.1:8443").is_err());
        assert!(parse_gateway("https://u:p@host").is_err());
    }

    #[test]
    fn default_port_is_the_same_origin() {
        let a = parse_gateway("https://gw.example").ok();
        let b = parse_gateway("https://gw.example:443/").ok();
        assert!(matches!((a, b), (Some(a), Some(b)) if same_origin(&a, &b)));
    }
}
