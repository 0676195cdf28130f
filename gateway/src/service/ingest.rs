//! Streaming a file into the store and the scanner at once: the same
//! coalesced pieces go to the sealing thread (hashing and encrypting into a
//! blob, [`crate::envelope::seal`]) and to a scanning thread
//! ([`crate::scan::Scanner::scan_reader`] over a channel wrapped as a
//! `Read`). Both channels are bounded, so a slow disk or a slow engine
//! slows the upload down instead of filling memory.
//!
//! Nothing is recorded here: the caller records the object (and its
//! verdict) in a write transaction, or calls [`Ingest::abort`] /
//! [`Finished::discard`] and the blob is removed unseen.

use std::io::Read;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::envelope;
use crate::scan::{Report, Verdict};
use crate::state::{AppState, Shared};

/// Size of the pieces handed from the network to the worker threads.
pub const COALESCE_BYTES: usize = 1 << 20;

/// A channel of pieces seen as a `Read` by the blocking scanner.
struct ChannelReader {
    receiver: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(next) => self.current = next,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let piece = self.current.split_to(n);
        for (to, from) in buf.iter_mut().zip(piece.iter()) {
            *to = *from;
        }
        Ok(n)
    }
}

/// Removes an object that was never recorded: its blob and its key share
/// (made before the first byte arrived). Left behind, the share would be
/// key material with no record until the next start-up recovery. Failures
/// are logged; that recovery removes whatever is still there.
pub fn discard_object(state: &AppState, object_id: &str) {
    if let Err(e) = state.store.delete(object_id) {
        tracing::warn!(
            "cannot remove the unrecorded upload {object_id} now (start-up recovery will): {e}"
        );
    }
    if let Err(e) = state.keys.shares().erase(object_id) {
        tracing::warn!(
            "cannot erase the key share of the unrecorded upload {object_id} now (start-up recovery will): {e:#}"
        );
    }
}

/// One file on its way in.
pub struct Ingest {
    state: Shared,
    pub object_id: String,
    seal: mpsc::Sender<Option<Bytes>>,
    scan: Option<mpsc::Sender<Bytes>>,
    seal_worker: JoinHandle<anyhow::Result<envelope::Sealed>>,
    scan_worker: Option<JoinHandle<Report>>,
    pending: bytes::BytesMut,
    pub received: u64,
    broken: bool,
}

/// A file completely stored (not yet recorded) and, when scanned, its report.
pub struct Finished {
    pub object_id: String,
    pub sealed: envelope::Sealed,
    pub report: Option<Report>,
}

impl Finished {
    /// The verdict, failing closed: a scanner that did not see exactly the
    /// stored bytes makes the file unscanned.
    pub fn verdict(&self) -> Option<Verdict> {
        let report = self.report.as_ref()?;
        if report.size != self.sealed.size
            || (report.verdict.is_clean() && report.sha256 != self.sealed.sha256)
        {
            return Some(Verdict::Unscanned {
                reason: "the scanner did not see every byte of the file".into(),
            });
        }
        Some(report.verdict.clone())
    }

    /// Removes the blob (the file is not accepted).
    pub fn discard(&self, state: &Shared) {
        discard_object(state, &self.object_id);
    }
}

