//! Connecting to the control socket (for dpctl and the tests).

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::proto::dataplane_client::DataplaneClient;
pub use super::tls::ClientTlsFiles;

/// A client over the Unix socket at `path`.
pub async fn connect(path: PathBuf) -> Result<DataplaneClient<Channel>, tonic::transport::Error> {
    // The URI is required by the API but unused: the connector dials the socket.
    let channel = Endpoint::try_from("http://[::1]:50051")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await?;
    Ok(DataplaneClient::new(channel).max_decoding_message_size(64 << 20))
}

/// Why a TCP connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TcpConnectError {
    #[error("{0}")]
    Files(#[from] std::io::Error),
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A client over TCP at `address` (HOST:PORT) with mutual TLS: it checks the server's
/// certificate against `tls.ca` for `domain` (default: HOST) and presents its own.
pub async fn connect_tcp(
    address: &str,
    tls: &super::tls::ClientTlsFiles,
    domain: Option<&str>,
) -> Result<DataplaneClient<Channel>, TcpConnectError> {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let config = tls.config(domain.unwrap_or(host))?;
    let channel = Endpoint::try_from(format!("https://{address}"))?
        .tls_config(config)?
        .connect()
        .await?;
    Ok(DataplaneClient::new(channel).max_decoding_message_size(64 << 20))
}
