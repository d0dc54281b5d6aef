//! The topology file as written: serde mirrors of the TOML sections, field for field
//! (the contract is `shared/topology-example.toml`). Addresses, names and enum values
//! stay strings and integers stay `i64` (TOML's own integer) so that the validator, not
//! serde, judges them and can name the object and the field in its error.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    pub node: Node,
    #[serde(default)]
    pub chassis: Vec<Chassis>,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub networks: Vec<Network>,
    #[serde(default)]
    pub routers: Vec<Router>,
    #[serde(default)]
    pub logical_ports: Vec<LogicalPort>,
    #[serde(default)]
    pub port_pairs: Vec<PortPair>,
    #[serde(default)]
    pub port_pair_groups: Vec<PortPairGroup>,
    #[serde(default)]
    pub flow_classifiers: Vec<FlowClassifier>,
    #[serde(default)]
    pub port_chains: Vec<PortChain>,
    /// Connection tracking and SNAT tuning; every field has a default.
    #[serde(default)]
    pub conntrack: Conntrack,
    /// DPDK's EAL and buffer settings, read when a port has driver dpdk.
    pub dpdk: Option<Dpdk>,
}

/// `[dpdk]`: how the EAL starts (cores, memory, hugepages, extra arguments) and how
/// the mbuf pools and descriptor rings of dpdk ports are sized; every field has a
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dpdk {
    /// EAL `--lcores` (default "0": the EAL's own thread; the workers are the
    /// dataplane's threads, placed by its `--cores`).
    pub lcores: Option<String>,
    /// Megabytes the EAL reserves up front (`-m`); default: as it needs.
    pub memory_mb: Option<i64>,
    /// Run without hugepages (`--no-huge`, needs `memory_mb`); default false.
    pub no_huge: Option<bool>,
    /// EAL `--file-prefix`; default: none, and the EAL keeps no files (`--in-memory`).
    pub file_prefix: Option<String>,
    /// Mbufs in each port's pool (default 8191).
    pub mbufs: Option<i64>,
    /// Per-lcore cache of each pool (default 256; 0: none).
    pub mbuf_cache: Option<i64>,
    /// Descriptors of each receive and transmit ring (default 1024).
    pub rx_descriptors: Option<i64>,
    pub tx_descriptors: Option<i64>,
    /// Further EAL arguments, passed as they are.
    #[serde(default)]
    pub args: Vec<String>,
}

/// `[conntrack]`: table size, mapping behaviour and timeouts in seconds (names after
/// Linux's nf_conntrack sysctls; defaults are Linux's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Conntrack {
    pub max_connections: Option<i64>,
    /// "address-port-dependent" (default) or "endpoint-independent".
    pub mapping: Option<String>,
    pub tcp_timeout_syn_sent: Option<i64>,
    pub tcp_timeout_syn_recv: Option<i64>,
    pub tcp_timeout_established: Option<i64>,
    pub tcp_timeout_fin_wait: Option<i64>,
    pub tcp_timeout_close_wait: Option<i64>,
    pub tcp_timeout_last_ack: Option<i64>,
    pub tcp_timeout_time_wait: Option<i64>,
    pub tcp_timeout_close: Option<i64>,
    pub udp_timeout: Option<i64>,
    pub udp_timeout_stream: Option<i64>,
    pub icmp_timeout: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    pub vtep_ip: Option<String>,
    pub uplink: Option<String>,
    pub uplink_mac: Option<String>,
    pub external_ip: Option<String>,
    pub external_gateway_ip: Option<String>,
    pub external_gateway_mac: Option<String>,
    #[serde(default = "default_snat_port_range")]
    pub snat_port_range: [i64; 2],
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Chassis {
    pub name: String,
    pub vtep_ip: String,
    pub mac: Option<String>,
    /// Known but unreachable (its registration in the cloud's etcd lapsed): frames to
    /// its logical ports are dropped as `chassis_down`, none are flooded to it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub down: bool,
}

/// `driver` is one of pcap | vhost-user | tap | af-xdp | af-packet | dpdk; the field it
/// needs (socket, ifname, devargs or pci; path is optional for pcap) is checked by the
/// validator.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub name: String,
    pub driver: String,
    pub socket: Option<String>,
    pub ifname: Option<String>,
    pub path: Option<String>,
    pub pci: Option<String>,
    /// dpdk: the device as the EAL names it, a PCI address or a virtual device with
    /// its arguments (`net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`); `pci` is the
    /// older spelling of a PCI address.
    pub devargs: Option<String>,
    /// dpdk: receive and transmit queues when they differ (default: `queues`).
    pub rx_queues: Option<i64>,
    pub tx_queues: Option<i64>,
    /// vhost-user: "server" (default: the dataplane owns the socket) or "client".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost_mode: Option<String>,
    #[serde(default = "default_mtu")]
    pub mtu: i64,
    /// Queue pairs (a receive and a transmit queue each) of every driver but pcap;
    /// 1 when unset. For vhost-user, the pairs offered to the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub name: String,
    pub tenant: String,
    pub vni: i64,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    /// The local DHCPv4 responder answers this network's ports (default true).
    pub dhcp: Option<bool>,
    /// DHCP option 6 (at most 3, IPv4).
    pub dns_servers: Option<Vec<String>>,
    /// DHCP option 15.
    pub domain: Option<String>,
    /// DHCP lease time in seconds (default 86400).
    pub lease_time: Option<i64>,
    /// DHCP option 121 (classless static routes), Neutron's host_routes.
    pub host_routes: Option<Vec<HostRoute>>,
    /// The network's MTU (default 1500); DHCP option 26 and the RA MTU give it less
    /// the overlay's overhead when the network spans chassis.
    pub mtu: Option<i64>,
    /// IPv6: "slaac" (default), "dhcpv6-stateful" or "dhcpv6-stateless" (Neutron's
    /// ipv6_ra_mode): the router advertisement's prefix and managed/other flags.
    pub ipv6_ra_mode: Option<String>,
}

