"""Following a calculation from the requester's side: its phase in words, the wait for its end, and
the exit code its end gives (`calc start --follow`, `calc status --watch`, `calc result --wait`).

Exit codes (docs/manual.md, docs/operations.md): 0 done, 1 unexpected, 2 bad input, 3 still
pending (not final when asked, or --timeout passed), 4 failed, 5 withheld by the key holder.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tanji.v1 import common_pb2 as cpb
from tanji.v1 import requester_pb2 as rpb

S = rpb.CalculationState
EXIT_PENDING, EXIT_FAILED, EXIT_WITHHELD = 3, 4, 5
FINAL = {S.CALCULATION_STATE_DONE: 0, S.CALCULATION_STATE_FAILED: EXIT_FAILED,
         S.CALCULATION_STATE_WITHHELD: EXIT_WITHHELD}


def state_name(state: int) -> str:
    return S.Name(state).removeprefix("CALCULATION_STATE_").lower()


def is_final(st: rpb.GetStatusResponse) -> bool:
    return st.state in FINAL


def exit_code(st: rpb.GetStatusResponse) -> int:
    """0 done, 4 failed, 5 withheld, 3 anything not final."""
    return FINAL.get(st.state, EXIT_PENDING)


def phase(st: rpb.GetStatusResponse) -> str:
    """What the calculation waits for, in counts only (never a value)."""
    s = st.state
    if s == S.CALCULATION_STATE_AWAITING_KEY:
        return "key: waiting for the key holder's key"
    if s == S.CALCULATION_STATE_RUNNING:
        dead = f", {st.dead_suppliers} supplier(s) declared dead" if st.dead_suppliers else ""
        tiers = "".join(f", tier {t.tier} {t.answered}/{t.declared}" for t in st.tiers)
        return f"requests: contributions {st.requests_answered}/{st.requests_declared}{tiers}{dead}"
    if s == S.CALCULATION_STATE_AWAITING_ATTESTATION:
        return f"attestation: {st.attestations} attestation(s) of the aggregate"
    if s == S.CALCULATION_STATE_AWAITING_DECRYPTION:
        return "decryption: with the key holder"
    if s == S.CALCULATION_STATE_DONE:
        return "done: the result is released"
    code = cpb.RefusalCode.Name(st.failure_code) if st.failure_code in cpb.RefusalCode.values() else str(
        st.failure_code)
    word = "withheld" if s == S.CALCULATION_STATE_WITHHELD else "failed" if s == S.CALCULATION_STATE_FAILED else (
        state_name(s))
    who = f" by {st.failure_party}" if st.failure_party else ""
    return f"{word}{who}: {code}" + (f": {st.failure_message}" if st.failure_message else "")


def as_dict(st: rpb.GetStatusResponse) -> dict[str, Any]:
    """The status as --json prints it."""
    return {"calculation_id": st.calculation_id, "state": state_name(st.state), "final": is_final(st),
            "requests_declared": st.requests_declared, "requests_answered": st.requests_answered,
            "dead_suppliers": st.dead_suppliers, "attestations": st.attestations,
            "tiers": [{"tier": t.tier, "declared": t.declared, "answered": t.answered} for t in st.tiers],
            "deadline": st.deadline.ToJsonString() if st.HasField("deadline") else None,
            "updated_at": st.updated_at.ToJsonString() if st.HasField("updated_at") else None,
            "failure_code": cpb.RefusalCode.Name(st.failure_code) if st.failure_code else None,
            "failure_party": st.failure_party or None, "failure_message": st.failure_message or None}


def line(st: rpb.GetStatusResponse, elapsed: float | None = None, as_json: bool = False) -> str:
    if as_json:
        d = as_dict(st)
        if elapsed is not None:
            d["elapsed_seconds"] = round(elapsed, 1)
        return json.dumps(d)
    when = f"[{elapsed:7.1f} s] " if elapsed is not None else ""
    return f"{when}{st.calculation_id}  {state_name(st.state)}  {phase(st)}"


def follow(get: Callable[[], rpb.GetStatusResponse], show: Callable[[rpb.GetStatusResponse, float], None],
           timeout: float | None, every: float = 1.0, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> rpb.GetStatusResponse:
    """Poll `get` until the calculation is final or `timeout` seconds passed; `show` each change of
    phase with the seconds elapsed. Returns the last status (final, or not when the time ran out)."""
    start, last = clock(), None
    while True:
        st = get()
        now = phase(st)
        if now != last:
            show(st, clock() - start)
            last = now
        if is_final(st) or (timeout is not None and clock() - start >= timeout):
            return st
        sleep(every)
