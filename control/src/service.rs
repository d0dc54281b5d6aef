//! The gRPC service: requests become edits of the desired state (one lock: control
//! requests are serialised), reads come from the state and the runtime's published
//! counters, traces run over the current snapshot, captures drain the capture ring.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use packet::{parse, Pool, L3};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::connections;
use super::convert::{self, *};
use super::frame;
use super::proto as pb;
use super::state::*;
use super::stats;
use super::views;
use pipeline::trace::{trace_frame, Trace};
use runtime::capture::{Captured, Direction};
use runtime::RuntimeHandle;
use topology::{file, Binding, Topology};

type Reply<T> = Result<Response<T>, Status>;

/// The desired state, shared by the control API and the cloud agent (one lock:
/// their changes are serialised).
pub type SharedState = Arc<Mutex<ControlState>>;

pub struct ControlService {
    state: SharedState,
    runtime: RuntimeHandle,
    /// The stats at the last ClearStats: the API reports counters since then.
    baseline: Mutex<Option<views::Baseline>>,
}

impl ControlService {
    /// Serves a state that another writer (the cloud agent) changes too.
    pub fn shared(state: SharedState) -> Self {
        let runtime = match state.lock() {
            Ok(state) => state.runtime().clone(),
            Err(poisoned) => poisoned.into_inner().runtime().clone(),
        };
        ControlService {
            state,
            runtime,
            baseline: Mutex::new(None),
        }
    }

    fn port_names(&self) -> Result<Vec<String>, Status> {
        Ok(self
            .lock()?
            .file()
            .ports
            .iter()
            .map(|p| p.name.clone())
            .collect())
    }

    /// The stats since the last clear.
    fn stats_since_clear(&self) -> Result<pb::StatsReply, Status> {
        let now = stats::stats_reply(&self.runtime, &self.port_names()?);
        let baseline = self
            .baseline
            .lock()
            .map_err(|_| Status::internal("stats baseline poisoned"))?;
        Ok(views::since(now, baseline.as_ref()))
    }

    fn lock(&self) -> Result<MutexGuard<'_, ControlState>, Status> {
        self.state
            .lock()
            .map_err(|_| Status::internal("control state poisoned by an earlier panic"))
    }

    fn create<S: Section, P>(
        &self,
        request: Request<P>,
        from: fn(P) -> Result<S::Item, String>,
        to: fn(&S::Item) -> P,
    ) -> Reply<P> {
        let item = from(request.into_inner())
            .map_err(|e| Status::invalid_argument(format!("{}: {e}", S::NAME)))?;
        let name = S::name(&item).to_owned();
        let mut state = self.lock()?;
        state.create::<S>(item)?;
        Ok(Response::new(to(&state.get::<S>(&name)?)))
    }

    fn update<S: Section, P>(
        &self,
        request: Request<P>,
        from: fn(P) -> Result<S::Item, String>,
        to: fn(&S::Item) -> P,
    ) -> Reply<P> {
        let item = from(request.into_inner())
            .map_err(|e| Status::invalid_argument(format!("{}: {e}", S::NAME)))?;
        let name = S::name(&item).to_owned();
        let mut state = self.lock()?;
        state.update::<S>(item)?;
        Ok(Response::new(to(&state.get::<S>(&name)?)))
    }

    fn delete<S: Section>(&self, request: Request<pb::Name>) -> Reply<pb::Change> {
        let generation = self.lock()?.delete::<S>(&request.into_inner().name)?;
        Ok(Response::new(pb::Change { generation }))
    }

    fn get<S: Section, P>(&self, request: Request<pb::Name>, to: fn(&S::Item) -> P) -> Reply<P> {
        let item = self.lock()?.get::<S>(&request.into_inner().name)?;
        Ok(Response::new(to(&item)))
    }

    fn list<S: Section, P>(&self, to: fn(&S::Item) -> P) -> Result<Vec<P>, Status> {
        Ok(self.lock()?.list::<S>().iter().map(to).collect())
    }
}

