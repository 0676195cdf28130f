//! Blobs in S3-compatible object storage, through `object_store`.
//!
//! Objects are `<prefix>/objects/<id>`. A blob is written as one multipart
//! upload of fixed-size parts, so memory stays at a few parts whatever the
//! size, and it becomes visible only when the upload is completed (the
//! store's atomic commit). A writer dropped before commit aborts its upload;
//! an upload cut by a crash stays invisible and is removed by the bucket's
//! lifecycle rule (README, "Deployment").
//!
//! The [`BlobStore`] interface is synchronous (its callers run on blocking
//! threads that hash and encrypt); each call here waits for the async client
//! on the runtime it was opened on, with bounded time-outs and retries so a
//! store that does not answer fails the call instead of hanging it.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};
use tokio::runtime::Handle;

use super::{BlobStore, BlobWriter, SeekRead, StoredBlob, valid_id};

/// Each part of an upload; S3 requires at least 5 MiB for all but the last.
const PART_BYTES: usize = 8 << 20;
/// Parts in flight at once per blob.
const PARTS_IN_FLIGHT: usize = 4;
/// Bytes fetched per range request by a seekable reader.
const READ_WINDOW: u64 = 4 << 20;

/// Where the S3 store is and how it is reached.
pub struct S3Settings {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: zeroize::Zeroizing<String>,
    pub allow_http: bool,
}

pub struct S3Store {
    client: Arc<dyn ObjectStore>,
    objects: ObjectPath,
    runtime: Handle,
    description: String,
}

impl S3Store {
    /// Must be called inside the gateway's tokio runtime: every later call
    /// runs its requests there.
    pub fn open(settings: S3Settings) -> Result<Self> {
        let options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(120))
            .with_allow_http(settings.allow_http);
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..Default::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.as_str())
            .with_region(settings.region.as_deref().unwrap_or("us-east-1"))
            .with_client_options(options)
            .with_retry(retry)
            .with_allow_http(settings.allow_http);
        if let Some(endpoint) = &settings.endpoint {
            // On-premises servers (Garage, MinIO, Ceph) are addressed by
            // path, not by a bucket host name that needs its own DNS.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let client = builder
            .build()
            .context("the [store] S3 settings cannot be used")?;
        let prefix = settings.prefix.trim_matches('/');
        let objects = if prefix.is_empty() {
            ObjectPath::from("objects")
        } else {
            ObjectPath::from(format!("{prefix}/objects"))
        };
        let description = format!(
            "s3://{}/{} at {}",
            settings.bucket,
            objects,
            settings.endpoint.as_deref().unwrap_or("AWS")
        );
        Ok(Self {
            client: Arc::new(client),
            objects,
            runtime: Handle::try_current()
                .context("the S3 store must be opened inside the gateway's runtime")?,
            description,
        })
    }

    /// Where the objects are, for messages and `status`.
    pub fn description(&self) -> &str {
        &self.description
    }

    fn location(&self, id: &str) -> io::Result<ObjectPath> {
        valid_id(id)?;
        Ok(self.objects.clone().join(id))
    }

    fn wait<F: Future>(&self, future: F) -> F::Output {
        wait_on(&self.runtime, future)
    }

    /// Proves at start-up that the bucket answers and the credentials are
    /// accepted, so a wrong setting stops `serve` instead of the first
    /// upload.
    pub fn check(&self) -> Result<()> {
        let mut listing = self.client.list(Some(&self.objects));
        self.wait(async { listing.next().await.transpose() })
            .with_context(|| format!("cannot list {}", self.description))?;
        Ok(())
    }
}

/// Runs a future to completion from synchronous code, whether the caller
/// is a blocking thread or (briefly) a runtime worker.
fn wait_on<F: Future>(runtime: &Handle, future: F) -> F::Output {
    match Handle::try_current() {
        Ok(current) if current.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| runtime.block_on(future))
        }
        _ => runtime.block_on(future),
    }
}

impl BlobStore for S3Store {
    fn create(&self, id: &str) -> io::Result<Box<dyn BlobWriter>> {
        let location = self.location(id)?;
        let upload = self.wait(self.client.put_multipart(&location))?;
        let _entered = self.runtime.enter();
        Ok(Box::new(S3Writer {
            upload: Some(WriteMultipart::new_with_chunk_size(upload, PART_BYTES)),
            runtime: self.runtime.clone(),
            since_capacity_check: 0,
        }))
    }

