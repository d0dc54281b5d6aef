//! Counters: per-port receive and transmit, and one drop counter per reason.
//! A worker owns its `Counters`; readers sum them (the runtime adds the sharing).

use std::sync::atomic::{AtomicU64, Ordering};

use packet::{ParseError, ParseErrorKind};
use serde::Serialize;

/// Declares the drop reasons once: each with its documentation and the name it is
/// counted, printed and exported under. The enum, the list of every reason, the names
/// and the documentation (from which the README's table is made) all come from here.
macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])+ $reason:ident => $name:literal,)+) => {
        /// Why a frame was dropped. Every frame a port delivers is transmitted or
        /// counted under exactly one of these.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $($(#[doc = $doc])+ $reason,)+
        }

        impl DropReason {
            pub const ALL: [DropReason; [$($name),+].len()] = [$(DropReason::$reason),+];

            /// The name counters are printed and exported under.
            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$reason => $name,)+
                }
            }

            /// What the reason means, one line.
            pub fn doc(self) -> String {
                let lines: &[&str] = match self {
                    $(DropReason::$reason => &[$($doc),+],)+
                };
                lines.iter().map(|line| line.trim()).collect::<Vec<_>>().join(" ")
            }
        }
    };
}

drop_reasons! {
    /// The frame ends before a header, or before the length a header declares.
    Truncated => "truncated",
    /// A header field holds an impossible value.
    Malformed => "malformed",
    /// Wrong IPv4 header checksum.
    BadChecksum => "bad_checksum",
    /// A traced frame larger than a packet buffer (received frames that large are the
    /// driver's receive errors).
    Oversize => "oversize",
    /// The buffer pool was empty for a frame the dataplane makes (a flooded copy, an ARP
    /// request).
    NoBuffer => "no_buffer",
    /// Untagged frame on a port with no untagged logical port.
    NoLogicalPort => "no_logical_port",
    /// Tagged frame whose VLAN is no sub-port of its port.
    UnknownVlan => "unknown_vlan",
    /// Source MAC or IP not the logical port's.
    PortSecurity => "port_security",
    /// Destination MAC is the sending logical port's own.
    Hairpin => "hairpin",
    /// Broadcast or unknown unicast with no other port in the network.
    NoDestination => "no_destination",
    /// Addressed to the router itself and not answered by it (it answers echo
    /// requests and UDP, with port unreachable).
    RouterLocal => "router_local",
    /// Routed destination in no network of the router, or no port has it.
    NoRoute => "no_route",
    /// TTL or hop limit would reach zero.
    TtlExpired => "ttl_expired",
    /// Destination is bound to another chassis, but this node has no VTEP (vtep_ip,
    /// uplink and uplink_mac), or the VTEPs are of different IP families.
    NoTunnel => "no_tunnel",
    /// Destination is bound to a chassis known to be down (its registration in the
    /// cloud's etcd lapsed).
    ChassisDown => "chassis_down",
    /// A port's transmit queue had no room (the driver's own, or the ring the workers
    /// share).
    TxQueueFull => "tx_queue_full",
    /// One burst sent more frames to a port than a burst holds (a flood fanned out).
    BurstOverflow => "burst_overflow",
    /// No headroom left for a header to push.
    NoHeadroom => "no_headroom",
    // Runtime
    /// The ring of SNAT replies handed to the worker owning their connection was full.
    RingFull => "ring_full",
    // Distributed SNAT.
    /// Arrived for an external address and matches no connection (no unsolicited
    /// inbound), or an ICMP error quoting no translated connection.
    SnatNoConnection => "snat_no_connection",
    /// No free external port in the worker's slice for a new connection.
    SnatPortsExhausted => "snat_ports_exhausted",
    /// The connection table is full; no live connection is evicted.
    SnatTableFull => "snat_table_full",
    /// IP fragments are not translated.
    SnatFragment => "snat_fragment",
    /// North-south traffic SNAT cannot translate: IPv6, or not TCP, UDP, ICMP echo
    /// or an ICMP error.
    SnatUnsupported => "snat_unsupported",
    /// A TCP segment other than a bare SYN for no known connection.
    SnatTcpNotSyn => "snat_tcp_not_syn",
    /// No way to the external gateway: node.uplink_mac is not set, or neither
    /// external_gateway_mac nor an external_gateway_ip to resolve it.
    SnatNoGatewayMac => "snat_no_gateway_mac",
    // SFC stage.
    /// An MPLS label from a service function's port naming no hop that returns there.
    SfcUnknownLabel => "sfc_unknown_label",
    /// An NSH SPI/SI from a service function's port naming no hop that returns there.
    SfcUnknownPath => "sfc_unknown_path",
    /// An NSH header this dataplane does not accept (version, next protocol, length).
    SfcBadNsh => "sfc_bad_nsh",
    /// A plain frame on a proxied function's egress port with no recorded flow.
    SfcNoProxyFlow => "sfc_no_proxy_flow",
    /// The proxy had to remember a flow and its table was full.
    SfcProxyTableFull => "sfc_proxy_table_full",
    /// A chained packet that MPLS cannot carry (not IP).
    SfcNotIp => "sfc_not_ip",
    /// At the end of a chain, the source address is no logical port of the network.
    SfcUnknownSource => "sfc_unknown_source",
    // VXLAN overlay.
    /// VXLAN header or inner Ethernet header cut short, or an outer fragment.
    VxlanTruncated => "vxlan_truncated",
    /// VXLAN whose outer destination is not this node's VTEP.
    VxlanWrongDestination => "vxlan_wrong_destination",
    /// VXLAN without the I flag.
    VxlanBadFlags => "vxlan_bad_flags",
    /// VXLAN with a VNI no network has.
    VxlanUnknownVni => "vxlan_unknown_vni",
    /// VXLAN from a source address that is no chassis' VTEP.
    VxlanUnknownChassis => "vxlan_unknown_chassis",
    /// Decapsulated frame whose source MAC is no logical port of the VNI's network
    /// bound to the sending chassis.
    VxlanSourceMismatch => "vxlan_source_mismatch",
    /// A frame that came over the overlay would go back into it (never relayed).
    VxlanTransit => "vxlan_transit",
    /// Too large for the uplink MTU once encapsulated (the VM gets ICMP when it can).
    MtuExceeded => "mtu_exceeded",
    /// The queue of frames waiting for a chassis MAC was full.
    ResolveQueueFull => "resolve_queue_full",
    /// A frame waited too long for its chassis MAC.
    ResolveTimeout => "resolve_timeout",
    /// An ARP frame or IPv6 neighbour advertisement that taught this node a chassis
    /// MAC: consumed by the node.
    NeighbourLearned => "neighbour_learned",
    // Local services.
    /// A DHCP message from a VM that does not parse (short, bad magic cookie, options
    /// running past the end or overloaded, no message type).
    DhcpMalformed => "dhcp_malformed",
    /// A DHCP server's message (OFFER, ACK, NAK) sent by a VM.
    DhcpServerMessage => "dhcp_server_message",
    /// A DHCP RELEASE or DECLINE, or a REQUEST for another server: consumed, nothing
    /// to answer.
    DhcpNoReply => "dhcp_no_reply",
    /// A DHCP request from a logical port without an IPv4 address to lease.
    DhcpNoLease => "dhcp_no_lease",
    /// A neighbour or router solicitation RFC 4861 says to ignore (hop limit not 255,
    /// bad checksum or length, a zero-length option).
    NdiscMalformed => "ndisc_malformed",
    /// An echo request to the router that does not parse (bad checksum, short).
    IcmpMalformed => "icmp_malformed",
    /// An ICMP error the router owed was not sent: the worker's budget (a token
    /// bucket) was spent.
    IcmpRateLimited => "icmp_rate_limited",
}

