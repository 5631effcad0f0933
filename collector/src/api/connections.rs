//! Serving connections: a cap on how many are open, a deadline for each request head, and
//! the client address handlers see.
//!
//! [`LimitedListener`] takes a slot before it accepts a connection and the connection holds
//! it until it closes. At the cap, new connections wait in the kernel's listen backlog
//! (they are not refused) until one closes, so the open files and the memory held for
//! connections stay bounded whatever clients do. [`serve`] is `axum::serve` plus what it
//! cannot be told: a deadline for receiving request heads, which cuts off clients that
//! trickle their headers (slowloris) and closes keep-alive connections idle that long.

use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

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

/// Serves `app` on `listener` until `stop` is cancelled; then stops accepting, lets each
/// connection finish the request it is serving (idle ones close at once), and returns once
/// every connection is closed. A request head must arrive within `header_timeout` (`None`:
/// no limit) of the connection being ready for it.
pub async fn serve(
    mut listener: LimitedListener,
    app: Router,
    header_timeout: Option<Duration>,
    stop: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let (io, addr) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = stop.cancelled() => break,
        };
        let connection = Connection {
            app: app.clone(),
            client: ClientAddr(addr),
            header_timeout,
            stop: stop.clone(),
        };
        connections.spawn(connection.serve(io));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// One accepted connection and what serving it needs.
struct Connection {
    app: Router,
    client: ClientAddr,
    header_timeout: Option<Duration>,
    /// Cancelled when the server stops accepting.
    stop: CancellationToken,
}

impl Connection {
    async fn serve(self, io: LimitedStream) {
        let client = ConnectInfo(self.client);
        let service = self
            .app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(client);
                request.map(Body::new)
            });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        let connection =
            builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let mut connection = pin!(connection);
        tokio::select! {
            result = connection.as_mut() => return finished(result),
            () = self.stop.cancelled() => connection.as_mut().graceful_shutdown(),
        }
        finished(connection.await);
    }
}

/// A connection ending in an error is the client's business (a reset, a header timeout).
fn finished(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::trace!(%err, "connection ended with an error");
    }
}
