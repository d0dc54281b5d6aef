//! The desired state and how it changes: every request edits a copy of the topology
//! file, the copy is validated as a whole, compiled into new forwarding tables and
//! published to the workers as one snapshot. On any error nothing is applied. The
//! caller serialises requests (one lock around the state); workers never wait.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::Status;

use super::status::{refused, Op};
use pipeline::tables::ForwardingTables;
use runtime::RuntimeHandle;
use topology::{file, Topology};

pub struct ControlState {
    file: file::TopologyFile,
    topology: Topology,
    tables: Arc<ForwardingTables>,
    runtime: RuntimeHandle,
    /// Where each accepted change is saved before it is published.
    state_file: Option<PathBuf>,
}

/// A section of the topology file whose objects are created, updated and deleted by
/// name.
pub trait Section {
    type Item: Clone;
    /// The section's name in the file and in messages.
    const NAME: &'static str;
    fn items(file: &file::TopologyFile) -> &Vec<Self::Item>;
    fn items_mut(file: &mut file::TopologyFile) -> &mut Vec<Self::Item>;
    fn name(item: &Self::Item) -> &str;
}

macro_rules! section {
    ($marker:ident, $item:ident, $field:ident) => {
        pub struct $marker;
        impl Section for $marker {
            type Item = file::$item;
            const NAME: &'static str = stringify!($field);
            fn items(file: &file::TopologyFile) -> &Vec<Self::Item> {
                &file.$field
            }
            fn items_mut(file: &mut file::TopologyFile) -> &mut Vec<Self::Item> {
                &mut file.$field
            }
            fn name(item: &Self::Item) -> &str {
                &item.name
            }
        }
    };
}

section!(Ports, Port, ports);
section!(ChassisSection, Chassis, chassis);
section!(Networks, Network, networks);
section!(Routers, Router, routers);
section!(LogicalPorts, LogicalPort, logical_ports);
section!(PortPairs, PortPair, port_pairs);
section!(PortPairGroups, PortPairGroup, port_pair_groups);
section!(FlowClassifiers, FlowClassifier, flow_classifiers);
section!(PortChains, PortChain, port_chains);

impl ControlState {
    /// The state the runtime was started with (`tables` built from `file`).
    pub fn new(
        file: file::TopologyFile,
        tables: Arc<ForwardingTables>,
        runtime: RuntimeHandle,
    ) -> Result<Self, topology::TopologyError> {
        let topology = Topology::from_file(&file)?;
        Ok(ControlState {
            file,
            topology,
            tables,
            runtime,
            state_file: None,
        })
    }

    /// Saves every accepted change to `path` (and the current state now); a change
    /// that cannot be saved is refused.
    pub fn with_state_file(mut self, path: PathBuf) -> std::io::Result<Self> {
        super::state_file::save(&path, &self.file)?;
        self.state_file = Some(path);
        Ok(self)
    }

