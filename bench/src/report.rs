//! `bench report`: the whole set of measurements, written under bench/results/ as a
//! markdown file (tables), a CSV (every run) and PNG charts (scaling curves).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{self, Measurement, RunSpec};
use crate::pipeline::{self, PipelineConfig};
use crate::plot::{self, Axes, Series};
use crate::scenario::{Mix, Scenario};
use crate::state::{self, StateMemory};
use crate::{clock, machine};

/// Flow counts of the flow scaling curve.
pub const FLOWS: [u32; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// Classifier counts of the classifier scaling curve.
pub const CLASSIFIERS: [u32; 4] = [10, 100, 1_000, 10_000];
/// The base point every table shares.
const BASE_FLOWS: u32 = 10_000;
const BASE_CLASSIFIERS: u32 = 10;

/// How long each point is measured (after its warm-up).
pub struct ReportConfig {
    pub seconds: f64,
    /// Runs per point; the best is kept (the others were slowed by the neighbours).
    pub repeats: usize,
}

/// A point of a scaling curve: x, Mpps per core, cycles per packet.
type Point = (f64, f64, f64);
/// A scenario's scaling curve.
type Curve = (Scenario, Vec<Point>);

/// A chart to draw: file, data, title, x axis, whether it shows cycles (else Mpps).
struct Chart<'a> {
    file: &'a str,
    data: &'a [Curve],
    title: &'a str,
    x: &'a str,
    cycles: bool,
}

/// The runs of a report, measured once each.
struct Runs {
    config: ReportConfig,
    tsc_hz: f64,
    done: Vec<Measurement>,
    started: Instant,
}

impl Runs {
    fn get(
        &mut self,
        scenario: Scenario,
        mix: Mix,
        workers: usize,
        flows: u32,
        classifiers: u32,
    ) -> Measurement {
        let same = |m: &&Measurement| {
            let s = &m.spec;
            s.scenario == scenario
                && s.mix == mix
                && s.workers == workers
                && s.flows == flows
                && s.classifiers == classifiers
        };
        if let Some(found) = self.done.iter().find(same) {
            return found.clone();
        }
        let spec = RunSpec {
            scenario,
            mix,
            flows,
            classifiers,
            workers,
            seconds: self.config.seconds,
        };
        let mut tries: Vec<Measurement> = (0..self.config.repeats.max(1))
            .map(|_| harness::run(&spec, self.tsc_hz))
            .collect();
        let repeats: Vec<f64> = tries.iter().map(Measurement::per_core).collect();
        tries.sort_by(|a, b| b.per_core().total_cmp(&a.per_core()));
        let mut m = tries.swap_remove(0);
        m.repeats = repeats;
        eprintln!(
            "[{:>5.0} s] {:<16} {:>4} {} worker(s) {:>7} flows {:>5} classifiers: {:>6.3} Mpps/core {:>6.0} ns/pkt {:>6.0} cycles/pkt {:>6.0} CPU ns/pkt, core share {:.2}, {} drops",
            self.started.elapsed().as_secs_f64(),
            scenario.name(),
            mix.name(),
            workers,
            flows,
            classifiers,
            m.per_core() / 1e6,
            m.ns_per_packet(),
            m.cycles_per_packet(),
            m.cpu_ns_per_packet(),
            m.core_share(),
            m.drops
        );
        self.done.push(m.clone());
        m
    }

    /// The null run matching `m`'s mix, workers and flows.
    fn null_for(&mut self, m: &Measurement) -> Measurement {
        let s = m.spec;
        self.get(Scenario::Null, s.mix, s.workers, s.flows, BASE_CLASSIFIERS)
    }
}

