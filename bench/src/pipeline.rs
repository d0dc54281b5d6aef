//! The pipeline-only figures: one worker, 64-byte frames made and freed on its own
//! thread, every scenario at 1 and 65,536 flows (SNAT also at 10k and 1M
//! connections), in TSC cycles per delivered packet of the time the worker ran, and
//! what each scenario costs above `null` (the loop and the buffers without a stage).

use std::fmt::Write as _;

use crate::harness::{self, Measurement, RunSpec};
use crate::scenario::{Mix, Scenario};

/// The scenarios measured, `null` first.
pub const SCENARIOS: [Scenario; 8] = [
    Scenario::Null,
    Scenario::L2,
    Scenario::Routed,
    Scenario::VxlanEncap,
    Scenario::VxlanDecap,
    Scenario::SnatEstablished,
    Scenario::SfcMpls,
    Scenario::Full,
];
/// Flow counts every scenario is measured at.
pub const FLOWS: [u32; 2] = [1, 65_536];
/// Connection counts SNAT is measured at besides.
pub const SNAT_CONNECTIONS: [u32; 2] = [10_000, 1_000_000];
/// Flow classifiers of the chained scenarios (only the last one matches).
pub const CLASSIFIERS: u32 = 10;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct PipelineConfig {
    pub seconds: f64,
    /// Runs per point; the cheapest is kept (the others were slowed by neighbours).
    pub repeats: usize,
    /// Only this flow count (every scenario), instead of the whole set.
    pub flows: Option<u32>,
}

/// The points to measure: (scenario, flows), in table order.
pub fn points(flows: Option<u32>) -> Vec<(Scenario, u32)> {
    let mut points = Vec::new();
    for scenario in SCENARIOS {
        match flows {
            Some(flows) => points.push((scenario, flows)),
            None => {
                let mut counts = FLOWS.to_vec();
                if scenario == Scenario::SnatEstablished {
                    counts.extend(SNAT_CONNECTIONS);
                    counts.sort_unstable();
                }
                points.extend(counts.into_iter().map(|f| (scenario, f)));
            }
        }
    }
    points
}

/// Measures every point; `progress` sees each as it is done.
pub fn measure(
    config: PipelineConfig,
    tsc_hz: f64,
    mut progress: impl FnMut(&Measurement),
) -> Vec<Measurement> {
    points(config.flows)
        .into_iter()
        .map(|(scenario, flows)| {
            let spec = RunSpec {
                scenario,
                mix: Mix::Small,
                flows,
                classifiers: CLASSIFIERS,
                workers: 1,
                seconds: config.seconds,
            };
            let mut tries: Vec<Measurement> = (0..config.repeats.max(1))
                .map(|_| harness::run(&spec, tsc_hz))
                .collect();
            let repeats = tries.iter().map(Measurement::per_core).collect();
            tries.sort_by(|a, b| {
                a.cpu_cycles_per_packet()
                    .total_cmp(&b.cpu_cycles_per_packet())
            });
            let mut best = tries.swap_remove(0);
            best.repeats = repeats;
            progress(&best);
            best
        })
        .collect()
}

/// The `null` run to subtract from `m`: the one at the same flow count, else the one
/// at the most flows (`null` does not look at the flows).
fn null_for<'a>(rows: &'a [Measurement], m: &Measurement) -> Option<&'a Measurement> {
    let nulls = || rows.iter().filter(|r| r.spec.scenario == Scenario::Null);
    nulls()
        .find(|n| n.spec.flows == m.spec.flows)
        .or_else(|| nulls().max_by_key(|n| n.spec.flows))
}

/// The cycles `m` costs above `null`.
pub fn above_null(rows: &[Measurement], m: &Measurement) -> Option<f64> {
    null_for(rows, m).map(|n| m.cpu_cycles_per_packet() - n.cpu_cycles_per_packet())
}

/// The markdown table of the measured points.
pub fn table(rows: &[Measurement]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| scenario | flows | cycles/pkt | above null | wall cycles/pkt | Mpps | core share | drops |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---|");
    for m in rows {
        let above = match (m.spec.scenario, above_null(rows, m)) {
            (Scenario::Null, _) | (_, None) => "".to_owned(),
            (_, Some(above)) => format!("{above:.0}"),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {} | {:.0} | {:.2} | {:.2} | {} |",
            m.spec.scenario.name(),
            grouped(m.spec.flows),
            m.cpu_cycles_per_packet(),
            above,
            m.cycles_per_packet(),
            m.packets_per_second() / 1e6,
            m.core_share(),
            drops(m)
        );
    }
    md
}

/// `65536` as `65,536`.
fn grouped(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The drops of a run, as a table shows them: `null`'s are its design.
pub fn drops(m: &Measurement) -> String {
    if m.spec.scenario == Scenario::Null {
        "all (by design)".into()
    } else if m.drops == 0 {
        "0".into()
    } else {
        format!("{} ({})", m.drops, m.drop_reasons)
    }
}

/// How to read the table, for the report.
pub const EXPLANATION: &str = "One worker busy-polls through the runtime's own loop; its ports live on its thread \
(a generator copying a pre-built 64-byte frame into a fresh pool buffer per packet, cycling over the flows; sinks \
that free; for the chains a loopback port that sends every frame back as the service function would), so no other \
thread touches a packet. `cycles/pkt` is the worker's CPU time (from /proc schedstat) in TSC cycles per delivered \
packet; `wall cycles/pkt` the TSC ticks of the measured interval per delivered packet (the same when the worker had \
its core: `core share` 1.00). `null` offers frames the parser refuses at its first look (an IPv4 header of version 0), \
so it is the generator, the worker loop and freeing the buffer without any stage; `above null` is what the stages \
cost. `full` counts packets delivered on the uplink (half SNAT, half VXLAN), after the chain's service function.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_has_every_scenario_at_both_flow_counts_and_snat_at_four() {
        let all = points(None);
        assert_eq!(all.len(), SCENARIOS.len() * 2 + 2);
        assert_eq!(all[0], (Scenario::Null, 1));
        let snat: Vec<u32> = all
            .iter()
            .filter(|p| p.0 == Scenario::SnatEstablished)
            .map(|p| p.1)
            .collect();
        assert_eq!(snat, [1, 10_000, 65_536, 1_000_000]);
        assert!(points(Some(7)).iter().all(|p| p.1 == 7));
    }

    #[test]
    fn flow_counts_are_grouped_by_thousands() {
        assert_eq!(grouped(1), "1");
        assert_eq!(grouped(65_536), "65,536");
        assert_eq!(grouped(1_000_000), "1,000,000");
    }
}
