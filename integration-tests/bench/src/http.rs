//! A deliberately minimal HTTP/1.1 client: one keep-alive connection, one request at a
//! time, requests serialized once up front. Per request it costs a `write` and a `read` or
//! two, so on a shared 2-core machine the collector, not the load generator, is what gets
//! measured.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Response headers parsed at most; axum sends about eight.
const MAX_HEADERS: usize = 32;
/// Room added to the read buffer before each read.
const READ_RESERVE: usize = 16 * 1024;

/// A complete request: request line, headers, body.
pub type Request = std::sync::Arc<[u8]>;

/// `POST path` with `body` as `content_type`.
pub fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Request {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat().into()
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Request {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")
        .into_bytes()
        .into()
}

/// A response; the body borrows the connection's buffer until the next request.
pub struct Reply<'a> {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: &'a [u8],
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read for the current response; reused across requests to avoid allocating.
    buf: Vec<u8>,
}

impl Conn {
    /// Connects with Nagle off, as every HTTP client does.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(READ_RESERVE),
        })
    }

    /// Sends `request` and reads its response (no pipelining).
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Reply<'_>> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        loop {
            if let Some(head) = parse_head(&self.buf)? {
                let end = head.len + head.body_len;
                while self.buf.len() < end {
                    self.fill().await?;
                }
                return Ok(Reply {
                    status: head.status,
                    body: &self.buf[head.len..end],
                });
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(READ_RESERVE);
        match self.stream.read_buf(&mut self.buf).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

/// A parsed status line and headers.
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Bytes of the status line and headers, up to and including the blank line.
    pub len: usize,
    /// The body's `Content-Length`.
    pub body_len: usize,
}

/// The response head once `buf` holds all of it (also for clients doing their own I/O).
///
/// # Errors
///
/// When the head is malformed or has no `Content-Length`.
pub fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf).map_err(io::Error::other)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(len) => len,
    };
    let body_len = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .ok_or_else(|| io::Error::other("response without a Content-Length"))?;
    Ok(Some(Head {
        status: response.code.unwrap_or_default(),
        len,
        body_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_only_once_complete() {
        let full = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ndate: x\r\n\r\n{}";
        assert!(parse_head(&full[..20]).expect("partial is fine").is_none());
        let head = parse_head(full).expect("valid").expect("complete");
        assert_eq!((head.status, head.body_len), (201, 2));
        assert_eq!(&full[head.len..], b"{}");
    }
}
