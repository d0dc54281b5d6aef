//! Mutual TLS for the control API over TCP: the server presents its certificate and
//! accepts only clients whose certificate a given CA signed; dpctl presents its own.
//! The files are PEM, read at start so that a missing or bad one stops the start.

use std::io;
use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The server's side: `--control-tls-cert`, `--control-tls-key`, `--control-client-ca`.
#[derive(Clone, Debug)]
pub struct ServerTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate this CA signed.
    pub client_ca: PathBuf,
}

/// The client's side: `--tls-cert`, `--tls-key`, `--tls-ca` (the server's CA).
#[derive(Clone, Debug)]
pub struct ClientTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

fn read(option: &str, path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{option} {}: {e}", path.display())))
}

impl ServerTlsFiles {
    pub fn config(&self) -> io::Result<ServerTlsConfig> {
        let cert = read("--control-tls-cert", &self.cert)?;
        let key = read("--control-tls-key", &self.key)?;
        let client_ca = read("--control-client-ca", &self.client_ca)?;
        Ok(ServerTlsConfig::new()
            .identity(Identity::from_pem(cert, key))
            .client_ca_root(Certificate::from_pem(client_ca)))
    }
}

impl ClientTlsFiles {
    /// `domain` is the name the server's certificate must carry (a DNS name or IP).
    pub fn config(&self, domain: &str) -> io::Result<ClientTlsConfig> {
        let cert = read("--tls-cert", &self.cert)?;
        let key = read("--tls-key", &self.key)?;
        let ca = read("--tls-ca", &self.ca)?;
        Ok(ClientTlsConfig::new()
            .domain_name(domain)
            .ca_certificate(Certificate::from_pem(ca))
            .identity(Identity::from_pem(cert, key)))
    }
}
