//! Port link changes, noticed by the control thread (the workers never log): each
//! look compares every port's link with what it was, and logs what changed.

use port::{LinkState, PortInfo};
use std::sync::Arc;

pub struct LinkWatch {
    last: Vec<LinkState>,
}

impl LinkWatch {
    pub fn new(ports: &[Arc<dyn PortInfo>]) -> Self {
        LinkWatch {
            last: ports.iter().map(|p| p.link()).collect(),
        }
    }

    /// The ports whose link changed since the last look, with their new state.
    pub fn changes(&mut self, ports: &[Arc<dyn PortInfo>]) -> Vec<(String, LinkState)> {
        let mut changed = Vec::new();
        for (last, port) in self.last.iter_mut().zip(ports) {
            let now = port.link();
            if now != *last {
                *last = now;
                changed.push((port.name().to_owned(), now));
            }
        }
        changed
    }

    /// Logs the changes since the last look.
    pub fn log_changes(&mut self, ports: &[Arc<dyn PortInfo>]) {
        for (port, link) in self.changes(ports) {
            if link.up {
                tracing::info!(port = %port, speed_mbps = link.speed_mbps, "port {port}: link up");
            } else {
                tracing::warn!(port = %port, "port {port}: link down");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use port::{Capabilities, PortStats};
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Flapping {
        up: AtomicBool,
        stats: PortStats,
    }

    impl PortInfo for Flapping {
        fn name(&self) -> &str {
            "eth1"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                rx_queues: 1,
                tx_queues: 1,
                max_frame: 1518,
                hashes_flows: false,
                rx_checksum: false,
            }
        }
        fn link(&self) -> LinkState {
            LinkState {
                up: self.up.load(Ordering::Relaxed),
                speed_mbps: 10_000,
            }
        }
        fn stats(&self) -> &PortStats {
            &self.stats
        }
    }

    #[test]
    fn each_change_is_reported_once() {
        let port = Arc::new(Flapping {
            up: AtomicBool::new(true),
            stats: PortStats::new(1, 1),
        });
        let ports: Vec<Arc<dyn PortInfo>> = vec![port.clone()];
        let mut watch = LinkWatch::new(&ports);
        assert!(watch.changes(&ports).is_empty());
        port.up.store(false, Ordering::Relaxed);
        let changed = watch.changes(&ports);
        assert_eq!(changed.len(), 1);
        assert_eq!((changed[0].0.as_str(), changed[0].1.up), ("eth1", false));
        assert!(watch.changes(&ports).is_empty(), "reported once");
        port.up.store(true, Ordering::Relaxed);
        assert!(watch.changes(&ports)[0].1.up);
    }
}
