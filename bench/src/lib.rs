//! Benchmarks of the dataplane: criterion micro-benchmarks under `benches/`.
//! The throughput harness (`cargo run --release -p bench -- SCENARIO`) is issue 8's.
