//! Replay reads what Wireshark reads: captures cut by a snap length, Linux cooked
//! captures (SLL, SLL2) and raw IP. The captures are built here byte by byte from the
//! scenarios' scapy-made inputs; the dataplane writes none of them.

mod support;

use std::path::{Path, PathBuf};

use support::{dataplane, fixtures_dir, read_pcap};

const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_IEEE802_11: u32 = 105;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// A classic little-endian microsecond pcap: (captured bytes, length on the wire).
fn write_pcap(path: &Path, link_type: u32, snap_len: u32, records: &[(Vec<u8>, u32)]) {
    let mut file = Vec::new();
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&snap_len.to_le_bytes());
    file.extend_from_slice(&link_type.to_le_bytes());
    for (i, (data, wire_len)) in records.iter().enumerate() {
        file.extend_from_slice(&1u32.to_le_bytes());
        file.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        file.extend_from_slice(&(data.len() as u32).to_le_bytes());
        file.extend_from_slice(&wire_len.to_le_bytes());
        file.extend_from_slice(data);
    }
    std::fs::write(path, file).unwrap();
}

fn whole(frames: Vec<Vec<u8>>) -> Vec<(Vec<u8>, u32)> {
    frames
        .into_iter()
        .map(|f| {
            let len = f.len() as u32;
            (f, len)
        })
        .collect()
}

struct Replayed {
    report: serde_json::Value,
    out: tempfile::TempDir,
}

impl Replayed {
    fn frames(&self, port: &str) -> Vec<Vec<u8>> {
        let path = self.out.path().join(format!("{port}.pcap"));
        if !path.exists() {
            return Vec::new();
        }
        read_pcap(&path).into_iter().map(|(_, f)| f).collect()
    }
}

fn replay(scenario: &str, port: &str, capture: &Path) -> Replayed {
    let out = tempfile::tempdir().unwrap();
    let output = dataplane()
        .arg("replay")
        .arg("--json")
        .arg("--config")
        .arg(fixtures_dir().join(scenario).join("topology.toml"))
        .arg("--in")
        .arg(format!("{port}={}", capture.display()))
        .arg("--out-dir")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Replayed {
        report: serde_json::from_slice(&output.stdout).unwrap(),
        out,
    }
}

/// The broadcast ARP requests vm1 sends in the arp-local scenario (scapy-made).
fn broadcast_arp() -> Vec<Vec<u8>> {
    let frames: Vec<Vec<u8>> = read_pcap(&fixtures_dir().join("arp-local/in/vm1.pcap"))
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f[..6] == [0xff; 6] && f[12..14] == [0x08, 0x06])
        .collect();
    assert!(frames.len() >= 4, "the scenario has broadcast ARP");
    frames
}

fn capture(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The same frames as Ethernet, for comparison.
fn replay_as_ethernet(dir: &Path, frames: &[Vec<u8>]) -> Replayed {
    let path = capture(dir, "ethernet.pcap");
    write_pcap(&path, LINKTYPE_ETHERNET, 65535, &whole(frames.to_vec()));
    replay("arp-local", "vm1", &path)
}

fn assert_answers_arp(replayed: &Replayed) {
    let replies = replayed
        .frames("vm1")
        .into_iter()
        .filter(|f| f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2])
        .count();
    assert!(replies > 0, "vm1 gets ARP replies");
}

#[test]
fn linux_cooked_v1_replays_as_the_ethernet_frames_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let frames = broadcast_arp();
    let sll: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            // packet type broadcast, ARPHRD_ETHER, address length 6, the source MAC
            // padded to 8, protocol.
            let mut cooked = vec![0, 1, 0, 1, 0, 6];
            cooked.extend_from_slice(&f[6..12]);
            cooked.extend_from_slice(&[0, 0]);
            cooked.extend_from_slice(&f[12..14]);
            cooked.extend_from_slice(&f[14..]);
            cooked
        })
        .collect();
    let path = capture(dir.path(), "sll.pcap");
    write_pcap(&path, LINKTYPE_LINUX_SLL, 65535, &whole(sll));
    let cooked = replay("arp-local", "vm1", &path);
    let ethernet = replay_as_ethernet(dir.path(), &frames);
    assert_answers_arp(&ethernet);
    assert_eq!(cooked.frames("vm1"), ethernet.frames("vm1"));
    assert_eq!(cooked.report["rx"], frames.len());
    assert_eq!(cooked.report["drops"], ethernet.report["drops"]);
}

