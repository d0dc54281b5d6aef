//! `dataplane run --etcd`: the configuration this node starts with comes from the
//! cloud's etcd (its ports are opened from it); when etcd cannot be reached at start,
//! the configuration saved by `--state` is resumed and the agent catches up later.

use std::path::Path;
use std::time::Duration;

use cloud_config::agent::{initial, Initial};
use cloud_config::AgentOptions;

use crate::run::RunError;
use crate::topology::{file::TopologyFile, Topology};

/// How long start-up waits for etcd before falling back to the saved state.
const FIRST_READ: Duration = Duration::from_secs(5);

pub fn load(
    cloud: &AgentOptions,
    saved: Option<&Path>,
) -> Result<(TopologyFile, Topology, Option<Initial>), RunError> {
    let endpoints = cloud.endpoints.join(",");
    match initial(cloud, FIRST_READ) {
        Ok(first) => {
            let file = first.file().clone();
            let topology = Topology::from_file(&file)?;
            tracing::info!(
                revision = first.revision(),
                "node \"{}\": configuration read from etcd {endpoints} under {}",
                cloud.node,
                cloud.prefix
            );
            Ok((file, topology, Some(first)))
        }
        Err(error) => match saved {
            Some(saved) => {
                eprintln!(
                    "dataplane: etcd: {error}; resuming the configuration saved in {}",
                    saved.display()
                );
                let (file, topology) = crate::run::load(saved)?;
                Ok((file, topology, None))
            }
            None => Err(RunError::Option(format!(
                "--etcd {endpoints}: {error} (and no --state file to resume from)"
            ))),
        },
    }
}
