"""The requester's quantity commitment: hiding (salted), binding to every quantity, order-free."""
from tanji.methodology.loader import load_data_dir
from tanji.protocol import commitment
from tests.harness.paths import EXAMPLES


def _pack():
    return load_data_dir(EXAMPLES / "nmc811-pack").nodes["pack-assembler"].model.product("PACK-NMC811-80")


def test_a_commitment_opens_with_its_salt_and_bill_and_is_kept_atomically(tmp_path):
    kept = commitment.new(_pack())
    path = commitment.save(tmp_path, "calc-1", kept)
    assert path.parent == commitment.folder(tmp_path) and not list(path.parent.glob("*.tmp"))
    again = commitment.load(tmp_path, "calc-1")
    assert again == kept and commitment.opens(again, kept.commitment)
    assert commitment.load(tmp_path, "calc-2") is None


def test_it_binds_every_quantity_and_hides_behind_its_salt():
    product = _pack()
    kept = commitment.new(product)
    for j in range(len(product.inputs)):
        changed = product.model_copy(update={"inputs": [
            i.model_copy(update={"quantity": i.quantity + (1e-9 if k == j else 0)})
            for k, i in enumerate(product.inputs)]})
        assert commitment.commit(kept.salt, commitment.bill_of_materials(changed)) != kept.commitment
    reordered = product.model_copy(update={"inputs": list(reversed(product.inputs))})
    assert commitment.commit(kept.salt, commitment.bill_of_materials(reordered)) == kept.commitment
    assert commitment.new(product).commitment != kept.commitment     # a fresh salt: no dictionary over BOMs
