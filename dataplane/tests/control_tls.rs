//! The control API over TCP takes only clients with a certificate from the CA it is
//! given (mutual TLS); without TLS the TCP listener is refused at start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dataplane::control::proto::{dataplane_client::DataplaneClient, Empty};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

struct Pem {
    cert: PathBuf,
    key: PathBuf,
}

/// A CA, and certificates it signs, written as PEM files into `dir`.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    cert: PathBuf,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let cert = dir.join(format!("{name}.pem"));
        std::fs::write(&cert, issuer.pem()).unwrap();
        Ca { issuer, cert }
    }

    fn sign(&self, dir: &Path, name: &str, names: &[&str]) -> Pem {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let pem = Pem {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&pem.cert, cert.pem()).unwrap();
        std::fs::write(&pem.key, key.serialize_pem()).unwrap();
        pem
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control.toml")
}

fn dpctl(address: &str, client: &Pem, ca: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .args(["--tcp", address, "--tls-cert"])
        .arg(&client.cert)
        .arg("--tls-key")
        .arg(&client.key)
        .arg("--tls-ca")
        .arg(ca)
        .args(["network", "list"])
        .output()
        .unwrap()
}

/// A get_node over TLS presenting `identity` (or no certificate).
fn get_node(address: &str, ca: &Path, identity: Option<&Pem>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut tls = ClientTlsConfig::new()
            .domain_name("localhost")
            .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
        if let Some(pem) = identity {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(&pem.cert).unwrap(),
                std::fs::read(&pem.key).unwrap(),
            ));
        }
        let channel = Endpoint::try_from(format!("https://{address}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        DataplaneClient::new(channel)
            .get_node(Empty {})
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

#[test]
fn only_clients_with_a_certificate_from_the_client_ca_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_ca = Ca::new(d, "server-ca");
    let client_ca = Ca::new(d, "client-ca");
    let rogue_ca = Ca::new(d, "rogue-ca");
    let server = server_ca.sign(d, "server", &["localhost", "127.0.0.1"]);
    let operator = client_ca.sign(d, "operator", &["operator"]);
    let intruder = rogue_ca.sign(d, "intruder", &["operator"]);
    let address = format!("127.0.0.1:{}", free_port());

    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_dataplane"))
            .args(["run", "--workers", "1", "--config"])
            .arg(config())
            .arg("--control-socket")
            .arg(d.join("control.sock"))
            .args(["--control-tcp", &address, "--control-tls-cert"])
            .arg(&server.cert)
            .arg("--control-tls-key")
            .arg(&server.key)
            .arg("--control-client-ca")
            .arg(&client_ca.cert)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline, "the daemon listens on {address}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let good = dpctl(&address, &operator, &server_ca.cert);
    let listing = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(listing.contains("green-net"), "{listing}");
    assert_eq!(get_node(&address, &server_ca.cert, Some(&operator)), Ok(()));

    let without = get_node(&address, &server_ca.cert, None);
    assert!(
        without.is_err(),
        "a client without a certificate is refused"
    );
    let wrong_ca = get_node(&address, &server_ca.cert, Some(&intruder));
    assert!(
        wrong_ca.is_err(),
        "a certificate from another CA is refused"
    );
    let bad = dpctl(&address, &intruder, &server_ca.cert);
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());

    // Plain HTTP/2 on the TLS port gets nowhere.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = runtime.block_on(async {
        let channel = Endpoint::try_from(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        DataplaneClient::new(channel)
            .get_node(Empty {})
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    assert!(plain.is_err());
}

#[test]
fn a_tcp_listener_without_tls_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dataplane"))
        .args(["run", "--workers", "1", "--config"])
        .arg(config())
        .arg("--control-socket")
        .arg(dir.path().join("control.sock"))
        .args(["--control-tcp", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--control-tls-cert"), "{message}");
    assert!(!dir.path().join("control.sock").exists());
}

#[test]
fn the_library_refuses_tcp_without_tls_too() {
    let options = dataplane::control::ControlOptions {
        socket: PathBuf::from("/nonexistent/control.sock"),
        tcp: Some("0.0.0.0:50051".parse().unwrap()),
        tls: None,
        metrics: None,
        worker_cores: Vec::new(),
    };
    let error = dataplane::control::check_tcp(&options)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("--control-tcp 0.0.0.0:50051: the control API over TCP needs mutual TLS"),
        "{error}"
    );
}
