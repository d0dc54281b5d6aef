//! Parser behaviour on crafted frames and on arbitrary bytes.

use etherparse::{IpNumber, Ipv4Header, PacketBuilder};
use packet::meta::ether_type;
use packet::{parse, Layer, ParseErrorKind, Tunnel, L3, L4};
use proptest::prelude::*;

const SRC_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 1, 1];
const DST_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 2, 1];

fn udp_v4(payload: &[u8], dst_port: u16) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
        .udp(40000, dst_port);
    let mut frame = Vec::new();
    builder.write(&mut frame, payload).unwrap();
    frame
}

fn tcp_v6(payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv6([0xfd; 16], [0xfe; 16], 7)
        .tcp(1234, 80, 1, 1000)
        .syn();
    let mut frame = Vec::new();
    builder.write(&mut frame, payload).unwrap();
    frame
}

/// An untagged IPv4 frame from a raw IP header and payload.
fn ipv4_frame(header: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut frame = [DST_MAC, SRC_MAC].concat();
    frame.extend_from_slice(&ether_type::IPV4.to_be_bytes());
    frame.extend_from_slice(header);
    frame.extend_from_slice(rest);
    frame
}

fn with_checksum(mut header: Vec<u8>) -> Vec<u8> {
    header[10..12].copy_from_slice(&[0, 0]);
    let sum = packet::checksum::ipv4_header(&header);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    header
}

#[test]
fn udp_over_two_vlan_tags() {
    let builder = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .double_vlan(
            etherparse::VlanId::try_new(101).unwrap(),
            etherparse::VlanId::try_new(7).unwrap(),
        )
        .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
        .udp(40000, 53);
    let mut frame = Vec::new();
    builder.write(&mut frame, b"query").unwrap();
    frame[14] |= 5 << 5; // outer tag priority 5

    let meta = parse(&frame).unwrap();
    assert_eq!(meta.vlan_count, 2);
    assert_eq!(meta.outer_vlan(), Some(101));
    assert_eq!(meta.vlan_tci[0] >> 13, 5, "PCP kept in the TCI");
    assert_eq!(meta.vlan_tci[1] & 0xfff, 7);
    assert_eq!(meta.ether_type, ether_type::IPV4);
    assert_eq!((meta.l3, meta.l4), (L3::Ipv4, L4::Udp));
    assert_eq!(meta.l3_offset, 22);
    assert_eq!(meta.l4_offset, 42);
    assert_eq!(meta.payload_offset, 50);
    assert_eq!(usize::from(meta.l3_end), frame.len());
    assert_eq!(
        (meta.flow.src_port, meta.flow.dst_port, meta.flow.protocol),
        (40000, 53, 17)
    );
    assert_eq!(meta.flow.src_ip().to_string(), "10.0.0.5");
    assert_eq!(meta.ttl, 64);
    assert_eq!(meta.flow_hash, meta.flow.hash());
}

#[test]
fn ipv6_extension_headers_are_walked_to_tcp() {
    // IPv6 / hop-by-hop (8 bytes, PadN) / TCP.
    let plain = tcp_v6(b"");
    let mut frame = plain[..14].to_vec();
    let mut ipv6 = plain[14..54].to_vec();
    ipv6[6] = 0; // next header: hop-by-hop
    let tcp = &plain[54..];
    let len = (8 + tcp.len()) as u16;
    ipv6[4..6].copy_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&ipv6);
    frame.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    frame.extend_from_slice(tcp);

    let meta = parse(&frame).unwrap();
    assert_eq!((meta.l3, meta.l4), (L3::Ipv6, L4::Tcp));
    assert_eq!(meta.l4_offset, 14 + 40 + 8);
    assert_eq!(meta.flow.protocol, 6);
    assert_eq!(meta.tcp_flags & 0x02, 0x02, "SYN");
    assert_eq!(meta.ttl, 7);
}

#[test]
fn ipv4_options_move_the_transport_offset() {
    let mut header = Ipv4Header::new(12, 64, IpNumber::UDP, [10, 0, 0, 5], [10, 0, 0, 6]).unwrap();
    header.options = [1, 1, 1, 0].as_slice().try_into().unwrap();
    header.total_len = 24 + 12;
    header.header_checksum = header.calc_header_checksum();
    let mut raw = Vec::new();
    header.write(&mut raw).unwrap();
    let udp = [0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0, 0, 1, 2, 3, 4];
    let meta = parse(&ipv4_frame(&raw, &udp)).unwrap();
    assert_eq!(meta.l4_offset, 14 + 24);
    assert_eq!(meta.flow.dst_port, 53);
}

