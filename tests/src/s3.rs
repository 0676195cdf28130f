//! The real S3 server of the object-storage run: Garage, started once by
//! `scripts/test.sh` (scripts/garage.sh), which exports where it is. With
//! `SEKISHO_TEST_STORE=s3` every gateway of the suite keeps its objects
//! there, each under a prefix of its own; the kit lists and reads the bucket
//! through the S3 API, as an attacker holding the bucket would.

use std::sync::Arc;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

#[derive(Debug, Clone)]
pub struct S3Service {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "SEKISHO_TEST_STORE=s3 needs {name}: start Garage with scripts/garage.sh start DIR and source DIR/env (scripts/test.sh does)"
        )
    })
}

impl S3Service {
    /// The suite's S3 server when the run is the object-storage one.
    /// Anything else than `s3` or unset is refused, so a typo cannot
    /// quietly run the suite on local files.
    pub fn for_suite() -> Option<S3Service> {
        match std::env::var("SEKISHO_TEST_STORE").as_deref() {
            Err(_) | Ok("") | Ok("local") => None,
            Ok("s3") => Some(S3Service {
                endpoint: var("SEKISHO_TEST_S3_ENDPOINT"),
                bucket: var("SEKISHO_TEST_S3_BUCKET"),
                region: var("SEKISHO_TEST_S3_REGION"),
                access_key_id: var("SEKISHO_TEST_S3_ACCESS_KEY_ID"),
                secret_access_key: var("SEKISHO_TEST_S3_SECRET_ACCESS_KEY"),
            }),
            Ok(other) => panic!("SEKISHO_TEST_STORE={other}: use s3 or leave it unset"),
        }
    }

    /// The `[store]` settings of a gateway whose objects go under `prefix`,
    /// with the login in `credentials_file` (relative to the data folder).
    pub fn config_patch(
        &self,
        prefix: &str,
        credentials_file: &str,
    ) -> Vec<(String, String, String)> {
        [
            ("url", format!("\"s3://{}/{prefix}\"", self.bucket)),
            ("endpoint", format!("\"{}\"", self.endpoint)),
            ("region", format!("\"{}\"", self.region)),
            ("credentials_file", format!("\"{credentials_file}\"")),
            ("danger_plain_http_loopback", "true".to_string()),
        ]
        .into_iter()
        .map(|(key, value)| ("store".to_string(), key.to_string(), value))
        .collect()
    }

    pub fn credentials_text(&self) -> String {
        format!("{}\n{}\n", self.access_key_id, self.secret_access_key)
    }

    fn client(&self) -> Result<Arc<dyn ObjectStore>> {
        let client = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()?;
        Ok(Arc::new(client))
    }

    /// Every object key under `prefix`, with its bytes.
    pub fn objects(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let client = self.client()?;
        crate::runtime().block_on(async {
            let mut listing = client.list(Some(&ObjectPath::from(prefix)));
            let mut objects = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta?;
                let bytes = client
                    .get(&meta.location)
                    .await
                    .with_context(|| format!("cannot read {}", meta.location))?
                    .bytes()
                    .await?;
                objects.push((meta.location.to_string(), bytes.to_vec()));
            }
            Ok(objects)
        })
    }

    /// The object ids stored under `prefix` (its `objects/` folder).
    pub fn blob_ids(&self, prefix: &str) -> Result<std::collections::BTreeSet<String>> {
        let client = self.client()?;
        crate::runtime().block_on(async {
            let mut listing = client.list(Some(&ObjectPath::from(format!("{prefix}/objects"))));
            let mut ids = std::collections::BTreeSet::new();
            while let Some(meta) = listing.next().await {
                if let Some(name) = meta?.location.filename() {
                    ids.insert(name.to_string());
                }
            }
            Ok(ids)
        })
    }
}

impl S3Service {
    /// The key of object `id` under `prefix`, found by listing (the
    /// gateway chooses the layout below `objects/`).
    fn key_of(
        &self,
        client: &Arc<dyn ObjectStore>,
        prefix: &str,
        id: &str,
    ) -> Result<Option<ObjectPath>> {
        crate::runtime().block_on(async {
            let mut listing = client.list(Some(&ObjectPath::from(format!("{prefix}/objects"))));
            while let Some(meta) = listing.next().await {
                let meta = meta?;
                if meta.location.filename() == Some(id) {
                    return Ok(Some(meta.location));
                }
            }
            Ok(None)
        })
    }

    /// The stored bytes of object `id`, or None when there is none.
    pub fn blob(&self, prefix: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let client = self.client()?;
        let Some(key) = self.key_of(&client, prefix, id)? else {
            return Ok(None);
        };
        crate::runtime().block_on(async {
            let bytes = client.get(&key).await?.bytes().await?;
            Ok(Some(bytes.to_vec()))
        })
    }

    /// Replaces the stored bytes of object `id`, as someone holding the
    /// bucket's keys could.
    pub fn overwrite_blob(&self, prefix: &str, id: &str, bytes: Vec<u8>) -> Result<()> {
        let client = self.client()?;
        let key = self
            .key_of(&client, prefix, id)?
            .with_context(|| format!("no object {id} under {prefix}"))?;
        crate::runtime().block_on(async {
            client.put(&key, bytes.into()).await?;
            Ok(())
        })
    }
}
