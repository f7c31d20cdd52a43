"""The federated demo in real processes (coordinator, key holder, one node per organisation)
against the plaintext reference, plus what the coordinator's store must never contain."""
import json
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tanji.methodology.graph import build_graph, evaluate, reference_result
from tanji.methodology.loader import load_data_dir
from tanji.v1 import common_pb2 as cpb
from tests.harness.outcomes import refusal_line, unwrapped
from tests.harness.paths import EXAMPLES

pytestmark = pytest.mark.integration
REL = 1e-5


def run_demo(data: Path, product: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--product", product, "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "result.json").read_text())


def no_stray_processes(out: Path) -> None:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(out) not in ps, "a party process outlived the demo"


def compare(result: dict, reference) -> dict[str, float]:
    """Relative error of every figure against the plaintext reference."""
    ref = json.loads(reference.to_json())
    errors = {}
    for key in ("total_kgco2e", "per_kwh_kgco2e", "primary_data_share", "dqr"):
        errors[key] = abs(result[key] - ref[key]) / abs(ref[key])
    for group in ("stages_kgco2e", "stages_per_kwh_kgco2e"):
        for stage, value in ref[group].items():
            errors[f"{group}.{stage}"] = abs(result[group][stage] - value) / abs(value)
    assert result["warnings_count"] == ref["warnings_count"]
    assert result["warnings"] == ref["warnings"]
    assert result["lifetime_energy_kwh"] == ref["lifetime_energy_kwh"]
    assert result["method"] == ref["method"] and result["product"] == ref["product"]
    assert result["factor_set"] == ref["factor_set"]
    return errors


def test_demo_on_the_example_chain_matches_the_reference(tmp_path):
    data = EXAMPLES / "nmc811-pack"
    out = tmp_path / "demo"
    result = run_demo(data, "pack-assembler/PACK-NMC811-80", out)
    no_stray_processes(out)
    errors = compare(result, reference_result(load_data_dir(data), ("pack-assembler", "PACK-NMC811-80")))
    print("relative errors (examples):", json.dumps(errors, indent=1))
    assert max(errors.values()) < REL, errors
    cited = json.loads((out / "citations.json").read_text())   # the factor provider's view
    expected = evaluate(build_graph(load_data_dir(data), ("pack-assembler", "PACK-NMC811-80"))).citations()
    assert {f["id"]: f["citations"] for f in cited["factors"]} == expected and cited["calculations"] == 1
    assert sum(expected.values()) > 0 and cited["provider"] == load_data_dir(data).factors.model.provider
    coordinator_holds_no_plaintext(data, out / "state" / "coordinator")
    dag_supplier_answered_once(out / "state" / "lithium-refiner")


def test_demo_on_the_shared_reference_chain_and_its_eu_variant(shared_reference, tmp_path):
    out = tmp_path / "miit"
    result = run_demo(shared_reference, "pack-maker/PACK-75", out)
    no_stray_processes(out)
    expected = json.loads((shared_reference.parent / "nmc811.expected.json").read_text())
    errors = {k: abs(result[k] - expected[k]) / abs(expected[k])
              for k in ("total_kgco2e", "per_kwh_kgco2e", "primary_data_share", "dqr")}
    errors.update({s: abs(result["stages_kgco2e"][s] - v) / v for s, v in expected["stages_kgco2e"].items()})
    print("relative errors (shared, miit):", json.dumps(errors, indent=1))
    assert max(errors.values()) < REL and result["warnings_count"] == expected["warnings_count"]

    variant = tmp_path / "nmc811-eu"
    shutil.copytree(shared_reference, variant)
    pack = json.loads((variant / "pack-maker.json").read_text())
    miit = pack["products"][0]["declaration"]
    pack["products"][0]["declaration"] = {
        "method": "eu-2023-1542", **{k: miit[k] for k in ("model", "chemistry", "plant", "reference_period")},
        "usable_energy_kwh": 72.0, "vehicle_category": "M1", "warranty_years": 8}  # 72 × 60 × 8 kWh
    (variant / "pack-maker.json").write_text(json.dumps(pack))
    result = run_demo(variant, "pack-maker/PACK-75", tmp_path / "eu")
    errors = compare(result, reference_result(load_data_dir(variant), ("pack-maker", "PACK-75")))
    print("relative errors (shared, eu):", json.dumps(errors, indent=1))
    assert max(errors.values()) < REL, errors


