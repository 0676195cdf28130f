//! Connection caps, checked when a connection is accepted and before its
//! TLS handshake (which is the expensive part): at most so many open
//! connections per listener and per client address. A connection over a cap
//! is closed at once; the caps are released when the connection ends,
//! however it ends.
//!
//! The address here is the connection's own: behind a reverse proxy every
//! connection is the proxy's, so there the per-address cap must be set at
//! the proxy (the README says so) and this one set high.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Counts of open connections, shared by every accept of one listener.
#[derive(Clone)]
pub struct ConnectionCaps {
    max_total: usize,
    max_per_address: usize,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl ConnectionCaps {
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total,
            max_per_address,
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `address`, or why there is none.
    fn admit(&self, address: IpAddr) -> io::Result<Admitted> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| io::Error::other("connection counts are unusable"))?;
        if open.total >= self.max_total {
            return Err(io::Error::other(format!(
                "{} connections are open, the listener's cap (http.max_connections)",
                open.total
            )));
        }
        let from_address = open.by_address.get(&address).copied().unwrap_or(0);
        if from_address >= self.max_per_address {
            return Err(io::Error::other(format!(
                "{from_address} connections from {address} are open, the cap per address (http.max_connections_per_address)"
            )));
        }
        open.total += 1;
        open.by_address.insert(address, from_address + 1);
        Ok(Admitted {
            caps: self.clone(),
            address,
        })
    }

    fn release(&self, address: IpAddr) {
        if let Ok(mut open) = self.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(count) = open.by_address.get_mut(&address) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.by_address.remove(&address);
                }
            }
        }
    }
}

/// One admitted connection's place; dropping it frees the place.
struct Admitted {
    caps: ConnectionCaps,
    address: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.caps.release(self.address);
    }
}

/// A TCP stream that holds its place under the caps while it lives.
pub struct CappedStream {
    inner: TcpStream,
    _place: Admitted,
}

impl<S: Send + 'static> Accept<TcpStream, S> for ConnectionCaps {
    type Stream = CappedStream;
    type Service = S;
    type Future = std::future::Ready<io::Result<(CappedStream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .and_then(|peer| self.admit(peer.ip()))
            .map(|place| {
                // Small writes (TLS records of a page) go out at once.
                let _ = stream.set_nodelay(true);
                (
                    CappedStream {
                        inner: stream,
                        _place: place,
                    },
                    service,
                )
            });
        if let Err(refusal) = &admitted {
            tracing::warn!("connection refused: {refusal}");
        }
        std::future::ready(admitted)
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total_and_free_on_drop() {
        let caps = ConnectionCaps::new(3, 2);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let first = caps.admit(a);
        let second = caps.admit(a);
        assert!(first.is_ok() && second.is_ok());
        assert!(caps.admit(a).is_err(), "a third from one address");
        let third = caps.admit(b);
        assert!(third.is_ok());
        assert!(caps.admit(b).is_err(), "over the total");
        drop(first);
        assert!(caps.admit(b).is_ok(), "a place was freed");
    }
}
