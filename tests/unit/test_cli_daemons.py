"""Daemon and requester commands: configuration from file and environment; refused data never served."""
import json

from typer.testing import CliRunner

from tanji.cli import app
from tests.harness.data import MIIT, factors_doc, node_doc, product_doc, write_dir

runner = CliRunner()


def data(tmp_path):
    return write_dir(tmp_path / "data", factors_doc(), node_doc("a", [product_doc(
        "A", unit="piece", declaration=MIIT, activities=[{"kind": "direct", "amount": 9.0, "unit": "kgCO2e"}])]))


def test_node_import_reads_options_from_a_config_file(tmp_path):
    d = data(tmp_path)
    cfg = tmp_path / "tanji.toml"
    cfg.write_text(f'[node.import]\nstate = "{tmp_path / "st"}"\ndata = "{d / "a.json"}"\n'
                   f'factors = "{d / "factors.json"}"\n')
    res = runner.invoke(app, ["--config", str(cfg), "node", "import"])
    assert res.exit_code == 0, res.output
    assert "imported a: 1 products, data version 1" in res.stderr
    res = runner.invoke(app, ["node", "import"], env={"TANJI_CONFIG": str(cfg)})
    assert res.exit_code == 0 and "data version 1" in res.stderr  # same bytes: same version


def test_a_refused_file_is_not_imported_and_says_why(tmp_path):
    d = data(tmp_path)
    bad = json.loads((d / "a.json").read_text())
    bad["products"][0]["activities"][0]["amount"] = "9"
    (d / "bad.json").write_text(json.dumps(bad))
    res = runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data", str(d / "bad.json"),
                              "--factors", str(d / "factors.json")])
    assert res.exit_code == 2 and "bad.json: products[0].activities[0].amount" in res.stderr
    res = runner.invoke(app, ["node", "serve", "--org", "a", "--state", str(tmp_path / "st"), "--federation",
                              str(tmp_path / "none.json"), "--coordinator", "127.0.0.1:1",
                              "--data", str(d / "bad.json"), "--factors", str(d / "factors.json")])
    assert res.exit_code == 2 and "products[0].activities[0].amount" in res.stderr
    assert not (tmp_path / "st" / "ready").exists()


def test_bad_config_file_is_a_clear_error(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[node.import\n")
    res = runner.invoke(app, ["--config", str(cfg), "node", "import"])
    assert res.exit_code == 2 and f"{cfg}: " in res.stderr   # names the file it cannot read


def test_calc_start_refuses_a_method_that_does_not_apply(tmp_path):
    """A product without a declaration is a product footprint under a known method; a declaration keeps
    its own method; an unreachable coordinator is a one-line error, not a traceback."""
    d = write_dir(tmp_path / "d2", factors_doc(),
                  node_doc("a", [product_doc("B"), product_doc("P", unit="piece", declaration=MIIT)]))
    runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data", str(d / "a.json"),
                        "--factors", str(d / "factors.json")])

    def start(*args: str):
        return runner.invoke(app, ["calc", "start", "--state", str(tmp_path / "st"), "--federation", "f.json",
                                   "--coordinator", "127.0.0.1:1", "--depth", "1", *args])

    res = start("--product", "B", "--method", "nope")
    assert res.exit_code == 2 and "'nope'" in res.stderr and "--method" in res.stderr
    res = start("--product", "P", "--method", "eu-2023-1542")
    assert res.exit_code == 2 and "a/P declares method 'miit-2025'" in res.stderr
    res = start("--product", "B")   # a product footprint: refused only because nobody listens there
    assert res.exit_code == 2 and "UNAVAILABLE" in res.stderr


def test_federation_init_onboards_every_party_from_join_requests_only(tmp_path):
    from tanji.protocol.federation import Federation, check_list, read_anchor

    requests = []
    for party, group in (("coordinator", "coordinator"), ("keyholder", "keyholder"), ("cell-works", "node")):
        res = runner.invoke(app, [group, "init", "--state", str(tmp_path / party), "--org", party,
                                  "--host", "coordinator.internal"])
        assert res.exit_code == 0, res.output
        requests.append(str(tmp_path / party / "join-request.json"))
    reg = tmp_path / "registry"
    res = runner.invoke(app, ["federation", "init", *requests, "--dir", str(reg)])
    assert res.exit_code == 0, res.output
    fed_bytes = (reg / "federation.json").read_bytes()
    check_list(fed_bytes, (reg / "federation.sig").read_bytes(), read_anchor(reg / "anchor.pub"))
    fed = Federation.parse(fed_bytes)
    assert fed.version == 4 and fed.parties["keyholder"].role == "key_holder"
    assert {p.name for p in (reg / "issued").iterdir()} == {"coordinator", "keyholder", "cell-works"}
    assert {p.name for p in reg.rglob("*.key")} == {"ca.key"}  # no party's TLS key
