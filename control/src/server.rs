//! Starting and stopping the control server.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::server::Router;
use tonic::transport::Server;

use super::instance::InstanceLock;
use super::metrics::{self, MetricsSource};
use super::proto::dataplane_server::DataplaneServer;
use super::proto::DESCRIPTOR;
use super::service::{ControlService, SharedState};
use super::state::ControlState;
use super::tls::ServerTlsFiles;

#[derive(Clone, Debug)]
pub struct ControlOptions {
    pub socket: PathBuf,
    /// Also listen on this TCP address, with mutual TLS (`tls` is then required).
    pub tcp: Option<SocketAddr>,
    /// The TCP listener's certificate, key and client CA.
    pub tls: Option<ServerTlsFiles>,
    /// The workers' cores: the control thread keeps off them.
    pub worker_cores: Vec<usize>,
    /// Serve Prometheus metrics on this address (`GET /metrics`).
    pub metrics: Option<SocketAddr>,
}

/// /run/dataplane/control.sock as root, $XDG_RUNTIME_DIR/dataplane/control.sock
/// otherwise (or /tmp/dataplane-UID/control.sock without XDG_RUNTIME_DIR).
pub fn default_socket_path() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/dataplane/control.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("dataplane/control.sock"),
        _ => PathBuf::from(format!("/tmp/dataplane-{uid}/control.sock")),
    }
}

pub struct ControlServer {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    socket: PathBuf,
    /// Released after the socket is removed.
    _instance: InstanceLock,
}

impl ControlServer {
    /// Takes the socket's instance lock and binds the socket(s) now (so a second
    /// daemon or a bad path fails here), then serves on a thread.
    pub fn start(options: &ControlOptions, state: ControlState) -> io::Result<ControlServer> {
        check_tcp(options)?;
        let instance = InstanceLock::acquire(&options.socket)?;
        ControlServer::start_locked(options, state, instance)
    }

    /// As `start`, with the socket's lock taken earlier (before the daemon opened its
    /// ports, so a second daemon touches nothing of the first's).
    pub fn start_locked(
        options: &ControlOptions,
        state: ControlState,
        instance: InstanceLock,
    ) -> io::Result<ControlServer> {
        ControlServer::start_shared(options, Arc::new(Mutex::new(state)), instance)
    }

    /// As `start_locked`, serving a state that the cloud agent changes too.
    pub fn start_shared(
        options: &ControlOptions,
        state: SharedState,
        instance: InstanceLock,
    ) -> io::Result<ControlServer> {
        let tcp = match (options.tcp, &options.tls) {
            (Some(address), Some(tls)) => {
                let config = tls.config()?;
                // Refuses a certificate or key that is not PEM now, not at the first
                // connection.
                let server = Server::builder().tls_config(config).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, tls_message(tls, e))
                })?;
                Some((bind_tcp(address)?, server))
            }
            _ => {
                check_tcp(options)?;
                None
            }
        };
        let unix = bind_unix(&options.socket)?;
        let metrics = match options.metrics {
            Some(address) => {
                let listener = std::net::TcpListener::bind(address).map_err(|error| {
                    io::Error::new(error.kind(), format!("--metrics {address}: {error}"))
                })?;
                listener.set_nonblocking(true)?;
                let state = state
                    .lock()
                    .map_err(|_| io::Error::other("control state poisoned"))?;
                let source = MetricsSource {
                    runtime: state.runtime().clone(),
                    port_names: state.file().ports.iter().map(|p| p.name.clone()).collect(),
                    cloud: state.cloud_status().cloned(),
                };
                tracing::info!(address = %listener.local_addr()?, "metrics endpoint at /metrics");
                Some((listener, Arc::new(source)))
            }
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let service = ControlService::shared(state);
        let worker_cores = options.worker_cores.clone();
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                keep_off_cores(&worker_cores);
                runtime.block_on(serve(service, unix, tcp, metrics, stopped));
            })?;
        Ok(ControlServer {
            stop: Some(stop),
            thread: Some(thread),
            socket: options.socket.clone(),
            _instance: instance,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops serving and removes the socket file.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// TCP carries the whole API: never without mutual TLS.
pub fn check_tcp(options: &ControlOptions) -> io::Result<()> {
    match (options.tcp, &options.tls) {
        (Some(address), None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--control-tcp {address}: the control API over TCP needs mutual TLS: give \
                 --control-tls-cert, --control-tls-key and --control-client-ca"
            ),
        )),
        (None, Some(_)) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--control-tls-cert, --control-tls-key, --control-client-ca: only for --control-tcp",
        )),
        _ => Ok(()),
    }
}

