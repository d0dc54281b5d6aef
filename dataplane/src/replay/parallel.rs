//! Replay with several workers: this thread reads the merged inputs and hands each
//! packet to the worker its flow hashes to (so a flow keeps its order across ports),
//! the workers run the pipeline, and this thread writes what they transmit. Replay
//! loses nothing: a full ring makes the sender wait, it never drops.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam::queue::ArrayQueue;
use packet::{Burst, Packet, Pool, PoolConfig, SharedPool};

use super::{earliest_input, ReplayError};
use crate::counters::{Counters, DropReason};
use crate::pipeline::tables::ForwardingTables;
use crate::pipeline::{Pipeline, TxQueues};
use crate::port::pcap::PcapPort;
use crate::port::Port;
use crate::runtime::idle::Backoff;
use crate::runtime::worker_for;

const RING_SIZE: usize = 1024;

struct Rings {
    /// Packets for each worker to process.
    input: Vec<ArrayQueue<Packet>>,
    /// (port, packet) each worker transmitted.
    output: Vec<ArrayQueue<(u16, Packet)>>,
    /// Set once every input packet has been handed out.
    input_done: AtomicBool,
    workers_finished: AtomicUsize,
}

pub(super) fn run(
    ports: &mut [PcapPort],
    tables: Arc<ForwardingTables>,
    pool: PoolConfig,
    burst_size: usize,
    workers: usize,
) -> Result<Counters, ReplayError> {
    let buffers = SharedPool::new(pool);
    let rings = Rings {
        input: (0..workers).map(|_| ArrayQueue::new(RING_SIZE)).collect(),
        output: (0..workers).map(|_| ArrayQueue::new(RING_SIZE)).collect(),
        input_done: AtomicBool::new(false),
        workers_finished: AtomicUsize::new(0),
    };
    let port_count = ports.len();
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|index| {
                let (rings, buffers, tables) = (&rings, &buffers, Arc::clone(&tables));
                scope.spawn(move || {
                    work(
                        index, workers, rings, buffers, tables, burst_size, port_count,
                    )
                })
            })
            .collect();

        let mut io = Io {
            pool: Pool::attach(&buffers),
            counters: Counters::new(port_count),
            tx: TxQueues::new(port_count),
            error: None,
        };
        let read = io.feed(ports, &rings, &tables, workers);
        // Whatever happened, let the workers finish, and write what they sent.
        rings.input_done.store(true, Ordering::Release);
        let mut backoff = Backoff::new(false);
        while rings.workers_finished.load(Ordering::Acquire) < workers {
            io.drain(ports, &rings);
            backoff.idle();
        }
        io.drain(ports, &rings);
        let written = io.error.take().map_or(Ok(()), Err);
        let mut counters = io.counters;
        for handle in handles {
            match handle.join() {
                Ok(worker_counters) => counters.add(&worker_counters),
                Err(_) => {
                    return Err(ReplayError::Output(std::io::Error::other(
                        "a replay worker panicked",
                    )))
                }
            }
        }
        read.and(written)?;
        Ok(counters)
    })
}

/// The reading and writing thread's own pool, counters and output queues.
struct Io {
    pool: Pool,
    counters: Counters,
    tx: TxQueues,
    /// The first write failure; afterwards outputs are discarded so that the workers
    /// never wait on a full ring.
    error: Option<ReplayError>,
}

impl Io {
    /// Reads every input in timestamp order and hands each packet to its worker.
    fn feed(
        &mut self,
        ports: &mut [PcapPort],
        rings: &Rings,
        tables: &ForwardingTables,
        workers: usize,
    ) -> Result<(), ReplayError> {
        let mut one = Burst::with_capacity(1);
        while let Some(next) = earliest_input(ports) {
            if self.error.is_some() {
                return Ok(());
            }
            ports[next]
                .rx_burst(&mut self.pool, &mut one, 1, &mut self.counters)
                .map_err(ReplayError::Input)?;
            for mut packet in one.drain() {
                let target = worker_for(tables, &mut packet, workers, 0);
                while let Err(back) = rings.input[target].push(packet) {
                    packet = back;
                    self.drain(ports, rings);
                    thread::yield_now();
                }
            }
            self.drain(ports, rings);
        }
        Ok(())
    }

    /// Writes what the workers transmitted so far.
    fn drain(&mut self, ports: &mut [PcapPort], rings: &Rings) {
        for ring in &rings.output {
            while let Some((port, packet)) = ring.pop() {
                if self.error.is_some() {
                    self.pool.free(packet);
                } else if let Err(packet) = self.tx.push(port, packet) {
                    self.flush(ports);
                    if let Err(packet) = self.tx.push(port, packet) {
                        self.counters.drop(DropReason::TxQueueFull);
                        self.pool.free(packet);
                    }
                }
            }
        }
        self.flush(ports);
    }

    fn flush(&mut self, ports: &mut [PcapPort]) {
        for (port, queue) in self.tx.pending() {
            if let Err(error) = ports[port].tx_burst(queue, &mut self.pool, &mut self.counters) {
                self.error.get_or_insert(ReplayError::Output(error));
            }
        }
    }
}

/// Passes a worker's transmit queues to the writing thread (waiting when its ring is
/// full: replay loses nothing).
fn send_out(tx: &mut TxQueues, output: &ArrayQueue<(u16, Packet)>) {
    for (port, queue) in tx.pending() {
        for packet in queue.drain() {
            let mut item = (port as u16, packet);
            while let Err(back) = output.push(item) {
                item = back;
                thread::yield_now();
            }
        }
    }
}

/// A replay worker: bursts from its input ring through its pipeline, out to its
/// output ring.
fn work(
    index: usize,
    workers: usize,
    rings: &Rings,
    buffers: &Arc<SharedPool>,
    tables: Arc<ForwardingTables>,
    burst_size: usize,
    port_count: usize,
) -> Counters {
    let mut pool = Pool::attach(buffers);
    let mut pipeline = Pipeline::for_worker(tables, index as u16, workers as u16);
    let mut counters = Counters::new(port_count);
    let mut rx = Burst::with_capacity(burst_size);
    let mut tx = TxQueues::new(port_count);
    let mut backoff = Backoff::new(false);
    let (input, output) = (&rings.input[index], &rings.output[index]);
    loop {
        // Read before popping: once set, an empty ring means no more input.
        let input_done = rings.input_done.load(Ordering::Acquire);
        while !rx.is_full() {
            match input.pop() {
                Some(packet) => {
                    let _ = rx.push(packet);
                }
                None => break,
            }
        }
        if rx.is_empty() {
            if input_done {
                pipeline.finish(&mut pool, &mut tx, &mut counters);
                send_out(&mut tx, output);
                break;
            }
            pipeline.housekeep(&mut pool, &mut tx, &mut counters);
            send_out(&mut tx, output);
            backoff.idle();
            continue;
        }
        backoff.reset();
        pipeline.process(&mut rx, &mut pool, &mut tx, &mut counters);
        send_out(&mut tx, output);
    }
    drop(pool);
    rings.workers_finished.fetch_add(1, Ordering::Release);
    counters
}
