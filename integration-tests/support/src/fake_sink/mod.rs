//! A fake Loki or Elasticsearch for the collector's forwarders: plain blocking HTTP/1.1 on
//! its own threads (one per connection) inside the test or benchmark process. It behaves in
//! one of two ways, on the same server and the same wire formats ([`wire`]):
//!
//! - [`FakeSink::start`] answers every request at once, as the destination does when all
//!   is well — before decoding the body, so the collector never waits on it — then gunzips
//!   and counts the entries cheaply, checking the first body in full against the wire
//!   format so that the counts stand for what the collector really sent (the benchmarks);
//! - [`FakeSink::recording`] keeps every request and answers what the test's
//!   [`Responder`] says, which the test can change at any time: down, refusing, accepting
//!   some items (the tests, which check each body with [`wire`]).

mod connection;
pub mod wire;

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often [`FakeSink::wait_for`] looks at the count.
const POLL: Duration = Duration::from_millis(2);

/// Which destination the fake stands in for, and how it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST /loki/api/v1/push`, gzip JSON; answers `204`.
    Loki,
    /// `POST /_bulk`, NDJSON; answers `200` with `{"errors":false}` and, when `items`,
    /// one `create` item per entry as Elasticsearch itself does (about 170 bytes each).
    Elasticsearch {
        /// Whether the answer lists every item.
        items: bool,
    },
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Loki => "/loki/api/v1/push",
            Kind::Elasticsearch { .. } => "/_bulk",
        }
    }
}

/// Whether a fake started with [`FakeSink::start`] decodes the bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Decode and count every entry (the forwarding phases).
    Count,
    /// Only read the bodies and answer: the least CPU taken from a collector under load.
    Discard,
}

/// What the fake has received so far.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Requests answered.
    pub requests: u64,
    /// Entries counted (zero in [`Mode::Discard`] and for a recording fake).
    pub entries: u64,
    /// Body bytes as sent (gzip for Loki).
    pub body_bytes: u64,
    /// Body bytes once decoded.
    pub decoded_bytes: u64,
    /// When the first request arrived.
    pub first_request: Option<Instant>,
    /// When the last counted entries were counted.
    pub last_counted: Option<Instant>,
    /// Whether the first body passed the full wire-format check.
    pub checked: bool,
    /// Malformed requests and I/O errors.
    pub errors: u64,
    /// The first of them.
    pub first_error: Option<String>,
}

/// One request as a recording fake received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, ….
    pub method: String,
    /// The path.
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// The body as sent (still gzip when it was).
    pub body: Vec<u8>,
    /// The status the fake answered.
    pub status: u16,
}

impl Request {
    /// The body, gunzipped when `Content-Encoding: gzip`.
    ///
    /// # Panics
    ///
    /// When the gzip is not valid.
    pub fn decoded(&self) -> Vec<u8> {
        let gzip = self.headers.get("content-encoding").map(String::as_str) == Some("gzip");
        let mut out = Vec::new();
        decode(gzip, &self.body, &mut out)
            .expect("valid gzip")
            .to_vec()
    }
}

/// Decides a recording fake's answer to a request: status and body.
pub type Responder = Box<dyn FnMut(&Request) -> (u16, String) + Send>;

/// Answers every request with `status` and an empty JSON object.
pub fn always(status: u16) -> Responder {
    Box::new(move |_| (status, "{}".into()))
}

/// A running fake destination; stops accepting when dropped.
pub struct FakeSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeSink {
    /// Starts a fake `kind` on a free loopback port that answers at once and, in
    /// [`Mode::Count`], counts the entries.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub fn start(kind: Kind, mode: Mode) -> io::Result<Self> {
        Self::serve(Behaviour::Answer { kind, mode })
    }

    /// Starts a fake on a free loopback port that keeps every request (see
    /// [`FakeSink::requests`]) and answers what `responder` says.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub fn recording(responder: Responder) -> io::Result<Self> {
        Self::serve(Behaviour::Record(Mutex::new(responder)))
    }

    fn serve(behaviour: Behaviour) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behaviour,
            stop: AtomicBool::new(false),
            counts: Mutex::default(),
            entries: AtomicU64::new(0),
            requests: Mutex::default(),
        });
        let for_acceptor = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("fake-sink".into())
            .spawn(move || connection::accept(&listener, &for_acceptor))?;
        Ok(FakeSink {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:<port>`, for `--loki-url` or `--elasticsearch-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the counts.
    pub fn counts(&self) -> Counts {
        lock(&self.shared.counts).clone()
    }

    /// Every request a recording fake received so far, in order (none for the others).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Changes a recording fake's answer from now on.
    ///
    /// # Panics
    ///
    /// When the fake does not record, or its responder panicked.
    pub fn respond(&self, responder: Responder) {
        match &self.shared.behaviour {
            Behaviour::Record(current) => {
                *current.lock().expect("the responder panicked") = responder;
            }
            Behaviour::Answer { .. } => panic!("only a recording fake takes a responder"),
        }
    }

    /// Waits until `target` entries were counted, or no entry arrived for `stall`; returns
    /// whether the target was reached.
    pub fn wait_for(&self, target: u64, stall: Duration) -> bool {
        let entries = &self.shared.entries;
        let (mut seen, mut progress) = (entries.load(Relaxed), Instant::now());
        loop {
            let now = entries.load(Relaxed);
            if now >= target {
                return true;
            }
            if now != seen {
                (seen, progress) = (now, Instant::now());
            } else if progress.elapsed() > stall {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for FakeSink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Relaxed);
        // Wake the acceptor blocked in `accept`.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// How the fake answers.
enum Behaviour {
    /// At once, as `kind` does when all is well.
    Answer { kind: Kind, mode: Mode },
    /// What the test's responder says, keeping every request.
    Record(Mutex<Responder>),
}

/// What the fake and every connection thread share.
struct Shared {
    behaviour: Behaviour,
    /// Set when the fake is dropped.
    stop: AtomicBool,
    counts: Mutex<Counts>,
    /// Entries counted, also in `counts`, readable without the lock while polling.
    entries: AtomicU64,
    /// What a recording fake received.
    requests: Mutex<Vec<Request>>,
}

/// Locks `mutex`, whether or not a connection thread panicked while holding it: the counts
/// and requests stay readable for the report or the test's assertions.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The body itself, or gunzipped into `out`.
fn decode<'a>(gzip: bool, body: &'a [u8], out: &'a mut Vec<u8>) -> Result<&'a [u8], String> {
    if !gzip {
        return Ok(body);
    }
    out.clear();
    flate2::read::GzDecoder::new(body)
        .read_to_end(out)
        .map_err(|e| format!("bad gzip body: {e}"))?;
    Ok(out)
}
