//! An idle dataplane backs off instead of spinning. Alone in its test binary, so
//! that the process's CPU time is the idle workers' only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dataplane::pipeline::tables::ForwardingTables;
use dataplane::port::memory::MemoryPort;
use dataplane::runtime::{Runtime, RuntimeConfig};
use dataplane::topology::Topology;

const TOPOLOGY: &str = r#"
[node]
name = "compute-1"

[[ports]]
name = "vm1"
driver = "pcap"

[[ports]]
name = "vm2"
driver = "pcap"
"#;

fn start() -> Runtime {
    let topology = Topology::from_toml_str(TOPOLOGY).unwrap();
    let ports = topology
        .ports
        .iter()
        .enumerate()
        .map(|(id, port)| MemoryPort::open(id as u16, &port.name, 64).0)
        .collect();
    let config = RuntimeConfig {
        workers: 2,
        ..RuntimeConfig::default()
    };
    Runtime::start(config, Arc::new(ForwardingTables::build(&topology)), ports).unwrap()
}

/// CPU time (user + system) of this process so far, from /proc.
fn process_cpu_time() -> Duration {
    let stat = std::fs::read_to_string(Path::new("/proc/self/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[test]
fn an_idle_dataplane_backs_off() {
    let runtime = start();
    std::thread::sleep(Duration::from_millis(200));
    let before = process_cpu_time();
    std::thread::sleep(Duration::from_secs(1));
    let used = process_cpu_time() - before;
    runtime.shutdown().unwrap();
    // Two busy-polling workers would burn about two seconds of CPU here.
    assert!(
        used < Duration::from_millis(500),
        "idle workers used {used:?} of CPU in 1 s"
    );
}