impl DropReason {
    fn index(self) -> usize {
        self as usize
    }

    /// Every reason as a Markdown table (name, meaning), as the README lists them.
    pub fn markdown_table() -> String {
        let mut table = String::from("| reason | meaning |\n|---|---|\n");
        for reason in DropReason::ALL {
            table.push_str(&format!("| `{}` | {} |\n", reason.name(), reason.doc()));
        }
        table
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

impl From<local_services::Refusal> for DropReason {
    fn from(refusal: local_services::Refusal) -> Self {
        use local_services::Refusal;
        match refusal {
            Refusal::DhcpMalformed => DropReason::DhcpMalformed,
            Refusal::DhcpServerMessage => DropReason::DhcpServerMessage,
            Refusal::DhcpNoReply => DropReason::DhcpNoReply,
            Refusal::DhcpNoLease => DropReason::DhcpNoLease,
            Refusal::NdiscMalformed => DropReason::NdiscMalformed,
            Refusal::IcmpMalformed => DropReason::IcmpMalformed,
            Refusal::IcmpRateLimited => DropReason::IcmpRateLimited,
            Refusal::NoRoom => DropReason::NoHeadroom,
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
    fn every_reason_has_a_one_line_meaning_in_the_table() {
        let table = DropReason::markdown_table();
        assert_eq!(table.lines().count(), DropReason::ALL.len() + 2);
        assert_eq!(
            DropReason::NoBuffer.doc(),
            "The buffer pool was empty for a frame the dataplane makes (a flooded copy, an ARP request)."
        );
        assert!(
            table.contains("| `hairpin` | Destination MAC is the sending logical port's own. |")
        );
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
