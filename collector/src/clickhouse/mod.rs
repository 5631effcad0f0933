//! ClickHouse, over its HTTP interface: the client both the forwarder and the query
//! backend use, the table's schema per server version ([`schema`]), the rows the
//! forwarder inserts ([`row`]) and the SQL the query backend runs ([`sql`], [`reader`]).
//!
//! Everything here works on the ClickHouse Debian ships (18.16, which the tests run) and
//! on current releases; where a newer server offers more, [`schema::Features`] says what is
//! used from which version.

pub mod reader;
pub mod row;
pub mod schema;
pub mod sql;

use std::time::Duration;

/// A ClickHouse user and password (HTTP basic authentication).
#[derive(Clone, Default)]
pub struct Credentials {
    /// The user; `None` for ClickHouse's `default` user without a password.
    pub user: Option<String>,
    /// The password (may be empty).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the password into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, ..)", self.user)
    }
}

/// Where the table is and how to reach it.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    /// The HTTP interface's base URL (`http://clickhouse:8123`).
    pub url: String,
    /// The database holding the table.
    pub database: String,
    /// The table's name.
    pub table: String,
    /// ClickHouse's user and password.
    pub credentials: Credentials,
    /// Whether the forwarder creates the table when it is missing.
    pub create_table: bool,
    /// This collector's name, stored with each row (part of its stream position).
    pub collector: String,
    /// How the forwarder sizes and sends its inserts.
    pub insert: InsertSettings,
}

/// How the forwarder sizes and sends its inserts.
///
/// ClickHouse writes a part per insert and partition, then merges parts in the background:
/// it wants few large inserts (its documentation advises at least thousands of rows each,
/// at most about one per second), so these are larger than the other forwarders' batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertSettings {
    /// Most rows per insert.
    pub max_rows: usize,
    /// Most bytes of stored lines per insert, roughly (a batch stops after the line that
    /// crosses it).
    pub max_bytes: usize,
    /// Whether insert bodies are gzip-compressed: less network, more CPU on both sides
    /// (compression costs about as much as building the rows).
    pub gzip: bool,
}

impl Default for InsertSettings {
    fn default() -> Self {
        InsertSettings {
            max_rows: 100_000,
            max_bytes: 32 * 1024 * 1024,
            gzip: true,
        }
    }
}

impl ClickHouseConfig {
    /// `database.table`, quoted for SQL.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::clickhouse::ClickHouseConfig;
    ///
    /// let config = ClickHouseConfig {
    ///     url: "http://ch:8123".into(),
    ///     database: "logs".into(),
    ///     table: "entries".into(),
    ///     credentials: Default::default(),
    ///     create_table: true,
    ///     collector: "c1".into(),
    ///     insert: Default::default(),
    /// };
    /// assert_eq!(config.qualified(), "`logs`.`entries`");
    /// ```
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            sql::identifier(&self.database),
            sql::identifier(&self.table)
        )
    }
}

/// Why ClickHouse did not answer as hoped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClickHouseError {
    /// No answer (refused, reset, timed out).
    #[error("ClickHouse at {url} is unreachable: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// The user or password was refused.
    #[error(
        "ClickHouse refused the credentials (check --clickhouse-user / --clickhouse-password): {0}"
    )]
    Credentials(String),
    /// The table exists but cannot hold or answer Estuary's rows.
    #[error("table {table} has an incompatible schema: {reason} (drop it, or choose another --clickhouse-table)")]
    Schema {
        /// `database.table`.
        table: String,
        /// Which column is missing or of which type.
        reason: String,
    },
    /// The query would read more than its budget allows (`max_execution_time` or
    /// `max_bytes_to_read`, from `--max-scan-secs` and `--max-scan-bytes`).
    #[error("ClickHouse stopped the query at its budget: {0}")]
    Budget(String),
    /// Any other error answer.
    #[error("ClickHouse answered {status}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// ClickHouse's message (shortened).
        message: String,
    },
}

/// A ClickHouse HTTP client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    /// Keeps connections alive between requests.
    http: reqwest::Client,
    /// Where and who.
    config: ClickHouseConfig,
}

impl Client {
    /// A client for `config`, each request bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`reqwest::Error`] when the HTTP client cannot be built.
    pub fn new(config: &ClickHouseConfig, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Client {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .pool_max_idle_per_host(2)
                .build()?,
            config: config.clone(),
        })
    }

    /// The settings this client was made with.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    /// Runs `sql` and returns the answer's body.
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`] saying whether the server was unreachable, refused the
    /// credentials, or refused the query.
    pub async fn query(&self, sql: &str) -> Result<String, ClickHouseError> {
        self.query_with(sql, &[]).await
    }

    /// Runs `sql` with server `settings` (name, value) and returns the answer's body.
    ///
    /// # Errors
    ///
    /// As [`Client::query`]; [`ClickHouseError::Budget`] when a limit among the settings
    /// stopped it.
    pub async fn query_with(
        &self,
        sql: &str,
        settings: &[(&str, String)],
    ) -> Result<String, ClickHouseError> {
        let request = self
            .http
            .post(&self.config.url)
            .query(settings)
            .body(sql.to_owned());
        self.send(request).await
    }

    /// Inserts a `JSONEachRow` body into the table: gzip-compressed when the insert
    /// settings say so.
    ///
    /// # Errors
    ///
    /// As [`Client::query`].
    pub async fn insert(&self, rows: bytes::Bytes) -> Result<(), ClickHouseError> {
        let insert = format!("INSERT INTO {} FORMAT JSONEachRow", self.config.qualified());
        let mut request = self.http.post(&self.config.url).query(&[
            ("query", insert.as_str()),
            ("input_format_skip_unknown_fields", "1"),
        ]);
        if self.config.insert.gzip {
            request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        let request = request.body(rows);
        self.send(request).await.map(|_| ())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, ClickHouseError> {
        let credentials = &self.config.credentials;
        let request = match &credentials.user {
            Some(user) => request.basic_auth(user, Some(&credentials.password)),
            None => request,
        };
        let unreachable = |e: reqwest::Error| ClickHouseError::Unreachable {
            url: self.config.url.clone(),
            reason: e.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(text);
        }
        let message: String = text.trim().chars().take(400).collect();
        // 18.16 answers 401 or 500 with code 192/193/194/516 for a bad user or password.
        let credentials = ["Code: 192,", "Code: 193,", "Code: 194,", "Code: 516,"];
        if status == reqwest::StatusCode::UNAUTHORIZED
            || status == reqwest::StatusCode::FORBIDDEN
            || credentials.iter().any(|c| message.starts_with(c))
        {
            return Err(ClickHouseError::Credentials(message));
        }
        // TIMEOUT_EXCEEDED and TOO_MANY_BYTES: the limits a query was sent with.
        if ["Code: 159,", "Code: 307,"]
            .iter()
            .any(|c| message.starts_with(c))
        {
            return Err(ClickHouseError::Budget(message));
        }
        Err(ClickHouseError::Server {
            status: status.as_u16(),
            message,
        })
    }

    /// The server's version as numbers (`18.16.1` → `[18, 16, 1]`).
    ///
    /// # Errors
    ///
    /// As [`Client::query`].
    pub async fn version(&self) -> Result<Vec<u32>, ClickHouseError> {
        let text = self.query("SELECT version()").await?;
        Ok(schema::parse_version(&text))
    }
}
