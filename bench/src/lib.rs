//! Benchmarks of the dataplane: criterion micro-benchmarks under `benches/`, and the
//! throughput harness (`cargo run --release -p bench -- SCENARIO | pipeline | report |
//! memory`) whose parts live here: the runtime over ports on its workers' own threads.

pub mod clock;
pub mod harness;
pub mod instructions;
pub mod machine;
pub mod memory;
pub mod pipeline;
pub mod plot;
pub mod ports;
pub mod report;
pub mod scenario;
pub mod state;

/// Criterion's timing for the micro-benchmarks, set in code so that the whole
/// `cargo bench -p bench` stays within a few minutes on a small machine; the
/// command line (`-- --warm-up-time 3 --measurement-time 10`) still overrides it.
pub mod quick {
    use std::time::Duration;

    pub const WARM_UP: Duration = Duration::from_millis(500);
    pub const MEASUREMENT: Duration = Duration::from_secs(1);
    pub const SAMPLES: usize = 20;
}
