//! One worker's poll loop.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use packet::{Burst, Pool, MAX_BURST};

use super::idle::Backoff;
use super::{dispatch, Shared, Work};
use crate::counters::{Counters, DropReason};
use crate::pipeline::{Pipeline, TxQueues};
use crate::port::Port;

pub(super) fn run(
    index: usize,
    shared: &Arc<Shared>,
    mut ports: Vec<(u16, Box<dyn Port>)>,
) -> io::Result<Counters> {
    let config = &shared.config;
    if !config.cores.is_empty() {
        pin_to_core(config.cores[index % config.cores.len()])?;
    }
    let workers = config.workers;
    let port_count = shared.port_owner.len();
    let mut pool = Pool::attach(&shared.buffers);
    let snapshot = shared.snapshot.load();
    let mut generation = snapshot.generation;
    let mut pipeline =
        Pipeline::for_worker(Arc::clone(&snapshot.tables), index as u16, workers as u16);
    drop(snapshot);
    let mut counters = Counters::new(port_count);
    let mut received = Burst::with_capacity(config.burst);
    let mut mine = Burst::with_capacity(MAX_BURST);
    let mut tx = TxQueues::new(port_count);
    let mut backoff = Backoff::new(config.busy_poll);
    let ring = &shared.rings[index];
    // Packets from ports without their own timestamps get the runtime's clock: the
    // stages' timers (conntrack, resolution) run on packet time.
    let clock = shared.started;
    // The latest packet time this worker saw (its stages' clock).
    let mut packet_time = 0u64;

    loop {
        // A guard: while this worker is mid-iteration, nobody concludes it is drained.
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let stopping = shared.stop.load(Ordering::SeqCst);

        if shared.snapshot.generation() != generation {
            let snapshot = shared.snapshot.load();
            generation = snapshot.generation;
            pipeline.set_tables(Arc::clone(&snapshot.tables));
            shared.generations[index].store(generation, Ordering::Release);
        }

        let mut work = 0;
        if !stopping {
            for (_, port) in &mut ports {
                let room = config.burst - received.len();
                if room == 0 {
                    break;
                }
                work += port.rx_burst(&mut pool, &mut received, room, &mut counters)?;
            }
        }
        if !received.is_empty() {
            let now = clock.elapsed().as_nanos() as u64;
            for packet in received.iter_mut().filter(|p| p.timestamp_ns == 0) {
                packet.timestamp_ns = now;
            }
        }
        shared.capture.received(&received, &mut pool);
        for mut packet in received.drain() {
            let target = dispatch::worker_for(pipeline.tables(), &mut packet, workers, index);
            if target == index {
                if let Err(packet) = mine.push(packet) {
                    counters.drop(DropReason::RingFull);
                    pool.free(packet);
                }
            } else {
                hand_over(
                    shared,
                    target,
                    Work::Process(packet),
                    &mut pool,
                    &mut counters,
                );
            }
        }

        let mut popped = 0;
        while popped < config.burst && !mine.is_full() {
            let Some(item) = ring.pop() else {
                break;
            };
            popped += 1;
            match item {
                Work::Process(packet) => {
                    if let Err(packet) = mine.push(packet) {
                        counters.drop(DropReason::RingFull);
                        pool.free(packet);
                    }
                }
                Work::Transmit { port, packet } => {
                    if let Err(packet) = tx.push(port, packet) {
                        counters.drop(DropReason::TxQueueFull);
                        pool.free(packet);
                    }
                }
            }
        }
        work += popped;

        if let Some(latest) = mine.iter().map(|p| p.timestamp_ns).max() {
            packet_time = packet_time.max(latest);
        }
        pipeline.process(&mut mine, &mut pool, &mut tx, &mut counters);
        shared.conn_dumps[index].serve(index as u16, packet_time, pipeline.connections());
        shared.conn_dumps[index].serve_flush(|pick| pipeline.flush_connections(pick));
        transmit(shared, index, &mut ports, &mut tx, &mut pool, &mut counters)?;

        if work == 0 {
            // Held frames another worker's answer released leave now.
            pipeline.housekeep(&mut pool, &mut tx, &mut counters);
            transmit(shared, index, &mut ports, &mut tx, &mut pool, &mut counters)?;
        }
        shared.in_flight.fetch_sub(1 + popped, Ordering::SeqCst);
        if work > 0 {
            shared.published[index].publish(&counters);
            backoff.reset();
        } else if stopping && shared.in_flight.load(Ordering::SeqCst) == 0 {
            break;
        } else {
            backoff.idle();
        }
    }
    // What still waits for a resolution is dropped and counted; it goes nowhere.
    pipeline.finish(&mut pool, &mut tx, &mut counters);
    for (port_id, queue) in tx.pending() {
        match ports.iter_mut().find(|(id, _)| usize::from(*id) == port_id) {
            Some((_, port)) => {
                port.tx_burst(queue, &mut pool, &mut counters)?;
            }
            // The owner may have stopped already.
            None => {
                for packet in queue.drain() {
                    counters.drop(DropReason::RingFull);
                    pool.free(packet);
                }
            }
        }
    }
    for (_, port) in &mut ports {
        port.flush()?;
    }
    shared.published[index].publish(&counters);
    Ok(counters)
}

/// Sends the transmit queues: on this worker's own ports directly, the others through
/// their owner's ring.
fn transmit(
    shared: &Shared,
    index: usize,
    ports: &mut [(u16, Box<dyn Port>)],
    tx: &mut TxQueues,
    pool: &mut Pool,
    counters: &mut Counters,
) -> io::Result<()> {
    for (port_id, queue) in tx.pending() {
        let owner = shared.port_owner[port_id];
        if owner == index {
            if let Some((_, port)) = ports.iter_mut().find(|(id, _)| usize::from(*id) == port_id) {
                shared.capture.sending(port_id as u16, queue, pool);
                port.tx_burst(queue, pool, counters)?;
            }
        } else {
            for packet in queue.drain() {
                let work = Work::Transmit {
                    port: port_id as u16,
                    packet,
                };
                hand_over(shared, owner, work, pool, counters);
            }
        }
    }
    Ok(())
}

/// Pushes work onto another worker's ring; a full ring drops the packet, counted.
fn hand_over(shared: &Shared, target: usize, work: Work, pool: &mut Pool, counters: &mut Counters) {
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    if let Err(work) = shared.rings[target].push(work) {
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        counters.drop(DropReason::RingFull);
        let (Work::Process(packet) | Work::Transmit { packet, .. }) = work;
        pool.free(packet);
    }
}

/// Pins the calling thread to one core.
fn pin_to_core(core: usize) -> io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::other(format!(
            "core {core} is beyond the CPU set size"
        )));
    }
    // SAFETY: cpu_set_t is plain data and all-zero is the empty set; CPU_SET writes
    // inside it because core < CPU_SETSIZE; sched_setaffinity(0, ..) reads the set
    // for the calling thread only.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
