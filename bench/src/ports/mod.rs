//! Ports that live on the worker's own thread, as DPDK's net_null and net_pcap's
//! `infinite_rx` do: a generator that makes each frame in a fresh pool buffer from a
//! pre-built one, a sink that frees what it is given, and a loopback whose transmit
//! feeds its own receive (a service function that sends every frame straight back).
//! No other thread touches a packet, so a run measures the worker alone.

mod generator;
mod loopback;
mod sink;

use std::sync::Arc;

use dataplane::port::{BasicPortInfo, Capabilities, PortStats};

pub use generator::{FlowRange, Generator};
pub use loopback::loopback;
pub use sink::Sink;

/// The name, capabilities and statistics of a port with `rx` and `tx` queues.
pub fn port_info(name: &str, rx: usize, tx: usize) -> Arc<BasicPortInfo> {
    Arc::new(BasicPortInfo {
        name: name.to_owned(),
        capabilities: Capabilities {
            rx_queues: rx as u16,
            tx_queues: tx as u16,
            max_frame: u32::MAX,
            hashes_flows: false,
            rx_checksum: false,
        },
        stats: PortStats::new(rx, tx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Mix, Scenario, Traffic};
    use dataplane::port::{PortInfo, RxQueue, TxQueue};
    use packet::{Burst, Pool, PoolConfig};

    fn pool() -> Pool {
        Pool::new(PoolConfig {
            buffers: 64,
            ..PoolConfig::default()
        })
    }

    /// The UDP source port of a generated frame (the flow it carries).
    fn source_port(frame: &[u8]) -> u16 {
        packet::parse(frame).unwrap().flow.src_port
    }

    #[test]
    fn the_generator_cycles_over_its_flows_in_fresh_buffers() {
        let mut pool = pool();
        let info = port_info("vm1", 1, 1);
        let flows = FlowRange {
            first: 5,
            stride: 2,
            count: 3,
        };
        let templates = Traffic::of(Scenario::L2).templates;
        let mut generator =
            Generator::new(1, templates, Mix::Small, flows, None, info.stats.rx_cell(0));
        let mut burst = Burst::with_capacity(8);
        assert_eq!(generator.rx_burst(&mut pool, &mut burst, 7).unwrap(), 7);
        let ports: Vec<u16> = burst.iter().map(|p| source_port(p.data())).collect();
        assert_eq!(ports, [1029, 1031, 1033, 1029, 1031, 1033, 1029]);
        assert!(burst.iter().all(|p| p.rx_port == 1 && p.len() == 60));
        assert_eq!(pool.available(), 64 - 7);
        // The burst holds 8: one more frame fits, then none.
        assert_eq!(generator.rx_burst(&mut pool, &mut burst, 32).unwrap(), 1);
        assert_eq!(generator.rx_burst(&mut pool, &mut burst, 32).unwrap(), 0);
        assert_eq!(info.stats().rx().packets, 8);
        assert!(!generator.finished());
    }

    #[test]
    fn a_generator_with_a_limit_finishes_and_an_empty_pool_is_missed() {
        let mut pool = Pool::new(PoolConfig {
            buffers: 4,
            ..PoolConfig::default()
        });
        let info = port_info("vm1", 1, 1);
        let templates = Traffic::of(Scenario::L2).templates;
        let flows = FlowRange::fresh(0, 1);
        let mut generator = Generator::new(
            1,
            templates,
            Mix::Small,
            flows,
            Some(6),
            info.stats.rx_cell(0),
        );
        let mut burst = Burst::with_capacity(32);
        assert_eq!(generator.rx_burst(&mut pool, &mut burst, 32).unwrap(), 4);
        assert_eq!(info.stats().rx().missed, 1);
        for packet in burst.drain() {
            pool.free(packet);
        }
        assert_eq!(generator.rx_burst(&mut pool, &mut burst, 32).unwrap(), 2);
        assert!(generator.finished());
        assert_eq!(generator.rx_burst(&mut pool, &mut burst, 32).unwrap(), 0);
    }

    #[test]
    fn flow_shares_cover_every_flow_once() {
        let mut seen: Vec<u64> = (0..3)
            .flat_map(|i| {
                let share = FlowRange::share(10, i, 3);
                assert_eq!((share.first, share.stride), (i as u64, 3));
                (0..share.count).map(move |n| share.first + n * share.stride)
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<u64>>());
        let one = FlowRange {
            first: 0,
            stride: 1,
            count: 1,
        };
        assert_eq!(FlowRange::share(1, 0, 1), one);
        assert_eq!(FlowRange::share(1, 1, 2), one);
    }

    #[test]
    fn a_flow_keeps_its_destination_each_time_round() {
        let mut pool = pool();
        let info = port_info("vm1", 1, 1);
        let templates = Traffic::of(Scenario::Full).templates;
        let flows = FlowRange::share(6, 1, 2);
        let mut generator =
            Generator::new(1, templates, Mix::Small, flows, None, info.stats.rx_cell(0));
        let mut burst = Burst::with_capacity(32);
        generator.rx_burst(&mut pool, &mut burst, 6).unwrap();
        let seen: Vec<(u16, std::net::IpAddr)> = burst
            .iter()
            .map(|p| {
                let meta = packet::parse(p.data()).unwrap();
                (meta.flow.src_port, meta.flow.dst_ip())
            })
            .collect();
        assert_eq!(
            &seen[..3],
            &seen[3..],
            "the same flows, the same destinations"
        );
        assert_eq!(seen[0].0, 1025);
        assert_ne!(
            seen[0].1, seen[1].1,
            "flows alternate between the destinations"
        );
    }

    #[test]
    fn the_sink_frees_and_counts() {
        let mut pool = pool();
        let info = port_info("vm2", 0, 1);
        let mut sink = Sink::new(info.stats.tx_cell(0));
        let mut burst = Burst::with_capacity(8);
        for len in [60, 100] {
            burst.push(pool.alloc_copy(&vec![0; len]).unwrap()).unwrap();
        }
        assert_eq!(sink.tx_burst(&mut burst, &mut pool).unwrap(), 2);
        assert!(burst.is_empty());
        assert_eq!(pool.available(), 64);
        let tx = info.stats().tx();
        assert_eq!((tx.packets, tx.bytes), (2, 160));
    }

    #[test]
    fn the_loopback_returns_each_queues_frames_as_new() {
        let mut pool = pool();
        let mut port = loopback(4, "sf1", 2, 2);
        let mut burst = Burst::with_capacity(8);
        for byte in 0..3u8 {
            let mut packet = pool.alloc_copy(&[byte; 20]).unwrap();
            packet.meta.parsed = true;
            packet.rx_port = 1;
            packet.timestamp_ns = 7;
            burst.push(packet).unwrap();
        }
        assert_eq!(port.tx[1].tx_burst(&mut burst, &mut pool).unwrap(), 2);
        assert_eq!(burst.len(), 1, "the frame the ring had no room for stays");
        pool.free(burst.drain().next().unwrap());
        assert_eq!(port.rx[0].rx_burst(&mut pool, &mut burst, 8).unwrap(), 0);
        assert_eq!(port.rx[1].rx_burst(&mut pool, &mut burst, 8).unwrap(), 2);
        let firsts: Vec<u8> = burst.iter().map(|p| p.data()[0]).collect();
        assert_eq!(firsts, [0, 1]);
        assert!(burst
            .iter()
            .all(|p| p.rx_port == 4 && !p.meta.parsed && p.timestamp_ns == 0));
        assert_eq!(port.info.stats().tx().packets, 2);
        assert_eq!(port.info.stats().rx().packets, 2);
    }
}
