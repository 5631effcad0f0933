//! Serving connections: a cap on how many are open, a deadline for each request head, and
//! the client address handlers see.
//!
//! [`LimitedListener`] takes a slot before it accepts a connection and the connection holds
//! it until it closes. At the cap, a few more connections are taken on a reserve that
//! serves `/health` only (anything else gets a 503 and the connection closes), so load
//! balancers still see the collector; beyond that, new connections wait in the kernel's
//! listen backlog (they are not refused) until one closes. One address may hold at most
//! its own share of the slots: its further connections are closed at once, so one client's
//! idle connections cannot starve the others. Open files and the memory held for
//! connections stay bounded whatever clients do. [`serve`] is `axum::serve` plus what it
//! cannot be told: a deadline for receiving request heads, which cuts off clients that
//! trickle their headers (slowloris) and closes keep-alive connections idle that long.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// Connections taken beyond the cap to answer `/health`; never closed.
    reserve: Arc<Semaphore>,
    /// Open connections per address.
    per_address: Arc<PerAddress>,
}

/// Connections kept beyond the cap for `/health`.
pub const HEALTH_RESERVE: usize = 4;

/// Open connections per client address, with a cap.
#[derive(Debug)]
struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// Counts a connection from `ip`, unless it already has `max`.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            ip,
            counts: self.clone(),
        })
    }
}

/// One connection counted against its address until dropped.
#[derive(Debug)]
struct AddressSlot {
    ip: IpAddr,
    counts: Arc<PerAddress>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl LimitedListener {
    /// Wraps `inner`, serving at most `max_connections` (at least 1) at once, plus
    /// [`HEALTH_RESERVE`] for `/health`; one address may hold all of them.
    pub fn new(inner: TcpListener, max_connections: usize) -> Self {
        Self::with_per_address(inner, max_connections, usize::MAX)
    }

    /// As [`LimitedListener::new`], with at most `per_address` connections (at least 1)
    /// from one client address.
    pub fn with_per_address(
        inner: TcpListener,
        max_connections: usize,
        per_address: usize,
    ) -> Self {
        let max = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        LimitedListener {
            inner,
            slots: Arc::new(Semaphore::new(max)),
            reserve: Arc::new(Semaphore::new(HEALTH_RESERVE)),
            per_address: Arc::new(PerAddress {
                max: per_address.max(1),
                open: Mutex::default(),
            }),
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
        loop {
            // A regular slot, else one of the reserve (for `/health`), else wait for either.
            let (slot, reserve) = match self.slots.clone().try_acquire_owned() {
                Ok(slot) => (slot, false),
                Err(_) => match self.reserve.clone().try_acquire_owned() {
                    Ok(slot) => (slot, true),
                    Err(_) => tokio::select! {
                        Ok(slot) = self.slots.clone().acquire_owned() => (slot, false),
                        Ok(slot) = self.reserve.clone().acquire_owned() => (slot, true),
                    },
                },
            };
            // The TCP listener's own `accept` logs and retries errors such as EMFILE.
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            match self.per_address.admit(addr.ip()) {
                Some(address) => {
                    let stream = LimitedStream {
                        stream,
                        reserve,
                        _slot: slot,
                        _address: address,
                    };
                    return (stream, addr);
                }
                // Over its address's share: closed at once, the slot given back.
                None => drop((stream, slot)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection holding its slot until it is dropped.
pub struct LimitedStream {
    stream: TcpStream,
    /// Taken on the reserve: serves `/health` only.
    reserve: bool,
    /// Returned to the listener when the connection closes.
    _slot: OwnedSemaphorePermit,
    /// Counted against its address until it closes.
    _address: AddressSlot,
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
        let reserve = io.reserve;
        let app = if reserve {
            Router::new()
                .route("/health", axum::routing::any_service(self.app.clone()))
                .fallback(at_capacity)
        } else {
            self.app.clone()
        };
        let service = app.map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(client);
            request.map(Body::new)
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .keep_alive(!reserve)
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

/// What a reserve connection answers to anything but `/health`.
async fn at_capacity() -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = axum::Json(serde_json::json!({
        "error": "the collector is at its connection limit; retry later",
    }));
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        body,
    )
        .into_response()
}

/// A connection ending in an error is the client's business (a reset, a header timeout).
fn finished(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::trace!(%err, "connection ended with an error");
    }
}
