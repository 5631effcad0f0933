//! One `POST /logs` and what its answer means for the batch.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use flate2::{Compress, FlushCompress, Status};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use crate::defaults::RETRY_AFTER_MAX;

/// What to do with a batch after a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `2xx`: stored.
    Accepted,
    /// Connection error, timeout, `408`, `429` or `5xx`: try again later (not sooner than
    /// `after` when the collector said so).
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// `413`: the body or one entry is too large; split the batch.
    TooLarge,
    /// `400` naming the bad entry: drop that line and resend the rest.
    BadEntry { index: usize, why: String },
    /// Any other answer: retrying cannot help; drop the batch.
    Rejected { status: u16, why: String },
}

/// One request body, built once per batch and shared by its retries.
#[derive(Clone)]
pub(crate) struct Body {
    bytes: Bytes,
    /// Whether `bytes` is gzipped (`Content-Encoding: gzip`).
    gzip: bool,
}

impl Body {
    /// `lines` to be sent as they are, without a copy: the buffer is lent to the request
    /// (and `lines` left empty) until [`Body::reclaim`].
    pub(crate) fn lend(lines: &mut Vec<u8>) -> Body {
        Body {
            bytes: Bytes::from(std::mem::take(lines)),
            gzip: false,
        }
    }

    /// Gives a lent buffer back once the request is over (copying it only if the HTTP
    /// stack still holds a reference).
    pub(crate) fn reclaim(self, lines: &mut Vec<u8>) {
        *lines = match self.bytes.try_into_mut() {
            Ok(unique) => unique.into(),
            Err(shared) => shared.to_vec(),
        };
    }
}

/// The HTTP side of the worker: a client, the URL and the fixed headers.
pub(crate) struct Transport {
    client: reqwest::Client,
    url: reqwest::Url,
    /// `Bearer <token>`, marked sensitive so it never shows in debug output.
    auth: Option<HeaderValue>,
    /// The gzip compressor, reset for each body rather than built anew (its set-up zeroes
    /// a few hundred KiB of tables); `None` when compression is off.
    gzip: Option<Compress>,
}

impl Transport {
    pub(crate) fn new(
        url: reqwest::Url,
        auth_token: Option<&str>,
        compression: bool,
    ) -> Result<Self, String> {
        let auth = match auth_token {
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("tracing-estuary/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(2))
            // Proxies from the environment would surprise more than help for a collector
            // that usually runs next to the app.
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        // Window bits 15: the usual 32 KiB window, with a gzip header and trailer.
        let gzip = compression.then(|| Compress::new_gzip(flate2::Compression::fast(), 15));
        Ok(Transport {
            client,
            url,
            auth,
            gzip,
        })
    }

    /// The URL requests go to.
    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// NDJSON `lines` gzipped at the fastest level, or `None` when compression is off.
    pub(crate) fn gzip(&mut self, lines: &[u8]) -> Option<Body> {
        let bytes = gzip(self.gzip.as_mut()?, lines)?;
        Some(Body { bytes, gzip: true })
    }

    /// The request body for NDJSON `lines`: gzipped when compression is on, else a copy.
    pub(crate) fn encode(&mut self, lines: &[u8]) -> Body {
        self.gzip(lines).unwrap_or_else(|| Body {
            bytes: Bytes::copy_from_slice(lines),
            gzip: false,
        })
    }

    /// Sends one request and classifies the answer.
    pub(crate) async fn send(&self, body: Body, timeout: Duration) -> Outcome {
        let mut req = self
            .client
            .post(self.url.clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body.bytes);
        if body.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    why: error_chain(&e),
                }
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // The collector's answers are small JSON objects; a body that cannot be read
        // changes nothing about the status.
        let body = resp.bytes().await.unwrap_or_default();
        classify(status, retry_after, &body)
    }
}

/// `lines` as one gzip member, or `None` if the compressor fails (it cannot for in-memory
/// input; the caller then sends the lines uncompressed).
fn gzip(gz: &mut Compress, lines: &[u8]) -> Option<Bytes> {
    gz.reset();
    // JSON logs compress about 8:1 at level 1; start near that.
    let mut out = Vec::with_capacity(lines.len() / 6 + 64);
    loop {
        let read = usize::try_from(gz.total_in()).ok()?;
        match gz.compress_vec(&lines[read..], &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Some(Bytes::from(out)),
            Ok(Status::Ok | Status::BufError) => out.reserve(out.capacity().max(4096)),
            Err(_) => return None,
        }
    }
}

/// Maps a status (and the collector's JSON answer) to what the worker should do.
pub(crate) fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Outcome {
    let why = || {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        format!("{status}: {}", text.trim())
    };
    match status.as_u16() {
        200..=299 => Outcome::Accepted,
        408 | 429 | 500..=599 => Outcome::Retry {
            after: retry_after,
            why: why(),
        },
        413 => Outcome::TooLarge,
        400 => match bad_index(body) {
            Some(index) => Outcome::BadEntry { index, why: why() },
            None => Outcome::Rejected {
                status: 400,
                why: why(),
            },
        },
        code => Outcome::Rejected {
            status: code,
            why: why(),
        },
    }
}

/// The `index` of the collector's `400 {"error":…,"index":i}` answer.
fn bad_index(body: &[u8]) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct Answer {
        index: Option<usize>,
    }
    serde_json::from_slice::<Answer>(body).ok()?.index
}

