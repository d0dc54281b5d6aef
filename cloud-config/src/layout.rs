//! The key layout under the cloud's prefix (P), one key per object, each value the
//! JSON of the object as the topology file writes it:
//!
//! | key | value | written by |
//! |---|---|---|
//! | `P/networks/NAME`, `P/routers/NAME`, `P/logical_ports/NAME`, `P/port_pairs/NAME`, `P/port_pair_groups/NAME`, `P/flow_classifiers/NAME`, `P/port_chains/NAME` | the object (a logical port names the node hosting it in `chassis`) | `dpctl apply` |
//! | `P/nodes/NODE/node` | the node's `[node]` section (VTEP, uplink, SNAT address) | `dpctl apply` |
//! | `P/nodes/NODE/ports/NAME` | one of the node's dataplane ports | `dpctl apply` |
//! | `P/chassis/NODE` | the node's registration (VTEP, MAC, version), under its lease | the node's agent |

/// The cloud-wide sections, by their names in the topology file.
pub const SECTIONS: [&str; 7] = [
    "networks",
    "routers",
    "logical_ports",
    "port_pairs",
    "port_pair_groups",
    "flow_classifiers",
    "port_chains",
];

/// What a key under the prefix names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A cloud-wide object of one of `SECTIONS`.
    Object { section: &'static str, name: String },
    /// A node's `[node]` settings.
    NodeSettings { node: String },
    /// One of a node's dataplane ports.
    NodePort { node: String, name: String },
    /// A node's registration (present while its lease lives).
    Registration { node: String },
}

/// The prefix without trailing slashes (`/cloud/` and `/cloud` are one prefix).
pub fn normalize(prefix: &str) -> String {
    prefix.trim_end_matches('/').to_owned()
}

/// Every key of the cloud starts with this (the prefix and a slash).
pub fn range_start(prefix: &str) -> String {
    format!("{}/", normalize(prefix))
}

impl Key {
    /// Reads a key; `None` for a key of no known shape (ignored, said once).
    pub fn parse(prefix: &str, key: &str) -> Option<Key> {
        let rest = key.strip_prefix(&range_start(prefix))?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        match parts.as_slice() {
            [section, name] => {
                if let Some(section) = SECTIONS.iter().find(|s| *s == section) {
                    return Some(Key::Object {
                        section,
                        name: (*name).to_owned(),
                    });
                }
                (*section == "chassis").then(|| Key::Registration {
                    node: (*name).to_owned(),
                })
            }
            ["nodes", node, "node"] => Some(Key::NodeSettings {
                node: (*node).to_owned(),
            }),
            ["nodes", node, "ports", name] => Some(Key::NodePort {
                node: (*node).to_owned(),
                name: (*name).to_owned(),
            }),
            _ => None,
        }
    }

    /// The key's full text under `prefix`.
    pub fn text(&self, prefix: &str) -> String {
        let prefix = normalize(prefix);
        match self {
            Key::Object { section, name } => format!("{prefix}/{section}/{name}"),
            Key::NodeSettings { node } => format!("{prefix}/nodes/{node}/node"),
            Key::NodePort { node, name } => format!("{prefix}/nodes/{node}/ports/{name}"),
            Key::Registration { node } => format!("{prefix}/chassis/{node}"),
        }
    }

    /// The object's own name, which its value must repeat.
    pub fn name(&self) -> &str {
        match self {
            Key::Object { name, .. } | Key::NodePort { name, .. } => name,
            Key::NodeSettings { node } | Key::Registration { node } => node,
        }
    }

    /// Written by the nodes themselves (not by `dpctl apply`).
    pub fn is_registration(&self) -> bool {
        matches!(self, Key::Registration { .. })
    }
}

/// A name fit for one path segment of a key.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('/') {
        return Err(format!(
            "\"{name}\" cannot be a key segment (empty or with '/')"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_written() {
        let keys = [
            Key::Object {
                section: "logical_ports",
                name: "vm1".into(),
            },
            Key::NodeSettings {
                node: "compute-1".into(),
            },
            Key::NodePort {
                node: "compute-1".into(),
                name: "uplink".into(),
            },
            Key::Registration {
                node: "compute-2".into(),
            },
        ];
        for key in keys {
            for prefix in ["/cloud", "/cloud/"] {
                assert_eq!(Key::parse(prefix, &key.text(prefix)), Some(key.clone()));
            }
        }
        assert_eq!(
            Key::NodePort {
                node: "n".into(),
                name: "p".into()
            }
            .text("/c/"),
            "/c/nodes/n/ports/p"
        );
    }

    #[test]
    fn unknown_shapes_and_other_prefixes_are_not_keys() {
        for key in [
            "/cloud/widgets/a",
            "/cloud/networks",
            "/cloud/networks/a/b",
            "/cloud/networks//",
            "/cloud/nodes/n/other",
            "/cloudy/networks/a",
            "/other/networks/a",
        ] {
            assert_eq!(Key::parse("/cloud", key), None, "{key}");
        }
    }
}
