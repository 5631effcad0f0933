//! A private `redis-server` on a free loopback port (never the shared 6379), without
//! persistence, plain or TLS with a throw-away certificate; stoppable, restartable, killed
//! when dropped.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// How long a fresh server gets to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` child process owned by the test or benchmark run.
pub struct RedisServer {
    /// The port it listens on (TLS only, for [`RedisServer::start_tls`]).
    pub port: u16,
    /// Extra `redis-server` arguments (kept for `restart`).
    args: Vec<String>,
    /// The throw-away certificate of a TLS server; `None` for a plain one.
    tls: Option<tempfile::TempDir>,
    /// Its working directory (`--dir`): where it writes the RDB file a replica's full sync
    /// needs even without `--save`, so nothing lands in the caller's directory.
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a fresh server on a free port and waits until it answers PING.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start_with`].
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments (e.g. `--requirepass`).
    ///
    /// # Panics
    ///
    /// When it cannot start: see [`RedisServer::try_start_with`].
    pub fn start_with(args: &[&str]) -> Self {
        Self::try_start_with(args).unwrap_or_else(|err| panic!("{err}"))
    }

    /// Starts a server with extra arguments and waits until it answers PING.
    ///
    /// # Errors
    ///
    /// When `redis-server` is not installed, exits, or does not answer in time.
    pub fn try_start_with(args: &[&str]) -> io::Result<Self> {
        let mut server = RedisServer {
            port: free_port(),
            args: args.iter().map(|a| a.to_string()).collect(),
            tls: None,
            dir: tempfile::tempdir()?,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a server that speaks only TLS, with a self-signed certificate made by
    /// `openssl`, and client certificates not required.
    ///
    /// # Panics
    ///
    /// When `openssl` or `redis-server` is missing or fails.
    pub fn start_tls() -> Self {
        let certs = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
        make_certificate(&cert, &key);
        let mut args = vec!["--tls-auth-clients".to_owned(), "no".to_owned()];
        for (flag, file) in [
            ("--tls-cert-file", &cert),
            ("--tls-key-file", &key),
            ("--tls-ca-cert-file", &cert),
        ] {
            args.extend([flag.to_owned(), file.to_string_lossy().into_owned()]);
        }
        let mut server = RedisServer {
            port: free_port(),
            args,
            tls: Some(certs),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        server.spawn().unwrap_or_else(|err| panic!("{err}"));
        server
    }

    /// `redis://127.0.0.1:<port>`, or for a TLS server `rediss://127.0.0.1:<port>/#insecure`
    /// (the certificate is self-signed: `#insecure` skips verification, the redis crate's
    /// syntax).
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}", self.port),
            Some(_) => format!("rediss://127.0.0.1:{}/#insecure", self.port),
        }
    }

    /// The process id of the running server.
    ///
    /// # Panics
    ///
    /// When it is stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn spawn(&mut self) -> io::Result<()> {
        let port = self.port.to_string();
        let listen: &[&str] = match self.tls {
            None => &["--port", &port],
            Some(_) => &["--port", "0", "--tls-port", &port],
        };
        let child = Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| {
                io::Error::other(format!(
                    "starting redis-server: {err} (is it installed? .ci/run installs it)"
                ))
            })?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        // A TLS port cannot be PINGed in plain text: listening is enough.
        let (port, tls) = (self.port, self.tls.is_some());
        let ready = || match tls {
            false => answers_ping(port),
            true => TcpStream::connect(("127.0.0.1", port)).is_ok(),
        };
        while !ready() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(io::Error::other(format!(
                    "redis-server exited during start-up ({status})"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "redis-server did not answer within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        crate::kill_and_reap(&mut self.child);
    }

    /// Starts it again on the same port.
    ///
    /// # Panics
    ///
    /// When it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|err| panic!("{err}"));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes a self-signed certificate for `localhost`, valid one day, and its key.
fn make_certificate(cert: &Path, key: &Path) {
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl is installed");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

/// True when a server on `port` answers `PING` with `+PONG`.
fn answers_ping(port: u16) -> bool {
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
