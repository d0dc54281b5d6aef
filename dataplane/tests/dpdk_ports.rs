//! DPDK ports end to end: `dataplane run` with every port a DPDK virtual device
//! (net_pcap reading the fixture's input and writing what the port sends), compared
//! with the fixtures' expected captures as the replay test compares them; several
//! receive queues spread over two workers; bad devices refused at start, naming the
//! port. Each case is a `dataplane` process of its own (the EAL starts once per
//! process), with the EAL's files kept apart (`--no-shconf` or `--in-memory`, and a
//! prefix of its own).

#![cfg(feature = "dpdk")]

mod support;

/// Frames compared, so that a comparison of empty outputs cannot pass unnoticed.
static COMPARED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use dataplane::topology::file::{Dpdk, TopologyFile};
use support::{
    adopt_vxlan_source_port, dataplane, fixtures_dir, frame_difference, pcaps_in, read_pcap,
};

/// `[dpdk]` for a test: hugepages when the machine has enough free, else none.
fn eal_settings() -> Dpdk {
    let free_huge_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let field = |name: &str| -> Option<u64> {
                info.lines()
                    .find(|line| line.starts_with(name))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()
            };
            Some(field("HugePages_Free:")? * field("Hugepagesize:")? / 1024)
        })
        .unwrap_or(0);
    let no_huge = free_huge_mb < 512;
    Dpdk {
        memory_mb: no_huge.then_some(512),
        no_huge: Some(no_huge),
        mbufs: Some(2047),
        mbuf_cache: Some(64),
        rx_descriptors: Some(256),
        tx_descriptors: Some(256),
        args: vec!["--log-level=lib.eal:error".into()],
        ..Dpdk::default()
    }
}

/// The topology with every port a net_pcap device: reading its file of `inputs` when
/// there is one, writing into `out`; `queues`: a port read from several files, one
/// receive queue each.
fn dpdk_topology(
    topology: &TopologyFile,
    inputs: &[PathBuf],
    out: &Path,
    queues: Option<(&str, &[PathBuf])>,
) -> String {
    let mut file = topology.clone();
    for (index, port) in file.ports.iter_mut().enumerate() {
        let input = inputs
            .iter()
            .find(|path| path.file_stem().is_some_and(|stem| *stem == *port.name));
        let output = out.join(format!("{}.pcap", port.name));
        let mut devargs = format!("net_pcap{index}");
        let mut rx_queues = None;
        match (&queues, input) {
            (Some((name, files)), _) if *name == port.name => {
                for file in *files {
                    devargs.push_str(&format!(",rx_pcap={}", file.display()));
                }
                rx_queues = Some(files.len() as i64);
            }
            (_, Some(input)) => devargs.push_str(&format!(",rx_pcap={}", input.display())),
            // No input: net_pcap then receives nothing.
            _ => {}
        }
        devargs.push_str(&format!(",tx_pcap={}", output.display()));
        port.driver = "dpdk".into();
        port.devargs = Some(devargs);
        port.rx_queues = rx_queues;
        (port.socket, port.ifname, port.path, port.pci) = (None, None, None, None);
    }
    file.dpdk = Some(eal_settings());
    file.to_toml()
}

fn frames_in(paths: &[PathBuf]) -> u64 {
    paths.iter().map(|path| read_pcap(path).len() as u64).sum()
}

/// Starts `dataplane run` on `config`, waits until its ports received `expected_rx`
/// frames and sent nothing more for a while, stops it and returns its final report
/// and the last statistics it printed while running.
fn run_until_drained(
    config: &Path,
    workers: usize,
    expected_rx: u64,
) -> (serde_json::Value, serde_json::Value) {
    let mut child = dataplane()
        .args(["run", "--no-control", "--json", "--stats-interval", "0.1"])
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dataplane");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last_tx, mut quiet) = (u64::MAX, 0);
    let mut lines = stdout.lines();
    let mut last = serde_json::Value::Null;
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        let Ok(stats) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        last = stats.clone();
        let sum = |field: &str| -> u64 {
            stats["drivers"]
                .as_array()
                .map(|ports| ports.iter().map(|p| p[field].as_u64().unwrap_or(0)).sum())
                .unwrap_or(0)
        };
        let (rx, tx) = (sum("rx_packets"), sum("tx_packets"));
        quiet = if tx == last_tx { quiet + 1 } else { 0 };
        last_tx = tx;
        if (rx >= expected_rx && quiet >= 3) || Instant::now() > deadline {
            break;
        }
    }
    stop(&mut child);
    // The rest of stdout: the final report, after the last interval's line.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "dataplane run failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = rest.join("\n");
    let start = text.rfind("\n{").map_or(0, |i| i + 1);
    let report = serde_json::from_str(&text[start..])
        .unwrap_or_else(|e| panic!("final report: {e}: {text}"));
    (report, last)
}

