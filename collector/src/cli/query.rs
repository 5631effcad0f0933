//! `estuary query`: search a collector's stored entries — of one service, several, or all —
//! and print them, readable or as the stored lines (NDJSON), following `next_cursor` for
//! more than one page. Stdout carries only entries; what else there is to say (more
//! entries available, a service with nothing stored) goes to stderr.

use std::io::{IsTerminal, Write};

use clap::{Args, ValueEnum};
use serde_json::value::RawValue;

use super::render::Renderer;
use super::{say_no_entries, CliError, ClientArgs, Connection};

/// The largest page requested at once.
const PAGE: usize = 1000;

/// Arguments of `estuary query`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  estuary query checkout                          the newest 100 entries of checkout
  estuary query checkout,billing --level warn     two services merged by time, warnings and worse
  estuary query --since 15m --grep timeout        every service, the last 15 minutes
  estuary query --trace 4bf92f3577b34da6 --all    one trace, every entry, oldest first
  estuary query api --json | jq .fields           the stored lines, for scripts
  ESTUARY_TOKEN=… estuary query api --url https://logs.example.com")]
pub struct QueryArgs {
    /// The services to search, comma-separated; none (or `--all-services`) means every
    /// service. Several are merged by time.
    #[arg(value_delimiter = ',', value_name = "SERVICE[,SERVICE…]")]
    pub services: Vec<String>,
    /// Search every service (the same as naming none).
    #[arg(long, conflicts_with = "services")]
    pub all_services: bool,
    /// Minimum severity: trace, debug, info, warn, error, fatal (or a pino/syslog number).
    #[arg(long, help_heading = "Filters")]
    pub level: Option<String>,
    /// Entries at or after this time: RFC 3339 or a span back from now (15m, 2h, 7d).
    #[arg(long, help_heading = "Filters")]
    pub since: Option<String>,
    /// Entries at or before this time: RFC 3339 or a span back from now.
    #[arg(long, help_heading = "Filters")]
    pub until: Option<String>,
    /// Only entries containing this text (anywhere in the stored line).
    #[arg(long, help_heading = "Filters")]
    pub grep: Option<String>,
    /// Only entries whose target is this module path (or below it).
    #[arg(long, help_heading = "Filters")]
    pub target: Option<String>,
    /// Only entries of this trace (the same as `--field trace_id=ID`).
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub trace: Option<String>,
    /// Field equality, `path=value` with a dotted path (`user_id=42`, `fields.cache=hit`);
    /// repeatable.
    #[arg(long = "field", value_name = "PATH=VALUE", help_heading = "Filters")]
    pub fields: Vec<String>,
    /// How many matches to print.
    #[arg(long, default_value_t = 100, help_heading = "What to print")]
    pub limit: usize,
    /// Print every match, page after page (oldest first unless `--order desc`).
    #[arg(long, help_heading = "What to print")]
    pub all: bool,
    /// `asc`: the oldest matches, oldest first; `desc`: the newest, newest first. Without
    /// it: the newest matches, printed oldest first.
    #[arg(long, value_enum, help_heading = "What to print")]
    pub order: Option<OrderArg>,
    /// Print the stored lines exactly as stored (NDJSON, for `jq`) instead of readable ones.
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

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// Runs the query and prints the entries.
///
/// # Errors
///
/// [`CliError`] when the collector is unreachable, refuses the query, or stdout closes.
pub async fn run(args: QueryArgs) -> Result<(), CliError> {
    let mut printer = Printer::new(args.json, args.verbose, args.local);
    let connection = Connection::new(&args.client)?;
    let params = params(&args)?;
    let (printed, more) = if args.all {
        print_all(&connection, &params, &args, &mut printer).await?
    } else {
        print_limit(&connection, &params, &args, &mut printer).await?
    };
    if more {
        eprintln!(
            "estuary query: more entries available (use --limit N for more, or --all for every one)"
        );
    }
    if printed == 0 {
        explain_nothing(&connection, &args).await;
    }
    Ok(())
}

async fn print_all(
    connection: &Connection,
    params: &[(String, String)],
    args: &QueryArgs,
    printer: &mut Printer,
) -> Result<(usize, bool), CliError> {
    let order = if args.order == Some(OrderArg::Desc) {
        "desc"
    } else {
        "asc"
    };
    let (mut printed, mut cursor) = (0, None);
    loop {
        let page = fetch(connection, params, order, PAGE, cursor.as_deref()).await?;
        printed += page.lines.len();
        printer.print(page.lines.iter())?;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((printed, false)),
        }
    }
}

