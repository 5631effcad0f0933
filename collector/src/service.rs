//! Service names: the one piece of client input that becomes part of a file path.

use std::fmt;

/// The longest service name accepted, in bytes.
pub const MAX_SERVICE_NAME_BYTES: usize = 128;

/// The service name used when an entry has no `service` field (as the seed did).
pub const UNKNOWN_SERVICE: &str = "unknown";

/// A service name that is safe to use as a file name: 1 to 128 bytes of ASCII letters,
/// digits, `.`, `_` and `-`, not starting with `.` (so never `.`, `..` or a hidden file).
///
/// # Examples
///
/// ```
/// use estuary_collector::service::ServiceName;
///
/// assert!(ServiceName::parse("checkout-api.v2").is_ok());
/// assert!(ServiceName::parse("../etc/passwd").is_err());
/// assert!(ServiceName::parse(".hidden").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

/// Why a string is not a valid service name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceNameError {
    /// The name is empty.
    #[error("service name is empty")]
    Empty,
    /// The name is longer than [`MAX_SERVICE_NAME_BYTES`].
    #[error("service name is {0} bytes long; the maximum is {MAX_SERVICE_NAME_BYTES}")]
    TooLong(usize),
    /// The name starts with `.`.
    #[error("service name must not start with '.'")]
    LeadingDot,
    /// The name contains a character outside `[A-Za-z0-9._-]`.
    #[error("service name may contain only letters, digits, '.', '_' and '-' (found {0:?})")]
    BadCharacter(char),
}

impl ServiceName {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// Returns a [`ServiceNameError`] saying which rule the name breaks.
    ///
    /// # Examples
    ///
    /// ```
    /// use estuary_collector::service::{ServiceName, ServiceNameError};
    ///
    /// assert_eq!(ServiceName::parse("a/b"), Err(ServiceNameError::BadCharacter('/')));
    /// ```
    pub fn parse(name: &str) -> Result<Self, ServiceNameError> {
        if name.is_empty() {
            return Err(ServiceNameError::Empty);
        }
        if name.len() > MAX_SERVICE_NAME_BYTES {
            return Err(ServiceNameError::TooLong(name.len()));
        }
        if name.starts_with('.') {
            return Err(ServiceNameError::LeadingDot);
        }
        if let Some(bad) = name.chars().find(|c| !is_allowed(*c)) {
            return Err(ServiceNameError::BadCharacter(bad));
        }
        Ok(ServiceName(name.to_owned()))
    }

    /// The name for entries without a `service` field: `unknown`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(estuary_collector::service::ServiceName::unknown().as_str(), "unknown");
    /// ```
    pub fn unknown() -> Self {
        ServiceName(UNKNOWN_SERVICE.to_owned())
    }

    /// The name as a string slice.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = estuary_collector::service::ServiceName::parse("api").unwrap();
    /// assert_eq!(name.as_str(), "api");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_every_path_trick() {
        for bad in [
            "../x", "a/b", "..", ".", ".hidden", "", "a\0b", "a\\b", "é", "a b",
        ] {
            assert!(ServiceName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = "a".repeat(MAX_SERVICE_NAME_BYTES + 1);
        assert_eq!(
            ServiceName::parse(&long),
            Err(ServiceNameError::TooLong(129))
        );
    }

    #[test]
    fn accepts_the_documented_alphabet() {
        for good in [
            "a",
            "A-z_0.9",
            "svc..x",
            &"b".repeat(MAX_SERVICE_NAME_BYTES),
        ] {
            assert!(ServiceName::parse(good).is_ok(), "{good:?} was refused");
        }
    }
}