#[tonic::async_trait]
impl pb::dataplane_server::Dataplane for ControlService {
    async fn get_node(&self, _: Request<pb::Empty>) -> Reply<pb::Node> {
        Ok(Response::new(node_to(&self.lock()?.file().node)))
    }
    async fn update_node(&self, request: Request<pb::Node>) -> Reply<pb::Node> {
        let node = node_from(request.into_inner())
            .map_err(|e| Status::invalid_argument(format!("node: {e}")))?;
        let mut state = self.lock()?;
        state.update_node(node)?;
        Ok(Response::new(node_to(&state.file().node)))
    }

    async fn create_port(&self, r: Request<pb::Port>) -> Reply<pb::Port> {
        self.create::<Ports, _>(r, port_from, port_to)
    }
    async fn update_port(&self, r: Request<pb::Port>) -> Reply<pb::Port> {
        self.update::<Ports, _>(r, port_from, port_to)
    }
    async fn delete_port(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<Ports>(r)
    }
    async fn get_port(&self, r: Request<pb::Name>) -> Reply<pb::Port> {
        self.get::<Ports, _>(r, port_to)
    }
    async fn list_ports(&self, _: Request<pb::Empty>) -> Reply<pb::PortList> {
        let ports = self.list::<Ports, _>(port_to)?;
        Ok(Response::new(pb::PortList { ports }))
    }

    async fn create_chassis(&self, r: Request<pb::Chassis>) -> Reply<pb::Chassis> {
        self.create::<ChassisSection, _>(r, chassis_from, chassis_to)
    }
    async fn update_chassis(&self, r: Request<pb::Chassis>) -> Reply<pb::Chassis> {
        self.update::<ChassisSection, _>(r, chassis_from, chassis_to)
    }
    async fn delete_chassis(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<ChassisSection>(r)
    }
    async fn get_chassis(&self, r: Request<pb::Name>) -> Reply<pb::Chassis> {
        self.get::<ChassisSection, _>(r, chassis_to)
    }
    async fn list_chassis(&self, _: Request<pb::Empty>) -> Reply<pb::ChassisList> {
        let chassis = self.list::<ChassisSection, _>(chassis_to)?;
        Ok(Response::new(pb::ChassisList { chassis }))
    }

    async fn create_network(&self, r: Request<pb::Network>) -> Reply<pb::Network> {
        self.create::<Networks, _>(r, network_from, network_to)
    }
    async fn update_network(&self, r: Request<pb::Network>) -> Reply<pb::Network> {
        self.update::<Networks, _>(r, network_from, network_to)
    }
    async fn delete_network(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<Networks>(r)
    }
    async fn get_network(&self, r: Request<pb::Name>) -> Reply<pb::Network> {
        self.get::<Networks, _>(r, network_to)
    }
    async fn list_networks(&self, _: Request<pb::Empty>) -> Reply<pb::NetworkList> {
        let networks = self.list::<Networks, _>(network_to)?;
        Ok(Response::new(pb::NetworkList { networks }))
    }

    async fn create_router(&self, r: Request<pb::Router>) -> Reply<pb::Router> {
        self.create::<Routers, _>(r, router_from, router_to)
    }
    async fn update_router(&self, r: Request<pb::Router>) -> Reply<pb::Router> {
        self.update::<Routers, _>(r, router_from, router_to)
    }
    async fn delete_router(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<Routers>(r)
    }
    async fn get_router(&self, r: Request<pb::Name>) -> Reply<pb::Router> {
        self.get::<Routers, _>(r, router_to)
    }
    async fn list_routers(&self, _: Request<pb::Empty>) -> Reply<pb::RouterList> {
        let routers = self.list::<Routers, _>(router_to)?;
        Ok(Response::new(pb::RouterList { routers }))
    }

