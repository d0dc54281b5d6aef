//! Connection tracking and SNAT, per worker core: new connections per second,
//! translation of established connections with 1k, 100k and 1M live, and memory per
//! connection (computed from the preallocated tables, and measured as resident set
//! growth); and bursts of 32 established packets translated one by one, without and
//! with the table's prefetch hooks. Short runs by default (`bench::quick`).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use etherparse::PacketBuilder;
use nat::{outbound_key, Nat, NatConfig};
use packet::{parse, Packet, Pool, PoolConfig};

const EXTERNAL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);
const SECOND: u64 = 1_000_000_000;

/// A parsed UDP packet from a tenant VM to a server.
fn udp_packet(pool: &mut Pool) -> Packet {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 5], [198, 51, 100, 7], 64)
        .udp(40000, 9053)
        .write(&mut frame, &[0u8; 64])
        .unwrap();
    let mut packet = pool.alloc_copy(&frame).unwrap();
    packet.meta = parse(&frame).unwrap();
    packet
}

/// Connection `i`: a distinct (tenant address, source port, server) tuple whose own
/// port is free, so the port is preserved (the common case).
fn set_tuple(packet: &mut Packet, i: u32) {
    let flow = &mut packet.meta.flow;
    flow.src[..4].copy_from_slice(&(0x0a00_0000 | (i & 0xffff)).to_be_bytes());
    flow.dst[..4].copy_from_slice(&(0xc633_0000 | (i >> 15)).to_be_bytes());
    flow.src_port = 1024 + (i & 0x7fff) as u16;
}

fn nat_for(connections: u32) -> Nat {
    Nat::new(NatConfig {
        max_connections: connections,
        ..NatConfig::default()
    })
}

/// New connections: each iteration opens one (port choice, both index inserts,
/// header rewrite). A fresh table per sample, sized for it, so none fills.
fn new_connections(c: &mut Criterion) {
    let mut pool = Pool::new(PoolConfig::default());
    let mut packet = udp_packet(&mut pool);
    let mut group = c.benchmark_group("nat");
    group.throughput(Throughput::Elements(1));
    group.bench_function("new_connection", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let batch = (iters - done).min(1 << 20) as u32;
                let mut nat = nat_for(batch);
                let start = Instant::now();
                for i in 0..batch {
                    set_tuple(&mut packet, i);
                    black_box(nat.outbound(&mut packet, 1, EXTERNAL)).unwrap();
                }
                total += start.elapsed();
                done += u64::from(batch);
            }
            total
        })
    });
    group.finish();
}

/// Established connections: outbound translation of a packet of one of `live`
/// connections, visited in a scattered order so the big tables miss the cache as a
/// real mix of flows does.
fn established(c: &mut Criterion) {
    let mut pool = Pool::new(PoolConfig::default());
    let mut packet = udp_packet(&mut pool);
    let mut group = c.benchmark_group("nat_established");
    group.throughput(Throughput::Elements(1));
    for live in [1_000u32, 100_000, 1_000_000] {
        let mut nat = nat_for(live);
        for i in 0..live {
            set_tuple(&mut packet, i);
            nat.outbound(&mut packet, 1, EXTERNAL).unwrap();
        }
        assert_eq!(nat.connections(), live as usize);
        group.bench_with_input(BenchmarkId::from_parameter(live), &live, |b, &live| {
            let mut i = 0u32;
            b.iter(|| {
                // 2654435761 (Knuth's multiplicative hash) scatters the visit order.
                i = i.wrapping_add(1);
                set_tuple(&mut packet, i.wrapping_mul(2_654_435_761) % live);
                packet.timestamp_ns = SECOND;
                black_box(nat.outbound(&mut packet, 1, EXTERNAL)).unwrap();
            })
        });
    }
    group.finish();
}

/// Packets in a burst, and how many packets ahead of the translation the bucket and
/// then the connection are prefetched.
const BURST: usize = 32;
const BUCKET_AHEAD: usize = 8;
const CONNECTION_AHEAD: usize = 4;

/// Established connections in bursts: the same scattered visits as `established`, 32
/// at a time, translated in order (`plain`) or with each packet's bucket prefetched 8
/// packets ahead and its connection 4 ahead (`prefetched`), as a vector pipeline does.
fn established_bursts(c: &mut Criterion) {
    let mut pool = Pool::new(PoolConfig::default());
    let mut burst: Vec<Packet> = (0..BURST).map(|_| udp_packet(&mut pool)).collect();
    let mut group = c.benchmark_group("nat_established_burst");
    group.throughput(Throughput::Elements(BURST as u64));
    for live in [1_000u32, 100_000, 1_000_000] {
        let mut nat = nat_for(live);
        for i in 0..live {
            set_tuple(&mut burst[0], i);
            nat.outbound(&mut burst[0], 1, EXTERNAL).unwrap();
        }
        for prefetched in [false, true] {
            let name = if prefetched { "prefetched" } else { "plain" };
            let mut i = 0u32;
            group.bench_with_input(BenchmarkId::new(name, live), &live, |b, &live| {
                b.iter(|| {
                    for packet in burst.iter_mut() {
                        i = i.wrapping_add(1);
                        set_tuple(packet, i.wrapping_mul(2_654_435_761) % live);
                        packet.timestamp_ns = SECOND;
                    }
                    if !prefetched {
                        for packet in burst.iter_mut() {
                            black_box(nat.outbound(packet, 1, EXTERNAL)).unwrap();
                        }
                        return;
                    }
                    for at in 0..BURST + BUCKET_AHEAD {
                        if let Some(packet) = burst.get(at) {
                            nat.prefetch_bucket(&outbound_key(packet, 1));
                        }
                        if let Some(ahead) = at.checked_sub(BUCKET_AHEAD - CONNECTION_AHEAD) {
                            if let Some(packet) = burst.get(ahead) {
                                nat.prefetch_connection(&outbound_key(packet, 1));
                            }
                        }
                        if let Some(now) = at.checked_sub(BUCKET_AHEAD) {
                            black_box(nat.outbound(&mut burst[now], 1, EXTERNAL)).unwrap();
                        }
                    }
                })
            });
        }
    }
    group.finish();
}

/// Transparent huge pages backing this process, in bytes, from /proc (Linux); 0
/// elsewhere.
fn anon_huge_bytes() -> usize {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("AnonHugePages:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Resident set size in bytes, from /proc (Linux); 0 elsewhere.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Memory per connection, printed (criterion measures time, not bytes).
fn memory(_: &mut Criterion) {
    let mut pool = Pool::new(PoolConfig::default());
    let mut packet = udp_packet(&mut pool);
    for live in [100_000u32, 1_000_000] {
        let before = resident_bytes();
        let mut nat = nat_for(live);
        for i in 0..live {
            set_tuple(&mut packet, i);
            nat.outbound(&mut packet, 1, EXTERNAL).unwrap();
        }
        let measured = resident_bytes().saturating_sub(before);
        println!(
            "nat memory, {live} connections: {} bytes/connection allocated \
             (slots + index at capacity), {} bytes/connection resident growth; \
             slots and index on {:?} pages, {} MiB of transparent huge pages",
            nat.allocated_bytes() / live as usize,
            measured / live as usize,
            nat.pages(),
            anon_huge_bytes() >> 20
        );
        drop(nat);
    }
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
    targets = memory, new_connections, established, established_bursts
}
criterion_main!(benches);
