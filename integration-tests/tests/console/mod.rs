//! The web console: how it is served (headers, content negotiation on `GET /`), and the
//! page itself driven in Debian's Chromium over WebDriver against the real binary. All
//! browser scenarios share one chromedriver and run one after another (`browser.rs`), so
//! the suite stays fast on two cores.

mod browser;
mod perf;
mod serving;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::support::ChromeDriver;

/// How long a page condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// Where the tests write their screenshots (`target/tmp/console/`).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// One headless Chromium session, driven synchronously (each call blocks on the runtime),
/// so the test can post entries with the blocking client between steps.
pub struct Browser {
    rt: Runtime,
    client: Option<Client>,
}

impl Browser {
    /// A new session of `driver` in a 1280×800 window, with extra Chromium switches.
    pub fn open(driver: &ChromeDriver, extra: &[&str]) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Both of rustls's providers are compiled in a workspace build: name one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let Value::Object(caps) = ChromeDriver::capabilities(1280, 800, extra) else {
            unreachable!("capabilities are an object")
        };
        let client = rt
            .block_on(async {
                ClientBuilder::rustls()
                    .expect("rustls")
                    .capabilities(caps)
                    .connect(&driver.url)
                    .await
            })
            .expect("a Chromium session");
        Browser {
            rt,
            client: Some(client),
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("open session")
    }

    pub fn goto(&self, url: &str) {
        self.rt
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub fn refresh(&self) {
        self.rt.block_on(self.client().refresh()).expect("refresh");
    }

    pub fn back(&self) {
        self.rt.block_on(self.client().back()).expect("back");
    }

    pub fn url(&self) -> String {
        self.rt
            .block_on(self.client().current_url())
            .expect("url")
            .to_string()
    }

    /// Runs a script (a function body: `return …`) and gives back its value.
    pub fn js(&self, script: &str) -> Value {
        self.rt
            .block_on(self.client().execute(script, Vec::new()))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something truthy, and returns that.
    ///
    /// # Panics
    ///
    /// With `what` and the page's banner when it does not within [`PATIENCE`].
    pub fn until(&self, what: &str, script: &str) -> Value {
        self.until_within(PATIENCE, what, script)
    }

    pub fn until_within(&self, patience: Duration, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let value = self.js(script);
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let banner = self.js("return document.getElementById('banner')?.textContent");
                panic!("timed out waiting for {what} (last value {value}; banner {banner})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Clicks an element, waiting up to [`PATIENCE`] for it to appear (panels load
    /// asynchronously).
    pub fn click(&self, css: &str) {
        self.rt
            .block_on(async {
                let element = self
                    .client()
                    .wait()
                    .at_most(PATIENCE)
                    .for_element(Locator::Css(css))
                    .await?;
                element.click().await
            })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Moves the mouse over the centre of an element.
    pub fn hover(&self, css: &str) {
        use fantoccini::actions::{InputSource, MouseActions, PointerAction};
        self.rt
            .block_on(async {
                let element = self.client().find(Locator::Css(css)).await?;
                let over = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
                    element,
                    duration: Some(Duration::from_millis(50)),
                    x: 0.0,
                    y: 0.0,
                });
                self.client().perform_actions(over).await
            })
            .unwrap_or_else(|e| panic!("hover {css}: {e}"));
    }

    /// Presses the left button over the centre of `from` and releases it over `to`.
    pub fn drag(&self, from: &str, to: &str) {
        use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
        self.rt
            .block_on(async {
                let from = self.client().find(Locator::Css(from)).await?;
                let to = self.client().find(Locator::Css(to)).await?;
                let at = |element| PointerAction::MoveToElement {
                    element,
                    duration: Some(Duration::from_millis(50)),
                    x: 0.0,
                    y: 0.0,
                };
                let drag = MouseActions::new("mouse".into())
                    .then(at(from))
                    .then(PointerAction::Down {
                        button: MOUSE_BUTTON_LEFT,
                    })
                    .then(at(to))
                    .then(PointerAction::Up {
                        button: MOUSE_BUTTON_LEFT,
                    });
                self.client().perform_actions(drag).await
            })
            .unwrap_or_else(|e| panic!("drag: {e}"));
    }

    /// Types into an element (WebDriver keys: `\u{E007}` is Enter).
    pub fn type_into(&self, css: &str, text: &str) {
        self.rt
            .block_on(async {
                let element = self.client().find(Locator::Css(css)).await?;
                element.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .rt
            .block_on(self.client().screenshot())
            .expect("screenshot");
        let path = screenshot_dir().join(name);
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The texts of the rendered result rows.
    pub fn rows(&self) -> Vec<String> {
        let value = self
            .js("return [...document.querySelectorAll('#results .row')].map(r => r.textContent)");
        serde_json::from_value(value).expect("row texts")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
    }
}