    async fn create_logical_port(&self, r: Request<pb::LogicalPort>) -> Reply<pb::LogicalPort> {
        self.create::<LogicalPorts, _>(r, logical_port_from, logical_port_to)
    }
    async fn update_logical_port(&self, r: Request<pb::LogicalPort>) -> Reply<pb::LogicalPort> {
        self.update::<LogicalPorts, _>(r, logical_port_from, logical_port_to)
    }
    async fn delete_logical_port(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<LogicalPorts>(r)
    }
    async fn get_logical_port(&self, r: Request<pb::Name>) -> Reply<pb::LogicalPort> {
        self.get::<LogicalPorts, _>(r, logical_port_to)
    }
    async fn list_logical_ports(&self, _: Request<pb::Empty>) -> Reply<pb::LogicalPortList> {
        let logical_ports = self.list::<LogicalPorts, _>(logical_port_to)?;
        Ok(Response::new(pb::LogicalPortList { logical_ports }))
    }

    async fn create_port_pair(&self, r: Request<pb::PortPair>) -> Reply<pb::PortPair> {
        self.create::<PortPairs, _>(r, port_pair_from, port_pair_to)
    }
    async fn update_port_pair(&self, r: Request<pb::PortPair>) -> Reply<pb::PortPair> {
        self.update::<PortPairs, _>(r, port_pair_from, port_pair_to)
    }
    async fn delete_port_pair(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<PortPairs>(r)
    }
    async fn get_port_pair(&self, r: Request<pb::Name>) -> Reply<pb::PortPair> {
        self.get::<PortPairs, _>(r, port_pair_to)
    }
    async fn list_port_pairs(&self, _: Request<pb::Empty>) -> Reply<pb::PortPairList> {
        let port_pairs = self.list::<PortPairs, _>(port_pair_to)?;
        Ok(Response::new(pb::PortPairList { port_pairs }))
    }

    async fn create_port_pair_group(
        &self,
        r: Request<pb::PortPairGroup>,
    ) -> Reply<pb::PortPairGroup> {
        self.create::<PortPairGroups, _>(r, port_pair_group_from, port_pair_group_to)
    }
    async fn update_port_pair_group(
        &self,
        r: Request<pb::PortPairGroup>,
    ) -> Reply<pb::PortPairGroup> {
        self.update::<PortPairGroups, _>(r, port_pair_group_from, port_pair_group_to)
    }
    async fn delete_port_pair_group(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<PortPairGroups>(r)
    }
    async fn get_port_pair_group(&self, r: Request<pb::Name>) -> Reply<pb::PortPairGroup> {
        self.get::<PortPairGroups, _>(r, port_pair_group_to)
    }
    async fn list_port_pair_groups(&self, _: Request<pb::Empty>) -> Reply<pb::PortPairGroupList> {
        let port_pair_groups = self.list::<PortPairGroups, _>(port_pair_group_to)?;
        Ok(Response::new(pb::PortPairGroupList { port_pair_groups }))
    }

    async fn create_flow_classifier(
        &self,
        r: Request<pb::FlowClassifier>,
    ) -> Reply<pb::FlowClassifier> {
        self.create::<FlowClassifiers, _>(r, flow_classifier_from, flow_classifier_to)
    }
    async fn update_flow_classifier(
        &self,
        r: Request<pb::FlowClassifier>,
    ) -> Reply<pb::FlowClassifier> {
        self.update::<FlowClassifiers, _>(r, flow_classifier_from, flow_classifier_to)
    }
    async fn delete_flow_classifier(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<FlowClassifiers>(r)
    }
    async fn get_flow_classifier(&self, r: Request<pb::Name>) -> Reply<pb::FlowClassifier> {
        self.get::<FlowClassifiers, _>(r, flow_classifier_to)
    }
    async fn list_flow_classifiers(&self, _: Request<pb::Empty>) -> Reply<pb::FlowClassifierList> {
        let flow_classifiers = self.list::<FlowClassifiers, _>(flow_classifier_to)?;
        Ok(Response::new(pb::FlowClassifierList { flow_classifiers }))
    }

