//! A receive queue that never runs dry: each frame is a copy of a pre-built template
//! into a fresh buffer of the worker's pool, with its flow's ports written in, cycling
//! over a range of flows (as DPDK's net_pcap `infinite_rx` replays its frames).

use std::io;
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use dataplane::port::{QueueStatsCell, RxQueue};
use packet::{Burst, Pool};

use crate::scenario::{write_flow, Mix, Template};

/// The flows a generator cycles over: `first`, `first + stride`, ... (`count` flows).
/// With several generators each takes every n-th flow, so each worker sees a slice of
/// every destination, as RSS spreads flows (and SNAT finds free ports in every
/// worker's slice of the port range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRange {
    pub first: u64,
    pub stride: u64,
    pub count: u64,
}

impl FlowRange {
    /// Generator `index` of `generators`' share of `flows` flows: flows `index`,
    /// `index + generators`, ..., so no two generators offer the same flow (unless
    /// there are fewer flows than generators).
    pub fn share(flows: u64, index: usize, generators: usize) -> FlowRange {
        let (index, generators) = (index as u64, generators.max(1) as u64);
        let flows = flows.max(1);
        if flows < generators {
            return FlowRange {
                first: index % flows,
                stride: 1,
                count: 1,
            };
        }
        FlowRange {
            first: index,
            stride: generators,
            count: (flows - index).div_ceil(generators),
        }
    }

    /// Flows never offered before, for as long as the run lasts.
    pub fn fresh(index: usize, generators: usize) -> FlowRange {
        FlowRange::share(u64::MAX / 2, index, generators)
    }
}

pub struct Generator {
    port: u16,
    /// `templates[destination][size class]`; the `i`th flow of the range goes to
    /// destination `i % len`.
    templates: Vec<[Template; 3]>,
    mix: Mix,
    flows: FlowRange,
    /// The next flow is the `offset`th of the range: `flow`.
    offset: u64,
    flow: u64,
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
            flow: flows.first,
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
            let flow = self.flow;
            let destination = self.offset as usize & (self.templates.len() - 1);
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
            self.flow += self.flows.stride;
            if self.offset == self.flows.count {
                self.offset = 0;
                self.flow = self.flows.first;
            }
        }
        self.stats.passed(made as u64, bytes);
        Ok(made)
    }

    fn finished(&self) -> bool {
        self.limit.is_some_and(|limit| self.made >= limit)
    }
}