impl Ingest {
    /// Starts the workers. `scan` false: outbound scanning is switched off.
    pub fn start(state: &Shared, scan: bool, size_hint: Option<u64>) -> Ingest {
        let object_id = uuid::Uuid::new_v4().simple().to_string();
        let (seal, mut seal_rx) = mpsc::channel::<Option<Bytes>>(4);
        let seal_worker = {
            let state = state.clone();
            let object_id = object_id.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<envelope::Sealed> {
                let (mut writer, wrapped) =
                    envelope::seal(&state.keys, state.store.as_ref(), &object_id)?;
                // `None` is the commit signal; a closed channel without it
                // means the upload failed and the partial blob is dropped.
                while let Some(message) = seal_rx.blocking_recv() {
                    match message {
                        Some(chunk) => writer.write_chunk(&chunk)?,
                        None => return writer.finish(wrapped),
                    }
                }
                // Also when the request was dropped mid-way (a cut
                // connection, a stop), where no caller is left to discard
                // it: the key share goes now, before the partial blob (whose
                // removal may need the network, and the process may be
                // ending). On a shared store start-up recovery would leave
                // the share a day.
                if let Err(e) = state.keys.shares().erase(&object_id) {
                    tracing::warn!(
                        "cannot erase the key share of the interrupted upload {object_id} now (start-up recovery will): {e:#}"
                    );
                }
                drop(writer);
                anyhow::bail!("the upload was interrupted")
            })
        };
        let (scan, scan_worker) = if scan {
            let (tx, rx) = mpsc::channel::<Bytes>(4);
            let scanner = state.scanner.clone();
            let worker = tokio::task::spawn_blocking(move || {
                let reader = ChannelReader {
                    receiver: rx,
                    current: Bytes::new(),
                };
                scanner.scan_reader(reader, size_hint)
            });
            (Some(tx), Some(worker))
        } else {
            (None, None)
        };
        Ingest {
            state: state.clone(),
            object_id,
            seal,
            scan,
            seal_worker,
            scan_worker,
            pending: bytes::BytesMut::with_capacity(COALESCE_BYTES),
            received: 0,
            broken: false,
        }
    }

    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let full = self.pending.split().freeze();
        self.pending.reserve(COALESCE_BYTES);
        if let Some(scan) = &self.scan {
            // A scanner that stopped reading has given its verdict; the
            // size check in `Finished::verdict` catches a short read.
            if scan.send(full.clone()).await.is_err() {
                self.scan = None;
            }
        }
        if self.seal.send(Some(full)).await.is_err() {
            self.broken = true;
        }
    }

    /// Adds a piece from the network. False: the store stopped accepting.
    pub async fn push(&mut self, chunk: &[u8]) -> bool {
        self.received += chunk.len() as u64;
        self.pending.extend_from_slice(chunk);
        if self.pending.len() >= COALESCE_BYTES {
            self.flush().await;
        }
        !self.broken
    }

    /// Completes the blob and the scan. The blob is durable but not yet
    /// recorded: record it or [`Finished::discard`] it.
    pub async fn finish(mut self) -> anyhow::Result<Finished> {
        self.flush().await;
        if !self.broken {
            let _ = self.seal.send(None).await;
        }
        drop(self.seal);
        drop(self.scan);
        let sealed = self.seal_worker.await.map_err(anyhow::Error::from);
        let report = match self.scan_worker {
            Some(worker) => Some(worker.await.map_err(anyhow::Error::from)),
            None => None,
        };
        let sealed = match sealed.and_then(|s| s) {
            Ok(s) => s,
            Err(e) => {
                discard_object(&self.state, &self.object_id);
                return Err(e);
            }
        };
        let report = match report.transpose() {
            Ok(r) => r,
            Err(e) => {
                discard_object(&self.state, &self.object_id);
                return Err(e);
            }
        };
        Ok(Finished {
            object_id: self.object_id,
            sealed,
            report,
        })
    }

    /// Why the store stopped accepting (after [`Ingest::push`] said so):
    /// waits for the sealing thread and returns its error, e.g. a full
    /// disk, which the caller answers with (507, not a vague 500). The
    /// partial blob is removed.
    pub async fn failure(self) -> anyhow::Error {
        let object_id = self.object_id.clone();
        let state = self.state.clone();
        drop(self.seal);
        drop(self.scan);
        let cause = match self.seal_worker.await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => anyhow::anyhow!("the store stopped accepting the upload"),
            Err(e) => anyhow::Error::from(e).context("the store stopped accepting the upload"),
        };
        if let Some(worker) = self.scan_worker {
            let _ = worker.await;
        }
        discard_object(&state, &object_id);
        cause
    }

    /// Gives up: the workers stop and the partial blob is removed.
    pub async fn abort(self) {
        drop(self.seal);
        drop(self.scan);
        let _ = self.seal_worker.await;
        if let Some(worker) = self.scan_worker {
            let _ = worker.await;
        }
        discard_object(&self.state, &self.object_id);
    }
}
