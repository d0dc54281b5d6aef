"""The pcap writer: classic pcap, little endian, microsecond resolution, linktype
Ethernet, every frame whole."""

import struct

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535


def write_pcap(path, records):
    """Classic pcap, microsecond timestamps, linktype Ethernet.

    records: iterable of (timestamp in microseconds, frame bytes). The frames are
    stored whole (captured length = original length), whatever their size."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        for ts_us, data in records:
            assert len(data) <= SNAPLEN
            f.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(data), len(data)))
            f.write(data)
