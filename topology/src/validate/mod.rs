//! File -> model: parses every value, resolves every name to an id and checks the rules
//! that tie objects together. The first error refuses the whole file; it names the
//! object (section and name) and the field.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use ipnet::IpNet;
use packet::MacAddr;

use super::file;
use super::model::*;
use super::TopologyError;

mod conntrack;
mod dpdk;
mod network;
mod services;
mod sfc;

use conntrack::conntrack;
use dpdk::dpdk;

use network::{logical_ports, networks, routers};
use sfc::{flow_classifier, port_chains, port_pair_groups, port_pairs};

type Result<T> = std::result::Result<T, TopologyError>;

pub(super) fn validate(f: &file::TopologyFile) -> Result<Topology> {
    let names = Names::index(f)?;
    let mut t = Topology {
        node: node(&f.node, &names)?,
        chassis: Vec::new(),
        ports: f.ports.iter().map(port).collect::<Result<_>>()?,
        networks: networks(&f.networks)?,
        routers: Vec::new(),
        logical_ports: Vec::new(),
        port_pairs: Vec::new(),
        port_pair_groups: Vec::new(),
        flow_classifiers: Vec::new(),
        port_chains: Vec::new(),
        conntrack: conntrack(&f.conntrack)?,
        dpdk: dpdk(f.dpdk.as_ref())?,
    };
    t.chassis = chassis(&f.chassis, &t.node)?;
    t.routers = routers(&f.routers, &names, &mut t.networks, &t.node)?;
    t.logical_ports = logical_ports(&f.logical_ports, &names, &t)?;
    t.port_pairs = port_pairs(&f.port_pairs, &names, &t)?;
    t.port_pair_groups = port_pair_groups(&f.port_pair_groups, &names)?;
    t.flow_classifiers = f
        .flow_classifiers
        .iter()
        .map(|fc| flow_classifier(fc, &names))
        .collect::<Result<_>>()?;
    t.port_chains = port_chains(&f.port_chains, &names, &t)?;
    node_needs(&t)?;
    Ok(t)
}

/// Name -> position, for each section that others refer to.
type NameMap<'a> = HashMap<&'a str, usize>;

struct Names<'a> {
    ports: NameMap<'a>,
    chassis: NameMap<'a>,
    networks: NameMap<'a>,
    logical_ports: NameMap<'a>,
    port_pairs: NameMap<'a>,
    port_pair_groups: NameMap<'a>,
    flow_classifiers: NameMap<'a>,
}

impl<'a> Names<'a> {
    /// Also refuses empty and duplicate names (unique per section: a port and a port
    /// pair may share a name) and sections larger than their id type.
    fn index(f: &'a file::TopologyFile) -> Result<Self> {
        index("routers", &f.routers, RouterId::CAPACITY)?;
        index("port_chains", &f.port_chains, PortChainId::CAPACITY)?;
        Ok(Names {
            ports: index("ports", &f.ports, PortId::CAPACITY)?,
            chassis: index("chassis", &f.chassis, ChassisId::CAPACITY)?,
            networks: index("networks", &f.networks, NetworkId::CAPACITY)?,
            logical_ports: index("logical_ports", &f.logical_ports, LogicalPortId::CAPACITY)?,
            port_pairs: index("port_pairs", &f.port_pairs, PortPairId::CAPACITY)?,
            port_pair_groups: index(
                "port_pair_groups",
                &f.port_pair_groups,
                PortPairGroupId::CAPACITY,
            )?,
            flow_classifiers: index(
                "flow_classifiers",
                &f.flow_classifiers,
                FlowClassifierId::CAPACITY,
            )?,
        })
    }
}

trait Named {
    fn name(&self) -> &str;
}

macro_rules! named {
    ($($t:ident),*) => {$(
        impl Named for file::$t {
            fn name(&self) -> &str {
                &self.name
            }
        }
    )*};
}

named!(
    Chassis,
    Port,
    Network,
    Router,
    LogicalPort,
    PortPair,
    PortPairGroup,
    FlowClassifier,
    PortChain
);

