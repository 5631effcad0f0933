//! A live-tail consumer: subscribes to every Estuary channel on Redis (`logs:*`) and prints
//! each entry as it is stored, with the channel it came from.
//!
//! Run a collector with fan-out on, then this consumer, then send it some logs:
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --release -p estuary-collector &   # or target/release/estuary
//! REDIS_URL=redis://127.0.0.1:6379 cargo run -p estuary-examples --example live_tail_redis
//! curl -XPOST localhost:8005/logs -H 'content-type: application/json' -d '{"service":"api","message":"hi"}'
//! ```
//!
//! Every entry arrives twice: once on `logs:all` and once on `logs:<service>`. Pass a
//! pattern (e.g. `logs:api`) as the first argument to follow one service only. Channels
//! containing `@` are the collectors' internal ones and are skipped.

use futures_util::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> redis::RedisResult<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pattern = std::env::args().nth(1).unwrap_or_else(|| "logs:*".into());
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe(&pattern).await?;
    eprintln!("following {pattern}; Ctrl-C to stop");
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let channel = message.get_channel_name();
        if channel.contains('@') {
            continue;
        }
        let entry: String = message.get_payload()?;
        println!("{channel}\t{entry}");
    }
    Ok(())
}
