//! Output for people (aligned tables, columns in a chosen order with their units) and
//! for scripts (`-o json`: the API's message, the same whether listed or shown).

use std::io::Write;

use dataplane::control::proto as pb;
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A message shown as a table row: which fields, in which order, under which header.
pub trait Listed: Serialize {
    /// (field, header); a header names the unit when the value has one.
    const COLUMNS: &'static [(&'static str, &'static str)];
}

macro_rules! listed {
    ($type:ty, [$(($field:literal, $header:literal)),* $(,)?]) => {
        impl Listed for $type {
            const COLUMNS: &'static [(&'static str, &'static str)] = &[$(($field, $header)),*];
        }
    };
}

listed!(
    pb::Node,
    [
        ("name", "NAME"),
        ("vtep_ip", "VTEP_IP"),
        ("uplink", "UPLINK"),
        ("uplink_mac", "UPLINK_MAC"),
        ("external_ip", "EXTERNAL_IP"),
        ("external_gateway_ip", "EXTERNAL_GATEWAY_IP"),
        ("external_gateway_mac", "EXTERNAL_GATEWAY_MAC"),
        ("snat_port_range", "SNAT_PORT_RANGE"),
    ]
);
listed!(
    pb::Port,
    [
        ("name", "NAME"),
        ("driver", "DRIVER"),
        ("socket", "SOCKET"),
        ("ifname", "IFNAME"),
        ("path", "PATH"),
        ("pci", "PCI"),
        ("mtu", "MTU(bytes)"),
    ]
);
listed!(
    pb::Chassis,
    [
        ("name", "NAME"),
        ("vtep_ip", "VTEP_IP"),
        ("mac", "MAC"),
        ("down", "DOWN")
    ]
);
listed!(
    pb::Network,
    [
        ("name", "NAME"),
        ("tenant", "TENANT"),
        ("vni", "VNI"),
        ("cidr", "CIDR"),
        ("gateway_ip", "GATEWAY_IP"),
    ]
);
listed!(
    pb::Router,
    [
        ("name", "NAME"),
        ("tenant", "TENANT"),
        ("mac", "MAC"),
        ("networks", "NETWORKS"),
        ("snat", "SNAT"),
        ("external_ip", "EXTERNAL_IP"),
    ]
);
listed!(
    pb::LogicalPort,
    [
        ("name", "NAME"),
        ("network", "NETWORK"),
        ("mac", "MAC"),
        ("ip", "IP"),
        ("port", "PORT"),
        ("vlan", "VLAN"),
        ("chassis", "CHASSIS"),
        ("port_security", "PORT_SECURITY"),
    ]
);
listed!(
    pb::PortPair,
    [
        ("name", "NAME"),
        ("ingress", "INGRESS"),
        ("egress", "EGRESS"),
        ("correlation", "CORRELATION"),
        ("weight", "WEIGHT"),
    ]
);
listed!(
    pb::PortPairGroup,
    [("name", "NAME"), ("port_pairs", "PORT_PAIRS")]
);
listed!(
    pb::FlowClassifier,
    [
        ("name", "NAME"),
        ("ethertype", "ETHERTYPE"),
        ("protocol", "PROTOCOL"),
        ("source_ip_prefix", "SOURCE_IP_PREFIX"),
        ("source_port_range", "SOURCE_PORT_RANGE"),
        ("destination_ip_prefix", "DESTINATION_IP_PREFIX"),
        ("destination_port_range", "DESTINATION_PORT_RANGE"),
        ("logical_source_port", "LOGICAL_SOURCE_PORT"),
        ("logical_destination_port", "LOGICAL_DESTINATION_PORT"),
    ]
);
listed!(
    pb::PortChain,
    [
        ("name", "NAME"),
        ("chain_id", "CHAIN_ID"),
        ("port_pair_groups", "PORT_PAIR_GROUPS"),
        ("flow_classifiers", "FLOW_CLASSIFIERS"),
        ("correlation", "CORRELATION"),
        ("symmetric", "SYMMETRIC"),
        ("mpls_ttl", "MPLS_TTL"),
    ]
);
listed!(
    pb::Connection,
    [
        ("tenant", "TENANT"),
        ("protocol", "PROTOCOL"),
        ("source", "SOURCE"),
        ("destination", "DESTINATION"),
        ("translated_source", "TRANSLATED_SOURCE"),
        ("state", "STATE"),
        ("packets", "PACKETS"),
        ("bytes", "BYTES"),
        ("expires_in_ms", "EXPIRES_IN(ms)"),
        ("worker", "WORKER"),
    ]
);

