//! The agent: follows the cloud's keys in etcd and applies this node's view through
//! the control state (validated, published as one snapshot per watch response: the
//! events of one etcd transaction arrive together). The watch resumes from the
//! revision it reached after a reconnect; when that revision has been compacted, the
//! whole prefix is read again. While etcd cannot be reached the configuration in
//! force stays (the workers never notice), and the state is reported (`dpctl
//! status`, the `dataplane_etcd_connected` metric, the log).

use std::sync::Arc;
use std::time::Duration;

use control::cloud_status::{CloudStatus, CloudStatusView};
use control::SharedState;
use etcd_client::{Client, ConnectOptions, EventType, GetOptions, WatchOptions};
use tokio::sync::watch;
use topology::file::TopologyFile;

use crate::layout;
use crate::reconcile::{Outcome, Raw, Reconciler};
use crate::registration::Registrar;
use crate::view;

#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub endpoints: Vec<String>,
    pub prefix: String,
    pub node: String,
    /// Seconds the node's registration outlives its last keep-alive.
    pub lease_ttl: i64,
    /// Registered with the node (its dataplane's version).
    pub version: String,
}

impl AgentOptions {
    pub fn status(&self) -> CloudStatusView {
        CloudStatusView {
            endpoints: self.endpoints.join(","),
            prefix: layout::normalize(&self.prefix),
            node: self.node.clone(),
            ..Default::default()
        }
    }
}

/// Connects to the cluster; a request (not a watch) fails after a few seconds. HTTP/2
/// pings find a silent dead connection (a watch sends nothing while nothing changes);
/// etcd closes connections that ping more often than every 5 s
/// (`--grpc-keepalive-min-time`), so every 6 s, 3 s to answer.
pub async fn connect(endpoints: &[String]) -> Result<Client, String> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(3))
        .with_keep_alive(Duration::from_secs(6), Duration::from_secs(3))
        .with_keep_alive_while_idle(true);
    Client::connect(endpoints, Some(options))
        .await
        .map_err(|error| format!("etcd {}: {error}", endpoints.join(",")))
}

/// Every key under the prefix, and the revision read at.
pub async fn read_all(client: &mut Client, prefix: &str) -> Result<(Raw, i64), String> {
    let start = layout::range_start(prefix);
    let response = client
        .get(start.as_str(), Some(GetOptions::new().with_prefix()))
        .await
        .map_err(|error| format!("reading {start}: {error}"))?;
    let revision = response.header().map_or(0, |h| h.revision());
    let raw = response
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                kv.value().to_vec(),
            )
        })
        .collect();
    Ok((raw, revision))
}

/// The configuration read before the dataplane starts (its ports come from it).
pub struct Initial {
    raw: Raw,
    revision: i64,
    outcome: Outcome,
}

impl Initial {
    pub fn file(&self) -> &TopologyFile {
        &self.outcome.file
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }
}

/// Reads the cloud once and derives this node's view, within `timeout`.
pub fn initial(options: &AgentOptions, timeout: Duration) -> Result<Initial, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let read = async {
            let mut client = connect(&options.endpoints).await?;
            read_all(&mut client, &options.prefix).await
        };
        let (raw, revision) = tokio::time::timeout(timeout, read).await.map_err(|_| {
            format!(
                "etcd {}: no answer within {timeout:?}",
                options.endpoints.join(",")
            )
        })??;
        let outcome = Reconciler::new(&options.prefix, &options.node).reconcile(&raw, None)?;
        Ok(Initial {
            raw,
            revision,
            outcome,
        })
    })
}

