//! The counters of a run, for people (a table) and for machines (JSON).

use std::time::Duration;

use crate::counters::{Counters, DropReason};
use ::port::{PortInfo, QueueStats};
use port_pcap::CaptureNotes;

pub struct Report {
    pub port_names: Vec<String>,
    pub counters: Counters,
    /// Per port, what its driver counted (frames it could not deliver or send).
    pub drivers: Vec<DriverStats>,
    pub elapsed: Duration,
    /// The input captures' frames cut by a snap length or skipped (replay).
    pub capture: CaptureNotes,
    /// What the last interval of a long run carried (a daemon's rate now, not its
    /// average since start); none: the rate is over the whole run.
    pub last_interval: Option<Interval>,
}

/// Packets received and transmitted over one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub elapsed: Duration,
    pub rx: u64,
    pub tx: u64,
}

impl Interval {
    /// Packets per second received and transmitted.
    pub fn rates(&self) -> (f64, f64) {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            (self.rx as f64 / seconds, self.tx as f64 / seconds)
        } else {
            (0.0, 0.0)
        }
    }
}

/// A port's driver statistics, summed over its queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    pub rx: QueueStats,
    pub tx: QueueStats,
}

impl DriverStats {
    pub fn of(port: &dyn PortInfo) -> Self {
        DriverStats {
            rx: port.stats().rx(),
            tx: port.stats().tx(),
        }
    }

    fn is_clean(&self) -> bool {
        self.rx.errors == 0 && self.rx.missed == 0 && self.tx.errors == 0
    }
}

impl Report {
    pub fn to_json(&self) -> serde_json::Value {
        let ports: serde_json::Map<String, serde_json::Value> = self
            .port_names
            .iter()
            .zip(&self.counters.ports)
            .enumerate()
            .map(|(index, (name, c))| {
                let driver = self.drivers.get(index).copied().unwrap_or_default();
                let json = serde_json::json!({
                    "rx": c.rx,
                    "tx": c.tx,
                    "rx_errors": driver.rx.errors,
                    "rx_missed": driver.rx.missed,
                    "tx_errors": driver.tx.errors,
                });
                (name.clone(), json)
            })
            .collect();
        let drops: serde_json::Map<String, serde_json::Value> = DropReason::ALL
            .iter()
            .map(|reason| {
                (
                    reason.name().to_owned(),
                    self.counters.drops(*reason).into(),
                )
            })
            .collect();
        let mut json = serde_json::json!({
            "rx": self.counters.total_rx(),
            "tx": self.counters.total_tx(),
            "dropped": self.counters.total_drops(),
            "ports": ports,
            "drops": drops,
            "elapsed_ns": self.elapsed.as_nanos() as u64,
            "capture_truncated": self.capture.truncated,
            "capture_unmapped": self.capture.unmapped,
        });
        if let Some(interval) = &self.last_interval {
            let (rx_pps, tx_pps) = interval.rates();
            json["last_interval"] = serde_json::json!({
                "elapsed_ns": interval.elapsed.as_nanos() as u64,
                "rx": interval.rx,
                "tx": interval.tx,
                "rx_pps": rx_pps,
                "tx_pps": tx_pps,
            });
        }
        json
    }

    /// The counters as a table for people.
    pub fn to_table(&self) -> String {
        use std::fmt::Write;
        let width = self
            .port_names
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!("{:<width$} {:>12} {:>12}\n", "port", "rx", "tx");
        for (name, c) in self.port_names.iter().zip(&self.counters.ports) {
            let _ = writeln!(out, "{name:<width$} {:>12} {:>12}", c.rx, c.tx);
        }
        if self.drivers.iter().any(|d| !d.is_clean()) {
            out.push_str("\nport driver          rx errors    rx missed    tx errors\n");
            for (name, d) in self.port_names.iter().zip(&self.drivers) {
                if !d.is_clean() {
                    let _ = writeln!(
                        out,
                        "{name:<20} {:>9} {:>12} {:>12}",
                        d.rx.errors, d.rx.missed, d.tx.errors
                    );
                }
            }
        }
        let drops: Vec<_> = self.counters.nonzero_drops().collect();
        if !drops.is_empty() {
            out.push_str("\ndrop reason           packets\n");
            for (name, count) in drops {
                let _ = writeln!(out, "{name:<20} {count:>8}");
            }
        }
        if self.capture.truncated > 0 {
            let _ = writeln!(
                out,
                "\n{} input frames were cut by the capture's snap length (replayed as cut)",
                self.capture.truncated
            );
        }
        if self.capture.unmapped > 0 {
            let _ = writeln!(
                out,
                "\n{} input frames skipped: no Ethernet frame can be made of them",
                self.capture.unmapped
            );
        }
        let rx = self.counters.total_rx();
        let seconds = self.elapsed.as_secs_f64();
        let totals = format!(
            "\n{rx} received, {} transmitted, {} dropped in {:.3} ms",
            self.counters.total_tx(),
            self.counters.total_drops(),
            seconds * 1e3,
        );
        match &self.last_interval {
            Some(interval) => {
                let (rx_pps, tx_pps) = interval.rates();
                let _ = writeln!(
                    out,
                    "{totals}\nlast {:.1} s: {rx_pps:.0} packets/s received, {tx_pps:.0} packets/s transmitted",
                    interval.elapsed.as_secs_f64(),
                );
            }
            None => {
                let rate = if seconds > 0.0 {
                    rx as f64 / seconds
                } else {
                    0.0
                };
                let _ = writeln!(out, "{totals} ({rate:.0} packets/s)");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(last_interval: Option<Interval>) -> Report {
        let mut counters = Counters::new(1);
        for _ in 0..1000 {
            counters.rx(0);
        }
        Report {
            port_names: vec!["p".into()],
            counters,
            drivers: Vec::new(),
            elapsed: Duration::from_secs(100),
            capture: Default::default(),
            last_interval,
        }
    }

    #[test]
    fn a_long_run_reports_the_rate_of_its_last_interval_and_its_totals() {
        let interval = Interval {
            elapsed: Duration::from_secs(2),
            rx: 400,
            tx: 100,
        };
        let table = report(Some(interval)).to_table();
        assert!(table.contains("1000 received"), "{table}");
        assert!(
            table.contains("last 2.0 s: 200 packets/s received, 50 packets/s transmitted"),
            "{table}"
        );
        let json = report(Some(interval)).to_json();
        assert_eq!(json["last_interval"]["rx_pps"], 200.0);
        assert_eq!(json["rx"], 1000);
    }

    #[test]
    fn a_run_without_intervals_reports_its_average() {
        let table = report(None).to_table();
        assert!(table.contains("(10 packets/s)"), "{table}");
    }
}
