"""A catalogue in one pass (DESIGN §6), piece by piece: the batch's homomorphic step on real CKKS,
block by block; the requester's batch spec and its split; the key holder's release per block."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tanji.cli import requester
from tanji.cli.calc_cmd import targets_of
from tanji.cli.demo import DemoFailed, requester_of
from tanji.errors import TanjiError
from tanji.he import default_backend, tasks
from tanji.methodology import slots
from tanji.methodology.loader import load_data_dir
from tanji.methodology.synthetic import catalogue
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET

K, CITATIONS = 3, 4
WIDTH = slots.calc_width(K, CITATIONS)


@pytest.fixture(scope="module")
def keys():
    return tasks.keygen(3, K, CITATIONS)


def own(b: int) -> list[float]:
    """A distinct own(p) per block: stage figures, primary, Σ e·DQR (slots 6 and 7 zero)."""
    return [10.0 * (b + 1), 2.0, 1.0, 0.5, 5.0 * (b + 1), 20.0 * (b + 1) + 7.0, 0.0, 0.0]


def test_the_requesters_batch_puts_each_target_in_its_own_block(keys):
    owns = [x for b in range(K) for x in own(b)]
    quantities = [[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]]   # P0's input (q = 2), P2's input (q = 3)
    cited = [slots.WIDTH * K + 1]
    answer = tasks.answer(keys.public_context, None, owns, [1, 0, 2], quantities, WIDTH, cited, K)
    values = np.asarray(tasks.decrypt(keys.secret_context, answer.contribution, WIDTH)[0])
    for b in range(K):
        expected = own(b)
        expected[slots.WARNINGS] = [1, 0, 2][b]
        assert np.allclose(slots.block(values, b), expected, rtol=1e-7, atol=1e-6), b
    assert np.allclose(values[slots.WIDTH * K:], [0, 1, 0, 0], atol=1e-6)   # one citation per contribution
    for q, req in zip(quantities, answer.requests, strict=True):
        w = np.asarray(tasks.decrypt(keys.secret_context, req, WIDTH)[0])
        for b in range(K):  # Enc(1) · q: q of its target's block, 0 in every other
            assert np.allclose(slots.block(w, b), q[b], atol=1e-6), b


def test_a_supplier_adds_its_warnings_only_in_the_blocks_its_buyers_name(keys):
    weights = [x for q in (2.0, 0.0, 0.5) for x in [q] * slots.WIDTH] + [0.0] * CITATIONS
    ctx = default_backend().load_public_context(keys.public_context)
    ct = ctx.serialize(ctx.encrypt(weights, level=3))
    answer = tasks.answer(keys.public_context, [(ct, 1.0)], own(0), 3, [], WIDTH, [], K, (0, 2))
    values = np.asarray(tasks.decrypt(keys.secret_context, answer.contribution, WIDTH)[0])
    for b, q in enumerate((2.0, 0.0, 0.5)):
        expected = [q * x for x in own(0)]
        expected[slots.WARNINGS] = 3 if b in (0, 2) else 0
        assert np.allclose(slots.block(values, b), expected, rtol=1e-6, atol=1e-5), b


@pytest.mark.parametrize("bad, message", [
    (dict(own_weighted=[1.0] * 5), "slots"), (dict(warnings=[1, 2]), "warning counts"),
    (dict(warn_blocks=(3,)), "outside"), (dict(quantities=[[1.0, 2.0]]), "quantities"),
])
def test_a_batch_step_with_a_wrong_shape_is_refused(keys, bad, message):
    args = dict(own_weighted=own(0), warnings=0, quantities=[], warn_blocks=None) | bad
    with pytest.raises(ValueError, match=message):
        tasks.answer(keys.public_context, None, args["own_weighted"], args["warnings"], args["quantities"], WIDTH,
                     [], K, args["warn_blocks"])


@pytest.fixture(scope="module")
def example():
    return load_data_dir(EXAMPLE_CHAIN)


def spec(example, products, tmp_path, **kw):
    org = EXAMPLE_TARGET[0]
    model = example.nodes[org].model
    model = model.model_copy(update={"products": [*model.products, *(
        type(model.products[0]).model_validate(p) for p in catalogue(model.products[0].model_dump(
            mode="json", by_alias=True, exclude_none=True), 4))]})
    return requester.batch_spec(org, model, example.factors, products, state=tmp_path, depth_bound=6,
                                key_holder="keyholder", deadline_seconds=60, **kw)


def test_a_batch_spec_names_every_target_once(example, tmp_path):
    pack = EXAMPLE_TARGET[1]
    s = spec(example, [pack, f"{pack}-M01", f"{pack}-M03"], tmp_path)
    assert [t.product for t in s.targets] == [pack, f"{pack}-M01", f"{pack}-M03"]
    assert s.product == pack and s.citation_slots == len(example.factors.model.factors)
    with pytest.raises(TanjiError):
        spec(example, [pack, pack], tmp_path)
    with pytest.raises(TanjiError):
        spec(example, [], tmp_path)


def test_a_catalogue_larger_than_the_preset_is_split_into_the_fewest_calculations(example, tmp_path):
    pack = EXAMPLE_TARGET[1]
    s = spec(example, [pack, *(f"{pack}-M{i:02d}" for i in range(1, 5))], tmp_path)
    assert [len(p.targets) for p in requester.split(s, 2)] == [2, 2, 1]
    assert [p.targets[0].product for p in requester.split(s, 2)] == [pack, f"{pack}-M02", f"{pack}-M04"]
    assert requester.split(s, 5)[0].targets == s.targets
    # ckks-n32768-d18 serves depth 6 with 16384 slots: (16384 - 55) // 8 products beside 55 citation slots
    assert requester.most_products(s) == (16384 - s.citation_slots) // 8


def test_results_of_a_batch_are_written_one_file_per_product(tmp_path):
    docs = [json.dumps({"product": f"org/P{i}"}).encode() for i in range(3)]
    paths = requester.write_results(docs, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [f"results/P{i}.json" for i in range(3)]
    assert requester.write_results(docs[:1], tmp_path) == [tmp_path / "result.json"]


def test_a_demo_catalogue_is_one_organisations():
    assert requester_of(["a/P1", "a/P2"], None) == "a"
    assert requester_of([], "a") == "a"
    for products, every in ((["a/P1", "b/P2"], None), (["a/P1"], "a"), ([], None)):
        with pytest.raises(DemoFailed):
            requester_of(products, every)


def test_calc_start_names_its_products_or_all_declared(example):
    nd = example.nodes[EXAMPLE_TARGET[0]]
    assert targets_of(nd, [], True) == [EXAMPLE_TARGET[1]]
    assert targets_of(nd, [f"{EXAMPLE_TARGET[0]}/{EXAMPLE_TARGET[1]}"], False) == [EXAMPLE_TARGET[1]]
    for products, every in (([EXAMPLE_TARGET[1]], True), ([], False), (["NOPE"], False)):
        with pytest.raises(TanjiError):
            targets_of(nd, products, every)
    with pytest.raises(TanjiError):
        targets_of(example.nodes["freight-services"], [], True)   # declares nothing


@pytest.mark.parametrize("args", [
    ["--product", "pack-assembler/PACK-NMC811-80", "--rate-limit", "0"],  # a policy allowing nothing
    ["--product", "a/P1", "--product", "b/P2"],                           # two requesters
    ["--all", "pack-assembler", "--product", "pack-assembler/PACK-NMC811-80"],  # both
    [],                                                                   # no target
])
def test_a_demo_catalogue_misnamed_is_refused_before_anything_starts(tmp_path, args):
    from typer.testing import CliRunner

    from tanji.cli.app import app

    res = CliRunner().invoke(app, ["demo", str(EXAMPLE_CHAIN), "--out", str(tmp_path / "out"), *args])
    assert res.exit_code == 2, res.output
    assert not (tmp_path / "out" / "state").exists()


def _declared(*entries: tuple[str, tuple[int, ...]]):
    """A buyer's declaration: (supplier, blocks) per request; request hashes h0, h1, …"""
    from tanji.v1 import envelope_pb2 as epb

    d = epb.Declaration()
    for i, (supplier, blocks) in enumerate(entries):
        d.requests.add(supplier=supplier, product_id="X", quantity_unit="kg", request_hash=f"h{i}".encode(),
                       blocks=blocks)
    return d


