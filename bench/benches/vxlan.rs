//! Per-packet cost of the VXLAN overlay: encapsulation into the headroom (outer
//! headers, source port from the flow hash, IPv6 UDP checksum) and decapsulation
//! (outer parse, checks, start moved, inner parse), for small and large frames over
//! IPv4 and IPv6 underlays. Each iteration undoes its work by moving the frame start
//! back, which costs nothing measurable.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use packet::{parse, MacAddr, Pool, PoolConfig};
use vxlan::{decapsulate, encapsulate, inner_entropy, overhead, source_port, Endpoint};

fn inner_frame(payload: usize) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([0xfa, 0x16, 0x3e, 0, 1, 1], [0xfa, 0x16, 0x3e, 0, 1, 9])
        .ipv4([10, 0, 0, 5], [10, 0, 0, 9], 64)
        .udp(40000, 40053)
        .write(&mut frame, &vec![0u8; payload])
        .unwrap();
    frame
}

fn endpoints(ipv6: bool) -> (Endpoint, Endpoint) {
    let (local, remote) = if ipv6 {
        ("2001:db8:100::11", "2001:db8:100::12")
    } else {
        ("192.0.2.11", "192.0.2.12")
    };
    (
        Endpoint {
            ip: local.parse().unwrap(),
            mac: MacAddr([2, 0, 0xc0, 0, 2, 0x0b]),
        },
        Endpoint {
            ip: remote.parse().unwrap(),
            mac: MacAddr([2, 0, 0xc0, 0, 2, 0x0c]),
        },
    )
}

const CASES: [(&str, usize, bool); 4] = [
    ("ipv4_underlay_64B", 18, false),
    ("ipv4_underlay_1400B", 1354, false),
    ("ipv6_underlay_64B", 18, true),
    ("ipv6_underlay_1400B", 1354, true),
];

fn encap(c: &mut Criterion) {
    let mut group = c.benchmark_group("vxlan_encap");
    group.throughput(Throughput::Elements(1));
    for (name, payload, ipv6) in CASES {
        let mut pool = Pool::new(PoolConfig::default());
        let mut packet = pool.alloc_copy(&inner_frame(payload)).unwrap();
        packet.meta = parse(packet.data()).unwrap();
        let (local, remote) = endpoints(ipv6);
        group.bench_function(name, |b| {
            b.iter(|| {
                let port = source_port(inner_entropy(packet.data(), &packet.meta));
                encapsulate(black_box(&mut packet), &local, &remote, 1001, port).unwrap();
                packet.pull_front(overhead(ipv6));
            })
        });
    }
    group.finish();
}

/// A burst of 32 small frames of distinct flows, encapsulated one after the other
/// (IPv4 underlay), as the egress does for a burst to one chassis.
fn encap_burst(c: &mut Criterion) {
    let mut pool = Pool::new(PoolConfig::default());
    let mut packets: Vec<_> = (0..32u8)
        .map(|i| {
            let mut frame = Vec::new();
            PacketBuilder::ethernet2([0xfa, 0x16, 0x3e, 0, 1, 1], [0xfa, 0x16, 0x3e, 0, 1, 9])
                .ipv4([10, 0, 0, 5], [10, 0, 0, 9], 64)
                .udp(40000 + u16::from(i), 40053)
                .write(&mut frame, &[0u8; 18])
                .unwrap();
            let mut packet = pool.alloc_copy(&frame).unwrap();
            packet.meta = parse(packet.data()).unwrap();
            packet
        })
        .collect();
    let (local, remote) = endpoints(false);
    let mut group = c.benchmark_group("vxlan_encap_burst");
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.bench_function("ipv4_underlay_64B_x32", |b| {
        b.iter(|| {
            for packet in &mut packets {
                let port = source_port(inner_entropy(packet.data(), &packet.meta));
                encapsulate(black_box(&mut *packet), &local, &remote, 1001, port).unwrap();
            }
            for packet in &mut packets {
                packet.pull_front(overhead(false));
            }
        })
    });
    group.finish();
}

fn decap(c: &mut Criterion) {
    let mut group = c.benchmark_group("vxlan_decap");
    group.throughput(Throughput::Elements(1));
    for (name, payload, ipv6) in CASES {
        let mut pool = Pool::new(PoolConfig::default());
        let mut packet = pool.alloc_copy(&inner_frame(payload)).unwrap();
        let (remote, local) = endpoints(ipv6);
        encapsulate(&mut packet, &remote, &local, 1001, 50000).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                packet.meta = parse(black_box(packet.data())).unwrap();
                let outer = decapsulate(&mut packet, local.ip).unwrap();
                packet.meta = parse(packet.data()).unwrap();
                black_box(outer);
                packet.push_front(overhead(ipv6));
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(bench::quick::WARM_UP)
        .measurement_time(bench::quick::MEASUREMENT)
        .sample_size(bench::quick::SAMPLES)
        // The report's charts give plotters a font backend that criterion's own
        // charts do not set up: criterion prints its figures without charts.
        .without_plots();
    targets = encap, decap, encap_burst
}
criterion_main!(benches);
