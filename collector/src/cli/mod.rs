//! Client subcommands that talk to a running collector over HTTP: `estuary query` and
//! `estuary tail`.
//!
//! What they share lives here: where the collector is and how to authenticate
//! ([`ClientArgs`], [`Connection`]), what a failure means and says ([`CliError`]: permanent
//! ones end the command, transient ones let `tail` reconnect), and the names of the stored
//! services, to say when a service has nothing and what was probably meant
//! ([`close_matches`]). Entries are drawn by [`render`].

pub mod query;
pub mod render;
pub mod stats;
pub mod tail;
mod token;

use std::path::PathBuf;

use clap::Args;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};

/// The collector URL used when neither `--url` nor `ESTUARY_URL` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8005";

/// Where the collector is and how to prove the right to read it.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The collector's URL.
    #[arg(long, env = "ESTUARY_URL", default_value = DEFAULT_URL, help_heading = "Connection")]
    pub url: String,
    /// A query token, sent as `Authorization: Bearer <token>` (needed when the collector
    /// has tokens configured). Prefer `ESTUARY_TOKEN` or `--token-file`, which stay out of
    /// the shell history.
    #[arg(
        long,
        env = "ESTUARY_TOKEN",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub token: Option<String>,
    /// A file whose first line is the query token (used when `--token` is not given).
    #[arg(
        long,
        env = "ESTUARY_TOKEN_FILE",
        value_name = "PATH",
        help_heading = "Connection"
    )]
    pub token_file: Option<PathBuf>,
}

/// Why a client command failed. [`CliError::is_transient`] tells which ones may pass.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `--url` is not an http(s) URL.
    #[error("--url {given:?} is not an http:// or https:// URL{hint}")]
    BadUrl {
        /// What was given.
        given: String,
        /// ` (did you mean http://…?)` when the scheme is missing.
        hint: String,
    },
    /// The token file cannot be read or is empty.
    #[error("--token-file {path}: {reason}")]
    TokenFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The token cannot be sent in a header.
    #[error("the token contains characters that cannot be sent in an HTTP header")]
    BadToken,
    /// No connection, a reset, a timeout (transient).
    #[error("cannot reach the collector at {url}: {cause} (is it running? --url or ESTUARY_URL says where)")]
    Unreachable {
        /// The collector's URL.
        url: String,
        /// The innermost cause, e.g. `connection refused`.
        cause: String,
    },
    /// 401: no token, or one the collector does not know.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the token may not read.
    #[error("the collector refused the token: {0}")]
    Forbidden(String),
    /// A 4xx other than 401/403: a bad parameter; its message says which.
    #[error("the collector refused the request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The collector's `error` message.
        message: String,
    },
    /// A 5xx or 429 (transient).
    #[error("the collector answered {status}: {message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The collector's `error` message.
        message: String,
    },
    /// The answer is not what a collector sends.
    #[error("unexpected answer from {url}: {reason} (is --url an Estuary collector?)")]
    BadAnswer {
        /// The URL asked.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A `--field` is not `path=value`.
    #[error("--field {0:?} is not PATH=VALUE")]
    Field(String),
    /// Writing to stdout failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// Whether trying again later may succeed (a collector restarting, overloaded or not
    /// yet up): `tail` reconnects on these and ends on every other error.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CliError::Unreachable { .. } | CliError::Unavailable { .. }
        )
    }
}

/// A collector to talk to: its base URL and an HTTP client that sends the token.
#[derive(Debug, Clone)]
pub struct Connection {
    base: Url,
    client: reqwest::Client,
    /// Whether a token is sent, to say what to do about a 401.
    has_token: bool,
}

impl Connection {
    /// Checks the URL and reads the token.
    ///
    /// # Errors
    ///
    /// [`CliError::BadUrl`], [`CliError::TokenFile`] or [`CliError::BadToken`].
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::cli::{ClientArgs, Connection};
    ///
    /// let args = ClientArgs { url: "localhost:8005".into(), token: None, token_file: None };
    /// let err = Connection::new(&args).unwrap_err().to_string();
    /// assert!(err.contains("did you mean http://localhost:8005"), "{err}");
    /// ```
    pub fn new(args: &ClientArgs) -> Result<Self, CliError> {
        let base = parse_url(&args.url)?;
        let token = match (&args.token, &args.token_file) {
            (Some(token), _) => Some(token.trim().to_owned()).filter(|t| !t.is_empty()),
            (None, Some(path)) => Some(token::read_file(path)?),
            (None, None) => None,
        };
        let mut headers = HeaderMap::new();
        if let Some(token) = &token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| CliError::BadToken)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .map_err(|e| CliError::BadAnswer {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Connection {
            base,
            client,
            has_token: token.is_some(),
        })
    }

