//! The port against a guest the test drives: frames both ways through guest memory,
//! interrupts only when asked, memory replaced under a running queue, and hostile
//! rings that stop their own queue (counted, with a reason) and nothing else.

mod guest;

use std::path::Path;

use guest::*;
use packet::{Burst, Pool, PoolConfig};
use port::PortQueues;
use port_vhost_user::{Mode, VhostUserConfig, VhostUserPort};
use vhost::VhostBackend;

fn open(dir: &Path, name: &str, id: u16) -> (PortQueues, std::path::PathBuf) {
    let socket = dir.join(format!("{name}.sock"));
    let config = VhostUserConfig {
        socket: socket.clone(),
        mode: Mode::Server,
        queue_pairs: 1,
        mtu: 1500,
    };
    (VhostUserPort::open(id, name, &config).unwrap(), socket)
}

fn pool() -> Pool {
    Pool::new(PoolConfig {
        buffers: 512,
        data_room: 4096,
        ..PoolConfig::default()
    })
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

/// Frames the port's receive queue 0 delivers in one burst.
fn receive(port: &mut PortQueues, pool: &mut Pool) -> Vec<Vec<u8>> {
    let mut burst = Burst::with_capacity(32);
    port.rx[0].rx_burst(pool, &mut burst, 32).unwrap();
    burst
        .drain()
        .map(|packet| {
            let bytes = packet.data().to_vec();
            pool.free(packet);
            bytes
        })
        .collect()
}

/// Offers `frames` to the port's transmit queue 0; returns how many it took and
/// frees the rest.
fn transmit(port: &mut PortQueues, pool: &mut Pool, frames: &[Vec<u8>]) -> usize {
    let mut burst = Burst::with_capacity(32);
    for bytes in frames {
        burst.push(pool.alloc_copy(bytes).unwrap()).unwrap();
    }
    let sent = port.tx[0].tx_burst(&mut burst, pool).unwrap();
    for packet in burst.drain() {
        pool.free(packet);
    }
    sent
}

#[test]
fn frames_cross_both_ways_through_guest_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut port, socket) = open(dir.path(), "vm", 3);
    let mut pool = pool();
    let mut guest = Guest::connect(&socket, VERSION_1 | MRG_RXBUF);
    assert!(port.info.link().up);

    // Guest to port: the header and the frame in two descriptors of one chain.
    let first = frame(60, 1);
    guest.write(BUFFERS, &[0u8; 12]);
    guest.write(BUFFERS + 0x100, &first);
    guest.write_desc(1, 0, BUFFERS, 12, F_NEXT, 1);
    guest.write_desc(1, 1, BUFFERS + 0x100, first.len() as u32, 0, 0);
    guest.offer(1, 0);
    let second = frame(1500, 2);
    guest.send(2, BUFFERS + 0x1000, &second);
    let mut pool_frames = receive(&mut port, &mut pool);
    assert_eq!(pool_frames.len(), 2);
    assert_eq!(pool_frames.remove(0), first);
    assert_eq!(pool_frames.remove(0), second);
    assert_eq!(guest.used(1), (2, vec![(0, 0), (2, 0)]));

    // Port to guest: one buffer, the header says one buffer.
    guest.write_desc(0, 0, BUFFERS + 0x8000, 2048, F_WRITE, 0);
    guest.offer(0, 0);
    let small = frame(100, 3);
    assert_eq!(
        transmit(&mut port, &mut pool, std::slice::from_ref(&small)),
        1
    );
    assert_eq!(guest.used(0), (1, vec![(0, 112)]));
    let written = guest.read(BUFFERS + 0x8000, 112);
    assert_eq!(&written[10..12], &1u16.to_le_bytes(), "num_buffers");
    assert_eq!(&written[12..], &small[..]);

    // MRG_RXBUF: a frame larger than one buffer spreads over three.
    for (desc, at) in [(1u16, 0x9000u64), (2, 0xa000), (3, 0xb000)] {
        guest.write_desc(0, desc, BUFFERS + at, 1100, F_WRITE, 0);
        guest.offer(0, desc);
    }
    let large = frame(3000, 4);
    assert_eq!(
        transmit(&mut port, &mut pool, std::slice::from_ref(&large)),
        1
    );
    let (idx, used) = guest.used(0);
    assert_eq!(idx, 4);
    assert_eq!(&used[1..], &[(1, 1100), (2, 1100), (3, 812)]);
    let mut bytes = guest.read(BUFFERS + 0x9000, 1100);
    assert_eq!(&bytes[10..12], &3u16.to_le_bytes(), "num_buffers");
    bytes.extend(guest.read(BUFFERS + 0xa000, 1100));
    bytes.extend(guest.read(BUFFERS + 0xb000, 812));
    assert_eq!(&bytes[12..], &large[..]);

    let stats = port.info.stats();
    assert_eq!((stats.rx().packets, stats.tx().packets), (2, 2));
    assert_eq!(stats.rx().bytes, 1560);
    assert!(port.info.faults().is_empty());
}

