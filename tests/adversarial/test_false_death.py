"""A live supplier declared dead by the coordinator (issue #11 item 4, decision 0010).

The coordinator (tests.harness.false_death, in the evil coordinator process) declares cathode
dead the moment cathode's merged request goes out, though cathode's lease runs: cathode's two
buyers — pack (the requester, tier 1) and cells (tier 2) — answer with their fallback factors,
and cathode's own answer is refused as late. Before the fix the calculation ended DONE with a
lower total, the result named only pack's fallback and the bundle verified. Now the notice is
delivered to cathode as well; cathode, which held a lease when it was declared dead, contests it
with a signed REFUSAL (DECLARED_DEAD) that the coordinator stores and logs; every fallback in the
chain is named in the result and in the bundle's summary; a bundle whose fallback rests on a
contested notice does not verify.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from tanji.audit.verify import verify_bundle
from tanji.cli import requester
from tanji.coordinator.bundle import write_bundle
from tanji.infra.party_client import PartyClient
from tanji.methodology.graph import reference_result
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb

pytestmark = pytest.mark.integration
MT = epb.MessageType
S = rpb.CalculationState
DEAD = "cathode"
#: both buyers of cathode/CAM fall back: the requester itself (tier 1) and cells (tier 2)
NAMED = [{"supplier": DEAD, "product": "CAM", "buyer": "pack", "tier": 1},
         {"supplier": DEAD, "product": "CAM", "buyer": "cells", "tier": 2}]


def contests(fed, cid: str) -> list:
    """cathode's REFUSALs the coordinator stored, each answering a dead-supplier notice naming cathode."""
    notices = {o.hash: o for o in fed.stored(cid, MT.MESSAGE_TYPE_DEAD_SUPPLIER)}
    return [o for o in fed.stored(cid, MT.MESSAGE_TYPE_REFUSAL, sender=DEAD)
            if o.body.answers_hash in notices and notices[o.body.answers_hash].payload.supplier == DEAD]


def test_a_live_supplier_declared_dead_contests_and_the_calculation_fails(federation, honest_run):
    """Attacker: coordinator. A notice for a supplier that is answering. Refusal: the supplier
    contests it (it held a lease the coordinator granted at the moment it was declared dead);
    the calculation fails with its code, nothing is released."""
    with federation.attack("false-death", supplier=DEAD):
        cid = federation.start()
        st = federation.wait(cid)
    assert st.state == S.CALCULATION_STATE_FAILED, (S.Name(st.state), st.failure_message)
    assert st.failure_code == cpb.REFUSAL_CODE_DECLARED_DEAD
    assert st.failure_message.startswith(f"{DEAD}: REFUSAL_CODE_DECLARED_DEAD"), st.failure_message
    federation.wait_until(lambda: len(contests(federation, cid)) == 2)   # one per notice: pack's and cells'
    with pytest.raises(requester.CalculationFailed):
        federation.result(cid)


def test_a_contest_after_the_result_names_every_fallback_and_fails_the_bundle(federation, honest_run, tmp_path):
    """Attacker: coordinator. The same false notice, but the supplier's copy is held back until the
    result is out, so the calculation completes on the fallbacks. Detected: the result names every
    fallback with its tier (the lower total is explained), the supplier's contest is stored and
    logged after the fact, and the calculation's bundle no longer verifies."""
    with federation.attack("false-death", supplier=DEAD, hold=True):
        cid = federation.start()
        st = federation.wait(cid)
        assert st.state == S.CALCULATION_STATE_DONE, (S.Name(st.state), st.failure_message)
        result = federation.result(cid)
        assert result["fallbacks"] == NAMED
        offline = json.loads(reference_result(federation.data, ("pack", "PACK"), frozenset({DEAD})).to_json())
        assert offline["fallbacks"] == NAMED          # `tanji reference --offline cathode` names the same
        assert abs(result["total_kgco2e"] - offline["total_kgco2e"]) <= 1e-5 * offline["total_kgco2e"]
        federation.wait_until(lambda: len(contests(federation, cid)) == 2)
    out = tmp_path / "bundle.tar"
    write_bundle(federation.state / "coordinator", cid, federation.fed_file, out)
    anchor = bytes.fromhex((federation.state / "registry" / "anchor.pub").read_text().strip())
    report = verify_bundle(out.read_bytes(), anchor)
    failed = {c.name: c.detail for c in report.failed()}
    assert list(failed) == ["completeness"], failed
    assert f"dead supplier {DEAD}/CAM (notice to pack): {DEAD} contests the notice, signed" in failed["completeness"]
    assert f"dead supplier {DEAD}/CAM (notice to cells): {DEAD} contests the notice, signed" in failed["completeness"]
    assert report.summary["fallbacks"] == NAMED


def test_a_supplier_knows_the_leases_it_held():
    """What the contest rests on: the leases granted to this process, merged while they overlap,
    on the coordinator's clock; a process that started after the notice held none then."""
    client = PartyClient("cathode", SigningKey.generate(), grpc.insecure_channel("127.0.0.1:9"))  # never dialled
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lease = timedelta(seconds=20)
    for beat in range(0, 10, 2):                        # heartbeats every 2 s, each lease 20 s
        client._granted(t0 + timedelta(seconds=beat), t0 + timedelta(seconds=beat) + lease)
    assert client.leases == [(t0, t0 + timedelta(seconds=28))]
    assert client.held_lease_at(t0 + timedelta(seconds=27))
    assert not client.held_lease_at(t0 + timedelta(seconds=28))
    assert not client.held_lease_at(t0 - timedelta(seconds=1))
    client._granted(t0 + timedelta(seconds=60), t0 + timedelta(seconds=80))   # a gap: it was gone
    assert not client.held_lease_at(t0 + timedelta(seconds=40))
    assert client.held_lease_at(t0 + timedelta(seconds=61))
