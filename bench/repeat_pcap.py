#!/usr/bin/env python3
"""Repeat a classic pcap's packets N times with increasing timestamps, to time
`dataplane replay` on more than a fixture's handful of frames.

    python3 bench/repeat_pcap.py IN.pcap OUT.pcap --times 10000 [--period-us 1000000]

Each repetition is shifted by --period-us microseconds (default: one second), so
several repeated inputs still merge in their original order.
"""

import argparse
import struct


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--times", type=int, required=True)
    parser.add_argument("--period-us", type=int, default=1_000_000)
    args = parser.parse_args()

    with open(args.input, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(magic)
    if endian is None:
        raise SystemExit(f"{args.input}: only microsecond classic pcap is supported")
    header, body = data[:24], data[24:]
    records = []
    offset = 0
    while offset + 16 <= len(body):
        sec, usec, incl, orig = struct.unpack(endian + "IIII", body[offset : offset + 16])
        frame = body[offset + 16 : offset + 16 + incl]
        records.append((sec * 1_000_000 + usec, orig, frame))
        offset += 16 + incl

    with open(args.output, "wb") as out:
        out.write(header)
        for repetition in range(args.times):
            shift = repetition * args.period_us
            for stamp, orig, frame in records:
                t = stamp + shift
                out.write(struct.pack(endian + "IIII", t // 1_000_000, t % 1_000_000, len(frame), orig))
                out.write(frame)


if __name__ == "__main__":
    main()
