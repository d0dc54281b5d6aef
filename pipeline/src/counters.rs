//! Counters: per-port receive and transmit, and one drop counter per reason.
//! A worker owns its `Counters`; readers sum them (the runtime adds the sharing).

use std::sync::atomic::{AtomicU64, Ordering};

use packet::{ParseError, ParseErrorKind};
use serde::Serialize;

/// Why a frame was dropped. Every frame a port receives is transmitted or counted
/// under exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The frame ends before a header, or before the length a header declares.
    Truncated,
    /// A header field holds an impossible value.
    Malformed,
    /// Wrong IPv4 header checksum.
    BadChecksum,
    /// Larger than a packet buffer.
    Oversize,
    /// The buffer pool was empty (a received frame or a flooded copy).
    NoBuffer,
    /// Untagged frame on a port with no untagged logical port.
    NoLogicalPort,
    /// Tagged frame whose VLAN is no sub-port of its port.
    UnknownVlan,
    /// Source MAC or IP not the logical port's.
    PortSecurity,
    /// Destination MAC is the sending logical port's own.
    Hairpin,
    /// Broadcast or unknown unicast with no other port in the network.
    NoDestination,
    /// Addressed to the router itself (the node's own stack is not there yet).
    RouterLocal,
    /// Routed destination in no network of the router, or no port has it.
    NoRoute,
    /// TTL or hop limit would reach zero.
    TtlExpired,
    /// Destination is bound to another chassis, but this node has no VTEP (vtep_ip,
    /// uplink and uplink_mac), or the VTEPs are of different IP families.
    NoTunnel,
    /// An output queue was full.
    TxQueueFull,
    /// No headroom left for a header to push.
    NoHeadroom,
    // Runtime
    /// A ring between workers (handoff or transmit) was full.
    RingFull,
    // Distributed SNAT (nat crate, pipeline/snat.rs).
    /// Arrived for an external address and matches no connection (no unsolicited
    /// inbound), or an ICMP error quoting no translated connection.
    SnatNoConnection,
    /// No free external port in the worker's slice for a new connection.
    SnatPortsExhausted,
    /// The connection table is full; no live connection is evicted.
    SnatTableFull,
    /// IP fragments are not translated.
    SnatFragment,
    /// North-south traffic SNAT cannot translate: IPv6, or not TCP, UDP, ICMP echo
    /// or an ICMP error.
    SnatUnsupported,
    /// A TCP segment other than a bare SYN for no known connection.
    SnatTcpNotSyn,
    /// No way to the external gateway: node.uplink_mac is not set, or neither
    /// external_gateway_mac nor an external_gateway_ip to resolve it.
    SnatNoGatewayMac,
    // SFC stage (issue 3).
    /// An MPLS label from a service function's port naming no hop that returns there.
    SfcUnknownLabel,
    /// An NSH SPI/SI from a service function's port naming no hop that returns there.
    SfcUnknownPath,
    /// An NSH header this dataplane does not accept (version, next protocol, length).
    SfcBadNsh,
    /// A plain frame on a proxied function's egress port with no recorded flow.
    SfcNoProxyFlow,
    /// The proxy had to remember a flow and its table was full.
    SfcProxyTableFull,
    /// A chained packet that MPLS cannot carry (not IP).
    SfcNotIp,
    /// At the end of a chain, the source address is no logical port of the network.
    SfcUnknownSource,
    // VXLAN overlay (issue 5).
    /// VXLAN header or inner Ethernet header cut short, or an outer fragment.
    VxlanTruncated,
    /// VXLAN whose outer destination is not this node's VTEP.
    VxlanWrongDestination,
    /// VXLAN without the I flag.
    VxlanBadFlags,
    /// VXLAN with a VNI no network has.
    VxlanUnknownVni,
    /// VXLAN from a source address that is no chassis' VTEP.
    VxlanUnknownChassis,
    /// Decapsulated frame whose source MAC is no logical port of the VNI's network
    /// bound to the sending chassis.
    VxlanSourceMismatch,
    /// A frame that came over the overlay would go back into it (never relayed).
    VxlanTransit,
    /// Too large for the uplink MTU once encapsulated (the VM gets ICMP when it can).
    MtuExceeded,
    /// The queue of frames waiting for a chassis MAC was full.
    ResolveQueueFull,
    /// A frame waited too long for its chassis MAC.
    ResolveTimeout,
    /// An ARP frame or IPv6 neighbour advertisement that taught this node a chassis
    /// MAC: consumed by the node.
    NeighbourLearned,
}

