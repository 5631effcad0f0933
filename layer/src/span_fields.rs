//! What the layer keeps in each span's extensions: its fields serialized once, at creation and
//! on `record`, so every event inside the span only copies bytes.

use std::fmt;
use std::time::Instant;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use tracing::span::{Attributes, Record};

use crate::json::{write_str, FieldVisitor};

/// A span's JSON object, `{"name":"<span name>", <field>: <value>, …}`, ready to splice.
pub(crate) struct SpanJson {
    /// The complete object; events copy it as it is.
    obj: Vec<u8>,
    /// Bit `i` is set when the field with index `i` is in `obj`, so a second `record` of the
    /// same field is noticed without scanning the bytes.
    present: u64,
}

impl SpanJson {
    /// Serializes a new span's name and fields.
    pub(crate) fn new(attrs: &Attributes<'_>) -> Self {
        let mut obj = Vec::with_capacity(96);
        obj.extend_from_slice(b"{\"name\":");
        write_str(&mut obj, attrs.metadata().name());
        let mut visitor = FieldVisitor::for_span(&mut obj);
        attrs.record(&mut visitor);
        let present = visitor.seen;
        obj.push(b'}');
        SpanJson { obj, present }
    }

    /// The object's bytes.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.obj
    }

    /// Adds the values of a `Span::record` call.
    pub(crate) fn record(&mut self, values: &Record<'_>) {
        let mut extra = Vec::new();
        let mut visitor = FieldVisitor::for_span(&mut extra);
        values.record(&mut visitor);
        let seen = visitor.seen;
        if extra.is_empty() {
            return;
        }
        if seen & self.present == 0 {
            // The usual case (`field = Empty` at creation, recorded later): append.
            self.obj.pop();
            self.obj.extend_from_slice(&extra);
            self.obj.push(b'}');
        } else {
            self.replace_fields(&extra);
        }
        self.present |= seen;
    }

    /// Rare path: a field recorded again replaces its old value in place.
    fn replace_fields(&mut self, extra: &[u8]) {
        let mut new_obj = Vec::with_capacity(extra.len() + 1);
        new_obj.push(b'{');
        new_obj.extend_from_slice(&extra[1..]); // skip the leading comma
        new_obj.push(b'}');
        let (Ok(Pairs(mut old)), Ok(Pairs(new))) = (
            serde_json::from_slice::<Pairs>(&self.obj),
            serde_json::from_slice::<Pairs>(&new_obj),
        ) else {
            // Cannot happen for bytes we wrote; keep the values rather than lose them.
            self.obj.pop();
            self.obj.extend_from_slice(extra);
            self.obj.push(b'}');
            return;
        };
        for (key, value) in new {
            match old.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => old.push((key, value)),
            }
        }
        self.obj.clear();
        self.obj.push(b'{');
        for (i, (key, value)) in old.iter().enumerate() {
            if i > 0 {
                self.obj.push(b',');
            }
            write_str(&mut self.obj, key);
            self.obj.push(b':');
            self.obj.extend_from_slice(value.get().as_bytes());
        }
        self.obj.push(b'}');
    }
}

/// A JSON object's members in their order, values kept as raw text (so a `u128` stays exact).
struct Pairs(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        d.deserialize_map(PairsVisitor)
    }
}

/// Busy and idle time of a span, kept only when span-close records are on.
pub(crate) struct Timings {
    /// Nanoseconds spent entered.
    pub(crate) busy: u64,
    /// Nanoseconds spent alive but not entered.
    pub(crate) idle: u64,
    /// When the span was last entered or exited.
    last: Instant,
}

impl Timings {
    /// Starts the idle clock at creation.
    pub(crate) fn new() -> Self {
        Timings {
            busy: 0,
            idle: 0,
            last: Instant::now(),
        }
    }

    /// The span was entered: time since the last exit was idle.
    pub(crate) fn enter(&mut self) {
        let now = Instant::now();
        self.idle += nanos(now - self.last);
        self.last = now;
    }

    /// The span was exited: time since the enter was busy.
    pub(crate) fn exit(&mut self) {
        let now = Instant::now();
        self.busy += nanos(now - self.last);
        self.last = now;
    }

    /// The span closed: time since the last exit was idle.
    pub(crate) fn close(&mut self) {
        self.enter();
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
