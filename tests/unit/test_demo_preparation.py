"""What `tanji demo` settles before any process starts (decision 0018), without processes: the factor
set found by name, `node check --org-only` telling an organisation's id and nothing else, and the
default depth bound serving the example chain under the preset its own depth needs."""
import shutil

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tanji.cli import app
from tanji.cli.demo import DEFAULT_DEPTH_BOUND, FACTORS_FILE, run_demo
from tanji.errors import DataError
from tanji.he.presets import preset_for
from tanji.methodology import slots
from tanji.methodology.graph import build_graph
from tanji.methodology.loader import load_data_dir
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET

runner = CliRunner()
FACTORS = EXAMPLE_CHAIN / FACTORS_FILE


def test_org_only_prints_the_organisation_id_and_nothing_of_its_data():
    res = runner.invoke(app, ["node", "check", str(EXAMPLE_CHAIN / "cell-works.json"), "--factors", str(FACTORS),
                              "--org-only"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "cell-works\n"


def test_org_only_of_a_refused_file_lists_its_problems_and_exits_2(tmp_path):
    bad = tmp_path / "cell-works.json"
    bad.write_text((EXAMPLE_CHAIN / "cell-works.json").read_text().replace('"kWh"', '"lb"', 1))
    res = runner.invoke(app, ["node", "check", str(bad), "--factors", str(FACTORS), "--org-only"])
    assert res.exit_code == 2
    assert res.stdout.startswith(f"{bad}: products[") and "cell-works\n" not in res.stdout


def test_a_folder_without_factors_json_is_refused_naming_it(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE_CHAIN, data)
    (data / FACTORS_FILE).rename(data / "factor-set.json")
    with pytest.raises(DataError) as err:
        run_demo(data, "/".join(EXAMPLE_TARGET), tmp_path / "out", Console(quiet=True))
    assert err.value.file == str(data / FACTORS_FILE)
    assert not (tmp_path / "out").exists()


def test_a_folder_with_no_organisation_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(FACTORS, tmp_path / "data" / FACTORS_FILE)
    with pytest.raises(DataError) as err:
        run_demo(tmp_path / "data", "/".join(EXAMPLE_TARGET), tmp_path / "out", Console(quiet=True))
    assert (err.value.file, err.value.path) == (str(tmp_path / "data"), "(directory)")


def test_the_default_depth_bound_keeps_the_example_chain_on_the_preset_its_depth_needs():
    data = load_data_dir(EXAMPLE_CHAIN)
    depth = build_graph(data, EXAMPLE_TARGET).depth()
    width = slots.calc_width(1, len(data.factors.model.factors))
    assert depth == 6 and DEFAULT_DEPTH_BOUND == 7
    assert preset_for(DEFAULT_DEPTH_BOUND, width).name == preset_for(depth, width).name == "ckks-n16384-d7"
    assert preset_for(DEFAULT_DEPTH_BOUND, width).name == preset_for(3, width).name   # any chain of 3..7 tiers
