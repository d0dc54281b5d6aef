//! The replay command's contract at its edges: refusals with clear messages and exit
//! status, pcapng inputs, timestamps kept.

mod support;

use std::path::Path;
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use support::{dataplane, fixtures_dir, read_pcap, replay_scenario};

fn scenario(name: &str) -> std::path::PathBuf {
    fixtures_dir().join(name)
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unknown_port_is_refused_naming_it_and_the_known_ports() {
    let out = tempfile::tempdir().unwrap();
    let l2 = scenario("l2-local");
    let output = dataplane()
        .args(["replay", "--config"])
        .arg(l2.join("topology.toml"))
        .arg("--in")
        .arg(format!("nosuchport={}", l2.join("in/vm1.pcap").display()))
        .arg("--out-dir")
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr_of(&output);
    assert!(message.contains("\"nosuchport\""), "{message}");
    assert!(message.contains("vm1"), "{message}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn missing_input_file_is_refused_naming_it() {
    let out = tempfile::tempdir().unwrap();
    let output = dataplane()
        .args(["replay", "--config"])
        .arg(scenario("l2-local").join("topology.toml"))
        .args(["--in", "vm1=/nonexistent/capture.pcap", "--out-dir"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("/nonexistent/capture.pcap"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn bad_topology_is_refused_naming_object_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(scenario("l2-local").join("topology.toml")).unwrap();
    let broken = original.replacen("mac = \"fa:16:3e", "mac = \"zz:16:3e", 1);
    assert_ne!(
        broken, original,
        "the fixture has a logical port MAC to break"
    );
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, broken).unwrap();
    let output = dataplane()
        .args(["replay", "--config"])
        .arg(&config)
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr_of(&output);
    assert!(message.contains("mac"), "{message}");
    assert!(message.contains("zz:16:3e"), "{message}");
}

#[test]
fn input_without_port_name_is_a_usage_error() {
    let output = dataplane()
        .args([
            "replay",
            "--config",
            "x.toml",
            "--in",
            "capture.pcap",
            "--out-dir",
            "/tmp/x",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("PORT=FILE"));
}

#[test]
fn malformed_scenario_exits_zero_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let output = replay_scenario(&scenario("malformed"), out.path());
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["tx"], 0);
    assert_eq!(report["rx"], report["dropped"]);
}

#[test]
fn table_output_lists_ports_and_drop_reasons() {
    let out = tempfile::tempdir().unwrap();
    let l2 = scenario("l2-local");
    let mut command = dataplane();
    command
        .args(["replay", "--config"])
        .arg(l2.join("topology.toml"));
    for port in ["vm1", "vm2", "vm3", "vm4"] {
        command.arg("--in").arg(format!(
            "{port}={}",
            l2.join(format!("in/{port}.pcap")).display()
        ));
    }
    let output = command.arg("--out-dir").arg(out.path()).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.lines().any(|l| l.starts_with("vm1 ")), "{table}");
    assert!(table.contains("hairpin"), "{table}");
    assert!(table.contains("received"), "{table}");
}

/// Rewrites a classic capture as pcapng with the given if_tsresol (10^-n seconds).
fn to_pcapng(frames: &[(u64, Vec<u8>)], path: &Path, decimal_digits: u8) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = PcapNgWriter::new(file).unwrap();
    let interface = InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 65535,
        options: vec![InterfaceDescriptionOption::IfTsResol(decimal_digits)],
    };
    writer.write_pcapng_block(interface).unwrap();
    for (timestamp_ns, data) in frames {
        let ticks = timestamp_ns / 10u64.pow(9 - u32::from(decimal_digits));
        let block = EnhancedPacketBlock {
            interface_id: 0,
            // pcap-file writes the raw tick count it is given as "nanoseconds".
            timestamp: Duration::from_nanos(ticks),
            original_len: data.len() as u32,
            data: data.as_slice().into(),
            options: vec![],
        };
        writer.write_pcapng_block(block).unwrap();
    }
}

#[test]
fn pcapng_inputs_replay_like_classic_ones_and_keep_timestamps() {
    let l2 = scenario("l2-local");
    let work = tempfile::tempdir().unwrap();
    let mut command = dataplane();
    command
        .args(["replay", "--json", "--config"])
        .arg(l2.join("topology.toml"));
    for input in support::pcaps_in(&l2.join("in")) {
        let port = input.file_stem().unwrap().to_string_lossy().into_owned();
        let frames = read_pcap(&input);
        // Microsecond ticks for some ports, nanosecond ticks for others.
        let digits = if port.ends_with('1') { 9 } else { 6 };
        let converted = work.path().join(format!("{port}.pcapng"));
        to_pcapng(&frames, &converted, digits);
        command
            .arg("--in")
            .arg(format!("{port}={}", converted.display()));
    }
    let out = work.path().join("out");
    let output = command.arg("--out-dir").arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    for expected in support::pcaps_in(&l2.join("expected")) {
        let actual = out.join(expected.file_name().unwrap());
        assert_eq!(
            read_pcap(&actual),
            read_pcap(&expected),
            "{}",
            actual.display()
        );
    }
}

/// `dataplane replay ... | head`: the reader is gone before the report is written.
#[test]
fn a_closed_output_pipe_ends_replay_quietly() {
    let out = tempfile::tempdir().unwrap();
    let routing = scenario("routing");
    let mut child = dataplane()
        .arg("replay")
        .arg("--config")
        .arg(routing.join("topology.toml"))
        .arg("--in")
        .arg(format!("vma={}", routing.join("in/vma.pcap").display()))
        .arg("--out-dir")
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(output.stderr.is_empty(), "{}", stderr_of(&output));
}
