//! The message thread: in server mode it listens on the socket and serves one
//! frontend at a time, accepting the next when one leaves; in client mode it connects
//! to the frontend's socket and connects again, with backoff, whenever the frontend
//! goes away (a VM restart), as OVS's dpdkvhostuserclient does. Between messages it
//! checks whether the port is being closed.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vhost::vhost_user::{BackendReqHandler, Error, Listener};

use crate::backend::Backend;
use crate::device::Device;

/// How often the thread looks at the stop flag while waiting.
const POLL_INTERVAL_MS: i32 = 100;
/// Client mode: the first and the longest wait between connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The two messages the vhost crate does not handle: answered here, ahead of it.
const SET_STATUS: u32 = 39;
const GET_STATUS: u32 = 40;
/// Header flags: protocol version 1, reply, reply wanted.
const VERSION: u32 = 0x1;
const REPLY: u32 = 0x4;
const NEED_REPLY: u32 = 0x8;
const HEADER_LEN: usize = 12;

pub fn serve_listener(device: Arc<Device>, listener: Listener, path: PathBuf) {
    while !device.stopping() {
        match wait_readable(listener.as_raw_fd()) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(error) => {
                tracing::error!(port = %device.name, %error, "vhost-user socket failed");
                break;
            }
        }
        match listener.accept() {
            Ok(Some(stream)) => serve(&device, stream),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(port = %device.name, %error, "vhost-user accept failed");
                std::thread::sleep(BACKOFF_MIN);
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

pub fn serve_client(device: Arc<Device>, path: PathBuf) {
    let mut backoff = BACKOFF_MIN;
    let mut announced = false;
    while !device.stopping() {
        match UnixStream::connect(&path) {
            Ok(stream) => {
                backoff = BACKOFF_MIN;
                announced = false;
                serve(&device, stream);
            }
            Err(error) => {
                if !announced {
                    tracing::info!(port = %device.name, socket = %path.display(), %error, "vhost-user frontend not there yet; retrying");
                    announced = true;
                }
                sleep_unless_stopped(&device, backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn sleep_unless_stopped(device: &Device, duration: Duration) {
    let step = Duration::from_millis(POLL_INTERVAL_MS as u64);
    let mut left = duration;
    while !left.is_zero() && !device.stopping() {
        let nap = left.min(step);
        std::thread::sleep(nap);
        left -= nap;
    }
}

/// Serves one frontend until it leaves (or the port closes), then stops its rings.
fn serve(device: &Arc<Device>, stream: UnixStream) {
    let session = device.sessions.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::info!(port = %device.name, session, "vhost-user frontend connected");
    let backend = Arc::new(Mutex::new(Backend::new(Arc::clone(device))));
    let mut side = match stream.try_clone() {
        Ok(side) => side,
        Err(error) => {
            tracing::warn!(port = %device.name, %error, "vhost-user connection unusable");
            return;
        }
    };
    let mut handler = BackendReqHandler::from_stream(stream, Arc::clone(&backend));
    device.connected.store(true, Ordering::Relaxed);
    let fd = side.as_raw_fd();
    while !device.stopping() {
        match wait_readable(fd) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => break,
        }
        let result = match peek_request(fd) {
            Ok(Some(code)) if code == SET_STATUS || code == GET_STATUS => {
                answer_status(&mut side, &backend).map_err(Error::SocketError)
            }
            Ok(None) => break,
            Ok(Some(_)) => handler.handle_request(),
            Err(error) => Err(Error::SocketError(error)),
        };
        match result {
            Ok(()) => {}
            Err(
                Error::Disconnected
                | Error::PartialMessage
                | Error::SocketBroken(_)
                | Error::SocketError(_),
            ) => break,
            Err(error) => {
                // A message this port refuses: the frontend is told (when it asked
                // for an answer) and the session goes on.
                tracing::warn!(port = %device.name, %error, "vhost-user message refused");
            }
        }
    }
    device.connected.store(false, Ordering::Relaxed);
    lock(&backend).reset();
    tracing::info!(port = %device.name, session, "vhost-user frontend disconnected");
}

fn lock(backend: &Mutex<Backend>) -> std::sync::MutexGuard<'_, Backend> {
    backend
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits up to the poll interval for `fd` to be readable (or hung up).
fn wait_readable(fd: RawFd) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pollfd` is a valid array of one element for the duration of the call.
    let ready = unsafe { libc::poll(&mut pollfd, 1, POLL_INTERVAL_MS) };
    match ready {
        -1 => {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(error)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// The request code of the next message, without taking it off the socket; none
/// when the frontend hung up.
fn peek_request(fd: RawFd) -> io::Result<Option<u32>> {
    let mut header = [0u8; HEADER_LEN];
    loop {
        // SAFETY: `header` is writable for its whole length; MSG_PEEK leaves the
        // message (and any file descriptors with it) on the socket.
        let got =
            unsafe { libc::recv(fd, header.as_mut_ptr().cast(), header.len(), libc::MSG_PEEK) };
        match got {
            0 => return Ok(None),
            n if n < 0 => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            n if (n as usize) < HEADER_LEN => {
                // A header still arriving: wait for the rest.
                if !wait_readable(fd)? {
                    continue;
                }
            }
            _ => return Ok(Some(u32::from_le_bytes(header[..4].try_into().unwrap()))),
        }
    }
}

/// SET_STATUS and GET_STATUS (protocol feature STATUS): the device status byte the
/// driver writes and reads back.
fn answer_status(stream: &mut UnixStream, backend: &Mutex<Backend>) -> io::Result<()> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header)?;
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    let (code, flags, size) = (word(0), word(4), word(8) as usize);
    if size > 64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "oversized status message",
        ));
    }
    let mut body = [0u8; 64];
    stream.read_exact(&mut body[..size])?;
    let reply = |value: u64| {
        let mut out = [0u8; HEADER_LEN + 8];
        out[..4].copy_from_slice(&code.to_le_bytes());
        out[4..8].copy_from_slice(&(VERSION | REPLY).to_le_bytes());
        out[8..12].copy_from_slice(&8u32.to_le_bytes());
        out[12..].copy_from_slice(&value.to_le_bytes());
        out
    };
    if code == GET_STATUS {
        let status = lock(backend).status;
        return stream.write_all(&reply(u64::from(status)));
    }
    let ok = size == 8;
    if ok {
        lock(backend).status = body[0];
        tracing::debug!(status = body[0], "vhost-user device status set");
    }
    if flags & NEED_REPLY != 0 {
        stream.write_all(&reply(u64::from(!ok)))?;
    }
    Ok(())
}

/// Binds the server socket now, so that a path that cannot be used is an error of
/// opening the port. A socket left at the path by an earlier run is replaced;
/// anything else there is refused, never removed.
pub fn bind(path: &Path) -> io::Result<Listener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let listener = UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    Ok(Listener::from(listener))
}
