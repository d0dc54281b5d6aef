//! Parse-once metadata: what ingress learns about a frame, read and updated by the
//! stages instead of re-parsing.

use crate::flow::FlowKey;

/// The network layer found behind the Ethernet header, VLAN tags and MPLS labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L3 {
    /// An ethertype this dataplane does not look into (switched as opaque L2).
    #[default]
    None,
    /// ARP for IPv4 over Ethernet.
    Arp,
    Ipv4,
    Ipv6,
}

/// The transport layer behind IPv4/IPv6.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum L4 {
    /// No transport header: not IP, a non-first fragment, or an IP protocol this
    /// dataplane does not parse (its number is in `flow.protocol`).
    #[default]
    None,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

/// A tunnel recognised in the frame (its inner frame is not parsed at ingress).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tunnel {
    #[default]
    None,
    /// UDP to port 4789 with a complete VXLAN header.
    Vxlan {
        /// The 24-bit VNI.
        vni: u32,
        /// The flags byte (0x08 = I flag alone, the only valid value of RFC 7348).
        flags: u8,
        /// Offset of the inner Ethernet frame.
        inner_offset: u16,
    },
}

/// The IANA ethertypes this dataplane handles.
pub mod ether_type {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
}

/// IP protocol numbers used by the stages.
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// The VXLAN UDP port (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;

/// Everything ingress learns about a frame. Offsets count from the first byte of the
/// frame; a stage that moves the frame start fixes them with [`Meta::shift`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Number of VLAN tags (0 to 2) and their TCI values, outermost first.
    pub vlan_count: u8,
    pub vlan_tci: [u16; 2],
    /// The ethertype behind the VLAN tags (MPLS frames keep 0x8847 here).
    pub ether_type: u16,
    /// MPLS label stack depth and its top entry (label << 12 | TC << 9 | S << 8 | TTL).
    pub mpls_depth: u8,
    pub mpls_top: u32,
    pub l3: L3,
    /// Offset of the IP header (or ARP payload); 0 when `l3` is `None`.
    pub l3_offset: u16,
    /// End of the IP packet by its length field (Ethernet padding lies beyond).
    pub l3_end: u16,
    pub l4: L4,
    pub l4_offset: u16,
    /// Offset of the transport payload.
    pub payload_offset: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The packet is an IP fragment (first or not).
    pub fragment: bool,
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...).
    pub tcp_flags: u8,
    /// ICMP / ICMPv6 type and code.
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// ARP operation (1 request, 2 reply) when `l3` is `Arp`.
    pub arp_op: u16,
    /// The 5-tuple (ARP: sender and target protocol addresses, ports 0).
    pub flow: FlowKey,
    /// `flow.hash()`, computed once.
    pub flow_hash: u64,
    pub tunnel: Tunnel,
    /// Set by ingress: the logical port the frame came from, and its tenant zone.
    pub logical_port: u32,
    pub zone: u32,
    /// Set by `parse`: the metadata describes the frame (a worker that parsed a frame
    /// to choose its worker passes the work on, the pipeline does not parse again).
    pub parsed: bool,
}

impl Meta {
    /// Fixes the offsets after `delta` bytes were added (positive) or removed
    /// (negative) in front of the L3 header, e.g. a VLAN tag pushed or popped.
    pub fn shift(&mut self, delta: i32) {
        let move_by = |offset: &mut u16| {
            if *offset != 0 {
                *offset = (i32::from(*offset) + delta).clamp(0, i32::from(u16::MAX)) as u16;
            }
        };
        move_by(&mut self.l3_offset);
        move_by(&mut self.l3_end);
        move_by(&mut self.l4_offset);
        move_by(&mut self.payload_offset);
        if let Tunnel::Vxlan { inner_offset, .. } = &mut self.tunnel {
            move_by(inner_offset);
        }
    }

    /// The outer VLAN id, if the frame is tagged.
    pub fn outer_vlan(&self) -> Option<u16> {
        (self.vlan_count > 0).then_some(self.vlan_tci[0] & 0x0fff)
    }

    pub fn is_ip(&self) -> bool {
        matches!(self.l3, L3::Ipv4 | L3::Ipv6)
    }
}
