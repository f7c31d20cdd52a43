"""Export a calculation's audit bundle (docs/audit-bundle.md): everything a keyless verifier
needs to re-check the declared total, signed by the coordinator, proven in its log.

An export is a reader: it signs a tree head over the log as it stands (if none covers it yet)
and changes nothing else — no lease, no calculation."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.service import Coordinator
from tanji.coordinator.transactions import reopen, stored
from tanji.coordinator.transparency import leaf_hashes
from tanji.errors import TanjiError
from tanji.protocol import envelope as env
from tanji.protocol import merkle
from tanji.protocol.bundle import BUNDLE_SCHEMA, MANIFEST_TAG, pack_into
from tanji.protocol.identity import COORDINATOR_ID, PROTOCOL_VERSION, SOFTWARE_VERSION


def _head_json(row: db.TreeHeadRow) -> dict:
    return {"log_id": COORDINATOR_ID, "tree_size": row.tree_size, "root": row.root.hex(),
            "timestamp_ms": row.timestamp_ms, "signature": row.signature.hex()}


def export_bundle(coord: Coordinator, cid: str, federation_file: Path, federation_sig: Path, out: BinaryIO) -> None:
    """Write the bundle of calculation `cid` to `out` as a tar (deterministic member order and metadata),
    one ciphertext in memory at a time: the object store proves each one's SHA-256 as it reads it,
    so the manifest names it by its digest without reading it first."""
    files: dict[str, bytes] = {}
    with coord.core.transaction() as s:
        calc = s.get(db.Calculation, cid)
        if calc is None:
            raise TanjiError(f"unknown calculation {cid!r}")
        if calc.result_hash is None:
            raise TanjiError(f"calculation {cid} has no result yet ({calc.state}); nothing to audit")
        leaves = leaf_hashes(s)
        rows = list(s.scalars(select(db.LogLeaf).where(db.LogLeaf.calculation_id == cid).order_by(db.LogLeaf.index)))
        head = coord.transparency.issue_tree_head(s)
        earlier = s.scalars(select(db.TreeHeadRow).where(db.TreeHeadRow.tree_size < head.tree_size)
                            .order_by(db.TreeHeadRow.tree_size.desc()).limit(1)).first()
        tree = merkle.MerkleLog.from_leaf_hashes(leaves[:head.tree_size])  # every subtree hashed once
        proofs = {}
        objects: set[bytes] = set()
        for n, leaf in enumerate(rows):
            envelope = stored(s, leaf.envelope_hash)
            opened = env.reopen(envelope)
            kind = opened.type_name.removeprefix("MESSAGE_TYPE_").lower()
            name = f"envelopes/{n:05d}-{kind}-{leaf.envelope_hash.hex()[:16]}.pb"
            files[name] = envelope.SerializeToString()
            objects.update(opened.body.object_hashes)
            proofs[leaf.envelope_hash.hex()] = {"index": leaf.index, "proof": [
                h.hex() for h in tree.inclusion_proof(leaf.index)]}
        log: dict[str, object] = {"tree_head": _head_json(head), "leaves": proofs}
        if earlier is not None:
            log["earlier_head"] = _head_json(earlier)
            log["consistency"] = [h.hex() for h in tree.consistency_proof(earlier.tree_size)]
        agg = reopen(s, calc.aggregate_hash).payload
        result = reopen(s, calc.result_hash)
        request = reopen(s, calc.request_hash)
        preset = reopen(s, calc.key_announcement_hash).payload.preset
    held = {f"objects/{digest.hex()}": digest for digest in objects}
    files["aggregation.json"] = json.dumps({"order": [h.hex() for h in agg.contribution_hashes],
                                            "output": agg.output_ciphertext_hash.hex()}, indent=1).encode()
    files["log.json"] = json.dumps(log, indent=1).encode()
    if result.body.message_type == env.MT.MESSAGE_TYPE_RESULT:
        files["result.json"] = result.payload.result_json
        batch = list(request.payload.products) if result.payload.batch_results_json else []
        for item, doc in zip(batch, result.payload.batch_results_json, strict=False):
            files[f"results/{item.product_id}.json"] = doc
    files["federation.json"] = Path(federation_file).read_bytes()
    files["federation.sig"] = Path(federation_sig).read_bytes()
    req = request.payload
    manifest = {
        "schema": BUNDLE_SCHEMA, "calculation": cid, "requester": request.body.sender,
        "product": f"{req.target_organisation}/{req.products[0].product_id}",
        **({"products": [f"{req.target_organisation}/{i.product_id}" for i in req.products]}
           if len(req.products) > 1 else {}),
        "method": {"name": request.body.method_profile.name, "version": request.body.method_profile.version},
        "key_holder": req.key_holder, "key_fingerprint": calc.key_fingerprint.hex(),
        "ckks_params_hash": calc.params_hash.hex(), "preset": preset,
        "factor_set": {"id": req.factor_set_id, "sha256": request.body.factor_set_hash.hex()},
        "software_version": SOFTWARE_VERSION, "protocol_version": PROTOCOL_VERSION,
        "coordinator": COORDINATOR_ID,
        "files": {**{name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
                  **{name: digest.hex() for name, digest in held.items()}},
    }
    files["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    files["manifest.sig"] = coord.key.sign(MANIFEST_TAG, files["manifest.json"])
    pack_into(out, sorted([*files, *held]),
              lambda name: files[name] if name in files else coord.objects.get(held[name]))


def write_bundle(state: Path, cid: str, federation_file: Path, out: Path, database: str | None = None) -> None:
    """Open the coordinator's state read-mostly and write the calculation's bundle to `out`."""
    from tanji.coordinator.storage import open_storage
    from tanji.protocol.federation import Federation
    from tanji.protocol.signing import SigningKey

    sig = Path(str(federation_file).removesuffix(".json") + ".sig")
    if not sig.exists():
        raise TanjiError(f"{sig}: the registry's signature of the federation list is missing")
    storage = open_storage(state, database)  # PostgreSQL: the objects are in the database too
    coord = Coordinator(storage.sessions, storage.objects, SigningKey.load_or_create(state / "envelope-key.pem"),
                        Federation.load(federation_file))  # a reader: constructing it writes nothing
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            export_bundle(coord, cid, federation_file, sig, f)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    storage.engine.dispose()
