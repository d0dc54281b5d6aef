//! Resident memory of this process, from /proc/self/status (Linux; 0 elsewhere).

/// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Resident set size now.
pub fn resident() -> u64 {
    status_bytes("VmRSS")
}

/// Peak resident set size of the process so far.
pub fn peak_resident() -> u64 {
    status_bytes("VmHWM")
}
