//! IPv6 neighbour discovery (RFC 4861) between the node and its uplink neighbours:
//! a view on solicitations and advertisements, the solicitation frame the node sends
//! and the advertisement it answers with, each carrying one link-layer address
//! option and its ICMPv6 checksum.

use std::net::Ipv6Addr;

use crate::meta::{ether_type, ip_proto};
use crate::{checksum, MacAddr};

pub const SOLICITATION: u8 = 135;
pub const ADVERTISEMENT: u8 = 136;
/// Neighbour discovery messages come from on-link only: hop limit 255 (RFC 4861 7.1.1).
pub const HOP_LIMIT: u8 = 255;
/// ICMPv6 header and target address: what every solicitation or advertisement holds.
pub const HEADER_LEN: usize = 24;
/// The messages written here: header and target, then one link-layer address option.
pub const MESSAGE_LEN: usize = HEADER_LEN + 8;
const IPV6_HEADER_LEN: usize = 40;
/// IPv6 header and message, from the start of the IPv6 header.
pub const PACKET_LEN: usize = IPV6_HEADER_LEN + MESSAGE_LEN;
/// Untagged Ethernet frame carrying a solicitation.
pub const SOLICITATION_FRAME_LEN: usize = 14 + PACKET_LEN;

const SOURCE_LINK_LAYER_ADDRESS: u8 = 1;
const TARGET_LINK_LAYER_ADDRESS: u8 = 2;
/// Advertisement flags: solicited and override (router clear).
const SOLICITED: u8 = 0x40;
const OVERRIDE: u8 = 0x20;

/// Read access to a solicitation or advertisement (from its ICMPv6 header to the end
/// of the IPv6 payload).
#[derive(Debug, Clone, Copy)]
pub struct NdView<'a>(&'a [u8]);

impl<'a> NdView<'a> {
    /// `None` when `message` is shorter than the ICMPv6 header and target address.
    pub fn new(message: &'a [u8]) -> Option<Self> {
        (message.len() >= HEADER_LEN).then_some(NdView(message))
    }

    pub fn icmp_type(&self) -> u8 {
        self.0[0]
    }

    pub fn target(&self) -> Ipv6Addr {
        let mut target = [0u8; 16];
        target.copy_from_slice(&self.0[8..24]);
        Ipv6Addr::from(target)
    }

    /// The options after the target address.
    pub fn options(&self) -> &'a [u8] {
        &self.0[HEADER_LEN..]
    }

    /// The target link-layer address option (type 2), if present and well formed.
    pub fn target_link_layer_address(&self) -> Option<MacAddr> {
        target_link_layer_address(self.options())
    }
}

/// The target link-layer address option (type 2) among ND options, if well formed.
pub fn target_link_layer_address(mut options: &[u8]) -> Option<MacAddr> {
    while let [kind, units, ..] = *options {
        let len = usize::from(units) * 8;
        if len == 0 || len > options.len() {
            return None;
        }
        if kind == TARGET_LINK_LAYER_ADDRESS && len == 8 {
            return Some(MacAddr(options[2..8].try_into().ok()?));
        }
        options = &options[len..];
    }
    None
}

/// The solicited-node multicast group of `target` (ff02::1:ffXX:XXXX) and its
/// Ethernet address (33:33:ff:XX:XX:XX).
pub fn solicited_node_group(target: Ipv6Addr) -> (Ipv6Addr, MacAddr) {
    let t = target.octets();
    let group = Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
    ]);
    (group, MacAddr([0x33, 0x33, 0xff, t[13], t[14], t[15]]))
}

/// Writes into `frame` (at least [`SOLICITATION_FRAME_LEN`] bytes) a solicitation
/// from `mac`/`own` for `target` to its solicited-node group, hop limit 255, with the
/// source link-layer address option (RFC 4861 4.3); `false` when `frame` is too short.
pub fn write_solicitation_frame(
    frame: &mut [u8],
    mac: MacAddr,
    own: Ipv6Addr,
    target: Ipv6Addr,
) -> bool {
    let Some(frame) = frame.get_mut(..SOLICITATION_FRAME_LEN) else {
        return false;
    };
    let (group, group_mac) = solicited_node_group(target);
    frame[0..6].copy_from_slice(&group_mac.0);
    frame[6..12].copy_from_slice(&mac.0);
    frame[12..14].copy_from_slice(&ether_type::IPV6.to_be_bytes());
    write_message(&mut frame[14..], own, group, |ns| {
        ns[0..8].copy_from_slice(&[SOLICITATION, 0, 0, 0, 0, 0, 0, 0]);
        ns[8..24].copy_from_slice(&target.octets());
        ns[24..26].copy_from_slice(&[SOURCE_LINK_LAYER_ADDRESS, 1]);
        ns[26..32].copy_from_slice(&mac.0);
    });
    true
}

