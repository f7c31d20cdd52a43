"""`tanji node audit-export`: the opening of this node's contributions, for a verifier on site.

It holds raw data — the node-data file version and factor set the calculation used,
the salted record each contribution committed to, the exact fresh ciphertext R
added and the Enc(w) multiplied — so it is handed over on site, never sent.
"""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tanji.errors import TanjiError
from tanji.infra.runtime import write_private
from tanji.node.store import CalcRecord, DataVersion, FactorSetRow, NodeStore
from tanji.protocol.bundle import pack

OPENING_SCHEMA = "tanji.opening/1"


def export_opening(store: NodeStore, cid: str) -> bytes:
    files: dict[str, bytes] = {}
    entries = []
    with store.sessions() as s:
        records = list(s.scalars(select(CalcRecord).where(CalcRecord.calculation_id == cid)))
        if not records:
            raise TanjiError(f"this node holds no contribution to calculation {cid!r}")
        org = None
        for rec in records:
            h = rec.contribution_hash.hex()
            data = s.get(DataVersion, rec.data_version)
            fs = s.get(FactorSetRow, data.factor_set_sha256) if data is not None else None
            if data is None or fs is None or rec.fresh is None or rec.weights is None:
                raise TanjiError(f"contribution {h[:12]} cannot be opened: this node's store lacks its data version, "
                                 "factor set or ciphertexts")
            files[f"data/{data.sha256}.json"] = data.content
            files[f"factors/{fs.sha256}.json"] = fs.content
            files[f"records/{h}.json"] = rec.record
            files[f"fresh/{h}.ct"] = rec.fresh
            files[f"weights/{h}.tar"] = rec.weights
            org = json.loads(rec.record)["organisation"]
            entries.append({"contribution": h, "product": rec.product, "salt": rec.salt.hex(),
                            "fallback_of": rec.fallback_of, "data": f"data/{data.sha256}.json",
                            "factors": f"factors/{fs.sha256}.json"})
    files["opening.json"] = json.dumps({"schema": OPENING_SCHEMA, "calculation": cid, "organisation": org,
                                        "entries": entries}, indent=1).encode()
    return pack(files)


def write_opening(state: Path, cid: str, out: Path) -> int:
    """Write the opening readable by its owner only (0600): it holds raw data."""
    data = export_opening(NodeStore(state / "node.db"), cid)
    write_private(out, data)
    return len(data)
