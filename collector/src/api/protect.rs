//! Protection against clients that send too much, too slowly, or hold too much open.
//!
//! - Rate limits (off by default): requests per second per client, keyed by token when the
//!   caller sent a valid one and by IP address otherwise, with a burst allowance (GCRA, via
//!   `governor`). Requests, not entries, are counted: the check runs before the body is
//!   read, so a refused request costs nothing to parse, and batching stays rewarded. Behind
//!   a proxy every client shares the proxy's address; use tokens or limit at the proxy.
//! - A deadline for the whole request body, so a body trickling in byte by byte (slowloris)
//!   is cut off with 408 instead of holding a connection and a buffer for ever.
//! - A cap on open live streams (503 beyond it). The cap on connections is
//!   [`super::connections::LimitedListener`].

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// Every this many checks, forget clients whose allowance is full again, so the limiter's
/// memory follows the number of active clients, not every address ever seen.
const PRUNE_EVERY: u64 = 4096;

/// Whom a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    /// A configured token (its position).
    Token(usize),
    /// An address, for callers without a valid token.
    Address(IpAddr),
}

/// How much clients may ask for, as configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Requests per second per client; 0 = no rate limit.
    pub rate_limit: u32,
    /// Requests a client may make at once above its rate; 0 = one second's worth.
    pub rate_limit_burst: u32,
    /// How long a client has to send a whole body; `None` = no limit.
    pub body_timeout: Option<Duration>,
    /// How long a client has to send a request head; `None` = no limit.
    pub header_timeout: Option<Duration>,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client address may hold at once.
    pub max_connections_per_address: usize,
    /// Live streams open at once.
    pub max_streams: usize,
    /// Queries scanning at once (0 counts as 1).
    pub max_queries: usize,
    /// Bytes one query may read; `None` = no limit.
    pub max_scan_bytes: Option<u64>,
    /// How long one query may scan; `None` = no limit.
    pub max_scan_time: Option<Duration>,
}

/// The limits in force. Shared by every request.
#[derive(Debug)]
pub struct Protection {
    /// `None` when rate limiting is off.
    limiter: Option<Limiter>,
    /// One permit per live stream that may be open.
    streams: Arc<Semaphore>,
    /// The configured stream cap, for the error message.
    max_streams: usize,
    /// How long a client has to send a whole body; `None` = no limit.
    body_timeout: Option<Duration>,
    /// How long a client has to send a request head; `None` = no limit.
    header_timeout: Option<Duration>,
    /// Requests stored in part, so their retries store only the rest.
    partly_stored: super::partial::PartlyStored,
    /// The threads queries scan on.
    scans: super::scan_pool::ScanPool,
    max_scan_bytes: Option<u64>,
    max_scan_time: Option<Duration>,
}

#[derive(Debug)]
struct Limiter {
    limiter: DefaultKeyedRateLimiter<ClientKey>,
    clock: DefaultClock,
    /// Checks so far, to prune every [`PRUNE_EVERY`].
    checks: AtomicU64,
}

