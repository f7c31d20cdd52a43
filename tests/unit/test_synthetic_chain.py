"""`tanji generate-chain` (tanji.methodology.synthetic): valid FORMATS 1.1 data of the shape asked
for — every organisation reached, the depth exact, a DAG with shared suppliers, every electricity
model and some warnings — and the same bytes for the same seed."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tanji.cli import app
from tanji.methodology import synthetic
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir


@pytest.mark.parametrize("orgs,depth,fan_out", [(2, 1, 1), (11, 6, 2), (100, 6, 3), (1000, 6, 3)])
def test_the_chain_has_the_shape_asked_for_and_a_reference_result(tmp_path, orgs, depth, fan_out):
    target = synthetic.write(synthetic.Shape(orgs, depth, fan_out, seed=7), tmp_path / "chain")
    data = load_data_dir(tmp_path / "chain")          # validated as any node file is
    graph = build_graph(data, target)
    assert len(data.nodes) == orgs and len(graph.order) == orgs and graph.depth() == depth
    result = reference_result(data, target)
    share, dqr = result.primary_data_share, result.dqr
    assert result.total_kgco2e > 0 and share is not None and 0 < share < 1 and dqr is not None and 1 <= dqr <= 5
    if orgs >= 100:
        buyers: dict[str, int] = {}
        for edges in graph.edges.values():
            for e in edges:
                buyers[e.supplier[0]] = buyers.get(e.supplier[0], 0) + 1
        assert max(buyers.values()) > 1                   # shared suppliers: merged requests
        records = [a for n in data.nodes.values() for p in n.model.products for a in p.activities]
        models = {a.model for a in records if a.kind == "electricity"}
        assert models == {"direct", "green_certificate", "regional_grid", "national_average"}
        assert result.warnings_count > 0
        assert {n.model.organisation.country for n in data.nodes.values()} > {"CN"}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_ones(tmp_path):
    shape = synthetic.Shape(40, 4, 2, seed=1)
    synthetic.write(shape, tmp_path / "a")
    synthetic.write(shape, tmp_path / "b")
    synthetic.write(synthetic.Shape(40, 4, 2, seed=2), tmp_path / "c")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())

    def read(folder: str) -> list[bytes]:
        return [(tmp_path / folder / f).read_bytes() for f in files]
    assert read("a") == read("b") and read("a") != read("c")


def test_the_command_prints_the_target_and_refuses_what_it_cannot_write(tmp_path):
    runner = CliRunner()
    out = tmp_path / "chain"
    ok = runner.invoke(app, ["generate-chain", "--orgs", "12", "--depth", "3", "--out", str(out)])
    assert ok.exit_code == 0 and ok.stdout.strip() == f"{synthetic.PACK_ORG}/{synthetic.PACK}"
    assert json.loads((out / "factors.json").read_text())["schema"] == "tanji.factor-set/1"
    again = runner.invoke(app, ["generate-chain", "--orgs", "12", "--depth", "3", "--out", str(out)])
    assert again.exit_code == 2                        # not an empty folder: nothing overwritten
    small = runner.invoke(app, ["generate-chain", "--orgs", "3", "--depth", "4", "--out", str(tmp_path / "x")])
    assert small.exit_code == 2 and not Path(tmp_path / "x").exists()
