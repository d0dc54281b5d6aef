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
        });
    }
    Ok(out)
}

const DRIVERS: [&str; 6] = ["pcap", "vhost-user", "tap", "af-xdp", "af-packet", "dpdk"];

fn port(p: &file::Port) -> Result<Port> {
    let obj = Obj::new("ports", &p.name);
    let need = |field: &'static str, value: &Option<String>| match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(obj.err(field, format!("required by driver {}", p.driver))),
    };
    let driver = match p.driver.as_str() {
        "pcap" => Driver::Pcap {
            path: p.path.as_ref().map(PathBuf::from),
        },
        "vhost-user" => Driver::VhostUser {
            socket: need("socket", &p.socket)?.into(),
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
        "dpdk" => Driver::Dpdk {
            pci: need("pci", &p.pci)?,
        },
        other => return Err(obj.unknown("driver", other, &DRIVERS)),
    };
    // Each driver reads one field; another one set is a leftover or a mistake.
    let used = match driver {
        Driver::Pcap { .. } => "path",
        Driver::VhostUser { .. } => "socket",
        Driver::Dpdk { .. } => "pci",
        _ => "ifname",
    };
    let fields = [
        ("socket", &p.socket),
        ("ifname", &p.ifname),
        ("path", &p.path),
        ("pci", &p.pci),
    ];
    if let Some((field, _)) = fields.iter().find(|(f, v)| v.is_some() && *f != used) {
        return Err(obj.err(field, format!("not used by driver {}", p.driver)));
    }
    Ok(Port {
        name: p.name.clone(),
        driver,
        mtu: obj.int("mtu", p.mtu, 68..=65535)?,
    })
}

fn networks(items: &[file::Network]) -> Result<Vec<Network>> {
    let mut vnis: HashMap<u32, &str> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for n in items {
        let obj = Obj::new("networks", &n.name);
        obj.not_empty("tenant", &n.tenant)?;
        let vni: u32 = obj.int("vni", n.vni, 1..=16_777_215)?;
        if let Some(other) = vnis.insert(vni, &n.name) {
            return Err(obj.err(
                "vni",
                format!("{vni} is already used by network \"{other}\""),
            ));
        }
        let cidr = obj.cidr("cidr", &n.cidr)?;
        let gateway_ip = opt(&n.gateway_ip, |s| obj.ip("gateway_ip", s))?;
        if let Some(gw) = gateway_ip {
            in_net(obj, "gateway_ip", gw, &cidr, "the cidr")?;
        }
        out.push(Network {
            name: n.name.clone(),
            tenant: n.tenant.clone(),
            vni,
            cidr,
            gateway_ip,
            router: None,
        });
    }
    Ok(out)
}

