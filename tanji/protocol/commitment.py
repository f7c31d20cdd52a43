"""The requester's salted commitment to its own quantities (DESIGN.md "Trust model").

Before a calculation starts, `tanji calc start` commits to the target product's bill of
materials — every (supplier, product, quantity, unit) it will request — as
SHA-256(tag || salt || canonical JSON), and keeps salt and bill in the requester's state
folder. The commitment travels in the signed CALCULATION_REQUEST; the requester's own node
refuses to answer when its data no longer matches, and the key holder refuses to decrypt a
calculation without one. Nothing binds the commitment to the ciphertexts the node sends:
it is an after-the-fact audit hook (an auditor opens it on site), not a proof.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tanji.methodology.formats.nodedata import Product

#: one requested input: supplier, product, quantity, unit
BillLine = dict[str, str | float]

TAG = b"tanji/v1/quantity-commitment\x00"
FOLDER = "commitments"
FILE_TAG = b"tanji/v1/commitment-file\x00"


@dataclass(frozen=True)
class Kept:
    salt: bytes
    bill: list[BillLine]
    commitment: bytes


def bill_of_materials(product: Product) -> list[BillLine]:
    """The quantities a product's answer sends down, in a canonical order."""
    ordered = sorted(product.inputs, key=lambda i: (i.supplier, i.product, i.unit, float(i.quantity)))
    return [{"supplier": i.supplier, "product": i.product, "quantity": float(i.quantity), "unit": i.unit}
            for i in ordered]


def batch_bill(products: Product | list[Product]) -> list[BillLine]:
    """One product's bill, or a batch's (DESIGN §6): every target's lines, each naming its target."""
    if isinstance(products, Product):
        return bill_of_materials(products)
    if len(products) == 1:
        return bill_of_materials(products[0])
    return [{"target": p.id, **line} for p in products for line in bill_of_materials(p)]


def commit(salt: bytes, bill: list[BillLine]) -> bytes:
    canonical = json.dumps(bill, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(TAG + salt + canonical).digest()


def new(product: Product | list[Product]) -> Kept:
    salt = os.urandom(32)
    bill = batch_bill(product)
    return Kept(salt, bill, commit(salt, bill))


def folder(state: Path) -> Path:
    return state / FOLDER


def path_of(state: Path, calculation_id: str) -> Path:
    """Where a calculation's commitment is kept: named by a digest of its id, never by the id itself."""
    return folder(state) / (hashlib.sha256(FILE_TAG + calculation_id.encode()).hexdigest() + ".json")


def save(state: Path, calculation_id: str, kept: Kept) -> Path:
    """Write atomically (temp file, fsync, rename): the node must never read half a commitment. The salt
    opens the commitment: folder 0700, file 0600."""
    path = path_of(state, calculation_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"calculation_id": calculation_id, "salt": kept.salt.hex(), "bill_of_materials": kept.bill,
                   "commitment": kept.commitment.hex()}, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load(state: Path, calculation_id: str) -> Kept | None:
    path = path_of(state, calculation_id)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    return Kept(bytes.fromhex(doc["salt"]), doc["bill_of_materials"], bytes.fromhex(doc["commitment"]))


def opens(kept: Kept, commitment: bytes) -> bool:
    """Does this (salt, bill) open `commitment`? What an auditor checks on site."""
    return commit(kept.salt, kept.bill) == commitment
