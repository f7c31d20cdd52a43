"""Issue #12: a node registers the supply edges its own data implies and the customers its policy
approves — at start, when its policy.toml changes and when new data is imported while it runs — and
keeps the customers the coordinator names back (tanji.node.customers)."""
import pytest

from tanji.node import daemon
from tanji.node.customers import read_customers
from tanji.node.importer import import_files
from tanji.node.policy import Policy
from tanji.v1 import node_pb2 as npb
from tests.harness.data import bought, factors_doc, node_doc, product_doc, write_dir
from tests.harness.world import offline_node


class Recorder:
    """The coordinator's Register, as the node's client calls it."""

    def __init__(self):
        self.registrations = []

    def __call__(self, registration):
        self.registrations.append(registration)
        return npb.RegisterResponse(customers=[npb.Customer(buyer="pack-co", buyer_product="PACK",
                                                            supplier_product="CELL", buyer_suppliers=2)])


@pytest.fixture
def node(tmp_path):
    n = offline_node(tmp_path, policy=Policy(approved_customers=frozenset({"pack-co"})))
    n.site.state = tmp_path / "state"
    n.policy_file = daemon.Watched(n.site.state / "policy.toml")
    n.client.register = Recorder()  # type: ignore[method-assign]
    yield n
    n.pool.shutdown()


def test_the_registration_names_the_edges_of_its_data_and_the_customers_it_approves(node):
    reg = node.registration()
    assert list(reg.product_ids) == ["CELL"] and list(reg.supply_edges) == []
    assert list(reg.approved_customers) == ["pack-co"] and not reg.approves_everyone


def test_a_changed_policy_is_reloaded_and_registered(node):
    (node.site.state / "policy.toml").write_text('approved_customers = ["pack-co", "pack-2"]\n')
    node.tick()
    (reg,) = node.client.register.registrations
    assert list(reg.approved_customers) == ["pack-2", "pack-co"]
    assert node.site.policy.approved_customers == {"pack-co", "pack-2"}
    assert [c.buyer for c in read_customers(node.site.state)] == ["pack-co"]
    node.tick()
    assert len(node.client.register.registrations) == 1   # unchanged: not registered again


def test_data_imported_while_running_registers_its_new_edges(node, tmp_path):
    act = [{"kind": "electricity", "amount": 3.0, "unit": "kWh", "model": "national_average"}]
    d = write_dir(tmp_path / "v2", factors_doc(), node_doc("cell-co", [
        product_doc("CELL", activities=act, inputs=[bought("anode-co", "ANODE", 1.0, "kg")])]))
    import_files(node.store, d / "cell-co.json", d / "factors.json")
    node.reload_data()
    (reg,) = node.client.register.registrations
    assert [(e.buyer_product, e.supplier, e.supplier_product) for e in reg.supply_edges] == \
        [("CELL", "anode-co", "ANODE")]
    assert node.site.version == 2
    node.reload_data()
    assert len(node.client.register.registrations) == 1