/// A route a DHCP client installs: Neutron's host route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// Neutron's extra_dhcp_opt: a DHCP option by name (dnsmasq's names, e.g.
/// bootfile-name, tftp-server) or number, and its value as text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraDhcpOpt {
    pub opt_name: String,
    pub opt_value: String,
    /// 4 (default) or 6; only IPv4 options are served.
    pub ip_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Router {
    pub name: String,
    pub tenant: String,
    pub mac: String,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default)]
    pub snat: bool,
    /// This router's own SNAT address; `node.external_ip` when unset.
    pub external_ip: Option<String>,
}

/// Bound either here (`port`, with `vlan` for a trunk sub-port) or on another node
/// (`chassis`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalPort {
    pub name: String,
    pub network: String,
    pub mac: String,
    pub ip: Option<String>,
    pub port: Option<String>,
    pub chassis: Option<String>,
    pub vlan: Option<i64>,
    /// Neutron's port_security_enabled.
    #[serde(default = "default_true")]
    pub port_security: bool,
    /// Extra DHCP options of this port (PXE boot and the like).
    pub extra_dhcp_opts: Option<Vec<ExtraDhcpOpt>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortPair {
    pub name: String,
    pub ingress: String,
    pub egress: String,
    #[serde(default = "default_pair_correlation")]
    pub correlation: String,
    #[serde(default = "default_weight")]
    pub weight: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortPairGroup {
    pub name: String,
    #[serde(default)]
    pub port_pairs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowClassifier {
    pub name: String,
    #[serde(default = "default_ethertype")]
    pub ethertype: String,
    pub protocol: Option<Protocol>,
    pub source_port_range: Option<[i64; 2]>,
    pub destination_port_range: Option<[i64; 2]>,
    pub source_ip_prefix: Option<String>,
    pub destination_ip_prefix: Option<String>,
    pub logical_source_port: Option<String>,
    pub logical_destination_port: Option<String>,
}

impl TopologyFile {
    /// The file as TOML that reads back equal (unset optional fields are left out).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a topology file is representable in TOML")
    }
}

/// networking-sfc accepts a protocol by name or by number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    untagged,
    expecting = "expected a protocol name (tcp, udp, icmp, icmpv6) or number (0-255)"
)]
pub enum Protocol {
    Number(i64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortChain {
    pub name: String,
    pub chain_id: i64,
    #[serde(default)]
    pub port_pair_groups: Vec<String>,
    #[serde(default)]
    pub flow_classifiers: Vec<String>,
    #[serde(default = "default_chain_correlation")]
    pub correlation: String,
    #[serde(default)]
    pub symmetric: bool,
    /// TTL of the MPLS label pushed for this chain (1..=255, default 255).
    #[serde(default)]
    pub mpls_ttl: Option<i64>,
}

fn default_snat_port_range() -> [i64; 2] {
    [1024, 65535]
}

fn default_mtu() -> i64 {
    1500
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn default_true() -> bool {
    true
}

fn default_pair_correlation() -> String {
    "none".into()
}

fn default_chain_correlation() -> String {
    "mpls".into()
}

fn default_weight() -> i64 {
    1
}

fn default_ethertype() -> String {
    "IPv4".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every topology the repository holds: what the daemon writes back (dpctl
    /// topology, the state file) must read as the same configuration.
    #[test]
    fn every_topology_reads_back_equal_from_its_toml() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(root.join("../pcap-fixtures"))
            .unwrap()
            .map(|entry| entry.unwrap().path().join("topology.toml"))
            .filter(|path| path.exists())
            .collect();
        files.extend(
            std::fs::read_dir(root.join("../dataplane/tests/data"))
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|e| e == "toml")),
        );
        assert!(files.len() > 20);
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(file) = toml::from_str::<TopologyFile>(&text) else {
                continue; // a deliberately broken file
            };
            let written = file.to_toml();
            let back: TopologyFile = toml::from_str(&written)
                .unwrap_or_else(|e| panic!("{}: {e}\n{written}", path.display()));
            assert_eq!(back, file, "{}", path.display());
        }
    }
}
