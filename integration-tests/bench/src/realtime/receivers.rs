//! The live consumers: a Redis subscriber and an SSE client. Each runs on its own thread,
//! blocked in a read, so an arrival is stamped as soon as its bytes are in, whatever the
//! load generator is doing. Messages are entries' JSON; each carries the `seq` its sender
//! gave it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};

/// How often a blocked reader checks whether it should stop.
const POLL: Duration = Duration::from_millis(100);
/// How long subscribing may take.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Response headers parsed at most.
const MAX_HEADERS: usize = 32;
/// Bytes read at once from the SSE stream.
const READ_CHUNK: usize = 64 * 1024;

/// What a receiver keeps of each message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each message's `seq` and arrival time (for latency).
    Record,
    /// Only how many arrived (for throughput, where millions arrive).
    Count,
}

/// What a receiver saw.
pub struct Arrivals {
    /// `(seq, arrival)` per message, in [`Mode::Record`].
    pub stamps: Vec<(u64, Instant)>,
    /// Messages received.
    pub messages: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
    mode: Mode,
}

impl Arrivals {
    fn new(mode: Mode) -> Self {
        Arrivals {
            stamps: Vec::new(),
            messages: 0,
            error: None,
            mode,
        }
    }

    fn note(&mut self, json: &[u8], at: Instant) {
        self.messages += 1;
        if self.mode == Mode::Record {
            if let Some(seq) = seq_of(json) {
                self.stamps.push((seq, at));
            }
        }
    }
}

/// The `seq` field of an entry's JSON.
fn seq_of(json: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(json)
        .ok()?
        .get("seq")?
        .as_u64()
}

/// A receiving thread.
pub struct Receiver {
    stop: Arc<AtomicBool>,
    /// Messages so far, readable while it runs (to wait for stragglers by polling).
    received: Arc<AtomicU64>,
    thread: JoinHandle<Arrivals>,
}

impl Receiver {
    /// Messages received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Stops it and returns what it saw.
    pub fn finish(self) -> Arrivals {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("a receiver thread panicked")
    }
}

/// Subscribes to `channel` on the Redis at `url`; returns once the subscription is live.
///
/// # Errors
///
/// When connecting or subscribing fails.
pub fn subscribe(url: &str, channel: &str, mode: Mode) -> anyhow::Result<Receiver> {
    let client = redis::Client::open(url).context("parsing the Redis URL")?;
    let mut connection = client.get_connection().context("connecting to Redis")?;
    let (stop, received) = (Arc::<AtomicBool>::default(), Arc::<AtomicU64>::default());
    let (ready_tx, ready) = mpsc::channel();
    let channel = channel.to_owned();
    let (stop_flag, count) = (stop.clone(), received.clone());
    let thread = std::thread::spawn(move || {
        let mut pubsub = connection.as_pubsub();
        let subscribed = pubsub
            .subscribe(&channel)
            .and_then(|()| pubsub.set_read_timeout(Some(POLL)));
        let _ = ready_tx.send(subscribed.map_err(|err| err.to_string()));
        let mut arrivals = Arrivals::new(mode);
        while !stop_flag.load(Ordering::Relaxed) {
            match pubsub.get_message() {
                Ok(message) => {
                    arrivals.note(message.get_payload_bytes(), Instant::now());
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) if err.is_timeout() => {}
                Err(err) => {
                    arrivals.error = Some(format!("Redis subscription ended: {err}"));
                    break;
                }
            }
        }
        arrivals
    });
    match ready.recv_timeout(READY_TIMEOUT) {
        Ok(Ok(())) => Ok(Receiver {
            stop,
            received,
            thread,
        }),
        Ok(Err(err)) => bail!("subscribing to Redis: {err}"),
        Err(_) => bail!("subscribing to Redis took over {READY_TIMEOUT:?}"),
    }
}

/// Opens the SSE stream `path` on the collector at `addr`; returns once its headers arrived,
/// when the collector is following its live feed for this client.
///
/// # Errors
///
/// When connecting fails or the answer is not a 200.
pub fn sse(addr: SocketAddr, path: &str, mode: Mode) -> anyhow::Result<Receiver> {
    let mut stream = TcpStream::connect(addr).context("connecting to the collector")?;
    stream.set_nodelay(true)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let (chunked, rest) = read_head(&mut stream)?;
    stream.set_read_timeout(Some(POLL))?;
    let (stop, received) = (Arc::<AtomicBool>::default(), Arc::<AtomicU64>::default());
    let reader = SseReader {
        stream,
        chunked,
        raw: rest,
        text: Vec::new(),
        stop: stop.clone(),
        received: received.clone(),
    };
    Ok(Receiver {
        stop,
        received,
        thread: std::thread::spawn(move || reader.follow(mode)),
    })
}