    async fn create_port_chain(&self, r: Request<pb::PortChain>) -> Reply<pb::PortChain> {
        self.create::<PortChains, _>(r, port_chain_from, port_chain_to)
    }
    async fn update_port_chain(&self, r: Request<pb::PortChain>) -> Reply<pb::PortChain> {
        self.update::<PortChains, _>(r, port_chain_from, port_chain_to)
    }
    async fn delete_port_chain(&self, r: Request<pb::Name>) -> Reply<pb::Change> {
        self.delete::<PortChains>(r)
    }
    async fn get_port_chain(&self, r: Request<pb::Name>) -> Reply<pb::PortChain> {
        self.get::<PortChains, _>(r, port_chain_to)
    }
    async fn list_port_chains(&self, _: Request<pb::Empty>) -> Reply<pb::PortChainList> {
        let port_chains = self.list::<PortChains, _>(port_chain_to)?;
        Ok(Response::new(pb::PortChainList { port_chains }))
    }

    async fn apply(&self, request: Request<pb::ApplyRequest>) -> Reply<pb::Change> {
        let new = match request.into_inner().source {
            Some(pb::apply_request::Source::Toml(text)) => {
                toml::from_str::<file::TopologyFile>(&text)
                    .map_err(|e| Status::invalid_argument(format!("topology: {e}")))?
            }
            Some(pb::apply_request::Source::Topology(topology)) => {
                let mut new = convert::topology_from(topology).map_err(Status::invalid_argument)?;
                // The API has no [dpdk] section: the running one is kept, so that the
                // state file still starts the EAL the same way.
                new.dpdk = self.lock()?.file().dpdk.clone();
                new
            }
            None => {
                return Err(Status::invalid_argument(
                    "source: toml or topology required",
                ))
            }
        };
        let generation = self.lock()?.apply(new)?;
        Ok(Response::new(pb::Change { generation }))
    }

    async fn get_topology(&self, _: Request<pb::Empty>) -> Reply<pb::TopologyReply> {
        let state = self.lock()?;
        Ok(Response::new(pb::TopologyReply {
            topology: Some(convert::topology_to(state.file())),
            generation: state.generation(),
            toml: state.file().to_toml(),
        }))
    }

    async fn stats(&self, _: Request<pb::Empty>) -> Reply<pb::StatsReply> {
        Ok(Response::new(self.stats_since_clear()?))
    }

    async fn list_connections(
        &self,
        request: Request<pb::ConnectionFilter>,
    ) -> Reply<pb::ConnectionList> {
        let filter = request.into_inner();
        connections::check(&filter, self.lock()?.topology()).map_err(Status::invalid_argument)?;
        let runtime = self.runtime.clone();
        // Workers copy their tables between bursts: wait for them off the server's
        // thread.
        let (records, truncated) = tokio::task::spawn_blocking(move || {
            connections::collect(&runtime, std::time::Duration::from_secs(1))
        })
        .await
        .map_err(|e| Status::internal(format!("listing connections: {e}")))?;
        let state = self.lock()?;
        let topology = state.topology();
        let connections = records
            .iter()
            .map(|record| connections::to_proto(record, topology))
            .filter(|connection| connections::matches(&filter, connection))
            .collect();
        Ok(Response::new(pb::ConnectionList {
            connections,
            truncated,
        }))
    }

