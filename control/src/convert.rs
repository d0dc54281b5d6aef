//! Between the API's messages and the topology file's sections: the same objects, the
//! same field names. Values stay as written (strings, i64) so that the validator judges
//! them and names the field; defaults are the file's.

use super::proto as pb;
use topology::file;

fn range(values: &[i64], field: &str) -> Result<Option<[i64; 2]>, String> {
    match values {
        [] => Ok(None),
        [first, last] => Ok(Some([*first, *last])),
        _ => Err(format!(
            "{field}: expected [first, last], got {} values",
            values.len()
        )),
    }
}

pub fn node_from(n: pb::Node) -> Result<file::Node, String> {
    Ok(file::Node {
        name: n.name,
        vtep_ip: n.vtep_ip,
        uplink: n.uplink,
        uplink_mac: n.uplink_mac,
        external_ip: n.external_ip,
        external_gateway_ip: n.external_gateway_ip,
        external_gateway_mac: n.external_gateway_mac,
        snat_port_range: range(&n.snat_port_range, "snat_port_range")?.unwrap_or([1024, 65535]),
    })
}

pub fn node_to(n: &file::Node) -> pb::Node {
    pb::Node {
        name: n.name.clone(),
        vtep_ip: n.vtep_ip.clone(),
        uplink: n.uplink.clone(),
        uplink_mac: n.uplink_mac.clone(),
        external_ip: n.external_ip.clone(),
        external_gateway_ip: n.external_gateway_ip.clone(),
        external_gateway_mac: n.external_gateway_mac.clone(),
        snat_port_range: n.snat_port_range.to_vec(),
    }
}

pub fn port_from(p: pb::Port) -> Result<file::Port, String> {
    Ok(file::Port {
        name: p.name,
        driver: p.driver,
        socket: p.socket,
        ifname: p.ifname,
        path: p.path,
        pci: p.pci,
        devargs: p.devargs,
        rx_queues: p.rx_queues,
        tx_queues: p.tx_queues,
        vhost_mode: p.vhost_mode,
        mtu: p.mtu.unwrap_or(1500),
        queues: p.queues,
    })
}

pub fn port_to(p: &file::Port) -> pb::Port {
    pb::Port {
        name: p.name.clone(),
        driver: p.driver.clone(),
        socket: p.socket.clone(),
        ifname: p.ifname.clone(),
        path: p.path.clone(),
        pci: p.pci.clone(),
        devargs: p.devargs.clone(),
        rx_queues: p.rx_queues,
        tx_queues: p.tx_queues,
        vhost_mode: p.vhost_mode.clone(),
        mtu: Some(p.mtu),
        queues: p.queues,
    }
}

pub fn chassis_from(c: pb::Chassis) -> Result<file::Chassis, String> {
    Ok(file::Chassis {
        name: c.name,
        vtep_ip: c.vtep_ip,
        mac: c.mac,
        down: c.down,
    })
}

pub fn chassis_to(c: &file::Chassis) -> pb::Chassis {
    pb::Chassis {
        name: c.name.clone(),
        vtep_ip: c.vtep_ip.clone(),
        mac: c.mac.clone(),
        down: c.down,
    }
}

pub fn network_from(n: pb::Network) -> Result<file::Network, String> {
    Ok(file::Network {
        name: n.name,
        tenant: n.tenant,
        vni: n.vni,
        cidr: n.cidr,
        gateway_ip: n.gateway_ip,
        dhcp: n.dhcp,
        dns_servers: non_empty(n.dns_servers),
        domain: n.domain,
        lease_time: n.lease_time,
        host_routes: non_empty(
            n.host_routes
                .into_iter()
                .map(|r| file::HostRoute {
                    destination: r.destination,
                    nexthop: r.nexthop,
                })
                .collect(),
        ),
        mtu: n.mtu,
        ipv6_ra_mode: n.ipv6_ra_mode,
    })
}

/// proto3 has no unset list: an empty one is none.
fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

pub fn network_to(n: &file::Network) -> pb::Network {
    pb::Network {
        name: n.name.clone(),
        tenant: n.tenant.clone(),
        vni: n.vni,
        cidr: n.cidr.clone(),
        gateway_ip: n.gateway_ip.clone(),
        dhcp: n.dhcp,
        dns_servers: n.dns_servers.clone().unwrap_or_default(),
        domain: n.domain.clone(),
        lease_time: n.lease_time,
        host_routes: n
            .host_routes
            .iter()
            .flatten()
            .map(|r| pb::HostRoute {
                destination: r.destination.clone(),
                nexthop: r.nexthop.clone(),
            })
            .collect(),
        mtu: n.mtu,
        ipv6_ra_mode: n.ipv6_ra_mode.clone(),
    }
}

