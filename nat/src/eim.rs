//! Endpoint-independent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1): an internal
//! endpoint keeps one external port whatever the remote, and that port serves no
//! other internal endpoint while a connection uses it. Only allocated in that mode.

use hashbrown::HashMap;

use crate::conntrack::{Conn, ConnKey};

/// An internal endpoint behind one external address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Endpoint {
    zone: u32,
    ip: u32,
    port: u16,
    protocol: u8,
    external_ip: u32,
}

impl Endpoint {
    fn of(original: &ConnKey, external_ip: u32) -> Self {
        Endpoint {
            zone: original.zone,
            ip: original.src,
            port: original.src_port,
            protocol: original.protocol,
            external_ip,
        }
    }
}

pub struct Endpoints {
    /// Internal endpoint -> (external port, connections using it).
    mappings: HashMap<Endpoint, (u16, u32)>,
    /// (external address, protocol, external port) in use.
    ports: HashMap<(u32, u8, u16), ()>,
}

impl Endpoints {
    pub fn with_capacity(max_connections: usize) -> Self {
        Endpoints {
            mappings: HashMap::with_capacity(max_connections),
            ports: HashMap::with_capacity(max_connections),
        }
    }

    /// The external port already mapped to this connection's internal endpoint.
    pub fn mapped(&self, original: &ConnKey, external_ip: u32) -> Option<u16> {
        self.mappings
            .get(&Endpoint::of(original, external_ip))
            .map(|&(port, _)| port)
    }

    pub fn is_free(&self, external_ip: u32, protocol: u8, port: u16) -> bool {
        !self.ports.contains_key(&(external_ip, protocol, port))
    }

    /// Records one more connection of the endpoint on `port`.
    pub fn acquire(&mut self, original: &ConnKey, external_ip: u32, port: u16) {
        let entry = self
            .mappings
            .entry(Endpoint::of(original, external_ip))
            .or_insert((port, 0));
        entry.1 += 1;
        self.ports
            .insert((external_ip, original.protocol, port), ());
    }

    /// Forgets a removed connection; the port is free again with its last one.
    pub fn release(&mut self, conn: &Conn) {
        let (external_ip, port) = conn.external();
        let endpoint = Endpoint::of(&conn.original, external_ip);
        if let Some(entry) = self.mappings.get_mut(&endpoint) {
            entry.1 -= 1;
            if entry.1 == 0 {
                self.mappings.remove(&endpoint);
                self.ports
                    .remove(&(external_ip, conn.original.protocol, port));
            }
        }
    }
}