def _secrets_of(data: Path) -> tuple[set[str], set[float]]:
    """Strings and amounts in the node files that must never reach the coordinator."""
    strings, numbers = set(), set()

    def walk(doc, key=None):
        if isinstance(doc, dict):
            for k, v in doc.items():
                if k == "declaration":  # released with the result (FORMATS 1.1 §4) but its evidence, x- fields
                    walk({e: x for e, x in v.items()
                          if e in ("cycle_test_report", "cycles_justification") or e.startswith("x-")}, k)
                    continue
                walk(v, k)
        elif isinstance(doc, list):
            for v in doc:
                walk(v, key)
        elif isinstance(doc, str) and key in ("name", "note", "evidence", "cycle_test_report",
                                               "cycles_justification") and len(doc) >= 6:
            strings.add(doc)
        elif isinstance(doc, str) and key and key.startswith("x-") and len(doc) >= 6:
            strings.add(doc)
        elif isinstance(doc, (int, float)) and not isinstance(doc, bool) and key in (
                "amount", "quantity", "mass", "distance", "certified_amount", "rated_energy_kwh"):
            digits = repr(float(doc)).replace(".", "").replace("-", "").strip("0")
            if float(doc) != int(doc) and len(digits) >= 3:  # 1.0 or 0.5 are in every CKKS header
                numbers.add(float(doc))

    for f in data.glob("*.json"):
        doc = json.loads(f.read_text())
        if doc.get("schema") == "tanji.node-data/1":
            walk(doc)
    return strings, numbers


def coordinator_holds_no_plaintext(data: Path, state: Path) -> None:
    strings, numbers = _secrets_of(data)
    assert strings and numbers
    blobs = [p.read_bytes() for p in (state / "objects").rglob("*") if p.is_file()]
    con = sqlite3.connect(state / "coordinator.db")
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        for row in con.execute(f"SELECT * FROM {table}"):
            for cell in row:
                blobs.append(cell if isinstance(cell, bytes) else str(cell).encode())
    con.close()
    haystack = b"\x00".join(blobs)
    for s in strings:
        assert s.encode() not in haystack, f"coordinator store holds {s!r}"
    for x in numbers:
        packed = [struct.pack("<d", x), struct.pack(">d", x)]
        texts = [repr(x).encode()] if len(repr(x)) >= 6 else []
        for needle in packed + texts:
            assert needle not in haystack, f"coordinator store holds the amount {x!r}"


def dag_supplier_answered_once(state: Path) -> None:
    """LiOH is bought by two buyers, yet the lithium refiner got exactly one request."""
    con = sqlite3.connect(state / "node.db")
    kinds = [k for (k,) in con.execute("SELECT kind FROM handled")]
    con.close()
    assert kinds.count("MESSAGE_TYPE_MERGED_REQUEST") == 1, kinds


def test_a_chain_deeper_than_the_declared_bound_fails_at_the_node_that_runs_out(tmp_path):
    out = tmp_path / "shallow"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(EXAMPLES / "nmc811-pack"), "--product",
                           "pack-assembler/PACK-NMC811-80", "--out", str(out), "--depth", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = unwrapped(proc.stderr)
    assert "CALCULATION_STATE_FAILED" in message
    assert refusal_line("cell-works", cpb.REFUSAL_CODE_DEPTH_EXCEEDED) in message   # the node that ran out
    no_stray_processes(out)


