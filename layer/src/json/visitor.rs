//! The `tracing` field visitor: each value is written once, keeping its JSON type.

use std::error::Error;
use std::fmt;

use tracing::field::{Field, Visit};

use super::{write_debug, write_display, write_f64, write_int, write_str};

/// Writes visited fields as `"name":value` pairs into `fields`, and the `message` field (when
/// `message` is given) as a bare JSON string into `message`, so the record can put the message
/// first whatever the field order of the call site.
pub(crate) struct FieldVisitor<'a> {
    /// Where the `"name":value` pairs go.
    fields: &'a mut Vec<u8>,
    /// Where the message goes; `None` for spans, whose `message` is an ordinary field.
    message: Option<&'a mut Vec<u8>>,
    /// Whether the next pair needs a leading comma (the caller may have written pairs already).
    comma: bool,
    /// A span's object already holds `"name"`: a field of that name is renamed so the object
    /// never carries a duplicate key.
    rename_name: bool,
    /// Bit `i` is set when the field with index `i` was written; spans use it to notice a
    /// field recorded twice (and replace the old value instead of duplicating the key).
    pub(crate) seen: u64,
}

impl<'a> FieldVisitor<'a> {
    /// A visitor for an event: `message` is split out, other fields go to `fields`.
    pub(crate) fn for_event(fields: &'a mut Vec<u8>, message: &'a mut Vec<u8>) -> Self {
        FieldVisitor {
            fields,
            message: Some(message),
            comma: false,
            rename_name: false,
            seen: 0,
        }
    }

    /// A visitor appending span fields after `{"name":"…"` (so every pair needs a comma).
    pub(crate) fn for_span(fields: &'a mut Vec<u8>) -> Self {
        FieldVisitor {
            fields,
            message: None,
            comma: true,
            rename_name: true,
            seen: 0,
        }
    }

    /// Returns the message buffer when `field` is the event's message.
    #[inline]
    fn message_for(&mut self, field: &Field) -> Option<&mut Vec<u8>> {
        match &mut self.message {
            Some(buf) if field.name() == "message" => Some(buf),
            _ => None,
        }
    }

    /// Writes `,"name":` (the value follows).
    #[inline]
    fn key(&mut self, field: &Field) {
        if self.comma {
            self.fields.push(b',');
        }
        self.comma = true;
        if let Some(bit) = 1u64.checked_shl(field.index() as u32) {
            self.seen |= bit;
        }
        let name = field.name();
        if self.rename_name && name == "name" {
            self.fields.extend_from_slice(b"\"field.name\"");
        } else {
            write_str(self.fields, name);
        }
        self.fields.push(b':');
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if let Some(m) = self.message_for(field) {
            return write_display(m, &value);
        }
        self.key(field);
        write_f64(self.fields, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(m) = self.message_for(field) {
            return write_display(m, &value);
        }
        self.key(field);
        write_int(self.fields, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(m) = self.message_for(field) {
            return write_display(m, &value);
        }
        self.key(field);
        write_int(self.fields, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if let Some(m) = self.message_for(field) {
            return write_display(m, &value);
        }
        self.key(field);
        write_int(self.fields, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if let Some(m) = self.message_for(field) {
            return write_display(m, &value);
        }
        self.key(field);
        write_int(self.fields, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(m) = self.message_for(field) {
            return write_display(m, &value);
        }
        self.key(field);
        self.fields
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(m) = self.message_for(field) {
            return write_str(m, value);
        }
        self.key(field);
        write_str(self.fields, value);
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        // Bytes are not text: lowercase hex keeps them exact and readable.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(field);
        self.fields.push(b'"');
        for b in value {
            self.fields.push(HEX[(b >> 4) as usize]);
            self.fields.push(HEX[(b & 0xf) as usize]);
        }
        self.fields.push(b'"');
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        if let Some(m) = self.message_for(field) {
            return write_display(m, value);
        }
        self.key(field);
        write_error(self.fields, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(m) = self.message_for(field) {
            return write_debug(m, value);
        }
        self.key(field);
        write_debug(self.fields, value);
    }
}

/// Writes `{"message":"<Display>","sources":["<source 1>", …]}`: the error's own message
/// and its `source()` chain, outermost first (`sources` is always present, maybe empty).
fn write_error(buf: &mut Vec<u8>, err: &(dyn Error + 'static)) {
    buf.extend_from_slice(b"{\"message\":");
    write_display(buf, err);
    buf.extend_from_slice(b",\"sources\":[");
    let mut source = err.source();
    // A cyclic chain would loop forever; real chains are short.
    let mut depth = 0;
    while let Some(s) = source {
        if depth == 32 {
            break;
        }
        if depth > 0 {
            buf.push(b',');
        }
        write_display(buf, s);
        source = s.source();
        depth += 1;
    }
    buf.extend_from_slice(b"]}");
}