impl DropReason {
    pub const ALL: [DropReason; 42] = [
        DropReason::Truncated,
        DropReason::Malformed,
        DropReason::BadChecksum,
        DropReason::Oversize,
        DropReason::NoBuffer,
        DropReason::NoLogicalPort,
        DropReason::UnknownVlan,
        DropReason::PortSecurity,
        DropReason::Hairpin,
        DropReason::NoDestination,
        DropReason::RouterLocal,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::NoTunnel,
        DropReason::TxQueueFull,
        DropReason::NoHeadroom,
        DropReason::RingFull,
        // Distributed SNAT.
        DropReason::SnatNoConnection,
        DropReason::SnatPortsExhausted,
        DropReason::SnatTableFull,
        DropReason::SnatFragment,
        DropReason::SnatUnsupported,
        DropReason::SnatTcpNotSyn,
        DropReason::SnatNoGatewayMac,
        // SFC stage (issue 3).
        DropReason::SfcUnknownLabel,
        DropReason::SfcUnknownPath,
        DropReason::SfcBadNsh,
        DropReason::SfcNoProxyFlow,
        DropReason::SfcProxyTableFull,
        DropReason::SfcNotIp,
        DropReason::SfcUnknownSource,
        // VXLAN overlay (issue 5).
        DropReason::VxlanTruncated,
        DropReason::VxlanWrongDestination,
        DropReason::VxlanBadFlags,
        DropReason::VxlanUnknownVni,
        DropReason::VxlanUnknownChassis,
        DropReason::VxlanSourceMismatch,
        DropReason::VxlanTransit,
        DropReason::MtuExceeded,
        DropReason::ResolveQueueFull,
        DropReason::ResolveTimeout,
        DropReason::NeighbourLearned,
    ];

    /// The name counters are printed and exported under.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Malformed => "malformed",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::Oversize => "oversize",
            DropReason::NoBuffer => "no_buffer",
            DropReason::NoLogicalPort => "no_logical_port",
            DropReason::UnknownVlan => "unknown_vlan",
            DropReason::PortSecurity => "port_security",
            DropReason::Hairpin => "hairpin",
            DropReason::NoDestination => "no_destination",
            DropReason::RouterLocal => "router_local",
            DropReason::NoRoute => "no_route",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::NoTunnel => "no_tunnel",
            DropReason::TxQueueFull => "tx_queue_full",
            DropReason::NoHeadroom => "no_headroom",
            DropReason::RingFull => "ring_full",
            // Distributed SNAT.
            DropReason::SnatNoConnection => "snat_no_connection",
            DropReason::SnatPortsExhausted => "snat_ports_exhausted",
            DropReason::SnatTableFull => "snat_table_full",
            DropReason::SnatFragment => "snat_fragment",
            DropReason::SnatUnsupported => "snat_unsupported",
            DropReason::SnatTcpNotSyn => "snat_tcp_not_syn",
            DropReason::SnatNoGatewayMac => "snat_no_gateway_mac",
            // SFC stage (issue 3).
            DropReason::SfcUnknownLabel => "sfc_unknown_label",
            DropReason::SfcUnknownPath => "sfc_unknown_path",
            DropReason::SfcBadNsh => "sfc_bad_nsh",
            DropReason::SfcNoProxyFlow => "sfc_no_proxy_flow",
            DropReason::SfcProxyTableFull => "sfc_proxy_table_full",
            DropReason::SfcNotIp => "sfc_not_ip",
            DropReason::SfcUnknownSource => "sfc_unknown_source",
            // VXLAN overlay (issue 5).
            DropReason::VxlanTruncated => "vxlan_truncated",
            DropReason::VxlanWrongDestination => "vxlan_wrong_destination",
            DropReason::VxlanBadFlags => "vxlan_bad_flags",
            DropReason::VxlanUnknownVni => "vxlan_unknown_vni",
            DropReason::VxlanUnknownChassis => "vxlan_unknown_chassis",
            DropReason::VxlanSourceMismatch => "vxlan_source_mismatch",
            DropReason::VxlanTransit => "vxlan_transit",
            DropReason::MtuExceeded => "mtu_exceeded",
            DropReason::ResolveQueueFull => "resolve_queue_full",
            DropReason::ResolveTimeout => "resolve_timeout",
            DropReason::NeighbourLearned => "neighbour_learned",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl From<nat::NatError> for DropReason {
    fn from(error: nat::NatError) -> Self {
        match error {
            nat::NatError::NoConnection => DropReason::SnatNoConnection,
            nat::NatError::PortsExhausted => DropReason::SnatPortsExhausted,
            nat::NatError::TableFull => DropReason::SnatTableFull,
            nat::NatError::Fragment => DropReason::SnatFragment,
            nat::NatError::Unsupported => DropReason::SnatUnsupported,
            nat::NatError::TcpNotSyn => DropReason::SnatTcpNotSyn,
        }
    }
}

impl From<ParseError> for DropReason {
    fn from(error: ParseError) -> Self {
        match error.kind {
            ParseErrorKind::Truncated => DropReason::Truncated,
            ParseErrorKind::Malformed => DropReason::Malformed,
            ParseErrorKind::BadChecksum => DropReason::BadChecksum,
        }
    }
}

/// Receive and transmit counts of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortCounters {
    pub rx: u64,
    pub tx: u64,
}

