//! The query backend's side of ClickHouse: pages (one service or several merged, with
//! keyset cursors), services, histograms and facets, with the files' semantics.
//!
//! Every read uses `FINAL`, so copies left by an at-least-once retry are never counted
//! twice. Pages are ordered by the entry's time, then service, collector and stream
//! position; a cursor is the last row's key, so it stays valid while rows are inserted.

use serde::Deserialize;

use super::{sql, ClickHouseError, Client};
use crate::filter::LineFilter;
use crate::query::{Direction, FacetRequest, Facets, Histogram, HistogramRequest, Work};
use crate::timefmt::Nanos;

const SECOND: Nanos = 1_000_000_000;
/// The windows (seconds back from the newest entry) a backward page tries before reading
/// everything: an hour, a day, thirty days.
const WINDOWS: [u32; 3] = [3_600, 86_400, 30 * 86_400];

/// A row's place in the merged order: time, service, collector, stream position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Seconds of the entry's time.
    pub secs: u32,
    /// Nanoseconds within the second.
    pub ns: u32,
    /// The service.
    pub service: String,
    /// The collector that stored it.
    pub collector: String,
    /// Its position in that collector's stream of the service.
    pub offset: u64,
}

impl Key {
    /// The opaque cursor text: `ch` + direction + the key, strings in hex.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::clickhouse::reader::Key;
    /// use estuary_collector::query::Direction;
    ///
    /// let key = Key { secs: 5, ns: 7, service: "api".into(), collector: "c:1".into(), offset: 9 };
    /// let text = key.encode(Direction::Backward);
    /// assert_eq!(Key::decode(Direction::Backward, &text), Some(key));
    /// assert_eq!(Key::decode(Direction::Forward, &text), None);
    /// ```
    pub fn encode(&self, direction: Direction) -> String {
        format!(
            "ch{}.{}.{}.{}.{}.{}",
            tag(direction),
            self.secs,
            self.ns,
            self.offset,
            hex(&self.service),
            hex(&self.collector)
        )
    }

    /// Reads what [`Key::encode`] wrote for the same direction.
    pub fn decode(direction: Direction, text: &str) -> Option<Key> {
        let rest = text.strip_prefix("ch")?.strip_prefix(tag(direction))?;
        let mut parts = rest.strip_prefix('.')?.split('.');
        let key = Key {
            secs: parts.next()?.parse().ok()?,
            ns: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
            service: unhex(parts.next()?)?,
            collector: unhex(parts.next()?)?,
        };
        parts.next().is_none().then_some(key)
    }

    /// Rows strictly before (`<`) or after (`>`) this key; the plain `ts` bound lets the
    /// primary index skip parts.
    fn sql(&self, op: &str) -> String {
        format!(
            "ts {op}= toDateTime({}) AND (ts, ns, service, collector, stream_offset) {op} (toDateTime({}), toUInt32({}), {}, {}, toUInt64({}))",
            self.secs,
            self.secs,
            self.ns,
            sql::string(&self.service),
            sql::string(&self.collector),
            self.offset
        )
    }
}

