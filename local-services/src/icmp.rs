//! The router's own ICMP: echo replies from its gateway addresses, and the errors a
//! router owes (time exceeded, network and port unreachable), rate-limited per worker.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packet::{rewrite, Packet, L3, L4};
use smoltcp::wire::{
    EthernetProtocol, Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet, IpProtocol,
    Ipv4Packet, Ipv6Packet,
};

use crate::frame::{self, ETHERNET_LEN, IPV4_LEN, IPV6_LEN, TTL};
use crate::rate::TokenBucket;
use crate::tables::NetworkServices;
use crate::{Answer, Outcome, Refusal};

/// ICMP's own header before the quoted packet: type, code, checksum, 4 unused bytes.
const ICMP_ERROR_HEADER_LEN: usize = 8;
/// RFC 1812 4.3.2.3: an ICMPv4 error is at most 576 bytes long.
const MAX_ICMPV4_ERROR: usize = 576;
/// RFC 4443 2.4: an ICMPv6 error fits the minimum MTU.
const MAX_ICMPV6_ERROR: usize = 1280;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Error {
    TimeExceeded,
    NetUnreachable,
    HostUnreachable,
    PortUnreachable,
}

impl Error {
    fn answer(self) -> Answer {
        match self {
            Error::TimeExceeded => Answer::TimeExceeded,
            Error::NetUnreachable => Answer::NetUnreachable,
            Error::HostUnreachable => Answer::HostUnreachable,
            Error::PortUnreachable => Answer::PortUnreachable,
        }
    }

    fn v4(self) -> (Icmpv4Message, u8) {
        match self {
            Error::TimeExceeded => (Icmpv4Message::TimeExceeded, 0),
            Error::NetUnreachable => (Icmpv4Message::DstUnreachable, 0),
            Error::HostUnreachable => (Icmpv4Message::DstUnreachable, 1),
            Error::PortUnreachable => (Icmpv4Message::DstUnreachable, 3),
        }
    }

    fn v6(self) -> (Icmpv6Message, u8) {
        match self {
            Error::TimeExceeded => (Icmpv6Message::TimeExceeded, 0),
            Error::NetUnreachable => (Icmpv6Message::DstUnreachable, 0),
            // RFC 4443: code 3, address unreachable.
            Error::HostUnreachable => (Icmpv6Message::DstUnreachable, 3),
            Error::PortUnreachable => (Icmpv6Message::DstUnreachable, 4),
        }
    }
}

/// A packet routed to one of the router's addresses: an echo request is answered,
/// UDP gets port unreachable; anything else is not the services' (`Pass`).
pub(crate) fn to_router(
    network: &NetworkServices,
    packet: &mut Packet,
    bucket: &mut TokenBucket,
    now_ns: u64,
) -> Outcome {
    let Some((router_mac, _)) = network.router else {
        return Outcome::Pass;
    };
    let meta = packet.meta;
    match meta.l4 {
        L4::Icmp if meta.icmp_type == 8 && !meta.fragment => echo_reply_v4(packet, router_mac),
        L4::Icmpv6 if meta.icmp_type == 128 && !meta.fragment => echo_reply_v6(packet, router_mac),
        L4::Udp => error(network, packet, Error::PortUnreachable, bucket, now_ns),
        _ => Outcome::Pass,
    }
}

/// The echo request turned around in place: addresses swapped, type 0, TTL reset.
fn echo_reply_v4(packet: &mut Packet, router_mac: packet::MacAddr) -> Outcome {
    let meta = packet.meta;
    let (l3, l4, end) = (
        usize::from(meta.l3_offset),
        usize::from(meta.l4_offset),
        usize::from(meta.l3_end),
    );
    packet.truncate(end);
    let frame = packet.data_mut();
    let Some(Ok(mut icmp)) = frame.get_mut(l4..end).map(Icmpv4Packet::new_checked) else {
        return Outcome::Refused(Refusal::IcmpMalformed);
    };
    if !icmp.verify_checksum() || icmp.msg_code() != 0 {
        return Outcome::Refused(Refusal::IcmpMalformed);
    }
    icmp.set_msg_type(Icmpv4Message::EchoReply);
    icmp.fill_checksum();
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[l3..l4]);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(TTL);
    ip.fill_checksum();
    let asker = rewrite::source_mac(frame);
    rewrite::set_macs(frame, asker, router_mac);
    Outcome::Answered(Answer::EchoReply)
}

