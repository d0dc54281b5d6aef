//! `dataplane run`: the daemon over pcap ports, stopped by SIGTERM, drains and reports;
//! ports it cannot open are refused by name.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{dataplane, fixtures_dir, pcaps_in, read_pcap};

/// The l2-local scenario's topology with every port turned into a pcap port reading
/// the scenario's input capture.
fn pcap_topology(dir: &std::path::Path) -> std::path::PathBuf {
    let scenario = fixtures_dir().join("l2-local");
    let mut text = std::fs::read_to_string(scenario.join("topology.toml")).unwrap();
    text = text.replace(
        "driver = \"af-xdp\"\nifname = \"eth1\"",
        "driver = \"pcap\"",
    );
    for port in ["vm1", "vm2", "vm3", "vm4", "vm5", "vm6"] {
        let from = format!("driver = \"vhost-user\"\nsocket = \"/run/dataplane/{port}.sock\"");
        let input = scenario.join(format!("in/{port}.pcap"));
        let to = format!("driver = \"pcap\"\npath = \"{}\"", input.display());
        assert!(text.contains(&from), "fixture port {port} as expected");
        text = text.replace(&from, &to);
    }
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn by_flow(frames: Vec<(u64, Vec<u8>)>) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut flows: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (_, frame) in frames {
        let key = packet::parse(&frame)
            .map(|m| format!("{:?}", m.flow))
            .unwrap_or_default();
        flows.entry(key).or_default().push(frame);
    }
    flows
}

