"""What every part of the node works with: who it is, its imported data, its store, its
dial-out client and its HE worker. One per running node; the handlers take it as their first
argument, so each module holds one job and none holds the node's state."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tanji.infra.party_client import PartyClient
from tanji.infra.workers import OnDemandWorkers
from tanji.methodology.loader import LoadedFactorSet, LoadedNodeData
from tanji.node.policy import Policy
from tanji.node.store import NodeStore
from tanji.protocol.federation import Federation
from tanji.protocol.signing import SigningKey


@dataclass
class Site:
    org: str
    key: SigningKey
    store: NodeStore
    data: LoadedNodeData
    factors: LoadedFactorSet
    version: int                 #: the imported data version every answer names
    federation: Federation
    client: PartyClient
    pool: OnDemandWorkers        #: the HE worker (TenSEAL holds the GIL; heartbeats keep flowing), while needed
    policy: Policy
    state: Path                  #: where `tanji calc start` keeps this node's quantity commitments

    def key_of(self, party: str) -> bytes | None:
        return self.federation.key_of(party)

    def pull(self, cid: str, digest: bytes, max_bytes: int) -> bytes:
        """An object checked against its name: other bytes or an oversized object raise a
        TransferError, a Refusal with its code, and are never used."""
        return self.client.pull_object(cid, digest, max_bytes)

    def pull_public(self, cid: str, digest: bytes, max_bytes: int) -> bytes:
        """As `pull`, for an object the key announcement names for every party (its context, Enc(1)):
        nodes hosted in one process share one copy."""
        return self.client.pull_public(cid, digest, max_bytes)

    def compute(self, task, *args):
        """One homomorphic step in the HE worker process."""
        return self.pool.submit(task, *args).result()