def _request(i: int, blocks: tuple[int, ...]):
    from types import SimpleNamespace

    return SimpleNamespace(hash=f"h{i}".encode(), payload=SimpleNamespace(blocks=list(blocks)),
                           body=SimpleNamespace(sender="req"))


def test_a_supplier_counts_a_batch_buyers_contributors_block_by_block():
    from tanji.node.buyers import contributors_in

    # the requester's batch: target 0 buys from s alone, target 1 from s, t and u
    declared = _declared(("s", (0, 1)), ("t", (1,)), ("u", (1,)))
    assert contributors_in(declared, _request(0, (0, 1)), {"req"}) == 1   # block 0 would isolate s
    assert contributors_in(declared, _request(1, (1,)), {"req"}) == 3
    one_product = _declared(("s", ()), ("t", ()))
    assert contributors_in(one_product, _request(0, ()), {"req"}) == 2


def test_a_declaration_that_misstates_a_requests_blocks_is_refused():
    from tanji.node.buyers import contributors_in
    from tanji.protocol.refusals import Refusal
    from tanji.v1 import common_pb2 as cpb

    with pytest.raises(Refusal) as refused:
        contributors_in(_declared(("s", (1,)), ("t", (1,))), _request(0, (0, 1)), {"req"})
    assert refused.value.code == cpb.REFUSAL_CODE_UNEXPECTED


