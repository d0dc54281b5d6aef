//! The node's local network services for its VMs, answered in the pipeline from the
//! topology (as Dragonflow's local controller does on each compute node): DHCPv4, the
//! distributed router's own ICMP (echo of its gateway addresses, time exceeded,
//! destination unreachable) and IPv6 neighbour and router discovery.
//!
//! Each service rewrites the request's own buffer into the answer (no allocation per
//! packet); the wire formats are smoltcp's. The pipeline asks [`vm_request`] (or its
//! router stage decides) which service a frame wants and calls [`serve`]; the
//! [`Outcome`] says what became of it.

mod dhcp;
mod frame;
mod icmp;
mod ndisc;
mod rate;
mod tables;

use packet::meta::ip_proto;
use packet::{Meta, Packet, L4};

pub use rate::{TokenBucket, ICMP_ERROR_BURST, ICMP_ERROR_INTERVAL_NS};
pub use tables::{ServiceTables, RA_INTERVAL_NS};

/// What a frame asks of the local services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A DHCP client message from a VM (UDP 68 -> 67).
    Dhcp,
    /// ICMPv6 neighbour or router solicitation from a VM.
    Ndisc,
    /// An IP packet routed to one of the router's own addresses.
    ToRouter,
    /// A routed packet whose TTL or hop limit expires here.
    TtlExpired,
    /// A routed packet with no route.
    NoRoute,
    /// A routed packet for a network of the router where no port has its address.
    NoHost,
}

impl Request {
    pub fn name(self) -> &'static str {
        match self {
            Request::Dhcp => "dhcp",
            Request::Ndisc => "neighbour discovery",
            Request::ToRouter => "to the router",
            Request::TtlExpired => "ttl expired",
            Request::NoRoute => "no route",
            Request::NoHost => "no such host",
        }
    }
}

/// The service a frame from a VM asks for, by its parsed metadata alone.
#[inline]
pub fn vm_request(meta: &Meta) -> Option<Request> {
    match meta.l4 {
        L4::Udp
            if meta.flow.protocol == ip_proto::UDP
                && meta.flow.dst_port == dhcp::SERVER_PORT
                && meta.flow.src_port == dhcp::CLIENT_PORT
                && !meta.flow.ipv6 =>
        {
            Some(Request::Dhcp)
        }
        L4::Icmpv6 if ndisc::is_solicitation(meta.icmp_type) => Some(Request::Ndisc),
        _ => None,
    }
}

/// The answer a request was turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    DhcpOffer,
    DhcpAck,
    DhcpNak,
    EchoReply,
    TimeExceeded,
    NetUnreachable,
    HostUnreachable,
    PortUnreachable,
    NeighbourAdvertisement,
    RouterAdvertisement,
}

impl Answer {
    pub fn name(self) -> &'static str {
        match self {
            Answer::DhcpOffer => "dhcp offer",
            Answer::DhcpAck => "dhcp ack",
            Answer::DhcpNak => "dhcp nak",
            Answer::EchoReply => "echo reply",
            Answer::TimeExceeded => "icmp time exceeded",
            Answer::NetUnreachable => "icmp network unreachable",
            Answer::HostUnreachable => "icmp host unreachable",
            Answer::PortUnreachable => "icmp port unreachable",
            Answer::NeighbourAdvertisement => "neighbour advertisement",
            Answer::RouterAdvertisement => "router advertisement",
        }
    }
}

/// Why a request gets no answer and its frame is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A DHCP message that does not parse: short, bad cookie, options that run past
    /// the end, option overload, no message type.
    DhcpMalformed,
    /// A server's message (OFFER, ACK, NAK) sent by a VM.
    DhcpServerMessage,
    /// RELEASE, DECLINE, or a REQUEST for another server: nothing to answer.
    DhcpNoReply,
    /// The port has no IPv4 address to lease.
    DhcpNoLease,
    /// A neighbour or router solicitation that RFC 4861 says to ignore (hop limit not
    /// 255, bad checksum or length, a zero-length option).
    NdiscMalformed,
    /// An echo request to the router that does not parse (bad checksum, short).
    IcmpMalformed,
    /// The worker's budget of ICMP errors is spent for now.
    IcmpRateLimited,
    /// The answer does not fit the buffer.
    NoRoom,
}

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The frame is the answer now: it leaves through the logical port it came from.
    Answered(Answer),
    /// Not the services' business after all (a duplicate address probe, a
    /// solicitation for an unknown address, an error about an error): the frame goes
    /// on as if there were no services.
    Pass,
    /// Dropped, for this reason.
    Refused(Refusal),
}

/// What one worker's services remember: its ICMP error budget and when its next
/// periodic router advertisements are due.
#[derive(Clone, Debug, Default)]
pub struct WorkerServices {
    pub icmp_errors: TokenBucket,
    next_advertisement_ns: Option<u64>,
}

impl WorkerServices {
    /// Whether the periodic router advertisements are due at `now_ns` (then the next
    /// are scheduled).
    pub fn advertisements_due(&mut self, now_ns: u64) -> bool {
        match self.next_advertisement_ns {
            Some(due) if now_ns < due => false,
            _ => {
                self.next_advertisement_ns = Some(now_ns.saturating_add(RA_INTERVAL_NS));
                true
            }
        }
    }
}

/// Answers `request` from logical port `logical_port` (by its topology index), the
/// frame parsed (Ethernet first, no VLAN tag), rewriting it in place.
pub fn serve(
    tables: &ServiceTables,
    worker: &mut WorkerServices,
    packet: &mut Packet,
    logical_port: usize,
    request: Request,
) -> Outcome {
    let Some(port) = tables.port(logical_port) else {
        return Outcome::Pass;
    };
    let network = tables.network(port.network);
    let now = packet.timestamp_ns;
    match request {
        Request::Dhcp => dhcp::serve(tables, port, network, packet),
        Request::Ndisc => ndisc::serve(tables, port, network, packet),
        Request::ToRouter => icmp::to_router(network, packet, &mut worker.icmp_errors, now),
        Request::TtlExpired => icmp::error(
            network,
            packet,
            icmp::Error::TimeExceeded,
            &mut worker.icmp_errors,
            now,
        ),
        Request::NoHost => icmp::error(
            network,
            packet,
            icmp::Error::HostUnreachable,
            &mut worker.icmp_errors,
            now,
        ),
        Request::NoRoute => icmp::error(
            network,
            packet,
            icmp::Error::NetUnreachable,
            &mut worker.icmp_errors,
            now,
        ),
    }
}

/// Writes into `packet` (a fresh buffer) the periodic router advertisement for local
/// logical port `logical_port`; `false` when it gets none.
pub fn write_advertisement(
    tables: &ServiceTables,
    packet: &mut Packet,
    logical_port: usize,
) -> bool {
    let Some(port) = tables.port(logical_port) else {
        return false;
    };
    ndisc::write_periodic_advertisement(tables.network(port.network), packet)
}
