"""`tanji simulate` refuses bad arguments before any process starts: exit 2, one error line, nothing
written; organisations are dealt to the pool processes so every tier spreads over all of them."""
from __future__ import annotations

from typer.testing import CliRunner

from tanji.cli.app import app
from tanji.cli.simulation import pools
from tanji.methodology import synthetic


def _run(*args: str):
    return CliRunner().invoke(app, ["simulate", *args])


def _chain(tmp_path):
    org, product = synthetic.write(synthetic.Shape(6, 2, 2, seed=1), tmp_path / "chain")
    return tmp_path / "chain", f"{org}/{product}"


def test_a_missing_folder_is_refused(tmp_path):
    res = _run(str(tmp_path / "absent"), "--product", "a/b", "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert "absent" in res.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_product_is_refused(tmp_path):
    chain, _ = _chain(tmp_path)
    res = _run(str(chain), "--product", f"{synthetic.PACK_ORG}/NO-SUCH", "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert "NO-SUCH" in res.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_organisation_is_refused(tmp_path):
    chain, _ = _chain(tmp_path)
    res = _run(str(chain), "--product", "nobody/P", "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_bad_worker_counts_are_refused(tmp_path):
    chain, target = _chain(tmp_path)
    for workers in ("0", "-1", "65"):
        res = _run(str(chain), "--product", target, "--workers", workers, "--out", str(tmp_path / "out"))
        assert res.exit_code == 2, (workers, res.output)
        assert "--workers" in res.output
    res = _run(str(chain), "--product", target, "--workers", "two", "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_one_requester_per_run(tmp_path):
    chain, target = _chain(tmp_path)
    res = _run(str(chain), "--product", target, "--product", "t1-0000/T1-0000-P", "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert "--product" in res.output
    assert not (tmp_path / "out").exists()


def test_organisations_are_dealt_round_robin():
    orgs = [f"o{i}" for i in range(7)]
    dealt = pools(orgs, 3)
    assert dealt == [["o0", "o3", "o6"], ["o1", "o4"], ["o2", "o5"]]
    assert pools(orgs[:2], 4) == [["o0"], ["o1"]]  # never an empty pool process
