//! `--workers` and `--cores` checked before any thread starts: every core must be one
//! this process may run on, each at most once, and there must be a core per worker
//! (two pinned pollers on one core take turns, each stalling the other's queues).
//! Without `--cores` the workers are not pinned and the kernel places them.

/// The cores this process may run on (its affinity mask).
pub fn allowed_cores() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data and all-zero is the empty set;
    // sched_getaffinity(0, ..) writes at most size_of::<cpu_set_t>() bytes into it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        set
    };
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: every index is below CPU_SETSIZE; CPU_ISSET only reads the set.
        .filter(|&core| unsafe { libc::CPU_ISSET(core, &set) })
        .collect()
}

/// Refuses a worker and core assignment that cannot run as asked, naming the option.
pub fn check(workers: usize, cores: &[usize], allowed: &[usize]) -> Result<(), String> {
    if workers == 0 {
        return Err("--workers 0: at least one worker is needed".into());
    }
    if cores.is_empty() {
        return Ok(());
    }
    for (i, core) in cores.iter().enumerate() {
        if !allowed.contains(core) {
            return Err(format!(
                "--cores: core {core} is not available to this process (available: {})",
                list(allowed)
            ));
        }
        if cores[..i].contains(core) {
            return Err(format!("--cores: core {core} is given twice"));
        }
    }
    if cores.len() < workers {
        return Err(format!(
            "--workers {workers} needs {workers} cores in --cores, got {} ({}): give a core \
             per worker, or leave --cores out to let the kernel place the workers",
            cores.len(),
            list(cores)
        ));
    }
    Ok(())
}

fn list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_outside_the_process_mask_is_refused_by_name() {
        let error = check(1, &[99], &[0, 1]).unwrap_err();
        assert!(error.starts_with("--cores: core 99 "), "{error}");
        assert!(error.contains("available: 0,1"), "{error}");
    }

    #[test]
    fn fewer_cores_than_workers_is_refused() {
        let error = check(3, &[0], &[0, 1]).unwrap_err();
        assert!(error.starts_with("--workers 3 needs 3 cores"), "{error}");
    }

    #[test]
    fn duplicates_and_zero_workers_are_refused() {
        assert!(check(2, &[1, 1], &[0, 1]).unwrap_err().contains("twice"));
        assert!(check(0, &[], &[0]).unwrap_err().starts_with("--workers 0"));
    }

    #[test]
    fn a_core_per_worker_or_no_pinning_is_accepted() {
        assert_eq!(check(2, &[1, 0], &[0, 1]), Ok(()));
        assert_eq!(check(1, &[1, 0], &[0, 1]), Ok(()));
        assert_eq!(check(8, &[], &[0, 1]), Ok(()));
    }

    #[test]
    fn this_process_may_run_somewhere() {
        let allowed = allowed_cores();
        assert!(!allowed.is_empty());
    }
}