#[test]
fn runs_until_sigterm_then_drains_and_reports() {
    let work = tempfile::tempdir().unwrap();
    let config = pcap_topology(work.path());
    let out = work.path().join("out");
    let mut child = dataplane()
        .args(["run", "--json", "--workers", "2", "--config"])
        .arg(&config)
        .arg("--pcap-out-dir")
        .arg(&out)
        .arg("--control-socket")
        .arg(work.path().join("control.sock"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The inputs are tiny: give the workers time to receive them all.
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("l2-local/expected/counters.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["rx"], expected["rx"]);
    // A running daemon (unlike replay) also advertises the router to every local port
    // of an IPv6 network with a router: vm5 and vm6 get one each at start.
    let advertisements = |port: &str| {
        let frames = read_pcap(&out.join(format!("{port}.pcap")));
        frames
            .iter()
            .filter(|(_, f)| is_router_advertisement(f))
            .count()
    };
    assert_eq!((advertisements("vm5"), advertisements("vm6")), (1, 1));
    assert_eq!(
        report["tx"].as_u64().unwrap(),
        expected["tx"].as_u64().unwrap() + 2
    );
    let drops: BTreeMap<String, u64> = serde_json::from_value(report["drops"].clone()).unwrap();
    let nonzero: BTreeMap<String, u64> = drops.into_iter().filter(|(_, n)| *n > 0).collect();
    let expected_drops: BTreeMap<String, u64> =
        serde_json::from_value(expected["drops"].clone()).unwrap();
    assert_eq!(nonzero, expected_drops);
    for want in pcaps_in(&fixtures_dir().join("l2-local/expected")) {
        let got = out.join(want.file_name().unwrap());
        let sent: Vec<_> = read_pcap(&got)
            .into_iter()
            .filter(|(_, f)| !is_router_advertisement(f))
            .collect();
        assert_eq!(
            by_flow(sent),
            by_flow(read_pcap(&want)),
            "{}",
            got.display()
        );
    }
}

/// Ethernet / IPv6 / ICMPv6 type 134.
fn is_router_advertisement(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x86, 0xdd])
        && frame.get(20) == Some(&58)
        && frame.get(54) == Some(&134)
}

/// The l2-local topology as `run` refuses it, and what it says of the first port
/// (the uplink, af-xdp): a driver this build lacks, or, with the af-xdp driver, an
/// interface that is not there (renamed so that it surely is not).
fn refused_uplink(dir: &std::path::Path) -> (std::path::PathBuf, &'static str) {
    let scenario = fixtures_dir().join("l2-local/topology.toml");
    if cfg!(feature = "af-xdp") {
        let text = std::fs::read_to_string(scenario).unwrap();
        let path = dir.join("topology.toml");
        std::fs::write(&path, text.replace("\"eth1\"", "\"kpnoeth1\"")).unwrap();
        (path, "ports \"uplink\": ifname: no interface \"kpnoeth1\"")
    } else {
        (scenario, "ports \"uplink\": driver: af-xdp")
    }
}

#[test]
fn unsupported_drivers_are_refused_by_port_name() {
    let work = tempfile::tempdir().unwrap();
    let (config, says) = refused_uplink(work.path());
    let output = dataplane()
        .args(["run", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains(says), "{message}");
}

/// Runs the command to its end, or kills it and fails after `limit`.
fn output_within(command: &mut std::process::Command, limit: Duration) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn refused(args: &[&str], expected: &str) {
    let work = tempfile::tempdir().unwrap();
    let config = pcap_topology(work.path());
    let output = output_within(
        dataplane()
            .arg("run")
            .args(args)
            .arg("--config")
            .arg(&config)
            .arg("--control-socket")
            .arg(work.path().join("control.sock")),
        Duration::from_secs(10),
    );
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
    assert!(message.contains(expected), "{args:?}: {message}");
}

#[test]
fn a_core_the_process_cannot_use_is_refused_at_once() {
    refused(&["--cores", "99"], "--cores: core 99 is not available");
}

#[test]
fn fewer_cores_than_workers_are_refused() {
    refused(
        &["--workers", "3", "--cores", "0"],
        "--workers 3 needs 3 cores",
    );
}

#[test]
fn a_pcap_input_that_cannot_be_read_is_refused_by_port_name() {
    let work = tempfile::tempdir().unwrap();
    let config = pcap_topology(work.path());
    let text = std::fs::read_to_string(&config).unwrap();
    let vm1 = fixtures_dir().join("l2-local/in/vm1.pcap");
    std::fs::write(
        &config,
        text.replace(&vm1.display().to_string(), "/nonexistent/vm1.pcap"),
    )
    .unwrap();
    let output = output_within(
        dataplane()
            .args(["run", "--no-control", "--config"])
            .arg(&config),
        Duration::from_secs(10),
    );
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains("ports \"vm1\": /nonexistent/vm1.pcap"),
        "{message}"
    );
}

#[test]
fn a_second_daemon_on_the_same_socket_refuses_and_names_the_first() {
    let work = tempfile::tempdir().unwrap();
    let config = pcap_topology(work.path());
    let socket = work.path().join("control.sock");
    let mut first = dataplane()
        .args(["run", "--workers", "1", "--config"])
        .arg(&config)
        .arg("--control-socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(socket.exists(), "the first daemon serves its socket");
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&socket).unwrap());

    let second = output_within(
        dataplane()
            .args(["run", "--workers", "1", "--config"])
            .arg(&config)
            .arg("--control-socket")
            .arg(&socket),
        Duration::from_secs(10),
    );
    let message = String::from_utf8_lossy(&second.stderr);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(2), "{message}");
    assert!(
        message.contains(&format!("PID {}", first.id())),
        "{message}"
    );
    // The first daemon's socket was left alone.
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&socket).unwrap()),
        inode
    );
}

#[test]
fn check_refuses_what_run_refuses_and_approves_what_run_starts() {
    let work = tempfile::tempdir().unwrap();
    let (config, says) = refused_uplink(work.path());
    let output = dataplane()
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains(says), "{message}");

    let output = dataplane()
        .args(["check", "--config"])
        .arg(pcap_topology(work.path()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn receive_queue_pins_are_checked_at_start() {
    let work = tempfile::tempdir().unwrap();
    let config = pcap_topology(work.path());
    let start = |pin: &str| {
        dataplane()
            .args(["run", "--no-control", "--workers", "2", "--config"])
            .arg(&config)
            .args(["--rxq-affinity", pin])
            .output()
            .unwrap()
    };
    for (pin, says) in [
        ("vm1:3:0", "the port has 1 receive queue"),
        ("vm1:0:5", "worker 5 does not exist (2 workers)"),
        (
            "vm9:0:0",
            "--rxq-affinity vm9:...: the topology has no such port",
        ),
    ] {
        let output = start(pin);
        assert_eq!(output.status.code(), Some(2), "{pin}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(says), "{pin}: {message}");
    }
    let malformed = start("vm1:x:0");
    assert_eq!(malformed.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&malformed.stderr).contains("queue \"x\" is not a queue number")
    );
}
