//! The `_bulk` body: NDJSON pairs of an action line and (for `index`, `create`, `update`) a
//! source line. Only the structure is checked here; each document is mapped in `super::map`.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::ApiError;

/// What an action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Index,
    Create,
    Update,
    Delete,
}

impl Op {
    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Index => "index",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// One action with its source line, when it has one.
#[derive(Debug)]
pub(super) struct Action<'a> {
    pub(super) op: Op,
    /// `_index` from the action, else the one in the path.
    pub(super) index: Option<String>,
    /// `_id` from the action.
    pub(super) id: Option<String>,
    /// The source line (`index`, `create`, `update`).
    pub(super) source: Option<&'a str>,
}

/// The metadata of an action line; other keys (`routing`, `pipeline`, `_type`…) are ignored.
#[derive(Deserialize, Default)]
struct Meta {
    #[serde(rename = "_index")]
    index: Option<String>,
    #[serde(rename = "_id")]
    id: Option<IdValue>,
}

/// ES accepts numbers as ids too.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Number(serde_json::Number),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionLine {
    index: Option<Meta>,
    create: Option<Meta>,
    update: Option<Meta>,
    delete: Option<Meta>,
}

/// Splits a bulk body into actions.
///
/// # Errors
///
/// 400 for a body that is not UTF-8, an action line that is not one of the four actions,
/// or an action missing its source line — the whole request, as Elasticsearch does.
pub(super) fn parse<'a>(
    body: &'a [u8],
    path_index: Option<&str>,
) -> Result<Vec<Action<'a>>, ApiError> {
    let bad = |line: usize, what: String| {
        ApiError::BadRequest(format!("invalid _bulk body: line {}: {what}", line + 1))
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("invalid _bulk body: not UTF-8".into()))?;
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(n, l)| (n, l.trim_ascii()))
        .filter(|(_, l)| !l.is_empty());
    let mut actions = Vec::new();
    while let Some((n, line)) = lines.next() {
        let parsed: ActionLine = serde_json::from_str(line).map_err(|err| {
            bad(
                n,
                format!("expected an index, create, update or delete action: {err}"),
            )
        })?;
        let (op, meta) = match parsed {
            ActionLine {
                index: Some(m),
                create: None,
                update: None,
                delete: None,
            } => (Op::Index, m),
            ActionLine {
                index: None,
                create: Some(m),
                update: None,
                delete: None,
            } => (Op::Create, m),
            ActionLine {
                index: None,
                create: None,
                update: Some(m),
                delete: None,
            } => (Op::Update, m),
            ActionLine {
                index: None,
                create: None,
                update: None,
                delete: Some(m),
            } => (Op::Delete, m),
            _ => return Err(bad(n, "an action line holds exactly one action".into())),
        };
        let source =
            match op {
                Op::Delete => None,
                _ => Some(lines.next().map(|(_, l)| l).ok_or_else(|| {
                    bad(n, format!("the {} action has no source line", op.name()))
                })?),
            };
        actions.push(Action {
            op,
            index: meta.index.or_else(|| path_index.map(str::to_owned)),
            id: meta.id.map(|id| match id {
                IdValue::Text(text) => text,
                IdValue::Number(n) => n.to_string(),
            }),
            source,
        });
    }
    if actions.is_empty() {
        return Err(ApiError::BadRequest(
            "invalid _bulk body: the request body is required".into(),
        ));
    }
    Ok(actions)
}

/// A document's top-level members in the order sent, values untouched.
pub(super) fn members(source: &str) -> Result<Vec<(std::borrow::Cow<'_, str>, &RawValue)>, String> {
    struct Members<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);
    impl<'de> Deserialize<'de> for Members<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    let mut seen = std::collections::HashSet::new();
                    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                        if !seen.insert(key.clone()) {
                            return Err(serde::de::Error::custom(format!(
                                "duplicate field [{key}]"
                            )));
                        }
                        let value: &'de RawValue = map.next_value()?;
                        out.push((key, value));
                    }
                    Ok(Members(out))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_str::<Members<'_>>(source)
        .map(|m| m.0)
        .map_err(|err| format!("failed to parse the document: {err}"))
}
