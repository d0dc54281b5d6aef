//! Test networks: a namespace per test holding one end of a veth pair, the other end
//! left in the test's namespace for a port to open. Names carry a per-process,
//! per-call prefix so tests running at once never collide; dropping the guard
//! deletes the namespace (and with it the veth pair), also when the test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use packet::{Burst, Pool};
use port::PortQueues;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A short name no other test uses at the same time: `TAG` + process + counter,
/// within the 15 characters an interface name may have.
pub fn unique_name(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("{tag}{:x}{n}", std::process::id() & 0xfffff);
    assert!(name.len() <= 15, "name {name} too long for an interface");
    name
}

/// Runs a command, panicking with its output when it fails.
pub fn run(args: &[&str]) -> String {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique_name(tag);
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// A command to run inside the namespace (for commands that run on).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `f` on a thread that entered the namespace: sockets it makes belong to
    /// the namespace wherever they are used afterwards.
    pub fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns on a namespace file this thread holds open; it changes
            // only this thread's network namespace.
            let result = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(result, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A veth pair: `host` in this namespace (for the port), `peer` in `ns` with `mac`
/// and `ip/24`, both up. The peer's transmit offloads are off: a frame it sends
/// reaches the port whole, with its checksums, as from a wire.
pub struct VethNs {
    pub ns: Netns,
    pub host: String,
    pub peer: String,
    pub mac: String,
    pub ip: String,
}

impl VethNs {
    pub fn new(tag: &str, mac: &str, ip: &str) -> VethNs {
        VethNs::with_queues(tag, mac, ip, 1)
    }

    /// As `new`, both ends with `queues` receive and transmit queues.
    pub fn with_queues(tag: &str, mac: &str, ip: &str, queues: u16) -> VethNs {
        let ns = Netns::new(tag);
        let host = format!("{}h", ns.name);
        let peer = format!("{}p", ns.name);
        let queues = queues.to_string();
        let q = ["numtxqueues", &queues, "numrxqueues", &queues];
        #[rustfmt::skip]
        run(&[
            "ip", "link", "add", &host, q[0], q[1], q[2], q[3], "type", "veth",
            "peer", "name", &peer, q[0], q[1], q[2], q[3], "netns", &ns.name,
        ]);
        let link = VethNs {
            ns,
            host,
            peer,
            mac: mac.to_owned(),
            ip: ip.to_owned(),
        };
        // The host end sends nothing of its own (no IPv6 link-local chatter).
        let _ = Command::new("sysctl")
            .args([
                "-qw",
                &format!("net.ipv6.conf.{}.disable_ipv6=1", link.host),
            ])
            .output();
        run(&["ip", "link", "set", &link.host, "up"]);
        let peer = link.peer.as_str();
        link.ns.exec(&["ip", "link", "set", peer, "address", mac]);
        link.ns
            .exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", peer]);
        link.ns.exec(&["ethtool", "-K", peer, "tx", "off"]);
        link.ns.exec(&["ip", "link", "set", peer, "up"]);
        link
    }

    /// Sets both ends' MTU.
    pub fn set_mtu(&self, mtu: u32) {
        let mtu = mtu.to_string();
        run(&["ip", "link", "set", &self.host, "mtu", &mtu]);
        self.ns
            .exec(&["ip", "link", "set", &self.peer, "mtu", &mtu]);
    }

    /// A static neighbour in the namespace, so it sends without asking ARP.
    pub fn neighbour(&self, ip: &str, mac: &str) {
        self.ns.neighbour(&self.peer, ip, mac);
    }
}

impl Netns {
    /// Moves interface `ifname` of this namespace (a TAP a port made) into the
    /// namespace and gives it `mac` and `ip/24`, up.
    pub fn adopt(&self, ifname: &str, mac: &str, ip: &str) {
        run(&["ip", "link", "set", ifname, "netns", &self.name]);
        self.exec(&["ip", "link", "set", ifname, "address", mac]);
        self.exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", ifname]);
        self.exec(&["ip", "link", "set", ifname, "up"]);
    }

    /// A static neighbour on `ifname`, so the namespace sends without asking ARP.
    pub fn neighbour(&self, ifname: &str, ip: &str, mac: &str) {
        self.exec(&[
            "ip",
            "neigh",
            "replace",
            ip,
            "lladdr",
            mac,
            "dev",
            ifname,
            "nud",
            "permanent",
        ]);
    }
}

impl Netns {
    /// A UDP socket of the namespace bound to `ip:port`, reads timing out after 3 s.
    pub fn udp_socket(&self, ip: &'static str, port: u16) -> UdpSocket {
        self.enter(move || {
            let socket = UdpSocket::bind((ip, port)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            socket
        })
    }
}

/// A UDP frame a port receives: the queue it came on, its source port, its payload.
pub type UdpReceived = (usize, u16, Vec<u8>);

/// Polls every receive queue of `port` until `want` UDP frames to port `to` arrived
/// or two seconds passed. Every frame must carry `rx_port`.
pub fn receive_udp(
    port: &mut PortQueues,
    pool: &mut Pool,
    rx_port: u16,
    to: u16,
    want: usize,
) -> Vec<UdpReceived> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < want && Instant::now() < deadline {
        for (queue, rx) in port.rx.iter_mut().enumerate() {
            let mut burst = Burst::with_capacity(32);
            rx.rx_burst(pool, &mut burst, 32).unwrap();
            for packet in burst.drain() {
                assert_eq!(packet.rx_port, rx_port);
                if let Ok(headers) = etherparse::SlicedPacket::from_ethernet(packet.data()) {
                    if let Some(etherparse::TransportSlice::Udp(udp)) = headers.transport {
                        if udp.destination_port() == to {
                            got.push((queue, udp.source_port(), udp.payload().to_vec()));
                        }
                    }
                }
                pool.free(packet);
            }
        }
    }
    got
}

/// An Ethernet / IPv4 / UDP frame: `from` and `to` are (MAC, address, port).
pub fn udp_frame(
    from: ([u8; 6], [u8; 4], u16),
    to: ([u8; 6], [u8; 4], u16),
    payload: &[u8],
) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2(from.0, to.0)
        .ipv4(from.1, to.1, 64)
        .udp(from.2, to.2);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();
    frame
}

/// Checks that no frame came twice (sources send distinct payloads per round) and
/// that each flow (source port) stayed on one queue; returns the queues used.
pub fn each_once_one_queue_per_flow(got: &[UdpReceived]) -> BTreeSet<usize> {
    let mut queues_of_flow: BTreeMap<u16, BTreeSet<usize>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (queue, source, payload) in got {
        queues_of_flow.entry(*source).or_default().insert(*queue);
        assert!(seen.insert((*source, payload.clone())), "received twice");
    }
    assert!(
        queues_of_flow.values().all(|q| q.len() == 1),
        "a flow on several queues: {queues_of_flow:?}"
    );
    queues_of_flow.into_values().flatten().collect()
}
