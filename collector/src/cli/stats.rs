//! `estuary stats`: a collector's entry counts over time, as bars in the terminal (one line
//! per bucket, stacked by level in `estuary tail`'s colours) with totals, or the
//! histogram's JSON for scripts.

use std::io::{IsTerminal, Write};

use clap::Args;
use serde_json::Value;

use super::{CliError, ClientArgs, Connection};

/// Levels from least to most severe, with their bar colour.
const LEVELS: [(&str, &str); 6] = [
    ("trace", "2"),
    ("debug", "34"),
    ("info", "32"),
    ("warn", "33"),
    ("error", "31"),
    ("fatal", "1;31"),
];
/// Columns the longest bar takes.
const BAR_WIDTH: u64 = 50;

/// Arguments of `estuary stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Services to count (all when none is given).
    pub services: Vec<String>,
    /// Window start: RFC 3339 or a span back from now.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Window end (default now).
    #[arg(long)]
    pub until: Option<String>,
    /// Minimum severity: trace, debug, info, warn, error, fatal.
    #[arg(long)]
    pub level: Option<String>,
    /// Only entries containing this text.
    #[arg(long)]
    pub grep: Option<String>,
    /// Bucket width (`1m`, `15m`, `1h`); default: about 40 buckets over the window.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Where the collector is, and the token.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print the histogram's JSON instead of bars.
    #[arg(long)]
    pub json: bool,
}

/// Fetches the histogram and prints it.
///
/// # Errors
///
/// [`CliError`] when the collector cannot be reached or refuses the request.
pub async fn run(args: StatsArgs) -> Result<(), CliError> {
    let connection = Connection::new(&args.client)?;
    let mut query: Vec<(&str, String)> = vec![("since", args.since.clone())];
    if !args.services.is_empty() {
        query.push(("service", args.services.join(",")));
    }
    let optional = [
        ("until", &args.until),
        ("level", &args.level),
        ("q", &args.grep),
        ("bucket", &args.bucket),
    ];
    query.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.clone()?))),
    );
    if args.bucket.is_none() {
        query.push(("buckets", "40".into()));
    }
    let query: Vec<(String, String)> = query.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let response = connection.get("/histogram", &query).await?;
    let body = response.text().await.map_err(|e| CliError::BadAnswer {
        url: connection.url("/histogram"),
        reason: e.to_string(),
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{body}")?;
        return Ok(());
    }
    let histogram: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let colour = std::io::stdout().is_terminal();
    for line in render(&histogram, colour) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The bars and the totals line of a `/histogram` answer.
///
/// # Examples
///
/// ```
/// use estuary_collector::cli::stats::render;
///
/// let answer = serde_json::json!({
///     "buckets": [
///         {"start": "2026-12-01T10:00:00.000000000Z", "total": 4,
///          "counts": {"trace": 0, "debug": 0, "info": 2, "warn": 1, "error": 1, "fatal": 0}},
///         {"start": "2026-12-01T10:01:00.000000000Z", "total": 0,
///          "counts": {"trace": 0, "debug": 0, "info": 0, "warn": 0, "error": 0, "fatal": 0}},
///     ],
///     "totals": {"trace": 0, "debug": 0, "info": 2, "warn": 1, "error": 1, "fatal": 0},
///     "total": 4,
/// });
/// let lines = render(&answer, false);
/// assert!(lines[0].starts_with("2026-12-01 10:00:00 "));
/// assert!(lines[0].ends_with(" 4"));
/// assert!(lines[1].ends_with(" 0"));
/// assert!(lines[2].contains("total 4") && lines[2].contains("error 1"));
/// assert_eq!(lines.len(), 3, "a complete histogram says nothing more");
///
/// let mut stopped = answer.clone();
/// stopped["stopped"] = "scan_time".into();
/// assert!(render(&stopped, false)[3].starts_with("partial"));
/// ```
pub fn render(histogram: &Value, colour: bool) -> Vec<String> {
    let empty = Vec::new();
    let buckets = histogram["buckets"].as_array().unwrap_or(&empty);
    let most = buckets
        .iter()
        .filter_map(|b| b["total"].as_u64())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut lines: Vec<String> = buckets
        .iter()
        .map(|bucket| {
            let start = bucket["start"].as_str().unwrap_or("");
            let when = start.get(..19).unwrap_or(start).replace('T', " ");
            let mut bar = String::new();
            let mut drawn = 0u64;
            for (level, code) in LEVELS {
                let count = bucket["counts"][level].as_u64().unwrap_or(0);
                let cells = (count * BAR_WIDTH).div_ceil(most).min(BAR_WIDTH - drawn);
                drawn += cells;
                let cells = "█".repeat(cells as usize);
                match colour {
                    true if !cells.is_empty() => {
                        bar.push_str(&format!("\x1b[{code}m{cells}\x1b[0m"))
                    }
                    _ => bar.push_str(&cells),
                }
            }
            bar.push_str(&" ".repeat((BAR_WIDTH - drawn) as usize));
            format!("{when} {bar} {}", bucket["total"].as_u64().unwrap_or(0))
        })
        .collect();
    let totals: Vec<String> = LEVELS
        .iter()
        .map(|(level, _)| {
            format!(
                "{level} {}",
                histogram["totals"][level].as_u64().unwrap_or(0)
            )
        })
        .collect();
    lines.push(format!(
        "total {}: {}",
        histogram["total"].as_u64().unwrap_or(0),
        totals.join(", ")
    ));
    if let Some(stop) = histogram["stopped"].as_str() {
        lines.push(format!(
            "partial: the scan stopped at its budget ({stop}); the counts cover the older part of the window"
        ));
    }
    lines
}
