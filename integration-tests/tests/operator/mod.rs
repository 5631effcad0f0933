//! The operator's first hour (issue 15): the CLI against a real collector, with and without
//! tokens; readable lines; levels as people write them; messages that say what to do; time
//! that sorts as time; storage failures that show; help; and `estuary tail` drawn in a
//! terminal.

mod cli_access;
mod cli_output;
mod server;
mod terminal;

use std::process::Command;

use crate::support::estuary_bin;

/// What a finished `estuary` run left: success, stdout, stderr.
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `estuary ARGS` with extra environment (and no `ESTUARY_*` from the caller's).
pub fn estuary(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(estuary_bin());
    command
        .args(args)
        .env_remove("ESTUARY_TOKEN")
        .env_remove("ESTUARY_TOKEN_FILE")
        .env_remove("ESTUARY_URL")
        .env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run estuary");
    Run {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `estuary query ARGS --url URL`.
pub fn query(url: &str, args: &[&str]) -> Run {
    let mut all = vec!["query", "--url", url];
    all.extend_from_slice(args);
    estuary(&all, &[])
}