fn index<'a, T: Named>(
    section: &'static str,
    items: &'a [T],
    capacity: usize,
) -> Result<NameMap<'a>> {
    let mut map = NameMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let obj = Obj::new(section, item.name());
        obj.not_empty("name", item.name())?;
        if i >= capacity {
            return Err(obj.err(
                "name",
                format!("more than {capacity} [[{section}]] entries"),
            ));
        }
        if let Some(first) = map.insert(item.name(), i) {
            let message = format!(
                "defined twice (entries {} and {} of [[{section}]])",
                first + 1,
                i + 1
            );
            return Err(obj.err("name", message));
        }
    }
    Ok(map)
}

/// The object being checked: errors name it and one of its fields.
#[derive(Clone, Copy)]
struct Obj<'a> {
    section: &'static str,
    name: &'a str,
}

impl<'a> Obj<'a> {
    fn new(section: &'static str, name: &'a str) -> Self {
        Obj { section, name }
    }

    fn err(self, field: &'static str, message: impl Into<String>) -> TopologyError {
        TopologyError::Invalid {
            section: self.section,
            name: self.name.to_string(),
            field,
            message: message.into(),
        }
    }

    fn not_empty(self, field: &'static str, value: &str) -> Result<()> {
        if value.is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        Ok(())
    }

    fn resolve(
        self,
        field: &'static str,
        names: &NameMap,
        kind: &str,
        name: &str,
    ) -> Result<usize> {
        names
            .get(name)
            .copied()
            .ok_or_else(|| self.err(field, format!("unknown {kind} \"{name}\"")))
    }

