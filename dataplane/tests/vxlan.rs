//! VXLAN properties the exact fixture comparison cannot state: the outer UDP source
//! port (the dataplane's choice) is within 49152-65535 and the same for every packet
//! of an inner flow; and two nodes, each the other's chassis, reach each other's VMs
//! through their uplink captures.

mod support;

use std::collections::HashMap;
use std::path::Path;

use support::{dataplane, fixtures_dir, frame_difference, read_pcap, replay_scenario};

/// What identifies an inner flow: its 5-tuple when IP, else its two MACs.
fn inner_flow(inner: &[u8]) -> String {
    let meta = packet::parse(inner).expect("inner frame parses");
    if meta.is_ip() {
        format!("{:?}", meta.flow)
    } else {
        format!("{:02x?}", &inner[..12])
    }
}

/// (source port, inner flow) of every frame of an uplink capture, checking that each
/// is VXLAN to port 4789.
fn source_ports(uplink: &Path) -> Vec<(u16, String)> {
    read_pcap(uplink)
        .iter()
        .map(|(_, frame)| {
            let meta = packet::parse(frame).expect("outer frame parses");
            let packet::Tunnel::Vxlan { inner_offset, .. } = meta.tunnel else {
                panic!("{}: not VXLAN: {frame:02x?}", uplink.display());
            };
            assert_eq!(meta.flow.dst_port, 4789);
            let inner = &frame[usize::from(inner_offset)..];
            (meta.flow.src_port, inner_flow(inner))
        })
        .collect()
}

#[test]
fn outer_source_port_is_in_range_and_stable_per_flow() {
    let mut flows_seen = 0;
    let mut ports_seen = std::collections::BTreeSet::new();
    for scenario in [
        "vxlan-encap-v4",
        "vxlan-encap-v6",
        "vxlan-bum",
        "vxlan-overlap",
    ] {
        let out = tempfile::tempdir().unwrap();
        let output = replay_scenario(&fixtures_dir().join(scenario), out.path());
        assert!(output.status.success(), "{scenario}: {output:?}");
        let mut by_flow: HashMap<String, u16> = HashMap::new();
        for (port, flow) in source_ports(&out.path().join("uplink.pcap")) {
            assert!(port >= 49152, "{scenario}: source port {port} below 49152");
            let first = *by_flow.entry(flow.clone()).or_insert(port);
            assert_eq!(first, port, "{scenario}: flow {flow} changed source port");
            ports_seen.insert(port);
        }
        flows_seen += by_flow.len();
    }
    // The port follows the flow: the many flows of these scenarios do not share one.
    assert!(flows_seen >= 10, "{flows_seen} flows");
    assert!(ports_seen.len() >= flows_seen / 2, "{ports_seen:?}");
}

