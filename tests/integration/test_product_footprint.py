"""A supplier's own product footprint in real processes (FORMATS 1.1 §2): cathode-works asks for the
footprint of its cathode material over its own suppliers through the same protocol as the pack maker;
the released result equals the plaintext reference within the stated precision, has no per-kWh
figures, and its audit bundle verifies."""
import json
import subprocess
import sys

import pytest

from tanji.cli import requester
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir
from tests.harness.paths import EXAMPLE_CHAIN
from tests.harness.processes import LocalFederation

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


def tanji(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tanji", *args], capture_output=True, text=True, timeout=300)


def test_calc_start_on_the_supplier_s_own_node(tmp_path):
    """`tanji calc start --product P` against cathode-works' running node: the CLI a supplier uses, the
    default method, the result fetched with `tanji calc result` and its signature checked."""
    fed = LocalFederation(tmp_path, target=TARGET)
    try:
        depth = build_graph(fed.data, TARGET).depth()
        started = tanji("calc", "start", "--state", str(fed.state / TARGET[0]), "--federation", str(fed.fed_file),
                        "--coordinator", fed.address, "--product", TARGET[1], "--depth", str(depth))
        assert started.returncode == 0, started.stdout + started.stderr
        cid = started.stdout.strip()
        assert fed.finish(cid).state == requester.S.CALCULATION_STATE_DONE
        out = tmp_path / "result.json"
        fetched = tanji("calc", "result", cid, "--coordinator", fed.address, "--federation", str(fed.fed_file),
                        "--as", TARGET[0], "--out", str(out))
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    finally:
        fed.stop()
    result = json.loads(out.read_text())
    ref = json.loads(reference_result(fed.data, TARGET).to_json())
    assert (result["calculation"], result["method"], result["declaration"]) == (cid, "miit-2025", None)
    assert result["lifetime_energy_kwh"] is None and result["per_kwh_kgco2e"] is None
    assert abs(result["total_kgco2e"] - ref["total_kgco2e"]) <= REL * ref["total_kgco2e"]
    for stage, value in ref["stages_kgco2e"].items():
        assert abs(result["stages_kgco2e"][stage] - value) <= REL * ref["total_kgco2e"], stage
    assert abs(result["primary_data_share"] - ref["primary_data_share"]) <= REL
    assert result["warnings_count"] == ref["warnings_count"] == 0
