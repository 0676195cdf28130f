//! Blob storage behind a trait. Stored bytes are always ciphertext (see
//! [`crate::envelope`]); the store only keeps them safe from crashes.
//!
//! The interface is synchronous on purpose: blobs are read and written from
//! blocking worker threads that also hash and encrypt, so one thread streams
//! a file end to end with constant memory.
//!
//! Two stores: [`LocalDisk`], a folder (the embedded default), and
//! [`S3Store`], S3-compatible object storage.

use std::io::{self, Read, Seek, Write};
use std::time::SystemTime;

mod local;
pub mod s3;

pub use local::{LocalDisk, committed_path, is_older_than};
pub use s3::S3Store;

/// A committed blob as a listing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub id: String,
    /// When it was written, as the store reports it (the system clock of
    /// the store, not the gateway's injected clock).
    pub modified: SystemTime,
}

pub trait BlobStore: Send + Sync {
    /// Starts a new blob. Nothing is visible under `id` until `commit`.
    fn create(&self, id: &str) -> io::Result<Box<dyn BlobWriter>>;
    fn open(&self, id: &str) -> io::Result<Box<dyn Read + Send>>;
    /// Opens a blob with random access, for readers that need it (the
    /// sanitiser reads a zip package's directory at its end first).
    fn open_seekable(&self, id: &str) -> io::Result<Box<dyn SeekRead>>;
    /// Removes a blob; a missing blob is not an error (deletion is idempotent).
    fn delete(&self, id: &str) -> io::Result<()>;
    /// Secure removal: overwrites the bytes where the store allows it, then
    /// removes them. Stores that cannot overwrite (object stores) just
    /// delete: the bytes are ciphertext whose key is already destroyed.
    fn erase(&self, id: &str) -> io::Result<()> {
        self.delete(id)
    }
    fn list(&self) -> io::Result<Vec<StoredBlob>>;
    /// Removes half-written blobs left by a crash that are older than
    /// `older_than` (zero: all of them); returns how many.
    fn discard_partials(&self, older_than: std::time::Duration) -> io::Result<usize>;
}

/// A readable, seekable blob.
pub trait SeekRead: Read + Seek + Send {}
impl<T: Read + Seek + Send> SeekRead for T {}

pub trait BlobWriter: Write + Send {
    /// Makes the blob durable and visible. Dropping a writer without
    /// committing discards what was written.
    fn commit(self: Box<Self>) -> io::Result<()>;
}

pub(crate) fn valid_id(id: &str) -> io::Result<()> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid blob id",
        ))
    }
}
