//! Open-loop, paced load: one message at a time per connection, at a fixed total rate over
//! a few blocking connections, one thread each, staggered so the messages are spread evenly
//! over time rather than sent in bursts. Every message carries a unique sequence number;
//! the moment its acknowledgement is read is stamped, so consumers' arrivals can be matched
//! against it.
//!
//! Blocking threads rather than tokio, because tokio's timer has a 1 ms granularity and
//! 10,000 messages per second need 100 µs spacing; `thread::sleep` wakes within tens of µs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};

use crate::http;
use crate::workload;

/// Read buffer of one HTTP connection; a 201's answer is about 150 bytes.
const READ_CHUNK: usize = 4096;
/// A send this much later than scheduled counts as late (the pacing slipped).
const LATE: Duration = Duration::from_millis(1);
/// A thread gives up after this many failed sends.
const MAX_ERRORS: u64 = 100;

/// Sends one message and waits for its acknowledgement.
pub trait Emit {
    /// Sends message `seq` and returns once it is acknowledged.
    ///
    /// # Errors
    ///
    /// When sending fails or the acknowledgement is not the expected one.
    fn emit(&mut self, seq: u64) -> anyhow::Result<()>;
}

/// The rate and how long it lasts.
#[derive(Clone, Copy)]
pub struct Pace {
    /// Messages per second, all connections together.
    pub rate: f64,
    /// Sends before the window, not recorded.
    pub warmup: Duration,
    /// Sends recorded.
    pub measure: Duration,
}

/// One acknowledged message.
#[derive(Clone, Copy)]
pub struct Ack {
    /// Its sequence number.
    pub seq: u64,
    /// When it was sent.
    pub sent: Instant,
    /// When its acknowledgement was read.
    pub acked: Instant,
}

/// What a paced run produced.
#[derive(Default)]
pub struct Acks {
    /// Messages acknowledged whose send was scheduled inside the window.
    pub acks: Vec<Ack>,
    /// Messages sent in all, warm-up included.
    pub sent: u64,
    /// Sends more than [`LATE`] behind schedule.
    pub late: u64,
    /// Failed sends.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl Acks {
    fn merge(&mut self, other: Acks) {
        self.acks.extend(other.acks);
        self.sent += other.sent;
        self.late += other.late;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs `pace` over `emitters` (one thread each; the i-th sends sequence numbers
/// `i, i + n, i + 2n, …`) and returns once all are done.
pub fn run<E: Emit + Send + 'static>(emitters: Vec<E>, pace: Pace) -> Acks {
    let n = emitters.len();
    let start = Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = emitters
        .into_iter()
        .enumerate()
        .map(|(i, emitter)| {
            let lane = Lane {
                first_seq: i as u64,
                stride: n as u64,
                first_due: start + Duration::from_secs_f64(i as f64 / pace.rate),
                interval: Duration::from_secs_f64(n as f64 / pace.rate),
                window_start: start + pace.warmup,
                end: start + pace.warmup + pace.measure,
            };
            std::thread::spawn(move || lane.drive(emitter))
        })
        .collect();
    let mut all = Acks::default();
    for thread in threads {
        all.merge(thread.join().expect("a pacer thread panicked"));
    }
    all
}

/// One connection's schedule.
struct Lane {
    first_seq: u64,
    stride: u64,
    first_due: Instant,
    interval: Duration,
    window_start: Instant,
    end: Instant,
}

impl Lane {
    fn drive(self, mut emitter: impl Emit) -> Acks {
        let mut acks = Acks::default();
        for i in 0u32.. {
            let due = self.first_due + self.interval * i;
            if due >= self.end || acks.errors >= MAX_ERRORS {
                break;
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let seq = self.first_seq + self.stride * u64::from(i);
            let sent = Instant::now();
            acks.sent += 1;
            if sent - due > LATE {
                acks.late += 1;
            }
            match emitter.emit(seq) {
                Ok(()) if due >= self.window_start => acks.acks.push(Ack {
                    seq,
                    sent,
                    acked: Instant::now(),
                }),
                Ok(()) => {}
                Err(err) => {
                    acks.errors += 1;
                    acks.first_error.get_or_insert(format!("{err:#}"));
                }
            }
        }
        acks
    }
}

/// Single-entry `POST /logs` over one keep-alive connection; the acknowledgement is the 201.
pub struct HttpEmitter {
    stream: TcpStream,
    addr: SocketAddr,
    service: String,
    /// Bytes of the current answer; reused so a send does not allocate for reading.
    buf: Vec<u8>,
}

impl HttpEmitter {
    /// Connects to the collector at `addr`; entries go to `service`.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub fn connect(addr: SocketAddr, service: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).context("connecting to the collector")?;
        stream.set_nodelay(true)?;
        Ok(HttpEmitter {
            stream,
            addr,
            service: service.to_owned(),
            buf: Vec::with_capacity(READ_CHUNK),
        })
    }
}

impl Emit for HttpEmitter {
    fn emit(&mut self, seq: u64) -> anyhow::Result<()> {
        let body = workload::single_entry(&self.service, seq);
        let request = http::post(self.addr, "/logs", "application/json", &body);
        self.stream.write_all(&request)?;
        self.buf.clear();
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some(head) = http::parse_head(&self.buf)? {
                if self.buf.len() >= head.len + head.body_len {
                    ensure!(head.status == 201, "POST /logs answered {}", head.status);
                    return Ok(());
                }
            }
            match self.stream.read(&mut chunk)? {
                0 => bail!("the collector closed the connection"),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// `PUBLISH` straight to Redis, for the baseline: what Redis alone adds. The
/// acknowledgement is Redis's reply.
pub struct PublishEmitter {
    connection: redis::Connection,
    channel: String,
    service: String,
}

impl PublishEmitter {
    /// Connects to the Redis at `url`; messages go to `channel`, shaped like `service`'s
    /// entries so they are the same size.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub fn connect(url: &str, channel: &str, service: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        Ok(PublishEmitter {
            connection: client.get_connection().context("connecting to Redis")?,
            channel: channel.to_owned(),
            service: service.to_owned(),
        })
    }
}

impl Emit for PublishEmitter {
    fn emit(&mut self, seq: u64) -> anyhow::Result<()> {
        let payload = workload::single_entry(&self.service, seq);
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query::<i64>(&mut self.connection)?;
        Ok(())
    }
}
