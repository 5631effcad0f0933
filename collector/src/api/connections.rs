//! A cap on the connections served at once, and the client address handlers see.
//!
//! [`LimitedListener`] takes a slot before it accepts a connection and the connection holds
//! it until it closes. At the cap, new connections wait in the kernel's listen backlog
//! (they are not refused) until one closes, so the open files and the memory held for
//! connections stay bounded whatever clients do.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A TCP listener that serves at most a fixed number of connections at once.
///
/// # Examples
///
/// ```
/// # async fn demo() -> std::io::Result<()> {
/// use estuary_collector::api::connections::LimitedListener;
///
/// let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let listener = LimitedListener::new(tcp, 1024);
/// assert_eq!(listener.free_slots(), 1024);
/// # Ok(())
/// # }
/// ```
pub struct LimitedListener {
    inner: TcpListener,
    /// One permit per connection that may be open; never closed.
    slots: Arc<Semaphore>,
}

impl LimitedListener {
    /// Wraps `inner`, serving at most `max_connections` (at least 1) at once.
    pub fn new(inner: TcpListener, max_connections: usize) -> Self {
        let max = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        LimitedListener {
            inner,
            slots: Arc::new(Semaphore::new(max)),
        }
    }

    /// How many more connections could be served right now.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let slot = match self.slots.clone().acquire_owned().await {
            Ok(slot) => slot,
            // The semaphore is never closed; if it were, accepting no more is the safe side.
            Err(_) => std::future::pending().await,
        };
        // The TCP listener's own `accept` logs and retries errors such as EMFILE.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (
            LimitedStream {
                stream,
                _slot: slot,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection holding its slot until it is dropped.
pub struct LimitedStream {
    stream: TcpStream,
    /// Returned to the listener when the connection closes.
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Forwarded so hyper's vectored writes (headers + body in one syscall) stay single.
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The peer address of a request's connection, for per-client rate limits
/// (`ConnectInfo<ClientAddr>` in the request's extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, LimitedListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}
