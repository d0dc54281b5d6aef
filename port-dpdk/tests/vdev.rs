//! DPDK ports over virtual devices, in one process (the EAL starts once per process,
//! so every case runs in this one test, in order): frames read by net_pcap come out
//! of net_pcap byte for byte, through the zero-copy path and the copy path; mbufs
//! freed into a dataplane pool go back to their mempool; bad devices are refused.

#![cfg(feature = "dpdk")]

use std::path::Path;
use std::time::{Duration, Instant};

use packet::{Burst, Packet, Pool, PoolConfig};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use port::PortQueues;
use port_dpdk::{eal, DpdkPort, DpdkPortConfig, EalConfig};

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut writer = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        let packet = PcapPacket::new(Duration::from_micros(i as u64), frame.len() as u32, frame);
        writer.write_packet(&packet).unwrap();
    }
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet.unwrap().data.into_owned());
    }
    frames
}

/// A frame of `len` bytes whose content names it.
fn frame(index: usize, len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len).map(|b| (b * 7 + index) as u8).collect();
    frame[..4].copy_from_slice(&(index as u32).to_be_bytes());
    frame
}

fn config(devargs: String) -> DpdkPortConfig {
    DpdkPortConfig {
        devargs,
        rx_queues: 1,
        tx_queues: 1,
        rx_descriptors: 256,
        tx_descriptors: 256,
        mbufs: 1023,
        mbuf_cache: 32,
        mtu: 1500,
    }
}

/// Receives until `want` frames came or ten seconds passed.
fn receive_all(
    port: &mut PortQueues,
    pool: &mut Pool,
    want: usize,
    mut each: impl FnMut(Packet, &mut Pool),
) -> usize {
    let mut burst = Burst::with_capacity(32);
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got < want && Instant::now() < deadline {
        got += port.rx[0].rx_burst(pool, &mut burst, 32).unwrap();
        for packet in burst.drain() {
            each(packet, pool);
        }
    }
    got
}

fn device_counter(port: &PortQueues, name: &str) -> u64 {
    let stats = port.info.extended_stats();
    stats
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
        .1
}

#[test]
fn dpdk_vdev_ports() {
    let dir = tempfile::tempdir().unwrap();
    eal::init(&EalConfig {
        lcores: "0".into(),
        memory_mb: Some(256),
        no_huge: true,
        args: vec!["--log-level=lib.eal:warning".into()],
        ..EalConfig::default()
    })
    .expect("the EAL starts without hugepages");

    frames_come_out_as_they_went_in(dir.path());
    mbufs_freed_into_a_pool_go_back_to_their_mempool(dir.path());
    mbufs_sent_on_another_port_go_back_to_their_mempool(dir.path());
    bad_devices_are_refused();
}

/// net_pcap in, the frames moved in their mbufs (grown in the headroom and shrunk
/// back as an encapsulation would), net_pcap out; plus frames of our own pool copied
/// into mbufs.
fn frames_come_out_as_they_went_in(dir: &Path) {
    let frames: Vec<Vec<u8>> = (0..300).map(|i| frame(i, 60 + (i * 13) % 1400)).collect();
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    write_pcap(&input, &frames);
    let devargs = format!(
        "net_pcap_zc0,rx_pcap={},tx_pcap={}",
        input.display(),
        output.display()
    );
    let mut port = DpdkPort::open(0, "p0", &config(devargs)).expect("net_pcap opens");
    assert_eq!(port.info.name(), "p0");
    assert!(port.info.link().up);
    let mut pool = Pool::new(PoolConfig::default());
    let mut received = Vec::new();
    let got = receive_all(&mut port, &mut pool, frames.len(), |mut packet, _| {
        assert_eq!(packet.rx_port, 0);
        assert!(
            packet.headroom() >= 128,
            "the mbuf's headroom is the packet's"
        );
        packet.push_front(50).unwrap().fill(0xee);
        assert!(packet.pull_front(50));
        received.push(packet);
    });
    assert_eq!(got, frames.len());
    for (packet, frame) in received.iter().zip(&frames) {
        assert_eq!(packet.data(), &frame[..]);
    }
    // Frames of our own pool go out too, copied into mbufs.
    let extra: Vec<Vec<u8>> = (1000..1010).map(|i| frame(i, 100)).collect();
    let copies: Vec<Packet> = extra.iter().map(|f| pool.alloc_copy(f).unwrap()).collect();
    let mut outgoing = received.into_iter().chain(copies);
    let mut burst = Burst::with_capacity(256);
    let mut sent = 0;
    loop {
        while !burst.is_full() {
            match outgoing.next() {
                Some(packet) => burst.push(packet).unwrap(),
                None => break,
            }
        }
        if burst.is_empty() {
            break;
        }
        sent += port.tx[0].tx_burst(&mut burst, &mut pool).unwrap();
    }
    assert_eq!(sent, frames.len() + extra.len());
    assert_eq!(port.info.stats().tx().packets as usize, sent);
    assert_eq!(port.info.stats().rx().packets as usize, frames.len());
    assert_eq!(
        device_counter(&port, "rx_good_packets") as usize,
        frames.len()
    );
    assert_eq!(device_counter(&port, "tx_good_packets") as usize, sent);
    assert_eq!(
        pool.available(),
        PoolConfig::default().buffers,
        "copies freed"
    );
    drop(port); // stops the device: the capture is complete
    let written = read_pcap(&output);
    let expected: Vec<Vec<u8>> = frames.into_iter().chain(extra).collect();
    assert_eq!(written.len(), expected.len());
    for (index, (got, want)) in written.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "frame {index}");
    }
}

