//! Live tail: appended events fanned out per group through bounded broadcast channels.
//!
//! The service publishes each batch after it is durable. Subscribers that fall behind skip what
//! they missed (the channel is bounded) and are told how many events they lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use logsight_model::LogEvent;
use tokio::sync::broadcast;

/// One durable batch, as tail subscribers see it.
#[derive(Debug)]
pub struct Appended {
    /// Group.
    pub group: String,
    /// Stream.
    pub stream: String,
    /// The events.
    pub events: Vec<LogEvent>,
}

/// Batches buffered per group for slow subscribers before they start skipping.
const CAPACITY: usize = 256;

/// The fan-out of appended events, one broadcast channel per group with subscribers.
#[derive(Debug, Default)]
pub struct TailHub {
    groups: Mutex<HashMap<String, broadcast::Sender<Arc<Appended>>>>,
}

impl TailHub {
    /// Subscribes to a group's appends.
    pub fn subscribe(&self, group: &str) -> broadcast::Receiver<Arc<Appended>> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.entry(group.to_owned()).or_insert_with(|| broadcast::channel(CAPACITY).0).subscribe()
    }

    /// Publishes a durable batch to the group's subscribers, if it has any.
    pub fn publish(&self, group: &str, stream: &str, events: &[LogEvent]) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = groups.get(group) else { return };
        if tx.receiver_count() == 0 {
            groups.remove(group);
            return;
        }
        let batch =
            Appended { group: group.into(), stream: stream.into(), events: events.to_vec() };
        let _ = tx.send(Arc::new(batch));
    }
}
