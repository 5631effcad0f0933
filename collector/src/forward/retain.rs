//! The retention cap that stops a forwarder stuck behind from filling the disk.

use super::ForwardStatus;
use crate::service::ServiceName;
use crate::store::Store;

/// The offset retention must keep from, given the lowest forwarder position: past `cap`
/// bytes behind the end, only the last `cap` bytes are kept, and that is logged loudly
/// (the forwarder reports the exact range it lost when it gets there).
pub fn apply_cap(
    store: &Store,
    service: &ServiceName,
    lowest: u64,
    cap: Option<u64>,
    status: &ForwardStatus,
) -> u64 {
    let Some(cap) = cap else { return lowest };
    let Ok(end) = store.end_of(service) else {
        return lowest;
    };
    let floor = end.saturating_sub(cap);
    if lowest >= floor {
        return lowest;
    }
    let behind: Vec<&str> = status
        .0
        .iter()
        .filter(|f| f.position(service) < floor)
        .map(|f| f.name.as_str())
        .collect();
    tracing::error!(
        %service,
        forwarders = ?behind,
        behind_bytes = end - lowest,
        cap_bytes = cap,
        give_up_before = floor,
        "forwarders are further behind than --forward-retain-cap-bytes: retention may delete entries they have not sent"
    );
    floor
}
