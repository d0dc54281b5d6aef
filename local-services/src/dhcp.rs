//! The DHCPv4 responder: a VM's DISCOVER, REQUEST and INFORM answered from its
//! logical port (its fixed address), its network (prefix, gateway, DNS, domain, MTU,
//! routes, lease) and its extra options. Nothing leaves the node.

use std::net::Ipv4Addr;

use packet::{MacAddr, Packet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress, EthernetProtocol,
    IpProtocol, UdpPacket, UdpRepr,
};

use crate::frame::{self, ETHERNET_LEN, IPV4_LEN};
use crate::tables::{NetworkServices, PortServices, ServiceTables};
use crate::{Answer, Outcome, Refusal};

pub(crate) const SERVER_PORT: u16 = 67;
pub(crate) const CLIENT_PORT: u16 = 68;

/// The fixed BOOTP header and the magic cookie: the options start here.
const OPTIONS_START: usize = 240;
/// RFC 1542: a BOOTP message is at least 300 bytes (older clients drop shorter ones).
const MIN_MESSAGE_LEN: usize = 300;
const UDP_LEN: usize = 8;
/// Option overload (RFC 2132 9.3): options continued in sname/file, never followed.
const OPTION_OVERLOAD: u8 = 52;
/// The most options one answer carries besides smoltcp's fields.
const MAX_OPTIONS: usize = 32;

/// What the answer needs of the request, copied out before the buffer is rewritten.
struct Request {
    kind: DhcpMessageType,
    transaction_id: u32,
    client_mac: EthernetAddress,
    client_ip: Ipv4Addr,
    requested_ip: Option<Ipv4Addr>,
    server_identifier: Option<Ipv4Addr>,
    broadcast: bool,
}

pub(crate) fn serve(
    _tables: &ServiceTables,
    port: &PortServices,
    network: &NetworkServices,
    packet: &mut Packet,
) -> Outcome {
    let (Some(dhcp), Some((router_mac, _))) = (&network.dhcp, network.router) else {
        return Outcome::Pass;
    };
    let request = match parse(packet) {
        Ok(request) => request,
        Err(refusal) => return Outcome::Refused(refusal),
    };
    let answer = match request.kind {
        DhcpMessageType::Discover => Answer::DhcpOffer,
        DhcpMessageType::Request => {
            if request.server_identifier.is_some_and(|s| s != dhcp.server) {
                // The client chose another server's offer.
                return Outcome::Refused(Refusal::DhcpNoReply);
            }
            let asked = request
                .requested_ip
                .or((!request.client_ip.is_unspecified()).then_some(request.client_ip));
            if port.ipv4.is_some() && asked == port.ipv4 {
                Answer::DhcpAck
            } else {
                Answer::DhcpNak
            }
        }
        DhcpMessageType::Inform => Answer::DhcpAck,
        DhcpMessageType::Release | DhcpMessageType::Decline => {
            return Outcome::Refused(Refusal::DhcpNoReply)
        }
        DhcpMessageType::Offer | DhcpMessageType::Ack | DhcpMessageType::Nak => {
            return Outcome::Refused(Refusal::DhcpServerMessage)
        }
        DhcpMessageType::Unknown(_) => return Outcome::Refused(Refusal::DhcpMalformed),
    };
    let inform = request.kind == DhcpMessageType::Inform;
    let nak = answer == Answer::DhcpNak;
    let leased = match (port.ipv4, nak || inform) {
        (_, true) => Ipv4Addr::UNSPECIFIED,
        (Some(ip), false) => ip,
        (None, false) => return Outcome::Refused(Refusal::DhcpNoLease),
    };

    let mut options = [DhcpOption { kind: 0, data: &[] }; MAX_OPTIONS];
    let mut count = 0;
    if !nak {
        for (kind, data) in &port.dhcp_options {
            // An INFORM gets configuration, no lease.
            if count == MAX_OPTIONS || (inform && matches!(kind, 51 | 58 | 59)) {
                continue;
            }
            options[count] = DhcpOption { kind: *kind, data };
            count += 1;
        }
    }
    let reply = DhcpRepr {
        message_type: if nak {
            DhcpMessageType::Nak
        } else if answer == Answer::DhcpOffer {
            DhcpMessageType::Offer
        } else {
            DhcpMessageType::Ack
        },
        transaction_id: request.transaction_id,
        secs: 0,
        client_hardware_address: request.client_mac,
        // RFC 2131 table 3: ciaddr echoed in an ACK, zero in an OFFER and a NAK.
        client_ip: if answer == Answer::DhcpAck {
            request.client_ip
        } else {
            Ipv4Addr::UNSPECIFIED
        },
        your_ip: leased,
        server_ip: if nak {
            Ipv4Addr::UNSPECIFIED
        } else {
            port.next_server
        },
        router: (!nak && !port.own_router).then_some(dhcp.server),
        subnet_mask: (!nak).then_some(dhcp.mask),
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: request.broadcast,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(dhcp.server),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: (!nak && !inform && !port.own_lease).then_some(dhcp.lease_time),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &options[..count],
    };

    // RFC 2131 4.1: a NAK and an answer to a client that asked for it go to
    // broadcast; an ACK to a configured client to its address, else to the address
    // leased (on the client's MAC: only this port receives it anyway).
    let (dst_mac, dst_ip) = if nak || request.broadcast {
        (MacAddr([0xff; 6]), Ipv4Addr::BROADCAST)
    } else if !request.client_ip.is_unspecified() {
        (port.mac, request.client_ip)
    } else {
        (port.mac, leased)
    };
    let message_len = reply.buffer_len().max(MIN_MESSAGE_LEN);
    let udp_len = UDP_LEN + message_len;
    let ip_start = ETHERNET_LEN;
    let udp_start = ip_start + IPV4_LEN;
    if !frame::resize(packet, udp_start + udp_len) {
        return Outcome::Refused(Refusal::NoRoom);
    }
    let data = packet.data_mut();
    frame::write_ethernet(data, dst_mac, router_mac, EthernetProtocol::Ipv4);
    frame::write_ipv4(
        &mut data[ip_start..],
        dhcp.server,
        dst_ip,
        IpProtocol::Udp,
        udp_len,
    );
    let udp = UdpRepr {
        src_port: SERVER_PORT,
        dst_port: CLIENT_PORT,
    };
    let mut emitted = Ok(());
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut data[udp_start..]),
        &dhcp.server.into(),
        &dst_ip.into(),
        message_len,
        |message| {
            // What the request left behind (chaddr's tail, padding) must read zero.
            message.fill(0);
            emitted = reply.emit(&mut DhcpPacket::new_unchecked(message));
        },
        &ChecksumCapabilities::default(),
    );
    if emitted.is_err() {
        return Outcome::Refused(Refusal::NoRoom);
    }
    Outcome::Answered(answer)
}

