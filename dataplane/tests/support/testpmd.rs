//! DPDK's testpmd as the VM side of vhost-user ports (virtio-user), driven through
//! its interactive prompt on stdin, and the dataplane daemon it talks to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// testpmd with one virtio-user port per `(socket, mac, server)`.
pub struct Testpmd {
    child: Child,
    stdin: ChildStdin,
    log: PathBuf,
    prefix: String,
}

/// A port's counters as testpmd shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub rx: u64,
    pub tx: u64,
}

impl Testpmd {
    /// Starts testpmd (no huge pages: its memory is memfd-backed, which virtio-user
    /// shares with the backend) with `extra` application options.
    pub fn start(dir: &Path, name: &str, ports: &[(&Path, &str, bool)], extra: &[&str]) -> Self {
        Testpmd::start_with(dir, name, ports, "", extra)
    }

    /// As `start`, with `vdev_args` added to every virtio-user device.
    pub fn start_with(
        dir: &Path,
        name: &str,
        ports: &[(&Path, &str, bool)],
        vdev_args: &str,
        extra: &[&str],
    ) -> Self {
        let prefix = format!("dpvh-{}-{name}", std::process::id());
        let log = dir.join(format!("testpmd-{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        // Unbuffered, so that answers reach the log while testpmd runs.
        let mut command = Command::new("stdbuf");
        command.args(["-o0", "-e0", "dpdk-testpmd"]);
        command.args([
            "-l",
            "0,1",
            "--no-pci",
            "--no-huge",
            "-m",
            "256",
            "--file-prefix",
            &prefix,
        ]);
        for (index, (socket, mac, server)) in ports.iter().enumerate() {
            let mut vdev = format!(
                "net_virtio_user{index},path={},mac={mac},server={}",
                socket.display(),
                u8::from(*server)
            );
            if !vdev_args.is_empty() {
                vdev = format!("{vdev},{vdev_args}");
            }
            command.arg("--vdev").arg(vdev);
        }
        command
            .args(["--", "-i", "--total-num-mbufs=4096"])
            .args(extra);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("dpdk-testpmd runs (scripts/test installs the dpdk-dev package)");
        let stdin = child.stdin.take().unwrap();
        Testpmd {
            child,
            stdin,
            log,
            prefix,
        }
    }

    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asks for the port counters and returns them once printed.
    pub fn port_counters(&mut self, ports: usize) -> Vec<PortCounters> {
        let before = self.log().matches("NIC statistics for port").count();
        self.command("show port stats all");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            let blocks: Vec<&str> = log.split("NIC statistics for port").collect();
            if blocks.len() > before + ports {
                // The last `ports` blocks are this answer, in port order.
                let answer = &blocks[blocks.len() - ports..];
                if answer.iter().all(|block| block.contains("TX-packets:")) {
                    return answer
                        .iter()
                        .map(|block| PortCounters {
                            rx: counter(block, "RX-packets:"),
                            tx: counter(block, "TX-packets:"),
                        })
                        .collect();
                }
            }
            assert!(Instant::now() < deadline, "testpmd shows no stats:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every listed port received at least `at_least` frames; false at
    /// the deadline.
    pub fn wait_received(
        &mut self,
        ports: usize,
        want: &[(usize, u64)],
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let counters = self.port_counters(ports);
            if want
                .iter()
                .all(|&(port, at_least)| counters[port].rx >= at_least)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    }

    /// Kills testpmd as a crashing VM dies: no goodbye to the backend.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn counter(block: &str, name: &str) -> u64 {
    block
        .split(name)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {block}"))
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
    }
}

/// `dataplane run` over a topology, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, topology: &str, workers: usize) -> Self {
        let config = dir.join("topology.toml");
        std::fs::write(&config, topology).unwrap();
        let log = dir.join("dataplane.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = crate::support::dataplane()
            .args([
                "run",
                "--json",
                "--workers",
                &workers.to_string(),
                "--config",
            ])
            .arg(&config)
            .arg("--control-socket")
            .arg(dir.join("control.sock"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `needle` at least `count` times.
    pub fn wait_log(&mut self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the dataplane exited:\n{log}"
            );
            assert!(
                Instant::now() < deadline,
                "no {needle:?} x{count} in:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM first so it drains; SIGKILL if it does not end.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
