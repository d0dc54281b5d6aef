//! Replays every scenario of pcap-fixtures/ and compares each port's output with the
//! expected capture packet by packet (bytes and timestamps), and the counters with
//! expected/counters.json. The expectations were crafted by the scapy generator from
//! the contract, not by running the dataplane.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::{
    adopt_vxlan_source_port, fixtures_dir, frame_difference, pcaps_in, read_pcap, replay_scenario,
};

fn scenarios() -> Vec<std::path::PathBuf> {
    let mut scenarios: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("pcap-fixtures folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("topology.toml").is_file())
        .collect();
    scenarios.sort();
    scenarios
}

fn check_scenario(scenario: &Path, problems: &mut Vec<String>) {
    let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
    let out = tempfile::tempdir().unwrap();
    let output = replay_scenario(scenario, out.path());
    if !output.status.success() {
        problems.push(format!(
            "{name}: replay exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
        return;
    }

    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("replay --json output");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(scenario.join("expected/counters.json")).unwrap(),
    )
    .unwrap();
    for total in ["rx", "tx"] {
        if report[total] != expected[total] {
            problems.push(format!(
                "{name}: {total}: expected {}, got {}",
                expected[total], report[total]
            ));
        }
    }
    let expected_drops: BTreeMap<String, u64> =
        serde_json::from_value(expected["drops"].clone()).unwrap();
    let actual_drops: BTreeMap<String, u64> =
        serde_json::from_value(report["drops"].clone()).unwrap();
    let actual_nonzero: BTreeMap<_, _> = actual_drops.into_iter().filter(|(_, n)| *n > 0).collect();
    if actual_nonzero != expected_drops {
        problems.push(format!(
            "{name}: drops: expected {expected_drops:?}, got {actual_nonzero:?}"
        ));
    }

    let names = |files: Vec<std::path::PathBuf>| -> Vec<String> {
        files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let expected_files = names(pcaps_in(&scenario.join("expected")));
    let actual_files = names(pcaps_in(out.path()));
    if expected_files != actual_files {
        problems.push(format!(
            "{name}: output files: expected {expected_files:?}, got {actual_files:?}"
        ));
    }
    for file in expected_files.iter().filter(|f| actual_files.contains(f)) {
        let want = read_pcap(&scenario.join("expected").join(file));
        let got = read_pcap(&out.path().join(file));
        for (index, ((want_ts, want_frame), (got_ts, got_frame))) in
            want.iter().zip(&got).enumerate()
        {
            // The VXLAN source port is the dataplane's choice (checked in range here,
            // per flow in tests/vxlan.rs).
            let want_frame = adopt_vxlan_source_port(want_frame, got_frame);
            if let Some(difference) = frame_difference(&want_frame, got_frame) {
                problems.push(format!("{name}/{file} packet {}: {difference}", index + 1));
            }
            if want_ts != got_ts {
                problems.push(format!(
                    "{name}/{file} packet {}: timestamp: expected {want_ts} ns, got {got_ts} ns",
                    index + 1
                ));
            }
        }
        if want.len() != got.len() {
            problems.push(format!(
                "{name}/{file}: expected {} packets, got {}",
                want.len(),
                got.len()
            ));
        }
    }
}

#[test]
fn every_scenario_matches_its_expected_output() {
    let scenarios = scenarios();
    let required = [
        "l2-local",
        "arp-local",
        "routing",
        "port-security",
        "vlan-trunk",
        "malformed",
        "snat-basic",
        "snat-overlap",
        "snat-icmp-error",
        "snat-expiry",
        "snat-exhaustion",
        "snat-router-ip",
        "snat-resolve",
        "sfc-mpls",
        "sfc-proxy",
        "sfc-mixed",
        "sfc-nsh",
        "sfc-symmetric",
        "vxlan-encap-v4",
        "vxlan-encap-v6",
        "vxlan-decap",
        "vxlan-truncated",
        "vxlan-unknown-vni",
        "vxlan-overlap",
        "vxlan-bum",
        "vxlan-mtu",
        "vxlan-arp",
        "vxlan-resolve",
        "vxlan-ns",
    ];
    for scenario in required {
        assert!(
            scenarios.iter().any(|s| s.ends_with(scenario)),
            "scenario {scenario} missing from pcap-fixtures"
        );
    }
    let mut problems = Vec::new();
    for scenario in &scenarios {
        check_scenario(scenario, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