impl Protection {
    /// The limits in force, with the query threads started.
    ///
    /// # Errors
    ///
    /// When the operating system refuses a query thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::api::protect::{Limits, Protection};
    ///
    /// let protection = Protection::new(Limits { rate_limit: 100, max_streams: 8, ..Limits::default() })?;
    /// assert!(protection.admit(None, None).is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(limits: Limits) -> std::io::Result<Self> {
        Ok(Protection {
            limiter: NonZeroU32::new(limits.rate_limit)
                .map(|rate| Limiter::new(rate, limits.rate_limit_burst)),
            streams: Arc::new(Semaphore::new(
                limits.max_streams.min(Semaphore::MAX_PERMITS),
            )),
            max_streams: limits.max_streams,
            body_timeout: limits.body_timeout,
            header_timeout: limits.header_timeout,
            partly_stored: super::partial::PartlyStored::default(),
            scans: super::scan_pool::ScanPool::new(limits.max_queries)?,
            max_scan_bytes: limits.max_scan_bytes,
            max_scan_time: limits.max_scan_time,
        })
    }

    /// A fresh budget for one query request, from the configured limits.
    pub fn scan_budget(&self) -> crate::query::ScanBudget {
        crate::query::ScanBudget {
            max_bytes: self.max_scan_bytes,
            deadline: self.max_scan_time.map(|t| std::time::Instant::now() + t),
            cancelled: Arc::default(),
        }
    }

    /// The threads queries scan on, at most the configured number at once.
    pub fn scans(&self) -> &super::scan_pool::ScanPool {
        &self.scans
    }

    /// Queries scanning now.
    pub fn queries_running(&self) -> usize {
        self.scans.running()
    }

    /// The ledger of requests stored in part.
    pub fn partly_stored(&self) -> &super::partial::PartlyStored {
        &self.partly_stored
    }

    /// How long a client has to send a request head (applied by
    /// [`super::connections::serve`]); `None` = no limit.
    pub fn header_timeout(&self) -> Option<Duration> {
        self.header_timeout
    }

    /// Whether rate limiting is on.
    pub fn rate_limited(&self) -> bool {
        self.limiter.is_some()
    }

    /// Charges one request to the caller: its token when it has a valid one, else its
    /// address (unknown addresses share one allowance).
    ///
    /// # Errors
    ///
    /// [`ApiError::RateLimited`] with the seconds to wait.
    pub fn admit(&self, token: Option<usize>, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let key = match token {
            Some(index) => ClientKey::Token(index),
            None => ClientKey::Address(address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
        };
        limiter.check(&key)
    }

    /// Takes a live-stream slot, held for as long as the stream is open.
    ///
    /// # Errors
    ///
    /// [`ApiError::TooManyStreams`] when every slot is taken.
    pub fn open_stream(&self) -> Result<StreamSlot, ApiError> {
        self.streams
            .clone()
            .try_acquire_owned()
            .map(|permit| StreamSlot { _permit: permit })
            .map_err(|_| ApiError::TooManyStreams {
                limit: self.max_streams,
            })
    }

    /// Runs `read` (receiving a request body) under the body deadline.
    ///
    /// # Errors
    ///
    /// [`ApiError::RequestTimeout`] when the deadline passes first; else `read`'s own error.
    pub async fn read_body<T>(
        &self,
        read: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let Some(limit) = self.body_timeout else {
            return read.await;
        };
        tokio::time::timeout(limit, read)
            .await
            .map_err(|_| ApiError::RequestTimeout {
                seconds: limit.as_secs(),
            })?
    }
}

impl Limiter {
    fn new(rate: NonZeroU32, burst: u32) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        Limiter {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    fn check(&self, key: &ClientKey) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// A live stream's place under the cap; the slot frees when the stream is dropped.
#[derive(Debug)]
pub struct StreamSlot {
    /// Returned to the cap when the slot is dropped.
    _permit: OwnedSemaphorePermit,
}

impl StreamSlot {
    /// `stream`, holding this slot until it ends or the client goes away.
    pub fn hold<S: Stream>(self, stream: S) -> impl Stream<Item = S::Item> {
        stream.map(move |item| {
            let _held = &self;
            item
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults of `estuary serve`, changed by `change`.
    fn protection(change: impl FnOnce(&mut Limits)) -> Protection {
        let mut limits = Limits {
            body_timeout: Some(Duration::from_secs(30)),
            header_timeout: Some(Duration::from_secs(60)),
            max_connections: 8192,
            max_streams: 1024,
            ..Limits::default()
        };
        change(&mut limits);
        Protection::new(limits).unwrap()
    }

    #[test]
    fn a_client_over_its_burst_is_told_when_to_retry_and_others_are_not_affected() {
        let protection = protection(|l| {
            l.rate_limit = 1;
            l.rate_limit_burst = 2;
        });
        let me = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(protection.admit(None, me).is_ok());
        assert!(protection.admit(None, me).is_ok());
        match protection.admit(None, me) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("{other:?}"),
        }
        assert!(
            protection.admit(Some(0), me).is_ok(),
            "a token has its own allowance"
        );
        assert!(protection
            .admit(None, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            .is_ok());
    }

    #[test]
    fn rate_limiting_is_off_by_default() {
        let protection = protection(|_| {});
        assert!(!protection.rate_limited());
        assert!((0..10_000).all(|_| protection.admit(None, None).is_ok()));
    }

    #[test]
    fn stream_slots_free_when_the_stream_is_dropped() {
        let protection = protection(|l| l.max_streams = 1);
        let held = protection
            .open_stream()
            .unwrap()
            .hold(futures_util::stream::empty::<()>());
        assert!(matches!(
            protection.open_stream(),
            Err(ApiError::TooManyStreams { limit: 1 })
        ));
        drop(held);
        assert!(protection.open_stream().is_ok());
    }

    #[tokio::test]
    async fn a_body_slower_than_the_deadline_times_out() {
        let protection = protection(|l| l.body_timeout = Some(Duration::from_secs(1)));
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, ApiError>(())
        };
        assert!(matches!(
            protection.read_body(slow).await,
            Err(ApiError::RequestTimeout { seconds: 1 })
        ));
    }
}
