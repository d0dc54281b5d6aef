//! One worker's poll loop: each of its receive queues in turn, a burst at most from
//! each per round (so no queue starves another), every burst run to completion through
//! the pipeline and transmitted before the next queue is polled.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use packet::{Burst, Pool, MAX_BURST};

use super::idle::Backoff;
use super::tsc;
use super::{dispatch, PortTx, Shared};
use pipeline::counters::{Counters, DropReason};
use pipeline::{Pipeline, TxQueues};
use port::RxQueue;

/// Idle polls between two publications of an idle worker's counters.
const IDLE_PUBLISH_INTERVAL: u32 = 1024;

pub(super) fn run(
    index: usize,
    shared: &Arc<Shared>,
    mut queues: Vec<Box<dyn RxQueue>>,
    port_tx: Vec<PortTx>,
) -> io::Result<Counters> {
    let config = &shared.config;
    if !config.cores.is_empty() {
        pin_to_core(config.cores[index % config.cores.len()])?;
    }
    let mut worker = Worker::new(index, shared, port_tx);
    let since_start = || (shared.started.elapsed().as_nanos() as u64).max(1);
    shared.ready_ns[index].store(since_start(), Ordering::Release);
    let mut rx = Burst::with_capacity(MAX_BURST);
    let mut keep = Burst::with_capacity(MAX_BURST);
    let mut spare = Burst::with_capacity(MAX_BURST);
    let mut backoff = Backoff::new(config.busy_poll);
    let mut idle_polls = 0u32;
    loop {
        let started = tsc::now();
        worker.follow_snapshot();
        let mut work = 0;
        if !worker.receiving_done {
            let stopping = shared.stop.load(Ordering::Acquire);
            let inputs_finished = config.lossless && queues.iter().all(|q| q.finished());
            if stopping || inputs_finished {
                worker.stop_receiving();
            } else {
                for queue in &mut queues {
                    work += worker.receive(queue.as_mut(), &mut rx, [&mut keep, &mut spare])?;
                }
            }
        }
        work += worker.serve_handoff(&mut rx)?;
        worker.serve_requests();
        worker.periodic()?;
        if work > 0 {
            worker.counters.busy_cycles += tsc::now().wrapping_sub(started);
            worker.publish();
            idle_polls = 0;
            backoff.reset();
            continue;
        }
        worker.housekeep()?;
        worker.counters.idle_cycles += tsc::now().wrapping_sub(started);
        // Published on the first idle poll (what a poll counted without delivering
        // shows at once), then now and then for the idle cycles.
        if idle_polls.is_multiple_of(IDLE_PUBLISH_INTERVAL) {
            worker.publish();
        }
        idle_polls = idle_polls.wrapping_add(1);
        if worker.receiving_done && shared.all_done() && shared.handoff[index].is_empty() {
            break;
        }
        backoff.idle();
    }
    let counters = worker.finish();
    shared.ended_ns[index].store(since_start(), Ordering::Release);
    counters
}

/// A worker's own state: nothing here is shared.
struct Worker<'a> {
    index: usize,
    shared: &'a Shared,
    pool: Pool,
    pipeline: Pipeline,
    generation: u64,
    counters: Counters,
    /// What the pipeline queued for each port in the current burst.
    tx: TxQueues,
    /// How this worker transmits on each port.
    port_tx: Vec<PortTx>,
    /// The latest packet time this worker saw (its stages' clock).
    packet_time: u64,
    /// Set once this worker takes nothing more from its receive queues.
    receiving_done: bool,
}

impl<'a> Worker<'a> {
    fn new(index: usize, shared: &'a Shared, port_tx: Vec<PortTx>) -> Self {
        let snapshot = shared.snapshot.load();
        let workers = shared.config.workers as u16;
        let port_count = shared.ports.len();
        Worker {
            index,
            shared,
            pool: Pool::attach(&shared.buffers),
            pipeline: Pipeline::for_worker(Arc::clone(&snapshot.tables), index as u16, workers)
                .sharing_learned(Arc::clone(&shared.learned)),
            generation: snapshot.generation,
            counters: Counters::new(port_count),
            tx: TxQueues::new(port_count),
            port_tx,
            packet_time: 0,
            receiving_done: false,
        }
    }

    /// Picks up newer tables, between bursts.
    fn follow_snapshot(&mut self) {
        if self.shared.snapshot.generation() != self.generation {
            let snapshot = self.shared.snapshot.load();
            self.generation = snapshot.generation;
            self.pipeline.set_tables(Arc::clone(&snapshot.tables));
            self.shared.generations[self.index].store(self.generation, Ordering::Release);
        }
    }

    /// One burst from `queue`, run to completion. Returns how many frames came in.
    /// `scratch`: two empty bursts to sort the frames with.
    fn receive(
        &mut self,
        queue: &mut dyn RxQueue,
        burst: &mut Burst,
        scratch: [&mut Burst; 2],
    ) -> io::Result<usize> {
        let received = queue.rx_burst(&mut self.pool, burst, self.shared.config.burst)?;
        if received == 0 {
            return Ok(0);
        }
        let mut unstamped = false;
        for packet in burst.iter() {
            self.counters.rx(usize::from(packet.rx_port));
            unstamped |= packet.timestamp_ns == 0;
        }
        // Frames from ports without timestamps get the runtime's clock: the stages'
        // timers (conntrack, resolution) run on packet time.
        if unstamped {
            let now = self.shared.started.elapsed().as_nanos() as u64;
            for packet in burst.iter_mut().filter(|p| p.timestamp_ns == 0) {
                packet.timestamp_ns = now;
            }
        }
        self.shared.capture.received(burst, &mut self.pool);
        if self.shared.config.workers > 1 {
            self.hand_over_replies(burst, scratch)?;
        }
        self.process(burst)?;
        Ok(received)
    }

