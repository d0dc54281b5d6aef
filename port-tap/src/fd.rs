//! One queue of a TAP interface: a file descriptor of /dev/net/tun attached to it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use port_netdev::{explain, Interface};

use crate::NEEDS;

const TUN: &str = "/dev/net/tun";

pub(crate) struct TapFd {
    file: File,
}

impl TapFd {
    /// Attaches a new queue to the TAP interface `ifname`, creating it when missing.
    pub(crate) fn open(ifname: &str) -> io::Result<TapFd> {
        if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ || ifname.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ifname: \"{ifname}\" is not an interface name"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN)
            .map_err(|e| explain(&format!("ifname: opening {TUN}"), NEEDS, e))?;
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (to, from) in request.ifr_name.iter_mut().zip(ifname.bytes()) {
            *to = from as libc::c_char;
        }
        request.ifr_ifru.ifru_flags =
            (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes the ifreq passed, which lives across the
        // call.
        let result = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request) };
        if result < 0 {
            let error = io::Error::last_os_error();
            return Err(match error.raw_os_error() {
                Some(libc::EINVAL) => io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "ifname: \"{ifname}\" exists and is not a multi-queue TAP interface: {error}"
                    ),
                ),
                _ => explain(&format!("ifname: \"{ifname}\": attaching a queue"), NEEDS, error),
            });
        }
        Ok(TapFd { file })
    }

    /// What `open` would refuse, found without creating or attaching anything: an
    /// interface of that name that is no TAP, or no access to /dev/net/tun.
    pub(crate) fn check(ifname: &str) -> io::Result<()> {
        if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ || ifname.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ifname: \"{ifname}\" is not an interface name"),
            ));
        }
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(TUN)
            .map_err(|e| explain(&format!("ifname: opening {TUN}"), NEEDS, e))?;
        if let Ok(interface) = Interface::lookup(ifname) {
            let kind = std::fs::read_to_string(format!("/sys/class/net/{ifname}/tun_flags"));
            let is_tap = kind
                .ok()
                .and_then(|flags| {
                    i64::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()
                })
                .is_some_and(|flags| flags & i64::from(libc::IFF_TAP) != 0);
            if !is_tap {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "ifname: \"{}\" exists and is not a TAP interface",
                        interface.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// One frame into `buf`; `WouldBlock` when none is waiting.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// One frame from `frame`; `WouldBlock` when the kernel's queue is full.
    pub(crate) fn write(&self, frame: &[u8]) -> io::Result<usize> {
        (&self.file).write(frame)
    }
}
