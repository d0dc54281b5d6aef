//! The fixed-layout parse gives exactly the general parser's metadata and errors, on
//! well-formed frames of every shape it knows and on random mutations of them.

use etherparse::PacketBuilder;
use packet::meta::ether_type;
use packet::{parse, parse_general, parse_into, Meta};
use proptest::prelude::*;

const SRC_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 1, 1];
const DST_MAC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 2, 1];

/// The network and transport layers of a generated frame.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Tcp,
    Udp,
    Vxlan,
    IcmpEcho,
    IcmpOther,
    /// An IP protocol without a transport parser (GRE).
    Opaque,
    Arp,
}

/// Builds an IP packet (no Ethernet header) of the given shape.
fn ip_packet(v6: bool, shape: Shape, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let builder = if v6 {
        PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 9)
    } else {
        PacketBuilder::ipv4([10, 0, 0, 5], [10, 0, 1, 6], 64)
    };
    match shape {
        Shape::Tcp => builder
            .tcp(40000, 443, 7, 1000)
            .syn()
            .ack(1)
            .write(&mut out, payload),
        Shape::Udp => builder.udp(40000, 53).write(&mut out, payload),
        Shape::Vxlan => {
            let mut vxlan = vec![0x08, 0, 0, 0, 0, 0x03, 0xe9, 0];
            vxlan.extend_from_slice(payload);
            builder.udp(51000, 4789).write(&mut out, &vxlan)
        }
        Shape::IcmpEcho if v6 => builder
            .icmpv6_echo_request(0x1234, 3)
            .write(&mut out, payload),
        Shape::IcmpEcho => builder
            .icmpv4_echo_request(0x1234, 3)
            .write(&mut out, payload),
        Shape::IcmpOther if v6 => builder
            .icmpv6(etherparse::Icmpv6Type::DestinationUnreachable(
                etherparse::icmpv6::DestUnreachableCode::Port,
            ))
            .write(&mut out, payload),
        Shape::IcmpOther => builder
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut out, payload),
        // GRE: a protocol without a transport parser.
        Shape::Opaque | Shape::Arp => builder.write(&mut out, 47.into(), payload),
    }
    .unwrap();
    out
}

fn arp_payload() -> Vec<u8> {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&SRC_MAC);
    arp.extend_from_slice(&[10, 0, 0, 5, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
    arp
}

/// A well-formed frame: Ethernet, `vlans` tags (or one MPLS label when `mpls`), then
/// the shape.
fn frame(vlans: usize, mpls: bool, v6: bool, shape: Shape, payload: &[u8]) -> Vec<u8> {
    let mut out = [DST_MAC, SRC_MAC].concat();
    for tag in 0..vlans {
        let tpid = if tag == 0 && vlans > 1 {
            ether_type::QINQ
        } else {
            ether_type::VLAN
        };
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&(100 + tag as u16).to_be_bytes());
    }
    let (ether, body) = match shape {
        Shape::Arp => (ether_type::ARP, arp_payload()),
        _ if v6 => (ether_type::IPV6, ip_packet(true, shape, payload)),
        _ => (ether_type::IPV4, ip_packet(false, shape, payload)),
    };
    if mpls && !matches!(shape, Shape::Arp) {
        out.extend_from_slice(&ether_type::MPLS.to_be_bytes());
        let label: u32 = (7 << 8) | 255;
        out.extend_from_slice(&(label << 12 | 1 << 8 | 255).to_be_bytes());
    } else {
        out.extend_from_slice(&ether.to_be_bytes());
    }
    out.extend_from_slice(&body);
    out
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Tcp),
        Just(Shape::Udp),
        Just(Shape::Vxlan),
        Just(Shape::IcmpEcho),
        Just(Shape::IcmpOther),
        Just(Shape::Opaque),
        Just(Shape::Arp),
    ]
}

/// A 16-bit header field value: near the boundaries of lengths, offsets and types
/// more often than chance would give.
fn field_value() -> impl Strategy<Value = u16> {
    prop_oneof![
        0u16..=80,
        Just(0xffff),
        0x8000u16..=0x8100,
        0x86ddu16..=0x88ff,
        any::<u16>(),
    ]
}