/// Measures everything and writes the results into `out`.
pub fn run(config: ReportConfig, out: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let started = Instant::now();
    // First, while the process is fresh, so its peak is the state's.
    let memory = state::measure(1_000_000, 10_000);
    eprintln!(
        "state memory: {} MiB peak, {:.0} bytes/connection",
        memory.peak >> 20,
        memory.state_per_connection()
    );
    let tsc_hz = clock::calibrate(Duration::from_millis(250));
    let load_before = machine::load_average();
    // Before anything is written: the charts are files of the tree.
    let (date, commit) = (machine::date(), machine::commit());
    let mut runs = Runs {
        config,
        tsc_hz,
        done: Vec::new(),
        started,
    };
    let workers_n = machine::cores().max(2);

    // The pipeline alone, one worker.
    let pipeline_config = PipelineConfig {
        seconds: runs.config.seconds,
        repeats: runs.config.repeats.max(3),
        flows: None,
    };
    let pipeline_rows = pipeline::measure(pipeline_config, tsc_hz, |m| {
        eprintln!(
            "[{:>5.0} s] pipeline {:<16} {:>8} flows: {:>5.0} cycles/pkt ({:.0} wall), core share {:.2}",
            started.elapsed().as_secs_f64(),
            m.spec.scenario.name(),
            m.spec.flows,
            m.cpu_cycles_per_packet(),
            m.cycles_per_packet(),
            m.core_share()
        );
    });

    // The main table: every scenario, both mixes, 1 and N workers.
    let mut main = Vec::new();
    for workers in [1, workers_n] {
        for mix in [Mix::Small, Mix::Imix] {
            for scenario in Scenario::ALL {
                main.push(runs.get(scenario, mix, workers, BASE_FLOWS, BASE_CLASSIFIERS));
            }
        }
    }
    let mut by_flows = Vec::new();
    for scenario in Scenario::ALL {
        for flows in FLOWS {
            by_flows.push(runs.get(scenario, Mix::Small, 1, flows, BASE_CLASSIFIERS));
        }
    }
    let mut by_classifiers = Vec::new();
    for scenario in Scenario::ALL.into_iter().filter(|s| s.classifies()) {
        for classifiers in CLASSIFIERS {
            by_classifiers.push(runs.get(scenario, Mix::Small, 1, BASE_FLOWS, classifiers));
        }
    }
    // `null` again at the end: how far the machine drifted meanwhile.
    let null_first = runs.get(Scenario::Null, Mix::Small, 1, BASE_FLOWS, BASE_CLASSIFIERS);
    let null_last = harness::run(&null_first.spec, tsc_hz);
    let repeats = runs.config.repeats.max(1);
    let load_after = machine::load_average();

    let font = plot::load_font();
    let text = font.is_some();
    let mut charts = Vec::new();
    let flows_series = series(&by_flows, |s| f64::from(s.flows));
    let class_series = series(&by_classifiers, |s| f64::from(s.classifiers));
    let chart = |file, data, title, x, cycles| Chart {
        file,
        data,
        title,
        x,
        cycles,
    };
    let chart_specs = [
        chart(
            "flows-mpps.png",
            &flows_series,
            "Throughput per core vs flows (64 B, 1 worker)",
            "flows",
            false,
        ),
        chart(
            "flows-cycles.png",
            &flows_series,
            "Cycles per packet vs flows (64 B, 1 worker)",
            "flows",
            true,
        ),
        chart(
            "classifiers-mpps.png",
            &class_series,
            "Throughput per core vs flow classifiers (64 B, 1 worker, 10k flows)",
            "flow classifiers",
            false,
        ),
        chart(
            "classifiers-cycles.png",
            &class_series,
            "Cycles per packet vs flow classifiers (64 B, 1 worker, 10k flows)",
            "flow classifiers",
            true,
        ),
    ];
    for Chart {
        file,
        data,
        title,
        x,
        cycles,
    } in chart_specs
    {
        let lines: Vec<Series> = data
            .iter()
            .map(|(scenario, points)| Series {
                name: scenario.name().to_owned(),
                points: points
                    .iter()
                    .map(|&(x, mpps, cyc)| (x, if cycles { cyc } else { mpps }))
                    .collect(),
            })
            .collect();
        let axes = Axes {
            title,
            x,
            y: if cycles {
                "TSC cycles per packet"
            } else {
                "Mpps per worker core"
            },
        };
        match plot::log_x_chart(&out.join(file), &axes, &lines, text) {
            Ok(()) => charts.push((file, title)),
            Err(error) => eprintln!("chart not drawn: {error}"),
        }
    }

    let mut md = String::new();
    let _ = writeln!(md, "# Throughput benchmark results\n");
    let _ = writeln!(
        md,
        "Measured on {} at commit {}. \
         Regenerate with `cargo run --release -p bench -- report` (took {:.0} s here). \
         Each point is the best of {repeats} runs of {:.1} s, each measured after a warm-up that offers every flow at least once; \
         the workers busy-poll, and every port lives on the workers' own threads (a generator on the input port, \
         a loopback as the service function, sinks elsewhere), so no other thread touches a packet. \
         `results.csv` has every point with the figure of each run.\n",
        date,
        commit,
        started.elapsed().as_secs_f64(),
        runs.config.seconds
    );
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "- {}", machine::describe());
    let _ = writeln!(
        md,
        "- TSC: {:.3} GHz (calibrated against the monotonic clock)",
        tsc_hz / 1e9
    );
    let _ = writeln!(
        md,
        "- load average (1, 5, 15 min) before: {load_before}; after: {load_after}"
    );
    let _ = writeln!(
        md,
        "- noise: `null` (64 B, 1 worker) measured {:.2} Mpps ({:.0} CPU cycles per packet) at the start and {:.2} Mpps ({:.0}) at the end \
         ({:+.0} % in Mpps). This is a shared VM where other builds were running: read differences in Mpps below about 20 % as noise, \
         and prefer the CPU figures (`cycles/pkt` of the pipeline table, `CPU ns/pkt`), which leave out the time the workers waited for a core.",
        null_first.per_core() / 1e6,
        null_first.cpu_cycles_per_packet(),
        null_last.per_core() / 1e6,
        null_last.cpu_cycles_per_packet(),
        100.0 * (null_last.per_core() / null_first.per_core() - 1.0)
    );
    let _ = writeln!(
        md,
        "- hardware counters: not available in this VM (`perf stat -e instructions true` reports `<not supported>`); `cycles/pkt` in the harness tables is TSC ticks of the measured interval times the workers, per delivered packet; in the pipeline table, the worker's CPU time in TSC cycles per delivered packet."
    );
    let _ = writeln!(
        md,
        "- plots: {}\n",
        match &font {
            Some(path) => format!("text drawn with {path}"),
            None => "no TrueType font found (set BENCH_FONT): charts drawn without text; line colours follow the scenario order of the tables".into(),
        }
    );

    let _ = writeln!(md, "## The pipeline alone (64 B, 1 worker)\n");
    let _ = writeln!(md, "{}\n", pipeline::EXPLANATION);
    md.push_str(&pipeline::table(&pipeline_rows));
    let _ = writeln!(md);

    let _ = writeln!(
        md,
        "## Every scenario ({} flows, {} classifiers)\n",
        BASE_FLOWS, BASE_CLASSIFIERS
    );
    let _ = writeln!(
        md,
        "Mpps per core = delivered packets per second / workers; ns and cycles are one worker core's per packet \
         (wall clock and TSC); `CPU ns` is the workers' CPU time per packet (from /proc schedstat: without the time \
         they waited for a core, with their idle polling) and `core share` how much of their cores they got; \
         `vs null` is the ratio to `null` (no stage) with the same mix and workers (higher is closer to it).\n"
    );
    let _ = writeln!(md, "| scenario | mix | workers | Mpps | Mpps/core | ns/pkt | cycles/pkt | CPU ns/pkt | core share | Gbit/s | vs null | drops |");
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for m in &main {
        let null = runs.null_for(m);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            m.spec.scenario.name(),
            m.spec.mix.name(),
            m.spec.workers,
            m.packets_per_second() / 1e6,
            m.per_core() / 1e6,
            m.ns_per_packet(),
            m.cycles_per_packet(),
            m.cpu_ns_per_packet(),
            m.core_share(),
            m.gbits_per_second(),
            m.per_core() / null.per_core(),
            drops(m)
        );
    }
    let _ = writeln!(md, "\n`snat-new`: every packet opens a connection, so its Mpps are million connections per second.\n");

    scaling_table(
        &mut md,
        "Flow scaling (64 B, 1 worker, 10 classifiers)",
        "flows",
        &flows_series,
    );
    scaling_table(
        &mut md,
        "Classifier scaling (64 B, 1 worker, 10k flows)",
        "classifiers",
        &class_series,
    );

    let _ = writeln!(md, "## Memory\n");
    memory_section(&mut md, &memory);

    if !charts.is_empty() {
        let _ = writeln!(md, "## Charts\n");
        for (file, title) in &charts {
            let _ = writeln!(md, "![{title}]({file})\n");
        }
    }
    std::fs::write(out.join("results.md"), md)?;
    std::fs::write(out.join("results.csv"), csv(&pipeline_rows, &runs.done))?;
    eprintln!(
        "wrote {}/results.md, results.csv and charts in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn drops(m: &Measurement) -> String {
    pipeline::drops(m)
}

