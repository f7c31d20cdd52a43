"""The evil coordinator's false death (issue #11 item 4), installed into `EvilCoordinator`.

* ``false-death`` (supplier, optional ``hold``): the moment the merged request to `supplier` is
  dispatched, the coordinator declares that supplier dead (DEATH_REASON_LEASE_EXPIRED) though
  its lease runs: its buyers get the signed notices and answer with their fallback factors, and
  its own answer is refused as late. With ``hold``, the copies of the notices to the supplier
  itself are held back until the calculation has ended, so that a contest can reach the log only
  after the result was released.

It uses only the coordinator's own means (its leases' `declare_dead`, its deliveries).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tanji.coordinator import db
from tanji.coordinator.states import FINAL_NAMES
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.evil-coordinator")


def install(coord: Any, read_attack: Any, state: Path) -> None:
    """Wrap the coordinator's dispatch, deliveries and sweep with the false death."""
    held: list[tuple[str, bytes, str]] = []          # (party, notice hash, calculation id)
    dispatch, deliver, sweep = coord.routing._dispatch, coord.core.deliver, coord.check_deadlines

    def attack(supplier: str) -> dict:
        a = read_attack(state)
        return a if a.get("mode") == "false-death" and a.get("supplier") == supplier else {}

    def false_dispatch(s, ctx, pair) -> None:
        dispatch(s, ctx, pair)
        if attack(pair.org):
            log.warning("ATTACK false-death: %s/%s declared dead as its request goes out", pair.org, pair.product)
            coord.leases.declare_dead(s, ctx, pair, epb.DEATH_REASON_LEASE_EXPIRED)

    def holding_deliver(s, party: str, h: bytes) -> None:
        row = s.get(db.StoredEnvelope, h)
        if row is not None and row.message_type == "MESSAGE_TYPE_DEAD_SUPPLIER" and attack(party).get("hold"):
            held.append((party, h, row.calculation_id))
            log.warning("ATTACK false-death: the notice to %s is held until %s ends", party, row.calculation_id[:8])
            return
        deliver(s, party, h)

    def releasing_sweep() -> None:
        sweep()
        for item in list(held):
            party, h, cid = item
            with coord.core.transaction() as s:
                calc = s.get(db.Calculation, cid)
                if calc is not None and calc.state in FINAL_NAMES:
                    deliver(s, party, h)
                    held.remove(item)
                    log.warning("ATTACK false-death: %s ended (%s); the held notice goes to %s", cid[:8],
                                calc.state, party)

    coord.routing._dispatch = false_dispatch
    coord.core.deliver = holding_deliver
    coord.check_deadlines = releasing_sweep
