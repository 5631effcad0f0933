//! The files of the console, embedded at compile time from `assets/`.

/// One embedded file.
pub(super) struct Asset {
    /// Its file name, the last segment of its URL.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page; `{{version}}` is replaced by [`super::version`].
pub(super) const PAGE: &str = include_str!("assets/index.html");

/// Everything under `/console/{version}/`.
pub(super) const ALL: &[Asset] = &[
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("main.js", JS),
    asset!("api.js", JS),
    asset!("state.js", JS),
    asset!("services.js", JS),
    asset!("search.js", JS),
    asset!("histogram.js", JS),
    asset!("results.js", JS),
    asset!("detail.js", JS),
    asset!("live.js", JS),
    asset!("facets.js", JS),
    asset!("format.js", JS),
];
