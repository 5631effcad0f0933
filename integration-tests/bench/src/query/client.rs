//! Timed queries: one `GET /logs/<service>?…` page, or every page of a query by following
//! `next_cursor`, with the work the collector reports having done for each.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

use crate::http::{self, Conn};

/// One page's answer.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Entries returned.
    pub count: u64,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
    /// Bytes the collector read.
    pub scanned_bytes: u64,
    /// Files it read.
    pub files_scanned: u64,
    /// Segments it skipped by their time range.
    pub segments_skipped: u64,
    /// From sending the request to having the whole answer.
    pub took: Duration,
}

/// All pages of a query.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// The pages, in order.
    pub pages: Vec<Page>,
}

impl Walk {
    /// Entries over all pages.
    pub fn count(&self) -> u64 {
        self.pages.iter().map(|p| p.count).sum()
    }

    /// Bytes read over all pages.
    pub fn scanned_bytes(&self) -> u64 {
        self.pages.iter().map(|p| p.scanned_bytes).sum()
    }

    /// Time over all pages.
    pub fn took(&self) -> Duration {
        self.pages.iter().map(|p| p.took).sum()
    }
}

/// A keep-alive connection to the collector for queries.
pub struct QueryClient {
    conn: Conn,
    addr: SocketAddr,
}

impl QueryClient {
    /// Connects to the collector at `addr`.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(QueryClient {
            conn: Conn::connect(addr).await?,
            addr,
        })
    }

    /// Fetches one page of `target` (a path and query string), timing it.
    ///
    /// # Errors
    ///
    /// An I/O error, an answer other than 200, or a body that is not the query's JSON.
    pub async fn page(&mut self, target: &str) -> anyhow::Result<Page> {
        let request = http::get(self.addr, target);
        let began = Instant::now();
        let reply = self.conn.send(&request).await?;
        let took = began.elapsed();
        ensure!(
            reply.status == 200,
            "GET {target} answered {}: {}",
            reply.status,
            String::from_utf8_lossy(reply.body)
        );
        let body: serde_json::Value =
            serde_json::from_slice(reply.body).with_context(|| format!("GET {target}"))?;
        let number = |name: &str| {
            body[name]
                .as_u64()
                .with_context(|| format!("GET {target}: no {name} in the answer"))
        };
        Ok(Page {
            count: number("count")?,
            next_cursor: body["next_cursor"].as_str().map(str::to_owned),
            scanned_bytes: number("scanned_bytes")?,
            files_scanned: number("files_scanned")?,
            segments_skipped: number("segments_skipped")?,
            took,
        })
    }

    /// Fetches every page of `target`, following `next_cursor`.
    ///
    /// # Errors
    ///
    /// As [`QueryClient::page`], or a cursor that would need escaping.
    pub async fn walk(&mut self, target: &str) -> anyhow::Result<Walk> {
        let mut walk = Walk::default();
        let mut next = Some(target.to_owned());
        while let Some(page_target) = next.take() {
            let page = self.page(&page_target).await?;
            if let Some(cursor) = &page.next_cursor {
                ensure!(
                    cursor.bytes().all(|b| b.is_ascii_alphanumeric()),
                    "cursor {cursor:?} needs escaping"
                );
                next = Some(format!("{target}&cursor={cursor}"));
            }
            walk.pages.push(page);
        }
        Ok(walk)
    }
}
