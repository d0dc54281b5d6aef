//! `[dpdk]` and the dpdk ports: EAL settings, pool and ring sizes, devargs, queues.

use super::{file, Obj, Result};
use crate::model::{Dpdk, Driver};

/// Queues a dpdk port may ask for each way (DPDK's own limit is 1024).
pub(super) const MAX_QUEUES: i64 = 1024;

pub(super) fn dpdk(d: Option<&file::Dpdk>) -> Result<Dpdk> {
    let defaults = Dpdk::default();
    let Some(d) = d else {
        return Ok(defaults);
    };
    let obj = || Obj::new("dpdk", "dpdk");
    let lcores = match &d.lcores {
        Some(lcores) if lcores.is_empty() || !lcores.chars().all(is_lcores_char) => {
            let message = format!(
                "\"{lcores}\" is not an EAL lcore list (digits, ',', '-', '@', '(' and ')')"
            );
            return Err(obj().err("lcores", message));
        }
        Some(lcores) => lcores.clone(),
        None => defaults.lcores,
    };
    let memory_mb = d
        .memory_mb
        .map(|mb| obj().int("memory_mb", mb, 64..=1 << 22))
        .transpose()?;
    let no_huge = d.no_huge.unwrap_or(false);
    if no_huge && memory_mb.is_none() {
        return Err(obj().err(
            "memory_mb",
            "required with no_huge (the EAL then reserves it up front)",
        ));
    }
    if let Some(prefix) = &d.file_prefix {
        if prefix.is_empty() || prefix.contains('/') {
            return Err(obj().err("file_prefix", "must be a non-empty name without '/'"));
        }
    }
    let mbufs = match d.mbufs {
        Some(n) => obj().int("mbufs", n, 512..=1 << 24)?,
        None => defaults.mbufs,
    };
    let mbuf_cache: u32 = match d.mbuf_cache {
        Some(n) => obj().int("mbuf_cache", n, 0..=512)?,
        None => defaults.mbuf_cache,
    };
    // DPDK refuses a cache larger than the pool over 1.5.
    if u64::from(mbuf_cache) * 3 > u64::from(mbufs) * 2 {
        let message = format!("{mbuf_cache} is more than mbufs ({mbufs}) / 1.5");
        return Err(obj().err("mbuf_cache", message));
    }
    let descriptors = |field, value: Option<i64>, default| match value {
        Some(n) => obj().int(field, n, 32..=32768),
        None => Ok(default),
    };
    if let Some(arg) = d.args.iter().find(|arg| arg.is_empty()) {
        return Err(obj().err("args", format!("\"{arg}\": an empty argument")));
    }
    Ok(Dpdk {
        lcores,
        memory_mb,
        no_huge,
        file_prefix: d.file_prefix.clone(),
        mbufs,
        mbuf_cache,
        rx_descriptors: descriptors("rx_descriptors", d.rx_descriptors, defaults.rx_descriptors)?,
        tx_descriptors: descriptors("tx_descriptors", d.tx_descriptors, defaults.tx_descriptors)?,
        args: d.args.clone(),
    })
}

fn is_lcores_char(c: char) -> bool {
    c.is_ascii_digit() || ",-@()".contains(c)
}

/// A dpdk port: its device (`devargs`, or `pci` for a PCI address) and queues
/// (`queues` pairs, unless `rx_queues` or `tx_queues` sets one side apart).
pub(super) fn port(p: &file::Port, obj: &Obj, queues: u16) -> Result<Driver> {
    let devargs = match (&p.devargs, &p.pci) {
        (Some(_), Some(_)) => {
            return Err(obj.err("pci", "give devargs or pci, not both"));
        }
        (Some(devargs), None) => devargs_ok(obj, "devargs", devargs)?,
        (None, Some(pci)) => {
            if pci.contains(',') {
                return Err(obj.err("pci", "a PCI address; device arguments go in devargs"));
            }
            devargs_ok(obj, "pci", pci)?
        }
        (None, None) => return Err(obj.err("devargs", "required by driver dpdk")),
    };
    let queues = |field, value: Option<i64>| match value {
        Some(n) => obj.int(field, n, 1..=MAX_QUEUES),
        None => Ok(queues),
    };
    Ok(Driver::Dpdk {
        devargs,
        rx_queues: queues("rx_queues", p.rx_queues)?,
        tx_queues: queues("tx_queues", p.tx_queues)?,
    })
}

/// The device name leads the devargs, before any argument.
fn devargs_ok(obj: &Obj, field: &'static str, devargs: &str) -> Result<String> {
    let device = devargs.split(',').next().unwrap_or_default();
    if device.trim().is_empty() || devargs.chars().any(char::is_whitespace) {
        let message = format!("\"{devargs}\" is not a device (a PCI address or a vdev name, then its arguments after commas, no spaces)");
        return Err(obj.err(field, message));
    }
    Ok(devargs.to_owned())
}