listed!(
    pb::WorkerInfo,
    [("worker", "WORKER"), ("core", "CORE"), ("ports", "PORTS")]
);
listed!(
    pb::PortInfo,
    [
        ("name", "PORT"),
        ("driver", "DRIVER"),
        ("workers", "WORKERS(by queue)")
    ]
);
listed!(
    pb::PortStatus,
    [
        ("name", "PORT"),
        ("driver", "DRIVER"),
        ("link_up", "LINK_UP"),
        ("rx_packets", "RX(packets)"),
        ("tx_packets", "TX(packets)"),
        ("rx_bytes", "RX(bytes)"),
        ("tx_bytes", "TX(bytes)"),
        ("rx_errors", "RX_ERRORS"),
        ("rx_missed", "RX_MISSED"),
        ("tx_errors", "TX_ERRORS"),
        ("queues", "QUEUES(queue:worker)"),
    ]
);
listed!(
    pb::WorkerStatus,
    [
        ("worker", "WORKER"),
        ("core", "CORE"),
        ("rx_queues", "RX_QUEUES"),
        ("rx_packets", "RX(packets)"),
        ("tx_packets", "TX(packets)"),
        ("dropped", "DROPPED(packets)"),
        ("busy_cycles", "BUSY(cycles)"),
        ("idle_cycles", "IDLE(cycles)"),
    ]
);
listed!(
    pb::Neighbour,
    [("ip", "IP"), ("mac", "MAC"), ("owner", "OWNER")]
);

/// Prints objects: one row each, or a JSON array of the messages.
pub fn rows<T: Listed>(format: Format, items: &[T]) {
    let values: Vec<Value> = items
        .iter()
        .map(|item| serde_json::to_value(item).unwrap_or(Value::Null))
        .collect();
    if format == Format::Json {
        json(&Value::Array(values));
        return;
    }
    let headers: Vec<String> = T::COLUMNS.iter().map(|(_, h)| (*h).to_owned()).collect();
    let table: Vec<Vec<String>> = values
        .iter()
        .map(|v| {
            T::COLUMNS
                .iter()
                .map(|(field, _)| field_cell(field, &v[*field]))
                .collect()
        })
        .collect();
    print_table(&headers, &table);
}

/// Prints one object: a row of fields, or the message as a JSON object.
pub fn one<T: Listed>(format: Format, item: &T) {
    if format == Format::Json {
        json(&serde_json::to_value(item).unwrap_or(Value::Null));
    } else {
        rows(format, std::slice::from_ref(item));
    }
}

/// One JSON document on one line.
pub fn json(value: &Value) {
    line(&value.to_string());
}

/// A cell: port ranges as `PORT` or `FIRST:LAST`, the rest by `cell`.
fn field_cell(field: &str, value: &Value) -> String {
    if field == "rx_queues" || field == "queues" {
        if let Some(queues) = value.as_array().filter(|q| !q.is_empty()) {
            // PORT:QUEUE for a worker's queues, QUEUE:WORKER for a port's.
            return queues
                .iter()
                .map(|q| match q.get("port") {
                    Some(port) => format!("{}:{}", cell(port), cell(&q["queue"])),
                    None => format!("{}:{}", cell(&q["queue"]), cell(&q["worker"])),
                })
                .collect::<Vec<_>>()
                .join(",");
        }
    }
    if field.ends_with("port_range") {
        if let Some([first, last]) = value.as_array().map(Vec::as_slice) {
            return if first == last {
                first.to_string()
            } else {
                format!("{first}:{last}")
            };
        }
    }
    cell(value)
}

pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Columns as given (headers printed as they are), left-aligned.
pub fn print_table(headers: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(value.chars().count());
        }
    }
    let format_row = |values: &[String]| {
        let cells: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        cells.join("  ").trim_end().to_owned()
    };
    line(&format_row(headers));
    for row in rows {
        line(&format_row(row));
    }
}

/// Prints a line to stdout; a reader that went away (`| head`) ends dpctl quietly.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").is_err() {
        std::process::exit(0);
    }
}