/// The running agent: a thread with its own single-threaded runtime.
pub struct Agent {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    /// Follows etcd from `initial` (what the dataplane started with) or, without it,
    /// from a full read once etcd answers.
    pub fn spawn(
        options: AgentOptions,
        state: SharedState,
        status: Arc<CloudStatus>,
        initial: Option<Initial>,
    ) -> std::io::Result<Agent> {
        let (stop, stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("cloud-agent".into())
            .spawn(move || {
                let mut follower = Follower::new(&options, state.clone(), status.clone(), initial);
                let registrar = Registrar::new(options, state, status);
                runtime.block_on(async move {
                    let mut stopped_follow = stopped.clone();
                    let follow = async {
                        tokio::select! {
                            () = follower.run() => {}
                            () = wait_stop(&mut stopped_follow) => {}
                        }
                    };
                    // The registration task revokes its lease when it sees the stop.
                    tokio::join!(follow, registrar.run(stopped));
                });
            })?;
        Ok(Agent {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub(crate) async fn wait_stop(stopped: &mut watch::Receiver<bool>) {
    while !*stopped.borrow() {
        if stopped.changed().await.is_err() {
            return;
        }
    }
}

/// The watch and what it applies.
struct Follower {
    endpoints: Vec<String>,
    prefix: String,
    node: String,
    state: SharedState,
    status: Arc<CloudStatus>,
    reconciler: Reconciler,
    raw: Raw,
    /// The revision `raw` holds; 0: read everything again.
    revision: i64,
}

enum WatchEnd {
    /// The revision to resume from is compacted: read everything again.
    Compacted,
}

impl Follower {
    fn new(
        options: &AgentOptions,
        state: SharedState,
        status: Arc<CloudStatus>,
        initial: Option<Initial>,
    ) -> Self {
        let mut reconciler = Reconciler::new(&options.prefix, &options.node);
        let (raw, revision) = match initial {
            Some(initial) => {
                status.update(|view| {
                    view.revision = initial.revision;
                    view.refused = initial.outcome.refused.clone();
                    view.nodes_down = view::nodes_down(&initial.outcome.objects, &options.node);
                    view.generation = state.lock().map_or(0, |s| s.generation());
                });
                reconciler.applied(initial.outcome.objects);
                (initial.raw, initial.revision)
            }
            None => (Raw::new(), 0),
        };
        Follower {
            endpoints: options.endpoints.clone(),
            prefix: layout::normalize(&options.prefix),
            node: options.node.clone(),
            state,
            status,
            reconciler,
            raw,
            revision,
        }
    }

    async fn run(&mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.follow().await {
                Ok(WatchEnd::Compacted) => backoff = Duration::from_millis(100),
                Err(error) => {
                    if self.status.get().connected {
                        tracing::warn!(
                            revision = self.revision,
                            "etcd unreachable, forwarding goes on with the configuration in force: {error}"
                        );
                    }
                    self.status.set_connected(false, Some(error));
                    tokio::time::sleep(jittered(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// One connection: a full read when needed, then the watch until it fails.
    async fn follow(&mut self) -> Result<WatchEnd, String> {
        let mut client = connect(&self.endpoints).await?;
        if self.revision == 0 {
            let (raw, revision) = read_all(&mut client, &self.prefix).await?;
            tracing::info!(
                revision,
                keys = raw.len(),
                "etcd: read the whole configuration"
            );
            self.raw = raw;
            self.revision = revision;
            self.status.update(|view| view.full_reads += 1);
            self.apply();
        }
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.revision + 1);
        let start = layout::range_start(&self.prefix);
        let mut stream = client
            .watch(start.as_str(), Some(options))
            .await
            .map_err(|error| format!("watching {start}: {error}"))?;
        loop {
            let response = stream
                .message()
                .await
                .map_err(|error| format!("watch on {start}: {error}"))?
                .ok_or_else(|| format!("watch on {start}: ended by the server"))?;
            if response.created() {
                if !self.status.get().connected {
                    tracing::info!(revision = self.revision, "etcd: watching {start}");
                }
                self.status.set_connected(true, None);
            }
            if response.compact_revision() > 0 {
                tracing::warn!(
                    from = self.revision + 1,
                    compacted = response.compact_revision(),
                    "etcd: the watch's revision is compacted: reading the whole configuration again"
                );
                self.revision = 0;
                return Ok(WatchEnd::Compacted);
            }
            if response.canceled() {
                return Err(format!(
                    "watch on {start}: canceled: {}",
                    response.cancel_reason()
                ));
            }
            if response.events().is_empty() {
                continue;
            }
            self.take_events(&response);
            // Responses already waiting are taken too and applied with this one: under
            // a burst of writes the node publishes one snapshot per batch, never half a
            // transaction (etcd never splits a revision's events across responses).
            while let Ok(Ok(Some(next))) =
                tokio::time::timeout(Duration::ZERO, stream.message()).await
            {
                if next.compact_revision() > 0 || next.canceled() {
                    self.apply();
                    self.revision = 0;
                    return Ok(WatchEnd::Compacted);
                }
                self.take_events(&next);
            }
            self.apply();
        }
    }

    /// Updates the keys held from one watch response's events.
    fn take_events(&mut self, response: &etcd_client::WatchResponse) {
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            match event.event_type() {
                EventType::Put => {
                    self.raw.insert(key, kv.value().to_vec());
                }
                EventType::Delete => {
                    self.raw.remove(&key);
                }
            }
            self.revision = self.revision.max(kv.mod_revision());
        }
    }

    /// Derives the view of `raw` and applies it as one change (or nothing).
    fn apply(&mut self) {
        let revision = self.revision;
        let Ok(mut state) = self.state.lock() else {
            tracing::error!("control state poisoned: the cloud configuration is not applied");
            return;
        };
        let running = state.file().ports.clone();
        let outcome = match self.reconciler.reconcile(&self.raw, Some(&running)) {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(
                    revision,
                    "cloud configuration refused, the one in force stays: {error}"
                );
                self.status.update(|view| view.last_error = Some(error));
                return;
            }
        };
        let generation = if state.file() == &outcome.file {
            Ok(state.generation())
        } else {
            state.apply(outcome.file.clone())
        };
        let nodes_down = view::nodes_down(&outcome.objects, &self.node);
        match generation {
            Ok(generation) => {
                tracing::debug!(revision, generation, "cloud configuration applied");
                self.status.update(|view| {
                    view.revision = revision;
                    view.generation = generation;
                    view.refused = outcome.refused;
                    view.nodes_down = nodes_down;
                });
                self.reconciler.applied(outcome.objects);
            }
            Err(refusal) => {
                let error = format!("revision {revision}: {}", refusal.message());
                tracing::warn!("cloud configuration refused, the one in force stays: {error}");
                self.status.update(|view| view.last_error = Some(error));
            }
        }
    }
}

/// Between half and all of `delay`: nodes that lost etcd together do not all come
/// back in the same instant (each reconnect may read the whole prefix).
fn jittered(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    delay.mul_f64(fraction)
}
