"""`tanji reference`: output, the not-private notice, exit codes."""
import json

from typer.testing import CliRunner

from tanji.cli import app
from tests.harness.data import MIIT, factors_doc, node_doc, product_doc, write_dir

runner = CliRunner()


def small_dir(tmp_path):
    return write_dir(tmp_path / "data", factors_doc(), node_doc("a", [product_doc(
        "A", unit="piece", declaration=MIIT,
        activities=[{"kind": "direct", "amount": 900.0, "unit": "kgCO2e"}])]))


def test_writes_the_result_to_stdout_and_says_it_is_not_private(tmp_path):
    res = runner.invoke(app, ["reference", str(small_dir(tmp_path)), "--product", "a/A"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "tanji.result/1" and doc["total_kgco2e"] == 900.0
    assert doc["per_kwh_kgco2e"] == 900.0 / (50 * 2000 * 0.9)
    assert "plaintext reference" in res.stderr and "NOT private" in res.stderr


def test_writes_to_a_file_with_out(tmp_path):
    out = tmp_path / "o" / "result.json"
    res = runner.invoke(app, ["reference", str(small_dir(tmp_path)), "--product", "a/A", "--out", str(out)])
    assert res.exit_code == 0 and res.stdout == ""
    assert json.loads(out.read_text())["product"] == "a/A"


def test_bad_input_exits_2_naming_the_problem(tmp_path):
    d = small_dir(tmp_path)
    res = runner.invoke(app, ["reference", str(d), "--product", "a/NOPE"])
    assert res.exit_code == 2 and "'NOPE'" in res.stderr   # names the product
    (d / "a.json").write_text('{"schema": "tanji.node-data/1", "organisation": {"id": "a"}, "products": []}')
    res = runner.invoke(app, ["reference", str(d), "--product", "a/A"])
    assert res.exit_code == 2 and "a.json: products:" in res.stderr
    res = runner.invoke(app, ["reference", str(tmp_path / "missing"), "--product", "a/A"])
    assert res.exit_code == 2 and "missing" in res.stderr   # names the folder
    res = runner.invoke(app, ["reference", str(d)])
    assert res.exit_code == 2  # usage error: --product is required
