//! One way to turn blocking work (decrypting, packaging, age-encrypting)
//! into a streamed HTTP body: the work runs on a blocking thread and writes
//! into a bounded channel, so memory stays constant whatever the size, and
//! a failure part-way cuts the stream instead of ending it cleanly, which a
//! client (and age's authenticated stream) sees as an incomplete download.

use std::io::{self, Write};

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;

/// Pieces in flight between the blocking thread and the connection.
const PIECES_IN_FLIGHT: usize = 8;

/// What the blocking work writes into; each write becomes one body piece.
pub struct BodyWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sender
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the receiver went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams what `produce` writes. `what` names the download in the log
/// when it fails (never a token or content).
pub fn body_from_blocking<F>(what: String, produce: F) -> Body
where
    F: FnOnce(&mut BodyWriter) -> anyhow::Result<()> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(PIECES_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut writer = BodyWriter {
            sender: sender.clone(),
        };
        if let Err(e) = produce(&mut writer) {
            if sender.is_closed() {
                // The other side hung up; nothing is left to cut.
                tracing::info!("{what}: the receiver went away");
            } else {
                tracing::error!("{what} stopped: {e:#}");
                let _ = sender
                    .blocking_send(Err(io::Error::other("the download could not be completed")));
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}
