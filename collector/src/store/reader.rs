//! Reads one service's stream forward from a position, across rotated segments (plain or
//! gzip) into the active file, a chunk at a time: what forwarders read. The open file is
//! kept between chunks so a gzip segment is decompressed once, not once per chunk. Files
//! are located and opened under the store's file lock (shared), so a rotation,
//! compression or retention pass never moves a file between listing and opening it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::index::{self, Block};
use super::segments;
use crate::service::ServiceName;
use crate::timefmt::Nanos;

/// Buffer size of the file readers.
const READ_BUFFER: usize = 256 * 1024;

/// Entries read in one go from a service's stream.
#[derive(Debug, Default)]
pub struct StreamChunk {
    /// The lines, back to back, each without its `\n`.
    pub buf: Vec<u8>,
    /// Where each line sits in `buf`.
    pub lines: Vec<Range<usize>>,
    /// Each line's stream position.
    pub positions: Vec<u64>,
    /// The stream position just past the last line read: the next checkpoint.
    pub next: u64,
    /// A range retention deleted before it was read, if one was jumped over.
    pub lost: Option<Range<u64>>,
    /// Bytes read (uncompressed, with the newlines).
    pub read_bytes: u64,
    /// Files opened for this chunk.
    pub files_opened: usize,
    /// Segments passed over because their time range is outside the reader's window.
    pub segments_skipped: usize,
}

impl StreamChunk {
    /// The line at `index`.
    pub fn line(&self, index: usize) -> &[u8] {
        &self.buf[self.lines[index].clone()]
    }
}

/// An open file positioned at virtual offset `pos`.
struct OpenSource {
    reader: Box<dyn BufRead + Send + Sync>,
    pos: u64,
    /// Where the source ends; `None` for the active file, which grows.
    end: Option<u64>,
}

/// What lies at an offset.
enum Located {
    Source(OpenSource),
    /// Nothing was kept before this offset (retention deleted it).
    Gap(u64),
    /// A segment outside the time window, passed over up to this offset.
    Skip(u64),
    /// Blocks outside the time window, passed over up to this offset.
    Seek(u64),
    /// Nothing written there yet.
    Nothing,
}

/// A forward reader over one service's stream; made by
/// [`Store::reader`](super::Store::reader).
pub struct StreamReader {
    /// `LOG_DIR`.
    log_dir: PathBuf,
    /// Whose stream it reads.
    service: ServiceName,
    /// The store's file lock: held (shared) while a file is located and opened.
    files: Arc<RwLock<()>>,
    /// Kept open between batches; dropped at the end of the active file so that a partial
    /// line is read again in full next time.
    open: Option<OpenSource>,
    /// Segments whose entries all fall outside `[since, until]` are passed over.
    window: (Option<Nanos>, Option<Nanos>),
}

impl StreamReader {
    pub(super) fn new(log_dir: &Path, service: ServiceName, files: Arc<RwLock<()>>) -> Self {
        StreamReader {
            log_dir: log_dir.to_path_buf(),
            service,
            files,
            open: None,
            window: (None, None),
        }
    }

    /// Passes over segments whose entries all fall outside `[since, until]` (a query's time
    /// window); the active file is always read.
    pub(super) fn within(mut self, since: Option<Nanos>, until: Option<Nanos>) -> Self {
        self.window = (since, until);
        self
    }

    /// Reads up to `max_entries` complete lines (stopping early past `max_bytes`) from
    /// virtual offset `from`. An offset retention has deleted moves on to the oldest kept
    /// byte and reports the jump in [`StreamChunk::lost`].
    ///
    /// # Errors
    ///
    /// An I/O error opening or reading a file.
    pub fn read(
        &mut self,
        from: u64,
        max_entries: usize,
        max_bytes: usize,
    ) -> io::Result<StreamChunk> {
        let mut batch = StreamChunk {
            next: from,
            ..StreamChunk::default()
        };
        while batch.lines.len() < max_entries && batch.buf.len() < max_bytes {
            let mut source = match self.open.take().filter(|s| s.pos == batch.next) {
                Some(source) => source,
                None => match self.locate(batch.next)? {
                    Located::Source(source) => {
                        batch.files_opened += 1;
                        source
                    }
                    Located::Gap(to) => {
                        batch.lost = Some(batch.next..to);
                        batch.next = to;
                        continue;
                    }
                    Located::Skip(to) => {
                        batch.segments_skipped += 1;
                        batch.next = to;
                        continue;
                    }
                    Located::Seek(to) => {
                        batch.next = to;
                        continue;
                    }
                    Located::Nothing => break,
                },
            };
            let more = fill(&mut source, &mut batch, max_entries, max_bytes)?;
            if more {
                self.open = Some(source);
            } else if source.end.is_none() || source.end != Some(source.pos) {
                // The end of the active file (or a half-written line): look again later.
                break;
            }
        }
        Ok(batch)
    }

