"""Onboarding (`tanji federation init`, `tanji demo`) gives every supplier a rate limit by default
(#11 item 5), with the minimum of contributors counted as the node counts it: distinct organisations
besides the buyer (tanji.cli.demo.write_policies)."""
import json
import shutil

from tanji.cli.demo import DEFAULT_RATE_LIMIT, write_policies
from tanji.methodology.loader import load_data_dir
from tanji.node.policy import load_policy
from tests.harness.paths import EXAMPLE_CHAIN


def test_every_onboarded_node_is_rate_limited_and_keeps_a_policy_it_already_has(tmp_path):
    state = tmp_path / "state"
    (state / "freight-services").mkdir(parents=True)
    (state / "freight-services" / "policy.toml").write_text('approved_customers = ["pack-assembler"]\n')
    data = load_data_dir(EXAMPLE_CHAIN)
    write_policies(state, data)
    for org in data.nodes:
        policy = load_policy(state / org)
        if org == "freight-services":
            assert policy.rate_limit is None          # its own policy is kept as written
        else:
            assert policy.rate_limit == (DEFAULT_RATE_LIMIT[0], float(DEFAULT_RATE_LIMIT[1])), org


def test_a_minimum_is_demanded_only_where_every_buyer_names_two_other_organisations(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(EXAMPLE_CHAIN, data_dir)
    path = data_dir / "pack-assembler.json"
    doc = json.loads(path.read_text())
    doc["products"].append({"id": "DUMMY", "unit": "piece", "stage": "manufacturing",
                            "activities": doc["products"][0]["activities"][2:3]})
    doc["products"].append({**doc["products"][0], "id": "PACK-ISO", "inputs": [
        {"supplier": "cell-works", "product": "MODULE-NMC811-16C", "quantity": 10, "unit": "piece"},
        {"supplier": "pack-assembler", "product": "DUMMY", "quantity": 1, "unit": "piece"}]})
    path.write_text(json.dumps(doc))
    write_policies(tmp_path / "state", load_data_dir(data_dir))
    assert load_policy(tmp_path / "state" / "cell-works").min_contributors is None  # PACK-ISO names one other
    write_policies(tmp_path / "plain", load_data_dir(EXAMPLE_CHAIN))
    assert load_policy(tmp_path / "plain" / "cell-works").min_contributors == 2