#[test]
fn interrupts_only_when_the_guest_asks_once_per_burst() {
    let dir = tempfile::tempdir().unwrap();
    let (mut port, socket) = open(dir.path(), "vm", 0);
    let mut pool = pool();
    let mut guest = Guest::connect(&socket, VERSION_1 | EVENT_IDX);
    for desc in 0..8u16 {
        guest.write_desc(0, desc, BUFFERS + u64::from(desc) * 0x800, 2048, F_WRITE, 0);
        guest.offer(0, desc);
    }
    let frames = |n: usize| vec![frame(64, 9); n];

    // Used event 0: interrupt when the used index passes 0.
    guest.set_used_event(0, 0);
    assert_eq!(transmit(&mut port, &mut pool, &frames(1)), 1);
    assert!(guest.interrupted(0));
    // Used event 5: the index goes to 2, no interrupt.
    guest.set_used_event(0, 5);
    assert_eq!(transmit(&mut port, &mut pool, &frames(1)), 1);
    assert!(!guest.interrupted(0));
    // A burst of four passing the event: one interrupt for the burst.
    assert_eq!(transmit(&mut port, &mut pool, &frames(4)), 4);
    assert_eq!(guest.calls[0].read().unwrap(), 1);

    // The transmit side: three frames, one interrupt.
    guest.set_used_event(1, 0);
    for desc in 0..3u16 {
        guest.send(
            desc,
            BUFFERS + 0x10000 + u64::from(desc) * 0x800,
            &frame(64, 5),
        );
    }
    assert_eq!(receive(&mut port, &mut pool).len(), 3);
    assert_eq!(guest.calls[1].read().unwrap(), 1);
}

#[test]
fn without_event_idx_the_no_interrupt_flag_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let (mut port, socket) = open(dir.path(), "vm", 0);
    let mut pool = pool();
    let mut guest = Guest::connect(&socket, VERSION_1);
    for desc in 0..4u16 {
        guest.write_desc(0, desc, BUFFERS + u64::from(desc) * 0x800, 2048, F_WRITE, 0);
        guest.offer(0, desc);
    }
    guest.set_avail_flags(0, 1);
    assert_eq!(transmit(&mut port, &mut pool, &[frame(64, 1)]), 1);
    assert!(!guest.interrupted(0));
    guest.set_avail_flags(0, 0);
    assert_eq!(
        transmit(&mut port, &mut pool, &[frame(64, 1), frame(64, 2)]),
        2
    );
    assert_eq!(guest.calls[0].read().unwrap(), 1);
}

#[test]
fn memory_table_replaced_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let (mut port, socket) = open(dir.path(), "vm", 0);
    let mut pool = pool();
    let mut guest = Guest::connect(&socket, VERSION_1);
    let first = frame(80, 1);
    guest.send(0, BUFFERS, &first);
    assert_eq!(receive(&mut port, &mut pool), vec![first]);

    // The guest's memory moves to another file; the old one is overwritten, so a
    // port still using the old mapping would read garbage.
    guest.move_memory();
    let second = frame(90, 2);
    guest.send(1, BUFFERS + 0x800, &second);
    assert_eq!(receive(&mut port, &mut pool), vec![second]);
    assert_eq!(guest.used(1), (2, vec![(0, 0), (1, 0)]));
    // Stopping the ring hands its position back.
    assert_eq!(guest.frontend.get_vring_base(1).unwrap(), 2);
}

#[test]
fn a_guest_that_stops_consuming_costs_nothing_but_missed_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (mut port, socket) = open(dir.path(), "vm", 0);
    let mut pool = pool();
    let mut guest = Guest::connect(&socket, VERSION_1 | MRG_RXBUF);
    let frames = vec![frame(64, 1); 4];
    for _ in 0..100 {
        assert_eq!(transmit(&mut port, &mut pool, &frames), 0);
    }
    assert_eq!(port.info.stats().tx().missed, 400);
    assert_eq!(port.info.stats().tx().errors, 0);
    // The guest comes back with one buffer: one frame goes.
    guest.write_desc(0, 0, BUFFERS, 2048, F_WRITE, 0);
    guest.offer(0, 0);
    assert_eq!(transmit(&mut port, &mut pool, &frames), 1);
    assert_eq!(port.info.stats().tx().packets, 1);
    assert_eq!(pool.available(), 512, "no buffer is lost");
}

/// A hostile ring: its name, what the guest does, and the reason the port gives.
type HostileCase = (&'static str, Box<dyn Fn(&mut Guest)>, &'static str);

