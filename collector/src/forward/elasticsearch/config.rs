//! Elasticsearch settings.

use crate::forward::http::Auth;
use crate::timefmt::Nanos;

/// The index by default: one per service and UTC day, as Logstash and Beats name them.
pub const DEFAULT_INDEX: &str = "logs-{service}-{yyyy.MM.dd}";

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct ElasticsearchConfig {
    /// The base URL, as given.
    pub url: String,
    /// The full `_bulk` URL.
    pub bulk_url: String,
    /// The index each entry goes to.
    pub index: IndexTemplate,
    /// Basic or bearer authentication.
    pub auth: Auth,
}

impl ElasticsearchConfig {
    /// Sends to `url` (a base URL: `http://es:9200`) into the indexes `index` names.
    pub fn new(url: &str, index: IndexTemplate, auth: Auth) -> Self {
        ElasticsearchConfig {
            url: url.to_owned(),
            bulk_url: format!("{}/_bulk", url.trim_end_matches('/')),
            index,
            auth,
        }
    }
}

/// An index name template: `{service}` is the service, and a `{…}` holding `yyyy`, `MM`
/// and/or `dd` is the entry's UTC date in that shape. A name without date is a fixed
/// index or a data stream.
///
/// # Examples
///
/// ```
/// use estuary_collector::forward::elasticsearch::IndexTemplate;
///
/// let template = IndexTemplate("logs-{service}-{yyyy.MM.dd}".into());
/// // 2026-11-25T12:00:00Z
/// assert_eq!(template.render("api", 1_795_608_000_000_000_000), "logs-api-2026.11.25");
/// ```
#[derive(Debug, Clone)]
pub struct IndexTemplate(pub String);

impl IndexTemplate {
    /// The index of an entry of `service` stamped `ts` (unix nanoseconds).
    pub fn render(&self, service: &str, ts: Nanos) -> String {
        let date = time::OffsetDateTime::from_unix_timestamp_nanos(ts)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let mut out = String::with_capacity(self.0.len() + service.len());
        let mut rest = self.0.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let token = &rest[open + 1..open + close];
            if token == "service" {
                out.push_str(service);
            } else {
                out.push_str(
                    &token
                        .replace("yyyy", &format!("{:04}", date.year()))
                        .replace("MM", &format!("{:02}", u8::from(date.month())))
                        .replace("dd", &format!("{:02}", date.day())),
                );
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Whether the name depends on the entry's date (else one name per service).
    pub fn is_dated(&self) -> bool {
        self.0.contains("yyyy") || self.0.contains("MM") || self.0.contains("dd")
    }
}
