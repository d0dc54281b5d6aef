//! From the keys as etcd holds them to a configuration this node can run: each key
//! is decoded, the node's view is derived and validated; an object refused (its
//! value malformed, or the validator naming it) is left out of the view, or, if an
//! earlier version of it was applied, that version stays in force. So nothing of a
//! refused object is applied, and the rest of the update is.

use std::collections::{BTreeMap, HashMap};

use control::cloud_status::Refusal;
use topology::file::{Port, TopologyFile};
use topology::{Topology, TopologyError};

use crate::layout::Key;
use crate::objects::Object;
use crate::view::{self, Objects};

/// The keys under the prefix as etcd holds them (key text to value).
pub type Raw = BTreeMap<String, Vec<u8>>;

/// A configuration ready to apply, what was left out of it, and the objects it was
/// derived from (kept as the last good versions once applied).
#[derive(Debug)]
pub struct Outcome {
    pub file: TopologyFile,
    pub refused: Vec<Refusal>,
    pub objects: Objects,
}

/// Remembers what was last applied, per key.
#[derive(Default)]
pub struct Reconciler {
    prefix: String,
    node: String,
    applied: HashMap<Key, Object>,
}

impl Reconciler {
    pub fn new(prefix: &str, node: &str) -> Self {
        Reconciler {
            prefix: crate::layout::normalize(prefix),
            node: node.to_owned(),
            applied: HashMap::new(),
        }
    }

    /// The view to apply for `raw`. `running_ports`: the ports the dataplane opened
    /// (a running dataplane cannot change them: other port keys are refused).
    /// Fails when no view can be made (this node's own settings missing or refused
    /// with no earlier version).
    pub fn reconcile(&self, raw: &Raw, running_ports: Option<&[Port]>) -> Result<Outcome, String> {
        let mut refused = Vec::new();
        let mut objects = Objects::new();
        for (text, value) in raw {
            let Some(key) = Key::parse(&self.prefix, text) else {
                continue;
            };
            match Object::decode(&key, value) {
                Ok(object) => {
                    objects.insert(key, object);
                }
                Err(reason) => {
                    refuse(&mut refused, text, reason);
                    if let Some(previous) = self.applied.get(&key) {
                        objects.insert(key, previous.clone());
                    }
                }
            }
        }
        if let Some(running) = running_ports {
            self.keep_running_ports(&mut objects, running, &mut refused);
        }
        // Each round leaves out (or reverts) one object: at most one round per object.
        for _ in 0..=objects.len() {
            let (file, origins) = view::derive(&objects, &self.node)?;
            let error = match Topology::from_file(&file) {
                Ok(_) => {
                    return Ok(Outcome {
                        file,
                        refused,
                        objects,
                    })
                }
                Err(error) => error,
            };
            let TopologyError::Invalid { section, name, .. } = &error else {
                return Err(error.to_string());
            };
            let Some(key) = origins.get(&(*section, name.clone())).cloned() else {
                return Err(error.to_string());
            };
            refuse(&mut refused, &key.text(&self.prefix), error.to_string());
            match self.applied.get(&key) {
                Some(previous) if objects.get(&key) != Some(previous) => {
                    objects.insert(key, previous.clone());
                }
                _ => {
                    objects.remove(&key);
                }
            }
        }
        Err("no valid configuration could be derived".into())
    }

    /// Records what was applied: the last good version of every object.
    pub fn applied(&mut self, objects: Objects) {
        self.applied = objects.into_iter().collect();
    }

    /// Port keys that differ from the ports the dataplane opened are refused; the
    /// opened ports stay (only their mtu may change).
    fn keep_running_ports(
        &self,
        objects: &mut Objects,
        running: &[Port],
        refused: &mut Vec<Refusal>,
    ) {
        let mine = |key: &Key| matches!(key, Key::NodePort { node, .. } if *node == self.node);
        let wanted: Vec<(Key, Port)> = objects
            .iter()
            .filter(|(key, _)| mine(key))
            .filter_map(|(key, o)| match o {
                Object::Port(p) => Some((key.clone(), p.clone())),
                _ => None,
            })
            .collect();
        let same = wanted.len() == running.len()
            && wanted
                .iter()
                .zip(running)
                .all(|((_, a), b)| same_port(a, b));
        if same {
            return;
        }
        let why = "the running dataplane cannot add, remove or change the driver of ports; restart it to take this";
        for (key, port) in &wanted {
            if !running.iter().any(|r| same_port(r, port)) {
                refuse(
                    refused,
                    &key.text(&self.prefix),
                    format!("ports \"{}\": {why}", port.name),
                );
            }
        }
        for running in running {
            if !wanted.iter().any(|(_, p)| p.name == running.name) {
                let key = Key::NodePort {
                    node: self.node.clone(),
                    name: running.name.clone(),
                };
                refuse(
                    refused,
                    &key.text(&self.prefix),
                    format!("ports \"{}\": deleted, {why}", running.name),
                );
            }
        }
        objects.retain(|key, _| !mine(key));
        for port in running {
            let key = Key::NodePort {
                node: self.node.clone(),
                name: port.name.clone(),
            };
            let mtu = wanted
                .iter()
                .find(|(_, p)| same_port(p, port))
                .map_or(port.mtu, |(_, p)| p.mtu);
            objects.insert(
                key,
                Object::Port(Port {
                    mtu,
                    ..port.clone()
                }),
            );
        }
    }
}

fn same_port(a: &Port, b: &Port) -> bool {
    Port {
        mtu: 0,
        ..a.clone()
    } == Port {
        mtu: 0,
        ..b.clone()
    }
}

fn refuse(refused: &mut Vec<Refusal>, key: &str, reason: String) {
    if !refused.iter().any(|r| r.key == key) {
        tracing::warn!(key, "cloud configuration: {key}: refused: {reason}");
        refused.push(Refusal {
            key: key.to_owned(),
            reason,
        });
    }
}
