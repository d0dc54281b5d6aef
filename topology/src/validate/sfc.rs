//! The networking-sfc objects: port pairs, port pair groups, flow classifiers and
//! port chains.

use std::collections::HashMap;

use super::{family, opt, Names, Obj, Result};
use crate::file;
use crate::model::*;
use crate::TopologyError;

pub(super) fn port_pairs(
    items: &[file::PortPair],
    names: &Names,
    t: &Topology,
) -> Result<Vec<PortPair>> {
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

pub(super) fn port_pair_groups(
    items: &[file::PortPairGroup],
    names: &Names,
) -> Result<Vec<PortPairGroup>> {
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

pub(super) fn flow_classifier(fc: &file::FlowClassifier, names: &Names) -> Result<FlowClassifier> {
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
        let but = match protocol {
            Some(p) => format!("protocol is {}", protocol_name(p)),
            None => "no protocol is set".to_string(),
        };
        return Err(obj.err(field, format!("needs protocol tcp or udp, but {but}")));
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

fn protocol_name(number: u8) -> String {
    match PROTOCOLS.iter().find(|&&(_, n)| n == number) {
        Some((name, _)) => name.to_string(),
        None => number.to_string(),
    }
}

pub(super) fn port_chains(
    items: &[file::PortChain],
    names: &Names,
    t: &Topology,
) -> Result<Vec<PortChain>> {
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
            // The reverse direction's service indexes continue below the forward ones.
            if groups.len() > 127 {
                return Err(obj.err(
                    "port_pair_groups",
                    "more than 127 groups in a symmetric chain (two service indexes each)",
                ));
            }
        }
        let mpls_ttl = match c.mpls_ttl {
            None => 255,
            Some(ttl) => u8::try_from(ttl)
                .ok()
                .filter(|ttl| *ttl >= 1)
                .ok_or_else(|| obj.err("mpls_ttl", format!("{ttl} is outside 1..=255")))?,
        };
        out.push(PortChain {
            name: c.name.clone(),
            chain_id,
            port_pair_groups: groups,
            flow_classifiers: classifiers,
            correlation,
            symmetric: c.symmetric,
            mpls_ttl,
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
