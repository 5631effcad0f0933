//! Finding one value by its dotted path in a stored line without building the entry: the
//! line is walked once, keys compared as they come, every other value skipped unparsed.
//! Values the filters never look at — a number too large for `f64` (`1e999999`), a string
//! with a lone surrogate escape (`"\ud800"`) — therefore never hide an entry from a field
//! filter on another key.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The raw JSON of the value at `path` (keys from the top level down), if the line is a JSON
/// object that has one.
///
/// # Examples
///
/// ```
/// use estuary_collector::filter::value_at;
///
/// let line = br#"{"big":1e999999,"user":{"id":42,"name":"\ud800"}}"#;
/// let path = ["user".to_owned(), "id".to_owned()];
/// assert_eq!(value_at(line, &path).map(|v| v.get()), Some("42"));
/// assert!(value_at(line, &["nope".to_owned()]).is_none());
/// ```
pub fn value_at<'l>(line: &'l [u8], path: &[String]) -> Option<&'l RawValue> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    PathSeed { path }
        .deserialize(&mut deserializer)
        .ok()
        .flatten()
}

/// Whether the value at `path` equals `expected`: a string equal to it, or a number, bool
/// or null whose JSON equals it (`42` and `42`, `true` and `true`). Objects and arrays never
/// match.
pub fn field_equals(line: &[u8], path: &[String], expected: &str) -> bool {
    let Some(raw) = value_at(line, path) else {
        return false;
    };
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<Cow<'_, str>>(text) {
            Ok(value) => value == expected,
            // A lone surrogate escape: compare the escaped text itself.
            Err(_) => &text[1..text.len() - 1] == expected,
        },
        Some(b'{' | b'[') | None => false,
        Some(_) => {
            text == expected
                || matches!(
                    (
                        serde_json::from_str::<serde_json::Value>(text),
                        serde_json::from_str::<serde_json::Value>(expected)
                    ),
                    (Ok(a), Ok(b)) if a == b
                )
        }
    }
}

/// Text that every line holding `expected` (as [`field_equals`] compares) contains, unless
/// the line has escapes: the string itself, or the JSON of an integer, `true`, `false` or
/// `null`. `None` where another spelling could be equal (a number with a fraction or an
/// exponent, an empty value).
pub(crate) fn hint(expected: &str) -> Option<memchr::memmem::Finder<'static>> {
    let plain_number = expected.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    let is_string = serde_json::from_str::<serde_json::Value>(expected)
        .map_or(true, |v| v.is_string() || v.is_array() || v.is_object());
    let usable = !expected.is_empty()
        && (is_string || plain_number || matches!(expected, "true" | "false" | "null"));
    usable.then(|| memchr::memmem::Finder::new(expected.as_bytes()).into_owned())
}

struct PathSeed<'p> {
    path: &'p [String],
}

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        if self.path.is_empty() {
            return <&RawValue as serde::Deserialize>::deserialize(deserializer).map(Some);
        }
        deserializer.deserialize_any(self)
    }
}

/// A JSON string (a key or a value), borrowed from the line unless it has escapes.
pub(crate) struct BorrowedStr<'de>(pub(crate) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Visitor<'de> for PathSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(BorrowedStr(key)) = map.next_key::<BorrowedStr<'de>>()? {
            if found.is_none() && key == self.path[0].as_str() {
                found = map.next_value_seed(PathSeed {
                    path: &self.path[1..],
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn values_are_found_by_path_and_compared_by_kind() {
        let line =
            br#"{"a":{"b":"x\"y","n":42,"f":1.5,"t":true,"z":null,"o":{}},"arr":[1,{"a":2}]}"#;
        assert!(field_equals(line, &path("a.b"), "x\"y"));
        assert!(field_equals(line, &path("a.n"), "42"));
        assert!(!field_equals(line, &path("a.n"), "43"));
        assert!(field_equals(line, &path("a.f"), "1.5"));
        assert!(field_equals(line, &path("a.t"), "true"));
        assert!(field_equals(line, &path("a.z"), "null"));
        assert!(!field_equals(line, &path("a.o"), "{}"));
        assert!(
            !field_equals(line, &path("arr.a"), "2"),
            "arrays are not walked"
        );
        assert!(!field_equals(line, &path("a.b.c"), "x"));
        assert!(!field_equals(b"not json", &path("a"), "x"));
    }

    #[test]
    fn odd_values_elsewhere_do_not_hide_an_entry() {
        for line in [
            &br#"{"n":1e999999,"user":"u1"}"#[..],
            br#"{"n":1E400,"user":"u1"}"#,
            br#"{"s":"\ud800","user":"u1"}"#,
            br#"{"s":"\ud800","user":"u1","deep":{"x":[1e999999,"\udfff"]}}"#,
        ] {
            assert!(
                field_equals(line, &path("user"), "u1"),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert!(field_equals(br#"{"n":1e999999}"#, &path("n"), "1e999999"));
        assert!(field_equals(br#"{"s":"\ud800"}"#, &path("s"), "\\ud800"));
    }

    #[test]
    fn the_text_prefilter_never_hides_a_value_spelled_with_escapes() {
        let filter = crate::filter::LineFilter {
            fields: vec![(path("id"), "o-1".into())],
            exclude_fields: vec![(path("user"), "bob".into())],
            ..Default::default()
        };
        let matcher = filter.prepared();
        assert!(matcher.matches(br#"{"id":"o-1"}"#));
        assert!(
            matcher.matches(br#"{"id":"\u006f-1"}"#),
            "spelled with an escape"
        );
        assert!(!matcher.matches(br#"{"id":"o-2"}"#));
        assert!(!matcher.matches(br#"{"id":"o-1","user":"bob"}"#));
        assert!(!matcher.matches(br#"{"id":"o-1","user":"\u0062ob"}"#));
        assert!(matcher.matches(br#"{"id":"o-1","note":"bob","user":"al"}"#));
        assert!(hint("1.5").is_none() && hint("1e2").is_none() && hint("").is_none());
        assert!(hint("42").is_some() && hint("true").is_some() && hint("o-1").is_some());
    }

    #[test]
    fn escaped_keys_match_their_text() {
        assert!(field_equals(br#"{"us\u0065r":"u"}"#, &path("user"), "u"));
    }
}
