//! A private `clickhouse-server` on free loopback ports (never the shared 8123/9000), with
//! its configuration and data in a temporary directory; stoppable, restartable, killed and
//! deleted when dropped.
//!
//! The configuration is Debian's own (`/etc/clickhouse-server/{config,users}.xml`) with the
//! ports, the listen address and every data and log path rewritten into the directory.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// How long a fresh server gets to answer `SELECT 1`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Where Debian's package keeps the configuration copied for each server.
const SYSTEM_CONFIG: &str = "/etc/clickhouse-server";

/// A `clickhouse-server` child process owned by the test or benchmark run.
pub struct ClickHouseServer {
    /// The HTTP interface's port.
    pub http_port: u16,
    /// The native protocol's port (for `clickhouse-client`).
    pub tcp_port: u16,
    /// Configuration, data and logs; deleted on drop.
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl ClickHouseServer {
    /// Starts a server and waits until it answers.
    ///
    /// # Panics
    ///
    /// When it cannot start: see [`ClickHouseServer::try_start`].
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|err| panic!("{err}"))
    }

    /// Starts a server on free ports with a fresh directory and waits until it answers.
    ///
    /// # Errors
    ///
    /// When `clickhouse-server` is not installed, its configuration cannot be copied, or
    /// it exits or does not answer in time.
    pub fn try_start() -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("estuary-ch-").tempdir()?;
        let mut server = ClickHouseServer {
            http_port: free_port(),
            tcp_port: free_port(),
            dir,
            child: None,
        };
        server.configure()?;
        server.spawn()?;
        Ok(server)
    }

    /// One server for the whole test process, started on first use. Statics are never
    /// dropped, so a watchdog process kills it and deletes its directory once this
    /// process has exited. Tests share it through their own databases
    /// ([`ClickHouseServer::database`]).
    ///
    /// # Panics
    ///
    /// When it cannot start.
    pub fn shared() -> &'static ClickHouseServer {
        static SHARED: std::sync::OnceLock<ClickHouseServer> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let server = Self::start();
            server.watch_owner();
            server
        })
    }

    /// Starts `sh` polling this process: when it is gone, the server is killed and its
    /// directory removed.
    fn watch_owner(&self) {
        let Some(child) = &self.child else { return };
        let script = format!(
            "while kill -0 {owner} 2>/dev/null; do sleep 1; done; kill -9 {server}; sleep 1; rm -rf '{dir}'",
            owner = std::process::id(),
            server = child.id(),
            dir = self.dir.path().display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// `http://127.0.0.1:<http_port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The server's process id.
    ///
    /// # Panics
    ///
    /// Never once started: a server is only handed out running.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running server").id()
    }

    /// The temporary directory (configuration, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn configure(&self) -> io::Result<()> {
        let root = self.dir.path();
        let data = format!("{}/", root.join("data").display());
        let logs = format!("{}/", root.join("log").display());
        let interserver = free_port();
        let config = std::fs::read_to_string(Path::new(SYSTEM_CONFIG).join("config.xml"))
            .map_err(|err| {
                io::Error::other(format!(
                    "reading {SYSTEM_CONFIG}/config.xml: {err} (is clickhouse-server installed? .ci/run installs it)"
                ))
            })?;
        let config = config
            .replace(
                "<http_port>8123</http_port>",
                &format!("<http_port>{}</http_port>", self.http_port),
            )
            .replace(
                "<tcp_port>9000</tcp_port>",
                &format!("<tcp_port>{}</tcp_port>", self.tcp_port),
            )
            .replace(
                "<interserver_http_port>9009</interserver_http_port>",
                &format!("<interserver_http_port>{interserver}</interserver_http_port>"),
            )
            .replace("<listen_host>::1</listen_host>", "")
            .replace("/var/lib/clickhouse/", &data)
            .replace("/var/log/clickhouse-server/", &logs)
            .replace(
                "/etc/clickhouse-server/users.xml",
                &root.join("users.xml").display().to_string(),
            );
        std::fs::create_dir_all(root.join("data"))?;
        std::fs::create_dir_all(root.join("log"))?;
        std::fs::write(root.join("config.xml"), config)?;
        std::fs::copy(
            Path::new(SYSTEM_CONFIG).join("users.xml"),
            root.join("users.xml"),
        )?;
        Ok(())
    }

    fn spawn(&mut self) -> io::Result<()> {
        let root: PathBuf = self.dir.path().to_owned();
        let child = Command::new("clickhouse-server")
            .arg(format!(
                "--config-file={}",
                root.join("config.xml").display()
            ))
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| {
                io::Error::other(format!(
                    "starting clickhouse-server: {err} (is it installed? .ci/run installs it)"
                ))
            })?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while self.query("SELECT 1").ok().as_deref() != Some("1\n") {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(io::Error::other(format!(
                    "clickhouse-server exited during start-up ({status}); see {}",
                    self.dir.path().join("log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "clickhouse-server did not answer within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Runs `sql` over the HTTP interface as the default user and returns the answer's
    /// text (`TabSeparated` unless the query says otherwise).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error (its text).
    pub fn query(&self, sql: &str) -> Result<String, String> {
        let response = crate::http()
            .post(self.url())
            .body(sql.to_owned())
            .send()
            .map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        let text = response.text().map_err(|e| e.to_string())?;
        if ok {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// Runs `sql`, panicking with the server's message when it fails.
    ///
    /// # Panics
    ///
    /// When the query fails.
    pub fn exec(&self, sql: &str) -> String {
        self.query(sql)
            .unwrap_or_else(|err| panic!("ClickHouse refused {sql:?}: {err}"))
    }

    /// A new database with a unique name, for one test.
    ///
    /// # Panics
    ///
    /// When it cannot be created.
    pub fn database(&self, prefix: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        self.exec(&format!("CREATE DATABASE {name}"));
        name
    }

    /// Kills the server (SIGKILL) and reaps it; its data stays for a restart.
    pub fn stop(&mut self) {
        crate::kill_and_reap(&mut self.child);
    }

    /// Starts it again on the same ports with the same data.
    ///
    /// # Panics
    ///
    /// When it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|err| panic!("{err}"));
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.stop();
    }
}
