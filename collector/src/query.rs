//! What a query asks and what it gets back, independent of where entries are kept.
//!
//! A [`PageRequest`] (filter, limit, direction, cursor) goes to a query backend — today the
//! file [`crate::store::Store`]; the types name no file, so another backend (a column
//! store holding the same entries) can answer the same requests. A [`Page`] carries the
//! stored lines as bytes, the position to continue from, and the [`Work`] the answer cost.
//!
//! Positions are a service's *stream positions*: every stored line has a stable `u64` in
//! its service's stream that never changes (rotation, compression and retention do not
//! move it), so a cursor stays valid while entries arrive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::filter::LineFilter;
use crate::timefmt::Nanos;

/// Which way a query walks a service's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first; a cursor is an exclusive upper bound.
    Backward,
    /// Oldest first; a cursor is an inclusive lower bound.
    Forward,
}

/// How a page is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// The default (the original API's form): the newest matches, listed oldest first;
    /// further pages go back in time.
    #[default]
    LatestOldestFirst,
    /// The newest matches, listed newest first; further pages go back in time.
    Desc,
    /// The oldest matches, listed oldest first; further pages go forward in time.
    Asc,
}

impl Order {
    /// The walk behind this order.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::query::{Direction, Order};
    ///
    /// assert_eq!(Order::default().direction(), Direction::Backward);
    /// assert_eq!(Order::Asc.direction(), Direction::Forward);
    /// ```
    pub fn direction(self) -> Direction {
        match self {
            Order::Asc => Direction::Forward,
            Order::LatestOldestFirst | Order::Desc => Direction::Backward,
        }
    }
}

/// One page of one service's entries.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Which entries match.
    pub filter: LineFilter,
    /// How many to return.
    pub limit: usize,
    /// Newest or oldest first.
    pub direction: Direction,
    /// Where the previous page stopped (a stream position), if any.
    pub cursor: Option<u64>,
    /// What the scan may spend.
    pub budget: ScanBudget,
}

/// What one request may spend scanning, and whether anyone still wants the answer. A
/// scan that runs out stops with what it found and a cursor to continue from.
///
/// # Examples
///
/// ```
/// use estuary_collector::query::{ScanBudget, Stop};
///
/// let budget = ScanBudget { max_bytes: Some(1000), ..ScanBudget::default() };
/// assert_eq!(budget.check(999), None);
/// assert_eq!(budget.check(1000), Some(Stop::Bytes));
/// budget.cancel();
/// assert_eq!(ScanBudget::default().check(u64::MAX), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScanBudget {
    /// Most bytes to read; `None`: no limit.
    pub max_bytes: Option<u64>,
    /// When to stop; `None`: no limit.
    pub deadline: Option<Instant>,
    /// Set when the client went away or the collector is shutting down.
    pub cancelled: Arc<AtomicBool>,
}

/// Why a scan stopped before it had its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It read `max_bytes`.
    Bytes,
    /// It reached its deadline.
    Time,
    /// Nobody wants the answer any more.
    Cancelled,
}

impl Stop {
    /// How an answer names it.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Bytes => "scan_bytes",
            Stop::Time => "scan_time",
            Stop::Cancelled => "cancelled",
        }
    }
}

impl ScanBudget {
    /// Whether a scan that has read `read` bytes must stop, and why.
    pub fn check(&self, read: u64) -> Option<Stop> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Some(Stop::Cancelled);
        }
        if self.max_bytes.is_some_and(|max| read >= max) {
            return Some(Stop::Bytes);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(Stop::Time);
        }
        None
    }

    /// Whether the scan was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Tells every scan under this budget to stop.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

/// What one scan has read, measured against its budget: the bytes every line, the clock
/// and the cancel flag every [`ScanMeter::LINES_PER_LOOK`] lines (looking at the clock per
/// line would cost more than a text filter).
///
/// # Examples
///
/// ```
/// use estuary_collector::query::{ScanBudget, ScanMeter, Stop};
///
/// let mut meter = ScanMeter::new(ScanBudget { max_bytes: Some(1000), ..ScanBudget::default() });
/// let mut lines = 0;
/// while meter.read(100) {
///     lines += 1;
/// }
/// assert_eq!(meter.stopped(), Some(Stop::Bytes));
/// assert!(lines >= 9);
/// ```
#[derive(Debug, Clone)]
pub struct ScanMeter {
    budget: ScanBudget,
    read: u64,
    since_look: u32,
    stopped: Option<Stop>,
}

