"""A catalogue in one pass (issue #14, DESIGN §6): three pack models of the example's pack maker in
one calculation, real processes, equal to three single-product calculations and to the plaintext
reference, product by product."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tanji.cli import requester
from tanji.methodology.graph import build_graph
from tanji.methodology.synthetic import catalogue
from tests.harness.keys import KEY_HOLDER, party_key
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET
from tests.harness.processes import LocalFederation, assert_matches_reference

pytestmark = pytest.mark.integration

ORG, PACK = EXAMPLE_TARGET


def catalogue_chain(dst: Path, models: int) -> list[str]:
    """The example chain with `models` further pack models of its pack maker; every model's id."""
    shutil.copytree(EXAMPLE_CHAIN, dst)
    path = dst / f"{ORG}.json"
    doc = json.loads(path.read_text())
    doc["products"] += catalogue(doc["products"][0], models)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return [p["id"] for p in doc["products"]]


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    products = catalogue_chain(root / "data", 2)
    f = LocalFederation(root, data_dir=root / "data", target=EXAMPLE_TARGET)
    yield f, products
    f.stop()


def spec(fed, products: list[str]) -> requester.CalculationSpec:
    nd = fed.data.nodes[ORG]
    return requester.batch_spec(ORG, nd.model, fed.data.factors, products, state=fed.state / ORG,
                                depth_bound=build_graph(fed.data, EXAMPLE_TARGET).depth(), key_holder=KEY_HOLDER,
                                deadline_seconds=600)


def run(fed, products: list[str]) -> list[dict]:
    cid = requester.start(fed.channel(), party_key(fed.state, ORG), spec(fed, products))
    st = fed.finish(cid)
    assert st.state == requester.S.CALCULATION_STATE_DONE, st.failure_message
    return [json.loads(d) for d in requester.results(fed.channel(), ORG, cid, fed.federation)]


def test_three_models_in_one_pass_equal_three_single_calculations(fed, tmp_path):
    fed, products = fed
    batch = run(fed, products)
    assert [r["product"] for r in batch] == [f"{ORG}/{p}" for p in products]
    assert len({r["calculation"] for r in batch}) == 1
    for product, released in zip(products, batch, strict=True):
        assert_matches_reference(released, fed.data_dir, (ORG, product))
        (single,) = run(fed, [product])
        precision = max(released["precision"], single["precision"])
        assert abs(released["total_kgco2e"] - single["total_kgco2e"]) <= 2 * precision * single["total_kgco2e"]
        for key in ("warnings_count", "fallbacks", "warnings", "declared_unit", "declaration"):
            assert released.get(key) == single.get(key), key
        for key in ("primary_data_share", "dqr"):
            assert released[key] == pytest.approx(single[key], abs=2 * precision)
    written = requester.write_results([json.dumps(r).encode() for r in batch], tmp_path)
    assert [p.name for p in written] == [f"{p}.json" for p in products]


def test_a_product_named_twice_is_refused_before_anything_is_sent(fed):
    with pytest.raises(requester.TanjiError):
        spec(fed[0], [PACK, PACK])


def test_a_catalogue_demo_with_offline_suppliers_falls_back_in_every_model(tmp_path):
    """`tanji demo --all`: the recycler the pack maker buys from and the lithium refiner deeper down
    are offline; every model's result equals its plaintext reference with those fallbacks, the
    bundle verifies, and the pack maker's batched contribution and fallback recompute on site."""
    import subprocess
    import sys

    from tanji.audit.check_node import check_node
    from tanji.audit.verify import verify_bundle
    from tanji.methodology.graph import reference_result
    from tanji.methodology.loader import load_data_dir
    from tanji.node.opening import export_opening
    from tanji.node.store import NodeStore

    products = catalogue_chain(tmp_path / "data", 2)
    out = tmp_path / "out"
    offline = frozenset({"battery-recycler", "lithium-refiner"})
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(tmp_path / "data"), "--all", ORG,
                           "--out", str(out), *(a for o in sorted(offline) for a in ("--offline", o))],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = load_data_dir(tmp_path / "data")
    for product in products:
        released = json.loads((out / "results" / f"{product}.json").read_text())
        ref = json.loads(reference_result(data, (ORG, product), offline).to_json())
        assert abs(released["total_kgco2e"] - ref["total_kgco2e"]) <= 1e-5 * ref["total_kgco2e"]
        for key in ("warnings_count", "warnings", "fallbacks"):
            assert released[key] == ref[key], (product, key)
    bundle = (out / "bundle.tar").read_bytes()
    anchor = bytes.fromhex((out / "state" / "registry" / "anchor.pub").read_text().strip())
    verified = verify_bundle(bundle, anchor)
    assert verified.ok, verified.failed()
    assert [p["product"] for p in verified.summary["products"]] == [f"{ORG}/{p}" for p in products]
    cid = json.loads((out / "results" / f"{products[0]}.json").read_text())["calculation"]
    opening = export_opening(NodeStore(out / "state" / ORG / "node.db"), cid)
    report = check_node(bundle, opening, anchor)
    assert report.ok, report.failed()
    assert any("fallback for battery-recycler" in c.name and c.ok for c in report.checks)


def test_a_batch_cannot_isolate_a_supplier_behind_another_models_suppliers(tmp_path):
    """min_contributors per block: a second model buying only the cell maker's module would put the
    module's footprint alone in its block; the cell maker counts the requester's contributors block
    by block and refuses, as it refuses that model alone (the other model names three suppliers)."""
    from tanji.v1 import common_pb2 as cpb

    catalogue_chain(tmp_path / "data", 1)
    path = tmp_path / "data" / f"{ORG}.json"
    doc = json.loads(path.read_text())
    doc["products"][1]["inputs"] = [i for i in doc["products"][1]["inputs"] if i["supplier"] == "cell-works"]
    path.write_text(json.dumps(doc, indent=1))
    policy = f'approved_customers = ["{ORG}"]\nmin_contributors = 2\n'
    fed = LocalFederation(tmp_path, policies={"cell-works": policy}, data_dir=tmp_path / "data", target=EXAMPLE_TARGET)
    try:
        cid = requester.start(fed.channel(), party_key(fed.state, ORG), spec(fed, [PACK, f"{PACK}-M01"]))
        st = fed.finish(cid)
        assert st.state == requester.S.CALCULATION_STATE_FAILED
        assert st.failure_code == cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS
    finally:
        fed.stop()