/// Also fills `Network::router`.
fn routers(
    items: &[file::Router],
    names: &Names,
    networks: &mut [Network],
    node: &Node,
) -> Result<Vec<Router>> {
    let mut attached: HashMap<usize, &str> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, r) in items.iter().enumerate() {
        let obj = Obj::new("routers", &r.name);
        obj.not_empty("tenant", &r.tenant)?;
        let mac = obj.mac("mac", &r.mac)?;
        let refs = (&names.networks, "network");
        let ids = obj.exclusive(
            "networks",
            &r.networks,
            refs,
            &mut attached,
            "attached to router",
        )?;
        for (k, &id) in ids.iter().enumerate() {
            let net = &networks[id];
            if net.tenant != r.tenant {
                let message = format!(
                    "network \"{}\" belongs to tenant \"{}\", the router to tenant \"{}\"",
                    net.name, net.tenant, r.tenant
                );
                return Err(obj.err("networks", message));
            }
            if net.gateway_ip.is_none() {
                let message = format!(
                    "network \"{}\" has no gateway_ip for the router to own",
                    net.name
                );
                return Err(obj.err("networks", message));
            }
            // Routing between overlapping networks would be ambiguous.
            if let Some(&other) = ids[..k]
                .iter()
                .find(|&&o| overlaps(&networks[o].cidr, &net.cidr))
            {
                let other = &networks[other];
                let message = format!(
                    "network \"{}\" ({}) overlaps network \"{}\" ({})",
                    net.name, net.cidr, other.name, other.cidr
                );
                return Err(obj.err("networks", message));
            }
        }
        for &id in &ids {
            networks[id].router = Some(RouterId::from_index(i));
        }
        let external_ip = opt(&r.external_ip, |s| obj.ip("external_ip", s))?;
        if r.snat && external_ip.is_none() && node.external_ip.is_none() {
            return Err(obj.err(
                "snat",
                "true, but neither node.external_ip nor this router's external_ip is set",
            ));
        }
        if let (Some(ip), Some(gw)) = (external_ip, node.external_gateway_ip) {
            if ip.is_ipv4() != gw.is_ipv4() {
                let message = format!(
                    "{ip} is {} but node.external_gateway_ip {gw} is {}",
                    family(ip),
                    family(gw)
                );
                return Err(obj.err("external_ip", message));
            }
        }
        out.push(Router {
            name: r.name.clone(),
            tenant: r.tenant.clone(),
            mac,
            networks: ids.into_iter().map(NetworkId::from_index).collect(),
            snat: r.snat,
            external_ip,
        });
    }
    Ok(out)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// Who already took a (network, MAC), a (network, IP) or a (port, VLAN).
#[derive(Default)]
struct Taken<'a> {
    macs: HashMap<(usize, MacAddr), &'a str>,
    ips: HashMap<(usize, IpAddr), &'a str>,
    slots: HashMap<(PortId, Option<u16>), &'a str>,
}

fn logical_ports(
    items: &[file::LogicalPort],
    names: &Names,
    t: &Topology,
) -> Result<Vec<LogicalPort>> {
    let mut taken = Taken::default();
    items
        .iter()
        .map(|lp| logical_port(lp, names, t, &mut taken))
        .collect()
}

fn logical_port<'a>(
    lp: &'a file::LogicalPort,
    names: &Names,
    t: &Topology,
    taken: &mut Taken<'a>,
) -> Result<LogicalPort> {
    let obj = Obj::new("logical_ports", &lp.name);
    let net_id = obj.resolve("network", &names.networks, "network", &lp.network)?;
    let net = &t.networks[net_id];
    let mac = obj.mac("mac", &lp.mac)?;
    if let Some(router) = net.router.map(|r| t.router(r)) {
        if router.mac == mac {
            let message = format!(
                "{mac} is the MAC of router \"{}\" of network \"{}\"",
                router.name, net.name
            );
            return Err(obj.err("mac", message));
        }
    }
    if let Some(other) = taken.macs.insert((net_id, mac), &lp.name) {
        let message = format!(
            "{mac} is already used by logical port \"{other}\" in network \"{}\"",
            net.name
        );
        return Err(obj.err("mac", message));
    }
    let ip = opt(&lp.ip, |s| obj.ip("ip", s))?;
    if let Some(ip) = ip {
        in_net(
            obj,
            "ip",
            ip,
            &net.cidr,
            &format!("network \"{}\"", net.name),
        )?;
        if net.gateway_ip == Some(ip) {
            return Err(obj.err(
                "ip",
                format!("{ip} is the gateway_ip of network \"{}\"", net.name),
            ));
        }
        if let Some(other) = taken.ips.insert((net_id, ip), &lp.name) {
            let message = format!(
                "{ip} is already used by logical port \"{other}\" in network \"{}\"",
                net.name
            );
            return Err(obj.err("ip", message));
        }
    }
    Ok(LogicalPort {
        name: lp.name.clone(),
        network: NetworkId::from_index(net_id),
        mac,
        ip,
        binding: binding(obj, lp, names, t, taken)?,
        port_security: lp.port_security,
    })
}

