//! The per-object subcommands, networking-sfc style:
//! `dpctl KIND list | show NAME | create NAME --field ... | update NAME --field ... | delete NAME`.
//! `update` reads the object, changes the fields given, and writes it back whole.

use clap::{Args, Subcommand};
use dataplane::control::proto as pb;

#[derive(Subcommand)]
pub enum Verb<A: Args> {
    /// List every object of this kind.
    List,
    /// Show one object, or every one (ports: their counters and who polls them).
    Show {
        /// The object's name (default: every object).
        name: Option<String>,
    },
    /// Create an object.
    Create {
        /// The new object's name (unique among its kind).
        name: String,
        #[command(flatten)]
        fields: A,
    },
    /// Change the given fields of an object.
    Update {
        /// The object's name.
        name: String,
        #[command(flatten)]
        fields: A,
    },
    /// Delete an object (refused while another one uses it).
    Delete {
        /// The object's name.
        name: String,
    },
}

/// Applies the fields given on the command line to a message.
pub trait Fields {
    type Message: Default;
    /// The options `create` cannot do without (their argument ids); `update` takes
    /// every option as optional.
    const REQUIRED: &'static [&'static str] = &[];
    fn apply(self, message: &mut Self::Message);
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn set_opt<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

fn set_list(slot: &mut Vec<String>, values: Vec<String>) {
    if !values.is_empty() {
        *slot = values;
    }
}

/// "80" or "80:90" -> [first, last].
pub fn range(text: &str) -> Result<PortRange, String> {
    let (first, last) = text.split_once(':').unwrap_or((text, text));
    let number = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("\"{text}\" is not PORT or FIRST:LAST"))
    };
    Ok(PortRange(vec![number(first)?, number(last)?]))
}

/// A port range as [first, last] (one value for clap, not a list).
#[derive(Clone, Debug)]
pub struct PortRange(pub Vec<i64>);

#[derive(Args)]
pub struct NodeFields {
    /// This node's name.
    #[arg(long)]
    pub name: Option<String>,
    /// This node's VTEP address: the outer source of the VXLAN it sends.
    #[arg(long)]
    pub vtep_ip: Option<String>,
    /// The dataplane port towards the underlay and the outside world.
    #[arg(long)]
    pub uplink: Option<String>,
    /// The uplink's MAC address.
    #[arg(long)]
    pub uplink_mac: Option<String>,
    /// The address SNAT traffic leaves from.
    #[arg(long)]
    pub external_ip: Option<String>,
    /// The next hop of SNAT traffic (its MAC is resolved by ARP when not given).
    #[arg(long)]
    pub external_gateway_ip: Option<String>,
    /// The next hop's MAC address.
    #[arg(long)]
    pub external_gateway_mac: Option<String>,
    /// External ports SNAT uses, FIRST:LAST (shared out among the workers).
    #[arg(long, value_parser = range)]
    pub snat_port_range: Option<PortRange>,
}

impl Fields for NodeFields {
    type Message = pb::Node;
    fn apply(self, m: &mut pb::Node) {
        set(&mut m.name, self.name);
        set_opt(&mut m.vtep_ip, self.vtep_ip);
        set_opt(&mut m.uplink, self.uplink);
        set_opt(&mut m.uplink_mac, self.uplink_mac);
        set_opt(&mut m.external_ip, self.external_ip);
        set_opt(&mut m.external_gateway_ip, self.external_gateway_ip);
        set_opt(&mut m.external_gateway_mac, self.external_gateway_mac);
        set(&mut m.snat_port_range, self.snat_port_range.map(|r| r.0));
    }
}

#[derive(Args)]
pub struct PortFields {
    /// How the port reaches its packets: pcap | vhost-user | tap | af-xdp | af-packet | dpdk.
    #[arg(long)]
    pub driver: Option<String>,
    /// The vhost-user socket (the port's `socket` field).
    #[arg(long = "vhost-socket", id = "vhost_socket")]
    pub socket: Option<String>,
    /// The kernel interface (tap, af-xdp, af-packet).
    #[arg(long)]
    pub ifname: Option<String>,
    /// The capture file a pcap port reads.
    #[arg(long)]
    pub path: Option<String>,
    /// The PCI address of a DPDK port.
    #[arg(long)]
    pub pci: Option<String>,
    /// Largest IP packet, in bytes (default 1500).
    #[arg(long)]
    pub mtu: Option<i64>,
}

