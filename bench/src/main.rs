//! The throughput harness: the whole runtime (workers, pipeline) over ports that live
//! on the workers' own threads, with pre-built traffic.
//!
//!     cargo run --release -p bench -- SCENARIO [--workers N] [--flows F] [--mix 64|imix] ...
//!     cargo run --release -p bench -- pipeline [--flows F] [--seconds S]   # one worker, cycles per packet
//!     cargo run --release -p bench -- report    # every figure, into bench/results/
//!     cargo run --release -p bench -- memory    # state memory at 1M connections

use std::path::PathBuf;
use std::time::Duration;

use bench::harness::{self, Measurement, RunSpec};
use bench::instructions::Driver;
use bench::pipeline::{self, PipelineConfig};
use bench::report::{self, ReportConfig};
use bench::scenario::{Mix, Scenario};
use bench::{clock, machine, state};
use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(about = "Throughput of the dataplane over ports on the workers' own threads")]
struct Args {
    /// A scenario (null, l2, routed, vxlan-encap, vxlan-decap, snat-established,
    /// snat-new, sfc-mpls, sfc-proxy, full), `pipeline`, `report`, `memory`, or
    /// `instructions` (`Pipeline::process` alone on one thread, `--scenario` over
    /// `--bursts` bursts, for an instruction counter such as callgrind).
    target: String,
    /// The scenario `instructions` runs.
    #[arg(long, value_enum, default_value = "l2")]
    scenario: Scenario,
    /// Bursts `instructions` counts, after `--warm-rounds` passes over every flow.
    #[arg(long, default_value_t = 2_000)]
    bursts: u64,
    /// Passes over every flow before `instructions` counts (connections opened,
    /// caches filled and grown).
    #[arg(long, default_value_t = 8)]
    warm_rounds: u64,
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Distinct flows in the offered traffic (default 10,000; for `pipeline`, the
    /// whole set: 1 and 65,536, and SNAT at 10k and 1M).
    #[arg(long)]
    flows: Option<u32>,
    /// Flow classifiers of the chain (sfc-mpls, sfc-proxy, full).
    #[arg(long, default_value_t = 10)]
    classifiers: u32,
    #[arg(long, value_enum, default_value = "64")]
    mix: Mix,
    /// Measured seconds per run, after the warm-up (default 3; 1 in `pipeline`, 1.5
    /// per run in `report`).
    #[arg(long)]
    seconds: Option<f64>,
    /// Skip the null run that gives the ratio.
    #[arg(long)]
    no_null: bool,
    /// Connections for `memory`.
    #[arg(long, default_value_t = 1_000_000)]
    connections: u32,
    /// Runs per point in `report` and `pipeline` (the best is kept; `pipeline` runs at
    /// least 3 in `report`).
    #[arg(long, default_value_t = 2)]
    repeats: usize,
    /// Where `report` writes.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn print(m: &Measurement, null: Option<&Measurement>) {
    let s = &m.spec;
    println!(
        "{}: {} {} worker(s), {} flows, {} classifiers: {:.3} Mpps ({:.3} Mpps per core, {:.0} ns and {:.0} cycles per packet per core, {:.0} cycles and {:.0} ns of worker CPU per packet, core share {:.2}, {:.2} Gbit/s){}, {} dropped{}",
        s.scenario.name(),
        s.mix.name(),
        s.workers,
        s.flows,
        s.classifiers,
        m.packets_per_second() / 1e6,
        m.per_core() / 1e6,
        m.ns_per_packet(),
        m.cycles_per_packet(),
        m.cpu_cycles_per_packet(),
        m.cpu_ns_per_packet(),
        m.core_share(),
        m.gbits_per_second(),
        null.map(|n| format!(", {:.2} of null", m.per_core() / n.per_core()))
            .unwrap_or_default(),
        m.drops,
        if m.drops > 0 { format!(" ({})", m.drop_reasons) } else { String::new() }
    );
}

fn main() {
    let args = Args::parse();
    match args.target.as_str() {
        "report" => {
            let out = args
                .out
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results"));
            let config = ReportConfig {
                seconds: args.seconds.unwrap_or(1.5),
                repeats: args.repeats,
            };
            if let Err(error) = report::run(config, &out) {
                eprintln!("report: {error}");
                std::process::exit(1);
            }
        }
        "pipeline" => {
            let tsc_hz = clock::calibrate(Duration::from_millis(250));
            eprintln!("{}; TSC {:.3} GHz", machine::describe(), tsc_hz / 1e9);
            let config = PipelineConfig {
                seconds: args.seconds.unwrap_or(1.0),
                repeats: args.repeats,
                flows: args.flows,
            };
            let rows = pipeline::measure(config, tsc_hz, |m| {
                eprintln!(
                    "{} {} flows: {:.0} cycles/pkt",
                    m.spec.scenario.name(),
                    m.spec.flows,
                    m.cpu_cycles_per_packet()
                );
            });
            print!("{}", pipeline::table(&rows));
        }
        "instructions" => {
            let flows = args.flows.unwrap_or(65_536);
            let mut driver = Driver::new(args.scenario, flows, args.classifiers);
            while driver.offered < args.warm_rounds * u64::from(flows) {
                driver.burst();
            }
            let (warm, drops) = (driver.offered, driver.drops());
            driver.measuring = true;
            // The main thread's CPU time (not the wall clock: the machine may be shared).
            let cpu = machine::threads_cpu_ns("bench");
            for _ in 0..args.bursts {
                driver.burst();
            }
            let cpu_ns = machine::threads_cpu_ns("bench").saturating_sub(cpu);
            let counted = driver.offered - warm;
            println!(
                "{} {} flows: {} packets counted, {} dropped, {:.0} ns of CPU per packet (generator and freeing included)",
                args.scenario.name(),
                flows,
                counted,
                driver.drops() - drops,
                cpu_ns as f64 / counted.max(1) as f64
            );
        }
        "memory" => {
            let m = state::measure(args.connections, args.classifiers.max(10_000));
            println!(
                "{} classifiers, {} connections ({} opened): resident {} MiB after tables, {} MiB after pipeline, {} MiB filled, peak {} MiB; {:.0} bytes of state per connection ({:.0} grown while opening)",
                m.classifiers,
                m.connections,
                m.opened,
                m.tables >> 20,
                m.pipeline >> 20,
                m.filled >> 20,
                m.peak >> 20,
                m.state_per_connection(),
                m.growth_per_connection()
            );
        }
        name => {
            let Ok(scenario) = Scenario::from_str(name, true) else {
                eprintln!("unknown scenario {name:?}; see --help");
                std::process::exit(2);
            };
            let tsc_hz = clock::calibrate(Duration::from_millis(250));
            eprintln!("{}; TSC {:.3} GHz", machine::describe(), tsc_hz / 1e9);
            let spec = RunSpec {
                scenario,
                mix: args.mix,
                flows: args.flows.unwrap_or(10_000),
                classifiers: args.classifiers,
                workers: args.workers.max(1),
                seconds: args.seconds.unwrap_or(3.0),
            };
            let null = (!args.no_null && scenario != Scenario::Null).then(|| {
                harness::run(
                    &RunSpec {
                        scenario: Scenario::Null,
                        ..spec
                    },
                    tsc_hz,
                )
            });
            if let Some(null) = &null {
                print(null, None);
            }
            print(&harness::run(&spec, tsc_hz), null.as_ref());
        }
    }
}