def test_a_catalogue_is_split_so_that_its_results_fit_one_envelope(example, tmp_path):
    """The key holder signs every document of a calculation in one RESULT, which must fit one
    envelope: `calc start` cuts the catalogue by that budget as well as by the preset's slots."""
    from dataclasses import replace

    from tanji.protocol import limits

    pack = EXAMPLE_TARGET[1]
    s = spec(example, [pack, *(f"{pack}-M{i:02d}" for i in range(1, 5))], tmp_path)
    size = requester.result_bytes(s.targets[0])
    assert 2000 < size < 4000                 # the example's declared pack: about 2.6 kB, room included
    many = replace(s, batch=[replace(s.targets[i % 5], product=f"P{i}") for i in range(400)])
    parts = requester.split(many)
    assert sum(len(p.targets) for p in parts) == 400 and len(parts) > 1
    budget = limits.MAX_ENVELOPE_BYTES - requester.ENVELOPE_MARGIN_BYTES
    for part in parts:
        sizes = [requester.result_bytes(t) for t in part.targets]
        assert sum(sizes) + sizes[0] <= budget
    assert len(parts) == len(requester.split(many, most=10_000))   # the envelope, not the slots, decides


def test_a_result_larger_than_an_envelope_is_withheld_by_name():
    from tanji.keyholder import release
    from tanji.protocol.refusals import Refusal
    from tanji.v1 import common_pb2 as cpb
    from tanji.v1 import envelope_pb2 as epb

    doc = b"x" * 2000
    release.check_size(epb.Result(result_json=doc, batch_results_json=[doc] * 100))
    with pytest.raises(Refusal) as refused:
        release.check_size(epb.Result(result_json=doc, batch_results_json=[doc] * 130))
    assert refused.value.code == cpb.REFUSAL_CODE_TOO_LARGE
