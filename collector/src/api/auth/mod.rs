//! Access control: optional bearer tokens with scopes.
//!
//! A token has the `ingest` scope (`POST /logs`), the `query` scope (reading logs and live
//! streams), or both, and may be limited to the services it writes, so that one service
//! cannot write as another. Tokens come from `--ingest-token`, `--query-token` and
//! `--tokens-file`; with none configured the API is open, as the seed's was (the start-up
//! log says so). A token configured more than once gets the union of its grants.
//!
//! Clients send `Authorization: Bearer <token>`, or `X-Estuary-Token: <token>` where they
//! cannot set `Authorization` (some shippers and proxies reserve it). A missing or unknown
//! token gets 401 with `WWW-Authenticate: Bearer`; a token without the route's scope gets
//! 403. Tokens are compared in constant time and never logged. `/health` is always open;
//! `/metrics` is open unless `--metrics-token-required`.
//!
//! An entry without `service` is stored as `unknown`. A token limited to some services may
//! write `unknown` only when its list names `unknown`: otherwise a restricted client could
//! put unattributed lines into the file that every service's strays share.
//!
//! # Tokens file
//!
//! One token per line, `TOKEN SCOPES [SERVICE...]`; `#` starts a comment:
//!
//! ```text
//! # token                            scopes        services (any when none are listed)
//! 3f9c0e7d2b6a41c8a5e1d0b9c7f2e6a4   ingest        billing billing-worker
//! 9a8b7c6d5e4f30211f2e3d4c5b6a7988   query
//! 0123456789abcdef0123456789abcdef   ingest,query
//! ```

mod gate;
mod tokens;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::ApiError;
use crate::body::ServiceLines;
use crate::service::ServiceName;

pub use gate::{require_ingest, require_metrics, require_query};
pub use tokens::AccessConfigError;

/// The header for clients that cannot set `Authorization`.
pub const TOKEN_HEADER: &str = "x-estuary-token";

/// A configured token. Its `Debug` never shows it, so configurations can be logged.
///
/// # Examples
///
/// ```
/// use estuary_collector::api::auth::Secret;
///
/// let secret: Secret = "s3cr3t-token".parse().unwrap();
/// assert!(!format!("{secret:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::str::FromStr for Secret {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.trim().to_owned()))
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Secret(text.trim().to_owned())
    }
}

/// Who may call the API, as configured. With no token anywhere the API is open.
#[derive(Debug, Clone, Default)]
pub struct AccessSettings {
    /// Tokens that may send logs for any service.
    pub ingest_tokens: Vec<Secret>,
    /// Tokens that may read logs and open live streams.
    pub query_tokens: Vec<Secret>,
    /// A file of tokens with scopes and service lists, read once at start-up.
    pub tokens_file: Option<std::path::PathBuf>,
    /// Whether `/metrics` needs a query token too.
    pub metrics_token_required: bool,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a route needs a token to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Sending logs.
    Ingest,
    /// Reading logs and live streams (and `/metrics` when it is protected).
    Query,
}

/// One token and what it may do.
#[derive(Debug, Clone)]
struct Rule {
    secret: Secret,
    ingest: bool,
    query: bool,
    /// The services it may write; `None` = any.
    services: Option<Arc<[ServiceName]>>,
}

/// The configured tokens. With none, every request is allowed.
#[derive(Debug, Default)]
pub struct AccessControl {
    rules: Vec<Rule>,
    /// Whether `/metrics` needs a query token.
    metrics_token_required: bool,
}

/// Who a request's headers say the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// No tokens are configured: anyone may do anything.
    Anyone,
    /// A configured token (its position, never the token itself).
    Token(usize),
    /// Tokens are configured but none was sent.
    Missing,
    /// The token sent is not a configured one.
    Unknown,
}

impl Identity {
    /// The configured token's position, when the caller sent a valid one.
    pub fn token(self) -> Option<usize> {
        match self {
            Identity::Token(index) => Some(index),
            _ => None,
        }
    }
}

impl AccessControl {
    /// The tokens given on the command line (each `ingest` or `query` for every service)
    /// plus those of the tokens file, when there is one.
    ///
    /// # Errors
    ///
    /// [`AccessConfigError`] when the tokens file cannot be read or has a bad line.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::api::auth::{AccessControl, AccessSettings, Secret};
    ///
    /// let access = AccessControl::new(&AccessSettings {
    ///     ingest_tokens: vec![Secret::from("abc")],
    ///     ..AccessSettings::default()
    /// })
    /// .unwrap();
    /// assert!(!access.is_open());
    /// ```
    pub fn new(settings: &AccessSettings) -> Result<Self, AccessConfigError> {
        let flag = |secret: &Secret, ingest, query| Rule {
            secret: secret.clone(),
            ingest,
            query,
            services: None,
        };
        let mut rules: Vec<Rule> = settings
            .ingest_tokens
            .iter()
            .map(|s| flag(s, true, false))
            .collect();
        rules.extend(settings.query_tokens.iter().map(|s| flag(s, false, true)));
        if let Some(path) = &settings.tokens_file {
            rules.extend(tokens::read_tokens_file(path)?);
        }
        Ok(AccessControl {
            rules: tokens::merge(rules),
            metrics_token_required: settings.metrics_token_required,
        })
    }

