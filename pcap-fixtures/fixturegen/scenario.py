"""A scenario: its inputs, expected outputs and counters; and the registry of
scenarios, filled by `@register` where each is defined."""

import json
import shutil
from pathlib import Path

from .pcap import write_pcap

# The folder the scenarios are written into.
HERE = Path(__file__).resolve().parent.parent

T0_US = 1_700_000_000_000_001  # 1700000000.000001
STEP_US = 1_000  # 1 ms between input frames


class Scenario:
    def __init__(self, name, topo):
        topo.check()
        self.name = name
        self.topo = topo
        self.inputs = {}  # port -> [(ts, bytes)]
        self.expected = {}  # port -> [(ts, bytes)]
        self.rx_count = 0
        self.tx_count = 0
        self.drops = {}
        self.later_us = 0  # added to every later timestamp by `advance`

    def advance(self, seconds):
        """Lets `seconds` of capture time pass before the next input frame."""
        self.later_us += seconds * 1_000_000

    def rx(self, port, frame, tx=None, drop=None, answered_by=None, held=False):
        """Frame `frame` arrives on dataplane port `port` (the k-th input of the
        scenario, timestamp T0 + k ms, plus any `advance`). Exactly one outcome: either `tx`, a non-empty
        list of (port, frame) the dataplane transmits because of it (in that order
        within each port), or `drop`, the reason it is dropped. The one exception:
        a frame dropped as `drop` that is `answered_by` a list of (port, frame) the
        dataplane sends because of it (the ICMP error of a too-large packet, the
        frames an ARP reply releases). `held`: neither yet, the frame waits (for an
        ARP resolution); its output is declared with the input that releases it."""
        if held:
            assert tx is None and drop is None and answered_by is None
        elif answered_by is not None:
            assert drop is not None and tx is None, "answered_by goes with drop=..."
            tx = answered_by
        else:
            assert (tx is None) != (drop is None), "give tx=[...] or drop=..."
        ports = set(self.topo.port_names())
        assert port in ports, port
        frame = bytes(frame)
        ts = T0_US + self.rx_count * STEP_US + self.later_us
        self.rx_count += 1
        self.inputs.setdefault(port, []).append((ts, frame))
        if drop is not None:
            self.drops[drop] = self.drops.get(drop, 0) + 1
        if tx is not None and not held:
            assert len(tx) >= 1, "a transmitted frame has at least one copy"
            for out_port, out_frame in tx:
                assert out_port in ports, out_port
                self.expected.setdefault(out_port, []).append((ts, bytes(out_frame)))
                self.tx_count += 1

    def held_at_end(self, count, reason="resolve_timeout"):
        """`count` held frames are never released: when the replay ends, the
        dataplane drops and counts what still waits, so that every received frame is
        accounted for."""
        self.drops[reason] = self.drops.get(reason, 0) + count

    def counters(self):
        return {"rx": self.rx_count, "tx": self.tx_count, "drops": dict(sorted(self.drops.items()))}

    def write(self, root):
        d = root / self.name
        if d.exists():
            shutil.rmtree(d)
        (d / "in").mkdir(parents=True)
        (d / "expected").mkdir(parents=True)
        (d / "topology.toml").write_text(self.topo.to_toml(self.name))
        for port, recs in sorted(self.inputs.items()):
            write_pcap(d / "in" / f"{port}.pcap", recs)
        for port, recs in sorted(self.expected.items()):
            write_pcap(d / "expected" / f"{port}.pcap", recs)
        (d / "expected" / "counters.json").write_text(json.dumps(self.counters(), indent=2) + "\n")


# The scenario builders, in the order their modules are imported and define them.
SCENARIOS = []


def register(build):
    """Adds a scenario builder (a function returning a `Scenario`) to SCENARIOS."""
    SCENARIOS.append(build)
    return build
