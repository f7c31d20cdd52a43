"""The factor provider's view (DESIGN.md "Who sees what"): how often each factor was cited.

Every node adds a 1 to the citation slot of each factor its own(p) used, inside the
fresh encryption it re-randomises its contribution with; the key holder decrypts the
counts with the total, once, and signs them in a CITATION_REPORT addressed to the
factor set's provider. This module fetches those reports, checks each signature against
the federation list, and names the slots with the provider's own factor set. No report
says which node cited a factor, or any amount.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tanji.errors import TanjiError
from tanji.methodology import slots
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.federation import Federation
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tanji.v1 import requester_pb2_grpc as rgrpc

MT = epb.MessageType


@dataclass
class CitationTally:
    provider: str
    factor_set_id: str
    factor_set_sha256: str
    calculations: list[str] = field(default_factory=list)
    #: factor id -> (citations summed over calculations, calculations citing it at least once)
    factors: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"schema": "tanji.citations/1", "provider": self.provider,
                "factor_set": {"id": self.factor_set_id, "sha256": self.factor_set_sha256},
                "calculations": len(self.calculations),
                "factors": [{"id": fid, "citations": n, "calculations": c} for fid, (n, c) in self.factors.items()]}


def tally(reports: list[epb.Envelope], factor_set, federation: Federation) -> CitationTally:
    """Sum the signed reports for one factor set; a report that does not check is an error, not skipped."""
    layout = slots.citation_slots(factor_set.by_id)
    ordered = sorted(layout, key=layout.__getitem__)
    provider = factor_set.model.provider
    out = CitationTally(provider, factor_set.model.id, factor_set.sha256,
                        factors={fid: (0, 0) for fid in ordered})
    for e in reports:
        try:
            opened = env.open_envelope(e, federation.key_of)
        except env.EnvelopeRefused as exc:
            raise TanjiError(f"a citation report does not verify: {exc}") from None
        b, counts = opened.body, list(opened.payload.counts)
        if b.message_type != MT.MESSAGE_TYPE_CITATION_REPORT or b.sender not in federation.key_holders():
            raise TanjiError(f"report {opened.hash.hex()[:12]} is not a key holder's citation report")
        if b.receiver != provider or b.factor_set_hash.hex() != factor_set.sha256:
            continue  # another provider's or another factor set's report
        if len(counts) != len(ordered):
            raise TanjiError(f"report of {b.calculation_id} has {len(counts)} counts; "
                             f"{factor_set.model.id} has {len(ordered)} factors")
        out.calculations.append(b.calculation_id)
        for fid, n in zip(ordered, counts, strict=True):
            total, calcs = out.factors[fid]
            out.factors[fid] = (total + n, calcs + (1 if n else 0))
    return out


def fetch(channel, factor_set, federation: Federation) -> CitationTally:
    resp = rgrpc.RequesterServiceStub(channel).GetCitations(
        rpb.GetCitationsRequest(provider_id=factor_set.model.provider,
                                factor_set_hash=bytes.fromhex(factor_set.sha256)),
        timeout=limits.RPC_TIMEOUT_SECONDS)
    return tally(list(resp.reports), factor_set, federation)
