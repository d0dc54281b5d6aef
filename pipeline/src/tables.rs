//! The forwarding tables compiled from a topology: what ingress, switching and routing
//! look up per packet. Immutable once built; a new configuration builds new tables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use ipnet::IpNet;
use packet::MacAddr;

pub use super::ids::{ChassisId, LogicalPortId, NetworkId, PortId, RouterId};
use super::routes::Routes;
use super::sfc::SfcTables;
use super::vxlan_tables::{RemoteSender, VxlanTables};
use topology::{Binding, Topology};

/// Where a logical port's frames leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// On a dataplane port of this node, tagged when `vlan` is set.
    Local { port: PortId, vlan: Option<u16> },
    /// On another chassis (its index in `vxlan.chassis`), reached through the overlay.
    Remote { chassis: ChassisId },
}

#[derive(Clone, Debug)]
pub struct LogicalPortEntry {
    pub network: NetworkId,
    pub mac: MacAddr,
    pub ip: Option<IpAddr>,
    /// The IPv6 link-local address derived from the MAC (EUI-64), also the port's.
    pub link_local: Ipv6Addr,
    pub port_security: bool,
    pub attachment: Attachment,
}

#[derive(Clone, Debug, Default)]
pub struct NetworkEntry {
    pub router: Option<RouterId>,
    pub router_mac: Option<MacAddr>,
    pub gateway_ip: Option<IpAddr>,
    /// Locally attached logical ports, in topology order: where floods go.
    pub flood: Vec<LogicalPortId>,
}

#[derive(Clone, Debug)]
pub struct RouterEntry {
    pub mac: MacAddr,
    /// The router's networks with their prefixes.
    pub networks: Vec<(IpNet, NetworkId)>,
    /// Its gateway addresses: packets to them are for the router itself.
    pub gateway_ips: Vec<IpAddr>,
    /// The SNAT source address when `snat = true`: the router's own external IP, else
    /// the node's.
    pub snat_ip: Option<Ipv4Addr>,
}

/// What distributed SNAT needs from the configuration.
#[derive(Clone, Debug)]
pub struct SnatTables {
    pub uplink_mac: Option<MacAddr>,
    pub gateway_mac: Option<MacAddr>,
    /// When the topology gives no gateway MAC: (node.external_gateway_ip,
    /// node.external_ip), the gateway resolved by ARP on the uplink from the node's
    /// external address.
    pub resolve_gateway: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Every address SNAT translates to on this node (node's and routers').
    pub external_ips: Vec<Ipv4Addr>,
    /// The connection tracking settings (port range, table size, timeouts); each
    /// worker sets its own slice.
    pub config: nat::NatConfig,
}

/// Which logical port an arriving frame belongs to, per dataplane port.
#[derive(Clone, Debug, Default)]
pub struct PortIngress {
    pub untagged: Option<LogicalPortId>,
    pub tagged: HashMap<u16, LogicalPortId>,
}

#[derive(Clone, Debug)]
pub struct ForwardingTables {
    /// Unique to this build of the tables: cached decisions computed under another
    /// generation are ignored.
    pub generation: u64,
    /// The port facing the underlay and the outside (node.uplink).
    pub uplink: Option<PortId>,
    pub ports: Vec<PortIngress>,
    pub logical_ports: Vec<LogicalPortEntry>,
    pub networks: Vec<NetworkEntry>,
    pub routers: Vec<RouterEntry>,
    /// The routers' gateway addresses and prefixes, for routing.
    pub routes: Routes,
    /// (network, MAC) -> logical port.
    pub macs: HashMap<(NetworkId, MacAddr), LogicalPortId>,
    /// (network, IP) -> logical port.
    pub hosts: HashMap<(NetworkId, IpAddr), LogicalPortId>,
    pub snat: SnatTables,
    /// Compiled flow classifiers and port chains.
    pub sfc: SfcTables,
    /// The VXLAN overlay: VTEPs, VNIs, head-end replication lists.
    pub vxlan: VxlanTables,
    /// Each router's IPv6 link-local address (from its MAC), by router: its own too.
    pub router_link_locals: Vec<Ipv6Addr>,
    /// What the node answers for its VMs itself (DHCP, ICMP, neighbour discovery).
    pub services: local_services::ServiceTables,
}

