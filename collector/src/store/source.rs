//! The files of one service's stream, opened together under the file lock with their
//! count indexes: what the page engine and the counters read. A [`Source`] knows which of
//! its byte ranges can hold a time window (from its index; whatever the index does not
//! cover always can) and reads the lines of any range, entering a gzip segment at the
//! block's own gzip member when the index has its offset.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::RwLock;

use super::index::{self, Block, PLAIN};
use super::segments;
use crate::service::ServiceName;
use crate::timefmt::Nanos;

/// Bytes read per step.
const READ_BUFFER: usize = 256 * 1024;

/// One file of the stream.
pub struct Source {
    /// The open file.
    pub file: File,
    /// Its first byte's stream position.
    pub start: u64,
    /// One past its last byte's stream position.
    pub end: u64,
    /// Whether it is gzip.
    pub compressed: bool,
    /// Its count index (may cover less than the file).
    pub blocks: Vec<Block>,
}

/// The files of a stream and where the stream ended when they were opened.
pub struct Sources {
    /// Oldest first.
    pub files: Vec<Source>,
    /// The end of the stream.
    pub stream_end: u64,
    /// Segments passed over because their time range cannot hold the window.
    pub skipped: usize,
}

/// Opens `service`'s files (segments whose time range cannot hold `[since, until]` left
/// out) with their indexes, holding the file lock meanwhile.
pub fn open_all(
    log_dir: &Path,
    service: &ServiceName,
    files: &RwLock<()>,
    since: Option<Nanos>,
    until: Option<Nanos>,
) -> io::Result<Sources> {
    let _shared = files
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = segments::service_dir(log_dir, service);
    let timed = since.is_some() || until.is_some();
    let mut sources = Sources {
        files: Vec::new(),
        stream_end: 0,
        skipped: 0,
    };
    for segment in segments::list(log_dir, service)? {
        if timed && !segment.may_overlap(since, until) {
            sources.skipped += 1;
            continue;
        }
        sources.files.push(Source {
            file: File::open(&segment.path)?,
            start: segment.start,
            end: segment.end,
            compressed: segment.compressed,
            blocks: index::load(&index::sidecar(&dir, segment.start), segment.start)?,
        });
    }
    let base = segments::active_base(log_dir, service)?;
    sources.stream_end = base;
    match File::open(segments::active_path(log_dir, service)) {
        Ok(file) => {
            let len = file.metadata()?.len();
            sources.stream_end = base + len;
            let mut blocks = index::load(&index::sidecar(&dir, base), base)?;
            blocks.retain(|b| b.end <= base + len);
            sources.files.push(Source {
                file,
                start: base,
                end: base + len,
                compressed: false,
                blocks,
            });
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    Ok(sources)
}

impl Source {
    /// Where the index stops covering the file.
    pub fn covered(&self) -> u64 {
        self.blocks.last().map_or(self.start, |b| b.end)
    }

    /// Whether any byte range can be read without reading the file from its start.
    pub fn enterable(&self) -> bool {
        !self.compressed || self.blocks.first().is_some_and(|b| b.gz_offset != PLAIN)
    }

    /// The ranges that can hold entries within `[since, until]`, oldest first: the index's
    /// overlapping blocks (adjacent ones merged) and the part it does not cover. A gzip
    /// segment that cannot be entered mid-way is one range.
    pub fn ranges(&self, since: Option<Nanos>, until: Option<Nanos>) -> Vec<(u64, u64)> {
        if (since.is_none() && until.is_none()) || !self.enterable() {
            return vec![(self.start, self.end)];
        }
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let overlapping = self.blocks.iter().filter(|b| b.may_overlap(since, until));
        for block in overlapping
            .map(|b| (b.start, b.end))
            .chain([(self.covered(), self.end)])
        {
            if block.0 >= block.1 {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.1 == block.0 => last.1 = block.1,
                _ => ranges.push(block),
            }
        }
        ranges
    }

    /// Calls `visit(position, line)` for each complete line in `[from, to)` (positions),
    /// oldest first, until it returns false; returns the bytes read.
    pub fn for_each_line(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> io::Result<u64> {
        let (reader, at) = self.reader_at(from)?;
        let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
        let mut line = Vec::new();
        let mut position = at;
        let mut read = 0u64;
        while position < to {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)? as u64;
            if n == 0 || line.last() != Some(&b'\n') || position + n > to {
                break;
            }
            read += n;
            let body = &line[..line.len() - 1];
            let keep_going = position < from || body.is_empty() || visit(position, body);
            position += n;
            if !keep_going {
                break;
            }
        }
        Ok(read)
    }

    /// A reader positioned at `from` when the file can be entered there (plain, or at a
    /// block's gzip member), else at the start of the file; and the position it is at.
    fn reader_at(&self, from: u64) -> io::Result<(Box<dyn Read + '_>, u64)> {
        if !self.compressed {
            return Ok((Box::new(PlainAt::new(&self.file, from - self.start)), from));
        }
        let entry = self
            .blocks
            .iter()
            .take_while(|b| b.start <= from)
            .filter(|b| b.gz_offset != PLAIN)
            .last()
            .map_or((0, self.start), |b| (b.gz_offset, b.start));
        let mut file = &self.file;
        file.seek(SeekFrom::Start(entry.0))?;
        Ok((Box::new(flate2::read::MultiGzDecoder::new(file)), entry.1))
    }
}

/// `Read` over a file from an offset, with positioned reads (no shared seek position).
struct PlainAt<'f> {
    file: &'f File,
    pos: u64,
}

impl<'f> PlainAt<'f> {
    fn new(file: &'f File, pos: u64) -> Self {
        PlainAt { file, pos }
    }
}

impl Read for PlainAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
