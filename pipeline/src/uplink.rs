//! Frames arriving on the uplink: the underlay and the outside world. No logical port
//! lives there (the topology refuses one); what arrives is VXLAN for this node's
//! VTEP, replies to this node's SNAT, or the underlay's own ARP and neighbour
//! discovery.

use packet::meta::VXLAN_PORT;
use packet::{Packet, L3, L4};

use super::graph::{Context, Next, Stage};
use super::tables::ForwardingTables;
use super::{snat, uplink_host};
use crate::counters::DropReason;

/// What an uplink frame is, by its outer headers.
enum UplinkTraffic {
    /// IPv4 to one of the node's external addresses: a reply to SNAT.
    SnatReply,
    /// UDP to port 4789: the overlay.
    Vxlan,
    /// ARP: possibly for one of the node's own addresses.
    Arp,
    /// IPv6 neighbour solicitation: possibly for one of the node's own addresses.
    NeighbourSolicitation,
    /// IPv6 neighbour advertisement: possibly resolving a chassis.
    NeighbourAdvertisement,
    Other,
}

impl UplinkTraffic {
    fn describe(&self) -> &'static str {
        match self {
            UplinkTraffic::SnatReply => "for an external address: SNAT reply",
            UplinkTraffic::Vxlan => "UDP 4789: VXLAN",
            UplinkTraffic::Arp => "ARP",
            UplinkTraffic::NeighbourSolicitation => "neighbour solicitation",
            UplinkTraffic::NeighbourAdvertisement => "neighbour advertisement",
            UplinkTraffic::Other => "nothing this node serves",
        }
    }
}

fn classify(tables: &ForwardingTables, packet: &Packet) -> UplinkTraffic {
    let meta = &packet.meta;
    if snat::is_for_external_ip(tables, packet) {
        return UplinkTraffic::SnatReply;
    }
    match (meta.l3, meta.l4) {
        (L3::Ipv4 | L3::Ipv6, L4::Udp) if meta.flow.dst_port == VXLAN_PORT => UplinkTraffic::Vxlan,
        (L3::Arp, _) => UplinkTraffic::Arp,
        _ if uplink_host::is_neighbour_solicitation(packet) => UplinkTraffic::NeighbourSolicitation,
        _ if uplink_host::is_neighbour_advertisement(packet) => {
            UplinkTraffic::NeighbourAdvertisement
        }
        _ => UplinkTraffic::Other,
    }
}

pub(super) fn receive(tables: &ForwardingTables, cx: &mut Context, packet: &mut Packet) -> Next {
    if !packet.meta.parsed {
        if let Err(error) = packet.parse() {
            return Next::Drop(error.into());
        }
    }
    let traffic = classify(tables, packet);
    cx.note("uplink", || (traffic.describe().to_owned(), vec![]));
    match traffic {
        UplinkTraffic::SnatReply => Next::Stage(Stage::SnatInbound),
        UplinkTraffic::Vxlan => Next::Stage(Stage::VxlanDecap),
        UplinkTraffic::Arp => Next::Stage(Stage::UplinkArp),
        UplinkTraffic::NeighbourSolicitation => Next::Stage(Stage::UplinkNeighbourSolicitation),
        UplinkTraffic::NeighbourAdvertisement => Next::Stage(Stage::UplinkNeighbourAdvertisement),
        // Nothing else on the uplink is addressed to a logical port.
        UplinkTraffic::Other => Next::Drop(DropReason::NoLogicalPort),
    }
}