def test_a_node_with_a_refused_file_does_not_serve_and_says_why(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / "nmc811-pack", data)
    doc = json.loads((data / "graphite-anode.json").read_text())
    doc["products"][0]["activities"][0]["unit"] = "lb"
    (data / "graphite-anode.json").write_text(json.dumps(doc))
    state = tmp_path / "state"
    proc = subprocess.run([sys.executable, "-m", "tanji", "node", "serve", "--org", "graphite-anode", "--state",
                           str(state), "--federation", str(tmp_path / "federation.json"), "--coordinator",
                           "127.0.0.1:9", "--data", str(data / "graphite-anode.json"), "--factors",
                           str(data / "factors.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    # names the file and the field (DataError's file and path); the sentence is the validator's
    assert "graphite-anode.json: products[0].activities[0].unit: " in unwrapped(proc.stderr)
    assert not (state / "ready").exists()


def test_offline_suppliers_are_replaced_by_their_buyers_fallbacks(tmp_path):
    data = EXAMPLES / "nmc811-pack"
    out = tmp_path / "offline"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--product",
                           "pack-assembler/PACK-NMC811-80", "--out", str(out),
                           "--offline", "battery-recycler", "--offline", "lithium-refiner"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    reference = reference_result(load_data_dir(data), ("pack-assembler", "PACK-NMC811-80"),
                                 frozenset({"battery-recycler", "lithium-refiner"}))
    errors = compare(result, reference)
    assert max(errors.values()) < REL, errors
    # every fallback in the chain is named with its tier (decision 0010): the recycler the requester
    # bought from, and the lithium refiner deeper down, for each of its two buyers
    assert result["fallbacks"] == [
        {"supplier": "battery-recycler", "product": "EOL-PACK-HYDROMET", "buyer": "pack-assembler", "tier": 1},
        {"supplier": "lithium-refiner", "product": "LIOH-H2O-BG", "buyer": "cathode-works", "tier": 4},
        {"supplier": "lithium-refiner", "product": "LIOH-H2O-BG", "buyer": "electrolyte-works", "tier": 4}]
    assert result["fallbacks"] == json.loads(reference.to_json())["fallbacks"]
    assert result["warnings_count"] == 2 + 3  # the chain's own two, one per fallback (LiOH has two buyers)
    cited = {f["id"]: f["citations"] for f in json.loads((out / "citations.json").read_text())["factors"]}
    offline = frozenset({"battery-recycler", "lithium-refiner"})
    graph = build_graph(load_data_dir(data), ("pack-assembler", "PACK-NMC811-80"), offline)
    assert cited == evaluate(graph).citations()
    no_stray_processes(out)


def test_an_offline_supplier_without_fallback_fails_naming_it(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / "nmc811-pack", data)
    pack = json.loads((data / "pack-assembler.json").read_text())
    for inp in pack["products"][0]["inputs"]:
        if inp["supplier"] == "freight-services":
            inp.pop("fallback_factor")
    (data / "pack-assembler.json").write_text(json.dumps(pack))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--product",
                           "pack-assembler/PACK-NMC811-80", "--out", str(out), "--offline", "freight-services"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    message = unwrapped(proc.stderr)
    assert "freight-services/PACK-DELIVERY-OEM" in message and "fallback_factor" in message  # the input and field
    no_stray_processes(out)


def test_ctrl_c_stops_every_party_process(tmp_path):
    import signal
    import time

    out = tmp_path / "interrupted"
    # a suite started in the background by a non-interactive shell inherits SIGINT ignored, and an
    # ignored signal stays ignored across exec: the demo would never see the Ctrl-C. A handled one is
    # reset to the default in the child, where Python turns it into KeyboardInterrupt.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tanji", "demo", str(EXAMPLES / "nmc811-pack"), "--product",
                                 "pack-assembler/PACK-NMC811-80", "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, inherited)
    ready = out / "state" / "pack-assembler" / "ready"
    deadline = time.monotonic() + 300
    while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ready.exists(), "the nodes never came up"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "every party process was stopped" in stderr
    no_stray_processes(out)


def test_a_supplier_answers_only_customers_it_approved(tmp_path):
    """graphite-anode approves somebody else: its registration says so, and the coordinator, which
    routes only approved edges, refuses the calculation at start — graphite-anode is never asked,
    and the requester is not told who (graphite-anode supplies its supplier, not itself). The
    supplier's own refusal, for a coordinator that routes anyway, is tests/adversarial's."""
    out = tmp_path / "policy"
    (out / "state" / "graphite-anode").mkdir(parents=True)
    (out / "state" / "graphite-anode" / "policy.toml").write_text('approved_customers = ["somebody-else"]\n')
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(EXAMPLES / "nmc811-pack"), "--product",
                           "pack-assembler/PACK-NMC811-80", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 2
    assert cpb.RefusalCode.Name(cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED) in unwrapped(proc.stderr)
    from tanji.node.store import Handled, NodeStore
    store = NodeStore(out / "state" / "graphite-anode" / "node.db")
    with store.sessions() as s:
        assert s.query(Handled).count() == 0  # never asked: nothing of its data was used
    no_stray_processes(out)
