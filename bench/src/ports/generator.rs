//! A receive queue that never runs dry: each frame is a copy of a pre-built template
//! into a fresh buffer of the worker's pool, with its flow's ports written in, cycling
//! over a range of flows (as DPDK's net_pcap `infinite_rx` replays its frames).

use std::io;
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use dataplane::port::{QueueStatsCell, RxQueue};
use packet::{Burst, Pool};

use crate::scenario::{write_flow, Mix, Template};

/// The flows a generator cycles over: `first`, `first + 1`, ... `first + count - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRange {
    pub first: u64,
    pub count: u64,
}

impl FlowRange {
    /// Generator `index` of `generators`' share of `flows` flows: a block of its own,
    /// so no two generators offer the same flow.
    pub fn share(flows: u64, index: usize, generators: usize) -> FlowRange {
        let (index, generators) = (index as u64, generators.max(1) as u64);
        let first = flows * index / generators;
        let end = flows * (index + 1) / generators;
        FlowRange {
            first,
            count: (end - first).max(1),
        }
    }

    /// Flows never offered before, for as long as the run lasts (each generator of
    /// `generators` gets a block far from the others').
    pub fn fresh(index: usize, generators: usize) -> FlowRange {
        const SPAN: u64 = 3_600_000_000;
        let block = SPAN / generators.max(1) as u64;
        FlowRange {
            first: block * index as u64,
            count: block,
        }
    }
}

pub struct Generator {
    port: u16,
    /// `templates[destination][size class]`; flow `f` goes to destination `f % len`.
    templates: Vec<[Template; 3]>,
    mix: Mix,
    flows: FlowRange,
    /// The next flow is `flows.first + offset`.
    offset: u64,
    made: u64,
    /// Frames after which the generator is finished, if any.
    limit: Option<u64>,
    stats: Arc<CachePadded<QueueStatsCell>>,
}

impl Generator {
    /// A generator of frames arriving on `port`. The number of templates must be a
    /// power of two (a flow's destination is picked with a mask, not a division).
    pub fn new(
        port: u16,
        templates: Vec<[Template; 3]>,
        mix: Mix,
        flows: FlowRange,
        limit: Option<u64>,
        stats: Arc<CachePadded<QueueStatsCell>>,
    ) -> Self {
        assert!(templates.len().is_power_of_two(), "1, 2, 4... templates");
        Generator {
            port,
            templates,
            mix,
            flows: FlowRange {
                count: flows.count.max(1),
                ..flows
            },
            offset: 0,
            made: 0,
            limit,
            stats,
        }
    }
}

impl RxQueue for Generator {
    fn rx_burst(&mut self, pool: &mut Pool, burst: &mut Burst, max: usize) -> io::Result<usize> {
        let max = match self.limit {
            Some(limit) => max.min(limit.saturating_sub(self.made) as usize),
            None => max,
        };
        let (mut made, mut bytes) = (0, 0);
        while made < max && !burst.is_full() {
            let flow = self.flows.first + self.offset;
            let destination = flow as usize & (self.templates.len() - 1);
            let template = &self.templates[destination][self.mix.size_class(self.made)];
            let Ok(mut packet) = pool.alloc_copy(&template.frame) else {
                self.stats.missed(1);
                break;
            };
            write_flow(packet.data_mut(), template.ports_at, flow);
            packet.rx_port = self.port;
            bytes += packet.len() as u64;
            // Cannot be refused: the burst was not full.
            let _ = burst.push(packet);
            made += 1;
            self.made += 1;
            self.offset += 1;
            if self.offset == self.flows.count {
                self.offset = 0;
            }
        }
        self.stats.passed(made as u64, bytes);
        Ok(made)
    }

    fn finished(&self) -> bool {
        self.limit.is_some_and(|limit| self.made >= limit)
    }
}
