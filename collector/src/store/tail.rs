//! Reading the last lines of a log backward from its end, so the cost of a query follows
//! the number of lines asked for, not the size of the file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes read per step backward.
const CHUNK: usize = 64 * 1024;

/// The last `n` complete lines of the file at `path`, oldest first, without their `\n`.
/// A missing file has no lines. Bytes after the last `\n` (a write in progress) are ignored,
/// as are blank lines.
///
/// # Errors
///
/// Any I/O error other than the file not existing.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("api.log");
/// std::fs::write(&path, "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"partial").unwrap();
/// let lines = estuary_collector::store::tail::last_lines(&path, 2).unwrap();
/// assert_eq!(lines, vec![b"{\"i\":2}".to_vec(), b"{\"i\":3}".to_vec()]);
/// ```
pub fn last_lines(path: &Path, n: usize) -> io::Result<Vec<Vec<u8>>> {
    last_lines_with_end(path, n).map(|(lines, _)| lines)
}

/// Like [`last_lines`], also returning the offset just past the last complete line: what
/// the lines cover, so a live follower can skip commits it already replayed.
///
/// # Errors
///
/// Any I/O error other than the file not existing.
pub fn last_lines_with_end(path: &Path, n: usize) -> io::Result<(Vec<Vec<u8>>, u64)> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(err) => return Err(err),
    };
    let (tail, end) = read_tail(&file, n)?;
    let mut lines: Vec<Vec<u8>> = tail
        .rsplit(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .take(n)
        .map(<[u8]>::to_vec)
        .collect();
    lines.reverse();
    Ok((lines, end))
}

/// Reads backward until the bytes hold `n` complete lines (or the file is exhausted) and
/// returns them from the start of the oldest of those lines to the last `\n`.
fn read_tail(file: &File, n: usize) -> io::Result<(Vec<u8>, u64)> {
    let len = file.metadata()?.len();
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut end = len;
    let mut newlines = 0usize;
    let mut seen_last_newline = false;
    let mut covered = 0u64;
    // n lines need n+1 newlines: the one that ends the last line and the one before each.
    while end > 0 && newlines <= n {
        let start = end.saturating_sub(CHUNK as u64);
        let mut chunk = vec![0u8; (end - start) as usize];
        file.read_exact_at(&mut chunk, start)?;
        if !seen_last_newline {
            match memchr::memrchr(b'\n', &chunk) {
                Some(pos) => {
                    chunk.truncate(pos + 1);
                    seen_last_newline = true;
                    covered = start + pos as u64 + 1;
                }
                None => chunk.clear(),
            }
        }
        newlines += memchr::memchr_iter(b'\n', &chunk).count();
        chunks.push(chunk);
        end = start;
    }
    chunks.reverse();
    Ok((chunks.concat(), covered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_chunk_boundaries_and_short_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.log");
        let line = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
        let body: String = (0..300).map(|i| format!("{{\"i\":{i}}}{line}\n")).collect();
        std::fs::write(&path, &body).expect("write");
        let lines = last_lines(&path, 100).expect("read");
        assert_eq!(lines.len(), 100);
        assert!(lines[0].starts_with(b"{\"i\":200}"));
        assert!(lines[99].starts_with(b"{\"i\":299}"));
        assert_eq!(last_lines(&path, 1000).expect("all").len(), 300);
        assert!(last_lines(&dir.path().join("none.log"), 5)
            .expect("missing")
            .is_empty());
    }
}
