"""A generated chain (`tanji generate-chain`) through the federated demo in real processes equals
its plaintext reference within the released precision: generated data is data like any other."""
import json
import subprocess
import sys

import pytest

from tanji.methodology import synthetic
from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir

pytestmark = pytest.mark.integration
REL = 1e-5


def test_a_generated_chain_through_the_demo_equals_its_reference(tmp_path):
    org, product = synthetic.write(synthetic.Shape(14, 4, 2, seed=5), tmp_path / "chain")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(tmp_path / "chain"), "--product",
                           f"{org}/{product}", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads((out / "result.json").read_text())
    ref = json.loads(reference_result(load_data_dir(tmp_path / "chain"), (org, product)).to_json())
    for key in ("total_kgco2e", "per_kwh_kgco2e", "primary_data_share", "dqr"):
        assert abs(got[key] - ref[key]) <= REL * abs(ref[key]), key
    for stage, value in ref["stages_kgco2e"].items():
        assert abs(got["stages_kgco2e"][stage] - value) <= REL * ref["total_kgco2e"], stage
    assert got["warnings_count"] == ref["warnings_count"] > 0