    /// Whether no token is configured (everything is allowed).
    pub fn is_open(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many distinct tokens are configured.
    pub fn tokens(&self) -> usize {
        self.rules.len()
    }

    /// Whether `/metrics` needs a query token.
    pub fn metrics_token_required(&self) -> bool {
        self.metrics_token_required && !self.is_open()
    }

    /// Who the caller is, by the token in `headers`, compared in constant time.
    pub fn identify(&self, headers: &HeaderMap) -> Identity {
        if self.is_open() {
            return Identity::Anyone;
        }
        let Some(presented) = presented_token(headers) else {
            return Identity::Missing;
        };
        // Every token is compared, and the match is selected without branching, so the
        // time taken says nothing about which token (or how much of one) matched.
        let mut found = 0u64;
        for (index, rule) in self.rules.iter().enumerate() {
            let equal = rule.secret.0.as_bytes().ct_eq(presented);
            found = u64::conditional_select(&found, &(index as u64 + 1), equal);
        }
        match found {
            0 => Identity::Unknown,
            n => Identity::Token(n as usize - 1),
        }
    }

    /// What `identity` may do on a route that needs `scope`.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthorized`] without a valid token, [`ApiError::Forbidden`] when the
    /// token lacks the scope.
    pub fn grant(&self, identity: Identity, scope: Scope) -> Result<Grant, ApiError> {
        let index = match identity {
            Identity::Anyone => return Ok(Grant::unrestricted()),
            Identity::Missing | Identity::Unknown => return Err(ApiError::Unauthorized),
            Identity::Token(index) => index,
        };
        let Some(rule) = self.rules.get(index) else {
            // An identity from another configuration: not one of ours.
            return Err(ApiError::Unauthorized);
        };
        match scope {
            Scope::Ingest if rule.ingest => Ok(Grant {
                services: rule.services.clone(),
            }),
            Scope::Query if rule.query => Ok(Grant::unrestricted()),
            Scope::Ingest => Err(ApiError::Forbidden("this token may not send logs".into())),
            Scope::Query => Err(ApiError::Forbidden("this token may not read logs".into())),
        }
    }
}

/// The token in `Authorization: Bearer …`, else in `X-Estuary-Token`.
fn presented_token(headers: &HeaderMap) -> Option<&[u8]> {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|value| {
        let value = value.as_bytes();
        let scheme = value.get(..7)?;
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| value[7..].trim_ascii())
    });
    bearer
        .or_else(|| headers.get(TOKEN_HEADER).map(|v| v.as_bytes().trim_ascii()))
        .filter(|token| !token.is_empty())
}

/// What an admitted request may do, put in its extensions by the gate.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The services it may write; `None` = any.
    services: Option<Arc<[ServiceName]>>,
}

impl Grant {
    /// A grant for anything (open mode, or an unrestricted token).
    pub fn unrestricted() -> Self {
        Grant { services: None }
    }

    /// Whether every batch names a service this grant may write.
    ///
    /// # Errors
    ///
    /// [`ApiError::Forbidden`] naming the first service it may not write.
    pub fn check_batches(&self, batches: &[ServiceLines]) -> Result<(), ApiError> {
        let Some(allowed) = &self.services else {
            return Ok(());
        };
        match batches.iter().find(|b| !allowed.contains(&b.service)) {
            None => Ok(()),
            Some(batch) => Err(ApiError::Forbidden(format!(
                "this token may not write service {:?}; nothing was stored",
                batch.service.as_str()
            ))),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Grant {
    type Rejection = ApiError;

    /// Taken from the gate's verdict; a route mounted without the gate refuses everyone
    /// rather than letting everyone in.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Grant>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(file: &str) -> AccessControl {
        let rules = file
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| tokens::parse_rule(l).unwrap())
            .collect();
        AccessControl {
            rules: tokens::merge(rules),
            metrics_token_required: false,
        }
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    #[test]
    fn bearer_and_the_token_header_identify_the_same_token() {
        let access = access("aaa ingest\nbbb query");
        assert_eq!(
            access.identify(&headers("authorization", "Bearer bbb")),
            Identity::Token(1)
        );
        assert_eq!(
            access.identify(&headers("authorization", "bearer  aaa ")),
            Identity::Token(0)
        );
        assert_eq!(
            access.identify(&headers(TOKEN_HEADER, "aaa")),
            Identity::Token(0)
        );
        assert_eq!(
            access.identify(&headers("authorization", "Basic aaa")),
            Identity::Missing
        );
        assert_eq!(
            access.identify(&headers(TOKEN_HEADER, "aab")),
            Identity::Unknown
        );
        assert_eq!(access.identify(&HeaderMap::new()), Identity::Missing);
    }

    #[test]
    fn scopes_and_service_lists_are_enforced() {
        let access = access("w ingest api\nr query\nboth ingest,query");
        assert!(access.grant(Identity::Token(0), Scope::Query).is_err());
        assert!(access.grant(Identity::Token(1), Scope::Ingest).is_err());
        assert!(access.grant(Identity::Token(2), Scope::Query).is_ok());
        let grant = access.grant(Identity::Token(0), Scope::Ingest).unwrap();
        let batch =
            |name: &str| ServiceLines::from_lines(ServiceName::parse(name).unwrap(), Vec::new());
        assert!(grant.check_batches(&[batch("api")]).is_ok());
        assert!(grant
            .check_batches(&[batch("api"), batch("unknown")])
            .is_err());
    }

    #[test]
    fn a_repeated_token_gets_the_union_of_its_grants() {
        let access = access("t ingest a\nt ingest b\nt query");
        assert_eq!(access.tokens(), 1);
        assert!(access.grant(Identity::Token(0), Scope::Query).is_ok());
        assert_eq!(access.rules[0].services.as_deref().map(<[_]>::len), Some(2));
    }

    #[test]
    fn bad_lines_are_refused() {
        for line in ["lonely", "t admin", "t query api", "t ingest ../x"] {
            assert!(tokens::parse_rule(line).is_err(), "{line}");
        }
    }
}
