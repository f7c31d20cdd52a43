"""The states a calculation and each of its (supplier, product) pairs go through, and the one
function each moves through.

The database stores the names it always stored (a calculation's wire state name, a pair's short
word), so these enums are views of those columns, not a new schema. Every transition is checked
against the tables below: a handler cannot, say, revive a calculation that is already final.
"""
from __future__ import annotations

from enum import StrEnum
from typing import cast

from tanji.infra.observability import event
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import requester_pb2 as rpb


class CalcState(StrEnum):
    """A calculation's state; the value is the name the `calculations.state` column holds."""

    AWAITING_KEY = "CALCULATION_STATE_AWAITING_KEY"
    RUNNING = "CALCULATION_STATE_RUNNING"
    AWAITING_ATTESTATION = "CALCULATION_STATE_AWAITING_ATTESTATION"
    AWAITING_DECRYPTION = "CALCULATION_STATE_AWAITING_DECRYPTION"
    DONE = "CALCULATION_STATE_DONE"
    WITHHELD = "CALCULATION_STATE_WITHHELD"
    FAILED = "CALCULATION_STATE_FAILED"

    @property
    def wire(self) -> rpb.CalculationState:
        """The requester API's CalculationState number."""
        return cast(rpb.CalculationState, rpb.CalculationState.Value(self.value))


#: the one set of final states: nothing moves a calculation out of them
FINAL: frozenset[CalcState] = frozenset({CalcState.DONE, CalcState.WITHHELD, CalcState.FAILED})
#: the same, as the names stored in the database (for queries)
FINAL_NAMES: tuple[str, ...] = tuple(sorted(s.value for s in FINAL))

CALC_TRANSITIONS: dict[CalcState, frozenset[CalcState]] = {
    CalcState.AWAITING_KEY: frozenset({CalcState.RUNNING, CalcState.FAILED}),
    CalcState.RUNNING: frozenset({CalcState.AWAITING_ATTESTATION, CalcState.FAILED}),
    CalcState.AWAITING_ATTESTATION: frozenset({CalcState.AWAITING_DECRYPTION, CalcState.FAILED}),
    CalcState.AWAITING_DECRYPTION: frozenset({CalcState.DONE, CalcState.WITHHELD, CalcState.FAILED}),
    CalcState.DONE: frozenset(),
    CalcState.WITHHELD: frozenset(),
    CalcState.FAILED: frozenset(),
}


class PairState(StrEnum):
    """A (supplier, product) pair of a calculation; the value is what `calc_pairs.state` holds.

    waiting -> dispatched (its merged request is out) -> answered; the root pair is answered
    without a merged request. dead: its lease expired (its buyers answer with fallbacks);
    skipped: reachable only through dead suppliers."""

    WAITING = "waiting"
    DISPATCHED = "dispatched"
    ANSWERED = "answered"
    DEAD = "dead"
    SKIPPED = "skipped"


PAIR_TRANSITIONS: dict[PairState, frozenset[PairState]] = {
    PairState.WAITING: frozenset({PairState.DISPATCHED, PairState.ANSWERED, PairState.DEAD, PairState.SKIPPED}),
    PairState.DISPATCHED: frozenset({PairState.ANSWERED, PairState.DEAD}),
    PairState.ANSWERED: frozenset(),
    PairState.DEAD: frozenset(),
    PairState.SKIPPED: frozenset(),
}
#: a pair that will never be asked again: its answer is in, or stood in for, or not needed
SETTLED: frozenset[PairState] = frozenset({PairState.ANSWERED, PairState.DEAD, PairState.SKIPPED})


def calc_state(calc) -> CalcState:
    return CalcState(calc.state)


def is_final(calc) -> bool:
    return calc_state(calc) in FINAL


def require_open(calc) -> None:
    """Refuse anything addressed to a calculation that is already final."""
    if is_final(calc):
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, f"calculation {calc.id} is {calc.state}")


def move(calc, to: CalcState) -> None:
    """The one way a calculation changes state; an illegal transition is refused."""
    now = calc_state(calc)
    if to not in CALC_TRANSITIONS[now]:
        code = cpb.REFUSAL_CODE_UNKNOWN_CALCULATION if now in FINAL else cpb.REFUSAL_CODE_UNEXPECTED
        raise Refusal(code, f"calculation {calc.id} is {now.value}; it cannot become {to.value}")
    calc.state = to.value
    event("calculation.state", calc.id, state=to.value.removeprefix("CALCULATION_STATE_").lower())


def pair_state(pair) -> PairState:
    return PairState(pair.state)


def move_pair(pair, to: PairState) -> None:
    """The one way a pair changes state; an illegal transition is refused."""
    now = pair_state(pair)
    if to not in PAIR_TRANSITIONS[now]:
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                      f"{pair.org}/{pair.product} is {now.value}; it cannot become {to.value}")
    pair.state = to.value