    async fn trace(&self, request: Request<pb::TraceRequest>) -> Reply<pb::TraceReply> {
        let request = request.into_inner();
        let live: Vec<nat::conntrack::Conn> = if request.live {
            let runtime = self.runtime.clone();
            tokio::task::spawn_blocking(move || {
                connections::collect(&runtime, Duration::from_secs(1)).0
            })
            .await
            .map_err(|e| Status::internal(format!("copying connections: {e}")))?
            .into_iter()
            .map(|record| record.conn)
            .collect()
        } else {
            Vec::new()
        };
        let state = self.lock()?;
        let topology = state.topology();
        let from = match &request.logical_port {
            Some(name) => Some(
                topology
                    .logical_ports
                    .iter()
                    .position(|lp| &lp.name == name)
                    .ok_or_else(|| {
                        Status::not_found(format!("logical_port: unknown logical port \"{name}\""))
                    })?,
            ),
            None => None,
        };
        let port = match (
            &request.port,
            from.map(|i| &topology.logical_ports[i].binding),
        ) {
            (Some(name), _) => topology
                .ports
                .iter()
                .position(|p| &p.name == name)
                .ok_or_else(|| Status::not_found(format!("port: unknown port \"{name}\"")))?,
            (None, Some(Binding::Local { port, .. })) => port.index(),
            (None, Some(Binding::Remote { .. })) => {
                return Err(Status::failed_precondition(
                    "logical_port: hosted on another chassis; give the port it arrives on",
                ))
            }
            (None, None) => return Err(Status::invalid_argument("port or logical_port: required")),
        };
        let frame = match request.packet {
            Some(pb::trace_request::Packet::Frame(bytes)) => bytes,
            Some(pb::trace_request::Packet::Fields(fields)) => {
                frame::build(topology, from, &fields).map_err(Status::invalid_argument)?
            }
            None => return Err(Status::invalid_argument("packet: frame or fields required")),
        };
        let trace = trace_frame(
            state.tables(),
            port as u16,
            &frame,
            &live,
            self.runtime.learned(),
        );
        Ok(Response::new(trace_to(topology, trace, state.generation())))
    }

    async fn show(&self, _: Request<pb::Empty>) -> Reply<pb::ShowReply> {
        let state = self.lock()?;
        Ok(Response::new(views::show(&self.runtime, state.topology())))
    }

    async fn clear_stats(&self, _: Request<pb::Empty>) -> Reply<pb::Change> {
        let now = stats::stats_reply(&self.runtime, &self.port_names()?);
        *self
            .baseline
            .lock()
            .map_err(|_| Status::internal("stats baseline poisoned"))? = Some(now);
        tracing::info!("counters cleared (for the API; metrics keep counting)");
        Ok(Response::new(pb::Change {
            generation: self.runtime.generation(),
        }))
    }

    async fn flush_connections(
        &self,
        request: Request<pb::ConnectionFilter>,
    ) -> Reply<pb::FlushReply> {
        let filter = request.into_inner();
        let pick = {
            let state = self.lock()?;
            connections::check(&filter, state.topology()).map_err(Status::invalid_argument)?;
            connections::ConnMatch::new(&filter, state.topology())
        };
        let runtime = self.runtime.clone();
        let (flushed, incomplete) = tokio::task::spawn_blocking(move || {
            runtime.flush_connections(
                || {
                    let pick = pick.clone();
                    Box::new(move |conn: &nat::conntrack::Conn| pick.matches(conn))
                },
                Duration::from_secs(1),
            )
        })
        .await
        .map_err(|e| Status::internal(format!("flushing connections: {e}")))?;
        tracing::info!(flushed, incomplete, "connections flushed");
        Ok(Response::new(pb::FlushReply {
            flushed,
            incomplete,
        }))
    }

    async fn list_neighbours(&self, _: Request<pb::Empty>) -> Reply<pb::NeighbourList> {
        let state = self.lock()?;
        Ok(Response::new(views::neighbours(
            self.runtime.learned(),
            state.topology(),
        )))
    }