impl Fields for PortFields {
    type Message = pb::Port;
    const REQUIRED: &'static [&'static str] = &["driver"];
    fn apply(self, m: &mut pb::Port) {
        set(&mut m.driver, self.driver);
        set_opt(&mut m.socket, self.socket);
        set_opt(&mut m.ifname, self.ifname);
        set_opt(&mut m.path, self.path);
        set_opt(&mut m.pci, self.pci);
        set_opt(&mut m.mtu, self.mtu);
    }
}

#[derive(Args)]
pub struct ChassisFields {
    /// The other node's VTEP address.
    #[arg(long)]
    pub vtep_ip: Option<String>,
    /// The MAC its VTEP address is reached at (resolved by ARP when not given).
    #[arg(long)]
    pub mac: Option<String>,
}

impl Fields for ChassisFields {
    type Message = pb::Chassis;
    const REQUIRED: &'static [&'static str] = &["vtep_ip"];
    fn apply(self, m: &mut pb::Chassis) {
        set(&mut m.vtep_ip, self.vtep_ip);
        set_opt(&mut m.mac, self.mac);
    }
}

#[derive(Args)]
pub struct NetworkFields {
    /// The tenant owning the network (its connections are kept apart from others').
    #[arg(long)]
    pub tenant: Option<String>,
    /// The VXLAN network identifier, 1 to 16777215, unique.
    #[arg(long)]
    pub vni: Option<i64>,
    /// The network's prefix, e.g. 10.0.0.0/24.
    #[arg(long)]
    pub cidr: Option<String>,
    /// The router's address in this network.
    #[arg(long)]
    pub gateway_ip: Option<String>,
}

impl Fields for NetworkFields {
    type Message = pb::Network;
    const REQUIRED: &'static [&'static str] = &["tenant", "vni", "cidr"];
    fn apply(self, m: &mut pb::Network) {
        set(&mut m.tenant, self.tenant);
        set(&mut m.vni, self.vni);
        set(&mut m.cidr, self.cidr);
        set_opt(&mut m.gateway_ip, self.gateway_ip);
    }
}

#[derive(Args)]
pub struct RouterFields {
    /// The tenant owning the router.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The router's MAC address in each of its networks.
    #[arg(long)]
    pub mac: Option<String>,
    /// A network attached to the router; repeatable (replaces the list).
    #[arg(long = "network")]
    pub networks: Vec<String>,
    /// Traffic to the outside leaves through this node's external address (true|false).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub snat: Option<bool>,
    /// The external address of this router's SNAT (default: the node's).
    #[arg(long)]
    pub external_ip: Option<String>,
}

impl Fields for RouterFields {
    type Message = pb::Router;
    const REQUIRED: &'static [&'static str] = &["tenant", "mac"];
    fn apply(self, m: &mut pb::Router) {
        set(&mut m.tenant, self.tenant);
        set(&mut m.mac, self.mac);
        set_list(&mut m.networks, self.networks);
        set(&mut m.snat, self.snat);
        set_opt(&mut m.external_ip, self.external_ip);
    }
}

#[derive(Args)]
pub struct LogicalPortFields {
    /// The network the port is in.
    #[arg(long)]
    pub network: Option<String>,
    /// The port's MAC address.
    #[arg(long)]
    pub mac: Option<String>,
    /// The port's IP address, inside the network's prefix.
    #[arg(long)]
    pub ip: Option<String>,
    /// The dataplane port hosting it here.
    #[arg(long)]
    pub port: Option<String>,
    /// The chassis hosting it elsewhere.
    #[arg(long)]
    pub chassis: Option<String>,
    /// The VLAN of a trunk sub-port on its dataplane port.
    #[arg(long)]
    pub vlan: Option<i64>,
    /// Drop frames whose source MAC or IP is not the port's (true|false, default true).
    #[arg(long)]
    pub port_security: Option<bool>,
}

impl Fields for LogicalPortFields {
    type Message = pb::LogicalPort;
    const REQUIRED: &'static [&'static str] = &["network", "mac"];
    fn apply(self, m: &mut pb::LogicalPort) {
        set(&mut m.network, self.network);
        set(&mut m.mac, self.mac);
        set_opt(&mut m.ip, self.ip);
        set_opt(&mut m.port, self.port);
        set_opt(&mut m.chassis, self.chassis);
        set_opt(&mut m.vlan, self.vlan);
        set_opt(&mut m.port_security, self.port_security);
    }
}

#[derive(Args)]
pub struct PortPairFields {
    /// The logical port the service function receives on.
    #[arg(long)]
    pub ingress: Option<String>,
    /// The logical port the service function sends back on (may be the ingress).
    #[arg(long)]
    pub egress: Option<String>,
    /// The encapsulation the function understands: none (proxied) | mpls | nsh.
    #[arg(long)]
    pub correlation: Option<String>,
    /// Share of the group's flows, relative to the other pairs (default 1).
    #[arg(long)]
    pub weight: Option<i64>,
}

