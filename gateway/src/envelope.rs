//! Encryption at rest: every stored object is an age file encrypted to its
//! own freshly generated key, and that key is kept only wrapped by the
//! master key, in the database. Destroying the wrapped key makes the blob
//! unreadable for good, wherever copies of the blob went.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::{self, BufReader, Read, Seek, Write};

use crate::blob::{BlobStore, BlobWriter};
use crate::keys::{Keys, ObjectKey};

/// Streams plaintext into an encrypted blob while hashing it.
pub struct SealingWriter {
    inner: age::stream::StreamWriter<Box<dyn BlobWriter>>,
    hasher: Sha256,
    size: u64,
}

pub struct Sealed {
    pub sha256: String,
    pub size: u64,
    pub wrapped_key: Vec<u8>,
}

pub fn seal(keys: &Keys, store: &dyn BlobStore, id: &str) -> Result<(SealingWriter, Vec<u8>)> {
    let key = ObjectKey::generate();
    let wrapped = key.wrap(keys, id)?;
    let recipient = key.recipient();
    let blob = store
        .create(id)
        .context("cannot create a file in the store")?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .context("cannot set up encryption")?;
    let inner = encryptor.wrap_output(blob)?;
    Ok((
        SealingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        },
        wrapped,
    ))
}

impl SealingWriter {
    pub fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.inner.write_all(chunk)
    }

    /// Completes the age stream and makes the blob durable.
    pub fn finish(self, wrapped_key: Vec<u8>) -> Result<Sealed> {
        let blob = self.inner.finish()?;
        blob.commit()
            .context("cannot make the stored file durable")?;
        Ok(Sealed {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            wrapped_key,
        })
    }
}

impl Write for SealingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_chunk(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Opens a stored object for reading its plaintext with random access:
/// age's stream reader seeks by decrypting only the chunks it lands on, so
/// nothing is decrypted to disk. Authentication as for [`open`].
pub fn open_seekable(
    keys: &Keys,
    store: &dyn BlobStore,
    id: &str,
    wrapped_key: &[u8],
) -> Result<impl Read + Seek + Send + use<>> {
    let key = ObjectKey::unwrap(keys, id, wrapped_key)?;
    let blob = store
        .open_seekable(id)
        .with_context(|| format!("stored object {id} is missing"))?;
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(1 << 20, blob))
        .with_context(|| format!("stored object {id} is damaged"))?;
    decryptor
        .decrypt(std::iter::once(key.identity() as &dyn age::Identity))
        .with_context(|| format!("stored object {id} cannot be decrypted"))
}

/// Opens a stored object for reading its plaintext. A changed or truncated
/// blob makes the returned reader fail; it never yields unauthenticated bytes.
pub fn open(
    keys: &Keys,
    store: &dyn BlobStore,
    id: &str,
    wrapped_key: &[u8],
) -> Result<impl Read + Send + use<>> {
    let key = ObjectKey::unwrap(keys, id, wrapped_key)?;
    let blob = store
        .open(id)
        .with_context(|| format!("stored object {id} is missing"))?;
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(1 << 20, blob))
        .with_context(|| format!("stored object {id} is damaged"))?;
    decryptor
        .decrypt(std::iter::once(key.identity() as &dyn age::Identity))
        .with_context(|| format!("stored object {id} cannot be decrypted"))
}
