//! Kernel network interfaces as the kernel-socket ports (AF_PACKET, TAP, AF_XDP) see
//! them: found by name, their link read by the control thread (never per packet), and
//! brought up. Interface ioctls on a throwaway datagram socket: a handful of calls,
//! where a netlink library would bring an async runtime for the same two flags.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use port::{Capabilities, LinkState, PortInfo, PortStats};

#[cfg(feature = "testing")]
pub mod testing;

/// A kernel interface, by name and index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    name: String,
    index: u32,
}

impl Interface {
    /// The interface called `name`; the error says `ifname: no interface "NAME"` when
    /// there is none (a port's error names its field).
    pub fn lookup(name: &str) -> io::Result<Interface> {
        let invalid = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ifname: \"{name}\" is not an interface name"),
            )
        };
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(invalid());
        }
        let c_name = CString::new(name).map_err(|_| invalid())?;
        // SAFETY: a NUL-terminated string that lives across the call.
        let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
        if index == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("ifname: no interface \"{name}\""),
            ));
        }
        Ok(Interface {
            name: name.to_owned(),
            index,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// True for an Ethernet interface (the ports carry Ethernet frames).
    pub fn is_ethernet(&self) -> io::Result<bool> {
        let request = self.ioctl(libc::SIOCGIFHWADDR, None)?;
        // SAFETY: SIOCGIFHWADDR filled the hardware-address member of the union.
        let family = unsafe { request.ifr_ifru.ifru_hwaddr.sa_family };
        Ok(family == libc::ARPHRD_ETHER)
    }

    /// The interface's MTU (bytes of IP packet, the Ethernet header not included).
    pub fn mtu(&self) -> io::Result<u32> {
        let request = self.ioctl(libc::SIOCGIFMTU, None)?;
        // SAFETY: SIOCGIFMTU filled the MTU member of the union.
        Ok(unsafe { request.ifr_ifru.ifru_mtu }.max(0) as u32)
    }

    fn flags(&self) -> io::Result<libc::c_int> {
        let request = self.ioctl(libc::SIOCGIFFLAGS, None)?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union. The flags are
        // 16 bits wide in this call; read as unsigned so IFF_ bits keep their value.
        Ok(unsafe { request.ifr_ifru.ifru_flags } as u16 as libc::c_int)
    }

    /// Sets the interface administratively up (the link then follows its carrier).
    pub fn set_up(&self) -> io::Result<()> {
        let flags = self.flags()?;
        if flags & libc::IFF_UP != 0 {
            return Ok(());
        }
        self.ioctl(
            libc::SIOCSIFFLAGS,
            Some((flags | libc::IFF_UP) as libc::c_short),
        )
        .map(drop)
    }

    /// Up when administratively up and running (carrier); the speed from sysfs when
    /// the driver reports one. Read by the control thread.
    pub fn link(&self) -> LinkState {
        let up = self
            .flags()
            .is_ok_and(|f| f & libc::IFF_UP != 0 && f & libc::IFF_RUNNING != 0);
        let speed_mbps = std::fs::read_to_string(format!("/sys/class/net/{}/speed", self.name))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|&s| s > 0)
            .map_or(0, |s| s.min(i64::from(u32::MAX)) as u32);
        LinkState { up, speed_mbps }
    }

    fn ioctl(
        &self,
        request: libc::c_ulong,
        flags: Option<libc::c_short>,
    ) -> io::Result<libc::ifreq> {
        // SAFETY: plain socket creation; the descriptor is owned right below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor just returned by socket() and owned by nobody else.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut ifreq: libc::ifreq = unsafe { std::mem::zeroed() };
        for (to, from) in ifreq.ifr_name.iter_mut().zip(self.name.bytes()) {
            *to = from as libc::c_char;
        }
        if let Some(flags) = flags {
            ifreq.ifr_ifru.ifru_flags = flags;
        }
        // SAFETY: the request is one of the interface ioctls, which read and write
        // only the ifreq passed, which lives across the call.
        let result = unsafe { libc::ioctl(socket.as_raw_fd(), request as _, &mut ifreq) };
        if result < 0 {
            let error = io::Error::last_os_error();
            return Err(io::Error::new(
                error.kind(),
                format!("ifname: interface \"{}\": {error}", self.name),
            ));
        }
        Ok(ifreq)
    }
}

/// How to open a kernel-interface port.
#[derive(Clone, Debug)]
pub struct InterfaceConfig {
    pub ifname: String,
    /// Receive and transmit queues, at least 1.
    pub queues: u16,
    /// The largest frame taken or given, Ethernet header (and a VLAN tag) included.
    pub max_frame: u32,
}

/// A kernel-interface port as the control plane sees it: name, capabilities and
/// statistics, and its link read from the interface.
pub struct InterfacePortInfo {
    pub name: String,
    pub capabilities: Capabilities,
    pub stats: PortStats,
    pub interface: Interface,
}

impl InterfacePortInfo {
    /// Port `name` on `interface`, with `queues` queues each way; `hashes_flows` when
    /// the kernel spreads flows over them symmetrically.
    pub fn new(
        name: &str,
        interface: Interface,
        queues: u16,
        max_frame: u32,
        hashes_flows: bool,
    ) -> Self {
        InterfacePortInfo {
            name: name.to_owned(),
            capabilities: Capabilities {
                rx_queues: queues,
                tx_queues: queues,
                max_frame,
                hashes_flows,
                rx_checksum: false,
            },
            stats: PortStats::new(queues.into(), queues.into()),
            interface,
        }
    }
}

impl PortInfo for InterfacePortInfo {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn link(&self) -> LinkState {
        self.interface.link()
    }

    fn stats(&self) -> &PortStats {
        &self.stats
    }
}

/// What an operating-system error means for opening a port, in words: `what` failed,
/// and when it was not permitted, the driver `needs` these capabilities.
pub fn explain(what: &str, needs: &str, error: io::Error) -> io::Error {
    let reason = match error.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("{what}: not permitted (needs {needs}): {error}")
        }
        Some(libc::EBUSY) | Some(libc::EEXIST) => {
            format!("{what}: busy (in use by another program): {error}")
        }
        _ => format!("{what}: {error}"),
    };
    io::Error::new(error.kind(), reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_is_not_ethernet() {
        let lo = Interface::lookup("lo").unwrap();
        assert_eq!(lo.index(), 1);
        assert!(!lo.is_ethernet().unwrap());
        assert!(lo.mtu().unwrap() >= 1500);
        assert!(lo.link().up);
    }

    #[test]
    fn a_missing_interface_is_named_in_the_error() {
        let error = Interface::lookup("nosuch0if").unwrap_err();
        assert_eq!(error.to_string(), "ifname: no interface \"nosuch0if\"");
        let error = Interface::lookup("a-name-longer-than-ifnamsiz").unwrap_err();
        assert!(error.to_string().contains("is not an interface name"));
    }
}
