//! The count index: a sparse record per block of a file (about 64 KiB, and at least one
//! per minute of entry time), written as commits happen, with the block's stream range,
//! the first and last entry time and the number of entries per level.
//!
//! Each file of a service's stream (the active file and every segment) has a sidecar
//! `segments/<service>/<start>.idx`, named by the file's start position, which rotation
//! does not change — so a segment keeps its index without a rename, and retention deletes
//! both. Records are fixed-size with a checksum, appended in stream order; a torn or
//! corrupt record ends the valid part. The files stay the source of truth: whatever the
//! index does not cover is scanned, and it is rebuilt from the file when it is missing,
//! torn or behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::body::LineFacts;
use crate::filter::EntryFacts;
use crate::timefmt::Nanos;

/// Bytes of entries after which a block is closed.
pub const BLOCK_BYTES: u64 = 64 * 1024;
/// A block never spans two UTC minutes of entry time when entries arrive in order, so
/// histograms with buckets of a minute or more are answered from the index alone.
pub const BLOCK_GRAIN: Nanos = 60_000_000_000;
/// Level slots: trace, debug, info, warn, error, fatal, other.
pub const LEVELS: usize = 7;
/// Bytes of one record on disk.
const RECORD: usize = 8 * 5 + 4 + 4 * LEVELS + 4;
/// The sidecar's ending.
const SUFFIX: &str = ".idx";
/// `gz_offset` of a block in an uncompressed file.
pub const PLAIN: u64 = u64::MAX;

/// One block of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Its first byte's stream position.
    pub start: u64,
    /// One past its last byte's stream position.
    pub end: u64,
    /// In a gzip segment, where the block's own gzip member starts in the file; [`PLAIN`]
    /// otherwise.
    pub gz_offset: u64,
    /// The earliest entry time (unix nanoseconds, saturated to `i64`); `i64::MAX` when no
    /// entry has a time.
    pub first: i64,
    /// The latest entry time; `i64::MIN` when no entry has a time.
    pub last: i64,
    /// Entries without an RFC 3339 `timestamp`.
    pub untimed: u32,
    /// Entries with a time, per level slot.
    pub counts: [u32; LEVELS],
}

impl Block {
    /// An empty block starting at `start`.
    pub fn empty(start: u64) -> Self {
        Block {
            start,
            end: start,
            gz_offset: PLAIN,
            first: i64::MAX,
            last: i64::MIN,
            untimed: 0,
            counts: [0; LEVELS],
        }
    }

