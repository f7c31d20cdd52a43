"""Soak: 50 calculations back to back over a generated 20-organisation chain, every party in its own
process — every result equals the plaintext reference and memory stays flat.

Resident memory (VmRSS from /proc, each party with its HE worker processes) is sampled every 5
calculations; the assertion compares calculation 5 (every pool, cache and connection warm) with the
last: what grows in between grows with the number of calculations.

Measured, two runs of 50 calculations (preset ckks-n8192-d2) on a 2-core machine shared with
other jobs: start-up 29 / 25 s; the 50 calculations 785 / 472 s (15.7 / 9.4 s each on average,
8.5–41 / 7.9–16 s; no trend: first five 20.5 / 10.3 s, last five 16.1 / 9.6 s). RSS after
calculation 5 → 50: coordinator 244.5 → 258.9 / 234.8 → 253.4 MiB (in the second run, sampled every
5: 235, 245, 250, 241, 249, 256, 183, 249, 253, 253 — a plateau, not a slope), key holder +1.7 /
+3.3 MiB, nodes at most ~300 MiB, largest growth +9.0 / +11.9 MiB (mean +5.0 / +5.7). GROWTH_MIB is
about 2.5 times the largest measured growth: a leak of 1 MiB per calculation fails it.
Run it with `.venv/bin/pytest -m slow tests/slow/test_soak.py -s` (the figures are printed).
"""
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tanji.cli import requester
from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir
from tanji.v1 import requester_pb2 as rpb
from tests.harness.data import write_chain
from tests.harness.processes import LocalFederation

pytestmark = [pytest.mark.slow, pytest.mark.timeout(7200)]
S = rpb.CalculationState
CALCULATIONS = int(os.environ.get("TANJI_SOAK_CALCULATIONS", "50"))
WARM = 5
ORGANISATIONS = 20
#: allowed growth of any one party's resident memory (process and its HE workers) from calculation
#: WARM to the last (measured: see above)
GROWTH_MIB = 48.0
REL = 1e-6


def _tree(pid: int) -> list[int]:
    """pid and its descendants (the HE worker pools)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def _rss_mib(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _kind(name: str) -> str:
    return name if name in ("coordinator", "keyholder") else "node"


def _close(got: float, want: float, scale: float) -> bool:
    return abs(got - want) <= REL * max(abs(want), 1e-3 * scale)


def test_fifty_calculations_back_to_back_stay_right_and_flat(tmp_path):
    if not Path("/proc/self/status").exists():
        pytest.skip("reads resident memory from /proc (Linux)")
    data_dir, target = write_chain(tmp_path / "chain", organisations=ORGANISATIONS)
    ref = json.loads(reference_result(load_data_dir(data_dir), target).to_json())
    began = time.monotonic()
    fed = LocalFederation(tmp_path, data_dir=data_dir, target=target)
    started = time.monotonic() - began
    samples, seconds = {}, []
    try:
        assert len(fed.procs.procs) == ORGANISATIONS + 2
        for i in range(1, CALCULATIONS + 1):
            t0 = time.monotonic()
            cid = fed.start_calculation()
            st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
            seconds.append(time.monotonic() - t0)
            assert st.state == S.CALCULATION_STATE_DONE, f"calculation {i}: {st.failure_message}"
            got = fed.result(cid)
            total = ref["total_kgco2e"]
            for key in ("total_kgco2e", "per_kwh_kgco2e", "primary_data_share", "dqr"):
                assert _close(got[key], ref[key], ref[key]), f"calculation {i}: {key} {got[key]} != {ref[key]}"
            for stage, value in ref["stages_kgco2e"].items():
                assert _close(got["stages_kgco2e"][stage], value, total), f"calculation {i}: {stage}"
            assert got["warnings_count"] == ref["warnings_count"], f"calculation {i}"
            if i % WARM == 0 or i == CALCULATIONS:
                fed.procs.check_alive()
                samples[i] = {name: _rss_mib(p.pid) for name, p in fed.procs.procs.items()}
    finally:
        fed.stop()
    growth = {name: samples[CALCULATIONS][name] - samples[WARM][name] for name in samples[WARM]}
    report: dict[str, Any] = {
        "organisations": ORGANISATIONS, "calculations": CALCULATIONS, "start_up_seconds": round(started, 1),
        "total_seconds": round(sum(seconds), 1), "per_calculation_seconds": {
            "mean": round(sum(seconds) / len(seconds), 2), "min": round(min(seconds), 2),
            "max": round(max(seconds), 2), "first_5_mean": round(sum(seconds[:5]) / 5, 2),
            "last_5_mean": round(sum(seconds[-5:]) / 5, 2)},
        "rss_mib": {}}
    for kind in ("coordinator", "keyholder", "node"):
        names = [n for n in samples[WARM] if _kind(n) == kind]
        report["rss_mib"][kind] = {
            "processes": len(names),
            f"after_{WARM}": round(max(samples[WARM][n] for n in names), 1),
            f"after_{CALCULATIONS}": round(max(samples[CALCULATIONS][n] for n in names), 1),
            "largest_growth": round(max(growth[n] for n in names), 1),
            "mean_growth": round(sum(growth[n] for n in names) / len(names), 1),
            "largest_by_calculation": {i: round(max(sample[n] for n in names), 1) for i, sample in samples.items()}}
    (tmp_path / "soak.json").write_text(json.dumps({**report, "seconds": seconds, "samples": samples}, indent=1))
    print("\nsoak:", json.dumps(report, indent=1))
    grown = {n: round(g, 1) for n, g in growth.items() if g > GROWTH_MIB}
    assert not grown, \
        f"resident memory grew by more than {GROWTH_MIB} MiB from calculation {WARM} to {CALCULATIONS}: {grown}"
