//! An etcd server for the tests: on loopback (and any extra addresses a test gives),
//! free ports, its data in a temporary directory, killed when dropped.

use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloud_config::cloud_file::CloudFile;
use etcd_client::{Client, Txn, TxnOp};

pub const PREFIX: &str = "/cloud";

/// The tests' own etcd clients live on this runtime (a client's connection is
/// driven by the runtime that made it).
static CLIENTS: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
});

pub fn block<F: Future>(future: F) -> F::Output {
    CLIENTS.block_on(future)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An etcd server on loopback; killed when dropped.
pub struct Etcd {
    extra: Vec<String>,
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

impl Etcd {
    pub fn start() -> Etcd {
        Etcd::start_on(&[])
    }

    /// Also listening on `addresses` (of namespaces the test made).
    pub fn start_on(addresses: &[&str]) -> Etcd {
        let mut etcd = Etcd {
            extra: addresses.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
        };
        etcd.spawn();
        etcd
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn spawn(&mut self) {
        let client = self.endpoint();
        let listen: Vec<String> = std::iter::once(client.clone())
            .chain(
                self.extra
                    .iter()
                    .map(|a| format!("http://{a}:{}", self.client_port)),
            )
            .collect();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let child = Command::new("etcd")
            .args(["--name", "test", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &listen.join(",")])
            .args(["--advertise-client-urls", &client])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("test={peer}")])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd (Debian's etcd-server) is installed");
        self.child = Some(child);
        let endpoint = self.endpoint();
        let ready = wait_until(Duration::from_secs(20), || {
            block(async {
                let Ok(mut client) = Client::connect([endpoint.as_str()], None).await else {
                    return false;
                };
                client.get("probe", None).await.is_ok()
            })
        });
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        assert!(ready, "etcd did not start: {log}");
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn client(&self) -> Client {
        let endpoint = self.endpoint();
        block(async { Client::connect([endpoint.as_str()], None).await.unwrap() })
    }

    pub fn apply(&self, cloud: &str) -> i64 {
        let objects = CloudFile::parse(cloud).unwrap().checked_objects().unwrap();
        let mut client = self.client();
        block(cloud_config::nodes::apply(&mut client, PREFIX, &objects))
            .unwrap()
            .revision
    }

    /// Writes raw key values in one transaction.
    pub fn put_all(&self, entries: &[(&str, &str)]) {
        let mut client = self.client();
        let ops: Vec<TxnOp> = entries
            .iter()
            .map(|(key, value)| TxnOp::put(*key, *value, None))
            .collect();
        block(client.txn(Txn::new().and_then(ops))).unwrap();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// A node's registration as its agent writes it.
pub fn registration(node: &str, vtep: &str, mac: &str) -> String {
    format!(r#"{{"name":"{node}","vtep_ip":"{vtep}","mac":"{mac}","version":"test"}}"#)
}