    pub fn file(&self) -> &file::TopologyFile {
        &self.file
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn tables(&self) -> &Arc<ForwardingTables> {
        &self.tables
    }

    pub fn runtime(&self) -> &RuntimeHandle {
        &self.runtime
    }

    pub fn generation(&self) -> u64 {
        self.runtime.generation()
    }

    pub fn get<S: Section>(&self, name: &str) -> Result<S::Item, Status> {
        S::items(&self.file)
            .iter()
            .find(|item| S::name(item) == name)
            .cloned()
            .ok_or_else(|| not_found(S::NAME, name))
    }

    pub fn list<S: Section>(&self) -> Vec<S::Item> {
        S::items(&self.file).clone()
    }

    pub fn create<S: Section>(&mut self, item: S::Item) -> Result<u64, Status> {
        let name = S::name(&item).to_owned();
        let what = format!("create {} \"{name}\"", S::NAME);
        if S::items(&self.file).iter().any(|i| S::name(i) == name) {
            let status =
                Status::already_exists(format!("{} \"{name}\": name: already exists", S::NAME));
            return Err(self.log(&what, Err(status)).unwrap_err());
        }
        self.change(Op::Create, &what, |file| {
            S::items_mut(file).push(item);
            Ok(())
        })
    }

    pub fn update<S: Section>(&mut self, item: S::Item) -> Result<u64, Status> {
        let name = S::name(&item).to_owned();
        let what = format!("update {} \"{name}\"", S::NAME);
        self.change(Op::Update, &what, |file| {
            let slot = S::items_mut(file)
                .iter_mut()
                .find(|i| S::name(i) == name)
                .ok_or_else(|| not_found(S::NAME, &name))?;
            *slot = item;
            Ok(())
        })
    }

    pub fn delete<S: Section>(&mut self, name: &str) -> Result<u64, Status> {
        let what = format!("delete {} \"{name}\"", S::NAME);
        self.change(Op::Delete { section: S::NAME }, &what, |file| {
            let items = S::items_mut(file);
            let position = items
                .iter()
                .position(|i| S::name(i) == name)
                .ok_or_else(|| not_found(S::NAME, name))?;
            items.remove(position);
            Ok(())
        })
    }

    pub fn update_node(&mut self, node: file::Node) -> Result<u64, Status> {
        self.change(Op::Update, "update node", |file| {
            file.node = node;
            Ok(())
        })
    }

    pub fn apply(&mut self, new: file::TopologyFile) -> Result<u64, Status> {
        self.change(Op::Apply, "apply a topology", |file| {
            *file = new;
            Ok(())
        })
    }

    /// Edits a copy, validates it whole, publishes it; or changes nothing.
    fn change(
        &mut self,
        op: Op,
        what: &str,
        edit: impl FnOnce(&mut file::TopologyFile) -> Result<(), Status>,
    ) -> Result<u64, Status> {
        let result = self.try_change(op, edit);
        self.log(what, result)
    }

    /// Every accepted or refused change is logged with the generation it made or
    /// left in force.
    fn log(&self, what: &str, result: Result<u64, Status>) -> Result<u64, Status> {
        match &result {
            Ok(generation) => {
                tracing::info!(generation = *generation, "configuration: {what}: accepted")
            }
            Err(status) => tracing::warn!(
                generation = self.generation(),
                code = ?status.code(),
                "configuration: {what}: refused: {}",
                status.message()
            ),
        }
        result
    }

    fn try_change(
        &mut self,
        op: Op,
        edit: impl FnOnce(&mut file::TopologyFile) -> Result<(), Status>,
    ) -> Result<u64, Status> {
        let mut next = self.file.clone();
        edit(&mut next)?;
        let topology = Topology::from_file(&next).map_err(|error| refused(&error, op))?;
        same_ports(&self.file.ports, &next.ports)?;
        if let Some(path) = &self.state_file {
            super::state_file::save(path, &next)
                .map_err(|error| Status::unavailable(format!("{error}; nothing was changed")))?;
        }
        let tables = Arc::new(ForwardingTables::build(&topology));
        let generation = self.runtime.publish(Arc::clone(&tables));
        self.file = next;
        self.topology = topology;
        self.tables = tables;
        Ok(generation)
    }
}

fn not_found(section: &str, name: &str) -> Status {
    Status::not_found(format!("{section} \"{name}\": name: no such object"))
}

/// The runtime opens its ports at start and numbers them by position: a running
/// dataplane can change a port's mtu but not add, remove, reorder or re-drive ports.
fn same_ports(running: &[file::Port], next: &[file::Port]) -> Result<(), Status> {
    let why = "the running dataplane cannot add, remove, reorder or change the driver of ports; restart it with the new topology";
    for (index, port) in next.iter().enumerate() {
        let same = running.get(index).is_some_and(|old| {
            old.name == port.name
                && old.driver == port.driver
                && old.socket == port.socket
                && old.ifname == port.ifname
                && old.path == port.path
                && old.pci == port.pci
                && old.queues == port.queues
        });
        if !same {
            return Err(Status::failed_precondition(format!(
                "ports \"{}\": driver: {why}",
                port.name
            )));
        }
    }
    if let Some(gone) = running.get(next.len()) {
        return Err(Status::failed_precondition(format!(
            "ports \"{}\": name: {why}",
            gone.name
        )));
    }
    Ok(())
}
