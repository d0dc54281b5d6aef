//! SFC load distribution through the whole pipeline, where the expected output cannot
//! name the pair each flow takes (the implementation's choice): flow affinity is
//! checked exactly, the weight ratio within a stated tolerance, and a symmetric chain's
//! replies must reach the pair their flow went through.

use std::sync::Arc;

use dataplane::counters::Counters;
use dataplane::pipeline::tables::ForwardingTables;
use dataplane::pipeline::{Pipeline, TxQueues};
use dataplane::topology::Topology;
use etherparse::PacketBuilder;
use packet::{Burst, Pool, PoolConfig};

const BASE: &str = r#"
[node]
name = "compute-1"

[[ports]]
name = "vm1"
driver = "pcap"

[[ports]]
name = "vm2"
driver = "pcap"

[[ports]]
name = "sfa"
driver = "pcap"

[[ports]]
name = "sfb"
driver = "pcap"

[[ports]]
name = "sfc"
driver = "pcap"

[[networks]]
name = "net"
tenant = "t"
vni = 1
cidr = "10.0.0.0/24"
gateway_ip = "10.0.0.1"

[[logical_ports]]
name = "vm1"
network = "net"
mac = "fa:16:3e:00:00:01"
ip = "10.0.0.5"
port = "vm1"

[[logical_ports]]
name = "vm2"
network = "net"
mac = "fa:16:3e:00:00:02"
ip = "10.0.0.6"
port = "vm2"
"#;

/// SF `name` on its own port: NAME-in (vlan 1) and NAME-out (vlan 2).
fn sf(name: &str, index: u8) -> String {
    format!(
        r#"
[[logical_ports]]
name = "{name}-in"
network = "net"
mac = "fa:16:3e:00:0f:{index:02x}"
ip = "10.0.0.{}"
port = "{name}"
vlan = 1

[[logical_ports]]
name = "{name}-out"
network = "net"
mac = "fa:16:3e:00:0e:{index:02x}"
ip = "10.0.0.{}"
port = "{name}"
vlan = 2
"#,
        100 + index,
        150 + index
    )
}

fn topology(pairs: &[(&str, u32)], symmetric: bool) -> Topology {
    let mut text = BASE.to_owned();
    let mut names = Vec::new();
    for (index, (name, weight)) in pairs.iter().enumerate() {
        text += &sf(name, index as u8 + 1);
        text += &format!(
            "\n[[port_pairs]]\nname = \"{name}\"\ningress = \"{name}-in\"\negress = \"{name}-out\"\ncorrelation = \"mpls\"\nweight = {weight}\n"
        );
        names.push(format!("\"{name}\""));
    }
    text += &format!(
        r#"
[[port_pair_groups]]
name = "lb"
port_pairs = [{}]

[[flow_classifiers]]
name = "web"
ethertype = "IPv4"
protocol = "tcp"
destination_port_range = [80, 80]
logical_source_port = "vm1"
logical_destination_port = "vm2"

[[port_chains]]
name = "chain"
chain_id = 5
port_pair_groups = ["lb"]
flow_classifiers = ["web"]
symmetric = {symmetric}
"#,
        names.join(", ")
    );
    Topology::from_toml_str(&text).unwrap()
}

fn tcp(src: ([u8; 6], [u8; 4], u16), dst: ([u8; 6], [u8; 4], u16)) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(src.0, dst.0)
        .ipv4(src.1, dst.1, 64)
        .tcp(src.2, dst.2, 1, 64240);
    let mut frame = Vec::with_capacity(builder.size(0));
    builder.write(&mut frame, &[]).unwrap();
    frame
}

const VM1: ([u8; 6], [u8; 4]) = ([0xfa, 0x16, 0x3e, 0, 0, 1], [10, 0, 0, 5]);
const VM2: ([u8; 6], [u8; 4]) = ([0xfa, 0x16, 0x3e, 0, 0, 2], [10, 0, 0, 6]);

fn forward_frame(flow: u16) -> Vec<u8> {
    tcp((VM1.0, VM1.1, 20000 + flow), (VM2.0, VM2.1, 80))
}

fn reply_frame(flow: u16) -> Vec<u8> {
    tcp((VM2.0, VM2.1, 80), (VM1.0, VM1.1, 20000 + flow))
}

/// A worker: its pipeline, pool and queues.
struct Worker {
    pipeline: Pipeline,
    pool: Pool,
    tx: TxQueues,
    counters: Counters,
}

impl Worker {
    fn new(topology: &Topology) -> Self {
        Worker {
            pipeline: Pipeline::new(Arc::new(ForwardingTables::build(topology))),
            pool: Pool::new(PoolConfig::default()),
            tx: TxQueues::new(topology.ports.len()),
            counters: Counters::new(topology.ports.len()),
        }
    }

    /// Sends one frame in on `port`; returns the (port, VLAN id) it left on.
    fn send(&mut self, port: u16, frame: &[u8]) -> (usize, u16) {
        let mut rx = Burst::with_capacity(1);
        let mut packet = self.pool.alloc_copy(frame).unwrap();
        packet.rx_port = port;
        rx.push(packet).unwrap();
        self.pipeline
            .process(&mut rx, &mut self.pool, &mut self.tx, &mut self.counters);
        assert_eq!(self.counters.total_drops(), 0, "nothing may be dropped");
        let mut outputs = Vec::new();
        for (out_port, queue) in self.tx.pending() {
            for packet in queue.drain() {
                let data = packet.data();
                assert_eq!(&data[12..14], &[0x81, 0x00], "to a sub-port");
                let vlan = u16::from_be_bytes([data[14], data[15]]) & 0xfff;
                assert_eq!(&data[16..18], &[0x88, 0x47], "MPLS");
                outputs.push((out_port, vlan));
                self.pool.free(packet);
            }
        }
        assert_eq!(outputs.len(), 1);
        outputs[0]
    }
}

