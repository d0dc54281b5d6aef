//! The daemon driven by a client that is not ours: tests/python/client.py (grpcio,
//! stubs generated from control/proto/dataplane.proto at run time) against `dataplane run`.
//! Needs `pip install -r dataplane/tests/python/requirements.txt` (scripts/test does it).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn python_grpcio_client_drives_the_daemon() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let socket = work.path().join("control.sock");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_dataplane"))
        .args(["run", "--workers", "1", "--config"])
        .arg(manifest.join("tests/data/control.toml"))
        .arg("--control-socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = Command::new("python3")
        .arg(manifest.join("tests/python/client.py"))
        .arg(manifest.join("../control/proto"))
        .arg(&socket)
        .output()
        .expect("python3 runs");
    let _ = Command::new("kill")
        .args(["-INT", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    assert!(
        output.status.success(),
        "client.py failed (pip install -r dataplane/tests/python/requirements.txt?)\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
