//! Hand-written JSON output (integers via `itoa`, floats via `zmij`, serde_json's own formatters): the hot path writes straight into a byte buffer instead of
//! building a `serde_json::Value`, so an event costs no allocation beyond buffer growth.

mod time;
mod visitor;

pub(crate) use time::write_rfc3339;
pub(crate) use visitor::FieldVisitor;

use std::fmt;

/// `ESCAPE[b]` is the character after the backslash for bytes that JSON requires to be
/// escaped (`u` meaning `\u00XX`), and 0 for bytes that are copied as they are.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `s` as a quoted JSON string.
#[inline]
pub(crate) fn write_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    write_escaped(buf, s);
    buf.push(b'"');
}

/// Appends the escaped contents of `s` without quotes (used for streamed `Debug` output).
#[inline]
pub(crate) fn write_escaped(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        buf.extend_from_slice(&bytes[start..i]);
        buf.push(b'\\');
        buf.push(esc);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.extend_from_slice(b"00");
            buf.push(HEX[(b >> 4) as usize]);
            buf.push(HEX[(b & 0xf) as usize]);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// Appends an integer (any width up to 128 bits) exactly, as a JSON number.
#[inline]
pub(crate) fn write_int<I: itoa::Integer>(buf: &mut Vec<u8>, n: I) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends a float; NaN and infinities have no JSON form and become `null`.
#[inline]
pub(crate) fn write_f64(buf: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        buf.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes());
    } else {
        buf.extend_from_slice(b"null");
    }
}

/// A `fmt::Write` that escapes as it appends, so `Debug`/`Display` output is streamed into
/// the buffer without an intermediate `String`.
pub(crate) struct EscapingWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for EscapingWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s);
        Ok(())
    }
}

/// Appends `value`'s `Debug` output as a quoted JSON string.
pub(crate) fn write_debug(buf: &mut Vec<u8>, value: &dyn fmt::Debug) {
    buf.push(b'"');
    // Formatting into our own writer cannot fail; a `Debug` impl that returns an error
    // just leaves its output truncated, which is the best we can do without panicking.
    let _ = fmt::write(&mut EscapingWriter(buf), format_args!("{value:?}"));
    buf.push(b'"');
}

/// Appends `value`'s `Display` output as a quoted JSON string.
pub(crate) fn write_display(buf: &mut Vec<u8>, value: &dyn fmt::Display) {
    buf.push(b'"');
    let _ = fmt::write(&mut EscapingWriter(buf), format_args!("{value}"));
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        let samples = [
            "plain",
            "quote \" backslash \\ slash /",
            "\n\r\t\u{8}\u{c}",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "ünïcödé ✓ 🚀",
            "",
        ];
        for s in samples {
            let mut ours = Vec::new();
            write_str(&mut ours, s);
            let parsed: String = serde_json::from_slice(&ours).expect("valid JSON string");
            assert_eq!(parsed, s);
            assert_eq!(ours, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn numbers_keep_their_json_types() {
        let mut buf = Vec::new();
        write_int(&mut buf, u128::MAX);
        assert_eq!(buf, u128::MAX.to_string().as_bytes());
        buf.clear();
        write_int(&mut buf, i128::MIN);
        assert_eq!(buf, i128::MIN.to_string().as_bytes());
        for (f, want) in [
            (1.5, "1.5"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
        ] {
            buf.clear();
            write_f64(&mut buf, f);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), want);
        }
    }

    #[test]
    fn debug_output_is_streamed_escaped() {
        let mut buf = Vec::new();
        write_debug(&mut buf, &"a\"b");
        assert_eq!(std::str::from_utf8(&buf).unwrap(), r#""\"a\\\"b\"""#);
        let back: String = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, "\"a\\\"b\"");
    }
}
