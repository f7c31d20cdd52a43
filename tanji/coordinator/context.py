"""One calculation as a transaction sees it: its row, its signed request and its key announcement,
loaded once and handed to every handler the transaction runs.

Every body the coordinator signs for the calculation is bound through `binding` (the key
fingerprint and parameter hash of the announcement, the factor set and method of the request),
the same way every other party binds its messages (tanji.protocol.messages).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tanji.coordinator import db, states
from tanji.coordinator.states import CalcState
from tanji.coordinator.transactions import reopen
from tanji.he import tasks as he_sum
from tanji.infra.objectstore import HeldObjects
from tanji.methodology import slots
from tanji.protocol import envelope as env
from tanji.protocol.messages import Binding
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb

log = logging.getLogger("tanji.coordinator")


#: the public contexts of the calculations in hand, by hash: each push checks a ciphertext under its
#: calculation's context, which would otherwise be read (2 MB) and hashed from the store every time
_CONTEXTS = HeldObjects(keep=4)


@dataclass
class CalcContext:
    calc: db.Calculation
    request: env.Opened
    key_announcement: env.Opened | None = None
    _public_context: bytes | None = field(default=None, repr=False)

    @classmethod
    def load(cls, s, cid: str, *, lock: bool = False) -> CalcContext:
        """The calculation; with `lock`, its row locked to the commit (the transition's claim on it:
        another replica's transition of the same calculation waits, then sees this one's outcome)."""
        calc = s.get(db.Calculation, cid, with_for_update=lock, populate_existing=lock)
        if calc is None:
            raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, f"unknown calculation {cid!r}")
        return cls.of(s, calc)

    @classmethod
    def of(cls, s, calc: db.Calculation) -> CalcContext:
        ka = reopen(s, calc.key_announcement_hash) if calc.key_announcement_hash else None
        return cls(calc, reopen(s, calc.request_hash), ka)

    @property
    def id(self) -> str:
        return self.calc.id

    @property
    def state(self) -> CalcState:
        return states.calc_state(self.calc)

    @property
    def binding(self) -> Binding:
        return Binding.of(self.request, self.key_announcement)

    @property
    def targets(self) -> list[tuple[str, str]]:
        """(requester, product) of every target of the calculation, in its batch order: the root
        pair stands for all of them (the requester answers its whole batch in one step, DESIGN §6)."""
        req = self.request.payload
        return [(req.target_organisation, item.product_id) for item in req.products]

    @property
    def width(self) -> int:
        """Slots every ciphertext of the calculation carries, as its key holder announced."""
        return (self.key_announcement.payload.width if self.key_announcement else 0) or slots.WIDTH

    def public_context(self, objects) -> bytes:
        if self._public_context is None:
            assert self.calc.context_hash is not None, "a running calculation has an announced context"
            digest = self.calc.context_hash
            self._public_context = _CONTEXTS.get(digest, lambda: objects.get(digest))  # checked against its name
        return self._public_context

    def ciphertext(self, objects, digest: bytes, *, transit: bool):
        """Parse an object as a ciphertext under the calculation's key (at the transit level)."""
        return he_sum.load_ciphertext(self.public_context(objects), objects.get(digest),
                                      self.calc.transit_level if transit else None, self.width)

    # ------------------------------------------------------------ transitions
    def keyed(self, announcement: env.Opened) -> None:
        """The key holder's announcement is accepted: the calculation runs under that key."""
        ka = announcement.payload
        calc = self.calc
        states.move(calc, CalcState.RUNNING)
        calc.key_announcement_hash = announcement.hash
        calc.key_fingerprint, calc.params_hash = ka.key_fingerprint, ka.ckks_params_hash
        calc.context_hash, calc.transit_level = ka.context_object_hash, ka.transit_level
        self.key_announcement, self._public_context = announcement, None

    def move(self, to: CalcState) -> None:
        states.move(self.calc, to)

    def fail(self, code: int, message: str, party: str) -> None:
        """Fail the calculation, unless it already ended (a final verdict stands). `message` is the
        refusing `party`'s own text: GetStatus shows it whole only to those it concerns."""
        if states.is_final(self.calc):
            return
        states.move(self.calc, CalcState.FAILED)
        self.calc.failure_code, self.calc.failure_message, self.calc.failure_party = code, message, party
        log.warning("calculation %s failed: %s: %s", self.calc.id, party, message)