#[test]
fn linux_cooked_v2_replays_as_the_ethernet_frames_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let frames = broadcast_arp();
    let sll2: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            // protocol, reserved, interface index 3, ARPHRD_ETHER, packet type
            // broadcast, address length 6, the source MAC padded to 8.
            let mut cooked = f[12..14].to_vec();
            cooked.extend_from_slice(&[0, 0, 0, 0, 0, 3, 0, 1, 1, 6]);
            cooked.extend_from_slice(&f[6..12]);
            cooked.extend_from_slice(&[0, 0]);
            cooked.extend_from_slice(&f[14..]);
            cooked
        })
        .collect();
    let path = capture(dir.path(), "sll2.pcap");
    write_pcap(&path, LINKTYPE_LINUX_SLL2, 65535, &whole(sll2));
    let cooked = replay("arp-local", "vm1", &path);
    let ethernet = replay_as_ethernet(dir.path(), &frames);
    assert_answers_arp(&ethernet);
    assert_eq!(cooked.frames("vm1"), ethernet.frames("vm1"));
    assert_eq!(cooked.report["rx"], frames.len());
}

/// Raw IP has no MACs: the synthetic header's zero source fails port security, the
/// counter that says the frame was parsed as the IP packet it is.
#[test]
fn raw_ip_captures_replay_with_a_synthetic_ethernet_header() {
    let dir = tempfile::tempdir().unwrap();
    let routing = fixtures_dir().join("routing/in");
    let ip4: Vec<Vec<u8>> = read_pcap(&routing.join("vma.pcap"))
        .into_iter()
        .filter(|(_, f)| f[12..14] == [0x08, 0x00])
        .map(|(_, f)| f[14..].to_vec())
        .collect();
    let ip6: Vec<Vec<u8>> = read_pcap(&routing.join("vma6.pcap"))
        .into_iter()
        .filter(|(_, f)| f[12..14] == [0x86, 0xdd])
        .map(|(_, f)| f[14..].to_vec())
        .collect();
    assert!(!ip4.is_empty() && !ip6.is_empty());
    for (link, packets, port) in [
        (LINKTYPE_RAW, ip4.clone(), "vma"),
        (LINKTYPE_IPV4, ip4.clone(), "vma"),
        (LINKTYPE_RAW, ip6.clone(), "vma6"),
        (LINKTYPE_IPV6, ip6.clone(), "vma6"),
    ] {
        let path = capture(dir.path(), &format!("raw-{link}-{port}.pcap"));
        let mut records = whole(packets.clone());
        // Neither IPv4 nor IPv6: skipped and counted.
        records.push((vec![0x50, 0, 0, 0], 4));
        write_pcap(&path, link, 65535, &records);
        let replayed = replay("routing", port, &path);
        assert_eq!(replayed.report["rx"], packets.len(), "link type {link}");
        assert_eq!(
            replayed.report["drops"]["port_security"],
            packets.len(),
            "link type {link}: {}",
            replayed.report
        );
        assert_eq!(replayed.report["capture_unmapped"], 1);
    }
}

#[test]
fn frames_cut_by_the_snap_length_replay_cut_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let frames: Vec<Vec<u8>> = read_pcap(&fixtures_dir().join("routing/in/vma.pcap"))
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f.len() > 40)
        .collect();
    const SNAP: usize = 40;
    let records: Vec<(Vec<u8>, u32)> = frames
        .iter()
        .map(|f| (f[..SNAP].to_vec(), f.len() as u32))
        .collect();
    let path = capture(dir.path(), "snap.pcap");
    write_pcap(&path, LINKTYPE_ETHERNET, SNAP as u32, &records);
    let replayed = replay("routing", "vma", &path);
    assert_eq!(replayed.report["rx"], frames.len());
    assert_eq!(replayed.report["capture_truncated"], frames.len());
    // 40 bytes hold the IPv4 header but not the length it declares.
    assert_eq!(replayed.report["drops"]["truncated"], frames.len());
}

#[test]
fn other_link_types_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = capture(dir.path(), "wifi.pcap");
    write_pcap(&path, LINKTYPE_IEEE802_11, 65535, &[(vec![0; 24], 24)]);
    let output = dataplane()
        .arg("replay")
        .arg("--config")
        .arg(fixtures_dir().join("routing/topology.toml"))
        .arg("--in")
        .arg(format!("vma={}", path.display()))
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("link type IEEE802_11"), "{message}");
}
