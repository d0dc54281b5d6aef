//! The proxy for service functions that see plain frames (correlation `none`): what
//! was sent to a function, so that the frame it returns continues at the right hop.

use packet::FlowKey;

use crate::chain::HopRef;
use crate::expiring::ExpiringMap;

/// Idle time after which a proxied flow is forgotten.
pub const PROXY_IDLE_NS: u64 = 30 * 1_000_000_000;

/// (return logical port, 5-tuple) -> hop. Bounded; one per worker.
pub struct ProxyTable {
    flows: ExpiringMap<(u32, FlowKey), HopRef>,
}

impl ProxyTable {
    pub fn new(capacity: usize) -> Self {
        ProxyTable {
            flows: ExpiringMap::new(capacity, PROXY_IDLE_NS),
        }
    }

    /// Records a frame sent to a function returning on `return_port`; `false` when
    /// the table is full of live flows.
    pub fn record(&mut self, return_port: u32, flow: &FlowKey, hop: HopRef, now: u64) -> bool {
        self.flows.insert((return_port, *flow), hop, now)
    }

    /// The hop of a frame returning on `return_port`.
    pub fn lookup(&mut self, return_port: u32, flow: &FlowKey, now: u64) -> Option<HopRef> {
        self.flows.get(&(return_port, *flow), now).copied()
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}