/// Writes into `packet` (from the IPv6 header, at least [`PACKET_LEN`] bytes) the
/// advertisement of `target` at `mac` to `destination`, sent from `target`, with
/// override set, `solicited` as given and the target link-layer address option;
/// `false` when `packet` is too short.
pub fn write_advertisement(
    packet: &mut [u8],
    mac: MacAddr,
    target: Ipv6Addr,
    destination: Ipv6Addr,
    solicited: bool,
) -> bool {
    let Some(packet) = packet.get_mut(..PACKET_LEN) else {
        return false;
    };
    let flags = if solicited {
        SOLICITED | OVERRIDE
    } else {
        OVERRIDE
    };
    write_message(packet, target, destination, |na| {
        na[0..4].copy_from_slice(&[ADVERTISEMENT, 0, 0, 0]);
        na[4..8].copy_from_slice(&[flags, 0, 0, 0]);
        na[8..24].copy_from_slice(&target.octets());
        na[24..26].copy_from_slice(&[TARGET_LINK_LAYER_ADDRESS, 1]);
        na[26..32].copy_from_slice(&mac.0);
    });
    true
}

/// The IPv6 header of an ND message from `source` to `destination`, the message
/// `body` writes (its checksum field zeroed), then its ICMPv6 checksum.
fn write_message(
    packet: &mut [u8],
    source: Ipv6Addr,
    destination: Ipv6Addr,
    body: impl FnOnce(&mut [u8]),
) {
    let (ip, message) = packet[..PACKET_LEN].split_at_mut(IPV6_HEADER_LEN);
    ip[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    ip[4..6].copy_from_slice(&(MESSAGE_LEN as u16).to_be_bytes());
    ip[6] = ip_proto::ICMPV6;
    ip[7] = HOP_LIMIT;
    ip[8..24].copy_from_slice(&source.octets());
    ip[24..40].copy_from_slice(&destination.octets());
    body(message);
    let pseudo =
        checksum::pseudo_header_v6(source, destination, ip_proto::ICMPV6, MESSAGE_LEN as u32);
    let sum = checksum::transport(pseudo, message);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::icmpv6::NeighborAdvertisementHeader;
    use etherparse::{
        EtherType, Ethernet2Header, Icmpv6Header, Icmpv6Slice, Icmpv6Type, IpNumber, Ipv6Header,
    };

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);

    fn own() -> Ipv6Addr {
        "2001:db8::1".parse().unwrap()
    }

    fn target() -> Ipv6Addr {
        "2001:db8::aa:bbcc:ddee".parse().unwrap()
    }

    /// The IPv6 header's fields every ND message must carry, and its ICMPv6 message.
    fn ipv6_message(packet: &[u8], source: Ipv6Addr, destination: Ipv6Addr) -> Icmpv6Slice<'_> {
        let (ip, message) = Ipv6Header::from_slice(packet).unwrap();
        assert_eq!(ip.next_header, IpNumber::IPV6_ICMP);
        assert_eq!(ip.hop_limit, 255);
        assert_eq!(usize::from(ip.payload_length), MESSAGE_LEN);
        assert_eq!(ip.source_addr(), source);
        assert_eq!(ip.destination_addr(), destination);
        let icmp = Icmpv6Slice::from_slice(message).unwrap();
        assert!(icmp.is_checksum_valid(source.octets(), destination.octets()));
        icmp
    }

    #[test]
    fn solicited_node_group_keeps_the_low_24_bits() {
        let (group, mac) = solicited_node_group(target());
        assert_eq!(group, "ff02::1:ffcc:ddee".parse::<Ipv6Addr>().unwrap());
        assert_eq!(mac, MacAddr([0x33, 0x33, 0xff, 0xcc, 0xdd, 0xee]));
    }

    #[test]
    fn solicitation_frame_parses_back_with_a_valid_checksum() {
        let mut frame = [0xeeu8; SOLICITATION_FRAME_LEN + 4];
        assert!(write_solicitation_frame(&mut frame, MAC, own(), target()));
        assert_eq!(
            frame[SOLICITATION_FRAME_LEN..],
            [0xee; 4],
            "nothing written past the frame"
        );
        let (ethernet, packet) =
            Ethernet2Header::from_slice(&frame[..SOLICITATION_FRAME_LEN]).unwrap();
        assert_eq!(ethernet.destination, [0x33, 0x33, 0xff, 0xcc, 0xdd, 0xee]);
        assert_eq!(ethernet.source, MAC.0);
        assert_eq!(ethernet.ether_type, EtherType::IPV6);
        let group = "ff02::1:ffcc:ddee".parse().unwrap();
        let icmp = ipv6_message(packet, own(), group);
        assert_eq!(icmp.icmp_type(), Icmpv6Type::NeighborSolicitation);
        let payload = icmp.payload();
        assert_eq!(payload[..16], target().octets());
        assert_eq!(
            payload[16..],
            [1, 1, 0x02, 0, 0, 0, 0, 0x0a],
            "source link-layer address"
        );
    }

    #[test]
    fn solicitation_frame_needs_room() {
        let mut frame = [0u8; SOLICITATION_FRAME_LEN - 1];
        assert!(!write_solicitation_frame(&mut frame, MAC, own(), target()));
        assert!(frame.iter().all(|&b| b == 0));
    }

    #[test]
    fn advertisement_parses_back_with_flags_and_a_valid_checksum() {
        let asker: Ipv6Addr = "2001:db8::2".parse().unwrap();
        for solicited in [true, false] {
            let mut packet = [0xeeu8; PACKET_LEN];
            assert!(write_advertisement(
                &mut packet,
                MAC,
                own(),
                asker,
                solicited
            ));
            let icmp = ipv6_message(&packet, own(), asker);
            let expected = NeighborAdvertisementHeader {
                router: false,
                solicited,
                r#override: true,
            };
            assert_eq!(
                icmp.icmp_type(),
                Icmpv6Type::NeighborAdvertisement(expected)
            );
            let payload = icmp.payload();
            assert_eq!(payload[..16], own().octets());
            assert_eq!(
                payload[16..],
                [2, 1, 0x02, 0, 0, 0, 0, 0x0a],
                "target link-layer address"
            );
        }
    }

    #[test]
    fn advertisement_needs_room() {
        let mut packet = [0u8; PACKET_LEN - 1];
        assert!(!write_advertisement(&mut packet, MAC, own(), own(), true));
        assert!(packet.iter().all(|&b| b == 0));
    }

    fn etherparse_advertisement(options: &[u8]) -> Vec<u8> {
        let header = NeighborAdvertisementHeader {
            router: false,
            solicited: true,
            r#override: true,
        };
        let mut payload = target().octets().to_vec();
        payload.extend_from_slice(options);
        let icmp = Icmpv6Header::with_checksum(
            Icmpv6Type::NeighborAdvertisement(header),
            target().octets(),
            own().octets(),
            &payload,
        )
        .unwrap();
        let mut message = icmp.to_bytes().to_vec();
        message.extend_from_slice(&payload);
        message
    }

    #[test]
    fn view_reads_target_and_its_link_layer_address_past_other_options() {
        // A nonce option (type 14, 8 bytes) before the target link-layer address.
        let options = [14, 1, 1, 2, 3, 4, 5, 6, 2, 1, 0x02, 0, 0, 0, 0, 0x0b];
        let message = etherparse_advertisement(&options);
        let view = NdView::new(&message).unwrap();
        assert_eq!(view.icmp_type(), ADVERTISEMENT);
        assert_eq!(view.target(), target());
        assert_eq!(view.options(), options);
        assert_eq!(
            view.target_link_layer_address(),
            Some(MacAddr([0x02, 0, 0, 0, 0, 0x0b]))
        );
    }

    #[test]
    fn view_without_options_has_no_link_layer_address() {
        let message = etherparse_advertisement(&[]);
        let view = NdView::new(&message).unwrap();
        assert_eq!(view.target(), target());
        assert_eq!(view.target_link_layer_address(), None);
    }

    #[test]
    fn view_refuses_a_message_without_the_whole_target() {
        let message = etherparse_advertisement(&[]);
        assert!(NdView::new(&message[..HEADER_LEN - 1]).is_none());
    }

    #[test]
    fn malformed_options_yield_no_link_layer_address() {
        // Zero length, a length past the end, a type-2 option of the wrong size and
        // a source (type 1) link-layer address.
        assert_eq!(target_link_layer_address(&[2, 0, 1, 2, 3, 4, 5, 6]), None);
        assert_eq!(target_link_layer_address(&[2, 2, 1, 2, 3, 4, 5, 6]), None);
        assert_eq!(
            target_link_layer_address(&[2, 2, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(target_link_layer_address(&[1, 1, 1, 2, 3, 4, 5, 6]), None);
    }
}