async fn print_limit(
    connection: &Connection,
    params: &[(String, String)],
    args: &QueryArgs,
    printer: &mut Printer,
) -> Result<(usize, bool), CliError> {
    let order = if args.order == Some(OrderArg::Asc) {
        "asc"
    } else {
        "desc"
    };
    let (mut lines, mut cursor) = (Vec::new(), None);
    while lines.len() < args.limit {
        let size = (args.limit - lines.len()).min(PAGE);
        let page = fetch(connection, params, order, size, cursor.as_deref()).await?;
        lines.extend(page.lines);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    if args.order.is_none() {
        lines.reverse();
    }
    printer.print(lines.iter())?;
    Ok((lines.len(), cursor.is_some()))
}

/// The query parameters shared by every page.
fn params(args: &QueryArgs) -> Result<Vec<(String, String)>, CliError> {
    let mut params = Vec::new();
    if !args.services.is_empty() && !args.all_services {
        params.push(("service".to_owned(), args.services.join(",")));
    }
    let optional = [
        ("level", &args.level),
        ("since", &args.since),
        ("until", &args.until),
        ("q", &args.grep),
        ("target", &args.target),
        ("field.trace_id", &args.trace),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            params.push((key.to_owned(), value.clone()));
        }
    }
    for field in &args.fields {
        let (path, value) = field
            .split_once('=')
            .ok_or_else(|| CliError::Field(field.clone()))?;
        params.push((format!("field.{path}"), value.to_owned()));
    }
    Ok(params)
}

struct Page {
    lines: Vec<String>,
    next_cursor: Option<String>,
}

/// The collector's answer; each entry kept as the exact text it was stored as.
#[derive(serde::Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    logs: Vec<&'a RawValue>,
    next_cursor: Option<String>,
}

async fn fetch(
    connection: &Connection,
    params: &[(String, String)],
    order: &str,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page, CliError> {
    let mut query = params.to_vec();
    query.push(("order".into(), order.into()));
    query.push(("limit".into(), limit.to_string()));
    if let Some(cursor) = cursor {
        query.push(("cursor".into(), cursor.to_owned()));
    }
    let response = connection.get("/logs", &query).await?;
    let bad_answer = |reason: String| CliError::BadAnswer {
        url: connection.url("/logs"),
        reason,
    };
    let bytes = response
        .bytes()
        .await
        .map_err(|e| bad_answer(e.to_string()))?;
    let answer: Answer<'_> =
        serde_json::from_slice(&bytes).map_err(|e| bad_answer(e.to_string()))?;
    Ok(Page {
        lines: answer.logs.iter().map(|l| l.get().to_owned()).collect(),
        next_cursor: answer.next_cursor,
    })
}

/// Nothing was printed: says on stderr which named services have no entries at all (with
/// close matches), or that the filters matched nothing.
async fn explain_nothing(connection: &Connection, args: &QueryArgs) {
    let Ok(known) = connection.services().await else {
        return;
    };
    let missing: Vec<&String> = args
        .services
        .iter()
        .filter(|s| !args.all_services && !known.contains(s))
        .collect();
    for service in &missing {
        say_no_entries("query", service, &known, false);
    }
    if missing.is_empty() {
        eprintln!("estuary query: no entries match");
    }
}

struct Printer {
    json: bool,
    renderer: Renderer,
}

impl Printer {
    fn new(json: bool, verbose: bool, local: bool) -> Self {
        let colour =
            !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer {
            json,
            renderer: Renderer {
                colour,
                verbose,
                local: local.then(super::render::local_offset),
                service_width: 0,
            },
        }
    }

    fn print<'a>(
        &mut self,
        lines: impl Iterator<Item = &'a String> + Clone,
    ) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        // The widest service in this batch sets the column, so a page lines up.
        if self.json {
            for line in lines {
                writeln!(out, "{line}")?;
            }
            return out.flush();
        }
        self.renderer.service_width = lines
            .clone()
            .filter_map(|l| serde_json::from_str::<ServiceOnly<'_>>(l).ok())
            .filter_map(|s| s.service.map(|s| s.chars().count()))
            .fold(self.renderer.service_width, usize::max);
        for line in lines {
            writeln!(out, "{}", self.renderer.render(line))?;
        }
        out.flush()
    }
}

#[derive(serde::Deserialize)]
struct ServiceOnly<'a> {
    #[serde(borrow)]
    service: Option<std::borrow::Cow<'a, str>>,
}