    fn open(&self, id: &str) -> io::Result<Box<dyn Read + Send>> {
        let location = self.location(id)?;
        let result = self.wait(self.client.get(&location))?;
        Ok(Box::new(S3Reader {
            stream: result.into_stream(),
            chunk: Bytes::new(),
            runtime: self.runtime.clone(),
        }))
    }

    fn open_seekable(&self, id: &str) -> io::Result<Box<dyn SeekRead>> {
        let location = self.location(id)?;
        let meta = self.wait(self.client.head(&location))?;
        Ok(Box::new(S3SeekReader {
            client: self.client.clone(),
            location,
            size: meta.size,
            position: 0,
            window: Bytes::new(),
            window_start: 0,
            runtime: self.runtime.clone(),
        }))
    }

    fn delete(&self, id: &str) -> io::Result<()> {
        let location = self.location(id)?;
        match self.wait(self.client.delete(&location)) {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => Ok(other?),
        }
    }

    fn list(&self) -> io::Result<Vec<StoredBlob>> {
        let mut listing = self.client.list(Some(&self.objects));
        self.wait(async {
            let mut blobs = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta?;
                let Some(id) = meta.location.filename() else {
                    continue;
                };
                if valid_id(id).is_ok() {
                    blobs.push(StoredBlob {
                        id: id.to_string(),
                        modified: meta.last_modified.into(),
                    });
                }
            }
            Ok(blobs)
        })
    }

    /// Half-written blobs are unfinished multipart uploads: invisible to
    /// readers and listings, aborted by their writer when it fails, and
    /// after a crash removed by the bucket's lifecycle rule. Nothing to do.
    fn discard_partials(&self, _older_than: Duration) -> io::Result<usize> {
        Ok(0)
    }
}

struct S3Writer {
    upload: Option<WriteMultipart>,
    runtime: Handle,
    /// Bytes handed over since the parts in flight were last counted.
    since_capacity_check: usize,
}

impl Write for S3Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(upload) = self.upload.as_mut() else {
            return Err(io::Error::other("blob already committed"));
        };
        // Back-pressure once per part: a slow store slows the upload down
        // instead of piling parts up in memory.
        if self.since_capacity_check >= PART_BYTES {
            self.since_capacity_check = 0;
            wait_on(&self.runtime, upload.wait_for_capacity(PARTS_IN_FLIGHT))?;
        }
        let _entered = self.runtime.enter();
        upload.write(buf);
        self.since_capacity_check += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for S3Writer {
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        let Some(upload) = self.upload.take() else {
            return Err(io::Error::other("blob already committed"));
        };
        // `finish` aborts the upload itself when a part or the completion fails.
        wait_on(&self.runtime, upload.finish())?;
        Ok(())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take()
            && let Err(e) = wait_on(&self.runtime, upload.abort())
        {
            tracing::warn!(
                "an unfinished upload to the object store could not be aborted ({e}); the bucket's lifecycle rule removes it"
            );
        }
    }
}

struct S3Reader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    runtime: Handle,
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match wait_on(&self.runtime, self.stream.next()) {
                Some(chunk) => self.chunk = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        Ok(copy_prefix(buf, &self.chunk.split_to(n)))
    }
}

/// Copies as much of `from` as fits into `to`; how much that was.
fn copy_prefix(to: &mut [u8], from: &[u8]) -> usize {
    let n = to.len().min(from.len());
    if let (Some(to), Some(from)) = (to.get_mut(..n), from.get(..n)) {
        to.copy_from_slice(from);
    }
    n
}

/// Random access by range requests of [`READ_WINDOW`] bytes.
struct S3SeekReader {
    client: Arc<dyn ObjectStore>,
    location: ObjectPath,
    size: u64,
    position: u64,
    window: Bytes,
    window_start: u64,
    runtime: Handle,
}

impl Read for S3SeekReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let window_end = self.window_start + self.window.len() as u64;
        if !(self.window_start..window_end).contains(&self.position) {
            let end = (self.position + READ_WINDOW).min(self.size);
            self.window = wait_on(
                &self.runtime,
                self.client.get_range(&self.location, self.position..end),
            )?;
            self.window_start = self.position;
            if self.window.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the object store returned less than the object's size",
                ));
            }
        }
        let offset = (self.position - self.window_start) as usize;
        let available = self.window.get(offset..).unwrap_or_default();
        let n = copy_prefix(buf, available);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for S3SeekReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        match target {
            Some(n) => {
                self.position = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the object",
            )),
        }
    }
}