    async fn port_status(
        &self,
        request: Request<pb::PortStatusRequest>,
    ) -> Reply<pb::PortStatusList> {
        let stats = self.stats_since_clear()?;
        let state = self.lock()?;
        let topology = state.topology();
        let only = match request.into_inner().port {
            Some(name) => Some(
                topology
                    .ports
                    .iter()
                    .position(|p| p.name == name)
                    .ok_or_else(|| Status::not_found(format!("port: unknown port \"{name}\"")))?,
            ),
            None => None,
        };
        Ok(Response::new(views::port_status(
            &self.runtime,
            topology,
            &stats,
            only,
        )))
    }

    async fn cloud_status(&self, _: Request<pb::Empty>) -> Reply<pb::CloudStatusReply> {
        let state = self.lock()?;
        let status = state.cloud_status().map(|status| status.get());
        Ok(Response::new(views::cloud_status(
            status,
            state.generation(),
        )))
    }

    async fn worker_status(&self, _: Request<pb::Empty>) -> Reply<pb::WorkerStatusList> {
        let stats = self.stats_since_clear()?;
        let state = self.lock()?;
        Ok(Response::new(views::worker_status(
            &self.runtime,
            state.topology(),
            &stats,
        )))
    }

    type CaptureStream = Pin<Box<dyn Stream<Item = Result<pb::CapturedPacket, Status>> + Send>>;