impl Fields for PortPairFields {
    type Message = pb::PortPair;
    const REQUIRED: &'static [&'static str] = &["ingress", "egress"];
    fn apply(self, m: &mut pb::PortPair) {
        set(&mut m.ingress, self.ingress);
        set(&mut m.egress, self.egress);
        set_opt(&mut m.correlation, self.correlation);
        set_opt(&mut m.weight, self.weight);
    }
}

#[derive(Args)]
pub struct PortPairGroupFields {
    /// A port pair of the group; repeatable (replaces the list).
    #[arg(long = "port-pair")]
    pub port_pairs: Vec<String>,
}

impl Fields for PortPairGroupFields {
    type Message = pb::PortPairGroup;
    const REQUIRED: &'static [&'static str] = &["port_pairs"];
    fn apply(self, m: &mut pb::PortPairGroup) {
        set_list(&mut m.port_pairs, self.port_pairs);
    }
}

#[derive(Args)]
pub struct FlowClassifierFields {
    /// IPv4 | IPv6 (default IPv4).
    #[arg(long)]
    pub ethertype: Option<String>,
    /// tcp | udp | icmp | icmpv6 | a number (default: any).
    #[arg(long)]
    pub protocol: Option<String>,
    /// Source ports matched: PORT or FIRST:LAST (default: any).
    #[arg(long, value_parser = range)]
    pub source_port_range: Option<PortRange>,
    /// Destination ports matched: PORT or FIRST:LAST (default: any).
    #[arg(long, value_parser = range)]
    pub destination_port_range: Option<PortRange>,
    /// Source addresses matched, e.g. 10.0.0.0/24 (default: any).
    #[arg(long)]
    pub source_ip_prefix: Option<String>,
    /// Destination addresses matched (default: any).
    #[arg(long)]
    pub destination_ip_prefix: Option<String>,
    /// Only traffic from this logical port.
    #[arg(long)]
    pub logical_source_port: Option<String>,
    /// Only traffic to this logical port.
    #[arg(long)]
    pub logical_destination_port: Option<String>,
}

impl Fields for FlowClassifierFields {
    type Message = pb::FlowClassifier;
    fn apply(self, m: &mut pb::FlowClassifier) {
        set_opt(&mut m.ethertype, self.ethertype);
        set_opt(&mut m.protocol, self.protocol);
        set(
            &mut m.source_port_range,
            self.source_port_range.map(|r| r.0),
        );
        set(
            &mut m.destination_port_range,
            self.destination_port_range.map(|r| r.0),
        );
        set_opt(&mut m.source_ip_prefix, self.source_ip_prefix);
        set_opt(&mut m.destination_ip_prefix, self.destination_ip_prefix);
        set_opt(&mut m.logical_source_port, self.logical_source_port);
        set_opt(
            &mut m.logical_destination_port,
            self.logical_destination_port,
        );
    }
}

#[derive(Args)]
pub struct PortChainFields {
    /// A port pair group, in chain order; repeatable (replaces the list).
    #[arg(long = "port-pair-group")]
    pub port_pair_groups: Vec<String>,
    /// A flow classifier; repeatable (replaces the list).
    #[arg(long = "flow-classifier")]
    pub flow_classifiers: Vec<String>,
    /// The chain's id in its labels, 1 to 4095 (default on create: the lowest not in use).
    #[arg(long)]
    pub chain_id: Option<i64>,
    /// The chain's encapsulation: mpls | nsh (default mpls).
    #[arg(long)]
    pub correlation: Option<String>,
    /// Replies take the same service functions in reverse (true|false).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub symmetric: Option<bool>,
    /// TTL of the MPLS label pushed by the classifier, 1 to 255 (default 255).
    #[arg(long)]
    pub mpls_ttl: Option<i64>,
}

impl Fields for PortChainFields {
    type Message = pb::PortChain;
    const REQUIRED: &'static [&'static str] = &["port_pair_groups"];
    fn apply(self, m: &mut pb::PortChain) {
        set_list(&mut m.port_pair_groups, self.port_pair_groups);
        set_list(&mut m.flow_classifiers, self.flow_classifiers);
        set(&mut m.chain_id, self.chain_id);
        set_opt(&mut m.correlation, self.correlation);
        set(&mut m.symmetric, self.symmetric);
        set_opt(&mut m.mpls_ttl, self.mpls_ttl);
    }
}
