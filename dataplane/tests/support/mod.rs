//! Shared by the integration tests: reading captures and explaining frame differences.

#![allow(dead_code)]

pub mod daemon;
#[cfg(feature = "etcd")]
pub mod etcd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pcap_file::pcap::PcapReader;

/// A frame of a capture: timestamp in nanoseconds and bytes.
pub type Frame = (u64, Vec<u8>);

pub fn read_pcap(path: &Path) -> Vec<Frame> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = PcapReader::new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        frames.push((packet.timestamp.as_nanos() as u64, packet.data.into_owned()));
    }
    frames
}

pub fn dataplane() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dataplane"))
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcap-fixtures")
}

/// Runs `dataplane replay --json` over a scenario folder's inputs.
pub fn replay_scenario(scenario: &Path, out_dir: &Path) -> Output {
    let mut command = dataplane();
    command
        .arg("replay")
        .arg("--config")
        .arg(scenario.join("topology.toml"))
        .arg("--out-dir")
        .arg(out_dir)
        .arg("--json");
    for input in pcaps_in(&scenario.join("in")) {
        let port = input.file_stem().unwrap().to_string_lossy().into_owned();
        command
            .arg("--in")
            .arg(format!("{port}={}", input.display()));
    }
    command.output().expect("run dataplane")
}

/// The .pcap files of a folder, sorted by name.
pub fn pcaps_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Says where two frames differ: the first header field that differs, by name, or
/// the first differing byte.
pub fn frame_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let layers = |frame: &[u8]| -> Option<Vec<(String, String)>> {
        let headers = etherparse::PacketHeaders::from_ethernet_slice(frame).ok()?;
        let mut layers = vec![("ethernet".to_owned(), format!("{:?}", headers.link))];
        layers.push(("vlan".to_owned(), format!("{:?}", headers.link_exts)));
        layers.push(("network".to_owned(), format!("{:?}", headers.net)));
        layers.push(("transport".to_owned(), format!("{:?}", headers.transport)));
        layers.push(("payload".to_owned(), format!("{:?}", headers.payload)));
        Some(layers)
    };
    if let (Some(want), Some(got)) = (layers(expected), layers(actual)) {
        for ((name, want), (_, got)) in want.iter().zip(&got) {
            if want != got {
                return Some(format!("{name}: {}", first_field_difference(want, got)));
            }
        }
    }
    let position = expected.iter().zip(actual).position(|(a, b)| a != b);
    Some(match position {
        Some(i) => format!(
            "byte {i}: expected {:#04x}, got {:#04x} (lengths {} and {})",
            expected[i],
            actual[i],
            expected.len(),
            actual.len()
        ),
        None => format!("length: expected {}, got {}", expected.len(), actual.len()),
    })
}

/// Compares two Debug renderings field by field: "ttl: expected 63, got 64".
fn first_field_difference(want: &str, got: &str) -> String {
    let split = |s: &str| -> Vec<String> {
        s.split([',', '{', '}', '(', ')'])
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let (want_fields, got_fields) = (split(want), split(got));
    for (w, g) in want_fields.iter().zip(&got_fields) {
        if w != g {
            return format!("expected `{w}`, got `{g}`");
        }
    }
    format!("expected {want}, got {got}")
}

/// The outer UDP source port of an encapsulated frame is the dataplane's choice. An
/// expected VXLAN frame whose source port is 0 (the generator's placeholder) takes the
/// port of the actual frame when that one is VXLAN with a port within 49152-65535,
/// its IPv6 UDP checksum adjusted (RFC 1624); otherwise it is returned unchanged, so
/// that the comparison fails on the port. Every other byte stays compared.
pub fn adopt_vxlan_source_port(expected: &[u8], actual: &[u8]) -> Vec<u8> {
    let mut adopted = expected.to_vec();
    let vxlan_udp = |frame: &[u8]| -> Option<(usize, u16, bool)> {
        let meta = packet::parse(frame).ok()?;
        let is_vxlan = meta.l4 == packet::L4::Udp && meta.flow.dst_port == 4789;
        is_vxlan.then_some((
            usize::from(meta.l4_offset),
            meta.flow.src_port,
            meta.l3 == packet::L3::Ipv6,
        ))
    };
    let (Some((at, 0, ipv6)), Some((actual_at, port, _))) =
        (vxlan_udp(expected), vxlan_udp(actual))
    else {
        return adopted;
    };
    if at != actual_at || port < 49152 {
        return adopted;
    }
    adopted[at..at + 2].copy_from_slice(&port.to_be_bytes());
    let sum = u16::from_be_bytes([adopted[at + 6], adopted[at + 7]]);
    if ipv6 && sum != 0 {
        let mut updated = packet::checksum::update_word(sum, 0, port);
        if updated == 0 {
            updated = 0xffff;
        }
        adopted[at + 6..at + 8].copy_from_slice(&updated.to_be_bytes());
    }
    adopted
}
