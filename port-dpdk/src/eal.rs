//! The EAL: started once per process, with arguments built from the configuration.
//! The workers are not EAL threads; each registers on its first burst.

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::io;
use std::sync::OnceLock;

use dpdk_sys as sys;

/// How the EAL starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EalConfig {
    /// `--lcores`.
    pub lcores: String,
    /// `-m`: megabytes reserved up front.
    pub memory_mb: Option<u32>,
    /// `--no-huge`.
    pub no_huge: bool,
    /// `--file-prefix`; none: no shared files (`--in-memory`, or `--no-shconf` without
    /// hugepages, which the EAL does not combine) and a prefix of this process's own,
    /// so that several dataplanes (tests in parallel) never share anything.
    pub file_prefix: Option<String>,
    /// PCI devices to probe at start (`-a`); none: the PCI bus is not scanned.
    pub pci_devices: Vec<String>,
    /// Further arguments, last.
    pub args: Vec<String>,
}

impl EalConfig {
    /// The argument vector `rte_eal_init` receives, program name first.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec!["dataplane".to_owned(), "--lcores".to_owned()];
        argv.push(self.lcores.clone());
        match &self.file_prefix {
            Some(prefix) => argv.extend(["--file-prefix".to_owned(), prefix.clone()]),
            None => argv.extend([
                if self.no_huge {
                    "--no-shconf".to_owned()
                } else {
                    "--in-memory".to_owned()
                },
                "--file-prefix".to_owned(),
                format!("dataplane-{}", std::process::id()),
            ]),
        }
        if let Some(mb) = self.memory_mb {
            argv.extend(["-m".to_owned(), mb.to_string()]);
        }
        if self.no_huge {
            argv.push("--no-huge".to_owned());
        }
        if self.pci_devices.is_empty() {
            argv.push("--no-pci".to_owned());
        }
        for device in &self.pci_devices {
            argv.extend(["-a".to_owned(), device.clone()]);
        }
        argv.extend(self.args.iter().cloned());
        argv
    }
}

static STARTED: OnceLock<Result<(), String>> = OnceLock::new();

/// Starts the EAL with `config` unless it already ran in this process (then the
/// first outcome stands: the EAL cannot start twice).
pub fn init(config: &EalConfig) -> io::Result<()> {
    STARTED
        .get_or_init(|| start(config))
        .clone()
        .map_err(io::Error::other)
}

/// Whether the EAL runs in this process.
pub fn started() -> bool {
    matches!(STARTED.get(), Some(Ok(())))
}

fn start(config: &EalConfig) -> Result<(), String> {
    let argv = config.argv();
    let strings: Vec<CString> = argv
        .iter()
        .map(|arg| CString::new(arg.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|_| "an EAL argument contains a NUL byte".to_owned())?;
    // The EAL may keep pointers into its arguments for the life of the process.
    let mut pointers: Vec<*mut libc::c_char> =
        strings.into_iter().map(|arg| arg.into_raw()).collect();
    let affinity = Affinity::current();
    // SAFETY: argc/argv describe live NUL-terminated strings that are never freed;
    // `STARTED` makes this the process's only call.
    let rc = unsafe { sys::rte_eal_init(pointers.len() as i32, pointers.as_mut_ptr()) };
    // The EAL pins its calling thread to the main lcore's cores; the threads this one
    // starts later (the workers) would inherit that, so the pinning is undone.
    affinity.restore();
    std::mem::forget(pointers);
    if rc < 0 {
        return Err(format!(
            "DPDK's EAL did not start ({}) with arguments {}",
            error_text(errno()),
            argv[1..].join(" ")
        ));
    }
    Ok(())
}

/// `rte_errno` of the calling thread.
pub(crate) fn errno() -> i32 {
    // SAFETY: reads a thread-local integer.
    unsafe { sys::dp_errno() }
}

/// DPDK's text for an error number (its own codes and the C library's).
pub(crate) fn error_text(code: i32) -> String {
    // SAFETY: `rte_strerror` returns a NUL-terminated string it keeps (per thread).
    unsafe { CStr::from_ptr(sys::rte_strerror(code.abs())) }
        .to_string_lossy()
        .into_owned()
}

/// The CPU set of the calling thread, to put back after the EAL changed it.
struct Affinity(Option<libc::cpu_set_t>);

impl Affinity {
    fn current() -> Self {
        // SAFETY: a zeroed cpu_set_t is an empty set; the call fills it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            let ok = libc::sched_getaffinity(0, size, &mut set) == 0;
            Affinity(ok.then_some(set))
        }
    }

    fn restore(&self) {
        if let Some(set) = &self.0 {
            // SAFETY: a set read from this thread; failing leaves the EAL's pinning.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
            }
        }
    }
}

/// A thread's registration with the EAL, undone when the thread ends.
struct Registration(Cell<State>);

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unknown,
    Registered,
    /// An EAL thread already, or no lcore id was left: pools work without a cache.
    Unregistered,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.0.get() == State::Registered {
            // SAFETY: this thread registered itself and ends now.
            unsafe { sys::rte_thread_unregister() };
        }
    }
}

thread_local! {
    static REGISTRATION: Registration = const { Registration(Cell::new(State::Unknown)) };
}

/// Gives the calling thread an lcore id (once; a thread-local check afterwards), so
/// mempool operations use the per-lcore cache instead of the shared ring.
#[inline]
pub(crate) fn register_thread() {
    REGISTRATION.with(|registration| {
        if registration.0.get() != State::Unknown {
            return;
        }
        // SAFETY: the EAL is started (a port exists only then); both calls act on
        // the calling thread.
        let state = unsafe {
            if sys::dp_lcore_id() != sys::LCORE_ID_ANY || sys::rte_thread_register() != 0 {
                State::Unregistered
            } else {
                State::Registered
            }
        };
        registration.0.set(state);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_in_memory_without_pci_by_default() {
        let config = EalConfig {
            lcores: "0".into(),
            memory_mb: Some(512),
            no_huge: true,
            args: vec!["--log-level=6".into()],
            ..EalConfig::default()
        };
        let argv = config.argv();
        let expected_prefix = format!("dataplane-{}", std::process::id());
        assert_eq!(
            argv,
            [
                "dataplane",
                "--lcores",
                "0",
                "--no-shconf",
                "--file-prefix",
                &expected_prefix,
                "-m",
                "512",
                "--no-huge",
                "--no-pci",
                "--log-level=6"
            ]
        );
    }

    #[test]
    fn arguments_allow_the_pci_devices_and_keep_a_given_prefix() {
        let config = EalConfig {
            lcores: "0@(0-1)".into(),
            file_prefix: Some("dp1".into()),
            pci_devices: vec!["0000:3b:00.0".into(), "0000:3b:00.1".into()],
            ..EalConfig::default()
        };
        assert_eq!(
            config.argv(),
            [
                "dataplane",
                "--lcores",
                "0@(0-1)",
                "--file-prefix",
                "dp1",
                "-a",
                "0000:3b:00.0",
                "-a",
                "0000:3b:00.1"
            ]
        );
    }
}
