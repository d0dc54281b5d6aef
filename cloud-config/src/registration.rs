//! The node's registration: `P/chassis/NODE` holds its VTEP, MAC and version, under a
//! lease it keeps alive. When the node stops (or is cut off) the lease expires, etcd
//! deletes the key, and the other nodes mark it down; it registers again when it can.
//! A clean stop revokes the lease, so the others know at once.

use std::sync::Arc;
use std::time::Duration;

use control::cloud_status::CloudStatus;
use control::SharedState;
use etcd_client::{Client, PutOptions};
use tokio::sync::watch;

use crate::agent::{connect, wait_stop, AgentOptions};
use crate::layout::Key;
use crate::objects::{Object, Registration};

pub(crate) struct Registrar {
    options: AgentOptions,
    state: SharedState,
    status: Arc<CloudStatus>,
}

impl Registrar {
    pub(crate) fn new(options: AgentOptions, state: SharedState, status: Arc<CloudStatus>) -> Self {
        Registrar {
            options,
            state,
            status,
        }
    }

    /// Registers and keeps the lease alive until `stopped`; then revokes it.
    pub(crate) async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut lease = None;
        loop {
            let result = tokio::select! {
                result = self.register(&mut lease) => result,
                () = wait_stop(&mut stopped) => break,
            };
            if let Err(error) = result {
                if self.status.get().registered {
                    tracing::warn!(
                        "etcd: registration of node \"{}\" lost: {error}",
                        self.options.node
                    );
                }
                self.status.update(|view| view.registered = false);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = wait_stop(&mut stopped) => break,
            }
        }
        if let Some((mut client, id)) = lease {
            let revoke = client.lease_revoke(id);
            let _ = tokio::time::timeout(Duration::from_secs(1), revoke).await;
        }
    }

    fn registration(&self) -> Registration {
        let node = self.state.lock().map(|s| s.file().node.clone()).ok();
        Registration {
            name: self.options.node.clone(),
            vtep_ip: node.as_ref().and_then(|n| n.vtep_ip.clone()),
            mac: node.as_ref().and_then(|n| n.uplink_mac.clone()),
            version: self.options.version.clone(),
        }
    }

    /// Grants a lease, writes the registration under it, and keeps it alive; returns
    /// only with the reason it lapsed.
    async fn register(&self, lease: &mut Option<(Client, i64)>) -> Result<(), String> {
        let ttl = self.options.lease_ttl.max(1);
        let mut client = connect(&self.options.endpoints).await?;
        let granted = client
            .lease_grant(ttl, None)
            .await
            .map_err(|error| format!("lease grant: {error}"))?;
        let id = granted.id();
        *lease = Some((client.clone(), id));
        let key = Key::Registration {
            node: self.options.node.clone(),
        }
        .text(&self.options.prefix);
        let value = Object::Registration(self.registration()).encode();
        client
            .put(key.as_str(), value, Some(PutOptions::new().with_lease(id)))
            .await
            .map_err(|error| format!("writing {key}: {error}"))?;
        tracing::info!(
            lease = id,
            ttl,
            "etcd: node \"{}\" registered at {key}",
            self.options.node
        );
        self.status.update(|view| view.registered = true);
        let (mut keeper, mut answers) = client
            .lease_keep_alive(id)
            .await
            .map_err(|error| format!("lease keep-alive: {error}"))?;
        // A third of the TTL: two keep-alives may be lost before the lease lapses.
        let period = Duration::from_millis((ttl as u64 * 1000 / 3).max(200));
        loop {
            tokio::time::sleep(period).await;
            keeper
                .keep_alive()
                .await
                .map_err(|error| format!("lease keep-alive: {error}"))?;
            let answer = tokio::time::timeout(Duration::from_secs(ttl as u64), answers.message())
                .await
                .map_err(|_| "lease keep-alive: no answer".to_owned())?
                .map_err(|error| format!("lease keep-alive: {error}"))?;
            match answer {
                Some(answer) if answer.ttl() > 0 => {}
                _ => return Err(format!("lease {id} expired")),
            }
        }
    }
}
