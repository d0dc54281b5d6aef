//! The cloud topology file `dpctl --etcd ... apply -f` writes to etcd: the sections
//! of a topology file, with the per-node parts (`[node]` and ports) under
//! `[[nodes]]`, and every logical port naming the node hosting it in `chassis`:
//!
//! ```toml
//! [[nodes]]
//! name = "compute-1"
//! vtep_ip = "192.0.2.11"
//! uplink = "uplink"
//! uplink_mac = "02:00:c0:00:02:0b"
//! [[nodes.ports]]
//! name = "uplink"
//! driver = "af-packet"
//! ifname = "eth1"
//!
//! [[networks]] ...
//! [[logical_ports]]
//! name = "vm1"
//! network = "net"
//! mac = "fa:16:3e:00:00:01"
//! chassis = "compute-1"     # hosted there
//! port = "vm1"              # on that node's port vm1
//! ```
//!
//! Before anything is written, every node's view is derived and validated as if every
//! node were up: a file any node would refuse is refused whole, naming the node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use topology::file;

use crate::layout::{check_name, Key};
use crate::objects::{Object, Registration};
use crate::view;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudFile {
    #[serde(default)]
    pub nodes: Vec<CloudNode>,
    #[serde(default)]
    pub networks: Vec<file::Network>,
    #[serde(default)]
    pub routers: Vec<file::Router>,
    #[serde(default)]
    pub logical_ports: Vec<file::LogicalPort>,
    #[serde(default)]
    pub port_pairs: Vec<file::PortPair>,
    #[serde(default)]
    pub port_pair_groups: Vec<file::PortPairGroup>,
    #[serde(default)]
    pub flow_classifiers: Vec<file::FlowClassifier>,
    #[serde(default)]
    pub port_chains: Vec<file::PortChain>,
}

/// A node: its `[node]` settings and its dataplane ports.
#[derive(Clone, Debug, Serialize)]
pub struct CloudNode {
    #[serde(flatten)]
    pub settings: file::Node,
    #[serde(default)]
    pub ports: Vec<file::Port>,
}

/// By hand: serde's `flatten` would let a misspelt node field through silently, so
/// `ports` is taken out first and the rest must be exactly a `[node]` section.
impl<'de> Deserialize<'de> for CloudNode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        let ports = match table.remove("ports") {
            Some(ports) => ports
                .try_into()
                .map_err(|e| D::Error::custom(format!("ports: {e}")))?,
            None => Vec::new(),
        };
        let name = table
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_owned();
        let settings = table
            .try_into()
            .map_err(|e| D::Error::custom(format!("nodes \"{name}\": {e}")))?;
        Ok(CloudNode { settings, ports })
    }
}

impl CloudFile {
    pub fn parse(text: &str) -> Result<CloudFile, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    /// The objects to write, by key; refuses a name twice in a section, a name that
    /// cannot be a key, or a value the key would refuse.
    pub fn objects(&self) -> Result<view::Objects, String> {
        let mut objects = BTreeMap::new();
        let mut add = |section: &str, key: Key, object: Object| -> Result<(), String> {
            let name = key.name().to_owned();
            check_name(&name).map_err(|e| format!("{section} \"{name}\": name: {e}"))?;
            Object::decode(&key, object.encode().as_bytes())
                .map_err(|e| format!("{section} \"{name}\": {e}"))?;
            if objects.insert(key, object).is_some() {
                return Err(format!("{section} \"{name}\": name: defined twice"));
            }
            Ok(())
        };
        for node in &self.nodes {
            let name = &node.settings.name;
            add(
                "nodes",
                Key::NodeSettings { node: name.clone() },
                Object::Node(node.settings.clone()),
            )?;
            for port in &node.ports {
                let key = Key::NodePort {
                    node: name.clone(),
                    name: port.name.clone(),
                };
                add(
                    &format!("nodes \"{name}\" ports"),
                    key,
                    Object::Port(port.clone()),
                )?;
            }
        }
        macro_rules! section {
            ($field:ident, $variant:ident) => {
                for item in &self.$field {
                    let key = Key::Object {
                        section: stringify!($field),
                        name: item.name.clone(),
                    };
                    add(stringify!($field), key, Object::$variant(item.clone()))?;
                }
            };
        }
        section!(networks, Network);
        section!(routers, Router);
        section!(logical_ports, LogicalPort);
        section!(port_pairs, PortPair);
        section!(port_pair_groups, PortPairGroup);
        section!(flow_classifiers, FlowClassifier);
        section!(port_chains, PortChain);
        Ok(objects)
    }

    /// The objects, once every node's view of them (all nodes up) validates.
    pub fn checked_objects(&self) -> Result<view::Objects, String> {
        let objects = self.objects()?;
        for lp in &self.logical_ports {
            let chassis = lp.chassis.as_deref().unwrap_or_default();
            if !self.nodes.iter().any(|n| n.settings.name == chassis) {
                return Err(format!(
                    "logical_ports \"{}\": chassis: no node \"{chassis}\" in the file",
                    lp.name
                ));
            }
        }
        let mut all_up = objects.clone();
        for node in &self.nodes {
            let registration = Registration {
                name: node.settings.name.clone(),
                vtep_ip: node.settings.vtep_ip.clone(),
                mac: node.settings.uplink_mac.clone(),
                version: String::new(),
            };
            all_up.insert(
                Key::Registration {
                    node: registration.name.clone(),
                },
                Object::Registration(registration),
            );
        }
        for node in &self.nodes {
            let name = &node.settings.name;
            let (file, _) = view::derive(&all_up, name)?;
            topology::Topology::from_file(&file).map_err(|e| format!("nodes \"{name}\": {e}"))?;
        }
        Ok(objects)
    }
}
