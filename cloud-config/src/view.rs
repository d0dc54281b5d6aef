//! One node's view of the cloud: the topology file it runs, derived from the cloud's
//! objects. Its `[node]` and ports are its own keys; every other node with settings
//! becomes a chassis (down while its registration is absent); a logical port is
//! local (`port`) where its `chassis` names this node, remote (`chassis`) elsewhere.

use std::collections::{BTreeMap, HashMap};

use topology::file::{self, TopologyFile};

use crate::layout::Key;
use crate::objects::Object;

/// The cloud's decoded objects, by key.
pub type Objects = BTreeMap<Key, Object>;

/// Which key each object of a derived view came from: (section, name) as the
/// validator names them.
pub type Origins = HashMap<(&'static str, String), Key>;

/// Derives `node`'s topology file. Fails only without the node's own settings.
pub fn derive(objects: &Objects, node: &str) -> Result<(TopologyFile, Origins), String> {
    let own = Key::NodeSettings {
        node: node.to_owned(),
    };
    let Some(Object::Node(settings)) = objects.get(&own) else {
        return Err(format!(
            "no settings for node \"{node}\" (key nodes/{node}/node)"
        ));
    };
    let mut origins = Origins::new();
    origins.insert(("node", settings.name.clone()), own.clone());
    let mut file = TopologyFile {
        node: settings.clone(),
        chassis: Vec::new(),
        ports: Vec::new(),
        networks: Vec::new(),
        routers: Vec::new(),
        logical_ports: Vec::new(),
        port_pairs: Vec::new(),
        port_pair_groups: Vec::new(),
        flow_classifiers: Vec::new(),
        port_chains: Vec::new(),
        conntrack: Default::default(),
        // EAL settings are per machine, not cloud-wide: a node in etcd takes the defaults.
        dpdk: None,
    };
    let registrations: HashMap<&str, _> = objects
        .values()
        .filter_map(|o| match o {
            Object::Registration(r) => Some((r.name.as_str(), r)),
            _ => None,
        })
        .collect();
    for (key, object) in objects {
        let mut record = |section: &'static str, name: &str| {
            origins.insert((section, name.to_owned()), key.clone());
        };
        match object {
            Object::Port(port) if matches!(key, Key::NodePort { node: n, .. } if n == node) => {
                record("ports", &port.name);
                file.ports.push(port.clone());
            }
            Object::Node(other) if other.name != node => {
                let Some(configured_vtep) = &other.vtep_ip else {
                    continue;
                };
                // The registration says what the node actually runs with.
                let registration = registrations.get(other.name.as_str());
                record("chassis", &other.name);
                file.chassis.push(file::Chassis {
                    name: other.name.clone(),
                    vtep_ip: registration
                        .and_then(|r| r.vtep_ip.clone())
                        .unwrap_or_else(|| configured_vtep.clone()),
                    mac: registration
                        .and_then(|r| r.mac.clone())
                        .or_else(|| other.uplink_mac.clone()),
                    down: registration.is_none(),
                });
            }
            Object::Network(o) => {
                record("networks", &o.name);
                file.networks.push(o.clone());
            }
            Object::Router(o) => {
                record("routers", &o.name);
                file.routers.push(o.clone());
            }
            Object::LogicalPort(o) => {
                record("logical_ports", &o.name);
                let mut lp = o.clone();
                if lp.chassis.as_deref() == Some(node) {
                    lp.chassis = None;
                } else {
                    lp.port = None;
                    lp.vlan = None;
                }
                file.logical_ports.push(lp);
            }
            Object::PortPair(o) => {
                record("port_pairs", &o.name);
                file.port_pairs.push(o.clone());
            }
            Object::PortPairGroup(o) => {
                record("port_pair_groups", &o.name);
                file.port_pair_groups.push(o.clone());
            }
            Object::FlowClassifier(o) => {
                record("flow_classifiers", &o.name);
                file.flow_classifiers.push(o.clone());
            }
            Object::PortChain(o) => {
                record("port_chains", &o.name);
                file.port_chains.push(o.clone());
            }
            Object::Port(_) | Object::Node(_) | Object::Registration(_) => {}
        }
    }
    Ok((file, origins))
}

/// The nodes known from their settings whose registration is absent.
pub fn nodes_down(objects: &Objects, node: &str) -> Vec<String> {
    objects
        .keys()
        .filter_map(|key| match key {
            Key::NodeSettings { node: other } if other != node => {
                let registered = objects.contains_key(&Key::Registration {
                    node: other.clone(),
                });
                (!registered).then(|| other.clone())
            }
            _ => None,
        })
        .collect()
}
