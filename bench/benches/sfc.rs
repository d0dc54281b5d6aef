//! SFC costs per packet: classification against 10, 1,000 and 10,000 flow
//! classifiers (tuple space search), a flow cache hit (what an established flow pays
//! instead), and encap-and-steer (pair selection with flow pins, MPLS or NSH
//! encapsulation in the headroom).

use std::net::Ipv4Addr;

use classifier::{Classifier, Key, Prefix, Rule};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use packet::{parse, FlowCache, MacAddr, Pool, PoolConfig};
use sfc::{Chain, ChainTables, Encap, Group, Pair, SfcState};

/// A classifier set of `n` rules in four shapes (host + TCP port, subnet + UDP port
/// range, logical source port + TCP, /16 + HTTPS): few distinct masks, as real
/// networking-sfc rule sets have.
fn rules(n: u32) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            let host = Ipv4Addr::from(0x0a00_0000 + i);
            let mut rule = Rule::any(false, i);
            match i % 4 {
                0 => {
                    rule.protocol = Some(6);
                    rule.dst_ports = Some((80, 80));
                    rule.dst_prefix = Some(Prefix::v4(host, 32));
                }
                1 => {
                    rule.protocol = Some(17);
                    rule.dst_ports = Some((1000, 1999));
                    rule.src_prefix = Some(Prefix::v4(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24));
                }
                2 => {
                    rule.protocol = Some(6);
                    rule.logical_src = Some(i);
                }
                _ => {
                    rule.protocol = Some(6);
                    rule.dst_ports = Some((443, 443));
                    rule.dst_prefix = Some(Prefix::v4(Ipv4Addr::from(0x0b00_0000 + (i << 16)), 16));
                }
            }
            rule
        })
        .collect()
}

/// 1,024 probe keys, about half of them matching some rule.
fn probes(n: u32) -> Vec<Key> {
    (0..1024u32)
        .map(|k| {
            let i = (k.wrapping_mul(2_654_435_761)) % n.max(1);
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src[..4].copy_from_slice(&(0x0a00_0000 + (i << 8) + 7).to_be_bytes());
            dst[..4].copy_from_slice(&(0x0a00_0000 + i).to_be_bytes());
            Key {
                ipv6: false,
                protocol: if k % 3 == 0 { 17 } else { 6 },
                src,
                dst,
                src_port: 40000 + k as u16,
                dst_port: if k % 2 == 0 { 80 } else { 1500 },
                logical_src: k % 64,
                logical_dst: Key::NO_PORT,
            }
        })
        .collect()
}

fn classification(c: &mut Criterion) {
    let mut group = c.benchmark_group("sfc_classify");
    for n in [10u32, 1_000, 10_000] {
        let classifier = Classifier::build(&rules(n));
        let keys = probes(n);
        group.throughput(Throughput::Elements(keys.len() as u64));
        group.bench_with_input(BenchmarkId::new("classifiers", n), &keys, |b, keys| {
            b.iter(|| {
                let mut matched = 0u32;
                for key in keys {
                    matched += u32::from(classifier.classify(std::hint::black_box(key)).is_some());
                }
                matched
            })
        });
    }
    group.finish();
}

/// A hit in the per-worker flow cache, as the SFC stage uses it (the classifier's
/// answer keyed by the classification key, under the tables' generation): 1,024
/// established flows in the pipeline's 4,096 slots, every lookup a hit.
fn flow_cache_hit(c: &mut Criterion) {
    let keys = probes(10_000);
    let slots = dataplane::pipeline::sfc::CLASSIFICATION_CACHE_SLOTS;
    let mut cache: FlowCache<Key, Option<u32>> = FlowCache::new(slots);
    // Odd multiplier: distinct flows below the slot count land in distinct slots.
    let hash = |i: usize| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for (i, key) in keys.iter().enumerate() {
        cache.insert(hash(i), *key, 1, Some(i as u32));
    }
    let mut group = c.benchmark_group("flow_cache");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("hit", |b| {
        b.iter(|| {
            let mut found = 0u32;
            for (i, key) in keys.iter().enumerate() {
                let value = cache.get_or_insert_with(hash(i), *key, 1, || unreachable!());
                found += u32::from(std::hint::black_box(value).is_some());
            }
            found
        })
    });
    group.finish();
    assert_eq!(cache.misses(), 0, "every lookup was a hit");
}

fn frame(source_port: u16) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
        .tcp(source_port, 80, 1, 64240);
    let payload = [0u8; 64];
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, &payload).unwrap();
    out
}

fn tables(encap: Encap) -> ChainTables {
    let pairs = (0..4u32)
        .map(|k| Pair {
            key: u64::from(k) + 1,
            ingress: 10 + k,
            egress: 20 + k,
            ingress_mac: MacAddr([2, 0, 0, 0, 1, k as u8]),
            egress_mac: MacAddr([2, 0, 0, 0, 2, k as u8]),
            encap,
            weight: k + 1,
        })
        .collect();
    ChainTables::build(vec![Chain {
        chain_id: 7,
        groups: vec![Group { pairs }],
        symmetric: false,
        mpls_ttl: sfc::mpls::TTL,
    }])
}

fn encap_and_steer(c: &mut Criterion) {
    let mut group = c.benchmark_group("sfc_steer");
    const FLOWS: u16 = 256;
    for (name, encap) in [("mpls", Encap::Mpls), ("nsh", Encap::Nsh)] {
        let tables = tables(encap);
        let hop = tables.start(0, false);
        let mut state = SfcState::default();
        let mut pool = Pool::new(PoolConfig::default());
        let mut packets: Vec<_> = (0..FLOWS)
            .map(|f| {
                let bytes = frame(30000 + f);
                let mut p = pool.alloc_copy(&bytes).unwrap();
                p.meta = parse(&bytes).unwrap();
                p
            })
            .collect();
        group.throughput(Throughput::Elements(u64::from(FLOWS)));
        // Each iteration steers every packet (pin lookup, encapsulation) and strips the
        // encapsulation again so the next iteration starts from the same frames: the
        // figure is encap + decap.
        group.bench_function(name, |b| {
            b.iter(|| {
                for p in &mut packets {
                    let port = sfc::steer(&tables, &mut state, p, hop).unwrap();
                    std::hint::black_box(port);
                    match encap {
                        Encap::Mpls => assert!(sfc::mpls::pop(p)),
                        _ => {
                            p.pull_front(14 + sfc::nsh::HEADER_LEN);
                            p.meta.shift(-(14 + sfc::nsh::HEADER_LEN as i32));
                        }
                    }
                }
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
    targets = classification, flow_cache_hit, encap_and_steer
}
criterion_main!(benches);