impl ScanMeter {
    /// Lines read between two looks at the budget.
    pub const LINES_PER_LOOK: u32 = 256;

    /// A meter at zero for `budget`.
    pub fn new(budget: ScanBudget) -> Self {
        ScanMeter {
            budget,
            read: 0,
            since_look: 0,
            stopped: None,
        }
    }

    /// Counts a line of `bytes` (its newline included); says whether the scan may go on.
    pub fn read(&mut self, bytes: u64) -> bool {
        self.read += bytes;
        self.since_look += 1;
        if self.since_look >= Self::LINES_PER_LOOK {
            self.since_look = 0;
            self.stopped = self.stopped.or(self.budget.check(self.read));
        }
        self.stopped.is_none()
    }

    /// Counts `bytes` read in one go (a stretch the caller could not see line by line);
    /// the budget is looked at on the next line or [`ScanMeter::may_go_on`].
    pub fn add(&mut self, bytes: u64) {
        self.read += bytes;
    }

    /// Whether the scan was cancelled (its client left, or the collector is stopping).
    pub fn is_cancelled(&self) -> bool {
        self.budget.is_cancelled()
    }

    /// Bytes counted so far.
    pub fn read_bytes(&self) -> u64 {
        self.read
    }

    /// Whether the scan may go on, looking at the budget now (between files or ranges).
    pub fn may_go_on(&mut self) -> bool {
        self.stopped = self.stopped.or(self.budget.check(self.read));
        self.stopped.is_none()
    }

    /// Why the scan stopped, once it has.
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }
}

impl PageRequest {
    /// The newest `limit` entries, unfiltered.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = estuary_collector::query::PageRequest::newest(1);
    /// assert_eq!(request.limit, 1);
    /// assert!(request.cursor.is_none());
    /// ```
    pub fn newest(limit: usize) -> Self {
        PageRequest {
            filter: LineFilter::default(),
            limit,
            direction: Direction::Backward,
            cursor: None,
            budget: ScanBudget::default(),
        }
    }
}

/// One matching entry.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Its stream position.
    pub position: u64,
    /// The stored line, without `\n`.
    pub line: Vec<u8>,
}

/// What answering cost; reported with every page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Bytes read (uncompressed).
    pub scanned_bytes: u64,
    /// Files (or parts) read.
    pub files_scanned: usize,
    /// Parts skipped because their time range cannot match.
    pub segments_skipped: usize,
}

impl Work {
    /// Adds `other` to this total.
    pub fn add(&mut self, other: Work) {
        self.scanned_bytes += other.scanned_bytes;
        self.files_scanned += other.files_scanned;
        self.segments_skipped += other.segments_skipped;
    }
}

/// What a page request found.
#[derive(Debug, Default)]
pub struct Page {
    /// Matches in walk order.
    pub hits: Vec<Hit>,
    /// Where the next page starts, when more entries match.
    pub next_cursor: Option<u64>,
    /// The work done.
    pub work: Work,
    /// The end of the service's stream when the query started: a live follower skips
    /// commits ending at or before it (it has seen them in the page).
    pub stream_end: u64,
    /// Set when the scan stopped at its budget before it had its page: `next_cursor`
    /// continues from where it stopped.
    pub stopped: Option<Stopped>,
}

/// Where a scan that ran out of budget stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Why.
    pub reason: Stop,
    /// The instant of the last entry it examined, when it examined any with a time: every
    /// entry before it in the walk was examined.
    pub last_examined: Option<Nanos>,
    /// Whether it examined any entry.
    pub examined_any: bool,
}

/// One service's place in a paged query, as carried by a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Not started: from the end (backward) or the beginning (forward).
    Start,
    /// Continue from this stream position.
    At(u64),
    /// Nothing more.
    Done,
}

/// How a finished position is written in a cursor.
const DONE: &str = "done";

