//! One connection from a forwarder: reading requests (a head with `Content-Length`, then the
//! body), answering each as the fake's behaviour says, and keeping the counts.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::wire::{bulk_answer, check_bulk, check_loki, count_bulk, count_loki};
use super::{decode, lock, Behaviour, Kind, Mode, Request, Responder, Shared};

/// Headers parsed at most; reqwest sends about six.
const MAX_HEADERS: usize = 32;
/// Bytes read at a time while the request head is incomplete.
const READ_CHUNK: usize = 64 * 1024;

/// Serves every connection on its own thread until the fake is dropped.
pub(super) fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        // Threads end when the collector closes its connection (it is stopped first).
        let _ = std::thread::Builder::new()
            .name("fake-sink-conn".into())
            .spawn(move || {
                if let Err(err) = serve(&shared, stream) {
                    shared.fail(err);
                }
            });
    }
}

/// Reads requests off `stream` and has each handled, until the peer closes it.
fn serve(shared: &Shared, mut stream: TcpStream) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut handler = Handler::new(shared);
    let mut buf = Vec::with_capacity(READ_CHUNK);
    while !shared.stop.load(Relaxed) {
        let head = loop {
            if let Some(head) = parse_head(&buf)? {
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
        let body_start = head.len;
        handler.handle(&mut stream, head, &buf[body_start..end])?;
        buf.drain(..end);
    }
    Ok(())
}

/// One request's head.
struct Head {
    /// Bytes of the request line and headers.
    len: usize,
    body_len: usize,
    method: String,
    path: String,
    /// Header names in lower case.
    headers: HashMap<String, String>,
}

impl Head {
    fn gzip(&self) -> bool {
        self.headers.get("content-encoding").map(String::as_str) == Some("gzip")
    }
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request
        .parse(buf)
        .map_err(|e| format!("bad request head: {e}"))?
    {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(len) => len,
    };
    let headers: HashMap<String, String> = request
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).trim().to_owned();
            (h.name.to_ascii_lowercase(), value)
        })
        .collect();
    if headers.contains_key("transfer-encoding") {
        return Err("chunked request bodies are not supported by the fake".into());
    }
    let body_len = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or("request without a Content-Length")?;
    Ok(Some(Head {
        len,
        body_len,
        method: request.method.unwrap_or_default().to_owned(),
        path: request.path.unwrap_or_default().to_owned(),
        headers,
    }))
}

/// Appends what the socket has to `buf`; 0 at end of stream.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let have = buf.len();
    buf.resize(have + READ_CHUNK, 0);
    let n = stream.read(&mut buf[have..]);
    buf.truncate(have + *n.as_ref().unwrap_or(&0));
    n
}

/// What a connection does with each request, by the fake's behaviour.
enum Handler<'a> {
    AtOnce(AtOnce<'a>),
    Record(&'a Shared, &'a Mutex<Responder>),
}

impl<'a> Handler<'a> {
    fn new(shared: &'a Shared) -> Self {
        match &shared.behaviour {
            Behaviour::Answer { kind, mode } => Handler::AtOnce(AtOnce {
                shared,
                kind: *kind,
                mode: *mode,
                decoded: Vec::new(),
                answer: None,
            }),
            Behaviour::Record(responder) => Handler::Record(shared, responder),
        }
    }

    fn handle(&mut self, stream: &mut TcpStream, head: Head, body: &[u8]) -> Result<(), String> {
        match self {
            Handler::AtOnce(at_once) => at_once.handle(stream, &head, body),
            Handler::Record(shared, responder) => record(shared, responder, stream, head, body),
        }
    }
}

