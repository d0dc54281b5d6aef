//! One daemon per control socket: a lock file beside the socket, held with `flock`
//! for the daemon's life and holding its PID, so a second daemon refuses to start
//! (and says which process holds the socket) instead of taking the socket over.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Held while the daemon serves the socket; the kernel releases it when the process
/// ends, however it ends, so a crashed daemon never blocks the next one.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

/// `SOCKET.lock`: beside the socket, so two daemons on different sockets never meet.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl InstanceLock {
    /// Takes the lock of `socket` and writes this process's PID into it; refuses,
    /// naming the holder's PID, when another process holds it.
    pub fn acquire(socket: &Path) -> io::Result<InstanceLock> {
        let path = lock_path(socket);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("control socket {}: {e}", socket.display()),
                )
            })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("control socket lock {}: {e}", path.display()),
                )
            })?;
        // SAFETY: the descriptor is open (owned by `file`) for the duration of the call.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io::Error::new(
                    error.kind(),
                    format!("{}: {error}", path.display()),
                ));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_owned(),
                pid => format!("the dataplane with PID {pid}"),
            };
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "control socket {} is served by {holder} (lock {}); stop it or give \
                     --control-socket another path",
                    socket.display(),
                    path.display()
                ),
            ));
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(InstanceLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        let first = InstanceLock::acquire(&socket).unwrap();
        let error = InstanceLock::acquire(&socket).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        let message = error.to_string();
        assert!(
            message.contains(&format!("PID {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("control.sock"), "{message}");
        drop(first);
        // Released with its holder: the next daemon starts.
        InstanceLock::acquire(&socket).unwrap();
    }

    #[test]
    fn a_lock_left_by_an_ended_process_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        std::fs::write(lock_path(&socket), "999999\n").unwrap();
        let lock = InstanceLock::acquire(&socket).unwrap();
        let pid = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
    }
}