impl Position {
    /// Encodes the position for `direction`: `b123`/`f123` (walk and position), `b`/`f`
    /// (start), `done`.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::query::{Direction, Position};
    ///
    /// let text = Position::At(42).encode(Direction::Backward);
    /// assert_eq!(text, "b42");
    /// assert_eq!(Position::decode(Direction::Backward, &text), Some(Position::At(42)));
    /// assert_eq!(Position::decode(Direction::Forward, &text), None); // the other order
    /// ```
    pub fn encode(self, direction: Direction) -> String {
        let tag = tag(direction);
        match self {
            Position::Start => tag.to_string(),
            Position::At(position) => format!("{tag}{position}"),
            Position::Done => DONE.into(),
        }
    }

    /// Decodes what [`Position::encode`] wrote for the same direction; `None` when the text
    /// is malformed or from the other direction.
    pub fn decode(direction: Direction, text: &str) -> Option<Position> {
        if text == DONE {
            return Some(Position::Done);
        }
        let rest = text.strip_prefix(tag(direction))?;
        if rest.is_empty() {
            return Some(Position::Start);
        }
        rest.parse().ok().map(Position::At)
    }
}

fn tag(direction: Direction) -> char {
    match direction {
        Direction::Forward => 'f',
        Direction::Backward => 'b',
    }
}

/// Entries per time bucket by level, over a window.
#[derive(Debug, Clone)]
pub struct HistogramRequest {
    /// Which entries count; its `since`/`until` are replaced by the window below.
    pub filter: LineFilter,
    /// The window's first instant (unix nanoseconds), inclusive.
    pub since: Nanos,
    /// The window's last instant, inclusive.
    pub until: Nanos,
    /// The bucket width in nanoseconds; buckets start at multiples of it.
    pub bucket: Nanos,
    /// What the entries the count index cannot answer for may cost to read.
    pub budget: ScanBudget,
}

impl HistogramRequest {
    /// Where the first bucket starts.
    pub fn origin(&self) -> Nanos {
        self.since.div_euclid(self.bucket) * self.bucket
    }

    /// How many buckets the window spans.
    pub fn buckets(&self) -> usize {
        ((self.until - self.origin()) / self.bucket + 1).max(0) as usize
    }

    /// The bucket of an instant inside the window.
    pub fn bucket_of(&self, ts: Nanos) -> usize {
        ((ts - self.origin()) / self.bucket) as usize
    }
}

/// Counts per severity: trace, debug, info, warn, error, fatal (entries without a level
/// count as info, as the `level` filter sees them).
pub type LevelCounts = [u64; 6];

/// What a histogram request found.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// One count set per bucket, oldest first.
    pub buckets: Vec<LevelCounts>,
    /// The work done.
    pub work: Work,
    /// Index blocks whose counts were used without reading their entries.
    pub index_blocks: usize,
    /// Why counting stopped before the end of the window (the counts then cover part of
    /// it); `None`: they are complete.
    pub stopped: Option<Stop>,
}

impl Histogram {
    /// Adds `other` (of the same request) to this one.
    pub fn add(&mut self, other: &Histogram) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), [0; 6]);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        self.work.add(other.work);
        self.index_blocks += other.index_blocks;
        self.stopped = self.stopped.or(other.stopped);
    }
}

/// The most frequent values of a field, over a window, under a scan budget.
#[derive(Debug, Clone)]
pub struct FacetRequest {
    /// Which entries count (with its time window).
    pub filter: LineFilter,
    /// The field, as a path of keys (`["fields", "user_id"]`).
    pub field: Vec<String>,
    /// What reading may cost (across every service of one request).
    pub budget: ScanBudget,
}

/// What a facet request counted.
#[derive(Debug, Clone, Default)]
pub struct Facets {
    /// Each value seen (strings as themselves, other JSON values as their text) and its
    /// count.
    pub values: std::collections::HashMap<String, u64>,
    /// Matching entries read (with or without the field).
    pub entries: u64,
    /// Whether every entry of the window was read (false: stopped at the budget).
    pub exhaustive: bool,
    /// Why reading stopped early, when it did.
    pub stopped: Option<Stop>,
    /// The work done.
    pub work: Work,
}
