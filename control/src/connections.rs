//! The connection table as ListConnections shows it: workers' entries in the API's
//! terms, and the request's filter.

use std::net::Ipv4Addr;

use nat::conntrack::{Conn, ProtoState};
use nat::tcp::TcpState;

use super::proto as pb;
use runtime::conntrack_dump::ConnRecord;
use topology::Topology;

/// Collects every worker's connections; one collection at a time (the API's listing
/// and a metrics scrape share each worker's hand-over ring).
pub fn collect(
    runtime: &runtime::RuntimeHandle,
    timeout: std::time::Duration,
) -> (Vec<ConnRecord>, bool) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    runtime.connections(timeout)
}

/// Every state a connection is listed in.
pub const STATES: [&str; 11] = [
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "UNREPLIED",
    "REPLIED",
    "ICMP",
];

/// Refuses a filter that can match nothing because a field is wrong (an unknown
/// state or tenant, an address that is not one), naming the field.
pub fn check(filter: &pb::ConnectionFilter, topology: &Topology) -> Result<(), String> {
    if let Some(state) = &filter.state {
        if !STATES.iter().any(|s| s.eq_ignore_ascii_case(state)) {
            return Err(format!(
                "state: \"{state}\" is none of {}",
                STATES.join(", ")
            ));
        }
    }
    if let Some(address) = &filter.address {
        if address.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("address: \"{address}\" is not an IP address"));
        }
    }
    if let Some(tenant) = &filter.tenant {
        if !topology.networks.iter().any(|n| &n.tenant == tenant) {
            return Err(format!("tenant: no network belongs to tenant \"{tenant}\""));
        }
    }
    if let Some(port) = filter.port {
        if port > u32::from(u16::MAX) {
            return Err(format!("port: {port} is above 65535"));
        }
    }
    Ok(())
}

pub fn state_name(state: &ProtoState) -> &'static str {
    match state {
        ProtoState::Tcp(tcp) => match tcp.state {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
        },
        ProtoState::UdpUnreplied => "UNREPLIED",
        ProtoState::UdpReplied => "REPLIED",
        ProtoState::Icmp => "ICMP",
    }
}

fn protocol_name(protocol: u8) -> String {
    match protocol {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        other => other.to_string(),
    }
}

fn endpoint(ip: u32, port: u16) -> String {
    format!("{}:{port}", Ipv4Addr::from(ip))
}

pub fn to_proto(record: &ConnRecord, topology: &Topology) -> pb::Connection {
    let conn: &Conn = &record.conn;
    let tenant = topology
        .networks
        .get(conn.original.zone as usize)
        .map(|network| network.tenant.clone())
        .unwrap_or_default();
    let (internal_ip, internal_port) = conn.internal();
    let (external_ip, external_port) = conn.external();
    pb::Connection {
        tenant,
        protocol: protocol_name(conn.original.protocol),
        source: endpoint(internal_ip, internal_port),
        destination: endpoint(conn.original.dst, conn.original.dst_port),
        translated_source: endpoint(external_ip, external_port),
        state: state_name(&conn.state).to_owned(),
        packets: u64::from(conn.packets),
        bytes: conn.bytes,
        idle_ms: 0,
        worker: u32::from(record.worker),
        expires_in_ms: conn.expires_ns.saturating_sub(record.now_ns) / 1_000_000,
    }
}

/// A checked filter over the workers' own entries, for a flush: each worker runs it
/// on its table (no formatting, no topology).
#[derive(Clone, Debug, Default)]
pub struct ConnMatch {
    zones: Option<Vec<u32>>,
    address: Option<std::net::IpAddr>,
    port: Option<u16>,
    state: Option<&'static str>,
}

