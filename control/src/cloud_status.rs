//! What the cloud agent (etcd) reports about itself: connected or not, the revision
//! it follows, what it refused. The agent writes it; the control API (`dpctl status`)
//! and the metrics read it. Absent when the daemon runs from a file alone.

use std::sync::Mutex;
use std::time::SystemTime;

/// One object the agent refused, by its key, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub key: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
pub struct CloudStatusView {
    pub endpoints: String,
    pub prefix: String,
    pub node: String,
    /// The watch is established (the last request to etcd succeeded).
    pub connected: bool,
    /// This node's registration (under its lease) is in place.
    pub registered: bool,
    /// The etcd revision the applied configuration was derived from.
    pub revision: i64,
    /// The snapshot generation published for it.
    pub generation: u64,
    /// The last error talking to etcd, kept after it recovers.
    pub last_error: Option<String>,
    /// When `connected` last changed.
    pub since: Option<SystemTime>,
    /// Objects refused in the configuration in force.
    pub refused: Vec<Refusal>,
    /// Other nodes known from the configuration whose registration is absent.
    pub nodes_down: Vec<String>,
    /// Whole reads of the prefix since start (after etcd compacted the revision the
    /// watch would resume from, or when the agent started without etcd).
    pub full_reads: u64,
}

#[derive(Debug, Default)]
pub struct CloudStatus {
    view: Mutex<CloudStatusView>,
}

impl CloudStatus {
    pub fn new(view: CloudStatusView) -> Self {
        CloudStatus {
            view: Mutex::new(view),
        }
    }

    pub fn get(&self) -> CloudStatusView {
        self.view.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn update(&self, edit: impl FnOnce(&mut CloudStatusView)) {
        if let Ok(mut view) = self.view.lock() {
            edit(&mut view);
        }
    }

    /// Records a change of connection state (and when it happened).
    pub fn set_connected(&self, connected: bool, error: Option<String>) {
        self.update(|view| {
            if view.connected != connected {
                view.since = Some(SystemTime::now());
            }
            view.connected = connected;
            if error.is_some() {
                view.last_error = error;
            }
        });
    }
}