#[test]
fn arp_request() {
    let mut frame = [[0xff; 6], SRC_MAC].concat();
    frame.extend_from_slice(&ether_type::ARP.to_be_bytes());
    frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&SRC_MAC);
    frame.extend_from_slice(&[10, 0, 0, 5]);
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&[10, 0, 0, 1]);
    let meta = parse(&frame).unwrap();
    assert_eq!(meta.l3, L3::Arp);
    assert_eq!(meta.arp_op, 1);
    assert_eq!(meta.l3_offset, 14);
    assert_eq!(meta.flow.src_ip().to_string(), "10.0.0.5");
    assert_eq!(meta.flow.dst_ip().to_string(), "10.0.0.1");
    assert_eq!(
        parse(&frame[..30]).unwrap_err().kind,
        ParseErrorKind::Truncated
    );
}

#[test]
fn mpls_label_then_ip() {
    let inner = udp_v4(b"x", 80);
    let mut frame = inner[..12].to_vec();
    frame.extend_from_slice(&ether_type::MPLS.to_be_bytes());
    let label: u32 = (7 << 8) | 255;
    frame.extend_from_slice(&(label << 12 | 1 << 8 | 255).to_be_bytes());
    frame.extend_from_slice(&inner[14..]);
    let meta = parse(&frame).unwrap();
    assert_eq!(meta.mpls_depth, 1);
    assert_eq!(meta.mpls_top >> 12, label);
    assert_eq!(meta.l3, L3::Ipv4);
    assert_eq!(meta.l3_offset, 18);
    assert_eq!(meta.flow.dst_port, 80);

    let truncated = &frame[..16];
    assert_eq!(parse(truncated).unwrap_err().layer, Layer::Mpls);

    // Eight labels without bottom of stack.
    let mut deep = inner[..12].to_vec();
    deep.extend_from_slice(&ether_type::MPLS.to_be_bytes());
    for _ in 0..8 {
        deep.extend_from_slice(&(label << 12 | 64).to_be_bytes());
    }
    deep.extend_from_slice(&[0; 20]);
    let error = parse(&deep).unwrap_err();
    assert_eq!(
        (error.kind, error.layer),
        (ParseErrorKind::Malformed, Layer::Mpls)
    );
}

#[test]
fn vxlan_is_recognised() {
    let mut payload = vec![0x08, 0, 0, 0, 0x00, 0x03, 0xe9, 0];
    payload.extend_from_slice(&udp_v4(b"inner", 9));
    let frame = udp_v4(&payload, 4789);
    let meta = parse(&frame).unwrap();
    assert_eq!(
        meta.tunnel,
        Tunnel::Vxlan {
            vni: 1001,
            flags: 0x08,
            inner_offset: 14 + 20 + 8 + 8
        }
    );
    let short = udp_v4(&[0x08, 0, 0], 4789);
    assert_eq!(parse(&short).unwrap().tunnel, Tunnel::None);
}

#[test]
fn icmp_echo_identifier_is_both_ports() {
    let builder = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
        .icmpv4_echo_request(0x1234, 1);
    let mut frame = Vec::new();
    builder.write(&mut frame, b"ping").unwrap();
    let meta = parse(&frame).unwrap();
    assert_eq!(meta.l4, L4::Icmp);
    assert_eq!(
        (meta.icmp_type, meta.flow.src_port, meta.flow.dst_port),
        (8, 0x1234, 0x1234)
    );
}