/// A frame of any known shape, then damaged: bytes and 16-bit fields overwritten
/// (mostly in the headers), cut short or padded.
fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        (0..3usize, any::<bool>(), any::<bool>(), shape()),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec((0usize..96, any::<u8>()), 0..3),
        proptest::collection::vec((0usize..96, field_value()), 0..3),
        prop_oneof![Just(None), (0usize..160).prop_map(Some)],
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(
            |((vlans, mpls, v6, shape), payload, pokes, fields, cut, padding)| {
                let mut bytes = frame(vlans, mpls, v6, shape, &payload);
                for (at, value) in pokes {
                    if let Some(byte) = bytes.get_mut(at) {
                        *byte = value;
                    }
                }
                for (at, value) in fields {
                    if let Some(field) = bytes.get_mut(at..at + 2) {
                        field.copy_from_slice(&value.to_be_bytes());
                    }
                }
                if let Some(len) = cut {
                    bytes.truncate(len);
                }
                bytes.extend_from_slice(&padding);
                bytes
            },
        )
}

/// Both paths, with the checksum checked and trusted.
fn assert_same(bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        parse(bytes),
        parse_general(bytes, false),
        "frame {:02x?}",
        bytes
    );
    let mut meta = Meta::default();
    let fast = parse_into(&mut meta, bytes, true).map(|()| meta);
    prop_assert_eq!(fast, parse_general(bytes, true), "frame {:02x?}", bytes);
    Ok(())
}

#[test]
fn every_shape_parses_the_same_both_ways() {
    for vlans in 0..3 {
        for mpls in [false, true] {
            for v6 in [false, true] {
                for shape in [
                    Shape::Tcp,
                    Shape::Udp,
                    Shape::Vxlan,
                    Shape::IcmpEcho,
                    Shape::IcmpOther,
                    Shape::Opaque,
                    Shape::Arp,
                ] {
                    let bytes = frame(vlans, mpls, v6, shape, b"payload");
                    let meta = parse(&bytes).expect("a well-formed frame parses");
                    assert!(meta.parsed);
                    assert_eq!(Ok(meta), parse_general(&bytes, false), "{shape:?}");
                }
            }
        }
    }
}

#[test]
fn a_bad_ipv4_checksum_is_refused_unless_the_nic_verified_it() {
    let mut bytes = frame(0, false, false, Shape::Udp, b"x");
    bytes[24] ^= 0xff;
    assert_eq!(parse(&bytes), parse_general(&bytes, false));
    assert!(parse(&bytes).is_err());
    let mut meta = Meta::default();
    assert!(parse_into(&mut meta, &bytes, true).is_ok());
    assert_eq!(meta.flow.dst_port, 53);
}

#[test]
fn a_refused_frame_leaves_the_metadata_unparsed() {
    let mut meta = Meta {
        parsed: true,
        logical_port: 9,
        ..Meta::default()
    };
    assert!(parse_into(&mut meta, &[0u8; 10], false).is_err());
    assert_eq!(meta, Meta::default());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn fast_and_general_agree_on_damaged_frames(bytes in mutated_frame()) {
        assert_same(&bytes)?;
    }

    #[test]
    fn fast_and_general_agree_on_random_bytes_behind_a_known_ethertype(
        ether in prop_oneof![
            Just(ether_type::IPV4),
            Just(ether_type::IPV6),
            Just(ether_type::ARP),
            Just(ether_type::VLAN),
            Just(ether_type::MPLS),
        ],
        first in prop_oneof![Just(0x45u8), Just(0x60), any::<u8>()],
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut bytes = [DST_MAC, SRC_MAC].concat();
        bytes.extend_from_slice(&ether.to_be_bytes());
        bytes.push(first);
        bytes.extend_from_slice(&rest);
        assert_same(&bytes)?;
    }

    #[test]
    fn fast_and_general_agree_on_random_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        assert_same(&bytes)?;
    }
}