    /// A list of references, none twice, each of which may belong to one object only
    /// (`owners`: id -> name of the object that took it first).
    fn exclusive(
        self,
        field: &'static str,
        refs: &[String],
        (names, kind): (&NameMap, &str),
        owners: &mut HashMap<usize, &'a str>,
        already: &str,
    ) -> Result<Vec<usize>> {
        let mut ids = Vec::with_capacity(refs.len());
        for name in refs {
            let id = self.resolve(field, names, kind, name)?;
            if ids.contains(&id) {
                return Err(self.err(field, format!("{kind} \"{name}\" is listed twice")));
            }
            if let Some(owner) = owners.insert(id, self.name) {
                let message = format!("{kind} \"{name}\" is already {already} \"{owner}\"");
                return Err(self.err(field, message));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    fn ip(self, field: &'static str, text: &str) -> Result<IpAddr> {
        text.parse()
            .map_err(|_| self.err(field, format!("\"{text}\" is not an IP address")))
    }

    /// Only unicast: every MAC in the file is one an interface owns.
    fn mac(self, field: &'static str, text: &str) -> Result<MacAddr> {
        let mac: MacAddr = text
            .parse()
            .map_err(|e| self.err(field, format!("\"{text}\" is not a MAC address: {e}")))?;
        if !mac.is_unicast() {
            let why = if mac.is_multicast() {
                "group bit set"
            } else {
                "all zeros"
            };
            return Err(self.err(field, format!("{mac} is not a unicast MAC address ({why})")));
        }
        Ok(mac)
    }

    /// A prefix whose host bits are zero, so that what is written is what is meant.
    fn cidr(self, field: &'static str, text: &str) -> Result<IpNet> {
        let net: IpNet = text.parse().map_err(|_| {
            self.err(
                field,
                format!("\"{text}\" is not a CIDR prefix (like 10.0.0.0/24)"),
            )
        })?;
        if net.trunc() != net {
            let message = format!("{net} has host bits set; did you mean {}?", net.trunc());
            return Err(self.err(field, message));
        }
        Ok(net)
    }

    fn int<T: TryFrom<i64>>(
        self,
        field: &'static str,
        value: i64,
        range: RangeInclusive<i64>,
    ) -> Result<T> {
        match T::try_from(value) {
            Ok(v) if range.contains(&value) => Ok(v),
            _ => {
                let message = format!("{value} is outside {}..={}", range.start(), range.end());
                Err(self.err(field, message))
            }
        }
    }

    fn choice<T: Copy>(self, field: &'static str, value: &str, allowed: &[(&str, T)]) -> Result<T> {
        match allowed.iter().find(|(name, _)| *name == value) {
            Some(&(_, v)) => Ok(v),
            None => {
                let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
                Err(self.unknown(field, value, &names))
            }
        }
    }

    fn unknown(self, field: &'static str, value: &str, allowed: &[&str]) -> TopologyError {
        let message = format!(
            "unknown value \"{value}\"; expected one of: {}",
            allowed.join(", ")
        );
        self.err(field, message)
    }
}

fn opt<T>(text: &Option<String>, parse: impl FnOnce(&str) -> Result<T>) -> Result<Option<T>> {
    text.as_deref().map(parse).transpose()
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Whether `ip` can be a host of `net` (named `what` in the message).
fn in_net(obj: Obj, field: &'static str, ip: IpAddr, net: &IpNet, what: &str) -> Result<()> {
    if ip.is_ipv4() != net.addr().is_ipv4() {
        let message = format!(
            "{ip} is {} but {what} {net} is {}",
            family(ip),
            family(net.addr())
        );
        return Err(obj.err(field, message));
    }
    if !net.contains(&ip) {
        return Err(obj.err(field, format!("{ip} is outside {what} {net}")));
    }
    Ok(())
}

fn node(n: &file::Node, names: &Names) -> Result<Node> {
    let obj = Obj::new("node", &n.name);
    obj.not_empty("name", &n.name)?;
    let [first, last] = n.snat_port_range;
    let first: u16 = obj.int("snat_port_range", first, 1..=65535)?;
    let last: u16 = obj.int("snat_port_range", last, 1..=65535)?;
    if first > last {
        let message = format!("[{first}, {last}] is empty: the first port is above the last");
        return Err(obj.err("snat_port_range", message));
    }
    let external_ip = opt(&n.external_ip, |s| obj.ip("external_ip", s))?;
    let external_gateway_ip = opt(&n.external_gateway_ip, |s| obj.ip("external_gateway_ip", s))?;
    if let (Some(ip), Some(gw)) = (external_ip, external_gateway_ip) {
        if ip.is_ipv4() != gw.is_ipv4() {
            let message = format!(
                "{gw} is {} but external_ip {ip} is {}",
                family(gw),
                family(ip)
            );
            return Err(obj.err("external_gateway_ip", message));
        }
    }
    Ok(Node {
        name: n.name.clone(),
        vtep_ip: opt(&n.vtep_ip, |s| obj.ip("vtep_ip", s))?,
        uplink: opt(&n.uplink, |s| {
            obj.resolve("uplink", &names.ports, "port", s)
        })?
        .map(PortId::from_index),
        uplink_mac: opt(&n.uplink_mac, |s| obj.mac("uplink_mac", s))?,
        external_ip,
        external_gateway_ip,
        external_gateway_mac: opt(&n.external_gateway_mac, |s| {
            obj.mac("external_gateway_mac", s)
        })?,
        snat_port_range: (first, last),
    })
}

/// What the node must have for the objects that use it.
fn node_needs(t: &Topology) -> Result<()> {
    let obj = Obj::new("node", &t.node.name);
    if let Some(c) = t.chassis.first() {
        let why = format!("required to reach chassis \"{}\" over VXLAN", c.name);
        if t.node.vtep_ip.is_none() {
            return Err(obj.err("vtep_ip", why));
        }
        if t.node.uplink.is_none() {
            return Err(obj.err("uplink", why));
        }
        // The outer source MAC of the encapsulated frames.
        if t.node.uplink_mac.is_none() {
            return Err(obj.err("uplink_mac", why));
        }
    }
    if let Some(r) = t.routers.iter().find(|r| r.snat) {
        if t.node.uplink.is_none() {
            let message = format!(
                "required by router \"{}\": SNAT traffic leaves through the uplink",
                r.name
            );
            return Err(obj.err("uplink", message));
        }
    }
    Ok(())
}

fn chassis(items: &[file::Chassis], node: &Node) -> Result<Vec<Chassis>> {
    let mut vteps: HashMap<IpAddr, &str> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for c in items {
        let obj = Obj::new("chassis", &c.name);
        let vtep_ip = obj.ip("vtep_ip", &c.vtep_ip)?;
        if let Some(own) = node.vtep_ip {
            if own == vtep_ip {
                return Err(obj.err("vtep_ip", format!("{vtep_ip} is this node's own vtep_ip")));
            }
            if own.is_ipv4() != vtep_ip.is_ipv4() {
                let message = format!(
                    "{vtep_ip} is {} but node.vtep_ip {own} is {}",
                    family(vtep_ip),
                    family(own)
                );
                return Err(obj.err("vtep_ip", message));
            }
        }
        if let Some(other) = vteps.insert(vtep_ip, &c.name) {
            let message = format!("{vtep_ip} is already the vtep_ip of chassis \"{other}\"");
            return Err(obj.err("vtep_ip", message));
        }
        out.push(Chassis {
            name: c.name.clone(),
            vtep_ip,
            mac: opt(&c.mac, |s| obj.mac("mac", s))?,
            down: c.down,
        });
    }
    Ok(out)
}

/// The most queue pairs a kernel-interface or vhost-user port opens (sockets, file
/// descriptors, virtqueue pairs).
const MAX_QUEUES: i64 = 64;

const DRIVERS: [&str; 6] = ["pcap", "vhost-user", "tap", "af-xdp", "af-packet", "dpdk"];

const VHOST_MODES: [(&str, VhostMode); 2] =
    [("server", VhostMode::Server), ("client", VhostMode::Client)];

fn port(p: &file::Port) -> Result<Port> {
    let obj = Obj::new("ports", &p.name);
    let need = |field: &'static str, value: &Option<String>| match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(obj.err(field, format!("required by driver {}", p.driver))),
    };
    let queues = match p.queues {
        None => 1,
        Some(_) if p.driver == "pcap" => {
            return Err(obj.err("queues", "not used by driver pcap"));
        }
        Some(q) if p.driver == "dpdk" => obj.int("queues", q, 1..=dpdk::MAX_QUEUES)?,
        Some(q) => obj.int("queues", q, 1..=MAX_QUEUES)?,
    };
    let driver = match p.driver.as_str() {
        "pcap" => Driver::Pcap {
            path: p.path.as_ref().map(PathBuf::from),
        },
        "vhost-user" => Driver::VhostUser {
            socket: need("socket", &p.socket)?.into(),
            mode: opt(&p.vhost_mode, |mode| {
                obj.choice("vhost_mode", mode, &VHOST_MODES)
            })?
            .unwrap_or_default(),
        },
        "tap" => Driver::Tap {
            ifname: need("ifname", &p.ifname)?,
        },
        "af-xdp" => Driver::AfXdp {
            ifname: need("ifname", &p.ifname)?,
        },
        "af-packet" => Driver::AfPacket {
            ifname: need("ifname", &p.ifname)?,
        },
        "dpdk" => dpdk::port(p, &obj, queues)?,
        other => return Err(obj.unknown("driver", other, &DRIVERS)),
    };
    // Each driver reads one field; another one set is a leftover or a mistake.
    let used = match driver {
        Driver::Pcap { .. } => "path",
        Driver::VhostUser { .. } => "socket",
        Driver::Dpdk { .. } if p.pci.is_some() => "pci",
        Driver::Dpdk { .. } => "devargs",
        _ => "ifname",
    };
    let fields = [
        ("socket", &p.socket),
        ("ifname", &p.ifname),
        ("path", &p.path),
        ("pci", &p.pci),
        ("devargs", &p.devargs),
    ];
    if let Some((field, _)) = fields.iter().find(|(f, v)| v.is_some() && *f != used) {
        return Err(obj.err(field, format!("not used by driver {}", p.driver)));
    }
    if !matches!(driver, Driver::Dpdk { .. }) {
        let queues = [("rx_queues", p.rx_queues), ("tx_queues", p.tx_queues)];
        if let Some((field, _)) = queues.iter().find(|(_, v)| v.is_some()) {
            return Err(obj.err(field, format!("not used by driver {}", p.driver)));
        }
    }
    if p.vhost_mode.is_some() && !matches!(driver, Driver::VhostUser { .. }) {
        return Err(obj.err("vhost_mode", format!("not used by driver {}", p.driver)));
    }
    Ok(Port {
        name: p.name.clone(),
        driver,
        mtu: obj.int("mtu", p.mtu, 68..=65535)?,
        queues,
    })
}
