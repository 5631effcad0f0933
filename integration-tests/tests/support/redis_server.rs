//! A private `redis-server` on a free port (never the shared 6379), stoppable and restartable.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_until};

/// A `redis-server` child process owned by the test run.
pub struct RedisServer {
    /// The port it listens on.
    pub port: u16,
    /// Extra `redis-server` arguments (kept for `restart`).
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a fresh server on a free port and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments (e.g. `--requirepass`).
    pub fn start_with(args: &[&str]) -> Self {
        let mut server = RedisServer {
            port: free_port(),
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server is not installed (.ci/run installs it)");
        self.child = Some(child);
        let port = self.port;
        wait_until(
            Duration::from_secs(10),
            "redis-server to answer PING",
            || ping(port),
        );
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when a server on `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    // A password-protected server answers -NOAUTH: it is up all the same.
    BufReader::new(stream).read_line(&mut line).is_ok()
        && (line.starts_with("+PONG") || line.starts_with("-NOAUTH"))
}
