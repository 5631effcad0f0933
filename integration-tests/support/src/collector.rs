//! The collector under test: the real `estuary` binary as a child process on a free port
//! with its own `LOG_DIR`, answering `/health` before it is handed over, killed when dropped
//! (its stderr is printed then if the thread is panicking).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{free_port, http, signal};

/// How long a freshly started collector gets to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `/health` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The `estuary` binary: `$ESTUARY_BIN`, or the one cargo built in this executable's profile
/// directory (`target/<profile>/`, whether this is a test in `deps/` or a bench binary).
///
/// # Panics
///
/// When it is missing, with the command that builds it.
pub fn estuary_bin() -> PathBuf {
    try_estuary_bin().unwrap_or_else(|err| panic!("{err}"))
}

/// Like [`estuary_bin`], for callers that report errors rather than panic.
///
/// # Errors
///
/// When it is missing, with the command that builds it.
pub fn try_estuary_bin() -> io::Result<PathBuf> {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    if let Some(found) = FOUND.get() {
        return Ok(found.clone());
    }
    let bin = locate_estuary_bin()?;
    Ok(FOUND.get_or_init(|| bin).clone())
}

fn locate_estuary_bin() -> io::Result<PathBuf> {
    if let Ok(path) = std::env::var("ESTUARY_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().unwrap_or(Path::new("."));
    // Test executables live in `target/<profile>/deps/`, binaries one level up.
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let bin = dir.join(format!("estuary{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        return Err(io::Error::other(format!(
            "{} is missing: build it with `cargo build -p estuary-collector` (`--release` for \
             the benchmarks; `cargo test --workspace` builds it too), or set ESTUARY_BIN",
            bin.display()
        )));
    }
    Ok(bin)
}

/// A running `estuary serve` with its own `LOG_DIR` and port; killed when dropped.
pub struct Collector {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// Its `LOG_DIR`.
    pub dir: PathBuf,
    /// Extra arguments it was started with (kept for `restart`).
    args: Vec<String>,
    /// Extra environment it was started with (kept for `restart`).
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// The open-file limit (soft and hard) it runs under, when the test sets one.
    open_file_limit: Option<u64>,
    /// Keeps the temporary `LOG_DIR` alive for the collector's lifetime.
    _tmp: Option<tempfile::TempDir>,
    /// Holds the collector's stderr (outside `LOG_DIR`, so it never looks like a log).
    stderr_dir: tempfile::TempDir,
}