fn stop(child: &mut Child) {
    // SAFETY: signals a child process of ours.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

/// The frames of a capture, empty when the file is missing.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    if !path.exists() {
        return Vec::new();
    }
    read_pcap(path)
        .into_iter()
        .map(|(_, frame)| frame)
        .collect()
}

/// The frames a port sent against those it should have, in order; the VXLAN source
/// port of an expected frame crafted with 0 is the dataplane's choice.
fn compare_port(name: &str, want: &[Vec<u8>], got: &[Vec<u8>], problems: &mut Vec<String>) {
    COMPARED.fetch_add(want.len(), std::sync::atomic::Ordering::Relaxed);
    if want.len() != got.len() {
        problems.push(format!(
            "{name}: expected {} frames, got {}",
            want.len(),
            got.len()
        ));
        return;
    }
    for (index, (want, got)) in want.iter().zip(got).enumerate() {
        let want = adopt_vxlan_source_port(want, got);
        if let Some(difference) = frame_difference(&want, got) {
            problems.push(format!("{name} frame {}: {difference}", index + 1));
        }
    }
}

/// The scenario's inputs in the order one worker reads them from live ports: a round
/// takes up to a burst (32) from each port in topology order. Each frame is stamped
/// 1 µs after the one before, so that `dataplane replay`, which merges its inputs by
/// time, reads them in that order too. Returns the input files written into `dir`.
fn inputs_in_polling_order(scenario: &Path, topology: &TopologyFile, dir: &Path) -> Vec<PathBuf> {
    const BURST: usize = 32;
    let inputs: Vec<(String, Vec<Vec<u8>>)> = topology
        .ports
        .iter()
        .map(|port| {
            let path = scenario.join("in").join(format!("{}.pcap", port.name));
            (port.name.clone(), frames(&path))
        })
        .filter(|(_, frames)| !frames.is_empty())
        .collect();
    let base = pcaps_in(&scenario.join("in"))
        .iter()
        .flat_map(|path| read_pcap(path))
        .map(|(timestamp, _)| timestamp)
        .min()
        .unwrap_or(0);
    let mut stamped: Vec<Vec<(u64, &[u8])>> = vec![Vec::new(); inputs.len()];
    let mut clock = base;
    let rounds = inputs
        .iter()
        .map(|(_, f)| f.len().div_ceil(BURST))
        .max()
        .unwrap_or(0);
    for round in 0..rounds {
        for (port, (_, frames)) in inputs.iter().enumerate() {
            for frame in frames.iter().skip(round * BURST).take(BURST) {
                stamped[port].push((clock, frame));
                clock += 1_000;
            }
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    inputs
        .iter()
        .zip(stamped)
        .map(|((name, _), frames)| {
            let path = dir.join(format!("{name}.pcap"));
            let file = std::fs::File::create(&path).unwrap();
            let mut writer = pcap_file::pcap::PcapWriter::new(file).unwrap();
            for (timestamp, frame) in frames {
                let packet = pcap_file::pcap::PcapPacket::new(
                    Duration::from_nanos(timestamp),
                    frame.len() as u32,
                    frame,
                );
                writer.write_packet(&packet).unwrap();
            }
            path
        })
        .collect()
}

fn replay(config: &Path, inputs: &[PathBuf], out: &Path) -> serde_json::Value {
    let mut command = dataplane();
    command
        .arg("replay")
        .arg("--config")
        .arg(config)
        .arg("--out-dir")
        .arg(out)
        .arg("--json");
    for input in inputs {
        let port = input.file_stem().unwrap().to_string_lossy();
        command
            .arg("--in")
            .arg(format!("{port}={}", input.display()));
    }
    let output = command.output().expect("run dataplane replay");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("replay --json output")
}

fn compare_counters(
    name: &str,
    want: &serde_json::Value,
    got: &serde_json::Value,
    problems: &mut Vec<String>,
) {
    for total in ["rx", "tx"] {
        if want[total] != got[total] {
            problems.push(format!(
                "{name}: {total}: replay {}, dpdk {}",
                want[total], got[total]
            ));
        }
    }
    let nonzero = |report: &serde_json::Value| -> BTreeMap<String, u64> {
        let drops: BTreeMap<String, u64> =
            serde_json::from_value(report["drops"].clone()).unwrap_or_default();
        drops.into_iter().filter(|(_, n)| *n > 0).collect()
    };
    if nonzero(want) != nonzero(got) {
        problems.push(format!(
            "{name}: drops: replay {:?}, dpdk {:?}",
            nonzero(want),
            nonzero(got)
        ));
    }
}

/// The scenario's inputs, in polling order, through `dataplane replay` and through
/// `dataplane run` on net_pcap devices: the same frames must come out of each port,
/// in the same order, with the same counters. With one input the order is the
/// capture's, and the output is also compared with the fixture's expectation.
fn check_scenario(scenario: &Path, problems: &mut Vec<String>) {
    let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(scenario.join("topology.toml")).unwrap();
    let topology: TopologyFile = toml::from_str(&text).unwrap();
    let inputs = inputs_in_polling_order(scenario, &topology, &dir.path().join("in"));
    let replayed = dir.path().join("replay");
    let replay_report = replay(&scenario.join("topology.toml"), &inputs, &replayed);

    let out = dir.path().join("dpdk");
    std::fs::create_dir(&out).unwrap();
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, dpdk_topology(&topology, &inputs, &out, None)).unwrap();
    let (mut report, _) = run_until_drained(&config, 1, frames_in(&inputs));

    let single_input = pcaps_in(&scenario.join("in")).len() == 1;
    let mut files: Vec<PathBuf> = pcaps_in(&replayed);
    files.extend(pcaps_in(&out));
    files.extend(pcaps_in(&scenario.join("expected")));
    let files: std::collections::BTreeSet<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // A running daemon (unlike replay) also advertises the router on its ports now
    // and then: router advertisements are left out of the comparison, and the extra
    // ones out of its transmit count.
    let mut extra_advertisements = 0;
    for file in files {
        let (got, advertised) = without_advertisements(frames(&out.join(&file)));
        let (replayed, replay_advertised) = without_advertisements(frames(&replayed.join(&file)));
        if advertised < replay_advertised {
            problems.push(format!(
                "{name}/{file}: {advertised} router advertisements, replay {replay_advertised}"
            ));
        }
        extra_advertisements += advertised.saturating_sub(replay_advertised);
        let label = format!("{name}/{file}");
        compare_port(&label, &replayed, &got, problems);
        if single_input {
            let (expected, _) =
                without_advertisements(frames(&scenario.join("expected").join(&file)));
            compare_port(&format!("{label} (expected)"), &expected, &got, problems);
        }
    }
    if let Some(tx) = report["tx"].as_u64() {
        report["tx"] = tx.saturating_sub(extra_advertisements).into();
    }
    compare_counters(&name, &replay_report, &report, problems);
}

/// The frames that are not router advertisements, and how many were.
fn without_advertisements(frames: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, u64) {
    let (advertised, rest): (Vec<_>, Vec<_>) = frames
        .into_iter()
        .partition(|frame| is_router_advertisement(frame));
    (rest, advertised.len() as u64)
}

/// Ethernet (an 802.1Q tag or not) / IPv6 / ICMPv6 type 134.
fn is_router_advertisement(frame: &[u8]) -> bool {
    let tag = if frame.get(12..14) == Some(&[0x81, 0x00]) {
        4
    } else {
        0
    };
    frame.get(12 + tag..14 + tag) == Some(&[0x86, 0xdd])
        && frame.get(20 + tag) == Some(&58)
        && frame.get(54 + tag) == Some(&134)
}

#[test]
fn every_scenario_through_dpdk_vdevs_matches_its_expected_output() {
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("topology.toml").is_file())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() > 25, "the fixtures are there");
    let mut problems = Vec::new();
    for scenario in &scenarios {
        check_scenario(scenario, &mut problems);
    }
    let compared = COMPARED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(compared > 150, "only {compared} frames compared");
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A UDP frame from green-vm1 to green-vm2 (l2-local), its source port naming it.
fn vm1_to_vm2(index: u16) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2(
        [0xfa, 0x16, 0x3e, 0x00, 0x01, 0x01],
        [0xfa, 0x16, 0x3e, 0x00, 0x01, 0x02],
    )
    .ipv4([10, 0, 0, 5], [10, 0, 0, 6], 64)
    .udp(1024 + index, 53);
    let payload = index.to_be_bytes();
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, &payload).unwrap();
    frame
}

