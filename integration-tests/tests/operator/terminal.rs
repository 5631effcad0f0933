//! Issue 15, point 2 on a real terminal: `estuary tail` runs in a tmux pane and the screen
//! is read back — one row per entry, columns aligned, colour on the level only because the
//! output is a terminal.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::{estuary_bin, wait_until, Collector};

/// A private tmux server (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let socket = format!("estuary-test-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "200",
                "-y",
                "30",
                command,
            ])
            .status()
            .expect("tmux is needed for this test (apt-get install tmux; .ci/run installs it)");
        assert!(status.success(), "tmux new-session");
        Tmux { socket }
    }

    /// The pane's text; with `escapes`, its colours as ANSI sequences.
    fn screen(&self, escapes: bool) -> String {
        let mut args = vec!["-L", &self.socket, "capture-pane", "-p", "-t", "t"];
        if escapes {
            args.push("-e");
        }
        let out = Command::new("tmux")
            .args(&args)
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn tail_on_a_terminal_draws_one_aligned_row_per_entry() {
    let collector = Collector::start();
    let entries = json!([
        {"timestamp": "2026-12-01T10:00:00.5Z", "level": "INFO", "service": "shop-api", "message": "request finished",
         "spans": [{"name": "request", "method": "POST", "path": "/orders"}], "fields": {"status": 201},
         "file": "src/main.rs", "line": 76, "thread_id": 2, "pid": 9, "host": "web-1"},
        {"timestamp": "2026-12-01T10:00:01Z", "severity": "CRITICAL", "service": "db", "message": "disk\nfull"},
        {"timestamp": "2026-12-01T10:00:02Z", "level": 40, "service": "billing-worker", "message": "retrying", "attempt": 2}
    ]);
    assert_eq!(collector.post_json(&entries).0, 201);
    let command = format!(
        "env -u NO_COLOR {} tail --url {} --tail 3; sleep 30",
        estuary_bin().display(),
        collector.url
    );
    let tmux = Tmux::start(&command);
    let mut rows = Vec::new();
    wait_until(
        Duration::from_secs(20),
        "tail to draw three entries",
        || {
            rows = tmux
                .screen(false)
                .lines()
                .filter(|l| l.starts_with("2026-"))
                .map(str::to_owned)
                .collect();
            rows.len() >= 3
        },
    );
    assert_eq!(
        rows.len(),
        3,
        "one row per entry, the newline escaped: {rows:#?}"
    );
    assert_eq!(&rows[0][..28], "2026-12-01T10:00:00.500000Z ");
    assert_eq!(&rows[0][28..33], " INFO");
    assert_eq!(&rows[1][28..33], "FATAL");
    assert_eq!(&rows[2][28..33], " WARN");
    assert!(
        rows[0].contains("shop-api request{method=POST path=/orders}: request finished status=201"),
        "{}",
        rows[0]
    );
    assert!(
        !rows[0].contains("thread_id") && !rows[0].contains("src/main.rs"),
        "{}",
        rows[0]
    );
    assert!(rows[1].ends_with(r"disk\nfull"), "{}", rows[1]);
    assert!(rows[2].ends_with("retrying attempt=2"), "{}", rows[2]);
    // Colour marks the level because the output is a terminal.
    let coloured = tmux.screen(true);
    assert!(coloured.contains('\u{1b}'), "{coloured:?}");
}
