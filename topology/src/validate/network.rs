//! Networks, routers and logical ports: addressing, attachment and binding rules.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use packet::MacAddr;

use super::{family, in_net, opt, Names, Obj, Result};
use crate::file;
use crate::model::*;

pub(super) fn networks(items: &[file::Network]) -> Result<Vec<Network>> {
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
        let services = super::services::network_services(obj, n, &cidr)?;
        out.push(Network {
            name: n.name.clone(),
            tenant: n.tenant.clone(),
            vni,
            cidr,
            gateway_ip,
            router: None,
            services,
        });
    }
    Ok(out)
}

/// Also fills `Network::router`.
pub(super) fn routers(
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

pub(super) fn logical_ports(
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
        extra_dhcp: super::services::extra_dhcp(
            obj,
            lp.extra_dhcp_opts.as_deref().unwrap_or_default(),
        )?,
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
