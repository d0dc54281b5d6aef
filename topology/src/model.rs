//! The validated topology the pipeline builds its tables from: every reference is
//! resolved to a typed index into the vectors of `Topology` (kept in file order), every
//! address is parsed. A `Topology` that exists has passed every check of `validate`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ipnet::IpNet;
use packet::MacAddr;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident($repr:ty);)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($repr);

        impl $name {
            /// The position in its `Topology` vector.
            pub fn index(self) -> usize {
                self.0 as usize
            }

            /// The validator caps each section at what the id type can count.
            pub(crate) fn from_index(index: usize) -> Self {
                Self(<$repr>::try_from(index).expect("section larger than its id type"))
            }

            /// How many objects this id type can name.
            pub(crate) const CAPACITY: usize = <$repr>::MAX as usize + 1;
        }
    )*};
}

ids! {
    /// A port of this dataplane (`Topology::ports`).
    PortId(u16);
    /// Another node of the cloud (`Topology::chassis`).
    ChassisId(u16);
    /// A tenant network (`Topology::networks`).
    NetworkId(u32);
    /// A distributed router (`Topology::routers`).
    RouterId(u32);
    /// A logical port (`Topology::logical_ports`).
    LogicalPortId(u32);
    /// A service function's port pair (`Topology::port_pairs`).
    PortPairId(u32);
    /// A group of equivalent port pairs (`Topology::port_pair_groups`).
    PortPairGroupId(u32);
    /// A flow classifier (`Topology::flow_classifiers`).
    FlowClassifierId(u32);
    /// A port chain (`Topology::port_chains`); at most 4095 exist (chain_id 1-4095).
    PortChainId(u16);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub node: Node,
    pub chassis: Vec<Chassis>,
    pub ports: Vec<Port>,
    pub networks: Vec<Network>,
    pub routers: Vec<Router>,
    pub logical_ports: Vec<LogicalPort>,
    pub port_pairs: Vec<PortPair>,
    pub port_pair_groups: Vec<PortPairGroup>,
    pub flow_classifiers: Vec<FlowClassifier>,
    pub port_chains: Vec<PortChain>,
    pub conntrack: Conntrack,
    /// `[dpdk]`, with its defaults when the file has none.
    pub dpdk: Dpdk,
}

/// DPDK's EAL and buffer settings (`[dpdk]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dpdk {
    /// EAL `--lcores`.
    pub lcores: String,
    /// Megabytes the EAL reserves up front, if set.
    pub memory_mb: Option<u32>,
    pub no_huge: bool,
    /// EAL `--file-prefix`; none: `--in-memory`.
    pub file_prefix: Option<String>,
    /// Mbufs in each port's pool, and each pool's per-lcore cache.
    pub mbufs: u32,
    pub mbuf_cache: u32,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// Further EAL arguments.
    pub args: Vec<String>,
}

impl Default for Dpdk {
    fn default() -> Self {
        Dpdk {
            lcores: "0".into(),
            memory_mb: None,
            no_huge: false,
            file_prefix: None,
            mbufs: 8191,
            mbuf_cache: 256,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            args: Vec::new(),
        }
    }
}

/// Connection tracking settings of each worker (`[conntrack]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conntrack {
    /// Connections one worker tracks at most; its tables are sized for it at start.
    pub max_connections: u32,
    pub mapping: nat::Mapping,
    pub timeouts: nat::Timeouts,
}

impl Default for Conntrack {
    fn default() -> Self {
        Conntrack {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            mapping: nat::Mapping::default(),
            timeouts: nat::Timeouts::default(),
        }
    }
}

/// 65536 connections per worker: about 8 MB of tables (see the nat README section).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 65_536;

/// This compute node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Source address of this node's VXLAN.
    pub vtep_ip: Option<IpAddr>,
    /// The port facing the underlay and the outside.
    pub uplink: Option<PortId>,
    pub uplink_mac: Option<MacAddr>,
    /// Distributed SNAT: this node's own external address.
    pub external_ip: Option<IpAddr>,
    pub external_gateway_ip: Option<IpAddr>,
    /// Resolved by ARP when absent.
    pub external_gateway_mac: Option<MacAddr>,
    /// First and last SNAT port, inclusive; 1 <= first <= last.
    pub snat_port_range: (u16, u16),
}