    /// Finds and opens what holds `pos`, with the file lock held so nothing moves meanwhile.
    fn locate(&self, pos: u64) -> io::Result<Located> {
        let _shared = self
            .files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let segments = segments::list(&self.log_dir, &self.service)?;
        let base = segments::active_base(&self.log_dir, &self.service)?;
        let oldest = segments.first().map_or(base, |s| s.start);
        if pos < oldest {
            return Ok(Located::Gap(oldest));
        }
        if let Some(segment) = segments.iter().find(|s| s.start <= pos && pos < s.end) {
            if !segment.may_overlap(self.window.0, self.window.1) {
                return Ok(Located::Skip(segment.end));
            }
            let blocks = self.blocks_of(segment.start)?;
            if let Some(to) = self.seek(&blocks, pos) {
                return Ok(Located::Seek(to));
            }
            let reader = open_segment(segment, &blocks, pos)?;
            return Ok(Located::Source(OpenSource {
                reader,
                pos,
                end: Some(segment.end),
            }));
        }
        if pos < base {
            // Deleted: up to the next kept segment, or (the newest segments gone) the active file.
            let next = segments
                .iter()
                .find(|s| s.start > pos)
                .map_or(base, |s| s.start);
            return Ok(Located::Gap(next));
        }
        if let Some(to) = self.seek(&self.blocks_of(base)?, pos) {
            return Ok(Located::Seek(to));
        }
        self.open_active(pos, base)
    }

    /// The count index of the file starting at `start`, when the reader has a window.
    fn blocks_of(&self, start: u64) -> io::Result<Vec<Block>> {
        if self.window == (None, None) {
            return Ok(Vec::new());
        }
        let dir = segments::service_dir(&self.log_dir, &self.service);
        index::load(&index::sidecar(&dir, start), start)
    }

    /// Where to go on from `pos` when the index says the blocks from there on cannot hold
    /// the window: the next block that can, or the end of what the index covers.
    fn seek(&self, blocks: &[Block], pos: u64) -> Option<u64> {
        let (since, until) = self.window;
        let mut ahead = blocks.iter().filter(|b| b.end > pos).peekable();
        if ahead.peek()?.may_overlap(since, until) {
            return None;
        }
        let covered = blocks.last().map_or(pos, |b| b.end);
        let to = ahead
            .find(|b| b.may_overlap(since, until))
            .map_or(covered, |b| b.start);
        (to > pos).then_some(to)
    }

    /// Opens the active file at `pos` (its start in the stream is `base`).
    fn open_active(&self, pos: u64, base: u64) -> io::Result<Located> {
        let path = segments::active_path(&self.log_dir, &self.service);
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Located::Nothing),
            Err(err) => return Err(err),
        };
        let len = file.metadata()?.len();
        if pos >= base + len {
            return Ok(Located::Nothing);
        }
        file.seek(SeekFrom::Start(pos - base))?;
        let reader = Box::new(BufReader::with_capacity(READ_BUFFER, file));
        Ok(Located::Source(OpenSource {
            reader,
            pos,
            end: None,
        }))
    }
}

/// Opens a segment at stream position `pos`: a gzip segment at the gzip member of the
/// block holding `pos` when its index knows it, else decompressed from the start.
fn open_segment(
    segment: &segments::Segment,
    blocks: &[Block],
    pos: u64,
) -> io::Result<Box<dyn BufRead + Send + Sync>> {
    let mut file = File::open(&segment.path)?;
    if !segment.compressed {
        file.seek(SeekFrom::Start(pos - segment.start))?;
        return Ok(Box::new(BufReader::with_capacity(READ_BUFFER, file)));
    }
    let (member, at) = blocks
        .iter()
        .take_while(|b| b.start <= pos)
        .filter(|b| b.gz_offset != index::PLAIN)
        .last()
        .map_or((0, segment.start), |b| (b.gz_offset, b.start));
    file.seek(SeekFrom::Start(member))?;
    let mut reader = BufReader::with_capacity(
        READ_BUFFER,
        flate2::read::MultiGzDecoder::new(BufReader::new(file)),
    );
    let skip = pos - at;
    let skipped = io::copy(&mut (&mut reader).take(skip), &mut io::sink())?;
    if skipped < skip {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "segment shorter than its name says",
        ));
    }
    Ok(Box::new(reader))
}

/// Appends complete lines of `source` to `batch` until a limit; returns whether the source
/// may have more (false at its end or at a partial line).
fn fill(
    source: &mut OpenSource,
    batch: &mut StreamChunk,
    max_entries: usize,
    max_bytes: usize,
) -> io::Result<bool> {
    while batch.lines.len() < max_entries && batch.buf.len() < max_bytes {
        if source.end.is_some_and(|end| source.pos >= end) {
            return Ok(false);
        }
        let start = batch.buf.len();
        let n = source.reader.read_until(b'\n', &mut batch.buf)?;
        if n == 0 || batch.buf.last() != Some(&b'\n') {
            batch.buf.truncate(start);
            return Ok(false);
        }
        let position = source.pos;
        source.pos += n as u64;
        batch.next = source.pos;
        batch.read_bytes += n as u64;
        batch.buf.pop();
        if batch.buf.len() > start {
            batch.lines.push(start..batch.buf.len());
            batch.positions.push(position);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests;
