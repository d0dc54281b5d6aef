//! Per-packet costs of the packet core: parsing, flow hashing, checksum updates.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use packet::{checksum, parse, parse_general, FlowKey, Pool, PoolConfig};

const SRC: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 1, 1];
const DST: [u8; 6] = [0xfa, 0x16, 0x3e, 0, 2, 1];

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut udp = Vec::new();
    PacketBuilder::ethernet2(SRC, DST)
        .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
        .udp(40000, 53)
        .write(&mut udp, &[0u8; 18])
        .unwrap();
    out.push(("ipv4_udp_64B", udp));
    let mut tcp6 = Vec::new();
    PacketBuilder::ethernet2(SRC, DST)
        .single_vlan(etherparse::VlanId::try_new(101).unwrap())
        .ipv6([0xfd; 16], [0xfe; 16], 64)
        .tcp(40000, 80, 1, 1000)
        .write(&mut tcp6, &[0u8; 1200])
        .unwrap();
    out.push(("vlan_ipv6_tcp_1280B", tcp6));
    let mut arp = [[0xff; 6], SRC].concat();
    arp.extend_from_slice(&[8, 6, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&SRC);
    arp.extend_from_slice(&[10, 0, 0, 5, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
    out.push(("arp_request", arp));
    out
}

fn parse_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in frames() {
        group.bench_function(name, |b| b.iter(|| parse(black_box(&frame))));
    }
    group.finish();
    // The general path alone (etherparse), which the common frames no longer take.
    let mut group = c.benchmark_group("parse_general");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in frames() {
        group.bench_function(name, |b| b.iter(|| parse_general(black_box(&frame), false)));
    }
    group.finish();
}

/// Parsing into a packet's own header, as ingress does.
fn parse_in_place(c: &mut Criterion) {
    let mut pool = Pool::new(PoolConfig::default());
    let mut group = c.benchmark_group("parse_in_place");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in frames() {
        let mut packet = pool.alloc_copy(&frame).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(&mut packet).parse().unwrap();
                packet.meta.flow_hash
            })
        });
        pool.free(packet);
    }
    group.finish();
}

/// A burst of 32 frames of distinct flows, parsed one after the other as ingress does.
fn parse_burst(c: &mut Criterion) {
    let burst: Vec<Vec<u8>> = (0..32u16)
        .map(|i| {
            let mut frame = Vec::new();
            PacketBuilder::ethernet2(SRC, DST)
                .ipv4([10, 0, 0, 5], [10, 0, 1, i as u8], 64)
                .udp(40000 + i, 53)
                .write(&mut frame, &[0u8; 18])
                .unwrap();
            frame
        })
        .collect();
    let mut group = c.benchmark_group("parse_burst");
    group.throughput(Throughput::Elements(burst.len() as u64));
    group.bench_function("ipv4_udp_64B_x32", |b| {
        b.iter(|| {
            let mut hashes = 0u64;
            for frame in &burst {
                hashes ^= parse(black_box(frame)).unwrap().flow_hash;
            }
            hashes
        })
    });
    group.finish();
}

/// Receive and release as a copying port does: a frame copied into a fresh buffer,
/// then the buffer freed.
fn pool_cycle(c: &mut Criterion) {
    let mut pool = Pool::new(PoolConfig::default());
    let frame = frames().swap_remove(0).1;
    let mut group = c.benchmark_group("pool");
    group.throughput(Throughput::Elements(1));
    group.bench_function("alloc_copy_free_64B", |b| {
        b.iter(|| {
            let packet = pool.alloc_copy(black_box(&frame)).unwrap();
            pool.free(black_box(packet));
        })
    });
    group.finish();
}

fn flow_hash(c: &mut Criterion) {
    let key = FlowKey::new_v4([10, 0, 0, 5].into(), [192, 0, 2, 1].into(), 6, 40000, 443);
    let mut group = c.benchmark_group("flow_hash");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hash", |b| b.iter(|| black_box(&key).hash()));
    group.bench_function("symmetric_hash", |b| {
        b.iter(|| black_box(&key).symmetric_hash())
    });
    group.finish();
}

fn checksums(c: &mut Criterion) {
    let header = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    let mut group = c.benchmark_group("checksum");
    group.bench_function("verify_ipv4_header", |b| {
        b.iter(|| checksum::verify_ipv4_header(black_box(&header)))
    });
    group.bench_function("verify_ipv4_header_without_options", |b| {
        b.iter(|| checksum::verify_ipv4_header_without_options(black_box(&header)))
    });
    group.bench_function("incremental_address_update", |b| {
        b.iter(|| {
            checksum::update_bytes(
                black_box(0xb861),
                black_box(&header[12..16]),
                black_box(&[203, 0, 113, 11]),
            )
        })
    });
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
    targets = parse_frames, parse_in_place, parse_burst, pool_cycle, flow_hash, checksums
}
criterion_main!(benches);