fn binding<'a>(
    obj: Obj,
    lp: &'a file::LogicalPort,
    names: &Names,
    t: &Topology,
    taken: &mut Taken<'a>,
) -> Result<Binding> {
    match (&lp.port, &lp.chassis) {
        (Some(port), Some(chassis)) => {
            let message = format!(
                "bound both here (port \"{port}\") and to chassis \"{chassis}\"; set only one"
            );
            Err(obj.err("chassis", message))
        }
        (None, None) => Err(obj.err(
            "port",
            "unbound: set port (hosted here) or chassis (hosted on another node)",
        )),
        (None, Some(chassis)) => {
            let id = obj.resolve("chassis", &names.chassis, "chassis", chassis)?;
            if lp.vlan.is_some() {
                let message = format!("only a port hosted here can be a trunk sub-port, this one is on chassis \"{chassis}\"");
                return Err(obj.err("vlan", message));
            }
            Ok(Binding::Remote {
                chassis: ChassisId::from_index(id),
            })
        }
        (Some(name), None) => {
            let port = PortId::from_index(obj.resolve("port", &names.ports, "port", name)?);
            if t.node.uplink == Some(port) {
                return Err(obj.err(
                    "port",
                    format!("port \"{name}\" is node.uplink, which hosts no logical port"),
                ));
            }
            let vlan: Option<u16> = lp.vlan.map(|v| obj.int("vlan", v, 1..=4094)).transpose()?;
            // Ingress finds the logical port by (port, vlan): it must be unambiguous.
            if let Some(other) = taken.slots.insert((port, vlan), &lp.name) {
                return Err(match vlan {
                    Some(v) => obj.err(
                        "vlan",
                        format!("port \"{name}\" vlan {v} is already logical port \"{other}\""),
                    ),
                    None => obj.err(
                        "port",
                        format!("port \"{name}\" untagged is already logical port \"{other}\""),
                    ),
                });
            }
            Ok(Binding::Local { port, vlan })
        }
    }
}

fn port_pairs(items: &[file::PortPair], names: &Names, t: &Topology) -> Result<Vec<PortPair>> {
    let mut out = Vec::with_capacity(items.len());
    for pp in items {
        let obj = Obj::new("port_pairs", &pp.name);
        // The dataplane delivers to a service function and takes its frames back itself.
        let local = |field: &'static str, name: &str| {
            let id = LogicalPortId::from_index(obj.resolve(
                field,
                &names.logical_ports,
                "logical port",
                name,
            )?);
            match t.logical_port(id).binding {
                Binding::Local { .. } => Ok(id),
                Binding::Remote { chassis } => {
                    let message = format!(
                        "logical port \"{name}\" is on chassis \"{}\"; a service function must be hosted here",
                        t.chassis(chassis).name
                    );
                    Err(obj.err(field, message))
                }
            }
        };
        let correlations = [
            ("none", None),
            ("mpls", Some(Correlation::Mpls)),
            ("nsh", Some(Correlation::Nsh)),
        ];
        out.push(PortPair {
            name: pp.name.clone(),
            ingress: local("ingress", &pp.ingress)?,
            egress: local("egress", &pp.egress)?,
            correlation: obj.choice("correlation", &pp.correlation, &correlations)?,
            weight: obj.int("weight", pp.weight, 1..=i64::from(u32::MAX))?,
        });
    }
    Ok(out)
}

fn port_pair_groups(items: &[file::PortPairGroup], names: &Names) -> Result<Vec<PortPairGroup>> {
    let mut grouped: HashMap<usize, &str> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for g in items {
        let obj = Obj::new("port_pair_groups", &g.name);
        if g.port_pairs.is_empty() {
            return Err(obj.err(
                "port_pairs",
                "is empty: a group needs at least one port pair",
            ));
        }
        let refs = (&names.port_pairs, "port pair");
        let ids = obj.exclusive(
            "port_pairs",
            &g.port_pairs,
            refs,
            &mut grouped,
            "in port pair group",
        )?;
        out.push(PortPairGroup {
            name: g.name.clone(),
            port_pairs: ids.into_iter().map(PortPairId::from_index).collect(),
        });
    }
    Ok(out)
}

