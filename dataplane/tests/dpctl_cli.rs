//! dpctl against `dataplane run`: tables, -o json, one-line refusals with exit 1, apply.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Daemon(Child, PathBuf, tempfile::TempDir);

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn start() -> Daemon {
    start_in(tempfile::tempdir().unwrap(), &[])
}

/// A daemon whose socket (and anything `extra` names) lives in `work`.
fn start_in(work: tempfile::TempDir, extra: &[&str]) -> Daemon {
    let socket = work.path().join("control.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_dataplane"))
        .args(["run", "--workers", "1", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control.toml"))
        .arg("--control-socket")
        .arg(&socket)
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon(child, socket, work)
}

fn dpctl(daemon: &Daemon, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .arg("--socket")
        .arg(&daemon.1)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn objects_tables_json_and_refusals() {
    let daemon = start();
    let socket_mode = std::fs::metadata(&daemon.1).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(socket_mode.permissions().mode() & 0o777, 0o660);

    let table = stdout(&dpctl(&daemon, &["network", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("CIDR") && lines[0].contains("VNI"),
        "{table}"
    );
    assert!(
        lines[1].contains("green-net") && lines[1].contains("1001"),
        "{table}"
    );

    for args in [
        &[
            "logical-port",
            "create",
            "fw1-in",
            "--network",
            "green-net",
            "--mac",
            "fa:16:3e:00:0f:01",
            "--ip",
            "10.0.0.201",
            "--port",
            "fw1",
            "--vlan",
            "101",
        ][..],
        &[
            "logical-port",
            "create",
            "fw1-out",
            "--network",
            "green-net",
            "--mac",
            "fa:16:3e:00:0f:02",
            "--ip",
            "10.0.0.202",
            "--port",
            "fw1",
            "--vlan",
            "102",
        ],
        &[
            "port-pair",
            "create",
            "fw1",
            "--ingress",
            "fw1-in",
            "--egress",
            "fw1-out",
        ],
        &[
            "port-pair-group",
            "create",
            "firewalls",
            "--port-pair",
            "fw1",
        ],
        &[
            "flow-classifier",
            "create",
            "web",
            "--protocol",
            "tcp",
            "--destination-port-range",
            "80",
            "--logical-source-port",
            "green-vm1",
            "--logical-destination-port",
            "green-vm2",
        ],
        &[
            "port-chain",
            "create",
            "web-chain",
            "--port-pair-group",
            "firewalls",
            "--flow-classifier",
            "web",
            "--symmetric",
        ],
    ] {
        stdout(&dpctl(&daemon, args));
    }
    let chains: serde_json::Value = serde_json::from_str(&stdout(&dpctl(
        &daemon,
        &["port-chain", "list", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(chains[0]["name"], "web-chain");
    assert_eq!(chains[0]["chain_id"], 1, "lowest free chain id");
    assert_eq!(chains[0]["symmetric"], true);
    let fc: serde_json::Value = serde_json::from_str(&stdout(&dpctl(
        &daemon,
        &["flow-classifier", "show", "web", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(fc["destination_port_range"], serde_json::json!([80, 80]));

    let refused = dpctl(&daemon, &["port-pair-group", "delete", "firewalls"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "dpctl: port_pair_groups: port pair group \"firewalls\" is in use by port_chains \"web-chain\" (port_pair_groups) (FAILED_PRECONDITION)\n"
    );
    let refused = dpctl(&daemon, &["network", "update", "green-db", "--vni", "1001"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("(ALREADY_EXISTS)"));

    let unreachable = Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .args(["--socket", "/nonexistent/control.sock", "stats"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&unreachable.stderr).lines().count(),
        1
    );
}

#[test]
fn apply_replaces_everything_or_nothing() {
    let daemon = start();
    let dir = daemon.2.path();
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control.toml"),
    )
    .unwrap();
    let smaller = base.replace("name = \"green-vm2\"", "name = \"green-vm2b\"");
    std::fs::write(dir.join("ok.toml"), &smaller).unwrap();
    let out = stdout(&dpctl(
        &daemon,
        &["apply", "-f", dir.join("ok.toml").to_str().unwrap()],
    ));
    assert!(out.contains("generation 2"), "{out}");
    let bad = smaller.replace("vni = 1003", "vni = 1001");
    std::fs::write(dir.join("bad.toml"), bad).unwrap();
    let refused = dpctl(
        &daemon,
        &["apply", "-f", dir.join("bad.toml").to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr)
        .contains("networks \"green-db\": vni: 1001 is already used"));
    let ports = stdout(&dpctl(&daemon, &["logical-port", "list"]));
    assert!(
        ports.contains("green-vm2b") && !ports.contains("green-vm2 "),
        "{ports}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&dpctl(&daemon, &["stats", "-o", "json"]))).unwrap();
    assert_eq!(
        stats["generation"], 2,
        "the refused apply published nothing"
    );
}

/// `dpctl stats -o json | head`: the reader is gone before dpctl writes.
#[test]
fn a_closed_output_pipe_ends_dpctl_quietly() {
    let daemon = start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .arg("--socket")
        .arg(&daemon.1)
        .args(["stats", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn topology_prints_a_file_that_apply_takes_back_unchanged() {
    let daemon = start();
    let first = stdout(&dpctl(&daemon, &["topology"]));
    let saved = daemon.2.path().join("running.toml");
    std::fs::write(&saved, &first).unwrap();
    let applied = stdout(&dpctl(&daemon, &["apply", "-f", saved.to_str().unwrap()]));
    assert!(applied.contains("generation 2"), "{applied}");
    assert_eq!(stdout(&dpctl(&daemon, &["topology"])), first);
    assert!(first.contains("name = \"green-vm2\""), "{first}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&dpctl(&daemon, &["topology", "-o", "json"]))).unwrap();
    assert_eq!(json["generation"], 2);
}

/// Stops the daemon as an operator would; its work directory lives on.
fn stop(mut daemon: Daemon) -> tempfile::TempDir {
    let _ = Command::new("kill")
        .args(["-INT", &daemon.0.id().to_string()])
        .status();
    let status = daemon.0.wait().unwrap();
    assert!(status.success());
    std::mem::replace(&mut daemon.2, tempfile::tempdir().unwrap())
}

#[test]
fn a_restart_with_the_state_file_resumes_the_running_configuration() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.toml");
    let state_arg = state.to_str().unwrap().to_owned();
    let daemon = start_in(work, &["--state", &state_arg]);
    assert!(state.exists(), "the state is saved at start");
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control.toml"),
    )
    .unwrap();
    let changed = base.replace("name = \"green-vm2\"", "name = \"green-vm2b\"");
    let file = daemon.2.path().join("changed.toml");
    std::fs::write(&file, changed).unwrap();
    stdout(&dpctl(&daemon, &["apply", "-f", file.to_str().unwrap()]));
    // A refused change is not saved.
    let bad = daemon.2.path().join("bad.toml");
    std::fs::write(&bad, base.replace("vni = 1003", "vni = 1001")).unwrap();
    let refused = dpctl(&daemon, &["apply", "-f", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let running = stdout(&dpctl(&daemon, &["topology"]));

    let work = stop(daemon);
    let daemon = start_in(work, &["--state", &state_arg]);
    let ports = stdout(&dpctl(&daemon, &["logical-port", "list"]));
    assert!(
        ports.contains("green-vm2b") && !ports.contains("green-vm2 "),
        "{ports}"
    );
    assert_eq!(stdout(&dpctl(&daemon, &["topology"])), running);
}
