//! What the services need from the topology, compiled once per snapshot: per logical
//! port its addresses and DHCP options, per network its router, gateway, prefix and
//! settings.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use packet::MacAddr;
use topology::{Binding, RaMode, Topology};

/// How often every local port of an IPv6 network with a router gets an unsolicited
/// router advertisement (Neutron's radvd default lies between 30 and 100 s).
pub const RA_INTERVAL_NS: u64 = 60_000_000_000;

/// VXLAN's overhead on the underlay: outer Ethernet, IP, UDP and VXLAN headers.
const VXLAN_OVERHEAD_V4: u16 = 14 + 20 + 8 + 8;
const VXLAN_OVERHEAD_V6: u16 = 14 + 40 + 8 + 8;

#[derive(Clone, Debug)]
pub(crate) struct PortServices {
    pub(crate) network: usize,
    pub(crate) mac: MacAddr,
    pub(crate) ipv4: Option<Ipv4Addr>,
    /// The options a DHCP answer carries besides smoltcp's own fields, in order.
    pub(crate) dhcp_options: Vec<(u8, Box<[u8]>)>,
    /// siaddr (PXE's next server).
    pub(crate) next_server: Ipv4Addr,
    /// The port sets its own router or lease time option: smoltcp's field stays
    /// empty and the port's option goes out instead.
    pub(crate) own_router: bool,
    pub(crate) own_lease: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Dhcp {
    pub(crate) server: Ipv4Addr,
    pub(crate) mask: Ipv4Addr,
    pub(crate) dns: Vec<Ipv4Addr>,
    pub(crate) lease_time: u32,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Advertisement {
    pub(crate) prefix: Ipv6Addr,
    pub(crate) prefix_len: u8,
    pub(crate) mode: RaMode,
}

#[derive(Clone, Debug)]
pub(crate) struct NetworkServices {
    /// The router's MAC and the network's gateway address, when a router attaches it.
    pub(crate) router: Option<(MacAddr, IpAddr)>,
    pub(crate) router_link_local: Option<Ipv6Addr>,
    /// Set when DHCPv4 is served: an IPv4 network with a router and `dhcp` on.
    pub(crate) dhcp: Option<Dhcp>,
    /// Set on IPv6 networks with a router.
    pub(crate) advertisement: Option<Advertisement>,
    /// What a VM's interface MTU must be: the network's less the overlay's overhead
    /// when it spans chassis.
    pub(crate) link_mtu: u16,
}

#[derive(Clone, Debug, Default)]
pub struct ServiceTables {
    ports: Vec<PortServices>,
    networks: Vec<NetworkServices>,
    /// (network, IPv6 address or link-local) -> the MAC owning it: neighbour answers.
    ipv6_owners: HashMap<(usize, Ipv6Addr), MacAddr>,
    /// Local logical ports that get periodic router advertisements.
    advertised: Vec<usize>,
}

impl ServiceTables {
    pub fn build(topology: &Topology, link_local_of: impl Fn(MacAddr) -> Ipv6Addr) -> Self {
        let overhead = match topology.node.vtep_ip {
            Some(IpAddr::V6(_)) => VXLAN_OVERHEAD_V6,
            _ => VXLAN_OVERHEAD_V4,
        };
        let spans_chassis = |network: usize| {
            topology.logical_ports.iter().any(|lp| {
                lp.network.index() == network && matches!(lp.binding, Binding::Remote { .. })
            })
        };
        let networks: Vec<NetworkServices> = topology
            .networks
            .iter()
            .enumerate()
            .map(|(index, n)| {
                let settings = &n.services;
                let router_mac = n.router.map(|r| topology.router(r).mac);
                let router = router_mac.zip(n.gateway_ip);
                let dhcp = match (router, n.cidr) {
                    (Some((_, IpAddr::V4(server))), IpNet::V4(cidr)) if settings.dhcp => {
                        Some(Dhcp {
                            server,
                            mask: cidr.netmask(),
                            dns: settings
                                .dns_servers
                                .iter()
                                .filter_map(|ip| match ip {
                                    IpAddr::V4(ip) => Some(*ip),
                                    IpAddr::V6(_) => None,
                                })
                                .collect(),
                            lease_time: settings.lease_time,
                        })
                    }
                    _ => None,
                };
                let advertisement = match (router, n.cidr) {
                    (Some(_), IpNet::V6(cidr)) => Some(Advertisement {
                        prefix: cidr.network(),
                        prefix_len: cidr.prefix_len(),
                        mode: settings.ipv6_ra_mode,
                    }),
                    _ => None,
                };
                let link_mtu = if spans_chassis(index) {
                    settings.mtu.saturating_sub(overhead)
                } else {
                    settings.mtu
                };
                NetworkServices {
                    router,
                    router_link_local: router_mac.map(&link_local_of),
                    dhcp,
                    advertisement,
                    link_mtu,
                }
            })
            .collect();
        let mut ipv6_owners = HashMap::new();
        let mut advertised = Vec::new();
        let ports = topology
            .logical_ports
            .iter()
            .enumerate()
            .map(|(index, lp)| {
                let network = lp.network.index();
                ipv6_owners.insert((network, link_local_of(lp.mac)), lp.mac);
                if let Some(IpAddr::V6(ip)) = lp.ip {
                    ipv6_owners.insert((network, ip), lp.mac);
                }
                if matches!(lp.binding, Binding::Local { .. })
                    && networks[network].advertisement.is_some()
                {
                    advertised.push(index);
                }
                port_services(topology, lp, &networks[network])
            })
            .collect();
        ServiceTables {
            ports,
            networks,
            ipv6_owners,
            advertised,
        }
    }

    pub(crate) fn port(&self, index: usize) -> Option<&PortServices> {
        self.ports.get(index)
    }

    pub(crate) fn network(&self, index: usize) -> &NetworkServices {
        &self.networks[index]
    }

    /// The MAC owning `ip` in `network`: a logical port's, or the router's for its
    /// gateway and link-local addresses (then `true`).
    pub(crate) fn ipv6_owner(&self, network: usize, ip: Ipv6Addr) -> Option<(MacAddr, bool)> {
        let net = &self.networks[network];
        if let Some((mac, gateway)) = net.router {
            if gateway == IpAddr::V6(ip) || net.router_link_local == Some(ip) {
                return Some((mac, true));
            }
        }
        self.ipv6_owners
            .get(&(network, ip))
            .map(|&mac| (mac, false))
    }

    /// The local logical ports that get periodic router advertisements.
    pub fn advertised_ports(&self) -> &[usize] {
        &self.advertised
    }
}

/// A port's DHCP options: the network's (interface MTU, domain, classless routes,
/// renewal and rebinding times), then the port's own, which replace the network's of
/// the same code.
fn port_services(
    topology: &Topology,
    lp: &topology::LogicalPort,
    net: &NetworkServices,
) -> PortServices {
    let settings = &topology.network(lp.network).services;
    let mut options: Vec<(u8, Box<[u8]>)> = Vec::new();
    if let Some(dhcp) = net.dhcp.as_ref().filter(|d| !d.dns.is_empty()) {
        let servers: Vec<u8> = dhcp.dns.iter().flat_map(|ip| ip.octets()).collect();
        options.push((6, servers.into()));
    }
    options.push((26, net.link_mtu.to_be_bytes().into()));
    if let Some(domain) = &settings.domain {
        options.push((15, domain.as_bytes().into()));
    }
    if let Some(routes) = classless_routes(settings, net) {
        options.push((121, routes.into()));
    }
    let lease = settings.lease_time;
    if lease != u32::MAX {
        options.push((58, (lease / 2).to_be_bytes().into()));
        options.push((59, (lease / 8 * 7).to_be_bytes().into()));
    }
    let extra = &lp.extra_dhcp;
    for option in &extra.options {
        options.retain(|(code, _)| *code != option.code);
        options.push((option.code, option.value.clone().into()));
    }
    let own = |code: u8| extra.options.iter().any(|o| o.code == code);
    PortServices {
        network: lp.network.index(),
        mac: lp.mac,
        ipv4: match lp.ip {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        },
        dhcp_options: options,
        next_server: extra.next_server.unwrap_or(Ipv4Addr::UNSPECIFIED),
        own_router: own(3),
        own_lease: own(51),
    }
}

/// Option 121 (RFC 3442): the host routes, then the default route through the
/// gateway (a client that gets option 121 ignores option 3).
fn classless_routes(
    settings: &topology::NetworkServices,
    net: &NetworkServices,
) -> Option<Vec<u8>> {
    if settings.host_routes.is_empty() {
        return None;
    }
    let mut bytes = Vec::new();
    let mut push = |destination: ipnet::Ipv4Net, nexthop: Ipv4Addr| {
        let significant = usize::from(destination.prefix_len()).div_ceil(8);
        bytes.push(destination.prefix_len());
        bytes.extend_from_slice(&destination.network().octets()[..significant]);
        bytes.extend_from_slice(&nexthop.octets());
    };
    for route in &settings.host_routes {
        if let (IpNet::V4(destination), IpAddr::V4(nexthop)) = (route.destination, route.nexthop) {
            push(destination, nexthop);
        }
    }
    if let Some((_, IpAddr::V4(gateway))) = net.router {
        if !settings
            .host_routes
            .iter()
            .any(|r| r.destination.prefix_len() == 0)
        {
            push(ipnet::Ipv4Net::default(), gateway);
        }
    }
    (bytes.len() <= 255).then_some(bytes)
}