    async fn capture(&self, request: Request<pb::CaptureRequest>) -> Reply<Self::CaptureStream> {
        let request = request.into_inner();
        let port = self
            .lock()?
            .file()
            .ports
            .iter()
            .position(|p| p.name == request.port)
            .ok_or_else(|| Status::not_found(format!("port: unknown port \"{}\"", request.port)))?;
        let direction = request.direction();
        let (rx, tx) = match direction {
            pb::Direction::Both => (true, true),
            pb::Direction::Rx => (true, false),
            pb::Direction::Tx => (false, true),
        };
        if !self.runtime.capture().start(port as u16, rx, tx) {
            return Err(Status::resource_exhausted("a capture is already running"));
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        let runtime = self.runtime.clone();
        tokio::spawn(async move {
            stream_capture(runtime, request, sender).await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }
}

/// Drains the capture ring into the client's stream until the count, the time or the
/// client runs out; then stops the capture.
async fn stream_capture(
    runtime: RuntimeHandle,
    request: pb::CaptureRequest,
    sender: tokio::sync::mpsc::Sender<Result<pb::CapturedPacket, Status>>,
) {
    let taps = runtime.capture();
    let mut pool = Pool::attach(runtime.buffers());
    let deadline = (request.duration_ms > 0)
        .then(|| Instant::now() + Duration::from_millis(request.duration_ms));
    let filter = request.filter.unwrap_or_default();
    let mut sent = 0u64;
    'outer: loop {
        while let Some(Captured {
            direction,
            timestamp_ns,
            packet,
            ..
        }) = taps.pop()
        {
            let keep = matches(&filter, packet.data());
            let frame = keep.then(|| packet.data().to_vec());
            pool.free(packet);
            let Some(frame) = frame else { continue };
            let message = pb::CapturedPacket {
                direction: match direction {
                    Direction::Rx => pb::Direction::Rx,
                    Direction::Tx => pb::Direction::Tx,
                } as i32,
                timestamp_ns,
                frame,
                dropped: taps.dropped(),
            };
            if sender.send(Ok(message)).await.is_err() {
                break 'outer;
            }
            sent += 1;
            if request.count > 0 && sent >= request.count {
                break 'outer;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) || sender.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    taps.stop();
    // Copies queued after the last read go back to the pool.
    while let Some(captured) = taps.pop() {
        pool.free(captured.packet);
    }
}

fn matches(filter: &pb::CaptureFilter, frame: &[u8]) -> bool {
    if filter.protocol.is_none() && filter.host.is_none() && filter.l4_port.is_none() {
        return true;
    }
    let Ok(meta) = parse(frame) else {
        return false;
    };
    if let Some(protocol) = filter.protocol.as_deref() {
        let ok = match protocol {
            "arp" => meta.l3 == L3::Arp,
            "tcp" => meta.is_ip() && meta.flow.protocol == 6,
            "udp" => meta.is_ip() && meta.flow.protocol == 17,
            "icmp" => meta.l3 == L3::Ipv4 && meta.flow.protocol == 1,
            "icmpv6" => meta.l3 == L3::Ipv6 && meta.flow.protocol == 58,
            number => number
                .parse::<u8>()
                .is_ok_and(|n| meta.is_ip() && meta.flow.protocol == n),
        };
        if !ok {
            return false;
        }
    }
    if let Some(host) = filter
        .host
        .as_deref()
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
    {
        if meta.flow.src_ip() != host && meta.flow.dst_ip() != host {
            return false;
        }
    }
    if let Some(port) = filter.l4_port {
        if u32::from(meta.flow.src_port) != port && u32::from(meta.flow.dst_port) != port {
            return false;
        }
    }
    true
}

fn trace_to(topology: &Topology, trace: Trace, generation: u64) -> pb::TraceReply {
    let steps = trace
        .steps
        .into_iter()
        .map(|step| {
            let mut fields: std::collections::HashMap<String, String> = step
                .fields
                .iter()
                .map(|(key, value)| ((*key).to_owned(), name_of(topology, key, value)))
                .collect();
            // A chain by name too (chain_id is what its MPLS labels carry).
            if let Some((_, id)) = step.fields.iter().find(|(key, _)| *key == "chain_id") {
                fields.insert("chain".into(), name_of(topology, "chain", id));
            }
            pb::TraceStep {
                stage: step.stage.to_owned(),
                decision: with_names(topology, &step.decision),
                fields,
            }
        })
        .collect();
    let outputs = trace
        .outputs
        .into_iter()
        .map(|(port, frame)| pb::TraceOutput {
            port: name_of(topology, "port", &port.to_string()),
            vlan: parse(&frame)
                .ok()
                .and_then(|m| m.outer_vlan())
                .map(u32::from),
            frame,
        })
        .collect();
    pb::TraceReply {
        steps,
        outputs,
        drop_reason: trace.drop.map(|r| r.name().to_owned()),
        generation,
        waiting_for: trace.waiting_for.iter().map(|ip| ip.to_string()).collect(),
    }
}

/// A field holding an object id, by name.
fn name_of(topology: &Topology, key: &str, value: &str) -> String {
    let Ok(id) = value.parse::<usize>() else {
        return value.to_owned();
    };
    let name = match key {
        "logical_port" => topology.logical_ports.get(id).map(|o| &o.name),
        "network" => topology.networks.get(id).map(|o| &o.name),
        "router" => topology.routers.get(id).map(|o| &o.name),
        "port" => topology.ports.get(id).map(|o| &o.name),
        "chassis" => topology.chassis.get(id).map(|o| &o.name),
        "chain" => topology
            .port_chains
            .iter()
            .find(|c| usize::from(c.chain_id) == id)
            .map(|o| &o.name),
        _ => None,
    };
    name.cloned().unwrap_or_else(|| value.to_owned())
}

/// "logical port 3 in network 0" -> "logical port \"vm3\" in network \"green-net\"".
fn with_names(topology: &Topology, decision: &str) -> String {
    let words: Vec<&str> = decision.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let before = |n: usize| i.checked_sub(n).map(|j| words[j]);
        let key = match (before(2), before(1)) {
            (Some("logical"), Some("port")) => "logical_port",
            (_, Some("port")) => "port",
            (_, Some("network")) => "network",
            (_, Some("router")) => "router",
            (_, Some("chassis")) => "chassis",
            (_, Some("chain")) => "chain",
            _ => "",
        };
        if !key.is_empty() && word.parse::<usize>().is_ok() {
            out.push(format!("\"{}\"", name_of(topology, key, word)));
        } else {
            out.push((*word).to_owned());
        }
    }
    out.join(" ")
}
