//! `estuary tail`: follow a collector's live stream and print each entry as it arrives,
//! until Ctrl-C. A collector that is down, restarting or overloaded is waited for (the
//! cause is said once, and again when it changes); a mistake that retrying cannot fix —
//! a bad URL, a missing or refused token, a bad parameter — ends the command.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;

use super::render::Renderer;
use super::{say_no_entries, CliError, ClientArgs, Connection};

/// Wait between reconnection attempts.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Arguments of `estuary tail`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  estuary tail                        every service, as entries arrive
  estuary tail checkout --level warn  one service, warnings and worse
  estuary tail --tail 50 --json       the last 50 stored entries, then live, as stored lines")]
pub struct TailArgs {
    /// Follow only this service (all services when omitted).
    pub service: Option<String>,
    /// Minimum severity: trace, debug, info, warn, error, fatal (or a pino/syslog number).
    #[arg(long, help_heading = "Filters")]
    pub level: Option<String>,
    /// Only entries containing this text.
    #[arg(long, help_heading = "Filters")]
    pub grep: Option<String>,
    /// Replay this many stored entries before following.
    #[arg(long, default_value_t = 0, help_heading = "What to print")]
    pub tail: usize,
    /// Print the stored lines as they are (for `jq`) instead of readable ones.
    #[arg(long, help_heading = "What to print")]
    pub json: bool,
    /// Also show where each entry came from: target, file and line, thread, pid, host.
    #[arg(long, short, help_heading = "What to print")]
    pub verbose: bool,
    /// Show times in the local time zone instead of UTC.
    #[arg(long, help_heading = "What to print")]
    pub local: bool,
    /// Where the collector is and the token to read it with.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Follows until Ctrl-C (returns `Ok`) or a permanent failure.
///
/// # Errors
///
/// A permanent [`CliError`]: a bad URL or token, a refused parameter, a closed stdout.
pub async fn run(args: TailArgs) -> Result<(), CliError> {
    let colour =
        !args.json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut renderer = Renderer {
        colour,
        verbose: args.verbose,
        local: args.local.then(super::render::local_offset),
        service_width: args.service.as_deref().map_or(0, str::len),
    };
    let connection = Connection::new(&args.client)?;
    let mut replay = args.tail;
    let mut checked_service = false;
    let mut last_problem: Option<String> = None;
    loop {
        let outcome = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            outcome = follow(&connection, &args, replay, &mut renderer, &mut last_problem) => outcome,
            () = check_service(&connection, &args, &mut checked_service) => Ok(()),
        };
        let problem = match outcome {
            Err(err) if !err.is_transient() => return Err(err),
            Err(err) => err.to_string(),
            Ok(()) => "the collector closed the stream".to_owned(),
        };
        if last_problem.as_deref() != Some(problem.as_str()) {
            eprintln!(
                "estuary tail: {problem}; retrying every {}s",
                RECONNECT_DELAY.as_secs()
            );
            last_problem = Some(problem);
        }
        // After a reconnect, only new entries: the replay was already printed.
        replay = 0;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

/// Once, after connecting: says on stderr when the followed service has no entries yet
/// (naming close matches), then waits forever.
async fn check_service(connection: &Connection, args: &TailArgs, checked: &mut bool) {
    if let (Some(service), false) = (&args.service, *checked) {
        // Give the stream its first try; a collector that is down is reported by it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(known) = connection.services().await {
            *checked = true;
            if !known.contains(service) {
                say_no_entries("tail", service, &known, true);
            }
        }
    }
    std::future::pending().await
}

fn stream_path(args: &TailArgs) -> String {
    match &args.service {
        Some(service) => format!("/logs/{service}/stream"),
        None => "/logs/stream".to_owned(),
    }
}

async fn follow(
    connection: &Connection,
    args: &TailArgs,
    replay: usize,
    renderer: &mut Renderer,
    last_problem: &mut Option<String>,
) -> Result<(), CliError> {
    let mut query = vec![("tail".to_owned(), replay.to_string())];
    query.extend(args.level.clone().map(|l| ("level".to_owned(), l)));
    query.extend(args.grep.clone().map(|q| ("q".to_owned(), q)));
    let response = connection.get(&stream_path(args), &query).await?;
    if last_problem.take().is_some() {
        eprintln!("estuary tail: connected to {}", connection.url(""));
    }
    let mut body = response.bytes_stream();
    let mut parser = SseParser::default();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::Unreachable {
            url: connection.url(""),
            cause: format!("the stream broke off ({e})"),
        })?;
        for (event, data) in parser.feed(&chunk) {
            print_event(&event, &data, args.json, renderer)?;
        }
    }
    Ok(())
}

fn print_event(
    event: &str,
    data: &str,
    json: bool,
    renderer: &mut Renderer,
) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match event {
        "missed" => {
            eprintln!("estuary tail: fell behind, missed entries: {data}");
            Ok(())
        }
        _ if json => writeln!(stdout, "{data}"),
        _ => writeln!(stdout, "{}", renderer.render(data)),
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
