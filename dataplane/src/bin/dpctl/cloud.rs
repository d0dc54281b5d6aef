//! `dpctl --etcd`: the cloud topology written to etcd in one transaction, the nodes
//! and their health; and `dpctl status`, a dataplane's view of where its
//! configuration comes from.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

#[cfg(feature = "etcd")]
use cloud_config::cloud_file::CloudFile;
#[cfg(feature = "etcd")]
use cloud_config::nodes;
use dataplane::control::proto as pb;

use crate::output::{self, Format};

#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
pub enum Command {
    Apply(PathBuf),
    Nodes,
}

#[cfg(feature = "etcd")]
pub async fn run(
    endpoints: &[String],
    prefix: &str,
    format: Format,
    command: Command,
) -> Result<(), String> {
    // Read and check the file before connecting: a bad file is refused whole.
    let objects = match &command {
        Command::Apply(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let cloud = CloudFile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(
                cloud
                    .checked_objects()
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            )
        }
        Command::Nodes => None,
    };
    let connect = cloud_config::agent::connect(endpoints);
    let mut client = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| format!("etcd {}: no answer", endpoints.join(",")))??;
    match (command, objects) {
        (Command::Apply(path), Some(objects)) => {
            let applied = nodes::apply(&mut client, prefix, &objects).await?;
            if format == Format::Json {
                output::json(&serde_json::to_value(&applied).unwrap_or_default());
            } else {
                output::line(&format!(
                    "applied {} to {prefix}: {} written, {} deleted, {} unchanged (revision {})",
                    path.display(),
                    applied.written,
                    applied.deleted,
                    applied.unchanged,
                    applied.revision
                ));
            }
        }
        _ => {
            let list = nodes::list(&mut client, prefix).await?;
            if format == Format::Json {
                output::json(&serde_json::to_value(&list).unwrap_or_default());
            } else {
                let headers = [
                    "NAME",
                    "STATE",
                    "VTEP_IP",
                    "VERSION",
                    "LEASE_TTL(s)",
                    "CONFIGURED",
                ];
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|n| {
                        vec![
                            n.name.clone(),
                            if n.up { "up" } else { "down" }.to_owned(),
                            n.vtep_ip.clone().unwrap_or_default(),
                            n.version.clone().unwrap_or_default(),
                            n.lease_ttl.map(|t| t.to_string()).unwrap_or_default(),
                            if n.configured { "yes" } else { "no" }.to_owned(),
                        ]
                    })
                    .collect();
                output::print_table(&headers.map(String::from), &rows);
            }
        }
    }
    Ok(())
}

pub fn status(format: Format, reply: &pb::CloudStatusReply) {
    if format == Format::Json {
        output::json(&serde_json::to_value(reply).unwrap_or_default());
        return;
    }
    if !reply.enabled {
        output::line(&format!(
            "configuration: file and control API (generation {})",
            reply.generation
        ));
        return;
    }
    let since = (reply.since_unix_ms > 0)
        .then(|| UNIX_EPOCH + Duration::from_millis(reply.since_unix_ms))
        .and_then(|t| t.elapsed().ok())
        .map(|d| format!(" for {}s", d.as_secs()))
        .unwrap_or_default();
    let lines = [
        format!(
            "configuration: etcd {} prefix {} as node {}",
            reply.endpoints, reply.prefix, reply.node
        ),
        format!(
            "etcd: {}{since}",
            if reply.connected {
                "connected"
            } else {
                "unreachable (the configuration in force stays)"
            }
        ),
        format!(
            "registered: {}",
            if reply.registered { "yes" } else { "no" }
        ),
        format!(
            "revision {} applied as generation {} (in force: {})",
            reply.revision, reply.agent_generation, reply.generation
        ),
        format!(
            "nodes down: {}",
            if reply.nodes_down.is_empty() {
                "none".to_owned()
            } else {
                reply.nodes_down.join(", ")
            }
        ),
    ];
    for line in lines {
        output::line(&line);
    }
    if !reply.last_error.is_empty() {
        output::line(&format!("last error: {}", reply.last_error));
    }
    for refused in &reply.refused {
        output::line(&format!("refused {}: {}", refused.key, refused.reason));
    }
}