    /// Moves the SNAT replies that another worker's connections own onto that
    /// worker's ring; the rest stay in `burst`. `keep` and `waiting` are empty bursts.
    fn hand_over_replies(
        &mut self,
        burst: &mut Burst,
        [keep, waiting]: [&mut Burst; 2],
    ) -> io::Result<()> {
        let tables = self.pipeline.tables();
        if !burst.iter().any(|p| tables.is_uplink(p.rx_port)) {
            return Ok(());
        }
        let workers = self.shared.config.workers;
        for mut packet in burst.drain() {
            let owner = dispatch::reply_owner(self.pipeline.tables(), &mut packet, workers);
            let Some(owner) = owner.filter(|&owner| owner != self.index) else {
                // Cannot be refused: `keep` is as large as `burst`.
                let _ = keep.push(packet);
                continue;
            };
            let mut packet = packet;
            loop {
                match self.shared.handoff[owner].push(packet) {
                    Ok(()) => break,
                    Err(back) if self.shared.config.lossless => {
                        packet = back;
                        // The owner may be waiting on this worker's ring in turn.
                        self.serve_handoff(waiting)?;
                        std::thread::yield_now();
                    }
                    Err(back) => {
                        self.counters.drop(DropReason::RingFull);
                        self.pool.free(back);
                        break;
                    }
                }
            }
        }
        std::mem::swap(burst, keep);
        Ok(())
    }

    /// Processes a burst of the SNAT replies other workers handed over.
    fn serve_handoff(&mut self, burst: &mut Burst) -> io::Result<usize> {
        let ring = &self.shared.handoff[self.index];
        let mut taken = 0;
        while taken < self.shared.config.burst {
            let Some(packet) = ring.pop() else { break };
            if let Err(packet) = burst.push(packet) {
                self.counters.drop(DropReason::RingFull);
                self.pool.free(packet);
            }
            taken += 1;
        }
        if !burst.is_empty() {
            self.process(burst)?;
        }
        Ok(taken)
    }

    fn process(&mut self, burst: &mut Burst) -> io::Result<()> {
        if let Some(latest) = burst.iter().map(|p| p.timestamp_ns).max() {
            self.packet_time = self.packet_time.max(latest);
        }
        self.pipeline
            .process(burst, &mut self.pool, &mut self.tx, &mut self.counters);
        self.transmit()
    }

    /// Sends what the pipeline queued, on this worker's transmit queue of each port
    /// or the port's shared one. What a queue has no room for is dropped and counted,
    /// or, in a lossless run, waits until it fits.
    fn transmit(&mut self) -> io::Result<()> {
        let Worker {
            shared,
            pool,
            tx,
            port_tx,
            counters,
            ..
        } = self;
        let lossless = shared.config.lossless;
        for (port, queue) in tx.pending() {
            shared.capture.sending(port as u16, queue, pool);
            let mut sent = 0;
            loop {
                sent += match (&mut port_tx[port], &shared.shared_tx[port]) {
                    (PortTx::Own(own), _) => own.tx_burst(queue, pool)?,
                    (PortTx::Shared, Some(common)) => common.send(queue, pool)?,
                    (PortTx::Shared, None) => 0,
                };
                if queue.is_empty() || !lossless {
                    break;
                }
                std::thread::yield_now();
            }
            counters.tx(port, sent as u64);
            for packet in queue.drain() {
                counters.drop(DropReason::TxQueueFull);
                pool.free(packet);
            }
        }
        Ok(())
    }

    /// Work due without packets: frames held for a MAC that another worker has
    /// learned since leave now; a shared transmit queue left waiting is drained.
    fn housekeep(&mut self) -> io::Result<()> {
        self.pipeline
            .housekeep(&mut self.pool, &mut self.tx, &mut self.counters);
        self.transmit()?;
        for queue in self.shared.shared_tx.iter().flatten() {
            if queue.pending() > 0 {
                queue.drain(&mut self.pool)?;
            }
        }
        Ok(())
    }

    /// The local services' periodic work (router advertisements to the VMs) on the
    /// runtime's clock, by the first worker of a daemon on live ports. A lossless run
    /// (replay, benchmarks) sends only what its inputs cause, so its output stays a
    /// function of them.
    fn periodic(&mut self) -> io::Result<()> {
        if self.index != 0 || self.shared.config.lossless {
            return Ok(());
        }
        let now = self.shared.started.elapsed().as_nanos() as u64;
        if self
            .pipeline
            .advertise(now, &mut self.pool, &mut self.tx, &mut self.counters)
        {
            self.transmit()?;
        }
        Ok(())
    }

    /// Answers the control plane's requests (connection listing, flush) between bursts.
    fn serve_requests(&mut self) {
        let dump = &self.shared.conn_dumps[self.index];
        dump.serve(
            self.index as u16,
            self.packet_time,
            self.pipeline.connections(),
        );
        let pipeline = &mut self.pipeline;
        dump.serve_flush(|pick| pipeline.flush_connections(pick));
    }

    fn stop_receiving(&mut self) {
        self.receiving_done = true;
        self.shared.done[self.index].store(true, Ordering::Release);
    }

    fn publish(&self) {
        self.shared.published[self.index].publish(&self.counters);
    }

    /// Drops what still waits for a resolution (counted), flushes this worker's own
    /// transmit queues and publishes the final counters.
    fn finish(mut self) -> io::Result<Counters> {
        self.pipeline
            .finish(&mut self.pool, &mut self.tx, &mut self.counters);
        self.transmit()?;
        for port_tx in &mut self.port_tx {
            if let PortTx::Own(queue) = port_tx {
                queue.flush()?;
            }
        }
        self.publish();
        Ok(self.counters)
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