/// Runs `dataplane replay` on a node folder with the given inputs.
fn replay_node(node: &Path, inputs: &[(&str, &Path)], out_dir: &Path) {
    let mut command = dataplane();
    command
        .arg("replay")
        .arg("--config")
        .arg(node.join("topology.toml"))
        .arg("--out-dir")
        .arg(out_dir);
    for (port, file) in inputs {
        command
            .arg("--in")
            .arg(format!("{port}={}", file.display()));
    }
    let output = command.output().expect("run dataplane");
    assert!(
        output.status.success(),
        "{}: {}",
        node.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn assert_same_frames(expected: &Path, actual: &Path) {
    let want = read_pcap(expected);
    let got = read_pcap(actual);
    assert_eq!(want.len(), got.len(), "{}", actual.display());
    for (index, ((want_ts, want), (got_ts, got))) in want.iter().zip(&got).enumerate() {
        if let Some(difference) = frame_difference(want, got) {
            panic!("{} packet {}: {difference}", actual.display(), index + 1);
        }
        assert_eq!(want_ts, got_ts, "{} packet {}", actual.display(), index + 1);
    }
}

#[test]
fn two_nodes_reach_each_others_vms_over_their_uplinks() {
    let root = fixtures_dir().join("vxlan-two-node");
    let (node_a, node_b) = (root.join("node-a"), root.join("node-b"));
    let a_out = tempfile::tempdir().unwrap();
    let b_out = tempfile::tempdir().unwrap();
    let a_back = tempfile::tempdir().unwrap();

    // A's VM sends: A encapsulates to B.
    let a_vm = node_a.join("in/vm1.pcap");
    replay_node(&node_a, &[("vm1", &a_vm)], a_out.path());
    let a_uplink = a_out.path().join("uplink.pcap");
    assert!(!a_out.path().join("vm1.pcap").exists());

    // B decapsulates to its VM, whose replies B encapsulates to A.
    let b_web = node_b.join("in/web.pcap");
    replay_node(
        &node_b,
        &[("uplink", &a_uplink), ("web", &b_web)],
        b_out.path(),
    );
    assert_same_frames(
        &node_b.join("expected/web.pcap"),
        &b_out.path().join("web.pcap"),
    );

    // A decapsulates B's replies to its VM.
    let b_uplink = b_out.path().join("uplink.pcap");
    replay_node(&node_a, &[("uplink", &b_uplink)], a_back.path());
    assert_same_frames(
        &node_a.join("expected/vm1.pcap"),
        &a_back.path().join("vm1.pcap"),
    );
}

mod hostile_uplink {
    //! Whatever follows a valid outer header on the uplink, the pipeline neither
    //! panics nor loses a buffer: every one comes back to the pool, transmitted or
    //! dropped.

    use std::sync::Arc;

    use dataplane::counters::Counters;
    use dataplane::pipeline::tables::ForwardingTables;
    use dataplane::pipeline::{Pipeline, TxQueues};
    use dataplane::topology::Topology;
    use packet::{Burst, MacAddr, Pool, PoolConfig};
    use proptest::prelude::*;
    use vxlan::Endpoint;

    use super::support::fixtures_dir;

    const MACS: [[u8; 6]; 4] = [
        [0xfa, 0x16, 0x3e, 0, 1, 9], // green-web, on compute-2
        [0xfa, 0x16, 0x3e, 0, 1, 1], // green-vm1, local
        [2, 0, 0x0a, 0, 0, 1],       // the green router
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn buffers_are_conserved(
            flags in prop_oneof![Just(0x08u8), any::<u8>()],
            vni in prop_oneof![Just(1001u32), Just(1003), 0u32..0x1000000],
            from_compute_2: bool,
            src in 0usize..4,
            dst in 0usize..4,
            ether_type in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), any::<u16>()],
            body in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let scenario = fixtures_dir().join("vxlan-decap");
            let topology = Topology::load(&scenario.join("topology.toml")).unwrap();
            let uplink = topology.node.uplink.unwrap().index() as u16;
            let mut pipeline = Pipeline::new(Arc::new(ForwardingTables::build(&topology)));
            let mut pool = Pool::new(PoolConfig { buffers: 64, ..PoolConfig::default() });
            let mut counters = Counters::new(topology.ports.len());
            let mut tx = TxQueues::new(topology.ports.len());

            let mut inner = [MACS[dst], MACS[src]].concat();
            inner.extend_from_slice(&ether_type.to_be_bytes());
            inner.extend_from_slice(&body);
            let mut packet = pool.alloc_copy(&inner).unwrap();
            let sender = Endpoint {
                ip: if from_compute_2 { "192.0.2.12" } else { "192.0.2.13" }.parse().unwrap(),
                mac: MacAddr([2, 0, 0xc0, 0, 2, 0x0c]),
            };
            let local = Endpoint {
                ip: "192.0.2.11".parse().unwrap(),
                mac: MacAddr([2, 0, 0xc0, 0, 2, 0x0b]),
            };
            vxlan::encapsulate(&mut packet, &sender, &local, vni, 50000).unwrap();
            packet.data_mut()[42] = flags;
            packet.rx_port = uplink;
            let mut rx = Burst::with_capacity(4);
            rx.push(packet).unwrap();

            pipeline.process(&mut rx, &mut pool, &mut tx, &mut counters);
            let mut sent = 0;
            for (_, queue) in tx.pending() {
                for packet in queue.drain() {
                    sent += 1;
                    pool.free(packet);
                }
            }
            prop_assert_eq!(pool.available(), 64);
            prop_assert_eq!(sent + counters.total_drops() as usize >= 1, true);
        }
    }
}