/// Every build of the tables gets the next number.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291).
pub fn link_local_of(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

impl ForwardingTables {
    #[inline]
    pub fn logical_port(&self, id: LogicalPortId) -> &LogicalPortEntry {
        &self.logical_ports[id.index()]
    }

    #[inline]
    pub fn network(&self, id: NetworkId) -> &NetworkEntry {
        &self.networks[id.index()]
    }

    #[inline]
    pub fn router(&self, id: RouterId) -> &RouterEntry {
        &self.routers[id.index()]
    }

    /// Whether a frame received on dataplane port `rx_port` came in on the uplink.
    #[inline]
    pub fn is_uplink(&self, rx_port: u16) -> bool {
        self.uplink == Some(PortId(rx_port))
    }

    pub fn build(topology: &Topology) -> Self {
        let mut ports = vec![PortIngress::default(); topology.ports.len()];
        let mut networks: Vec<NetworkEntry> = topology
            .networks
            .iter()
            .map(|network| NetworkEntry {
                router: network.router.map(|r| RouterId(r.index() as u32)),
                router_mac: network.router.map(|r| topology.routers[r.index()].mac),
                gateway_ip: network.gateway_ip,
                flood: Vec::new(),
            })
            .collect();
        let mut macs = HashMap::new();
        let mut hosts = HashMap::new();
        let mut logical_ports = Vec::with_capacity(topology.logical_ports.len());

        for (index, lp) in topology.logical_ports.iter().enumerate() {
            let id = LogicalPortId(index as u32);
            let network = NetworkId(lp.network.index() as u32);
            let attachment = match lp.binding {
                Binding::Local { port, vlan } => {
                    let ingress = &mut ports[port.index()];
                    match vlan {
                        Some(vlan) => {
                            ingress.tagged.insert(vlan, id);
                        }
                        None => ingress.untagged = Some(id),
                    }
                    networks[network.index()].flood.push(id);
                    Attachment::Local {
                        port: PortId(port.index() as u16),
                        vlan,
                    }
                }
                Binding::Remote { chassis } => Attachment::Remote {
                    chassis: ChassisId(chassis.index() as u16),
                },
            };
            macs.insert((network, lp.mac), id);
            if let Some(ip) = lp.ip {
                hosts.insert((network, ip), id);
            }
            logical_ports.push(LogicalPortEntry {
                network,
                mac: lp.mac,
                ip: lp.ip,
                link_local: link_local_of(lp.mac),
                port_security: lp.port_security,
                attachment,
            });
        }

        let routers: Vec<RouterEntry> = topology
            .routers
            .iter()
            .map(|router| RouterEntry {
                mac: router.mac,
                networks: router
                    .networks
                    .iter()
                    .map(|n| {
                        (
                            topology.networks[n.index()].cidr,
                            NetworkId(n.index() as u32),
                        )
                    })
                    .collect(),
                gateway_ips: router
                    .networks
                    .iter()
                    .filter_map(|n| topology.networks[n.index()].gateway_ip)
                    .collect(),
                snat_ip: router
                    .snat
                    .then_some(router.external_ip.or(topology.node.external_ip))
                    .flatten()
                    .and_then(ipv4),
            })
            .collect();

        // A proxied service function re-emits the source's frames from its egress
        // port (its ingress port, in a symmetric chain's reverse direction):
        // networking-sfc expects port security off there, so it is, whatever the file.
        for pair in &topology.port_pairs {
            logical_ports[pair.egress.index()].port_security = false;
        }
        for chain in topology.port_chains.iter().filter(|c| c.symmetric) {
            for &group in &chain.port_pair_groups {
                for &pair in &topology.port_pair_group(group).port_pairs {
                    logical_ports[topology.port_pair(pair).ingress.index()].port_security = false;
                }
            }
        }
        let sfc = SfcTables::build(topology, |id| logical_ports[id as usize].mac);
        let mut vxlan = VxlanTables::build(topology);
        vxlan.senders = macs
            .iter()
            .filter_map(|(&(network, mac), &logical_port)| {
                match logical_ports[logical_port.index()].attachment {
                    Attachment::Remote { chassis } => Some((
                        (vxlan.vnis[network.index()], mac),
                        RemoteSender {
                            network,
                            logical_port,
                            chassis,
                        },
                    )),
                    Attachment::Local { .. } => None,
                }
            })
            .collect();

        let router_link_locals = routers.iter().map(|r| link_local_of(r.mac)).collect();
        ForwardingTables {
            router_link_locals,
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            uplink: topology.node.uplink.map(|port| PortId(port.index() as u16)),
            ports,
            logical_ports,
            networks,
            routes: Routes::build(
                routers
                    .iter()
                    .map(|r| (&r.networks[..], &r.gateway_ips[..])),
            ),
            routers,
            macs,
            hosts,
            snat: snat_tables(topology),
            sfc,
            vxlan,
            services: local_services::ServiceTables::build(topology, link_local_of),
        }
    }
}

fn ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

fn snat_tables(topology: &Topology) -> SnatTables {
    let node = &topology.node;
    let mut external_ips: Vec<Ipv4Addr> = node.external_ip.and_then(ipv4).into_iter().collect();
    for router in topology.routers.iter().filter(|r| r.snat) {
        if let Some(ip) = router.external_ip.and_then(ipv4) {
            if !external_ips.contains(&ip) {
                external_ips.push(ip);
            }
        }
    }
    let conntrack = &topology.conntrack;
    SnatTables {
        uplink_mac: node.uplink_mac,
        gateway_mac: node.external_gateway_mac,
        resolve_gateway: match (
            node.external_gateway_mac,
            node.external_gateway_ip,
            node.external_ip,
        ) {
            (None, Some(IpAddr::V4(gateway)), Some(IpAddr::V4(own))) => Some((gateway, own)),
            _ => None,
        },
        external_ips,
        config: nat::NatConfig {
            port_range: node.snat_port_range,
            max_connections: conntrack.max_connections,
            mapping: conntrack.mapping,
            timeouts: conntrack.timeouts,
            ..nat::NatConfig::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_link_local() {
        let mac: MacAddr = "fa:16:3e:00:01:01".parse().unwrap();
        assert_eq!(link_local_of(mac).to_string(), "fe80::f816:3eff:fe00:101");
    }
}
