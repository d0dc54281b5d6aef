//! The whole pipeline over each bundled scenario's traffic, in memory: what a worker
//! spends per packet from receive (copy into a pool buffer) to the transmit queue.
//! File I/O is left out; `dataplane replay` timings include it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::counters::Counters;
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::pipeline::{Pipeline, TxQueues};
use dataplane::topology::Topology;
use packet::{Burst, Pool, PoolConfig};
use pcap_file::pcap::PcapReader;

const BURST: usize = 32;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcap-fixtures")
}

/// The scenario's input frames with their receive port, merged by timestamp.
fn scenario_traffic(scenario: &Path, topology: &Topology) -> Vec<(u16, Vec<u8>)> {
    let mut frames = Vec::new();
    for entry in std::fs::read_dir(scenario.join("in")).unwrap() {
        let path = entry.unwrap().path();
        let port_name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let port = topology.port_by_name(&port_name).unwrap().index() as u16;
        let mut reader = PcapReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.unwrap();
            frames.push((packet.timestamp, port, packet.data.into_owned()));
        }
    }
    frames.sort_by_key(|(timestamp, port, _)| (*timestamp, *port));
    frames
        .into_iter()
        .map(|(_, port, data)| (port, data))
        .collect()
}

fn scenarios(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    for name in [
        "l2-local",
        "arp-local",
        "routing",
        "vlan-trunk",
        "port-security",
        "malformed",
        "sfc-mpls",
        "sfc-proxy",
        "sfc-nsh",
        "vxlan-encap-v4",
        "vxlan-decap",
        "vxlan-bum",
    ] {
        let scenario = fixtures().join(name);
        let topology = Topology::load(&scenario.join("topology.toml")).unwrap();
        let traffic = scenario_traffic(&scenario, &topology);
        let mut pipeline = Pipeline::new(Arc::new(ForwardingTables::build(&topology)));
        let mut pool = Pool::new(PoolConfig::default());
        let mut counters = Counters::new(topology.ports.len());
        let mut tx = TxQueues::new(topology.ports.len());
        let mut rx = Burst::with_capacity(BURST);

        group.throughput(Throughput::Elements(traffic.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for chunk in traffic.chunks(BURST) {
                    for (port, frame) in chunk {
                        let mut packet = pool.alloc_copy(frame).unwrap();
                        packet.rx_port = *port;
                        rx.push(packet).unwrap();
                    }
                    pipeline.process(&mut rx, &mut pool, &mut tx, &mut counters);
                    for (_, queue) in tx.pending() {
                        for packet in queue.drain() {
                            pool.free(packet);
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
    targets = scenarios
}
criterion_main!(benches);
