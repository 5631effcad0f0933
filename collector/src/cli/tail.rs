//! `estuary tail`: follow a collector's live stream and print each entry as it arrives,
//! reconnecting when the collector restarts, until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;

use super::render::render_line;

/// Wait between reconnection attempts.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Arguments of `estuary tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// Follow only this service (all services when omitted).
    pub service: Option<String>,
    /// Minimum severity: trace, debug, info, warn, error, fatal.
    #[arg(long)]
    pub level: Option<String>,
    /// Only entries containing this text.
    #[arg(long)]
    pub grep: Option<String>,
    /// Replay this many stored entries before following.
    #[arg(long, default_value_t = 0)]
    pub tail: usize,
    /// The collector's URL.
    #[arg(long, env = "ESTUARY_URL", default_value = super::DEFAULT_URL)]
    pub url: String,
    /// Print the raw JSON lines (for `jq`) instead of readable ones.
    #[arg(long)]
    pub json: bool,
}

/// Why following failed for good.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The collector refused the request (bad parameter): retrying would not help.
    #[error("the collector refused the stream ({status}): {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The JSON error body.
        body: String,
    },
    /// Writing to stdout failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// Follows until Ctrl-C (returns `Ok`) or a permanent failure.
///
/// # Errors
///
/// [`TailError`] when the collector refuses the parameters or stdout is closed.
pub async fn run(args: TailArgs) -> Result<(), TailError> {
    let client = reqwest::Client::new();
    let colour =
        !args.json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut replay = args.tail;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            outcome = follow(&client, &args, replay, colour) => match outcome {
                Err(Failure::Permanent(err)) => return Err(err),
                Err(Failure::Transient(why)) => eprintln!("estuary tail: {why}; reconnecting"),
                Ok(()) => eprintln!("estuary tail: stream closed; reconnecting"),
            },
        }
        // After a reconnect, only new entries: the replay was already printed.
        replay = 0;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

enum Failure {
    Permanent(TailError),
    Transient(String),
}

fn stream_url(args: &TailArgs) -> String {
    let base = args.url.trim_end_matches('/');
    match &args.service {
        Some(service) => format!("{base}/logs/{service}/stream"),
        None => format!("{base}/logs/stream"),
    }
}

async fn follow(
    client: &reqwest::Client,
    args: &TailArgs,
    replay: usize,
    colour: bool,
) -> Result<(), Failure> {
    let mut query = vec![("tail", replay.to_string())];
    query.extend(args.level.clone().map(|l| ("level", l)));
    query.extend(args.grep.clone().map(|q| ("q", q)));
    let response = client
        .get(stream_url(args))
        .query(&query)
        .send()
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
    let status = response.status();
    if status.is_client_error() {
        let body = response.text().await.unwrap_or_default();
        return Err(Failure::Permanent(TailError::Refused {
            status: status.as_u16(),
            body,
        }));
    }
    if !status.is_success() {
        return Err(Failure::Transient(format!("collector answered {status}")));
    }
    let mut body = response.bytes_stream();
    let mut parser = SseParser::default();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Failure::Transient(e.to_string()))?;
        for (event, data) in parser.feed(&chunk) {
            print_event(&event, &data, args.json, colour)
                .map_err(|e| Failure::Permanent(e.into()))?;
        }
    }
    Ok(())
}

fn print_event(event: &str, data: &str, json: bool, colour: bool) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match event {
        "missed" => {
            eprintln!("estuary tail: fell behind, missed entries: {data}");
            Ok(())
        }
        _ if json => writeln!(stdout, "{data}"),
        _ => writeln!(stdout, "{}", render_line(data, colour)),
    }
}

/// A minimal Server-Sent Events parser: `event:` and `data:` fields, blank line dispatches.
#[derive(Default)]
struct SseParser {
    pending: Vec<u8>,
    event: String,
    data: String,
}

impl SseParser {
    fn feed(&mut self, chunk: &[u8]) -> Vec<(String, String)> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(pos) = memchr::memchr(b'\n', &self.pending) {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    let event = std::mem::take(&mut self.event);
                    out.push((event, std::mem::take(&mut self.data)));
                }
                self.event.clear();
            } else if let Some(value) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value.strip_prefix(' ').unwrap_or(value));
            } else if let Some(value) = line.strip_prefix("event:") {
                self.event = value.trim().to_owned();
            }
        }
        out
    }
}
