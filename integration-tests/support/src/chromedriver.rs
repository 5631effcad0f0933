//! Debian's `chromedriver` on a free port, for the console's browser tests: ready (its
//! `/status` says so) before it is handed over, killed with its browsers when dropped.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, http};

/// How long chromedriver gets to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `chromedriver`; killed when dropped.
pub struct ChromeDriver {
    /// `http://127.0.0.1:<port>`, the WebDriver endpoint.
    pub url: String,
    child: Child,
}

impl ChromeDriver {
    /// Starts `chromedriver` (`$CHROMEDRIVER`, else from the `PATH`) on a free loopback
    /// port and waits until it accepts sessions.
    ///
    /// # Errors
    ///
    /// When it is not installed (`apt-get install chromium chromium-driver`), exits, or is
    /// not ready in time.
    pub fn start() -> io::Result<Self> {
        let port = free_port();
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::other(format!(
                    "cannot start {bin}: {e} (apt-get install chromium chromium-driver)"
                ))
            })?;
        let mut driver = ChromeDriver {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        driver.wait_ready()?;
        Ok(driver)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = http()
                .get(format!("{}/status", self.url))
                .timeout(Duration::from_secs(1))
                .send()
                .ok()
                .and_then(|r| r.json::<serde_json::Value>().ok())
                .is_some_and(|s| s["value"]["ready"] == true);
            if ready {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "chromedriver exited during start-up ({status})"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("chromedriver was not ready in time"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// WebDriver capabilities for headless Debian Chromium (`$CHROMIUM`, else
    /// `/usr/bin/chromium`) in a window of `width`×`height`, with `extra` switches.
    pub fn capabilities(width: u32, height: u32, extra: &[&str]) -> serde_json::Value {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut args = vec![
            "--headless=new".to_owned(),
            // CI runs as root, where Chromium's sandbox cannot start.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-extensions".to_owned(),
            "--no-first-run".to_owned(),
            format!("--window-size={width},{height}"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": binary, "args": args },
        })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // Its browser sessions are closed by the tests; killing the driver ends any left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
