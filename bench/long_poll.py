"""What waiting costs: the example chain's federated calculation with the long poll (default) and
with the clients' old polling back-off (TANJI_LONG_POLL_SECONDS=0), alternated in one run so both
see the same machine. Prints each run's calculation time (start request to signed result, as
`tanji demo` reports it) and the ratio of the medians. Usage:

    .venv/bin/python bench/long_poll.py [ROUNDS]
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TANJI = ROOT / ".venv" / "bin" / "tanji"


def calculation_seconds(long_poll: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([str(TANJI), "demo", str(ROOT / "examples" / "nmc811-pack"), "--product",
                              "pack-assembler/PACK-NMC811-80", "--out", tmp],
                             env={**os.environ, "TANJI_LONG_POLL_SECONDS": long_poll, "COLUMNS": "200"},
                             capture_output=True, text=True, check=True)
    m = re.search(r"done in ([0-9.]+) s", out.stdout + out.stderr)
    if m is None:
        raise SystemExit(f"no calculation time in the demo's output:\n{out.stdout}{out.stderr}")
    return float(m.group(1))


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    times: dict[str, list[float]] = {"0": [], "5": []}
    for i in range(rounds):
        for lp in ("0", "5"):
            t = calculation_seconds(lp)
            times[lp].append(t)
            load = os.getloadavg()[0]
            print(f"round {i + 1}: {'polling back-off' if lp == '0' else 'long poll      '} {t:6.1f} s  "
                  f"(load {load:.1f})", flush=True)
    before, after = statistics.median(times["0"]), statistics.median(times["5"])
    print(f"median: polling {before:.1f} s, long poll {after:.1f} s, ratio {before / after:.2f}")


if __name__ == "__main__":
    main()
