//! Connecting to the control socket (for dpctl and the tests).

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::proto::dataplane_client::DataplaneClient;

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