/// Another node, reached over VXLAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chassis {
    pub name: String,
    pub vtep_ip: IpAddr,
    /// Resolved by ARP on the uplink when absent.
    pub mac: Option<MacAddr>,
    /// Known but unreachable: its logical ports' frames are dropped (`chassis_down`).
    pub down: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub driver: Driver,
    pub mtu: u16,
    /// Queue pairs: receive and transmit queues of a kernel interface, pairs offered
    /// to a vhost-user guest, a DPDK device's queues unless it sets them apart; 1 for
    /// pcap.
    pub queues: u16,
}

/// How a port reaches its packets, with what that driver needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    Pcap {
        path: Option<PathBuf>,
    },
    VhostUser {
        socket: PathBuf,
        mode: VhostMode,
    },
    Tap {
        ifname: String,
    },
    AfXdp {
        ifname: String,
    },
    AfPacket {
        ifname: String,
    },
    /// `devargs` as the EAL takes it: a PCI address or a virtual device with its
    /// arguments.
    Dpdk {
        devargs: String,
        rx_queues: u16,
        tx_queues: u16,
    },
}

/// Who owns a vhost-user port's socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VhostMode {
    /// The dataplane listens; the VM connects.
    #[default]
    Server,
    /// The VM listens; the dataplane connects and reconnects.
    Client,
}

impl Driver {
    /// The name the file uses.
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Pcap { .. } => "pcap",
            Driver::VhostUser { .. } => "vhost-user",
            Driver::Tap { .. } => "tap",
            Driver::AfXdp { .. } => "af-xdp",
            Driver::AfPacket { .. } => "af-packet",
            Driver::Dpdk { .. } => "dpdk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub tenant: String,
    /// 1..=16777215, unique.
    pub vni: u32,
    /// Host bits are zero.
    pub cidr: IpNet,
    /// Inside `cidr`; set whenever `router` is.
    pub gateway_ip: Option<IpAddr>,
    /// The router attaching this network (at most one).
    pub router: Option<RouterId>,
    /// What the node's local services (DHCP, router advertisements) tell its ports.
    pub services: NetworkServices,
}

/// A network's settings for the node's local services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkServices {
    /// The DHCPv4 responder answers (IPv4 networks with a router only).
    pub dhcp: bool,
    /// At most 3 (what one DHCP option of smoltcp's carries), of the network's family.
    pub dns_servers: Vec<IpAddr>,
    pub domain: Option<String>,
    /// Seconds.
    pub lease_time: u32,
    pub host_routes: Vec<HostRoute>,
    /// The MTU of the network as its VMs see it before the overlay's overhead.
    pub mtu: u16,
    pub ipv6_ra_mode: RaMode,
}

pub const DEFAULT_LEASE_TIME: u32 = 86_400;
pub const DEFAULT_NETWORK_MTU: u16 = 1500;

impl Default for NetworkServices {
    fn default() -> Self {
        NetworkServices {
            dhcp: true,
            dns_servers: Vec::new(),
            domain: None,
            lease_time: DEFAULT_LEASE_TIME,
            host_routes: Vec::new(),
            mtu: DEFAULT_NETWORK_MTU,
            ipv6_ra_mode: RaMode::Slaac,
        }
    }
}

/// A route pushed to DHCP clients (option 121), of the network's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostRoute {
    pub destination: IpNet,
    pub nexthop: IpAddr,
}

/// How IPv6 hosts configure themselves (Neutron's ipv6_ra_mode): what the router
/// advertisement's prefix autonomous flag and managed/other flags say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaMode {
    /// Addresses from the advertised prefix (A flag), no DHCPv6.
    Slaac,
    /// Addresses and options from DHCPv6 (M flag).
    Dhcpv6Stateful,
    /// SLAAC addresses, options from DHCPv6 (A and O flags).
    Dhcpv6Stateless,
}

/// A DHCP option of a logical port, encoded for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOption {
    pub code: u8,
    /// 0..=255 bytes.
    pub value: Vec<u8>,
}

