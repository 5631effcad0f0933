//! `estuary query`: search a collector's stored entries and print them, readable or as
//! NDJSON, following `next_cursor` for more than one page.

use std::io::{IsTerminal, Write};

use clap::Args;
use serde_json::Value;

use super::render::render_line;

/// The largest page requested at once.
const PAGE: usize = 1000;

/// Arguments of `estuary query`.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// The service to search.
    pub service: String,
    /// Minimum severity: trace, debug, info, warn, error, fatal.
    #[arg(long)]
    pub level: Option<String>,
    /// Entries at or after this time: RFC 3339 or a span back from now (15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Entries at or before this time: RFC 3339 or a span back from now.
    #[arg(long)]
    pub until: Option<String>,
    /// Only entries containing this text.
    #[arg(long)]
    pub grep: Option<String>,
    /// Only entries whose target is this module path (or below it).
    #[arg(long)]
    pub target: Option<String>,
    /// Field equality, `path=value` with a dotted path (`user_id=42`, `fields.cache=hit`);
    /// repeatable.
    #[arg(long = "field", value_name = "PATH=VALUE")]
    pub fields: Vec<String>,
    /// How many of the newest matches to print (oldest first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print every match, oldest first, page after page.
    #[arg(long)]
    pub all: bool,
    /// The collector's URL.
    #[arg(long, env = "ESTUARY_URL", default_value = super::DEFAULT_URL)]
    pub url: String,
    /// Print the raw JSON lines (NDJSON, for `jq`) instead of readable ones.
    #[arg(long)]
    pub json: bool,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The collector could not be reached or answered badly.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The collector refused the query (a bad parameter): its message says why.
    #[error("the collector refused the query ({status}): {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The JSON error body.
        body: String,
    },
    /// Writing to stdout failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// The collector's answer is not the expected JSON.
    #[error("unexpected answer from the collector: {0}")]
    BadAnswer(String),
    /// A `--field` is not `path=value`.
    #[error("--field {0:?} is not PATH=VALUE")]
    Field(String),
}

/// Runs the query and prints the entries.
///
/// # Errors
///
/// [`QueryError`] when the collector is unreachable, refuses the query, or stdout closes.
pub async fn run(args: QueryArgs) -> Result<(), QueryError> {
    let client = reqwest::Client::new();
    let colour =
        !args.json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut printer = Printer {
        json: args.json,
        colour,
    };
    if args.all {
        let mut cursor = None;
        loop {
            let page = fetch(&client, &args, "asc", PAGE, cursor.as_deref()).await?;
            printer.print(page.lines.iter())?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }
    let mut newest_first = Vec::new();
    let mut cursor = None;
    while newest_first.len() < args.limit {
        let size = (args.limit - newest_first.len()).min(PAGE);
        let page = fetch(&client, &args, "desc", size, cursor.as_deref()).await?;
        newest_first.extend(page.lines);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(printer.print(newest_first.iter().rev())?)
}

struct Page {
    lines: Vec<String>,
    next_cursor: Option<String>,
}

async fn fetch(
    client: &reqwest::Client,
    args: &QueryArgs,
    order: &str,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page, QueryError> {
    let mut query = vec![("order", order.to_owned()), ("limit", limit.to_string())];
    let optional = [
        ("level", &args.level),
        ("since", &args.since),
        ("until", &args.until),
        ("q", &args.grep),
        ("target", &args.target),
    ];
    query.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v))),
    );
    let mut params: Vec<(String, String)> =
        query.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    for field in &args.fields {
        let (path, value) = field
            .split_once('=')
            .ok_or_else(|| QueryError::Field(field.clone()))?;
        params.push((format!("field.{path}"), value.to_owned()));
    }
    if let Some(cursor) = cursor {
        params.push(("cursor".into(), cursor.to_owned()));
    }
    let url = format!("{}/logs/{}", args.url.trim_end_matches('/'), args.service);
    let response = client.get(url).query(&params).send().await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(QueryError::Refused {
            status: status.as_u16(),
            body,
        });
    }
    let bytes = response.bytes().await?;
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|e| QueryError::BadAnswer(e.to_string()))?;
    let lines = body["logs"]
        .as_array()
        .map(|logs| logs.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    let next_cursor = body["next_cursor"].as_str().map(str::to_owned);
    Ok(Page { lines, next_cursor })
}

struct Printer {
    json: bool,
    colour: bool,
}

impl Printer {
    fn print<'a>(&mut self, lines: impl Iterator<Item = &'a String>) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        for line in lines {
            if self.json {
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "{}", render_line(line, self.colour))?;
            }
        }
        out.flush()
    }
}