const FLOWS: u16 = 2000;

#[test]
fn weights_one_to_three_with_flow_affinity() {
    let topo = topology(&[("sfa", 1), ("sfb", 3)], false);
    let (sfa, sfb) = (2usize, 3usize);
    let mut worker = Worker::new(&topo);
    let first: Vec<(usize, u16)> = (0..FLOWS)
        .map(|f| worker.send(0, &forward_frame(f)))
        .collect();
    // Affinity, exactly: every later packet of a flow takes its first packet's pair,
    // on this worker and on another one (whose pins are empty).
    let mut other = Worker::new(&topo);
    for f in 0..FLOWS {
        assert_eq!(
            worker.send(0, &forward_frame(f)),
            first[usize::from(f)],
            "flow {f}"
        );
        assert_eq!(
            other.send(0, &forward_frame(f)),
            first[usize::from(f)],
            "flow {f}, other worker"
        );
    }
    assert!(first
        .iter()
        .all(|&(port, vlan)| (port == sfa || port == sfb) && vlan == 1));
    // Ratio: weight 3 of 4 should carry 75% of the flows; with 2,000 flows one standard
    // deviation is about 1%, the tolerance is +-3 points.
    let on_b = first.iter().filter(|&&(port, _)| port == sfb).count();
    let share = on_b as f64 / f64::from(FLOWS);
    assert!(
        (0.72..=0.78).contains(&share),
        "sfb carried {share:.3} of the flows"
    );
}

#[test]
fn symmetric_replies_reach_the_same_pair() {
    let topo = topology(&[("sfa", 1), ("sfb", 1), ("sfc", 2)], true);
    let mut forward_worker = Worker::new(&topo);
    // Replies on another worker: no pin is shared, the symmetric hash alone agrees.
    let mut reply_worker = Worker::new(&topo);
    let mut used = [0usize; 5];
    for f in 0..500 {
        let (port, vlan) = forward_worker.send(0, &forward_frame(f));
        assert_eq!(vlan, 1, "forward enters by the ingress sub-port");
        let (reply_port, reply_vlan) = reply_worker.send(1, &reply_frame(f));
        assert_eq!(
            reply_port, port,
            "flow {f}: the reply goes to another function"
        );
        assert_eq!(
            reply_vlan, 2,
            "the reverse direction enters by the egress sub-port"
        );
        used[port] += 1;
    }
    assert!(
        used[2..].iter().all(|&n| n > 50),
        "every pair serves flows: {used:?}"
    );
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    /// A frame from a function's port: a VLAN tag for its in or out sub-port, then an
    /// MPLS or NSH (or other) ethertype and arbitrary bytes.
    fn sf_frame() -> impl Strategy<Value = Vec<u8>> {
        (
            1u16..=2,
            prop_oneof![Just(0x8847u16), Just(0x894f), Just(0x0800), Just(0x86dd)],
            proptest::collection::vec(any::<u8>(), 0..120),
            any::<u8>(),
        )
            .prop_map(|(vlan, ether_type, body, si)| {
                let mut f = vec![0xfa, 0x16, 0x3e, 0, 0x0f, 1, 0xfa, 0x16, 0x3e, 0, 0x0e, 1];
                f.extend_from_slice(&[0x81, 0x00]);
                f.extend_from_slice(&vlan.to_be_bytes());
                f.extend_from_slice(&ether_type.to_be_bytes());
                // Often a label or path of chain 5, so the lookups succeed sometimes.
                match ether_type {
                    0x8847 => f.extend_from_slice(&[0x00, 0x05, 0xf1 | (si & 0x0e), 0xff]),
                    0x894f => f.extend_from_slice(&[0x0f, 0xc2, 0x02, 0x03, 0, 0, 5, si]),
                    _ => {}
                }
                f.extend_from_slice(&body);
                f
            })
    }

    proptest! {
        #[test]
        fn hostile_frames_from_functions_are_forwarded_or_counted(
            frames in proptest::collection::vec(sf_frame(), 1..40),
            symmetric in any::<bool>(),
        ) {
            let topo = topology(&[("sfa", 1), ("sfb", 3)], symmetric);
            let mut w = Worker::new(&topo);
            let mut rx = Burst::with_capacity(64);
            for frame in &frames {
                let mut packet = w.pool.alloc_copy(frame).unwrap();
                packet.rx_port = 2;
                rx.push(packet).unwrap();
            }
            w.pipeline.process(&mut rx, &mut w.pool, &mut w.tx, &mut w.counters);
            let mut sent = 0u64;
            for (_, queue) in w.tx.pending() {
                for packet in queue.drain() {
                    sent += 1;
                    w.pool.free(packet);
                }
            }
            // No panic, and every frame is sent (a flood may copy it) or dropped under
            // one reason.
            prop_assert!(sent + w.counters.total_drops() >= frames.len() as u64);
            prop_assert!(w.counters.total_drops() <= frames.len() as u64);
        }
    }
}