pub fn router_from(r: pb::Router) -> Result<file::Router, String> {
    Ok(file::Router {
        name: r.name,
        tenant: r.tenant,
        mac: r.mac,
        networks: r.networks,
        snat: r.snat,
        external_ip: r.external_ip,
    })
}

pub fn router_to(r: &file::Router) -> pb::Router {
    pb::Router {
        name: r.name.clone(),
        tenant: r.tenant.clone(),
        mac: r.mac.clone(),
        networks: r.networks.clone(),
        snat: r.snat,
        external_ip: r.external_ip.clone(),
    }
}

pub fn logical_port_from(l: pb::LogicalPort) -> Result<file::LogicalPort, String> {
    Ok(file::LogicalPort {
        name: l.name,
        network: l.network,
        mac: l.mac,
        ip: l.ip,
        port: l.port,
        chassis: l.chassis,
        vlan: l.vlan,
        port_security: l.port_security.unwrap_or(true),
        extra_dhcp_opts: non_empty(
            l.extra_dhcp_opts
                .into_iter()
                .map(|o| file::ExtraDhcpOpt {
                    opt_name: o.opt_name,
                    opt_value: o.opt_value,
                    ip_version: o.ip_version,
                })
                .collect(),
        ),
    })
}

pub fn logical_port_to(l: &file::LogicalPort) -> pb::LogicalPort {
    pb::LogicalPort {
        name: l.name.clone(),
        network: l.network.clone(),
        mac: l.mac.clone(),
        ip: l.ip.clone(),
        port: l.port.clone(),
        chassis: l.chassis.clone(),
        vlan: l.vlan,
        port_security: Some(l.port_security),
        extra_dhcp_opts: l
            .extra_dhcp_opts
            .iter()
            .flatten()
            .map(|o| pb::ExtraDhcpOpt {
                opt_name: o.opt_name.clone(),
                opt_value: o.opt_value.clone(),
                ip_version: o.ip_version,
            })
            .collect(),
    }
}

pub fn port_pair_from(p: pb::PortPair) -> Result<file::PortPair, String> {
    Ok(file::PortPair {
        name: p.name,
        ingress: p.ingress,
        egress: p.egress,
        correlation: p.correlation.unwrap_or_else(|| "none".into()),
        weight: p.weight.unwrap_or(1),
    })
}

pub fn port_pair_to(p: &file::PortPair) -> pb::PortPair {
    pb::PortPair {
        name: p.name.clone(),
        ingress: p.ingress.clone(),
        egress: p.egress.clone(),
        correlation: Some(p.correlation.clone()),
        weight: Some(p.weight),
    }
}

pub fn port_pair_group_from(g: pb::PortPairGroup) -> Result<file::PortPairGroup, String> {
    Ok(file::PortPairGroup {
        name: g.name,
        port_pairs: g.port_pairs,
    })
}

pub fn port_pair_group_to(g: &file::PortPairGroup) -> pb::PortPairGroup {
    pb::PortPairGroup {
        name: g.name.clone(),
        port_pairs: g.port_pairs.clone(),
    }
}

pub fn flow_classifier_from(f: pb::FlowClassifier) -> Result<file::FlowClassifier, String> {
    let protocol = f.protocol.map(|p| match p.parse::<i64>() {
        Ok(number) => file::Protocol::Number(number),
        Err(_) => file::Protocol::Name(p),
    });
    Ok(file::FlowClassifier {
        name: f.name,
        ethertype: f.ethertype.unwrap_or_else(|| "IPv4".into()),
        protocol,
        source_port_range: range(&f.source_port_range, "source_port_range")?,
        destination_port_range: range(&f.destination_port_range, "destination_port_range")?,
        source_ip_prefix: f.source_ip_prefix,
        destination_ip_prefix: f.destination_ip_prefix,
        logical_source_port: f.logical_source_port,
        logical_destination_port: f.logical_destination_port,
    })
}

pub fn flow_classifier_to(f: &file::FlowClassifier) -> pb::FlowClassifier {
    pb::FlowClassifier {
        name: f.name.clone(),
        ethertype: Some(f.ethertype.clone()),
        protocol: f.protocol.as_ref().map(|p| match p {
            file::Protocol::Number(n) => n.to_string(),
            file::Protocol::Name(name) => name.clone(),
        }),
        source_port_range: f.source_port_range.map(|r| r.to_vec()).unwrap_or_default(),
        destination_port_range: f
            .destination_port_range
            .map(|r| r.to_vec())
            .unwrap_or_default(),
        source_ip_prefix: f.source_ip_prefix.clone(),
        destination_ip_prefix: f.destination_ip_prefix.clone(),
        logical_source_port: f.logical_source_port.clone(),
        logical_destination_port: f.logical_destination_port.clone(),
    }
}