#[test]
fn receive_queues_spread_over_workers_and_every_frame_comes_out_once() {
    const FRAMES: u16 = 4000;
    const QUEUES: usize = 4;
    let scenario = fixtures_dir().join("l2-local");
    let text = std::fs::read_to_string(scenario.join("topology.toml")).unwrap();
    let topology: TopologyFile = toml::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sent: Vec<Vec<u8>> = (0..FRAMES).map(vm1_to_vm2).collect();
    let files: Vec<PathBuf> = (0..QUEUES)
        .map(|queue| {
            let path = dir.path().join(format!("vm1-q{queue}.pcap"));
            let mut writer =
                pcap_file::pcap::PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
            for frame in sent.iter().skip(queue).step_by(QUEUES) {
                let packet =
                    pcap_file::pcap::PcapPacket::new(Duration::ZERO, frame.len() as u32, frame);
                writer.write_packet(&packet).unwrap();
            }
            path
        })
        .collect();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let config = dir.path().join("topology.toml");
    std::fs::write(
        &config,
        dpdk_topology(&topology, &[], &out, Some(("vm1", &files))),
    )
    .unwrap();

    let (report, stats) = run_until_drained(&config, 2, u64::from(FRAMES));
    assert_eq!(report["ports"]["vm1"]["rx"], u64::from(FRAMES), "{report}");
    assert_eq!(report["ports"]["vm2"]["tx"], u64::from(FRAMES), "{report}");
    // Both workers polled receive queues of vm1 (port 1) and got frames from them.
    let workers = stats["workers"].as_array().expect("per-worker counters");
    assert_eq!(workers.len(), 2);
    for (index, worker) in workers.iter().enumerate() {
        let rx = worker["ports"][1]["rx"].as_u64().unwrap_or(0);
        assert!(rx > 0, "worker {index} received nothing from vm1: {stats}");
    }
    let mut got = frames(&out.join("vm2.pcap"));
    let mut want = sent;
    got.sort();
    want.sort();
    assert!(
        got == want,
        "vm2 did not send each frame exactly once ({} frames)",
        got.len()
    );
}

/// Runs `dataplane run` on the l2-local topology with port `vm1` on `devargs`, which
/// must fail at start; returns what it said.
fn refused_at_start(devargs: &str) -> String {
    let scenario = fixtures_dir().join("l2-local");
    let text = std::fs::read_to_string(scenario.join("topology.toml")).unwrap();
    let mut topology: TopologyFile = toml::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut text = dpdk_topology(&topology, &[], dir.path(), None);
    topology = toml::from_str(&text).unwrap();
    topology.ports[1].devargs = Some(devargs.to_owned());
    text = topology.to_toml();
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, text).unwrap();
    let output = dataplane()
        .args(["run", "--no-control", "--workers", "1", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{devargs} was accepted");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_or_missing_device_is_refused_at_start_naming_the_port() {
    let stderr = refused_at_start("net_nosuchdriver0,speed=fast");
    assert!(
        stderr.contains(
            "ports \"vm1\": devargs: DPDK cannot create device \"net_nosuchdriver0,speed=fast\""
        ),
        "{stderr}"
    );
    let stderr = refused_at_start("0000:99:1f.7");
    assert!(
        stderr.contains("ports \"vm1\": devargs: no DPDK device 0000:99:1f.7"),
        "{stderr}"
    );
}
