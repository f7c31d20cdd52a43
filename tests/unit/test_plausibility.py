"""Plausibility ceilings on a node's own input: a slip (Wh typed as kWh) is refused at import,
naming file, record and field, and the store keeps its previous version."""
import pytest
from typer.testing import CliRunner

from tanji.cli import app
from tanji.errors import DataError, DataErrors
from tanji.methodology.loader import load_data_dir
from tanji.node.importer import import_files
from tanji.node.plausibility import check, parse_ceilings
from tanji.node.policy import load_policy
from tanji.node.store import NodeStore
from tests.harness.paths import EXAMPLES

DATA = EXAMPLES / "nmc811-pack"


def _first_electricity(model):
    for i, p in enumerate(model.products):
        for j, a in enumerate(p.activities):
            if a.kind == "electricity":
                return i, j, a
    raise AssertionError("the example has electricity")


def test_a_ceiling_refuses_every_amount_above_it_in_any_unit_of_its_dimension():
    nd = load_data_dir(DATA).nodes["cell-works"]
    i, j, a = _first_electricity(nd.model)
    check(nd.model, {"kWh": a.amount * 10}, nd.file)                    # within: passes
    in_mj = {"MJ": (a.amount if a.unit == "MJ" else a.amount * 3.6) / 2}  # half of it, stated in MJ
    with pytest.raises(DataErrors) as info:
        check(nd.model, in_mj, nd.file)
    first = info.value.errors[0]
    assert first.file == nd.file and first.path.startswith("products[")
    assert any(e.path == f"products[{i}].activities[{j}].amount" for e in info.value.errors)


@pytest.mark.parametrize("text,where", [
    ('[ceilings]\nWh = 5\n', "ceilings.Wh"),
    ('[ceilings]\nkWh = -1\n', "ceilings.kWh"),
    ('[ceilings]\nkWh = "lots"\n', "ceilings.kWh"),
    ('ceilings = 5\n', "ceilings"),
])
def test_a_bad_ceiling_is_a_named_error(tmp_path, text, where):
    (tmp_path / "policy.toml").write_text(text)
    with pytest.raises(DataError) as info:
        load_policy(tmp_path)
    assert info.value.path == where and info.value.file == str(tmp_path / "policy.toml")


def test_import_above_a_ceiling_changes_nothing_and_the_cli_says_where(tmp_path):
    store = NodeStore(tmp_path / "node.db")
    _, _, v1 = import_files(store, DATA / "cell-works.json", DATA / "factors.json")
    nd = load_data_dir(DATA).nodes["cell-works"]
    i, j, a = _first_electricity(nd.model)
    (tmp_path / "policy.toml").write_text(f"[ceilings]\n{a.unit} = {a.amount / 2}\n")
    changed = tmp_path / "cell-works.json"
    changed.write_text((DATA / "cell-works.json").read_text().replace('"id": "cell-works"', '"id": "cell-works"', 1)
                       + "\n")  # other bytes, same content: a new version if it were accepted
    with pytest.raises(DataErrors):
        import_files(store, changed, DATA / "factors.json", load_policy(tmp_path).ceilings)
    assert version_of(store) == v1                                # nothing stored
    result = CliRunner().invoke(app, ["node", "import", "--state", str(tmp_path), "--data", str(changed),
                                      "--factors", str(DATA / "factors.json")])
    assert result.exit_code == 2
    assert f"products[{i}].activities[{j}].amount" in result.output   # the field ...
    assert "policy.toml" in result.output                            # ... and the file that sets its ceiling
    assert version_of(store) == v1


def version_of(store: NodeStore) -> int:
    latest = store.latest_data()
    assert latest is not None
    return latest.version


def test_parse_ceilings_accepts_known_units():
    assert parse_ceilings({"kWh": 10, "t": 2.5}, "policy.toml") == {"kWh": 10.0, "t": 2.5}
