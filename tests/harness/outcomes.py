"""Reading what was refused, and by whom, from codes rather than prose.

A calculation failed by a party's REFUSAL records that refusal's code as its `failure_code` and
the refusing party as its `failure_party` — shown to the refusing party itself and to its buyers
in the calculation (tanji.coordinator.calculations.failure_view). These helpers compare the code
and the party and never the detail, which is free text for people.
"""
from __future__ import annotations

from tanji.protocol.refusals import code_name
from tanji.v1 import requester_pb2 as rpb

S = rpb.CalculationState


def refused_by(status: rpb.GetStatusResponse) -> str:
    """The party whose refusal failed the calculation, as the reader of `status` may know it."""
    return status.failure_party


def assert_failed(status: rpb.GetStatusResponse, code: int, party: str | None = None) -> None:
    """The calculation failed with `code`, refused by `party` when one is named."""
    assert status.state == S.CALCULATION_STATE_FAILED, (S.Name(status.state), status.failure_message)
    assert status.failure_code == code, (code_name(status.failure_code), status.failure_message)
    if party is not None:
        assert refused_by(status) == party, status.failure_message


def refusal_line(party: str, code: int) -> str:
    """How a party's refusal is named where a failure is printed: `party: REFUSAL_CODE_...`."""
    return f"{party}: {code_name(code)}"


def unwrapped(text: str) -> str:
    """Console output with its line wrapping undone."""
    return " ".join(text.split())
