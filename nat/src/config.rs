//! NAT configuration: port range, table size, timeouts, mapping behaviour.

/// Per-state timeouts in seconds. The defaults are Linux's
/// (`nf_conntrack_tcp_timeout_*`, `nf_conntrack_udp_timeout[_stream]`,
/// `nf_conntrack_icmp_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_syn_sent: u32,
    pub tcp_syn_recv: u32,
    pub tcp_established: u32,
    pub tcp_fin_wait: u32,
    pub tcp_close_wait: u32,
    pub tcp_last_ack: u32,
    pub tcp_time_wait: u32,
    pub tcp_close: u32,
    pub udp_unreplied: u32,
    pub udp_replied: u32,
    pub icmp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn_sent: 120,
            tcp_syn_recv: 60,
            tcp_established: 432_000,
            tcp_fin_wait: 120,
            tcp_close_wait: 60,
            tcp_last_ack: 30,
            tcp_time_wait: 120,
            tcp_close: 10,
            udp_unreplied: 30,
            udp_replied: 120,
            icmp: 30,
        }
    }
}

/// How an internal endpoint is mapped to an external port (RFC 4787 section 4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mapping {
    /// A new external port is chosen per (internal endpoint, remote endpoint); one
    /// external port serves many internal endpoints towards different remotes, as
    /// Linux masquerading does. The default: it stretches a small port range.
    #[default]
    AddressAndPortDependent,
    /// One external port per internal endpoint, whatever the remote (RFC 4787
    /// REQ-1, RFC 5382 REQ-1): friendlier to peer-to-peer applications, and costs one
    /// external port per internal endpoint.
    EndpointIndependent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatConfig {
    /// The node's SNAT port range, inclusive (all workers together).
    pub port_range: (u16, u16),
    /// How many workers share the range, and which one this table belongs to.
    pub workers: u16,
    pub worker: u16,
    /// Most connections this worker tracks; the tables are sized for it at start.
    pub max_connections: u32,
    pub timeouts: Timeouts,
    pub mapping: Mapping,
    /// Slab slots the expiry sweep examines per call (bounded work per burst).
    pub sweep_budget: u32,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            port_range: (1024, 65535),
            workers: 1,
            worker: 0,
            max_connections: 65_536,
            timeouts: Timeouts::default(),
            mapping: Mapping::default(),
            sweep_budget: 64,
        }
    }
}
