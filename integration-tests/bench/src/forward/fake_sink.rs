//! A fake Loki or Elasticsearch that accepts every request at once: plain blocking
//! HTTP/1.1 on its own threads (one per connection) inside the bench process. It answers as
//! soon as the body has arrived — before decoding it — so the collector never waits on it,
//! then gunzips and counts the entries cheaply (see [`super::wire`]). The first body is
//! checked in full against the wire format, so the counts stand for what the collector
//! really sent.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire::{bulk_answer, check_bulk, check_loki, count_bulk, count_loki};

/// Headers parsed at most; reqwest sends about six.
const MAX_HEADERS: usize = 32;
/// Bytes read at a time while the request head is incomplete.
const READ_CHUNK: usize = 64 * 1024;
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

/// Whether the fake decodes the bodies.
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
    /// Entries counted (zero in [`Mode::Discard`]).
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

/// A running fake destination; stops accepting when dropped.
pub struct FakeSink {
    addr: SocketAddr,
    state: Arc<Mutex<Counts>>,
    /// Entries counted, also in `state`, readable without the lock while polling.
    entries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeSink {
    /// Starts a fake on a free loopback port.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub fn start(kind: Kind, mode: Mode) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(Counts::default()));
        let entries = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let conn = Connection {
            kind,
            mode,
            state: state.clone(),
            entries: entries.clone(),
            stop: stop.clone(),
        };
        let acceptor = std::thread::Builder::new()
            .name("fake-sink".into())
            .spawn(move || accept(&listener, &conn))?;
        Ok(FakeSink {
            addr,
            state,
            entries,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:<port>`, for `--loki-url` or `--elasticsearch-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the counts.
    pub fn counts(&self) -> Counts {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `target` entries were counted, or no entry arrived for `stall`; returns
    /// whether the target was reached.
    pub fn wait_for(&self, target: u64, stall: Duration) -> bool {
        let (mut seen, mut progress) = (self.entries.load(Relaxed), Instant::now());
        loop {
            let now = self.entries.load(Relaxed);
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
        self.stop.store(true, Relaxed);
        // Wake the acceptor blocked in `accept`.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// What every connection thread shares.
#[derive(Clone)]
struct Connection {
    kind: Kind,
    mode: Mode,
    state: Arc<Mutex<Counts>>,
    entries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

fn accept(listener: &TcpListener, conn: &Connection) {
    for stream in listener.incoming() {
        if conn.stop.load(Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let conn = conn.clone();
        // Threads end when the collector closes its connection (it is stopped first).
        let _ = std::thread::Builder::new()
            .name("fake-sink-conn".into())
            .spawn(move || {
                if let Err(err) = conn.serve(stream) {
                    conn.fail(err);
                }
            });
    }
}

/// One request's head.
struct Head {
    /// Bytes of the request line and headers.
    len: usize,
    body_len: usize,
    gzip: bool,
    path_ok: bool,
}

impl Connection {
    fn serve(&self, mut stream: TcpStream) -> Result<(), String> {
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(READ_CHUNK);
        let mut decoded = Vec::new();
        let mut answer_cache: Option<(u64, Vec<u8>)> = None;
        while !self.stop.load(Relaxed) {
            let head = loop {
                if let Some(head) = self.parse_head(&buf)? {
                    break head;
                }
                if read_some(&mut stream, &mut buf).map_err(|e| format!("read: {e}"))? == 0 {
                    return Ok(());
                }
            };
            let end = head.len + head.body_len;
            if buf.len() < end {
                let have = buf.len();
                buf.resize(end, 0);
                stream
                    .read_exact(&mut buf[have..])
                    .map_err(|e| format!("reading a body: {e}"))?;
            }
            self.handle(
                &mut stream,
                &head,
                &buf[head.len..end],
                &mut decoded,
                &mut answer_cache,
            )?;
            buf.drain(..end);
        }
        Ok(())
    }

    fn parse_head(&self, buf: &[u8]) -> Result<Option<Head>, String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let len = match request
            .parse(buf)
            .map_err(|e| format!("bad request head: {e}"))?
        {
            httparse::Status::Partial => return Ok(None),
            httparse::Status::Complete(len) => len,
        };
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
        };
        if header("transfer-encoding").is_some() {
            return Err("chunked request bodies are not supported by the fake".into());
        }
        let body_len = header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .ok_or("request without a Content-Length")?;
        Ok(Some(Head {
            len,
            body_len,
            gzip: header("content-encoding") == Some("gzip"),
            path_ok: request.method == Some("POST") && request.path == Some(self.kind.path()),
        }))
    }

    /// Answers one request at once, then counts its entries.
    fn handle(
        &self,
        stream: &mut TcpStream,
        head: &Head,
        body: &[u8],
        decoded: &mut Vec<u8>,
        answer_cache: &mut Option<(u64, Vec<u8>)>,
    ) -> Result<(), String> {
        if !head.path_ok {
            stream
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .map_err(|e| e.to_string())?;
            return Err("a request to the wrong method or path".into());
        }
        let counting = self.mode == Mode::Count;
        let loki = self.kind == Kind::Loki;
        let decoding = counting || self.kind == (Kind::Elasticsearch { items: true });
        // Loki is answered before decoding; `_bulk` after counting, which the item answer
        // needs and which costs a newline scan (the collector does not gzip `_bulk`).
        if loki {
            self.reply(stream, 0, answer_cache)?;
        }
        let plain = if decoding {
            Some(decode(head.gzip, body, decoded)?)
        } else {
            None
        };
        let entries = match plain {
            Some(plain) if loki => Some(count_loki(plain)),
            Some(plain) => Some(count_bulk(plain)?),
            None => None,
        };
        if !loki {
            self.reply(stream, entries.unwrap_or(0), answer_cache)?;
        }
        self.record(body.len(), plain, entries.filter(|_| counting))
    }

    fn reply(
        &self,
        stream: &mut TcpStream,
        entries: u64,
        cache: &mut Option<(u64, Vec<u8>)>,
    ) -> Result<(), String> {
        stream
            .write_all(self.answer(entries, cache))
            .map_err(|e| format!("answering: {e}"))
    }

    fn answer<'a>(&self, entries: u64, cache: &'a mut Option<(u64, Vec<u8>)>) -> &'a [u8] {
        if cache.as_ref().is_none_or(|(n, _)| *n != entries) {
            let answer = match self.kind {
                Kind::Loki => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
                Kind::Elasticsearch { items } => {
                    let body = bulk_answer(if items { Some(entries) } else { None });
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\n\r\n",
                        body.len()
                    );
                    [head.as_bytes(), &body].concat()
                }
            };
            *cache = Some((entries, answer));
        }
        cache
            .as_ref()
            .map(|(_, answer)| &answer[..])
            .unwrap_or_default()
    }

    fn record(
        &self,
        body_len: usize,
        plain: Option<&[u8]>,
        entries: Option<u64>,
    ) -> Result<(), String> {
        let check = {
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            entries.is_some() && !state.checked && state.errors == 0
        };
        // The full check parses JSON: done once, outside the lock.
        let checked = if let (true, Some(plain)) = (check, plain) {
            let n = entries.unwrap_or(0);
            match self.kind {
                Kind::Loki => check_loki(plain, n),
                Kind::Elasticsearch { .. } => check_bulk(plain, n),
            }
            .map_err(|e| format!("the first body does not match the wire format: {e}"))?;
            true
        } else {
            false
        };
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.requests += 1;
        state.body_bytes += body_len as u64;
        state.decoded_bytes += plain.map_or(0, |p| p.len() as u64);
        state.first_request.get_or_insert(now);
        state.checked |= checked;
        if let Some(n) = entries {
            state.entries += n;
            state.last_counted = Some(now);
            self.entries.store(state.entries, Relaxed);
        }
        Ok(())
    }

    fn fail(&self, error: String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.errors += 1;
        state.first_error.get_or_insert(error);
    }
}

/// Appends what the socket has to `buf`; 0 at end of stream.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let have = buf.len();
    buf.resize(have + READ_CHUNK, 0);
    let n = stream.read(&mut buf[have..]);
    buf.truncate(have + *n.as_ref().unwrap_or(&0));
    n
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
