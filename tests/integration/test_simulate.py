"""`tanji simulate` (issue #14 item 4): a generated 100-organisation chain, every node hosted in two
pool processes, equals its plaintext reference within the precision the released result states."""
import json
import subprocess
import sys

import pytest

from tanji.methodology import synthetic
from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir

pytestmark = pytest.mark.integration


def test_a_hundred_organisations_in_two_pool_processes_equal_the_reference(tmp_path):
    org, product = synthetic.write(synthetic.Shape(100, 6, 3, seed=7), tmp_path / "chain")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "tanji", "simulate", str(tmp_path / "chain"), "--product",
                           f"{org}/{product}", "--workers", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads((out / "result.json").read_text())
    ref = json.loads(reference_result(load_data_dir(tmp_path / "chain"), (org, product)).to_json())
    precision = got["precision"]
    assert 0 < precision < 1e-3
    # the precision is relative to the block's largest figure, the total; plus the released rounding
    tolerance = precision * abs(ref["total_kgco2e"]) + 1e-9 * abs(ref["total_kgco2e"])
    assert abs(got["total_kgco2e"] - ref["total_kgco2e"]) <= tolerance
    for stage, value in ref["stages_kgco2e"].items():
        assert abs(got["stages_kgco2e"][stage] - value) <= tolerance, stage
    assert abs(got["per_kwh_kgco2e"] - ref["per_kwh_kgco2e"]) <= tolerance / ref["lifetime_energy_kwh"]
    for key in ("primary_data_share", "dqr"):
        assert abs(got[key] - ref[key]) <= 1e-6 * abs(ref[key]), key
    assert got["warnings_count"] == ref["warnings_count"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["organisations"] == 100 and metrics["workers"] == 2
    hosts = [name for name in metrics["peak_rss_mib"] if name.startswith("host-")]
    assert sorted(hosts) == ["host-0", "host-1"]  # two pool processes, not a process per organisation
    assert len(metrics["bytes_sent"]) == 100 and min(metrics["bytes_sent"].values()) > 0
    assert (out / "bundle.tar").stat().st_size > 0
