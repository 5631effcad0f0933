//! Builds and sends ClickHouse inserts; prepares the table first.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::clickhouse::row::{write_row, Origin};
use crate::clickhouse::{schema, ClickHouseConfig, ClickHouseError, Client};
use crate::forward::{Delivery, SendError, Shipment, Sink};

/// Inserts batches into one ClickHouse table.
#[derive(Debug)]
pub struct ClickHouseSink {
    /// The server and table.
    client: Client,
    /// Whether the table was checked (and created) since the last failure that may mean it
    /// changed.
    ready: AtomicBool,
}

impl ClickHouseSink {
    /// A sink for `config`, each request bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`reqwest::Error`] when the HTTP client cannot be built.
    pub fn new(config: &ClickHouseConfig, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(ClickHouseSink {
            client: Client::new(config, timeout)?,
            ready: AtomicBool::new(false),
        })
    }

    /// Detects the version, creates the table when missing (if allowed) and checks its
    /// columns.
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`]: unreachable, credentials refused, or an incompatible table.
    pub async fn prepare(&self) -> Result<(), ClickHouseError> {
        let config = self.client.config();
        let version = self.client.version().await?;
        let features = schema::Features::of(&version);
        if config.create_table {
            let ddl = schema::create_table(&config.qualified(), features);
            self.client.query(&ddl).await?;
        }
        let columns = self
            .client
            .query(&schema::columns_query(&config.database, &config.table))
            .await?;
        let table = format!("{}.{}", config.database, config.table);
        if columns.trim().is_empty() {
            return Err(ClickHouseError::Schema {
                table,
                reason: "it does not exist and --clickhouse-create-table is off".into(),
            });
        }
        if let Some(reason) = schema::check_columns(&columns) {
            return Err(ClickHouseError::Schema { table, reason });
        }
        tracing::info!(%table, version = ?version, ?features, "ClickHouse table ready");
        Ok(())
    }

    /// The gzip-compressed `JSONEachRow` body for `shipment`'s pending entries.
    pub fn body(&self, shipment: &Shipment) -> Vec<u8> {
        let origin = Origin {
            service: shipment.service.as_str(),
            collector: &self.client.config().collector,
        };
        let mut rows = Vec::with_capacity(shipment.read.buf.len() * 2 + shipment.len() * 200);
        for &i in &shipment.pending {
            write_row(
                &mut rows,
                origin,
                shipment.read.positions[i],
                shipment.read.line(i),
            );
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(rows.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(&rows).expect("writing to memory cannot fail");
        gz.finish().expect("writing to memory cannot fail")
    }
}

impl Sink for ClickHouseSink {
    async fn send(&self, shipment: &Shipment) -> Result<Delivery, SendError> {
        if !self.ready.load(Ordering::Relaxed) {
            self.prepare()
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?;
            self.ready.store(true, Ordering::Relaxed);
        }
        let body = self.body(shipment);
        match self.client.insert(body).await {
            Ok(()) => Ok(Delivery::default()),
            // Every failure is retried, never skipped: the rows are ours and well formed,
            // so a refusal is a server or table problem an operator can fix (and /health
            // shows it). The table is checked again before the next attempt.
            Err(err) => {
                if !matches!(err, ClickHouseError::Unreachable { .. }) {
                    self.ready.store(false, Ordering::Relaxed);
                }
                Err(SendError::Retry(err.to_string()))
            }
        }
    }
}
