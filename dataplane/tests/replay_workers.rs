//! `replay --workers N` emits the same packets as one worker: the same multiset on
//! every port, in the same order within each flow.
//!
//! Scenarios with SNAT routers are left out: with several workers the external port
//! comes from the worker's slice of the range (the contract), so it differs from the
//! single-worker port their captured replies were addressed to. runtime.rs checks
//! multi-worker SNAT with a responder that answers whatever port it sees.
//! Scenarios that resolve chassis MACs by ARP are left out too: the answer is another
//! flow than the frames waiting for it, so with several workers it may be learned
//! before or after they are processed (both are correct; the outputs differ).

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::{fixtures_dir, pcaps_in, read_pcap};

fn replay(scenario: &Path, out: &Path, workers: u16) -> serde_json::Value {
    let mut command = support::dataplane();
    command
        .args([
            "replay",
            "--json",
            "--workers",
            &workers.to_string(),
            "--config",
        ])
        .arg(scenario.join("topology.toml"))
        .arg("--out-dir")
        .arg(out);
    for input in pcaps_in(&scenario.join("in")) {
        let port = input.file_stem().unwrap().to_string_lossy().into_owned();
        command
            .arg("--in")
            .arg(format!("{port}={}", input.display()));
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Frames of one capture grouped by flow, each group in capture order.
fn by_flow(frames: &[(u64, Vec<u8>)]) -> BTreeMap<String, Vec<(u64, Vec<u8>)>> {
    let mut flows: BTreeMap<String, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for (timestamp, frame) in frames {
        let key = match packet::parse(frame) {
            Ok(meta) => format!("{:?}", meta.flow),
            Err(_) => "unparsed".to_owned(),
        };
        flows
            .entry(key)
            .or_default()
            .push((*timestamp, frame.clone()));
    }
    flows
}

/// A `[[chassis]]` without `mac`: resolved by ARP on the uplink.
fn resolves_chassis_macs(topology: &str) -> bool {
    topology
        .split("[[")
        .filter(|section| section.starts_with("chassis]]"))
        .any(|section| {
            !section
                .lines()
                .any(|line| line.trim_start().starts_with("mac ="))
        })
}

#[test]
fn two_workers_emit_what_one_worker_emits_in_flow_order() {
    let mut scenarios: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("topology.toml").is_file())
        .collect();
    scenarios.retain(|s| {
        let topology = std::fs::read_to_string(s.join("topology.toml")).unwrap();
        // The router's ICMP errors about different flows all go gateway -> sender
        // (one 5-tuple), so across workers their order is no flow's order.
        let router_errors = s.ends_with("routing");
        !topology.contains("snat = true") && !resolves_chassis_macs(&topology) && !router_errors
    });
    scenarios.sort();
    assert!(scenarios.len() >= 6);
    for scenario in scenarios {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let counters_one = replay(&scenario, one.path(), 1);
        let counters_two = replay(&scenario, two.path(), 2);
        let name = scenario.display();
        for field in ["rx", "tx", "drops", "ports"] {
            assert_eq!(counters_one[field], counters_two[field], "{name}: {field}");
        }
        let files_one = pcaps_in(one.path());
        let files_two = pcaps_in(two.path());
        assert_eq!(
            files_one.iter().map(|f| f.file_name()).collect::<Vec<_>>(),
            files_two.iter().map(|f| f.file_name()).collect::<Vec<_>>(),
            "{name}: output files"
        );
        for (a, b) in files_one.iter().zip(&files_two) {
            assert_eq!(
                by_flow(&read_pcap(a)),
                by_flow(&read_pcap(b)),
                "{}",
                b.display()
            );
        }
    }
}
