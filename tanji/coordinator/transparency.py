"""The transparency log: every accepted envelope is a leaf (appended at its transaction's commit,
tanji.coordinator.transactions), signed tree heads over it, and inclusion proofs for any party.

Every head the coordinator signs must stay consistent with the later ones (RFC 6962); a party
holding an earlier head can ask for the proof.
"""
from __future__ import annotations

from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.transactions import Core, append_pending, lock_head
from tanji.protocol import merkle
from tanji.protocol.identity import COORDINATOR_ID

#: an envelope hash, its leaf index (None: not logged) and its audit path
Proof = tuple[bytes, int | None, list[bytes]]


def leaf_hashes(s) -> list[bytes]:
    return list(s.scalars(select(db.LogLeaf.leaf_hash).order_by(db.LogLeaf.index)))


class TransparencyLog:
    def __init__(self, core: Core):
        self.core = core

    def issue_tree_head(self, s) -> db.TreeHeadRow:
        """Sign the log's current head (inside the caller's transaction; reused if the log did not grow)."""
        append_pending(s)
        lock_head(s)  # held to the commit: no replica appends meanwhile
        leaves = leaf_hashes(s)
        row = s.get(db.TreeHeadRow, len(leaves))
        if row is not None:
            return row
        head = merkle.TreeHead(log_id=COORDINATOR_ID, tree_size=len(leaves), root=merkle.root(leaves),
                               timestamp_ms=int(db.now().timestamp() * 1000))
        row = db.TreeHeadRow(tree_size=head.tree_size, root=head.root, timestamp_ms=head.timestamp_ms,
                             signature=merkle.sign_tree_head(head, self.core.key))
        s.add(row)
        s.flush()
        return row

    def prove_inclusion(self, hashes: list[bytes]) -> tuple[db.TreeHeadRow, list[Proof]]:
        """A fresh signed head and, per envelope hash, its index and audit path (None: not logged)."""
        with self.core.transaction() as s:
            head = self.issue_tree_head(s)
            leaves = leaf_hashes(s)[:head.tree_size]
            out: list[Proof] = []
            for h in hashes:
                row = s.scalar(select(db.LogLeaf).where(db.LogLeaf.envelope_hash == h))
                if row is None or row.index >= head.tree_size:
                    out.append((h, None, []))
                else:
                    out.append((h, row.index, merkle.inclusion_proof(leaves, row.index)))
            return head, out
