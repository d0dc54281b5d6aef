//! The objects the keys hold, decoded from their JSON values. A value that is not
//! JSON, not the object's shape, or whose name differs from its key's is refused
//! here, with the reason; the validator judges the fields later.

use serde::{Deserialize, Serialize};
use topology::file;

use crate::layout::Key;

/// A node's registration: written by its agent under its lease.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub name: String,
    /// The VTEP the node encapsulates from (its `node.vtep_ip`).
    pub vtep_ip: Option<String>,
    /// Its uplink MAC: the outer destination the others use.
    pub mac: Option<String>,
    /// The dataplane's version.
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Network(file::Network),
    Router(file::Router),
    LogicalPort(file::LogicalPort),
    PortPair(file::PortPair),
    PortPairGroup(file::PortPairGroup),
    FlowClassifier(file::FlowClassifier),
    PortChain(file::PortChain),
    Node(file::Node),
    Port(file::Port),
    Registration(Registration),
}

fn json<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<T, String> {
    serde_json::from_slice(value).map_err(|error| format!("not a valid object: {error}"))
}

impl Object {
    /// Decodes the value of `key`.
    pub fn decode(key: &Key, value: &[u8]) -> Result<Object, String> {
        let object = match key {
            Key::Object { section, .. } => match *section {
                "networks" => Object::Network(json(value)?),
                "routers" => Object::Router(json(value)?),
                "logical_ports" => Object::LogicalPort(json(value)?),
                "port_pairs" => Object::PortPair(json(value)?),
                "port_pair_groups" => Object::PortPairGroup(json(value)?),
                "flow_classifiers" => Object::FlowClassifier(json(value)?),
                "port_chains" => Object::PortChain(json(value)?),
                other => return Err(format!("no section {other}")),
            },
            Key::NodeSettings { .. } => Object::Node(json(value)?),
            Key::NodePort { .. } => Object::Port(json(value)?),
            Key::Registration { .. } => Object::Registration(json(value)?),
        };
        if object.name() != key.name() {
            return Err(format!(
                "name: \"{}\" differs from the key's \"{}\"",
                object.name(),
                key.name()
            ));
        }
        if let Object::LogicalPort(lp) = &object {
            if lp.chassis.is_none() {
                return Err("chassis: required in the cloud (the node hosting the port)".into());
            }
        }
        Ok(object)
    }

    pub fn name(&self) -> &str {
        match self {
            Object::Network(o) => &o.name,
            Object::Router(o) => &o.name,
            Object::LogicalPort(o) => &o.name,
            Object::PortPair(o) => &o.name,
            Object::PortPairGroup(o) => &o.name,
            Object::FlowClassifier(o) => &o.name,
            Object::PortChain(o) => &o.name,
            Object::Node(o) => &o.name,
            Object::Port(o) => &o.name,
            Object::Registration(o) => &o.name,
        }
    }

    /// The value written to etcd.
    pub fn encode(&self) -> String {
        let value = match self {
            Object::Network(o) => serde_json::to_string(o),
            Object::Router(o) => serde_json::to_string(o),
            Object::LogicalPort(o) => serde_json::to_string(o),
            Object::PortPair(o) => serde_json::to_string(o),
            Object::PortPairGroup(o) => serde_json::to_string(o),
            Object::FlowClassifier(o) => serde_json::to_string(o),
            Object::PortChain(o) => serde_json::to_string(o),
            Object::Node(o) => serde_json::to_string(o),
            Object::Port(o) => serde_json::to_string(o),
            Object::Registration(o) => serde_json::to_string(o),
        };
        value.expect("topology objects serialise to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network_key(name: &str) -> Key {
        Key::Object {
            section: "networks",
            name: name.into(),
        }
    }

    #[test]
    fn a_network_decodes_and_encodes_back() {
        let value = br#"{"name":"net","tenant":"t","vni":5,"cidr":"10.0.0.0/24"}"#;
        let object = Object::decode(&network_key("net"), value).unwrap();
        let Object::Network(network) = &object else {
            panic!("not a network: {object:?}")
        };
        assert_eq!(network.vni, 5);
        assert_eq!(
            Object::decode(&network_key("net"), object.encode().as_bytes()).unwrap(),
            object
        );
    }

    #[test]
    fn refusals_say_why() {
        let not_json = Object::decode(&network_key("net"), b"{vni: 5").unwrap_err();
        assert!(not_json.starts_with("not a valid object"), "{not_json}");
        let misspelt = Object::decode(
            &network_key("net"),
            br#"{"name":"net","tenant":"t","vnii":5,"cidr":"10.0.0.0/24"}"#,
        )
        .unwrap_err();
        assert!(misspelt.contains("vnii"), "{misspelt}");
        let renamed = Object::decode(
            &network_key("net"),
            br#"{"name":"other","tenant":"t","vni":5,"cidr":"10.0.0.0/24"}"#,
        )
        .unwrap_err();
        assert!(renamed.contains("differs from the key's"), "{renamed}");
        let unbound = Object::decode(
            &Key::Object {
                section: "logical_ports",
                name: "vm".into(),
            },
            br#"{"name":"vm","network":"net","mac":"fa:16:3e:00:00:01","port":"vm1"}"#,
        )
        .unwrap_err();
        assert!(unbound.starts_with("chassis: required"), "{unbound}");
    }
}
