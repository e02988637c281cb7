//! Byte-for-byte tunnels for connections that are not intercepted.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::observer::Tunnel;
use super::target::Target;
use super::Shared;

/// Copies both ways until either side closes, or until the shutdown grace period has passed, then
/// reports the tunnel with the bytes that crossed it. `replay` holds bytes already read from the
/// client (a peeked ClientHello) that the upstream must still receive.
pub(crate) async fn splice<C, U>(
    shared: &Shared,
    target: &Target,
    client: C,
    upstream: io::Result<U>,
    replay: &[u8],
    started: Instant,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let up = Arc::new(AtomicU64::new(0));
    let down = Arc::new(AtomicU64::new(0));
    let result = async {
        let mut upstream = Counted::new(upstream?, down.clone());
        upstream.get_mut().write_all(replay).await?;
        up.fetch_add(replay.len() as u64, Ordering::Relaxed);
        let mut client = Counted::new(client, up.clone());
        let grace = shared.config.timeouts.shutdown_grace;
        tokio::select! {
            result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => result.map(drop),
            () = async { shared.shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                Err(io::Error::other("closed by tollgate's shutdown"))
            }
        }
    }
    .await;
    let tunnel = Tunnel {
        client: target.client,
        host: target.host.clone(),
        port: target.port,
        bytes_up: up.load(Ordering::Relaxed),
        bytes_down: down.load(Ordering::Relaxed),
        duration: started.elapsed(),
        error: result.err().map(|error| error.to_string()),
    };
    tracing::debug!(
        bytes_up = tunnel.bytes_up,
        bytes_down = tunnel.bytes_down,
        error = tunnel.error.as_deref(),
        "tunnel closed"
    );
    shared.observers.tunnel(&tunnel);
}

/// Counts the bytes read through a stream, so a tunnel cut short still reports what crossed it.
struct Counted<T> {
    inner: T,
    read: Arc<AtomicU64>,
}

impl<T> Counted<T> {
    fn new(inner: T, read: Arc<AtomicU64>) -> Self {
        Self { inner, read }
    }

    fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.read.fetch_add(read, Ordering::Relaxed);
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_bytes_read() {
        let (mut a, b) = tokio::io::duplex(64);
        let read = Arc::new(AtomicU64::new(0));
        let mut counted = Counted::new(b, read.clone());
        a.write_all(b"hello").await.unwrap();
        drop(a);
        let mut out = Vec::new();
        counted.read_to_end(&mut out).await.unwrap();
        assert_eq!(
            (out.as_slice(), read.load(Ordering::Relaxed)),
            (&b"hello"[..], 5)
        );
    }
}