/// Keeps the request, then answers what the responder says.
fn record(
    shared: &Shared,
    responder: &Mutex<Responder>,
    stream: &mut TcpStream,
    head: Head,
    body: &[u8],
) -> Result<(), String> {
    let mut request = Request {
        method: head.method,
        path: head.path,
        headers: head.headers,
        body: body.to_vec(),
        status: 0,
    };
    // A responder that panicked (a failed assertion) poisons the lock: every later request
    // fails too, and so does `FakeSink::respond`, as the test should.
    let (status, answer) = (responder.lock().expect("the responder panicked"))(&request);
    request.status = status;
    lock(&shared.requests).push(request);
    shared.count(body.len(), None, None);
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        answer.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(answer.as_bytes()))
        .map_err(|e| format!("answering: {e}"))
}

/// Answers at once as the destination does, then counts; a connection's buffers, reused
/// from one request to the next.
struct AtOnce<'a> {
    shared: &'a Shared,
    kind: Kind,
    mode: Mode,
    /// The current body, gunzipped.
    decoded: Vec<u8>,
    /// The last answer written and the entry count it was for (a `_bulk` answer with items
    /// depends on it).
    answer: Option<(u64, Vec<u8>)>,
}

impl AtOnce<'_> {
    fn handle(&mut self, stream: &mut TcpStream, head: &Head, body: &[u8]) -> Result<(), String> {
        if head.method != "POST" || head.path != self.kind.path() {
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
            self.reply(stream, 0)?;
        }
        let plain = if decoding {
            Some(decode(head.gzip(), body, &mut self.decoded)?)
        } else {
            None
        };
        let entries = match plain {
            Some(plain) if loki => Some(count_loki(plain)),
            Some(plain) => Some(count_bulk(plain)?),
            None => None,
        };
        if !loki {
            let answer = answer(self.kind, entries.unwrap_or(0), &mut self.answer);
            stream
                .write_all(answer)
                .map_err(|e| format!("answering: {e}"))?;
        }
        let entries = entries.filter(|_| counting);
        let checked = match (entries, plain) {
            (Some(n), Some(plain)) if self.shared.first_check_due() => {
                match self.kind {
                    Kind::Loki => check_loki(plain, n),
                    Kind::Elasticsearch { .. } => check_bulk(plain, n),
                }
                .map_err(|e| format!("the first body does not match the wire format: {e}"))?;
                true
            }
            _ => false,
        };
        let decoded_len = plain.map(<[u8]>::len);
        self.shared
            .count(body.len(), decoded_len, entries.map(|n| (n, checked)));
        Ok(())
    }

    fn reply(&mut self, stream: &mut TcpStream, entries: u64) -> Result<(), String> {
        stream
            .write_all(answer(self.kind, entries, &mut self.answer))
            .map_err(|e| format!("answering: {e}"))
    }
}

/// The destination's success answer for a body of `entries`, kept in `cache` while the
/// count stays the same.
fn answer(kind: Kind, entries: u64, cache: &mut Option<(u64, Vec<u8>)>) -> &[u8] {
    if cache.as_ref().is_none_or(|(n, _)| *n != entries) {
        let answer = match kind {
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

impl Shared {
    /// Whether no body has passed the full check yet, and nothing failed before.
    fn first_check_due(&self) -> bool {
        let counts = lock(&self.counts);
        !counts.checked && counts.errors == 0
    }

    /// Counts one answered request of `body_len` bytes, `decoded_len` once decoded, and
    /// `(entries, checked)` when its entries were counted.
    fn count(&self, body_len: usize, decoded_len: Option<usize>, entries: Option<(u64, bool)>) {
        let now = Instant::now();
        let mut counts = lock(&self.counts);
        counts.requests += 1;
        counts.body_bytes += body_len as u64;
        counts.decoded_bytes += decoded_len.unwrap_or(0) as u64;
        counts.first_request.get_or_insert(now);
        if let Some((n, checked)) = entries {
            counts.checked |= checked;
            counts.entries += n;
            counts.last_counted = Some(now);
            self.entries.store(counts.entries, Relaxed);
        }
    }

    /// Notes a malformed request or an I/O error.
    fn fail(&self, error: String) {
        let mut counts = lock(&self.counts);
        counts.errors += 1;
        counts.first_error.get_or_insert(error);
    }
}