    /// The URL of `path` (which starts with `/`) on the collector.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// Sends `GET path?query` and returns the response when it is a success.
    ///
    /// # Errors
    ///
    /// [`CliError`] for an unreachable collector or an error status.
    pub async fn get(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<reqwest::Response, CliError> {
        let url = self.url(path);
        let response = self
            .client
            .get(&url)
            .query(query)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(self.refusal(status, &body))
    }

    /// The names of the services with stored entries.
    ///
    /// # Errors
    ///
    /// [`CliError`] when `/services` cannot be read.
    pub async fn services(&self) -> Result<Vec<String>, CliError> {
        let response = self.get("/services", &[]).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| CliError::BadAnswer {
                url: self.url("/services"),
                reason: e.to_string(),
            })?;
        Ok(body["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["service"].as_str().map(str::to_owned))
            .collect())
    }

    fn unreachable(&self, err: &reqwest::Error) -> CliError {
        CliError::Unreachable {
            url: self.base.as_str().trim_end_matches('/').to_owned(),
            cause: root_cause(err),
        }
    }

    fn refusal(&self, status: StatusCode, body: &str) -> CliError {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.trim().chars().take(200).collect());
        match status {
            StatusCode::UNAUTHORIZED if self.has_token => CliError::Unauthorized(
                "the collector does not accept the token given (--token, ESTUARY_TOKEN or --token-file)".into(),
            ),
            StatusCode::UNAUTHORIZED => CliError::Unauthorized(
                "the collector requires a token: pass --token, set ESTUARY_TOKEN, or use --token-file PATH".into(),
            ),
            StatusCode::FORBIDDEN => CliError::Forbidden(message),
            StatusCode::TOO_MANY_REQUESTS => CliError::Unavailable {
                status: status.as_u16(),
                message,
            },
            s if s.is_server_error() => CliError::Unavailable {
                status: s.as_u16(),
                message,
            },
            StatusCode::NOT_FOUND => CliError::BadAnswer {
                url: self.base.to_string(),
                reason: format!("404 {message}"),
            },
            s => CliError::Refused {
                status: s.as_u16(),
                message,
            },
        }
    }
}

fn parse_url(given: &str) -> Result<Url, CliError> {
    let bad = |hint: String| CliError::BadUrl {
        given: given.to_owned(),
        hint,
    };
    if !given.contains("://") {
        return Err(bad(format!(" (did you mean http://{given}?)")));
    }
    let url = Url::parse(given).map_err(|e| bad(format!(": {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(String::new()));
    }
    Ok(url)
}

/// The innermost cause of a failed request in plain words (`connection refused`, `timed
/// out`), rather than reqwest's outermost "error sending request".
fn root_cause(err: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut last = err.to_string();
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                std::io::ErrorKind::TimedOut => "timed out".into(),
                _ => io.to_string(),
            };
        }
        last = current.to_string();
        source = current.source();
    }
    if err.is_timeout() {
        "timed out".into()
    } else {
        last
    }
}

/// Stored service names that look like `wanted`: the same but for case, or a few edits
/// away, or containing it; closest first, at most three.
///
/// # Examples
///
/// ```
/// use estuary_collector::cli::close_matches;
///
/// let known = ["checkout".to_string(), "Shop-API".to_string(), "billing".to_string()];
/// assert_eq!(close_matches("shop-api", &known), ["Shop-API"]);
/// assert_eq!(close_matches("chekout", &known), ["checkout"]);
/// assert!(close_matches("zzz", &known).is_empty());
/// ```
pub fn close_matches<'a>(wanted: &str, known: &'a [String]) -> Vec<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .filter_map(|name| {
            let lower = name.to_lowercase();
            let distance = edit_distance(&wanted_lower, &lower);
            let close = distance <= (wanted.chars().count() / 4).max(1)
                || (wanted_lower.len() >= 3 && lower.contains(&wanted_lower));
            (close && name != wanted).then_some((distance, name.as_str()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, name)| name).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Tells on stderr that `service` has no entries, naming close matches among `known`.
pub(crate) fn say_no_entries(command: &str, service: &str, known: &[String], waiting: bool) {
    let matches = close_matches(service, known);
    let hint = match matches.as_slice() {
        [] if known.is_empty() => " (the collector has no services yet)".to_owned(),
        [] => String::new(),
        names => format!(
            "; did you mean {}?",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    let tail = if waiting {
        " yet; waiting for its first entry"
    } else {
        ""
    };
    eprintln!("estuary {command}: service {service:?} has no entries{tail}{hint}");
}