/// A logical port's extra DHCP options (Neutron's extra_dhcp_opts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraDhcp {
    /// By code, in file order; a code the network also sets replaces the network's.
    pub options: Vec<DhcpOption>,
    /// The BOOTP next-server field (siaddr): dnsmasq's "server-ip-address".
    pub next_server: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    pub name: String,
    pub tenant: String,
    /// The same on every node (distributed router).
    pub mac: MacAddr,
    /// Networks of the router's tenant that do not overlap.
    pub networks: Vec<NetworkId>,
    pub snat: bool,
    /// This router's own SNAT address; `node.external_ip` when `None`.
    pub external_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalPort {
    pub name: String,
    pub network: NetworkId,
    pub mac: MacAddr,
    pub ip: Option<IpAddr>,
    pub binding: Binding,
    /// Neutron's port_security_enabled: source MAC/IP must be this port's.
    pub port_security: bool,
    pub extra_dhcp: ExtraDhcp,
}

/// Where a logical port lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// On this node: a port of this dataplane, tagged when a trunk sub-port.
    Local { port: PortId, vlan: Option<u16> },
    /// On another node, reached over VXLAN.
    Remote { chassis: ChassisId },
}

/// The encapsulation that carries the chain and hop to a service function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correlation {
    Mpls,
    Nsh,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPair {
    pub name: String,
    /// Locally bound logical ports (may be the same).
    pub ingress: LogicalPortId,
    pub egress: LogicalPortId,
    /// `None` (the file's "none"): the function sees plain frames, the dataplane proxies.
    pub correlation: Option<Correlation>,
    /// At least 1.
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPairGroup {
    pub name: String,
    /// Not empty; a pair belongs to one group only.
    pub port_pairs: Vec<PortPairId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ethertype {
    Ipv4,
    Ipv6,
}

/// networking-sfc match fields; `None` is a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowClassifier {
    pub name: String,
    pub ethertype: Ethertype,
    /// IP protocol number (tcp 6, udp 17, icmp 1, icmpv6 58).
    pub protocol: Option<u8>,
    /// Inclusive ranges; only with protocol tcp or udp.
    pub source_port_range: Option<(u16, u16)>,
    pub destination_port_range: Option<(u16, u16)>,
    /// Of the ethertype's family, host bits zero.
    pub source_ip_prefix: Option<IpNet>,
    pub destination_ip_prefix: Option<IpNet>,
    pub logical_source_port: Option<LogicalPortId>,
    pub logical_destination_port: Option<LogicalPortId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChain {
    pub name: String,
    /// 1..=4095, unique: the upper bits of the MPLS label.
    pub chain_id: u16,
    /// In order, 1..=255 of them (one service index each); a group is in one chain only.
    pub port_pair_groups: Vec<PortPairGroupId>,
    /// A classifier is in one chain only.
    pub flow_classifiers: Vec<FlowClassifierId>,
    pub correlation: Correlation,
    pub symmetric: bool,
    /// TTL of the MPLS label (the contract's 255 unless configured).
    pub mpls_ttl: u8,
}

macro_rules! lookups {
    ($($field:ident: $ty:ident, $id:ident, $get:ident, $by_name:ident;)*) => {
        impl Topology {$(
            pub fn $get(&self, id: $id) -> &$ty {
                &self.$field[id.index()]
            }

            pub fn $by_name(&self, name: &str) -> Option<$id> {
                self.$field.iter().position(|x| x.name == name).map($id::from_index)
            }
        )*}
    };
}

lookups! {
    ports: Port, PortId, port, port_by_name;
    chassis: Chassis, ChassisId, chassis, chassis_by_name;
    networks: Network, NetworkId, network, network_by_name;
    routers: Router, RouterId, router, router_by_name;
    logical_ports: LogicalPort, LogicalPortId, logical_port, logical_port_by_name;
    port_pairs: PortPair, PortPairId, port_pair, port_pair_by_name;
    port_pair_groups: PortPairGroup, PortPairGroupId, port_pair_group, port_pair_group_by_name;
    flow_classifiers: FlowClassifier, FlowClassifierId, flow_classifier, flow_classifier_by_name;
    port_chains: PortChain, PortChainId, port_chain, port_chain_by_name;
}