/// One worker's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    pub ports: Vec<PortCounters>,
    drops: [u64; DropReason::ALL.len()],
    /// Where the worker's time went, in TSC cycles: polls that found packets (and
    /// processed them), and polls that found nothing.
    pub busy_cycles: u64,
    pub idle_cycles: u64,
}

impl Counters {
    pub fn new(ports: usize) -> Self {
        Counters {
            ports: vec![PortCounters::default(); ports],
            drops: [0; DropReason::ALL.len()],
            busy_cycles: 0,
            idle_cycles: 0,
        }
    }

    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }

    #[inline]
    pub fn rx(&mut self, port: usize) {
        if let Some(counters) = self.ports.get_mut(port) {
            counters.rx += 1;
        }
    }

    #[inline]
    pub fn tx(&mut self, port: usize, packets: u64) {
        if let Some(counters) = self.ports.get_mut(port) {
            counters.tx += packets;
        }
    }

    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub fn total_rx(&self) -> u64 {
        self.ports.iter().map(|p| p.rx).sum()
    }

    pub fn total_tx(&self) -> u64 {
        self.ports.iter().map(|p| p.tx).sum()
    }

    /// Adds another worker's counters into these.
    pub fn add(&mut self, other: &Counters) {
        for (mine, theirs) in self.ports.iter_mut().zip(&other.ports) {
            mine.rx += theirs.rx;
            mine.tx += theirs.tx;
        }
        for (mine, theirs) in self.drops.iter_mut().zip(&other.drops) {
            *mine += theirs;
        }
        self.busy_cycles += other.busy_cycles;
        self.idle_cycles += other.idle_cycles;
    }

    /// The non-zero drop counters, by name.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|reason| (reason.name(), self.drops(*reason)))
            .filter(|(_, count)| *count > 0)
    }
}

/// A worker's counters as others may read them while it runs. The worker is the only
/// writer: after each burst it stores its plain counters here (relaxed stores, no
/// read-modify-write), readers sum the workers' copies.
pub struct PublishedCounters {
    ports: Vec<[AtomicU64; 2]>,
    drops: [AtomicU64; DropReason::ALL.len()],
    /// Busy and idle cycles.
    cycles: [AtomicU64; 2],
}

impl PublishedCounters {
    pub fn new(ports: usize) -> Self {
        PublishedCounters {
            ports: (0..ports)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            cycles: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    pub fn publish(&self, counters: &Counters) {
        for (published, current) in self.ports.iter().zip(&counters.ports) {
            published[0].store(current.rx, Ordering::Relaxed);
            published[1].store(current.tx, Ordering::Relaxed);
        }
        for (published, current) in self.drops.iter().zip(&counters.drops) {
            published.store(*current, Ordering::Relaxed);
        }
        self.cycles[0].store(counters.busy_cycles, Ordering::Relaxed);
        self.cycles[1].store(counters.idle_cycles, Ordering::Relaxed);
    }

    pub fn read(&self) -> Counters {
        let mut counters = Counters::new(self.ports.len());
        for (current, published) in counters.ports.iter_mut().zip(&self.ports) {
            current.rx = published[0].load(Ordering::Relaxed);
            current.tx = published[1].load(Ordering::Relaxed);
        }
        for (current, published) in counters.drops.iter_mut().zip(&self.drops) {
            *current = published.load(Ordering::Relaxed);
        }
        counters.busy_cycles = self.cycles[0].load(Ordering::Relaxed);
        counters.idle_cycles = self.cycles[1].load(Ordering::Relaxed);
        counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_listed_once_in_index_order() {
        for (position, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), position, "{reason:?}");
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
    }

    #[test]
    fn published_counters_read_back() {
        let mut counters = Counters::new(2);
        counters.rx(1);
        counters.tx(0, 4);
        counters.drop(DropReason::RingFull);
        let published = PublishedCounters::new(2);
        published.publish(&counters);
        assert_eq!(published.read(), counters);
    }

    #[test]
    fn add_sums_ports_and_drops() {
        let mut a = Counters::new(2);
        a.rx(0);
        a.drop(DropReason::NoRoute);
        let mut b = Counters::new(2);
        b.rx(0);
        b.tx(1, 3);
        b.drop(DropReason::NoRoute);
        a.add(&b);
        assert_eq!(
            (a.total_rx(), a.total_tx(), a.drops(DropReason::NoRoute)),
            (2, 3, 2)
        );
        assert_eq!(a.nonzero_drops().collect::<Vec<_>>(), vec![("no_route", 2)]);
    }
}