fn hostile_cases() -> Vec<HostileCase> {
    vec![
        (
            "buffer outside guest memory",
            Box::new(|g: &mut Guest| {
                g.write_desc(1, 0, MEM_SIZE + 0x1000, 100, 0, 0);
                g.offer(1, 0);
            }),
            "buffer outside guest memory",
        ),
        (
            "buffer straddling the end of guest memory",
            Box::new(|g: &mut Guest| {
                g.write_desc(1, 0, MEM_SIZE - 16, 100, 0, 0);
                g.offer(1, 0);
            }),
            "buffer outside guest memory",
        ),
        (
            "chain that loops",
            Box::new(|g: &mut Guest| {
                g.write_desc(1, 0, BUFFERS, 12, F_NEXT, 1);
                g.write_desc(1, 1, BUFFERS + 64, 60, F_NEXT, 0);
                g.offer(1, 0);
            }),
            "descriptor chain loops",
        ),
        (
            "head past the table",
            Box::new(|g: &mut Guest| g.offer(1, 500)),
            "descriptor chain loops",
        ),
        (
            "available index far ahead",
            Box::new(|g: &mut Guest| g.set_avail_idx(1, QSIZE + 7)),
            "available index out of range",
        ),
        (
            "writable buffer to transmit",
            Box::new(|g: &mut Guest| {
                g.write_desc(1, 0, BUFFERS, 100, F_WRITE, 0);
                g.offer(1, 0);
            }),
            "buffer of the wrong direction",
        ),
        (
            "oversized chain (indirect table of 2000)",
            Box::new(|g: &mut Guest| {
                let table = BUFFERS + 0x20000;
                for i in 0..2000u64 {
                    let flags = if i < 1999 { F_NEXT } else { 0 };
                    g.write_desc_at(table + i * 16, BUFFERS, 1, flags, (i + 1) as u16);
                }
                g.write_desc(1, 0, table, 2000 * 16, F_INDIRECT, 0);
                g.offer(1, 0);
            }),
            "descriptor chain loops",
        ),
        (
            "indirect table outside guest memory",
            Box::new(|g: &mut Guest| {
                g.write_desc(1, 0, MEM_SIZE * 4, 64, F_INDIRECT, 0);
                g.offer(1, 0);
            }),
            "descriptor chain loops",
        ),
        (
            "ring outside guest memory",
            Box::new(|g: &mut Guest| {
                let (_, avail, used) = layout(1);
                g.setup_vring(
                    1,
                    USER_BASE + MEM_SIZE * 2,
                    USER_BASE + avail,
                    USER_BASE + used,
                );
            }),
            "ring outside guest memory",
        ),
    ]
}

#[test]
fn hostile_guests_break_their_own_queue_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut pool = pool();
    let (mut good, good_socket) = open(dir.path(), "good", 0);
    let mut good_guest = Guest::connect(&good_socket, VERSION_1 | INDIRECT_DESC);
    for (round, (case, act, reason)) in hostile_cases().into_iter().enumerate() {
        let (mut port, socket) = open(dir.path(), &format!("bad{round}"), 1);
        let mut guest = Guest::connect(&socket, VERSION_1 | INDIRECT_DESC);
        // A good chain with the bad one (behind it, or under a bad index): it must
        // not be read either.
        if case.starts_with("available index") {
            guest.send(5, BUFFERS + 0x4000, &frame(64, 1));
            act(&mut guest);
        } else {
            act(&mut guest);
            guest.send(5, BUFFERS + 0x4000, &frame(64, 1));
        }
        for _ in 0..3 {
            assert!(receive(&mut port, &mut pool).is_empty(), "{case}");
        }
        let stats = port.info.stats().rx();
        assert_eq!(
            stats.errors, 1,
            "{case}: counted once, then the queue is stopped"
        );
        assert_eq!(stats.packets, 0, "{case}");
        let faults = port.info.faults().join("; ");
        assert!(faults.contains(reason), "{case}: {faults}");
        assert!(faults.contains("stopped"), "{case}: {faults}");
        assert!(
            !port.info.link().up,
            "{case}: a stopped queue takes the link down"
        );
        assert_eq!(guest.used(1).0, 0, "{case}: nothing returned to the guest");
        // The other port goes on.
        let ok = frame(64, round as u8);
        good_guest.send(round as u16, BUFFERS + round as u64 * 0x800, &ok);
        assert_eq!(receive(&mut good, &mut pool), vec![ok], "{case}");
    }
    assert_eq!(pool.available(), 512, "no buffer is lost");
}

#[test]
fn a_broken_queue_works_again_after_the_guest_sets_it_up_anew() {
    let dir = tempfile::tempdir().unwrap();
    let (mut port, socket) = open(dir.path(), "vm", 0);
    let mut pool = pool();
    let mut guest = Guest::connect(&socket, VERSION_1);
    guest.offer(1, 500);
    assert!(receive(&mut port, &mut pool).is_empty());
    assert_eq!(port.info.stats().rx().errors, 1);
    drop(guest);
    // A new session (a rebooted guest) gets a working queue.
    let mut guest = Guest::connect(&socket, VERSION_1);
    let ok = frame(70, 3);
    guest.send(0, BUFFERS, &ok);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut got = Vec::new();
    while got.is_empty() && std::time::Instant::now() < deadline {
        got = receive(&mut port, &mut pool);
    }
    assert_eq!(got, vec![ok]);
}
