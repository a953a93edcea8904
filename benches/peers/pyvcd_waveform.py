"""The waveform peer of the export benchmark (BENCHMARKS.md): the same VCD
`tracemem export -o X.vcd` writes (scope `bus`: addr, data, width, rd, wr,
err; scope `regs`: one signal per address), written from the NDJSON trace
with pyvcd, the Python writer PeakRDL-pybind11 users would reach for.

    python benches/peers/pyvcd_waveform.py TRACE.ndjson OUT.vcd
"""

import json
import sys

from vcd import VCDWriter


def main(trace: str, out: str) -> None:
    events = []
    widths: dict[int, int] = {}
    with open(trace, encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            events.append(event)
            width = event.get("width", 4)
            widths[event["address"]] = max(widths.get(event["address"], 0), width)
    with open(out, "w", encoding="utf-8") as fh, VCDWriter(fh, timescale="1 ns") as writer:
        bus = {
            name: writer.register_var("bus", name, "wire", size=size)
            for name, size in (("addr", 64), ("data", 64), ("width", 8), ("rd", 1), ("wr", 1), ("err", 1))
        }
        regs = {a: writer.register_var("regs", f"r_{a:08x}", "wire", size=8 * w) for a, w in sorted(widths.items())}
        previous = -1
        for event in events:
            t = max(round(event["timestamp"] * 1e9), previous + 1)
            if previous >= 0 and t > previous + 1:
                for strobe in ("rd", "wr", "err"):
                    writer.change(bus[strobe], previous + 1, 0)
            width = event.get("width", 4)
            writer.change(bus["addr"], t, event["address"])
            writer.change(bus["data"], t, event["value"])
            writer.change(bus["width"], t, width)
            writer.change(bus["rd"], t, int(event["op"] == "read"))
            writer.change(bus["wr"], t, int(event["op"] == "write"))
            writer.change(bus["err"], t, 0)
            writer.change(regs[event["address"]], t, event["value"] & ((1 << (8 * width)) - 1))
            previous = t


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