pub fn port_chain_from(c: pb::PortChain) -> Result<file::PortChain, String> {
    Ok(file::PortChain {
        name: c.name,
        chain_id: c.chain_id,
        port_pair_groups: c.port_pair_groups,
        flow_classifiers: c.flow_classifiers,
        correlation: c.correlation.unwrap_or_else(|| "mpls".into()),
        symmetric: c.symmetric,
        mpls_ttl: c.mpls_ttl,
    })
}

pub fn port_chain_to(c: &file::PortChain) -> pb::PortChain {
    pb::PortChain {
        name: c.name.clone(),
        chain_id: c.chain_id,
        port_pair_groups: c.port_pair_groups.clone(),
        flow_classifiers: c.flow_classifiers.clone(),
        correlation: Some(c.correlation.clone()),
        symmetric: c.symmetric,
        mpls_ttl: c.mpls_ttl,
    }
}

fn all<P, F>(items: Vec<P>, from: fn(P) -> Result<F, String>) -> Result<Vec<F>, String> {
    items.into_iter().map(from).collect()
}

pub fn topology_from(t: pb::Topology) -> Result<file::TopologyFile, String> {
    Ok(file::TopologyFile {
        node: node_from(t.node.ok_or("node: missing")?)?,
        chassis: all(t.chassis, chassis_from)?,
        ports: all(t.ports, port_from)?,
        networks: all(t.networks, network_from)?,
        routers: all(t.routers, router_from)?,
        logical_ports: all(t.logical_ports, logical_port_from)?,
        port_pairs: all(t.port_pairs, port_pair_from)?,
        port_pair_groups: all(t.port_pair_groups, port_pair_group_from)?,
        flow_classifiers: all(t.flow_classifiers, flow_classifier_from)?,
        port_chains: all(t.port_chains, port_chain_from)?,
        // The API has no conntrack section yet: a typed Apply keeps the defaults
        // (a TOML Apply carries its own).
        conntrack: Default::default(),
        // Nor a dpdk section (Apply keeps the running one).
        dpdk: None,
    })
}

pub fn topology_to(t: &file::TopologyFile) -> pb::Topology {
    pb::Topology {
        node: Some(node_to(&t.node)),
        chassis: t.chassis.iter().map(chassis_to).collect(),
        ports: t.ports.iter().map(port_to).collect(),
        networks: t.networks.iter().map(network_to).collect(),
        routers: t.routers.iter().map(router_to).collect(),
        logical_ports: t.logical_ports.iter().map(logical_port_to).collect(),
        port_pairs: t.port_pairs.iter().map(port_pair_to).collect(),
        port_pair_groups: t.port_pair_groups.iter().map(port_pair_group_to).collect(),
        flow_classifiers: t.flow_classifiers.iter().map(flow_classifier_to).collect(),
        port_chains: t.port_chains.iter().map(port_chain_to).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_topology_goes_round_unchanged() {
        let text = include_str!("../../dataplane/tests/data/topology-example.toml");
        let original: file::TopologyFile = toml::from_str(text).unwrap();
        let back = topology_from(topology_to(&original)).unwrap();
        assert_eq!(back, original);
    }

    /// The local services' fields cross the API both ways (the dhcp fixture sets
    /// every one of them).
    #[test]
    fn the_services_fields_go_round_unchanged() {
        let text = include_str!("../../pcap-fixtures/dhcp/topology.toml");
        let original: file::TopologyFile = toml::from_str(text).unwrap();
        assert!(original.networks[0].host_routes.is_some());
        assert!(original.logical_ports[0].extra_dhcp_opts.is_some());
        let back = topology_from(topology_to(&original)).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn a_dpdk_port_goes_round_unchanged() {
        let port = file::Port {
            name: "uplink".into(),
            driver: "dpdk".into(),
            socket: None,
            ifname: None,
            path: None,
            pci: None,
            queues: None,
            devargs: Some("net_pcap0,rx_pcap=in.pcap".into()),
            rx_queues: Some(2),
            tx_queues: Some(4),
            vhost_mode: None,
            mtu: 9000,
        };
        assert_eq!(port_from(port_to(&port)).unwrap(), port);
    }

    #[test]
    fn a_range_needs_two_values() {
        let fc = pb::FlowClassifier {
            name: "fc".into(),
            destination_port_range: vec![80],
            ..Default::default()
        };
        let error = flow_classifier_from(fc).unwrap_err();
        assert!(error.starts_with("destination_port_range:"), "{error}");
    }
}