    /// Adds one line of `bytes` bytes.
    pub fn add(&mut self, bytes: u64, facts: EntryFacts) {
        self.end += bytes;
        match facts.timestamp {
            Some(ts) => {
                let ts = saturate(ts);
                self.first = self.first.min(ts);
                self.last = self.last.max(ts);
                self.counts[usize::from(facts.level).min(LEVELS - 1)] += 1;
            }
            None => self.untimed += 1,
        }
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Whether an entry at `ts` would make the block span two grains.
    fn crosses_grain(&self, ts: Option<Nanos>) -> bool {
        let Some(ts) = ts else { return false };
        if self.first > self.last {
            return false;
        }
        let grain = |t: i64| t.div_euclid(BLOCK_GRAIN as i64);
        let ts = grain(saturate(ts));
        ts != grain(self.first) || ts != grain(self.last)
    }

    /// Whether entries within `[since, until]` may be in this block.
    /// Untimed entries match no window, so a block of only those overlaps none.
    pub fn may_overlap(&self, since: Option<Nanos>, until: Option<Nanos>) -> bool {
        if self.first > self.last {
            return false;
        }
        since.is_none_or(|s| i128::from(self.last) >= s)
            && until.is_none_or(|u| i128::from(self.first) <= u)
    }

    fn encode(&self) -> [u8; RECORD] {
        let mut out = [0u8; RECORD];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&self.start.to_le_bytes());
        put(&self.end.to_le_bytes());
        put(&self.gz_offset.to_le_bytes());
        put(&self.first.to_le_bytes());
        put(&self.last.to_le_bytes());
        put(&self.untimed.to_le_bytes());
        for count in self.counts {
            put(&count.to_le_bytes());
        }
        let crc = crc32fast::hash(&out[..RECORD - 4]);
        out[RECORD - 4..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(record: &[u8]) -> Option<Block> {
        let (body, crc) = record.split_at(RECORD - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        let mut counts = [0u32; LEVELS];
        for (k, count) in counts.iter_mut().enumerate() {
            *count = u32_at(44 + 4 * k);
        }
        Some(Block {
            start: u64_at(0),
            end: u64_at(8),
            gz_offset: u64_at(16),
            first: u64_at(24) as i64,
            last: u64_at(32) as i64,
            untimed: u32_at(40),
            counts,
        })
    }
}

/// Nanoseconds as `i64`, saturated (years before 1677 or after 2262 stay at the ends).
pub fn saturate(ts: Nanos) -> i64 {
    ts.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The sidecar of the file that starts at stream position `start` in `dir` (the service's
/// segments folder).
pub fn sidecar(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start}{SUFFIX}"))
}

/// The start position a sidecar's name gives, when `name` is one.
pub fn sidecar_start(name: &str) -> Option<u64> {
    name.strip_suffix(SUFFIX)?.parse().ok()
}

/// The valid blocks of a sidecar that describe the file starting at `start`: contiguous
/// from `start`, each checksummed. Stops at the first record that is torn, corrupt or out
/// of place. A missing sidecar has none.
pub fn load(path: &Path, start: u64) -> io::Result<Vec<Block>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut blocks: Vec<Block> = Vec::with_capacity(bytes.len() / RECORD);
    let mut expected = start;
    for record in bytes.chunks_exact(RECORD) {
        match Block::decode(record) {
            Some(block) if block.start == expected && block.end > block.start => {
                expected = block.end;
                blocks.push(block);
            }
            _ => break,
        }
    }
    Ok(blocks)
}

/// Where the valid records of a sidecar end, so appends go after them (a torn tail is cut).
fn valid_len(blocks: &[Block]) -> u64 {
    (blocks.len() * RECORD) as u64
}

/// Writes `blocks` as a whole new sidecar at `path` (write aside, then rename).
pub fn write_all(path: &Path, blocks: &[Block]) -> io::Result<()> {
    let tmp = path.with_extension("idx.tmp");
    let mut out = Vec::with_capacity(blocks.len() * RECORD);
    for block in blocks {
        out.extend_from_slice(&block.encode());
    }
    let written = fs::write(&tmp, out).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Blocks for the lines of a plain file's bytes `[from, to)` (file offsets; `base` is the
/// file's start position), cut like the writer cuts them.
pub fn build_from(reader: impl Read, base: u64, from: u64, to: u64) -> io::Result<Vec<Block>> {
    let mut cutter = Cutter::new(base + from);
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut line = Vec::new();
    let mut at = from;
    while at < to {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)? as u64;
        if n == 0 || line.last() != Some(&b'\n') || at + n > to {
            break;
        }
        let facts = EntryFacts::of_line(&line[..line.len() - 1]);
        cutter.add(n, facts);
        at += n;
    }
    Ok(cutter.finish())
}

/// Cuts a stream of lines into blocks: at [`BLOCK_BYTES`], and when an entry's time would
/// take a block across a minute.
#[derive(Debug)]
pub struct Cutter {
    open: Block,
    done: Vec<Block>,
}

impl Cutter {
    /// A cutter whose first block starts at `start`.
    pub fn new(start: u64) -> Self {
        Cutter {
            open: Block::empty(start),
            done: Vec::new(),
        }
    }

    /// Adds one line.
    pub fn add(&mut self, bytes: u64, facts: EntryFacts) {
        if !self.open.is_empty() && self.open.crosses_grain(facts.timestamp) {
            self.close();
        }
        self.open.add(bytes, facts);
        if self.open.end - self.open.start >= BLOCK_BYTES {
            self.close();
        }
    }

    /// Adds the lines of one commit.
    pub fn add_all(&mut self, facts: &[LineFacts]) {
        for line in facts {
            self.add(u64::from(line.bytes), line.facts);
        }
    }

    fn close(&mut self) {
        let end = self.open.end;
        self.done
            .push(std::mem::replace(&mut self.open, Block::empty(end)));
    }

    /// Takes the blocks closed so far (the open one stays).
    pub fn take_closed(&mut self) -> Vec<Block> {
        std::mem::take(&mut self.done)
    }

    /// Closes the open block (when it has entries) and returns every block.
    pub fn finish(mut self) -> Vec<Block> {
        if !self.open.is_empty() {
            self.close();
        }
        self.done
    }

    /// Where the next line starts.
    pub fn end(&self) -> u64 {
        self.open.end
    }
}

/// The index being written for the active file: the cutter and the sidecar it appends to.
#[derive(Debug)]
pub struct ActiveIndex {
    path: PathBuf,
    cutter: Cutter,
    /// Records written, to cut a torn tail before the first append.
    written: u64,
}

impl ActiveIndex {
    /// Opens (and repairs) the sidecar of the active file at `path`, which starts at
    /// stream position `base` and holds `len` bytes: missing or torn records are rebuilt
    /// from the file.
    pub fn open(dir: &Path, file: &File, base: u64, len: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = sidecar(dir, base);
        let mut blocks = load(&path, base)?;
        if blocks.last().is_some_and(|b| b.end > base + len) {
            // The index says more than the file holds (the file was cut): start over.
            blocks.clear();
        }
        let covered = blocks.last().map_or(base, |b| b.end);
        let rebuilt = build_from(
            file_reader(file, covered - base)?,
            base,
            covered - base,
            len,
        )?;
        blocks.extend(rebuilt);
        let written = valid_len(&blocks);
        if fs::metadata(&path).map_or(0, |m| m.len()) != written {
            // Records were missing, torn or rebuilt: write the index whole.
            write_all(&path, &blocks)?;
        }
        let end = blocks.last().map_or(base, |b| b.end);
        Ok(ActiveIndex {
            path,
            cutter: Cutter::new(end),
            written,
        })
    }

    /// Records one commit's lines, appending the blocks it closed. A failure here is
    /// logged by the caller and never fails the commit: the index is rebuilt on the next
    /// open, and until then queries scan what it does not cover.
    pub fn record(&mut self, facts: &[LineFacts]) -> io::Result<()> {
        self.cutter.add_all(facts);
        let closed = self.cutter.take_closed();
        self.append(&closed)
    }

    /// Closes the open block and writes it (before the file becomes a segment).
    pub fn seal(mut self) -> io::Result<()> {
        let end = self.cutter.end();
        let rest = std::mem::replace(&mut self.cutter, Cutter::new(end)).finish();
        self.append(&rest)
    }

    fn append(&mut self, blocks: &[Block]) -> io::Result<()> {
        if blocks.is_empty() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(blocks.len() * RECORD);
        for block in blocks {
            out.extend_from_slice(&block.encode());
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&out)?;
        self.written += out.len() as u64;
        Ok(())
    }
}

/// Rebuilds the index of every segment of `segments` (one service's, in folder `dir`)
/// whose sidecar is missing, torn or short, and deletes sidecars left by segments that
/// retention deleted (those before the oldest segment). A gzip segment rebuilt this way
/// cannot be entered mid-way (its blocks have no member offsets); it is read from its start.
pub fn repair_segments(dir: &Path, segments: &[super::segments::Segment]) -> io::Result<()> {
    for segment in segments {
        let path = sidecar(dir, segment.start);
        if load(&path, segment.start)?
            .last()
            .map_or(segment.start, |b| b.end)
            == segment.end
        {
            continue;
        }
        let file = File::open(&segment.path)?;
        let len = segment.end - segment.start;
        let blocks = if segment.compressed {
            build_from(
                flate2::read::MultiGzDecoder::new(file),
                segment.start,
                0,
                len,
            )?
        } else {
            build_from(file, segment.start, 0, len)?
        };
        write_all(&path, &blocks)?;
    }
    for entry in fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(start) = sidecar_start(&name.to_string_lossy()) else {
            continue;
        };
        if segments.first().is_some_and(|oldest| start < oldest.start) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// A reader of `file` from byte `from`.
fn file_reader(file: &File, from: u64) -> io::Result<impl Read + '_> {
    use std::io::{Seek, SeekFrom};
    let mut handle = file;
    handle.seek(SeekFrom::Start(from))?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(level: u8, ts: Option<Nanos>) -> EntryFacts {
        EntryFacts {
            level,
            timestamp: ts,
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_or_corrupt_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Block::empty(100);
        a.add(50, facts(4, Some(7)));
        a.add(10, facts(6, None));
        let mut b = Block::empty(160);
        b.add(5, facts(0, Some(-3)));
        let path = sidecar(dir.path(), 100);
        write_all(&path, &[a, b]).unwrap();
        assert_eq!(load(&path, 100).unwrap(), vec![a, b]);
        assert!(
            load(&path, 0).unwrap().is_empty(),
            "blocks must start at the file's start"
        );
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(RECORD + 10);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(load(&path, 100).unwrap(), vec![a]);
        let mut bytes = fs::read(&path).unwrap();
        bytes[3] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(load(&path, 100).unwrap().is_empty());
        assert_eq!(sidecar_start("100.idx"), Some(100));
        assert_eq!(sidecar_start("100.log"), None);
    }

    #[test]
    fn blocks_are_cut_by_size_and_by_minute() {
        let minute = BLOCK_GRAIN;
        let mut cutter = Cutter::new(0);
        cutter.add(10, facts(2, Some(minute - 1)));
        cutter.add(10, facts(2, Some(minute)));
        for _ in 0..(BLOCK_BYTES / 1000 + 5) {
            cutter.add(1000, facts(3, Some(minute + 5)));
        }
        let blocks = cutter.finish();
        assert_eq!(blocks.len(), 3, "{blocks:?}");
        assert_eq!((blocks[0].start, blocks[0].end), (0, 10));
        assert_eq!(blocks[1].start, 10);
        assert!(blocks[1].end - blocks[1].start >= BLOCK_BYTES);
        assert_eq!(blocks[2].start, blocks[1].end);
        let total: u32 = blocks.iter().flat_map(|b| b.counts).sum();
        assert_eq!(total as u64, 2 + BLOCK_BYTES / 1000 + 5);
    }

    #[test]
    fn the_active_index_is_rebuilt_from_the_file_when_behind() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("api.log");
        let line = "{\"level\":\"error\",\"timestamp\":\"1970-01-01T00:00:01Z\"}\n";
        fs::write(&data, line.repeat(3)).unwrap();
        let file = File::open(&data).unwrap();
        let len = (line.len() * 3) as u64;
        let index = ActiveIndex::open(dir.path(), &file, 1000, len).unwrap();
        index.seal().unwrap();
        let blocks = load(&sidecar(dir.path(), 1000), 1000).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!((blocks[0].start, blocks[0].end), (1000, 1000 + len));
        assert_eq!(blocks[0].counts[4], 3);
        assert_eq!(blocks[0].first, 1_000_000_000);
    }
}