/// `Retry-After: <seconds>` or an HTTP date, capped at [`RETRY_AFTER_MAX`].
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(SystemTime::now()).unwrap_or_default()
        }
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// `reqwest`'s top-level message hides the cause ("error sending request"); show the chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_actions() {
        let code = |c| StatusCode::from_u16(c).unwrap();
        assert_eq!(classify(code(201), None, b"{}"), Outcome::Accepted);
        for c in [408, 429, 500, 503, 507] {
            assert!(
                matches!(classify(code(c), None, b""), Outcome::Retry { .. }),
                "{c}"
            );
        }
        assert_eq!(classify(code(413), None, b""), Outcome::TooLarge);
        assert!(matches!(
            classify(code(400), None, br#"{"error":"bad","index":3}"#),
            Outcome::BadEntry { index: 3, .. }
        ));
        for c in [400, 401, 403, 404, 415] {
            assert!(
                matches!(classify(code(c), None, b"{}"), Outcome::Rejected { status, .. } if status == c),
                "{c}"
            );
        }
    }

    #[test]
    fn bodies_are_gzipped_with_a_reused_compressor() {
        use std::io::Read;
        let url = reqwest::Url::parse("http://127.0.0.1:1/logs").unwrap();
        let lines: Vec<u8> = (0..5_000)
            .flat_map(|i| format!("{{\"n\":{i},\"message\":\"hello\"}}\n").into_bytes())
            .collect();
        let mut transport = Transport::new(url.clone(), None, true).unwrap();
        for _ in 0..2 {
            let body = transport.gzip(&lines).expect("compression is on");
            assert!(body.gzip);
            assert!(body.bytes.len() < lines.len() / 4, "{}", body.bytes.len());
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&body.bytes[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, lines);
        }
        let mut off = Transport::new(url, None, false).unwrap();
        assert!(off.gzip(&lines).is_none(), "compression off");
        let copy = off.encode(&lines);
        assert!(!copy.gzip);
        assert_eq!(copy.bytes, lines);
    }

    #[test]
    fn a_lent_buffer_comes_back_without_a_copy() {
        let mut lines = Vec::with_capacity(4096);
        lines.extend_from_slice(b"{\"a\":1}\n");
        let (ptr, capacity) = (lines.as_ptr(), lines.capacity());
        let body = Body::lend(&mut lines);
        assert!(lines.is_empty() && !body.gzip);
        let in_request = body.clone();
        assert_eq!(in_request.bytes, &b"{\"a\":1}\n"[..]);
        drop(in_request);
        body.reclaim(&mut lines);
        assert_eq!(lines, b"{\"a\":1}\n");
        assert_eq!(
            (lines.as_ptr(), lines.capacity()),
            (ptr, capacity),
            "no copy"
        );
        // Still held elsewhere: a copy, with the same lines.
        let body = Body::lend(&mut lines);
        let held = body.clone();
        body.reclaim(&mut lines);
        assert_eq!(lines, b"{\"a\":1}\n");
        drop(held);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(RETRY_AFTER_MAX));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = parse_retry_after(&soon).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