/// The request's fields, or why it is refused.
fn parse(packet: &Packet) -> Result<Request, Refusal> {
    let meta = &packet.meta;
    if meta.fragment {
        return Err(Refusal::DhcpMalformed);
    }
    let message = packet
        .data()
        .get(usize::from(meta.payload_offset)..usize::from(meta.l3_end))
        .ok_or(Refusal::DhcpMalformed)?;
    if message.len() < OPTIONS_START || !options_well_formed(&message[OPTIONS_START..]) {
        return Err(Refusal::DhcpMalformed);
    }
    let view = DhcpPacket::new_checked(message).map_err(|_| Refusal::DhcpMalformed)?;
    let repr = DhcpRepr::parse(&view).map_err(|_| Refusal::DhcpMalformed)?;
    Ok(Request {
        kind: repr.message_type,
        transaction_id: repr.transaction_id,
        client_mac: repr.client_hardware_address,
        client_ip: repr.client_ip,
        requested_ip: repr.requested_ip,
        server_identifier: repr.server_identifier,
        broadcast: repr.broadcast,
    })
}

/// Whether the options are a well-formed list up to the end option: smoltcp's
/// parser stops quietly at an option that runs past the message, which would answer
/// a truncated request as if it were whole. Option overload is refused rather than
/// followed into sname/file.
fn options_well_formed(mut options: &[u8]) -> bool {
    loop {
        match options {
            [255, ..] => return true,
            [0, rest @ ..] => options = rest,
            [OPTION_OVERLOAD, ..] => return false,
            [_, len, rest @ ..] if rest.len() >= usize::from(*len) => {
                options = &rest[usize::from(*len)..]
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::options_well_formed;

    #[test]
    fn options_must_end_and_fit() {
        assert!(options_well_formed(&[53, 1, 1, 255]));
        assert!(options_well_formed(&[0, 0, 53, 1, 1, 255, 9, 9]));
        assert!(!options_well_formed(&[53, 1, 1]), "no end option");
        assert!(
            !options_well_formed(&[53, 1, 1, 12, 10, b'a', 255]),
            "runs past the end"
        );
        assert!(!options_well_formed(&[53, 1, 1, 52, 1, 3, 255]), "overload");
        assert!(!options_well_formed(&[53]), "length missing");
        assert!(!options_well_formed(&[]));
    }
}
