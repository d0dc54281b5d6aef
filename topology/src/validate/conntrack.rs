//! `[conntrack]`: table size, mapping behaviour, timeouts.

use super::{file, Obj, Result};
use crate::model::{Conntrack, DEFAULT_MAX_CONNECTIONS};

/// Most connections per worker the file may ask for (16 Mi: about 2 GB of tables).
const MAX_CONNECTIONS: i64 = 1 << 24;
/// Timeouts in seconds: at least one, at most about 68 years (u32 nanoseconds fit in
/// u64 arithmetic either way).
const MAX_TIMEOUT: i64 = u32::MAX as i64;

pub(super) fn conntrack(c: &file::Conntrack) -> Result<Conntrack> {
    let obj = || Obj::new("conntrack", "conntrack");
    let mut out = Conntrack {
        max_connections: match c.max_connections {
            Some(n) => obj().int("max_connections", n, 1..=MAX_CONNECTIONS)?,
            None => DEFAULT_MAX_CONNECTIONS,
        },
        ..Conntrack::default()
    };
    if let Some(mapping) = &c.mapping {
        out.mapping = obj().choice(
            "mapping",
            mapping,
            &[
                (
                    "address-port-dependent",
                    nat::Mapping::AddressAndPortDependent,
                ),
                ("endpoint-independent", nat::Mapping::EndpointIndependent),
            ],
        )?;
    }
    let t = &mut out.timeouts;
    let fields: [(&'static str, Option<i64>, &mut u32); 11] = [
        (
            "tcp_timeout_syn_sent",
            c.tcp_timeout_syn_sent,
            &mut t.tcp_syn_sent,
        ),
        (
            "tcp_timeout_syn_recv",
            c.tcp_timeout_syn_recv,
            &mut t.tcp_syn_recv,
        ),
        (
            "tcp_timeout_established",
            c.tcp_timeout_established,
            &mut t.tcp_established,
        ),
        (
            "tcp_timeout_fin_wait",
            c.tcp_timeout_fin_wait,
            &mut t.tcp_fin_wait,
        ),
        (
            "tcp_timeout_close_wait",
            c.tcp_timeout_close_wait,
            &mut t.tcp_close_wait,
        ),
        (
            "tcp_timeout_last_ack",
            c.tcp_timeout_last_ack,
            &mut t.tcp_last_ack,
        ),
        (
            "tcp_timeout_time_wait",
            c.tcp_timeout_time_wait,
            &mut t.tcp_time_wait,
        ),
        ("tcp_timeout_close", c.tcp_timeout_close, &mut t.tcp_close),
        ("udp_timeout", c.udp_timeout, &mut t.udp_unreplied),
        (
            "udp_timeout_stream",
            c.udp_timeout_stream,
            &mut t.udp_replied,
        ),
        ("icmp_timeout", c.icmp_timeout, &mut t.icmp),
    ];
    for (field, value, slot) in fields {
        if let Some(seconds) = value {
            *slot = obj().int(field, seconds, 1..=MAX_TIMEOUT)?;
        }
    }
    Ok(out)
}
