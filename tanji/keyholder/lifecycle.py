"""A calculation's secret key lives no longer than its calculation (issue #11, item 8).

A key that outlived a failed or expired calculation, together with the individual contributions a
coordinator keeps, would decrypt any one of them. So the key holder destroys a key:

* after its one decryption (tanji.keyholder.daemon);
* once the coordinator reports the calculation final — done, withheld or failed — or does not
  know it (GetStatus, asked as the calculation's key holder every SWEEP_SECONDS);
* once the deadline the requester signed has passed, by the key holder's own clock, whatever
  the coordinator says or whether it answers at all;
* at start-up, every file in its key folder that is not the key of a calculation it holds as
  keyed (a leftover of a crash between writing a key and recording it, the key of a calculation
  that was being decrypted, anything planted there), and every key past its deadline; the first
  sweep with the coordinator follows as soon as it is reachable.

A destroyed key's row stays, in state `ended` or `expired`: the key holder's public announcement
is kept, and a later decryption request is refused by code. A coordinator that lies can make the
key holder destroy a key early (a denial of service it could cause anyway), never keep one.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from sqlalchemy import select

from tanji.infra.runtime import utcnow
from tanji.keyholder.store import KeyedCalculation, KeyHolderStore
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import requester_pb2 as rpb

log = logging.getLogger("tanji.keyholder")

KEYED = "keyed"
#: the key was destroyed unused: the coordinator reported the calculation final, or does not know it
ENDED = "ended"
#: the key was destroyed unused: the calculation's deadline passed
EXPIRED = "expired"
#: how often the key holder asks the coordinator where its keyed calculations stand
SWEEP_SECONDS = 5.0
FINAL = frozenset({rpb.CALCULATION_STATE_DONE, rpb.CALCULATION_STATE_WITHHELD, rpb.CALCULATION_STATE_FAILED})
#: the code a decryption request for a calculation whose key was destroyed unused is refused with
REFUSAL_AFTER = {ENDED: cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, EXPIRED: cpb.REFUSAL_CODE_DEADLINE_EXCEEDED}

#: the coordinator's word on a calculation: its CalculationState, or None when it does not know it;
#: raises grpc.RpcError when it cannot be asked now
StatusOf = Callable[[str], int | None]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class KeyLifecycle:
    def __init__(self, store: KeyHolderStore, status_of: StatusOf, clock: Callable[[], datetime] = utcnow,
                 every: float = SWEEP_SECONDS):
        self.store, self.status_of, self.clock, self.every = store, status_of, clock, every
        self._next = 0.0  # the first tick asks the coordinator at once

    def keyed(self) -> list[KeyedCalculation]:
        with self.store.sessions() as s:
            return list(s.scalars(select(KeyedCalculation).where(KeyedCalculation.state == KEYED)))

    def end(self, cid: str, state: str, why: str) -> None:
        """Destroy the key of a keyed calculation and record that it ended unused."""
        self.store.destroy_secret(cid)
        with self.store.sessions.begin() as s:
            row = s.get(KeyedCalculation, cid)
            if row is not None and row.state == KEYED:
                row.state, row.updated_at = state, utcnow()
        log.info("destroyed the key of %s: %s", cid[:8], why)

    # ------------------------------------------------------------------ the sweeps
    def sweep_files(self) -> int:
        """Destroy every entry of the key folder that is not the key of a keyed calculation."""
        kept = {self.store.secret_path(r.calculation_id).name for r in self.keyed()}
        gone = 0
        for path in self.store.key_files():
            if path.name not in kept:
                self.store.destroy_file(path)
                gone += 1
        if gone:
            log.warning("destroyed %d key file(s) that no keyed calculation holds", gone)
        return gone

    def sweep_deadlines(self) -> int:
        """Destroy the key of every keyed calculation whose deadline has passed."""
        now = self.clock()
        late = [r.calculation_id for r in self.keyed() if r.deadline is not None and _aware(r.deadline) <= now]
        for cid in late:
            self.end(cid, EXPIRED, "its deadline passed")
        return len(late)

    def sweep_ended(self) -> int:
        """Ask the coordinator about every keyed calculation; destroy the key of each it reports final or
        does not know. Stops (raising grpc.RpcError) when the coordinator cannot be asked now."""
        gone = 0
        for row in self.keyed():
            state = self.status_of(row.calculation_id)
            if state is None or state in FINAL:
                what = "unknown to the coordinator" if state is None else rpb.CalculationState.Name(state)
                self.end(row.calculation_id, ENDED, f"the calculation is {what}")
                gone += 1
        return gone

    def start_up(self) -> None:
        """Before dialling out: the sweeps that need no coordinator."""
        self.sweep_files()
        self.sweep_deadlines()

    def tick(self) -> None:
        """Called from the serving loop: deadlines, then the coordinator's word, every `every` seconds."""
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every
        self.sweep_deadlines()
        try:
            self.sweep_ended()
        except grpc.RpcError as exc:
            log.warning("cannot ask the coordinator where its calculations stand (%s); keys past their "
                        "deadline are destroyed meanwhile", exc.code())
