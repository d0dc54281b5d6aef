//! The Prometheus endpoint (`--metrics ADDR`): `GET /metrics` in the OpenMetrics text
//! format, served on the control thread's runtime. Every scrape reads the counters
//! the workers publish (absolute values, so a fresh registry per scrape) and the
//! connection tables; nothing here runs on a worker.
//!
//! Names follow Prometheus conventions: `dataplane_` prefix, `_total` on counters,
//! units in the name, labels for the port, worker, reason and state.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::connections;
use pipeline::counters::{Counters, DropReason};
use runtime::conntrack_dump::ConnRecord;
use runtime::RuntimeHandle;

type Labels = Vec<(&'static str, String)>;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a scrape reads: the runtime, and its ports' names (fixed while it runs).
pub struct MetricsSource {
    pub runtime: RuntimeHandle,
    pub port_names: Vec<String>,
    /// The cloud agent's state, when the configuration follows etcd.
    pub cloud: Option<Arc<super::cloud_status::CloudStatus>>,
}

fn counter_family(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    registry.register(name, help, family.clone());
    family
}

fn gauge_family(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The exposition of everything a scrape reports.
pub fn render(source: &MetricsSource, connections: &[ConnRecord]) -> String {
    let runtime = &source.runtime;
    let mut registry = Registry::with_prefix("dataplane");
    ports(&mut registry, &source.port_names, &runtime.stats());
    drivers(&mut registry, runtime);
    workers(&mut registry, &runtime.worker_stats());
    occupancy(&mut registry, runtime);
    conntrack(&mut registry, connections);

    let generation = Gauge::<i64>::default();
    generation.set(to_i64(runtime.generation()));
    registry.register(
        "config_generation",
        "Generation of the configuration snapshot last published",
        generation,
    );
    let oldest = Gauge::<i64>::default();
    oldest.set(to_i64(runtime.oldest_generation_in_use()));
    registry.register(
        "config_oldest_generation_in_use",
        "Oldest configuration generation a worker still runs with",
        oldest,
    );
    let capture_dropped = Counter::<u64>::default();
    capture_dropped.inc_by(runtime.capture().dropped());
    registry.register(
        "capture_dropped",
        "Captured copies dropped because the capture ring was full",
        capture_dropped,
    );
    let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    uptime.set(runtime.started().elapsed().as_secs_f64());
    registry.register(
        "uptime_seconds",
        "Seconds since the workers started",
        uptime,
    );

    if let Some(cloud) = &source.cloud {
        cloud_agent(&mut registry, &cloud.get());
    }

    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Per port: packets through the pipeline; per reason: drops.
fn ports(registry: &mut Registry, names: &[String], counters: &Counters) {
    let rx = counter_family(registry, "port_rx_packets", "Packets received on a port");
    let tx = counter_family(registry, "port_tx_packets", "Packets transmitted on a port");
    for (name, port) in names.iter().zip(&counters.ports) {
        let labels = vec![("port", name.clone())];
        rx.get_or_create(&labels).inc_by(port.rx);
        tx.get_or_create(&labels).inc_by(port.tx);
    }
    let drops = counter_family(registry, "drops", "Packets dropped, by reason");
    for reason in DropReason::ALL {
        drops
            .get_or_create(&vec![("reason", reason.name().to_owned())])
            .inc_by(counters.drops(reason));
    }
}

/// Per port, what its driver counts: bytes, errors, missed frames, link.
fn drivers(registry: &mut Registry, runtime: &RuntimeHandle) {
    let rx_bytes = counter_family(registry, "port_rx_bytes", "Bytes a port's driver received");
    let tx_bytes = counter_family(registry, "port_tx_bytes", "Bytes a port's driver sent");
    let rx_errors = counter_family(
        registry,
        "port_rx_errors",
        "Frames a port's driver could not receive",
    );
    let rx_missed = counter_family(
        registry,
        "port_rx_missed",
        "Frames a port's driver dropped for lack of room",
    );
    let tx_errors = counter_family(
        registry,
        "port_tx_errors",
        "Frames a port's driver could not send",
    );
    let link = gauge_family(registry, "port_link_up", "1 when the port's link is up");
    let device = counter_family(
        registry,
        "port_device",
        "What a port's device counts itself (DPDK's statistics), by counter name",
    );
    for port in runtime.ports() {
        let labels = vec![("port", port.name().to_owned())];
        let (rx, tx) = (port.stats().rx(), port.stats().tx());
        rx_bytes.get_or_create(&labels).inc_by(rx.bytes);
        tx_bytes.get_or_create(&labels).inc_by(tx.bytes);
        rx_errors.get_or_create(&labels).inc_by(rx.errors);
        rx_missed.get_or_create(&labels).inc_by(rx.missed);
        tx_errors.get_or_create(&labels).inc_by(tx.errors);
        link.get_or_create(&labels).set(i64::from(port.link().up));
        for (name, value) in port.extended_stats() {
            let labels = vec![("port", port.name().to_owned()), ("counter", name)];
            device.get_or_create(&labels).inc_by(value);
        }
    }
}

/// Per worker: packets received, transmitted and dropped, and where its cycles went.
fn workers(registry: &mut Registry, workers: &[Counters]) {
    let busy = counter_family(
        registry,
        "worker_busy_cycles",
        "TSC cycles a worker spent on polls that found packets",
    );
    let idle = counter_family(
        registry,
        "worker_idle_cycles",
        "TSC cycles a worker spent on polls that found nothing",
    );
    let rx = counter_family(registry, "worker_rx_packets", "Packets a worker received");
    let tx = counter_family(
        registry,
        "worker_tx_packets",
        "Packets a worker transmitted",
    );
    let dropped = counter_family(
        registry,
        "worker_dropped_packets",
        "Packets a worker dropped",
    );
    for (worker, counters) in workers.iter().enumerate() {
        let labels = vec![("worker", worker.to_string())];
        rx.get_or_create(&labels).inc_by(counters.total_rx());
        tx.get_or_create(&labels).inc_by(counters.total_tx());
        dropped
            .get_or_create(&labels)
            .inc_by(counters.total_drops());
        busy.get_or_create(&labels).inc_by(counters.busy_cycles);
        idle.get_or_create(&labels).inc_by(counters.idle_cycles);
    }
}

/// How full the shared buffer pool and each worker's ring of handed-over SNAT
/// replies are.
fn occupancy(registry: &mut Registry, runtime: &RuntimeHandle) {
    let pool = gauge_family(
        registry,
        "pool_buffers_free",
        "Packet buffers free in the shared pool (workers' caches not included)",
    );
    let pool_size = gauge_family(registry, "pool_buffers", "Packet buffers in the pool");
    pool.get_or_create(&Vec::new())
        .set(to_i64(runtime.buffers().available() as u64));
    pool_size
        .get_or_create(&Vec::new())
        .set(to_i64(runtime.buffers().config().buffers as u64));
    let ring = gauge_family(
        registry,
        "worker_handoff_ring_packets",
        "SNAT replies waiting in a worker's ring, handed over by other workers",
    );
    for (worker, waiting) in runtime.handoff_occupancy().into_iter().enumerate() {
        ring.get_or_create(&vec![("worker", worker.to_string())])
            .set(to_i64(waiting as u64));
    }
}

/// Tracked connections by state, every state listed (zero included).
fn conntrack(registry: &mut Registry, records: &[ConnRecord]) {
    let entries = gauge_family(
        registry,
        "conntrack_entries",
        "Connections tracked, by state",
    );
    for state in connections::STATES {
        let count = records
            .iter()
            .filter(|r| connections::state_name(&r.conn.state) == state)
            .count();
        entries
            .get_or_create(&vec![("state", state.to_owned())])
            .set(count as i64);
    }
}

/// Serves `GET /metrics` on `listener` until `stop` fires.
pub async fn serve(
    listener: std::net::TcpListener,
    source: Arc<MetricsSource>,
    mut stop: tokio::sync::broadcast::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("metrics endpoint: {error}");
            return;
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let source = Arc::clone(&source);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        respond(Arc::clone(&source), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = stop.recv() => break,
        }
    }
}

async fn respond(
    source: Arc<MetricsSource>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        Ok(response)
    };
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are at /metrics\n".into(),
        );
    }
    let runtime = source.runtime.clone();
    // Workers copy their tables between bursts: wait for them off the runtime.
    let records = tokio::task::spawn_blocking(move || {
        connections::collect(&runtime, Duration::from_millis(500)).0
    })
    .await
    .unwrap_or_default();
    reply(StatusCode::OK, CONTENT_TYPE, render(&source, &records))
}

/// The etcd agent: connected, the revision in force, refused objects, nodes down.
fn cloud_agent(registry: &mut Registry, status: &super::cloud_status::CloudStatusView) {
    let gauges: [(&str, &str, i64); 5] = [
        (
            "etcd_connected",
            "1 while the agent's watch on etcd is established, else 0 (the node keeps its last configuration)",
            i64::from(status.connected),
        ),
        (
            "etcd_registered",
            "1 while this node's registration under its lease is in place",
            i64::from(status.registered),
        ),
        (
            "etcd_revision",
            "The etcd revision the configuration in force was derived from",
            status.revision,
        ),
        (
            "etcd_refused_objects",
            "Objects in etcd refused (malformed or invalid) and left out of the configuration",
            status.refused.len() as i64,
        ),
        (
            "etcd_nodes_down",
            "Other nodes of the cloud whose registration (lease) is absent",
            status.nodes_down.len() as i64,
        ),
    ];
    for (name, help, value) in gauges {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        registry.register(name, help, gauge);
    }
}