/// 4,000 frames through a port whose pool has 1,023 mbufs: only mbufs that go back
/// to the mempool when the pipeline frees them let the device go on receiving.
fn mbufs_freed_into_a_pool_go_back_to_their_mempool(dir: &Path) {
    let frames: Vec<Vec<u8>> = (0..4000).map(|i| frame(i, 64)).collect();
    let input = dir.join("many.pcap");
    write_pcap(&input, &frames);
    let devargs = format!("net_pcap_free0,rx_pcap={}", input.display());
    let mut port = DpdkPort::open(1, "p1", &config(devargs)).expect("net_pcap opens");
    let mut pool = Pool::new(PoolConfig::default());
    let mut count = 0;
    let got = receive_all(&mut port, &mut pool, frames.len(), |packet, pool| {
        // Alternately freed into the pool and dropped: both give the mbuf back.
        count += 1;
        if count % 2 == 0 {
            pool.free(packet);
        } else {
            drop(packet);
        }
    });
    assert_eq!(got, frames.len());
    assert_eq!(device_counter(&port, "rx_mbuf_allocation_errors"), 0);
    assert_eq!(
        pool.available(),
        PoolConfig::default().buffers,
        "no mbuf entered our pool"
    );
}

/// Frames received in mbufs and sent on a memory port (as on a pcap or kernel port):
/// the other end gets the frames, and dropping them gives the mbufs back, or the
/// device would run dry long before 4,000 frames with 1,023 mbufs.
fn mbufs_sent_on_another_port_go_back_to_their_mempool(dir: &Path) {
    let frames: Vec<Vec<u8>> = (0..4000).map(|i| frame(i, 80)).collect();
    let input = dir.join("to-memory.pcap");
    write_pcap(&input, &frames);
    let devargs = format!("net_pcap_mem0,rx_pcap={}", input.display());
    let mut port = DpdkPort::open(3, "p3", &config(devargs)).expect("net_pcap opens");
    let (mut memory, peer) = port::memory::MemoryPort::open(4, "memory", 64);
    let mut pool = Pool::new(PoolConfig::default());
    let mut burst = Burst::with_capacity(32);
    let mut delivered = 0;
    let got = receive_all(&mut port, &mut pool, frames.len(), |packet, pool| {
        burst.push(packet).unwrap();
        while !burst.is_empty() {
            memory.tx[0].tx_burst(&mut burst, pool).unwrap();
            while let Some(sent) = peer.take() {
                assert_eq!(sent.data(), &frames[delivered][..]);
                delivered += 1;
                drop(sent);
            }
        }
    });
    assert_eq!(got, frames.len());
    assert_eq!(delivered, frames.len());
    assert_eq!(device_counter(&port, "rx_mbuf_allocation_errors"), 0);
}

fn bad_devices_are_refused() {
    let refused = |config: DpdkPortConfig| match DpdkPort::open(2, "p2", &config) {
        Ok(_) => panic!("{} opened", config.devargs),
        Err(error) => error.to_string(),
    };
    let message = refused(config("net_nosuchdriver0,x=1".into()));
    assert!(
        message.starts_with("devargs: ") && message.contains("net_nosuchdriver0,x=1"),
        "{message}"
    );
    let message = refused(config("0000:99:1f.7".into()));
    assert!(message.contains("no DPDK device 0000:99:1f.7"), "{message}");
    let message = refused(config("net_pcap_bad0,rx_pcap=/nonexistent/in.pcap".into()));
    assert!(message.contains("cannot create device"), "{message}");
    let mut too_many = config("net_null_q0".into());
    too_many.rx_queues = 2000;
    let message = refused(too_many);
    assert!(message.contains("rx_queues: 2000"), "{message}");
}