const PROTOCOLS: [(&str, u8); 4] = [("tcp", 6), ("udp", 17), ("icmp", 1), ("icmpv6", 58)];

fn flow_classifier(fc: &file::FlowClassifier, names: &Names) -> Result<FlowClassifier> {
    let obj = Obj::new("flow_classifiers", &fc.name);
    let ethertypes = [("IPv4", Ethertype::Ipv4), ("IPv6", Ethertype::Ipv6)];
    let ethertype = obj.choice("ethertype", &fc.ethertype, &ethertypes)?;
    let protocol = fc
        .protocol
        .as_ref()
        .map(|p| protocol(obj, p, ethertype))
        .transpose()?;
    let ports = |field, range: Option<[i64; 2]>| {
        range
            .map(|r| port_range(obj, field, r, protocol))
            .transpose()
    };
    let prefix = |field, text: &Option<String>| {
        opt(text, |s| {
            let net = obj.cidr(field, s)?;
            if net.addr().is_ipv4() != (ethertype == Ethertype::Ipv4) {
                let message = format!(
                    "{net} is {} but ethertype is {}",
                    family(net.addr()),
                    fc.ethertype
                );
                return Err(obj.err(field, message));
            }
            Ok(net)
        })
    };
    let logical = |field, text: &Option<String>| {
        let id = opt(text, |s| {
            obj.resolve(field, &names.logical_ports, "logical port", s)
        })?;
        Ok::<_, TopologyError>(id.map(LogicalPortId::from_index))
    };
    Ok(FlowClassifier {
        name: fc.name.clone(),
        ethertype,
        protocol,
        source_port_range: ports("source_port_range", fc.source_port_range)?,
        destination_port_range: ports("destination_port_range", fc.destination_port_range)?,
        source_ip_prefix: prefix("source_ip_prefix", &fc.source_ip_prefix)?,
        destination_ip_prefix: prefix("destination_ip_prefix", &fc.destination_ip_prefix)?,
        logical_source_port: logical("logical_source_port", &fc.logical_source_port)?,
        logical_destination_port: logical(
            "logical_destination_port",
            &fc.logical_destination_port,
        )?,
    })
}

fn protocol(obj: Obj, p: &file::Protocol, ethertype: Ethertype) -> Result<u8> {
    let number = match p {
        file::Protocol::Number(n) => obj.int("protocol", *n, 0..=255)?,
        file::Protocol::Name(name) => match PROTOCOLS.iter().find(|(n, _)| n == name) {
            Some(&(_, number)) => number,
            None => name.parse::<u8>().map_err(|_| {
                let message = format!("unknown value \"{name}\"; expected one of: tcp, udp, icmp, icmpv6, or a number 0-255");
                obj.err("protocol", message)
            })?,
        },
    };
    // The ICMP of the other family would never match.
    match (number, ethertype) {
        (1, Ethertype::Ipv6) => {
            Err(obj.err("protocol", "icmp never matches ethertype IPv6; use icmpv6"))
        }
        (58, Ethertype::Ipv4) => {
            Err(obj.err("protocol", "icmpv6 never matches ethertype IPv4; use icmp"))
        }
        _ => Ok(number),
    }
}

fn port_range(
    obj: Obj,
    field: &'static str,
    [first, last]: [i64; 2],
    protocol: Option<u8>,
) -> Result<(u16, u16)> {
    if !matches!(protocol, Some(6 | 17)) {
        let protocol = match protocol.map(|p| {
            PROTOCOLS
                .iter()
                .find(|(_, n)| *n == p)
                .map_or(p.to_string(), |(name, _)| name.to_string())
        }) {
            Some(name) => format!("protocol is {name}"),
            None => "no protocol is set".to_string(),
        };
        return Err(obj.err(field, format!("needs protocol tcp or udp, but {protocol}")));
    }
    let first: u16 = obj.int(field, first, 0..=65535)?;
    let last: u16 = obj.int(field, last, 0..=65535)?;
    if first > last {
        return Err(obj.err(
            field,
            format!("[{first}, {last}] is empty: the first port is above the last"),
        ));
    }
    Ok((first, last))
}

