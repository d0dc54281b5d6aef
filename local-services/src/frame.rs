//! Writing an answer's Ethernet and IP headers into the request's buffer, through
//! smoltcp's representations.

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::{MacAddr, Packet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Packet,
    Ipv4Repr, Ipv6Packet, Ipv6Repr,
};

pub(crate) const ETHERNET_LEN: usize = 14;
pub(crate) const IPV4_LEN: usize = 20;
pub(crate) const IPV6_LEN: usize = 40;
/// The TTL of what the router originates (Linux's default).
pub(crate) const TTL: u8 = 64;

/// Makes the frame `len` bytes long (shortened, or grown into the tailroom); `false`
/// when the buffer has no room for that.
pub(crate) fn resize(packet: &mut Packet, len: usize) -> bool {
    let current = packet.len();
    if len <= current {
        packet.truncate(len);
        true
    } else {
        packet.push_back(len - current).is_some()
    }
}

pub(crate) fn mac(mac: MacAddr) -> EthernetAddress {
    EthernetAddress(mac.0)
}

pub(crate) fn write_ethernet(
    frame: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
    ethertype: EthernetProtocol,
) {
    let repr = EthernetRepr {
        src_addr: mac(src),
        dst_addr: mac(dst),
        ethertype,
    };
    repr.emit(&mut EthernetFrame::new_unchecked(
        &mut frame[..ETHERNET_LEN],
    ));
}

/// An IPv4 header without options (DF set, identification 0, as smoltcp emits it),
/// its checksum filled.
pub(crate) fn write_ipv4(
    header: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload_len: usize,
) {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol,
        payload_len,
        hop_limit: TTL,
    };
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut header[..IPV4_LEN]),
        &ChecksumCapabilities::default(),
    );
}

pub(crate) fn write_ipv6(
    header: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: IpProtocol,
    payload_len: usize,
    hop_limit: u8,
) {
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header,
        payload_len,
        hop_limit,
    };
    repr.emit(&mut Ipv6Packet::new_unchecked(&mut header[..IPV6_LEN]));
}
