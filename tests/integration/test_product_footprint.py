"""A supplier's own product footprint in real processes (FORMATS 1.1 §2): cathode-works asks for the
footprint of its cathode material over its own suppliers through the same protocol as the pack maker;
the released result equals the plaintext reference within the stated precision, has no per-kWh
figures, and its audit bundle verifies."""
import json
import subprocess
import sys

import pytest

from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir
from tests.harness.paths import EXAMPLE_CHAIN

pytestmark = pytest.mark.integration
TARGET = ("cathode-works", "CAM-NMC811-SC")
REL = 1e-5


def test_a_supplier_product_footprint_in_real_processes_equals_the_reference(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(EXAMPLE_CHAIN), "--product", "/".join(TARGET),
                           "--method", "eu-2023-1542", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    ref = json.loads(reference_result(load_data_dir(EXAMPLE_CHAIN), TARGET, method="eu-2023-1542").to_json())

    assert (result["product"], result["method"], result["declared_unit"]) == ("/".join(TARGET), "eu-2023-1542", "kg")
    assert result["declaration"] is None and ref["declaration"] is None
    for key in ("lifetime_energy_kwh", "per_kwh_kgco2e", "stages_per_kwh_kgco2e"):
        assert result[key] is None and ref[key] is None, key
    total = ref["total_kgco2e"]
    assert total > 0
    # every figure within the stated precision relative to the total (FORMATS §4), shares and DQR to it
    stated = result["precision"]
    assert 0 < stated <= REL
    assert abs(result["total_kgco2e"] - total) <= REL * total
    for stage, value in ref["stages_kgco2e"].items():
        assert abs(result["stages_kgco2e"][stage] - value) <= REL * total, stage
    assert abs(result["primary_data_share"] - ref["primary_data_share"]) <= REL
    assert abs(result["dqr"] - ref["dqr"]) <= REL * ref["dqr"]
    assert result["warnings_count"] == ref["warnings_count"] and result["warnings"] == ref["warnings"]
    assert result["fallbacks"] == ref["fallbacks"] == []

    anchor = out / "state" / "registry" / "anchor.pub"
    verify = subprocess.run([sys.executable, "-m", "tanji", "audit", "verify", str(out / "bundle.tar"),
                             "--trust", str(anchor)], capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