fn port_chains(items: &[file::PortChain], names: &Names, t: &Topology) -> Result<Vec<PortChain>> {
    let mut chain_ids: HashMap<u16, &str> = HashMap::new();
    // networking-sfc lets a group or a classifier serve one chain only.
    let mut chained_groups: HashMap<usize, &str> = HashMap::new();
    let mut chained_classifiers: HashMap<usize, &str> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for c in items {
        let obj = Obj::new("port_chains", &c.name);
        let chain_id: u16 = obj.int("chain_id", c.chain_id, 1..=4095)?;
        if let Some(other) = chain_ids.insert(chain_id, &c.name) {
            return Err(obj.err(
                "chain_id",
                format!("{chain_id} is already used by port chain \"{other}\""),
            ));
        }
        let correlations = [("mpls", Correlation::Mpls), ("nsh", Correlation::Nsh)];
        let correlation = obj.choice("correlation", &c.correlation, &correlations)?;
        if c.port_pair_groups.is_empty() {
            return Err(obj.err(
                "port_pair_groups",
                "is empty: a chain needs at least one port pair group",
            ));
        }
        // Service indexes count down from 255, one per group.
        if c.port_pair_groups.len() > 255 {
            return Err(obj.err(
                "port_pair_groups",
                "more than 255 groups (one service index each)",
            ));
        }
        let refs = (&names.port_pair_groups, "port pair group");
        let groups = obj.exclusive(
            "port_pair_groups",
            &c.port_pair_groups,
            refs,
            &mut chained_groups,
            "in port chain",
        )?;
        let groups: Vec<_> = groups
            .into_iter()
            .map(PortPairGroupId::from_index)
            .collect();
        for &g in &groups {
            for &p in &t.port_pair_group(g).port_pairs {
                let pair = t.port_pair(p);
                if pair.correlation.is_some_and(|pc| pc != correlation) {
                    let message = format!(
                        "port pair \"{}\" of group \"{}\" expects {}, the chain uses {}",
                        pair.name,
                        t.port_pair_group(g).name,
                        correlation_name(pair.correlation),
                        c.correlation
                    );
                    return Err(obj.err("correlation", message));
                }
            }
        }
        let refs = (&names.flow_classifiers, "flow classifier");
        let classifiers = obj.exclusive(
            "flow_classifiers",
            &c.flow_classifiers,
            refs,
            &mut chained_classifiers,
            "in port chain",
        )?;
        let classifiers: Vec<_> = classifiers
            .into_iter()
            .map(FlowClassifierId::from_index)
            .collect();
        if c.symmetric {
            symmetric_classifiers(obj, t, &classifiers)?;
        }
        out.push(PortChain {
            name: c.name.clone(),
            chain_id,
            port_pair_groups: groups,
            flow_classifiers: classifiers,
            correlation,
            symmetric: c.symmetric,
        });
    }
    Ok(out)
}

fn correlation_name(c: Option<Correlation>) -> &'static str {
    match c {
        None => "none",
        Some(Correlation::Mpls) => "mpls",
        Some(Correlation::Nsh) => "nsh",
    }
}

/// The reverse direction is classified by swapping the logical ports: both must be set.
fn symmetric_classifiers(obj: Obj, t: &Topology, classifiers: &[FlowClassifierId]) -> Result<()> {
    for &id in classifiers {
        let fc = t.flow_classifier(id);
        let missing = if fc.logical_source_port.is_none() {
            "logical_source_port"
        } else if fc.logical_destination_port.is_none() {
            "logical_destination_port"
        } else {
            continue;
        };
        let message = format!(
            "flow classifier \"{}\" has no {missing}; a symmetric chain needs both logical ports",
            fc.name
        );
        return Err(obj.err("symmetric", message));
    }
    Ok(())
}