fn tag(direction: Direction) -> char {
    match direction {
        Direction::Backward => 'b',
        Direction::Forward => 'f',
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// A page request over one service or several.
#[derive(Debug, Clone)]
pub struct PageQuery {
    /// The services; `None` for all.
    pub services: Option<Vec<String>>,
    /// Which entries match.
    pub filter: LineFilter,
    /// How many to return.
    pub limit: usize,
    /// Newest or oldest first.
    pub direction: Direction,
    /// The last row of the previous page.
    pub after: Option<Key>,
}

/// A page: the stored lines in walk order and where the next page starts.
#[derive(Debug, Default)]
pub struct PageRows {
    /// The lines, in walk order.
    pub lines: Vec<Vec<u8>>,
    /// The key of the last row, when more rows match.
    pub next: Option<Key>,
    /// What ClickHouse read.
    pub work: Work,
}

/// One service as `/services` shows it.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    /// The service.
    pub service: String,
    /// Bytes of its stored lines.
    pub bytes: u64,
    /// Its newest entry's time.
    pub last: Option<Nanos>,
}

#[derive(Deserialize)]
struct Answer<T> {
    data: Vec<T>,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    bytes_read: u64,
}

impl<T> Answer<T> {
    fn work(&self) -> Work {
        Work {
            scanned_bytes: self.statistics.as_ref().map_or(0, |s| s.bytes_read),
            files_scanned: 0,
            segments_skipped: 0,
        }
    }
}

/// A number ClickHouse may quote (64-bit integers are strings in its JSON).
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        N(u64),
        S(String),
    }
    match Either::deserialize(d)? {
        Either::N(n) => Ok(n),
        Either::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
struct LineRow {
    line: String,
    secs: u32,
    ns: u32,
    service: String,
    collector: String,
    #[serde(deserialize_with = "number")]
    offset: u64,
}

/// Answers queries from one ClickHouse table.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The server and table.
    client: Client,
    /// The limits every query is sent with (ClickHouse settings).
    limits: Vec<(&'static str, String)>,
}

impl Reader {
    /// A reader of `client`'s table, without limits.
    pub fn new(client: Client) -> Self {
        Reader {
            client,
            limits: Vec::new(),
        }
    }

    /// This reader, its queries bounded by `budget`: the time left (whole seconds, at least
    /// one) as `max_execution_time` and the bytes as `max_bytes_to_read`, both settings
    /// ClickHouse has had since before 18.16. A query past either fails with
    /// [`ClickHouseError::Budget`] rather than answering in part: a page cut short by the
    /// server would carry no cursor to go on from.
    pub fn within(&self, budget: &crate::query::ScanBudget) -> Reader {
        let mut limits = Vec::new();
        if let Some(deadline) = budget.deadline {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            limits.push(("max_execution_time", left.as_secs().max(1).to_string()));
        }
        if let Some(bytes) = budget.max_bytes {
            limits.push(("max_bytes_to_read", bytes.to_string()));
        }
        Reader {
            client: self.client.clone(),
            limits,
        }
    }

    /// The server and table read.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
    ) -> Result<Answer<T>, ClickHouseError> {
        let text = self
            .client
            .query_with(&format!("{sql} FORMAT JSON"), &self.limits)
            .await?;
        serde_json::from_str(&text).map_err(|e| ClickHouseError::Server {
            status: 200,
            message: format!("unreadable answer: {e}"),
        })
    }

    fn from(&self) -> String {
        format!("{} FINAL", self.client.config().qualified())
    }

    /// One page.
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`] when the server does not answer.
    pub async fn page(&self, query: &PageQuery) -> Result<PageRows, ClickHouseError> {
        if query.direction == Direction::Forward {
            return self.page_within(query, None).await;
        }
        // 18.16 cannot stop reading once it has the newest rows (it has no read-in-order),
        // so the newest page is looked for in growing windows back from the newest time:
        // the rows of a window are exactly the newest ones, so a window holding more than
        // `limit` rows answers the page.
        let (oldest, newest) = self.span(query.services.as_deref()).await?;
        let end = match (&query.after, query.filter.until) {
            (Some(key), _) => key.secs,
            (None, Some(until)) => u32::try_from(until.max(0) / SECOND).unwrap_or(u32::MAX),
            (None, None) => newest,
        }
        .min(newest);
        let mut work = Work::default();
        for window in WINDOWS {
            let from = end.saturating_sub(window);
            // A window reaching back past the oldest row is the whole read: do it once.
            if from <= oldest {
                break;
            }
            let mut page = self.page_within(query, Some(from)).await?;
            work.add(page.work);
            if page.next.is_some() {
                page.work = work;
                return Ok(page);
            }
        }
        let mut page = self.page_within(query, None).await?;
        work.add(page.work);
        page.work = work;
        Ok(page)
    }

    /// The oldest and newest second of `services` (0 for none); copies do not matter, so
    /// no `FINAL`.
    async fn span(&self, services: Option<&[String]>) -> Result<(u32, u32), ClickHouseError> {
        #[derive(Deserialize)]
        struct Row {
            oldest: u32,
            newest: u32,
        }
        let sql = format!(
            "SELECT toUInt32(min(ts)) AS oldest, toUInt32(max(ts)) AS newest FROM {} WHERE {}",
            self.client.config().qualified(),
            sql::services(services)
        );
        let answer: Answer<Row> = self.json(&sql).await?;
        Ok(answer.data.first().map_or((0, 0), |r| (r.oldest, r.newest)))
    }

    /// One page, reading only rows at or after second `from` when given.
    async fn page_within(
        &self,
        query: &PageQuery,
        from: Option<u32>,
    ) -> Result<PageRows, ClickHouseError> {
        let (op, dir) = match query.direction {
            Direction::Backward => ("<", "DESC"),
            Direction::Forward => (">", "ASC"),
        };
        let after = query.after.as_ref().map_or("1".into(), |key| key.sql(op));
        let window = from.map_or("1".into(), |from| format!("ts >= toDateTime({from})"));
        let sql = format!(
            "SELECT line, toUInt32(ts) AS secs, ns, service, collector, toString(stream_offset) AS offset \
             FROM {} WHERE {} AND {} AND {} AND {window} \
             ORDER BY ts {dir}, ns {dir}, service {dir}, collector {dir}, stream_offset {dir} LIMIT {}",
            self.from(),
            sql::services(query.services.as_deref()),
            sql::conditions(&query.filter),
            after,
            query.limit + 1
        );
        let answer: Answer<LineRow> = self.json(&sql).await?;
        let work = answer.work();
        let mut rows = answer.data;
        let more = rows.len() > query.limit;
        rows.truncate(query.limit);
        let next = more.then(|| rows.last()).flatten().map(|row| Key {
            secs: row.secs,
            ns: row.ns,
            service: row.service.clone(),
            collector: row.collector.clone(),
            offset: row.offset,
        });
        Ok(PageRows {
            lines: rows.into_iter().map(|r| r.line.into_bytes()).collect(),
            next,
            work,
        })
    }

    /// The name of every service with rows, sorted (copies do not matter here, so no
    /// `FINAL`: a cheap read of one column).
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`] when the server does not answer.
    pub async fn service_names(&self) -> Result<Vec<String>, ClickHouseError> {
        #[derive(Deserialize)]
        struct Row {
            service: String,
        }
        let sql = format!(
            "SELECT DISTINCT service FROM {} ORDER BY service",
            self.client.config().qualified()
        );
        let answer: Answer<Row> = self.json(&sql).await?;
        Ok(answer.data.into_iter().map(|r| r.service).collect())
    }

    /// Every service with rows, sorted by name.
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`] when the server does not answer.
    pub async fn services(&self) -> Result<Vec<ServiceRow>, ClickHouseError> {
        #[derive(Deserialize)]
        struct Row {
            service: String,
            #[serde(deserialize_with = "number")]
            bytes: u64,
            secs: u32,
            ns: u32,
        }
        let sql = format!(
            "SELECT service, toString(sum(length(line) + 1)) AS bytes, \
             toUInt32(max(ts)) AS secs, toUInt32(argMax(ns, (ts, ns))) AS ns \
             FROM {} GROUP BY service ORDER BY service",
            self.from()
        );
        let answer: Answer<Row> = self.json(&sql).await?;
        Ok(answer
            .data
            .into_iter()
            .map(|r| ServiceRow {
                service: r.service,
                bytes: r.bytes,
                last: (r.secs > 0).then(|| r.secs as Nanos * SECOND + r.ns as Nanos),
            })
            .collect())
    }

    /// Entries per bucket and level over the request's window.
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`] when the server does not answer.
    pub async fn histogram(
        &self,
        services: Option<&[String]>,
        request: &HistogramRequest,
    ) -> Result<Histogram, ClickHouseError> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(deserialize_with = "number")]
            bucket: u64,
            level: u8,
            #[serde(deserialize_with = "number")]
            n: u64,
        }
        let mut filter = request.filter.clone();
        filter.since = Some(request.since);
        filter.until = Some(request.until);
        let sql = format!(
            "SELECT toString(intDiv(toInt64(toUInt32(ts)) * 1000000000 + ns - {origin}, {width})) AS bucket, \
             if(severity = 6, 2, severity) AS level, toString(count()) AS n \
             FROM {} WHERE {} AND {} GROUP BY bucket, level",
            self.from(),
            sql::services(services),
            sql::conditions(&filter),
            origin = i64::try_from(request.origin()).unwrap_or(0),
            width = i64::try_from(request.bucket).unwrap_or(i64::MAX),
        );
        let answer: Answer<Row> = self.json(&sql).await?;
        let mut histogram = Histogram {
            buckets: vec![[0; 6]; request.buckets()],
            work: answer.work(),
            index_blocks: 0,
            stopped: None,
        };
        for row in &answer.data {
            if let Some(counts) = histogram.buckets.get_mut(row.bucket as usize) {
                counts[usize::from(row.level.min(5))] += row.n;
            }
        }
        Ok(histogram)
    }

    /// The values of a field over the request's window (always exhaustive).
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`] when the server does not answer.
    pub async fn facets(
        &self,
        services: Option<&[String]>,
        request: &FacetRequest,
    ) -> Result<Facets, ClickHouseError> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
            #[serde(deserialize_with = "number")]
            n: u64,
        }
        let key = sql::string(&request.field.join("."));
        let sql = format!(
            "SELECT if(has(attr_keys, {key}), attr_values[indexOf(attr_keys, {key})], '') AS value, \
             toString(count()) AS n FROM {} WHERE {} AND {} GROUP BY value",
            self.from(),
            sql::services(services),
            sql::conditions(&request.filter),
        );
        let answer: Answer<Row> = self.json(&sql).await?;
        let mut facets = Facets {
            exhaustive: true,
            work: answer.work(),
            ..Facets::default()
        };
        for row in answer.data {
            facets.entries += row.n;
            if let Some(value) = row.value.get(1..).filter(|_| !row.value.is_empty()) {
                *facets.values.entry(value.to_owned()).or_default() += row.n;
            }
        }
        Ok(facets)
    }
}
