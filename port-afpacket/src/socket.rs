//! A packet socket and the ring memory it shares with the kernel.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// ETH_P_ALL in network byte order: every protocol.
pub(crate) const ALL_PROTOCOLS: u16 = (libc::ETH_P_ALL as u16).to_be();

pub(crate) struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    /// A raw packet socket that receives nothing until bound with a protocol.
    pub(crate) fn new() -> io::Result<PacketSocket> {
        // SAFETY: plain socket creation; the descriptor is owned right below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor just returned by socket() and owned by nobody else.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub(crate) fn fd(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }

    pub(crate) fn set<T>(&self, option: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` is a live `T` of the size passed, read by the kernel only.
        let result = unsafe {
            libc::setsockopt(
                self.fd(),
                libc::SOL_PACKET,
                option,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn get<T: Default>(&self, option: libc::c_int) -> io::Result<T> {
        let mut value = T::default();
        let mut len = size_of::<T>() as libc::socklen_t;
        // SAFETY: `value` is a live `T` of `len` bytes the kernel writes at most.
        let result = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_PACKET,
                option,
                (&mut value as *mut T).cast(),
                &mut len,
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(value)
    }

    /// Binds to interface `ifindex` for `protocol` (network order; 0: receive nothing).
    pub(crate) fn bind(&self, ifindex: u32, protocol: u16) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = protocol;
        address.sll_ifindex = ifindex as i32;
        // SAFETY: the address is a live sockaddr_ll of the size passed.
        let result = unsafe {
            libc::bind(
                self.fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Maps the rings set on this socket (`len` bytes).
    pub(crate) fn map(&self, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of the socket's rings, owned by `Mapping`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                self.fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(ptr.cast()).expect("mmap does not return null on success"),
            len,
        })
    }
}

/// Ring memory shared with the kernel, unmapped on drop.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by one queue, which one worker uses at a time; the
// kernel's side of it is synchronised through the ring's status words.
unsafe impl Send for Mapping {}

impl Mapping {
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the region mmap returned, of that length, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The page size, which ring blocks are multiples of.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as usize
    } else {
        4096
    }
}
