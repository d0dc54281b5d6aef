//! What `dpctl --etcd` does: write a cloud file in one transaction, list the nodes
//! and their health.

use std::collections::BTreeMap;

use etcd_client::{Client, GetOptions, Txn, TxnOp};
use serde::Serialize;

use crate::agent::read_all;
use crate::layout::{self, Key};
use crate::objects::Object;
use crate::view::Objects;

/// What one `apply` changed.
#[derive(Debug, Default, Serialize)]
pub struct Applied {
    pub written: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// The revision of the transaction (or the one read, when nothing changed).
    pub revision: i64,
}

/// Makes the configuration under `prefix` what `objects` say, in one transaction:
/// new and changed objects written, objects absent from `objects` deleted, the rest
/// (and the nodes' registrations) untouched. etcd bounds the operations of one
/// transaction (`--max-txn-ops`, 128 by default): a larger change is refused whole.
pub async fn apply(
    client: &mut Client,
    prefix: &str,
    objects: &Objects,
) -> Result<Applied, String> {
    let (current, revision) = read_all(client, prefix).await?;
    let mut applied = Applied {
        revision,
        ..Default::default()
    };
    let mut operations = Vec::new();
    for (key, object) in objects {
        let text = key.text(prefix);
        let same = current
            .get(&text)
            .and_then(|value| Object::decode(key, value).ok())
            .is_some_and(|old| &old == object);
        if same {
            applied.unchanged += 1;
        } else {
            operations.push(TxnOp::put(text, object.encode(), None));
            applied.written += 1;
        }
    }
    for text in current.keys() {
        let Some(key) = Key::parse(prefix, text) else {
            continue;
        };
        if !key.is_registration() && !objects.contains_key(&key) {
            operations.push(TxnOp::delete(text.as_str(), None));
            applied.deleted += 1;
        }
    }
    if operations.is_empty() {
        return Ok(applied);
    }
    let count = operations.len();
    let response = client
        .txn(Txn::new().and_then(operations))
        .await
        .map_err(|error| format!("writing {count} keys in one transaction: {error}"))?;
    applied.revision = response.header().map_or(revision, |h| h.revision());
    Ok(applied)
}

/// A node as the cloud sees it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct NodeHealth {
    pub name: String,
    /// From its registration, else its settings.
    pub vtep_ip: Option<String>,
    /// Registered (its lease alive).
    pub up: bool,
    pub version: Option<String>,
    /// Seconds left on its lease.
    pub lease_ttl: Option<i64>,
    /// Configured (it has settings in the cloud file).
    pub configured: bool,
}

/// Every node with settings or a registration, by name.
pub async fn list(client: &mut Client, prefix: &str) -> Result<Vec<NodeHealth>, String> {
    let (raw, _) = read_all(client, prefix).await?;
    let mut nodes: BTreeMap<String, NodeHealth> = BTreeMap::new();
    for (text, value) in &raw {
        let Some(key) = Key::parse(prefix, text) else {
            continue;
        };
        let Ok(object) = Object::decode(&key, value) else {
            continue;
        };
        match object {
            Object::Node(settings) => {
                let node = nodes
                    .entry(settings.name.clone())
                    .or_insert_with(|| blank(&settings.name));
                node.configured = true;
                if node.vtep_ip.is_none() {
                    node.vtep_ip = settings.vtep_ip;
                }
            }
            Object::Registration(registration) => {
                let node = nodes
                    .entry(registration.name.clone())
                    .or_insert_with(|| blank(&registration.name));
                node.up = true;
                node.version = Some(registration.version);
                if registration.vtep_ip.is_some() {
                    node.vtep_ip = registration.vtep_ip;
                }
            }
            _ => {}
        }
    }
    let chassis = format!("{}/chassis/", layout::normalize(prefix));
    let registrations = client
        .get(chassis.as_str(), Some(GetOptions::new().with_prefix()))
        .await
        .map_err(|error| format!("reading {chassis}: {error}"))?;
    for kv in registrations.kvs() {
        let text = String::from_utf8_lossy(kv.key()).into_owned();
        let Some(Key::Registration { node }) = Key::parse(prefix, &text) else {
            continue;
        };
        if kv.lease() == 0 {
            continue;
        }
        if let Ok(ttl) = client.lease_time_to_live(kv.lease(), None).await {
            if let Some(health) = nodes.get_mut(&node) {
                health.lease_ttl = Some(ttl.ttl());
            }
        }
    }
    Ok(nodes.into_values().collect())
}

fn blank(name: &str) -> NodeHealth {
    NodeHealth {
        name: name.to_owned(),
        vtep_ip: None,
        up: false,
        version: None,
        lease_ttl: None,
        configured: false,
    }
}
