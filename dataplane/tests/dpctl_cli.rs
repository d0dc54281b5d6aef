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
    start_with(&[], Stdio::null())
}

fn start_with(args: &[&str], stdout: Stdio) -> Daemon {
    start_logging(args, stdout, Stdio::null())
}

fn start_logging(args: &[&str], stdout: Stdio, stderr: Stdio) -> Daemon {
    start_in(tempfile::tempdir().unwrap(), args, stdout, stderr)
}

/// A daemon whose socket (and anything `args` names) lives in `work`.
fn start_in(work: tempfile::TempDir, args: &[&str], stdout: Stdio, stderr: Stdio) -> Daemon {
    let socket = work.path().join("control.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_dataplane"))
        .args(["run", "--workers", "1", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control.toml"))
        .arg("--control-socket")
        .arg(&socket)
        .args(args)
        .stdout(stdout)
        .stderr(stderr)
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
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "TENANT", "VNI", "CIDR", "GATEWAY_IP"],
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
    let fc = stdout(&dpctl(&daemon, &["flow-classifier", "show", "web"]));
    let (header, row) = fc.split_once('\n').unwrap();
    let column = header
        .split_whitespace()
        .position(|h| h == "DESTINATION_PORT_RANGE")
        .unwrap();
    // Empty cells print as "-", so every column has one word.
    assert_eq!(row.split_whitespace().nth(column), Some("80"), "{fc}");

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
    let daemon = start_in(work, &["--state", &state_arg], Stdio::null(), Stdio::null());
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
    let daemon = start_in(work, &["--state", &state_arg], Stdio::null(), Stdio::null());
    let ports = stdout(&dpctl(&daemon, &["logical-port", "list"]));
    assert!(
        ports.contains("green-vm2b") && !ports.contains("green-vm2 "),
        "{ports}"
    );
    assert_eq!(stdout(&dpctl(&daemon, &["topology"])), running);
}
#[test]
fn conntrack_filters_that_match_nothing_by_mistake_are_refused() {
    let daemon = start();
    for (args, code, says) in [
        (&["--state", "BOGUS"][..], 2, "--state"),
        (&["--address", "1.2.3"][..], 2, "--address"),
        (
            &["--tenant", "nobody"][..],
            1,
            "tenant: no network belongs to tenant \"nobody\"",
        ),
    ] {
        let out = dpctl(&daemon, &[&["conntrack"][..], args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let table = stdout(&dpctl(&daemon, &["conntrack", "--tenant", "green"]));
    // No traffic, no connection: the header alone, columns in reading order.
    assert_eq!(
        table.split_whitespace().collect::<Vec<_>>(),
        [
            "TENANT",
            "PROTOCOL",
            "SOURCE",
            "DESTINATION",
            "TRANSLATED_SOURCE",
            "STATE",
            "PACKETS",
            "BYTES",
            "EXPIRES_IN(ms)",
            "WORKER"
        ],
        "{table}"
    );
}

#[test]
fn create_says_which_required_option_is_missing() {
    let daemon = start();
    let out = dpctl(
        &daemon,
        &[
            "network",
            "create",
            "n9",
            "--tenant",
            "green",
            "--cidr",
            "10.9.0.0/24",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("required") && stderr.contains("--vni"),
        "{stderr}"
    );
    assert!(!stderr.contains("outside"), "{stderr}");
}

#[test]
fn port_chain_create_sets_the_mpls_ttl() {
    let daemon = start();
    for args in [
        &[
            "logical-port",
            "create",
            "sf-in",
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
            "port-pair",
            "create",
            "sf",
            "--ingress",
            "sf-in",
            "--egress",
            "sf-in",
        ],
        &["port-pair-group", "create", "g", "--port-pair", "sf"],
        &[
            "port-chain",
            "create",
            "c",
            "--port-pair-group",
            "g",
            "--mpls-ttl",
            "64",
        ],
    ] {
        stdout(&dpctl(&daemon, args));
    }
    let chain: serde_json::Value = serde_json::from_str(&stdout(&dpctl(
        &daemon,
        &["port-chain", "show", "c", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(chain["mpls_ttl"], 64);
}

#[test]
fn stats_table_shows_capture_drops() {
    let daemon = start();
    let table = stdout(&dpctl(&daemon, &["stats"]));
    assert!(
        table.lines().any(|l| l.starts_with("capture_dropped 0")),
        "{table}"
    );
}

/// The keys of a JSON value, recursively (array items by their first element).
fn shape(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        _ => Value::Null,
    }
}

#[test]
fn periodic_stats_have_the_shape_of_dpctl_stats_json() {
    use std::io::BufRead;
    let mut daemon = start_with(&["--stats-interval", "0.1"], Stdio::piped());
    let mut lines = std::io::BufReader::new(daemon.0.stdout.take().unwrap()).lines();
    let periodic: serde_json::Value =
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let asked: serde_json::Value =
        serde_json::from_str(&stdout(&dpctl(&daemon, &["stats", "-o", "json"]))).unwrap();
    assert!(asked["total"]["ports"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    assert_eq!(shape(&periodic), shape(&asked));
}

#[test]
fn the_daemon_logs_its_start_and_every_change_with_its_generation() {
    use std::io::BufRead;
    let mut daemon = start_logging(
        &["--log-format", "json", "--cores", "0"],
        Stdio::null(),
        Stdio::piped(),
    );
    let mut lines = std::io::BufReader::new(daemon.0.stderr.take().unwrap()).lines();
    let mut next = move || -> serde_json::Value {
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap()
    };
    let started = next();
    assert_eq!(started["message"], "dataplane started", "{started}");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(started["socket"], daemon.1.display().to_string());
    assert_eq!(started["workers"], 1);
    let ports = started["ports"].as_u64().unwrap();
    for _ in 0..ports {
        let port = next();
        assert_eq!(port["message"], "port open", "{port}");
        assert_eq!(port["workers"], "[0]");
    }
    let worker = next();
    assert_eq!(worker["message"], "worker started", "{worker}");
    assert_eq!(worker["core"], "0");
    assert!(
        worker["rx_queues"].as_str().unwrap().contains("\"vm1:0\""),
        "{worker}"
    );

    stdout(&dpctl(
        &daemon,
        &["network", "update", "green-db", "--vni", "1009"],
    ));
    let accepted = next();
    assert_eq!(
        accepted["message"],
        "configuration: update networks \"green-db\": accepted"
    );
    assert_eq!(accepted["generation"], 2);
    let refused = dpctl(&daemon, &["network", "update", "green-db", "--vni", "1001"]);
    assert_eq!(refused.status.code(), Some(1));
    let refused = next();
    assert_eq!(refused["level"], "WARN");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("configuration: update networks \"green-db\": refused: "),
        "{refused}"
    );
    assert_eq!(refused["generation"], 2, "the generation left in force");
}

#[test]
fn operator_commands_show_clear_flush_and_neighbours() {
    let daemon = start();
    let show = stdout(&dpctl(&daemon, &["show"]));
    assert!(
        show.starts_with(&format!("dataplane {}, up ", env!("CARGO_PKG_VERSION"))),
        "{show}"
    );
    assert!(show.contains("WORKER  CORE  PORTS"), "{show}");
    let ports = stdout(&dpctl(&daemon, &["port", "show", "vm1"]));
    let header: Vec<&str> = ports.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "PORT",
            "DRIVER",
            "LINK_UP",
            "RX(packets)",
            "TX(packets)",
            "RX(bytes)",
            "TX(bytes)",
            "RX_ERRORS",
            "RX_MISSED",
            "TX_ERRORS",
            "QUEUES(queue:worker)"
        ]
    );
    assert_eq!(ports.lines().count(), 2, "{ports}");
    // Idle cycles are published as the worker polls: wait for its first report.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let workers = loop {
        let workers = stdout(&dpctl(&daemon, &["worker", "show", "-o", "json"]));
        let workers: serde_json::Value = serde_json::from_str(&workers).unwrap();
        if workers[0]["idle_cycles"].as_u64() > Some(0) || std::time::Instant::now() > deadline {
            break workers;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(workers[0]["worker"], 0);
    // The worker has polled (its ports have no input): idle cycles counted, no busy ones.
    assert!(workers[0]["idle_cycles"].as_u64().unwrap() > 0, "{workers}");
    assert_eq!(workers[0]["busy_cycles"].as_u64(), Some(0), "{workers}");
    assert!(stdout(&dpctl(&daemon, &["stats", "clear"])).starts_with("counters cleared"));
    let flushed = stdout(&dpctl(
        &daemon,
        &["conntrack", "flush", "--tenant", "green"],
    ));
    assert_eq!(flushed, "0 connections flushed\n");
    let bad = dpctl(&daemon, &["conntrack", "flush", "--tenant", "nobody"]);
    assert_eq!(bad.status.code(), Some(1));
    let neighbours = stdout(&dpctl(&daemon, &["neighbours"]));
    assert_eq!(
        neighbours.split_whitespace().collect::<Vec<_>>(),
        ["IP", "MAC", "OWNER"]
    );
}

#[test]
fn trace_exits_1_when_the_packet_is_dropped() {
    let daemon = start();
    // TCP to the router's own address: the router answers no TCP.
    let dropped = dpctl(
        &daemon,
        &[
            "trace",
            "--from",
            "green-vm1",
            "--dst-ip",
            "10.0.0.1",
            "--protocol",
            "tcp",
            "--dport",
            "22",
        ],
    );
    let text = String::from_utf8_lossy(&dropped.stdout);
    assert_eq!(dropped.status.code(), Some(1), "{text}");
    assert!(text.contains("dropped: router_local"), "{text}");
    assert!(text.contains("\"green-vm1\""), "objects by name: {text}");
    // Nobody owns 10.0.1.99: the router's local services answer host unreachable,
    // shown as their stage's decision.
    let answered = dpctl(
        &daemon,
        &["trace", "--from", "green-vm1", "--dst-ip", "10.0.1.99"],
    );
    let text = String::from_utf8_lossy(&answered.stdout);
    assert_eq!(answered.status.code(), Some(0), "{text}");
    assert!(text.contains("local_service"), "{text}");
    assert!(
        text.contains("no such host: answered with icmp host unreachable"),
        "{text}"
    );
    let delivered = dpctl(
        &daemon,
        &["trace", "--from", "green-vm1", "--dst-ip", "10.0.0.6"],
    );
    assert_eq!(
        delivered.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&delivered.stdout)
    );
}
