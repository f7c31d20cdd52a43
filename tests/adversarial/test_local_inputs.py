"""Negative and overflowing values at their source: a node's own import and encryption.

Fast and in-process (no federation): the over-the-wire half of these attacks — a malicious node
that bypasses its own checks — is in test_malicious_parties.py, where the key holder withholds.
"""
import pytest
from typer.testing import CliRunner

from tanji.cli import app
from tanji.he import ValueOutOfRange
from tanji.he import tasks as he_tasks
from tanji.methodology import slots
from tanji.node.store import NodeStore
from tests.harness.data import factors_doc, node_doc, product_doc, write_dir


def _import(tmp_path, activity_amount=5.0, quantity=1.0):
    data = write_dir(tmp_path / "data", factors_doc(), node_doc("x", [product_doc(
        "P", activities=[{"kind": "material", "factor": "material.steel", "amount": activity_amount, "unit": "kg"}],
        inputs=[{"supplier": "y", "product": "Q", "quantity": quantity, "unit": "kg"}])]))
    result = CliRunner().invoke(app, ["node", "import", "--state", str(tmp_path / "state"),
                                      "--data", str(data / "x.json"), "--factors", str(data / "factors.json")])
    return result, " ".join(result.output.split()), data / "x.json"


@pytest.mark.parametrize("field,kwargs,path", [
    ("amount", {"activity_amount": -5.0}, "products[0].activities[0].amount"),
    ("quantity", {"quantity": -2.0}, "products[0].inputs[0].quantity"),
])
def test_a_negative_amount_is_refused_at_import_naming_file_and_field(tmp_path, field, kwargs, path):
    """A negative amount would subtract from the total (CKKS has no sign check): the node refuses
    the file whole, naming the file, the record and the rule, and stores nothing."""
    result, output, file = _import(tmp_path, **kwargs)
    assert result.exit_code == 2
    assert f"{file}: {path}: " in output   # the file and the field, whatever the wording of the rule
    assert NodeStore(tmp_path / "state" / "node.db").latest_data() is None


def test_the_honest_import_is_accepted(tmp_path):
    result, _, _ = _import(tmp_path)
    assert result.exit_code == 0, result.output


def test_a_node_refuses_to_encrypt_a_footprint_beyond_the_multiplier_cap():
    """An amount that passes import (no ceiling set) with a footprint beyond the backend's
    multiplier cap (1e12): the node's own encryption step refuses it by name (the daemon turns
    this into a named refusal of the request) rather than send a ciphertext that would wrap
    around. Below the cap but above the preset's max_value (2^24), the key holder withholds the
    total as out of bounds (test_malicious_parties)."""
    keys = he_tasks.keygen(1)
    own = [2e13, 0, 0, 0, 2e13, 3e13, 0, 0]
    with pytest.raises(ValueOutOfRange):
        he_tasks.answer(keys.public_context, None, own, 0, [], slots.WIDTH)
