//! What Estuary's end-to-end tests (`integration-tests/tests`) and its benchmarks
//! (`integration-tests/bench`) share, so that each exists once:
//!
//! - [`collector`]: the real `estuary` binary started on a free port with its own `LOG_DIR`,
//!   healthy before it is handed over, killed when dropped;
//! - [`redis_server`]: a private `redis-server` on a free port, plain or TLS;
//! - [`fake_sink`]: a fake Loki or Elasticsearch that checks the documented wire format,
//!   counting fast (benchmarks) or keeping every request and answering as told (tests);
//! - [`chromedriver`]: Debian's `chromedriver` on a free port, for the console's browser tests;
//! - [`live`]: a Redis subscriber and an SSE reader that tests can wait on with a timeout;
//! - polling ([`wait_until`]) instead of sleeping, free ports, and small request helpers.
//!
//! ```no_run
//! use estuary_test_support::Collector;
//!
//! let collector = Collector::start();
//! let (status, _) = collector.post_json(&serde_json::json!({"service": "api", "message": "hi"}));
//! assert_eq!(status, 201);
//! assert_eq!(collector.lines("api").len(), 1);
//! ```

pub mod chromedriver;
pub mod clickhouse_server;
pub mod collector;
pub mod fake_sink;
pub mod live;
pub mod redis_server;

use std::net::TcpListener;
use std::time::{Duration, Instant};

pub use chromedriver::ChromeDriver;
pub use clickhouse_server::ClickHouseServer;
pub use collector::{entry_numbers, estuary_bin, try_estuary_bin, Collector};

/// SIGKILLs a launched server, if it runs, and reaps it: what every launcher's `stop` and
/// `Drop` do.
pub(crate) fn kill_and_reap(child: &mut Option<std::process::Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A loopback port nobody listens on right now.
///
/// # Panics
///
/// When no port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `condition` every 10 ms until it holds.
///
/// # Panics
///
/// With `what` when it still does not hold after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A blocking HTTP client with a sane timeout.
///
/// # Panics
///
/// When the client cannot be built (no TLS backend).
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Gzips bytes (for `Content-Encoding: gzip` requests).
///
/// # Panics
///
/// Never in practice: it writes to memory.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}