impl ConnMatch {
    /// The filter in the workers' terms (call after `check`).
    pub fn new(filter: &pb::ConnectionFilter, topology: &Topology) -> Self {
        ConnMatch {
            zones: filter.tenant.as_ref().map(|tenant| {
                (0..topology.networks.len() as u32)
                    .filter(|zone| &topology.networks[*zone as usize].tenant == tenant)
                    .collect()
            }),
            address: filter.address.as_ref().and_then(|a| a.parse().ok()),
            port: filter.port.and_then(|p| u16::try_from(p).ok()),
            state: filter
                .state
                .as_ref()
                .and_then(|s| STATES.into_iter().find(|n| n.eq_ignore_ascii_case(s))),
        }
    }

    pub fn matches(&self, conn: &Conn) -> bool {
        let (internal_ip, internal_port) = conn.internal();
        let (external_ip, external_port) = conn.external();
        let zone_ok = self
            .zones
            .as_ref()
            .is_none_or(|zones| zones.contains(&conn.original.zone));
        let address_ok = self.address.is_none_or(|address| {
            [internal_ip, conn.original.dst, external_ip]
                .into_iter()
                .any(|ip| address == std::net::IpAddr::V4(Ipv4Addr::from(ip)))
        });
        let port_ok = self.port.is_none_or(|port| {
            [internal_port, conn.original.dst_port, external_port].contains(&port)
        });
        let state_ok = self.state.is_none_or(|s| s == state_name(&conn.state));
        zone_ok && address_ok && port_ok && state_ok
    }
}

/// Whether a listed connection passes the filter: every field given must match
/// (address and port match either end, before or after translation).
pub fn matches(filter: &pb::ConnectionFilter, connection: &pb::Connection) -> bool {
    let endpoints = [
        &connection.source,
        &connection.destination,
        &connection.translated_source,
    ];
    let tenant_ok = filter
        .tenant
        .as_ref()
        .is_none_or(|t| *t == connection.tenant);
    let state_ok = filter
        .state
        .as_ref()
        .is_none_or(|s| s.eq_ignore_ascii_case(&connection.state));
    let address = filter
        .address
        .as_ref()
        .map(|a| a.parse::<std::net::IpAddr>().ok());
    let address_ok = address.is_none_or(|address| {
        endpoints.iter().any(|e| {
            e.rsplit_once(':')
                .and_then(|(ip, _)| ip.parse::<std::net::IpAddr>().ok())
                .is_some_and(|ip| Some(ip) == address)
        })
    });
    let port_ok = filter.port.is_none_or(|port| {
        endpoints.iter().any(|e| {
            e.rsplit_once(':')
                .is_some_and(|(_, p)| p == port.to_string())
        })
    });
    tenant_ok && state_ok && address_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> pb::Connection {
        pb::Connection {
            tenant: "green".into(),
            protocol: "udp".into(),
            source: "10.0.0.5:40000".into(),
            destination: "198.51.100.7:53".into(),
            translated_source: "203.0.113.11:40000".into(),
            state: "UNREPLIED".into(),
            ..Default::default()
        }
    }

    #[test]
    fn filters_match_any_end_and_every_given_field() {
        let c = connection();
        let all = pb::ConnectionFilter::default();
        assert!(matches(&all, &c));
        let by = |f: pb::ConnectionFilter| matches(&f, &c);
        assert!(by(pb::ConnectionFilter {
            address: Some("203.0.113.11".into()),
            ..all.clone()
        }));
        assert!(by(pb::ConnectionFilter {
            port: Some(53),
            ..all.clone()
        }));
        assert!(by(pb::ConnectionFilter {
            state: Some("unreplied".into()),
            ..all.clone()
        }));
        assert!(!by(pb::ConnectionFilter {
            tenant: Some("orange".into()),
            ..all.clone()
        }));
        assert!(!by(pb::ConnectionFilter {
            address: Some("10.0.0.6".into()),
            ..all.clone()
        }));
        assert!(!by(pb::ConnectionFilter {
            tenant: Some("green".into()),
            port: Some(80),
            ..all
        }));
    }
}
