//! What the HTTP destinations share: the client, authentication, and how an answer's
//! status decides between retrying and skipping.

use std::time::Duration;

use reqwest::StatusCode;

use super::SendError;

/// How a forwarder authenticates.
#[derive(Clone, Default)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password (may be empty).
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    // Never print credentials into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Basic { .. } => "Basic(..)",
            Auth::Bearer(_) => "Bearer(..)",
        })
    }
}

impl Auth {
    /// Picks basic auth when a user name is given, else bearer when a token is given.
    pub fn from_options(
        username: Option<&str>,
        password: Option<&str>,
        token: Option<&str>,
    ) -> Self {
        match (username, token) {
            (Some(username), _) => Auth::Basic {
                username: username.to_owned(),
                password: password.unwrap_or_default().to_owned(),
            },
            (None, Some(token)) => Auth::Bearer(token.to_owned()),
            (None, None) => Auth::None,
        }
    }

    /// Adds the `Authorization` header, if any.
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        }
    }

    /// Sends `request` with these credentials; a failure to get any answer is retried.
    ///
    /// # Errors
    ///
    /// [`SendError::Retry`] (via [`transport`]) when the destination cannot be reached.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SendError> {
        self.apply(request).send().await.map_err(|e| transport(&e))
    }
}

/// A client for one destination. Its own events are not logged into the collector: the
/// collector logs through `tracing` to stderr, not into its own store.
///
/// # Errors
///
/// [`reqwest::Error`] when the HTTP client cannot be built (its TLS backend fails to load).
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(2)
        .build()
}

/// What a non-success status means: 400 and 422 say the body itself is bad, so sending it
/// again cannot help (skip and count); 413 says it is too large (send it in smaller parts);
/// everything else — 429, 5xx, and also 401/403/404, which are configuration mistakes an
/// operator can fix — is retried so nothing is lost.
pub fn classify(status: StatusCode, body: &str) -> SendError {
    let reason = format!("{status}: {}", body.chars().take(300).collect::<String>());
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => SendError::Reject(reason),
        StatusCode::PAYLOAD_TOO_LARGE => SendError::TooLarge(reason),
        _ => SendError::Retry(reason),
    }
}

/// A transport error (refused, reset, timed out) is always worth retrying.
pub fn transport(err: &reqwest::Error) -> SendError {
    SendError::Retry(format!("request failed: {err}"))
}
