//! `[store]`: where the encrypted objects and their key shares live.
//!
//! The embedded default is a folder in the data directory. `url =
//! "s3://BUCKET/PREFIX"` puts the objects in S3-compatible storage instead;
//! the key shares never go there (see the gateway's `keys::KeyShares`): they
//! stay in `key_shares`, a folder every replica reaches.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Local folder of the objects when `url` is unset; relative paths are
    /// under the data directory. Empty means `store`.
    pub path: Option<PathBuf>,
    /// `s3://BUCKET` or `s3://BUCKET/PREFIX`: objects in S3-compatible storage.
    pub url: Option<String>,
    /// The S3 API's address, e.g. `https://s3.ap-northeast-1.amazonaws.com`
    /// or an on-premises server; unset means AWS for `region`.
    pub endpoint: Option<String>,
    /// The S3 region (`garage` for Garage, `us-east-1` for most others).
    pub region: Option<String>,
    /// File of the gateway's user alone (mode 600) with the access key id
    /// on its first line and the secret on its second. Unset: the standard
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` environment.
    pub credentials_file: Option<PathBuf>,
    /// Plain `http://` to the S3 endpoint; only for a server on this machine
    /// (tests). The objects are ciphertext, but the credentials are not.
    pub danger_plain_http_loopback: bool,
    /// Folder of the per-object key shares; relative paths are under the
    /// data directory. Empty means `keys/objects`. With several replicas it
    /// is one folder all of them mount (never the bucket of the objects).
    pub key_shares: Option<PathBuf>,
    /// Several gateways use these objects and shares (set by itself for
    /// S3). Start-up recovery then removes half-written and unrecorded
    /// files only when they are older than `recovery_grace_minutes`, as
    /// another replica may be writing them right now.
    pub shared: bool,
    /// See `shared`. Default 1440 (a day): longer than any upload takes.
    pub recovery_grace_minutes: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: None,
            url: None,
            endpoint: None,
            region: None,
            credentials_file: None,
            danger_plain_http_loopback: false,
            key_shares: None,
            shared: false,
            recovery_grace_minutes: 1440,
        }
    }
}

/// The S3 location, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl StoreConfig {
    pub fn objects_dir(&self, dir: &Path) -> PathBuf {
        match &self.path {
            Some(path) if !path.as_os_str().is_empty() => dir.join(path),
            _ => dir.join("store"),
        }
    }

    pub fn key_shares_dir(&self, dir: &Path) -> PathBuf {
        match &self.key_shares {
            Some(path) if !path.as_os_str().is_empty() => dir.join(path),
            _ => dir.join("keys").join("objects"),
        }
    }

    /// Objects or shares may be written by another process right now.
    pub fn is_shared(&self) -> bool {
        self.shared || self.url.is_some()
    }

    /// How old a half-written or unrecorded file must be before recovery
    /// removes it: none for a store of this gateway alone.
    pub fn recovery_grace(&self) -> std::time::Duration {
        if !self.is_shared() {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs(u64::from(self.recovery_grace_minutes) * 60)
    }

    pub fn s3(&self) -> Result<Option<S3Location>> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            bail!("store.url '{url}' must start with s3:// (s3://BUCKET or s3://BUCKET/PREFIX)");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            bail!(
                "store.url '{url}': '{bucket}' is not a bucket name (3 to 63 lower-case letters, digits, '-' or '.')"
            );
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|part| part == "." || part == ".." || (part.is_empty() && !prefix.is_empty()))
        {
            bail!("store.url '{url}': the prefix may not hold empty, '.' or '..' parts");
        }
        Ok(Some(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }))
    }

    pub fn validate(&self) -> Result<()> {
        if self.is_shared() && self.recovery_grace_minutes == 0 {
            bail!(
                "store.recovery_grace_minutes must be at least 1 when the store is shared: recovery would remove what another replica is writing"
            );
        }
        let s3 = self.s3()?;
        if s3.is_none() {
            for (set, name) in [
                (self.endpoint.is_some(), "endpoint"),
                (self.region.is_some(), "region"),
                (self.credentials_file.is_some(), "credentials_file"),
                (
                    self.danger_plain_http_loopback,
                    "danger_plain_http_loopback",
                ),
            ] {
                if set {
                    bail!(
                        "store.{name} is set but store.url is not; set store.url = \"s3://BUCKET\" or remove store.{name}"
                    );
                }
            }
            return Ok(());
        }
        if self.path.is_some() {
            bail!(
                "store.path and store.url are both set; keep one (url for S3, path for a folder)"
            );
        }
        if let Some(endpoint) = &self.endpoint {
            let plain = endpoint.starts_with("http://");
            if !plain && !endpoint.starts_with("https://") {
                bail!("store.endpoint '{endpoint}' must start with https://");
            }
            if plain && !(self.danger_plain_http_loopback && is_loopback_url(endpoint)) {
                bail!(
                    "store.endpoint '{endpoint}' is plain http: the S3 credentials would travel in clear. Use https://, or for a test server on this machine set store.danger_plain_http_loopback = true"
                );
            }
        } else if self.danger_plain_http_loopback {
            bail!(
                "store.danger_plain_http_loopback needs store.endpoint = \"http://127.0.0.1:PORT\""
            );
        }
        Ok(())
    }
}

fn is_loopback_url(url: &str) -> bool {
    let host = url
        .trim_start_matches("http://")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(url: &str) -> StoreConfig {
        StoreConfig {
            url: Some(url.into()),
            ..Default::default()
        }
    }

    #[test]
    fn s3_urls_are_parsed_and_bad_ones_refused_with_the_fix() {
        assert_eq!(
            s3("s3://sekisho-files/city/a/").s3().unwrap(),
            Some(S3Location {
                bucket: "sekisho-files".into(),
                prefix: "city/a".into()
            })
        );
        assert_eq!(s3("s3://sekisho").s3().unwrap().unwrap().prefix, "");
        for bad in [
            "http://bucket",
            "s3://B",
            "s3://ab",
            "s3://bucket/a/../b",
            "s3://bucket/a//b",
        ] {
            assert!(s3(bad).validate().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn plain_http_only_to_this_machine_and_only_when_asked() {
        let mut config = s3("s3://sekisho");
        config.endpoint = Some("http://127.0.0.1:3900".into());
        assert!(config.validate().is_err());
        config.danger_plain_http_loopback = true;
        config.validate().unwrap();
        config.endpoint = Some("http://s3.example.jp".into());
        assert!(config.validate().is_err());
        config.endpoint = Some("https://s3.example.jp".into());
        config.validate().unwrap();
    }

    #[test]
    fn s3_settings_without_a_url_and_both_places_are_refused() {
        let config = StoreConfig {
            region: Some("garage".into()),
            ..Default::default()
        };
        assert!(config.validate().is_err());
        let mut config = s3("s3://sekisho");
        config.path = Some("store".into());
        assert!(config.validate().is_err());
    }

    #[test]
    fn recovery_waits_only_when_the_store_is_shared() {
        assert_eq!(
            StoreConfig::default().recovery_grace(),
            std::time::Duration::ZERO
        );
        assert_eq!(
            s3("s3://sekisho").recovery_grace(),
            std::time::Duration::from_secs(86_400)
        );
        let folder = StoreConfig {
            shared: true,
            recovery_grace_minutes: 5,
            ..Default::default()
        };
        assert_eq!(folder.recovery_grace(), std::time::Duration::from_secs(300));
        let dir = Path::new("/data");
        assert_eq!(folder.objects_dir(dir), Path::new("/data/store"));
        assert_eq!(folder.key_shares_dir(dir), Path::new("/data/keys/objects"));
    }
}