#[test]
fn classified_errors() {
    use Layer::*;
    use ParseErrorKind::*;
    let valid = udp_v4(b"data", 53);
    let header = valid[14..34].to_vec();
    let udp = valid[34..].to_vec();
    let kind_of = |frame: &[u8]| {
        let error = parse(frame).unwrap_err();
        (error.kind, error.layer)
    };

    assert_eq!(kind_of(&[]), (Truncated, Ethernet));
    assert_eq!(kind_of(&valid[..10]), (Truncated, Ethernet));

    let mut bad_sum = header.clone();
    bad_sum[10] ^= 0xff;
    assert_eq!(kind_of(&ipv4_frame(&bad_sum, &udp)), (BadChecksum, Ipv4));

    let mut ihl4 = header.clone();
    ihl4[0] = 0x44;
    assert_eq!(
        kind_of(&ipv4_frame(&with_checksum(ihl4), &udp)),
        (Malformed, Ipv4)
    );

    let mut version6 = header.clone();
    version6[0] = 0x65;
    assert_eq!(
        kind_of(&ipv4_frame(&with_checksum(version6), &udp)),
        (Malformed, Ipv4)
    );

    let mut short_total = header.clone();
    short_total[2..4].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(
        kind_of(&ipv4_frame(&with_checksum(short_total), &udp)),
        (Malformed, Ipv4)
    );

    let mut long_total = header.clone();
    long_total[2..4].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(
        kind_of(&ipv4_frame(&with_checksum(long_total), &udp)),
        (Truncated, Ipv4)
    );

    let mut udp_len4 = udp.clone();
    udp_len4[4..6].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(kind_of(&ipv4_frame(&header, &udp_len4)), (Malformed, Udp));

    let tcp = tcp_v6(b"");
    let mut offset3 = tcp.clone();
    offset3[54 + 12] = 3 << 4;
    assert_eq!(kind_of(&offset3), (Malformed, Tcp));
}

#[test]
fn padding_after_the_ip_packet_is_accepted() {
    let mut frame = udp_v4(b"", 53);
    let ip_end = frame.len();
    frame.resize(60, 0);
    let meta = parse(&frame).unwrap();
    assert_eq!(usize::from(meta.l3_end), ip_end);
}

fn assert_offsets_within(frame: &[u8]) {
    if let Ok(meta) = parse(frame) {
        let len = frame.len();
        for offset in [
            meta.l3_offset,
            meta.l3_end,
            meta.l4_offset,
            meta.payload_offset,
        ] {
            assert!(
                usize::from(offset) <= len,
                "offset {offset} beyond {len}: {meta:?}"
            );
        }
        if let Tunnel::Vxlan { inner_offset, .. } = meta.tunnel {
            assert!(usize::from(inner_offset) <= len);
        }
        if meta.l4 != L4::None {
            assert!(meta.l3_offset < meta.l4_offset && meta.l4_offset <= meta.payload_offset);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes at all: metadata or a classified error, offsets inside the frame.
    #[test]
    fn arbitrary_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..2048)) {
        assert_offsets_within(&frame);
    }

    /// Frames up to the largest length the parser accepts, and one byte beyond.
    #[test]
    fn long_frames_never_panic(len in 60_000usize..=65_536, fill in any::<u8>()) {
        let mut frame = udp_v4(b"", 53);
        frame.resize(len, fill);
        assert_offsets_within(&frame);
        if len > packet::parse::MAX_FRAME {
            prop_assert_eq!(parse(&frame).unwrap_err().kind, ParseErrorKind::Malformed);
        }
    }

    /// Valid headers followed by arbitrary bytes, so the fuzzing reaches deep layers.
    #[test]
    fn valid_prefix_arbitrary_tail(
        which in 0..3usize,
        cut in 0usize..80,
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut frame = match which {
            0 => udp_v4(b"0123456789", 4789),
            1 => tcp_v6(b"0123456789"),
            _ => udp_v4(b"0123456789", 53),
        };
        let keep = frame.len().saturating_sub(cut);
        frame.truncate(keep);
        frame.extend_from_slice(&tail);
        assert_offsets_within(&frame);
    }

    /// Every strict prefix of a valid frame is refused as truncated, never malformed.
    #[test]
    fn prefixes_of_valid_frames_are_truncated(which in 0..2usize, payload in proptest::collection::vec(any::<u8>(), 1..40), cut in 1usize..200) {
        let frame = if which == 0 { udp_v4(&payload, 53) } else { tcp_v6(&payload) };
        let len = frame.len().saturating_sub(cut);
        let error = parse(&frame[..len]).unwrap_err();
        prop_assert_eq!(error.kind, ParseErrorKind::Truncated);
    }
}