fn tls_message(tls: &ServerTlsFiles, error: impl std::fmt::Display) -> String {
    format!(
        "--control-tls-cert {}, --control-tls-key {}, --control-client-ca {}: {error}",
        tls.cert.display(),
        tls.key.display(),
        tls.client_ca.display()
    )
}

async fn serve(
    service: ControlService,
    unix: std::os::unix::net::UnixListener,
    tcp: Option<(std::net::TcpListener, Server)>,
    metrics: Option<(std::net::TcpListener, Arc<MetricsSource>)>,
    stopped: oneshot::Receiver<()>,
) {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DataplaneServer<ControlService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTOR)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the embedded descriptors are valid");
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTOR)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("the embedded descriptors are valid");
    let dataplane = DataplaneServer::new(service);
    let with_services = |mut server: Server| -> Router {
        server
            .add_service(health_service.clone())
            .add_service(reflection.clone())
            .add_service(reflection_alpha.clone())
            .add_service(dataplane.clone())
    };
    let router = with_services(Server::builder());
    let tcp = tcp.map(|(listener, server)| (listener, with_services(server)));
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stop_all = stop_tx.clone();
    tokio::spawn(async move {
        let _ = stopped.await;
        let _ = stop_all.send(());
    });
    if let Some((listener, source)) = metrics {
        tokio::spawn(metrics::serve(listener, source, stop_tx.subscribe()));
    }
    let unix = match tokio::net::UnixListener::from_std(unix) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("control socket: {error}");
            return;
        }
    };
    let mut stop_unix = stop_tx.subscribe();
    let on_unix = router.serve_with_incoming_shutdown(UnixListenerStream::new(unix), async move {
        let _ = stop_unix.recv().await;
    });
    let on_tcp = async {
        let Some((tcp, tls_router)) = tcp else {
            return Ok(());
        };
        let Ok(tcp) = tokio::net::TcpListener::from_std(tcp) else {
            return Ok(());
        };
        let mut stop_tcp = stop_tx.subscribe();
        tls_router
            .serve_with_incoming_shutdown(TcpListenerStream::new(tcp), async move {
                let _ = stop_tcp.recv().await;
            })
            .await
    };
    // Graceful stop waits for open connections; a client that never hangs up gets
    // one second.
    let mut stop_wait = stop_tx.subscribe();
    let grace = async move {
        let _ = stop_wait.recv().await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    tokio::select! {
        (unix_result, tcp_result) = async { tokio::join!(on_unix, on_tcp) } => {
            for error in [unix_result.err(), tcp_result.err()].into_iter().flatten() {
                tracing::error!("control server: {error}");
            }
        }
        () = grace => {}
    }
}

/// Creates the parent directory, replaces a stale socket (never another kind of file),
/// binds, and sets mode 0660.
fn bind_unix(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    let context = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("control socket {}: {error}", path.display()),
        )
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(context)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(context)?,
        Ok(_) => {
            return Err(context(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            )))
        }
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(context)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(context)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn bind_tcp(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let context = |error: io::Error| {
        io::Error::new(error.kind(), format!("--control-tcp {address}: {error}"))
    };
    let listener = std::net::TcpListener::bind(address).map_err(context)?;
    listener.set_nonblocking(true).map_err(context)?;
    Ok(listener)
}

/// Pins the calling thread to every core but the workers' (when any are left).
fn keep_off_cores(worker_cores: &[usize]) {
    if worker_cores.is_empty() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let others: Vec<usize> = (0..cores.min(libc::CPU_SETSIZE as usize))
        .filter(|c| !worker_cores.contains(c))
        .collect();
    if others.is_empty() {
        return;
    }
    // SAFETY: cpu_set_t is plain data and all-zero is the empty set; every core is
    // below CPU_SETSIZE (filtered above); sched_setaffinity(0, ..) reads the set for
    // the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for core in others {
            libc::CPU_SET(core, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
