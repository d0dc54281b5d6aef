#!/usr/bin/env python3
"""Generate the pcap fixture scenarios of the dataplane.

Run `python3 pcap-fixtures/generate.py` (from any directory) to regenerate every
scenario folder next to this file:

    <scenario>/topology.toml          topology in the shape of shared/topology-example.toml
    <scenario>/in/<PORT>.pcap         frames received on dataplane port PORT
    <scenario>/expected/<PORT>.pcap   frames PORT must transmit (no file: nothing)
    <scenario>/expected/counters.json {"rx": N, "tx": M, "drops": {reason: count}}

Expected outputs are written by hand, per input frame, from the behaviour
specification (see README.md); they are never produced by running the dataplane.

Everything is deterministic: timestamps are fixed integers (microseconds), every
field scapy would choose by itself (IP id, TCP seq, ports, MACs) is set explicitly,
and the pcap files are written by `fixturegen/pcap.py` (classic pcap, little endian,
microsecond resolution, linktype Ethernet).

The library is `fixturegen/`: `model.py` (topology and its TOML), `pcap.py`,
`scenario.py` (a scenario's inputs, expected outputs and counters; the registry),
`frames.py` (frame builders); and one module per scenario family: `switching.py`,
`snat.py`, `sfc.py`, `vxlan.py`, `services.py`.

To add a scenario: in its family's module, write a function `scenario_<name>()`
decorated with `@register` that builds a `Topology`, creates
`s = Scenario("<name>", topo)`, declares each input frame with
`s.rx(port, frame, tx=[...])` or `s.rx(port, frame, drop="reason")`, and returns `s`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Importing a family registers its scenarios, in this order.
from fixturegen import switching  # noqa: E402,F401
from fixturegen import snat  # noqa: E402,F401
from fixturegen import sfc  # noqa: E402,F401
from fixturegen import vxlan  # noqa: E402
from fixturegen import services  # noqa: E402,F401
from fixturegen.scenario import HERE, SCENARIOS  # noqa: E402


def main():
    for build in SCENARIOS:
        s = build()
        s.write(HERE)
        c = s.counters()
        print(f"{s.name}: rx {c['rx']} tx {c['tx']} drops {c['drops']}")
    vxlan.write_vxlan_two_node()
    return 0


if __name__ == "__main__":
    sys.exit(main())
