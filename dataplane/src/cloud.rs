//! `dataplane run --etcd`: the configuration this node starts with comes from the
//! cloud's etcd (its ports are opened from it); when etcd cannot be reached at start,
//! the configuration saved by `--state` is resumed and the agent catches up later.

//!
//! Built with the `etcd` feature; without it `--etcd` is refused at start with a
//! message saying so.

#[cfg(feature = "etcd")]
pub use with_etcd::*;
#[cfg(not(feature = "etcd"))]
pub use without_etcd::*;

#[cfg(feature = "etcd")]
mod with_etcd {
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use cloud_config::agent::{initial, Initial};
    pub use cloud_config::{Agent, AgentOptions};

    use crate::control::cloud_status::{CloudStatus, CloudStatusView};
    use crate::control::ControlState;
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

    pub fn status(cloud: &AgentOptions) -> CloudStatusView {
        cloud.status()
    }

    pub fn spawn(
        cloud: AgentOptions,
        state: Arc<Mutex<ControlState>>,
        status: Arc<CloudStatus>,
        initial: Option<Initial>,
    ) -> std::io::Result<Agent> {
        Agent::spawn(cloud, state, status, initial)
    }

    pub fn stop(agent: Agent) {
        agent.stop();
    }
}

#[cfg(not(feature = "etcd"))]
mod without_etcd {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use crate::control::cloud_status::{CloudStatus, CloudStatusView};
    use crate::control::ControlState;
    use crate::run::RunError;
    use crate::topology::{file::TopologyFile, Topology};

    const NO_ETCD: &str = "--etcd: this build has no etcd support (build with --features etcd)";

    /// Stand-ins: `main` refuses `--etcd` in this build, so none is ever made.
    #[derive(Clone, Debug)]
    pub struct AgentOptions(());
    pub struct Agent(());
    pub struct Initial(());

    pub fn load(
        _cloud: &AgentOptions,
        _saved: Option<&Path>,
    ) -> Result<(TopologyFile, Topology, Option<Initial>), RunError> {
        Err(RunError::Option(NO_ETCD.into()))
    }

    pub fn status(_cloud: &AgentOptions) -> CloudStatusView {
        CloudStatusView::default()
    }

    pub fn spawn(
        _cloud: AgentOptions,
        _state: Arc<Mutex<ControlState>>,
        _status: Arc<CloudStatus>,
        _initial: Option<Initial>,
    ) -> std::io::Result<Agent> {
        Err(std::io::Error::other(NO_ETCD))
    }

    pub fn stop(_agent: Agent) {}
}