fn echo_reply_v6(packet: &mut Packet, router_mac: packet::MacAddr) -> Outcome {
    let meta = packet.meta;
    let (l3, l4, end) = (
        usize::from(meta.l3_offset),
        usize::from(meta.l4_offset),
        usize::from(meta.l3_end),
    );
    packet.truncate(end);
    let frame = packet.data_mut();
    let mut ip = Ipv6Packet::new_unchecked(&mut frame[l3..l4]);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if dst.is_multicast() {
        return Outcome::Pass;
    }
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(TTL);
    let Some(Ok(mut icmp)) = frame.get_mut(l4..end).map(Icmpv6Packet::new_checked) else {
        return Outcome::Refused(Refusal::IcmpMalformed);
    };
    if !icmp.verify_checksum(&src, &dst) || icmp.msg_code() != 0 {
        return Outcome::Refused(Refusal::IcmpMalformed);
    }
    icmp.set_msg_type(Icmpv6Message::EchoReply);
    icmp.fill_checksum(&dst, &src);
    let asker = rewrite::source_mac(frame);
    rewrite::set_macs(frame, asker, router_mac);
    Outcome::Answered(Answer::EchoReply)
}

/// Turns the packet into the ICMP error about it, from the gateway address of the
/// network it came from, quoting as much of it as the error's size allows. No error
/// about an error, a fragment, or a packet from no single host (RFC 1812 4.3.2.7,
/// RFC 4443 2.4).
pub(crate) fn error(
    network: &NetworkServices,
    packet: &mut Packet,
    error: Error,
    bucket: &mut TokenBucket,
    now_ns: u64,
) -> Outcome {
    let Some((router_mac, gateway)) = network.router else {
        return Outcome::Pass;
    };
    let meta = packet.meta;
    if meta.fragment || usize::from(meta.l3_offset) != ETHERNET_LEN {
        return Outcome::Pass;
    }
    let source = meta.flow.src_ip();
    let (gateway, error_header_len, max_len) = match (meta.l3, gateway, source) {
        (L3::Ipv4, IpAddr::V4(gw), IpAddr::V4(src)) => {
            let is_error = meta.l4 == L4::Icmp && !matches!(meta.icmp_type, 0 | 8 | 13 | 14);
            if is_error || !is_single_host_v4(src) || !is_single_host_v4(dst_v4(&meta)) {
                return Outcome::Pass;
            }
            (
                IpAddr::V4(gw),
                IPV4_LEN + ICMP_ERROR_HEADER_LEN,
                MAX_ICMPV4_ERROR,
            )
        }
        (L3::Ipv6, IpAddr::V6(gw), IpAddr::V6(src)) => {
            let is_error = meta.l4 == L4::Icmpv6 && meta.icmp_type < 128;
            if is_error || !is_single_host_v6(src) {
                return Outcome::Pass;
            }
            (
                IpAddr::V6(gw),
                IPV6_LEN + ICMP_ERROR_HEADER_LEN,
                MAX_ICMPV6_ERROR,
            )
        }
        _ => return Outcome::Pass,
    };
    if !bucket.take(now_ns) {
        return Outcome::Refused(Refusal::IcmpRateLimited);
    }
    let asker = rewrite::source_mac(packet.data());
    let quoted = (usize::from(meta.l3_end) - ETHERNET_LEN).min(max_len - error_header_len);
    packet.truncate(ETHERNET_LEN + quoted);
    if packet.insert_gap(ETHERNET_LEN, error_header_len).is_none() {
        return Outcome::Refused(Refusal::NoRoom);
    }
    let frame = packet.data_mut();
    let icmp_start = ETHERNET_LEN + error_header_len - ICMP_ERROR_HEADER_LEN;
    let icmp_len = ICMP_ERROR_HEADER_LEN + quoted;
    // The 4 bytes after the checksum are unused in these errors and must be zero.
    frame[icmp_start + 4..icmp_start + ICMP_ERROR_HEADER_LEN].fill(0);
    match (gateway, source) {
        (IpAddr::V4(gw), IpAddr::V4(src)) => {
            frame::write_ethernet(frame, asker, router_mac, EthernetProtocol::Ipv4);
            frame::write_ipv4(
                &mut frame[ETHERNET_LEN..],
                gw,
                src,
                IpProtocol::Icmp,
                icmp_len,
            );
            let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[icmp_start..]);
            let (kind, code) = error.v4();
            icmp.set_msg_type(kind);
            icmp.set_msg_code(code);
            icmp.fill_checksum();
        }
        (IpAddr::V6(gw), IpAddr::V6(src)) => {
            frame::write_ethernet(frame, asker, router_mac, EthernetProtocol::Ipv6);
            frame::write_ipv6(
                &mut frame[ETHERNET_LEN..],
                gw,
                src,
                IpProtocol::Icmpv6,
                icmp_len,
                TTL,
            );
            let mut icmp = Icmpv6Packet::new_unchecked(&mut frame[icmp_start..]);
            let (kind, code) = error.v6();
            icmp.set_msg_type(kind);
            icmp.set_msg_code(code);
            icmp.fill_checksum(&gw, &src);
        }
        _ => return Outcome::Pass, // the families were matched above
    }
    Outcome::Answered(error.answer())
}

fn dst_v4(meta: &packet::Meta) -> Ipv4Addr {
    match meta.flow.dst_ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

fn is_single_host_v4(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast())
}

fn is_single_host_v6(ip: Ipv6Addr) -> bool {
    !(ip.is_unspecified() || ip.is_multicast())
}
