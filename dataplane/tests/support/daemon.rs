//! `dataplane run` as a child process, for tests that drive real ports.

use std::path::Path;
use std::process::{Child, Stdio};

use super::dataplane;

/// The daemon, killed if the test ends without stopping it.
pub struct Daemon(Option<Child>);

impl Daemon {
    pub fn start(config: &Path, workers: u16) -> Daemon {
        Daemon::start_with(dataplane(), config, workers)
    }

    /// `command` runs the dataplane binary (perhaps inside a namespace).
    pub fn start_with(mut command: std::process::Command, config: &Path, workers: u16) -> Daemon {
        let child = command
            .args(["run", "--json", "--no-control", "--workers"])
            .arg(workers.to_string())
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Daemon(Some(child))
    }

    /// SIGTERM, then the final report.
    pub fn stop(mut self) -> serde_json::Value {
        let child = self.0.take().unwrap();
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