/// Per scenario, its points in order: (x, Mpps per core, cycles per packet).
fn series(runs: &[Measurement], x: impl Fn(&RunSpec) -> f64) -> Vec<Curve> {
    let mut out: Vec<Curve> = Vec::new();
    for m in runs {
        let point = (x(&m.spec), m.per_core() / 1e6, m.cycles_per_packet());
        match out.iter_mut().find(|(s, _)| *s == m.spec.scenario) {
            Some((_, points)) => points.push(point),
            None => out.push((m.spec.scenario, vec![point])),
        }
    }
    out
}

fn scaling_table(md: &mut String, title: &str, what: &str, data: &[Curve]) {
    let Some((_, first)) = data.first() else {
        return;
    };
    let _ = writeln!(md, "## {title}\n");
    let _ = writeln!(md, "Mpps per core (cycles per packet) by {what}.\n");
    let header: Vec<String> = first.iter().map(|p| plot::thousands(p.0)).collect();
    let _ = writeln!(md, "| scenario | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(header.len()));
    for (scenario, points) in data {
        let cells: Vec<String> = points
            .iter()
            .map(|&(_, mpps, cycles)| format!("{mpps:.3} ({cycles:.0})"))
            .collect();
        let _ = writeln!(md, "| {} | {} |", scenario.name(), cells.join(" | "));
    }
    let _ = writeln!(md);
}

fn memory_section(md: &mut String, m: &StateMemory) {
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    let _ = writeln!(
        md,
        "One worker's pipeline over the `full` topology with {} flow classifiers, after opening {} SNAT connections \
         through it (classified, chained, routed, translated); resident memory from /proc/self/status, measured first in the report's process.\n",
        m.classifiers, m.connections
    );
    let _ = writeln!(md, "| step | resident (MiB) |");
    let _ = writeln!(md, "|---|---:|");
    let _ = writeln!(md, "| process start | {:.1} |", mib(m.start));
    let _ = writeln!(
        md,
        "| tables built ({} classifiers) | {:.1} |",
        m.classifiers,
        mib(m.tables)
    );
    let _ = writeln!(
        md,
        "| pipeline created (SNAT table for {} connections) | {:.1} |",
        m.connections,
        mib(m.pipeline)
    );
    let _ = writeln!(
        md,
        "| {} connections open | {:.1} |",
        m.opened,
        mib(m.filled)
    );
    let _ = writeln!(md, "| peak (VmHWM) | {:.1} |\n", mib(m.peak));
    let _ = writeln!(
        md,
        "Bytes per connection: {:.0} of worker state (resident after the connections minus after the tables), \
         of which {:.0} appeared while the connections were opened (the table is allocated at its full size up front; \
         its pages become resident as they are first written). The tables with {} classifiers take {:.1} MiB.\n",
        m.state_per_connection(),
        m.growth_per_connection(),
        m.classifiers,
        mib(m.tables.saturating_sub(m.start))
    );
}

/// Every run: the pipeline's (`benchmark` = pipeline) and the harness's.
fn csv(pipeline_rows: &[Measurement], runs: &[Measurement]) -> String {
    let mut out = String::from(
        "benchmark,scenario,mix,workers,flows,classifiers,seconds,delivered,mpps,mpps_per_core,ns_per_packet,cycles_per_packet,cpu_cycles_per_packet,cpu_ns_per_packet,core_share,gbit_per_second,drops,drop_reasons,mpps_per_core_each_run\n",
    );
    let all = pipeline_rows
        .iter()
        .map(|m| ("pipeline", m))
        .chain(runs.iter().map(|m| ("harness", m)));
    for (benchmark, m) in all {
        let s = &m.spec;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.3},{},{:.4},{:.4},{:.1},{:.1},{:.1},{:.1},{:.3},{:.3},{},{},{}",
            benchmark,
            s.scenario.name(),
            s.mix.name(),
            s.workers,
            s.flows,
            s.classifiers,
            m.seconds,
            m.delivered,
            m.packets_per_second() / 1e6,
            m.per_core() / 1e6,
            m.ns_per_packet(),
            m.cycles_per_packet(),
            m.cpu_cycles_per_packet(),
            m.cpu_ns_per_packet(),
            m.core_share(),
            m.gbits_per_second(),
            m.drops,
            m.drop_reasons,
            m.repeats
                .iter()
                .map(|r| format!("{:.4}", r / 1e6))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    out
}