/// Reads the response head; returns whether the body is chunked, and the body bytes read
/// with it.
fn read_head(stream: &mut TcpStream) -> anyhow::Result<(bool, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).context("reading the SSE answer")?;
        ensure!(n > 0, "the collector closed the SSE connection");
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(len) = response.parse(&buf)? {
            ensure!(
                response.code == Some(200),
                "the SSE stream answered {:?}",
                response.code
            );
            let chunked = response.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("transfer-encoding")
                    && String::from_utf8_lossy(h.value).contains("chunked")
            });
            return Ok((chunked, buf.split_off(len)));
        }
    }
}

/// Follows one SSE stream.
struct SseReader {
    stream: TcpStream,
    chunked: bool,
    /// Bytes as read, not yet de-chunked.
    raw: Vec<u8>,
    /// Event-stream text not yet split into lines.
    text: Vec<u8>,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
}

impl SseReader {
    fn follow(mut self, mode: Mode) -> Arrivals {
        let mut arrivals = Arrivals::new(mode);
        let mut chunk = vec![0u8; READ_CHUNK];
        // Body bytes that came with the head.
        let mut outcome = self.take_events(&mut arrivals, Instant::now());
        while outcome.is_ok() && !self.stop.load(Ordering::Relaxed) {
            outcome = match self.stream.read(&mut chunk) {
                Ok(0) => Err(io::Error::other("the collector closed the SSE stream")),
                Ok(n) => {
                    let at = Instant::now();
                    self.raw.extend_from_slice(&chunk[..n]);
                    self.take_events(&mut arrivals, at)
                }
                Err(err) if is_timeout(&err) => Ok(()),
                Err(err) => Err(err),
            };
        }
        if let Err(err) = outcome {
            arrivals.error = Some(format!("SSE stream: {err}"));
        }
        arrivals
    }

    /// Notes every complete `data:` line read so far as arrived `at`.
    fn take_events(&mut self, arrivals: &mut Arrivals, at: Instant) -> io::Result<()> {
        if self.chunked {
            dechunk(&mut self.raw, &mut self.text)?;
        } else {
            self.text.append(&mut self.raw);
        }
        let mut consumed = 0;
        while let Some(end) = self.text[consumed..].iter().position(|b| *b == b'\n') {
            let line = &self.text[consumed..consumed + end];
            if let Some(data) = line.strip_prefix(b"data:") {
                arrivals.note(data.trim_ascii(), at);
                self.received.fetch_add(1, Ordering::Relaxed);
            }
            consumed += end + 1;
        }
        self.text.drain(..consumed);
        Ok(())
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Moves the payload of every complete chunk in `raw` to `out` (HTTP/1.1 chunked coding).
fn dechunk(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> io::Result<()> {
    let mut pos = 0;
    while let Some(eol) = raw[pos..].windows(2).position(|w| w == b"\r\n") {
        let size_field = String::from_utf8_lossy(&raw[pos..pos + eol]);
        let size_hex = size_field.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {size_field:?}")))?;
        if size == 0 {
            return Err(io::Error::other("the collector ended the SSE stream"));
        }
        let payload = pos + eol + 2;
        if raw.len() < payload + size + 2 {
            break;
        }
        out.extend_from_slice(&raw[payload..payload + size]);
        pos = payload + size + 2;
    }
    raw.drain(..pos);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_complete_chunks_only() {
        let mut raw = b"6\r\ndata: \r\n4\r\n{}\n\n\r\n5\r\nda".to_vec();
        let mut out = Vec::new();
        dechunk(&mut raw, &mut out).expect("valid chunks");
        assert_eq!(out, b"data: {}\n\n");
        assert_eq!(raw, b"5\r\nda");
    }

    #[test]
    fn reads_the_seq_of_an_entry() {
        assert_eq!(seq_of(br#"{"level":"INFO","seq":42}"#), Some(42));
        assert_eq!(seq_of(b"not json"), None);
    }
}