impl Collector {
    /// Starts a collector with a fresh temporary `LOG_DIR`.
    ///
    /// # Panics
    ///
    /// As [`Collector::start_in`].
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    /// Starts a collector with extra CLI arguments and environment variables, on a fresh
    /// temporary `LOG_DIR`.
    ///
    /// # Panics
    ///
    /// As [`Collector::start_in`].
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut collector = Self::start_in(&dir, free_port(), args, env);
        collector._tmp = Some(tmp);
        collector
    }

    /// Starts a collector on a given `LOG_DIR` and port (which the caller keeps alive).
    ///
    /// # Panics
    ///
    /// When it cannot start or does not become healthy: see [`Collector::try_start_in`].
    pub fn start_in(dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start_in(dir, port, args, env).unwrap_or_else(|err| panic!("{err}"))
    }

    /// Starts `estuary serve` on `port` storing under `dir`, with extra `args` and `env`
    /// (`REDIS_URL` is removed unless `env` sets it, so fan-out stays off), and waits until
    /// `/health` answers.
    ///
    /// # Errors
    ///
    /// When the binary is missing or cannot start, exits during start-up (its stderr is in
    /// the error), or does not answer `/health` in time.
    pub fn try_start_in(
        dir: &Path,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<Self> {
        let mut collector = Self::unstarted(dir, port, args, env)?;
        collector.spawn()?;
        Ok(collector)
    }

    /// A collector on `dir` and `port`, not running yet.
    fn unstarted(dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> io::Result<Self> {
        Ok(Collector {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir: dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            open_file_limit: None,
            _tmp: None,
            stderr_dir: tempfile::tempdir()?,
        })
    }

    /// Starts a collector as [`Collector::start_with`] does, under an open-file limit of
    /// `limit` (soft and hard, like `ulimit -n`), on a fresh temporary `LOG_DIR`.
    ///
    /// # Panics
    ///
    /// As [`Collector::start_in`].
    pub fn start_with_open_file_limit(limit: u64, args: &[&str], env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut collector =
            Self::unstarted(tmp.path(), free_port(), args, env).expect("a temporary directory");
        collector.open_file_limit = Some(limit);
        collector._tmp = Some(tmp);
        collector.spawn().unwrap_or_else(|err| panic!("{err}"));
        collector
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut cmd = Command::new(try_estuary_bin()?);
        cmd.arg("serve")
            .args(&self.args)
            .env_remove("REDIS_URL")
            .env("PORT", self.port.to_string())
            .env("LOG_DIR", &self.dir)
            .env(
                "RUST_LOG",
                std::env::var("ESTUARY_TEST_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.stderr_file()?);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(limit) = self.open_file_limit {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
            #[allow(unsafe_code)]
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        self.child = Some(cmd.spawn()?);
        self.wait_healthy()
    }

    fn wait_healthy(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while !healthy(self.addr()) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(io::Error::other(format!(
                    "estuary exited during start-up ({status}):\n{}",
                    self.stderr()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "estuary did not answer /health within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn stderr_file(&self) -> io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_dir.path().join("stderr"))
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Everything the collector has written to stderr so far (across restarts).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_dir.path().join("stderr")).unwrap_or_default()
    }

    /// The process id of the running collector.
    ///
    /// # Panics
    ///
    /// When it is stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILLs the collector and reaps it.
    pub fn kill(&mut self) {
        crate::kill_and_reap(&mut self.child);
    }

    /// Sends SIGTERM and waits for the exit status.
    ///
    /// # Panics
    ///
    /// When it is stopped, or still runs after 30 s.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "estuary ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the collector again on the same port, `LOG_DIR`, arguments and environment.
    ///
    /// # Panics
    ///
    /// When it does not come back: see [`Collector::try_start_in`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap_or_else(|err| panic!("{err}"));
    }

    /// Starts a stopped collector again (after `kill` or `terminate`).
    ///
    /// # Panics
    ///
    /// When it is still running, or does not come back: see [`Collector::try_start_in`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn().unwrap_or_else(|err| panic!("{err}"));
    }

    /// The path of a service's active log file.
    pub fn log_path(&self, service: &str) -> PathBuf {
        self.dir.join(format!("{service}.log"))
    }

    /// The raw bytes of a service's log file (empty when it does not exist).
    pub fn raw(&self, service: &str) -> Vec<u8> {
        std::fs::read(self.log_path(service)).unwrap_or_default()
    }

    /// Every line of a service's log file, each parsed as JSON (panics on a torn or bad line).
    pub fn lines(&self, service: &str) -> Vec<serde_json::Value> {
        let raw = self.raw(service);
        assert!(
            raw.is_empty() || raw.ends_with(b"\n"),
            "{service}.log ends in a partial line"
        );
        raw.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice(l).unwrap_or_else(|e| {
                    panic!(
                        "bad line in {service}.log: {e}: {}",
                        String::from_utf8_lossy(l)
                    )
                })
            })
            .collect()
    }

    /// The data files in `LOG_DIR`: the active files by name, and rotated segments as
    /// `segments/<service>/<name>` (to prove nothing was written). Folders and the count
    /// index's sidecars (`.idx`), which follow the data, are left out.
    pub fn files(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut stack = vec![(self.dir.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                if entry.path().is_dir() {
                    stack.push((entry.path(), format!("{name}/")));
                } else if !name.ends_with(".idx") {
                    names.push(name);
                }
            }
        }
        names.sort();
        names
    }

    /// `POST /logs` with a JSON body; returns the status and the parsed JSON answer.
    pub fn post_json(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.post_raw("application/json", None, body.to_string().into_bytes())
    }

    /// `POST /logs` with raw bytes, a content type and an optional content encoding.
    pub fn post_raw(
        &self,
        content_type: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let mut req = http()
            .post(format!("{}/logs", self.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(enc) = encoding {
            req = req.header("content-encoding", enc);
        }
        json_answer(req.send().expect("POST /logs"), "POST /logs")
    }

    /// `GET` a path; returns the status and the parsed JSON answer.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = http()
            .get(format!("{}{path}", self.url))
            .send()
            .expect("GET");
        json_answer(resp, path)
    }

    /// Every page of a query (`path` with its query string), following `next_cursor`;
    /// panics on any answer but 200.
    pub fn pages(&self, path: &str) -> Vec<serde_json::Value> {
        let mut pages = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = self.get(&format!("{path}{cursor}"));
            assert_eq!(status, 200, "{path}{cursor}: {page}");
            let next = page["next_cursor"].as_str().map(str::to_owned);
            pages.push(page);
            match next {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return pages,
            }
        }
    }
}

/// The values of `key` in every entry of `pages`, in order.
pub fn entry_numbers(pages: &[serde_json::Value], key: &str) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|page| page["logs"].as_array().expect("logs"))
        .map(|entry| {
            entry[key]
                .as_u64()
                .unwrap_or_else(|| panic!("{key} in {entry}"))
        })
        .collect()
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- estuary stderr ---\n{}", self.stderr());
        }
    }
}

/// The status and the body parsed as JSON (panics when it is not JSON).
fn json_answer(resp: reqwest::blocking::Response, what: &str) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().expect("body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("non-JSON answer ({status}) to {what}: {e}: {text}"));
    (status, json)
}

/// Whether a server at `addr` answers `GET /health` with a 200.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line).is_ok()
        && status_line.split_whitespace().nth(1) == Some("200")
}
