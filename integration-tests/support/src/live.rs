//! Live consumers for tests: a Redis subscriber and an SSE reader, each on its own thread
//! feeding a channel, so tests can wait with a timeout instead of sleeping.

use std::io::{BufRead, BufReader};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Messages received on Redis channels: `(channel, payload)`.
pub struct Subscriber {
    messages: Receiver<(String, String)>,
}

impl Subscriber {
    /// Subscribes to `channels` on the Redis at `url`; returns once the subscription is live.
    /// A channel with a `*` in it is a pattern (`PSUBSCRIBE`).
    pub fn start(url: &str, channels: &[&str]) -> Self {
        let client = redis::Client::open(url).expect("redis url");
        let mut connection = client.get_connection().expect("redis connection");
        let (tx, messages) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
        std::thread::spawn(move || {
            let mut pubsub = connection.as_pubsub();
            for channel in &channels {
                if channel.contains('*') {
                    pubsub.psubscribe(channel).expect("psubscribe");
                } else {
                    pubsub.subscribe(channel).expect("subscribe");
                }
            }
            let _ = ready_tx.send(());
            while let Ok(message) = pubsub.get_message() {
                let payload: String = message.get_payload().expect("utf8 payload");
                if tx
                    .send((message.get_channel_name().to_owned(), payload))
                    .is_err()
                {
                    break;
                }
            }
        });
        ready
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed");
        Subscriber { messages }
    }

    /// The next message, or `None` after `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<(String, String)> {
        self.messages.recv_timeout(timeout).ok()
    }

    /// Collects messages until `count` arrived (panics after `timeout`).
    pub fn take(&self, count: usize, timeout: Duration) -> Vec<(String, String)> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(message) => out.push(message),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("only {} of {count} messages arrived", out.len())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("subscriber died after {}", out.len())
                }
            }
        }
        out
    }
}

/// An SSE event: its type (`message` when unnamed) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message`.
    pub event: String,
    /// The `data:` field.
    pub data: String,
}

/// Reads an SSE stream on a thread.
pub struct SseReader {
    events: Receiver<SseEvent>,
}

impl SseReader {
    /// Opens `url` and returns once the response headers arrived (the subscription is live).
    pub fn open(url: &str) -> Self {
        let response = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .expect("client")
            .get(url)
            .send()
            .expect("stream request");
        assert_eq!(response.status().as_u16(), 200, "stream refused");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            let reader = BufReader::new(response);
            let (mut event, mut data) = (String::from("message"), String::new());
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if line.is_empty() {
                    if !data.is_empty() {
                        let done = SseEvent {
                            event: std::mem::replace(&mut event, "message".into()),
                            data: std::mem::take(&mut data),
                        };
                        if tx.send(done).is_err() {
                            break;
                        }
                    }
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                } else if let Some(value) = line.strip_prefix("event: ") {
                    event = value.to_owned();
                }
            }
        });
        SseReader { events }
    }

    /// The next event, or `None` after `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<SseEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The next event's data parsed as JSON (panics after `timeout`).
    pub fn next_json(&self, timeout: Duration) -> serde_json::Value {
        let event = self.next(timeout).expect("an event in time");
        assert_eq!(event.event, "message", "{event:?}");
        serde_json::from_str(&event.data).expect("json event")
    }
}
