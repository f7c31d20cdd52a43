"""A secret key lives no longer than its calculation (issue #11, item 8).

Attack: a calculation that failed or expired left its secret key on disk; with the individual
contributions the coordinator keeps, that key decrypted any one supplier's figure. Now the key
holder destroys a key when its calculation ends in any state — decrypted (done or withheld after
the one decryption), withheld or failed at the coordinator, past its deadline, unknown — and
sweeps its key folder at start-up (tanji.keyholder.lifecycle).

The first tests drive the key holder's lifecycle in this process against its real store (the
coordinator's answer is a function: plumbing); the integration tests run a real coordinator and
a real `tanji keyholder serve` process and fail, expire and forget calculations under it.
"""
from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tanji.keyholder import lifecycle
from tanji.keyholder.lifecycle import KeyLifecycle
from tanji.keyholder.store import KeyedCalculation, KeyHolderStore, key_file_name
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.messages import Binding
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import requester_pb2 as rpb
from tests.harness.bare import BareCoordinator
from tests.harness.keys import KEY_HOLDER

MT = epb.MessageType
S = rpb.CalculationState


def cid_of(n: int) -> str:
    return f"lifecycle-{n:016d}"


class Unreachable(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNAVAILABLE


def keyed(store: KeyHolderStore, cid: str, deadline: datetime | None = None) -> None:
    """A calculation this key holder keyed: its row and its key file (the bytes do not matter here)."""
    store.write_secret(cid, os.urandom(64))
    with store.sessions.begin() as s:
        s.add(KeyedCalculation(calculation_id=cid, preset="ckks-test", state="keyed", announcement=b"a",
                               deadline=deadline))


def state_of(store: KeyHolderStore, cid: str) -> str:
    with store.sessions() as s:
        return s.get_one(KeyedCalculation, cid).state


@pytest.mark.parametrize("coordinator_says, ends_as", [
    (S.CALCULATION_STATE_FAILED, lifecycle.ENDED), (S.CALCULATION_STATE_WITHHELD, lifecycle.ENDED),
    (S.CALCULATION_STATE_DONE, lifecycle.ENDED), (None, lifecycle.ENDED),      # None: it does not know it
    (S.CALCULATION_STATE_RUNNING, "keyed"), (S.CALCULATION_STATE_AWAITING_DECRYPTION, "keyed")])
def test_a_key_is_destroyed_once_its_calculation_is_final_or_unknown(tmp_path, coordinator_says, ends_as):
    store = KeyHolderStore(tmp_path)
    keyed(store, cid_of(1))
    KeyLifecycle(store, lambda cid: coordinator_says).tick()
    assert state_of(store, cid_of(1)) == ends_as
    assert store.has_secret(cid_of(1)) == (ends_as == "keyed")
    assert [p.name for p in store.key_files()] == ([store.secret_path(cid_of(1)).name] if ends_as == "keyed" else [])


def test_a_key_past_its_deadline_is_destroyed_even_when_the_coordinator_is_unreachable(tmp_path):
    store = KeyHolderStore(tmp_path)
    now = datetime.now(UTC)
    keyed(store, cid_of(1), deadline=now - timedelta(seconds=1))
    keyed(store, cid_of(2), deadline=now + timedelta(hours=1))

    def unreachable(cid):
        raise Unreachable()

    KeyLifecycle(store, unreachable).tick()
    assert (state_of(store, cid_of(1)), store.has_secret(cid_of(1))) == (lifecycle.EXPIRED, False)
    assert (state_of(store, cid_of(2)), store.has_secret(cid_of(2))) == ("keyed", True)


def test_the_start_up_sweep_destroys_every_key_no_keyed_calculation_holds(tmp_path):
    store = KeyHolderStore(tmp_path)
    keyed(store, cid_of(1))                                        # kept
    keyed(store, cid_of(2))
    with store.sessions.begin() as s:
        s.get_one(KeyedCalculation, cid_of(2)).state = "decrypting"  # a crash during its one decryption
    store.write_secret(cid_of(3), b"written, never recorded")      # a crash between the file and its row
    (store.keys / "planted.secret").write_bytes(b"x")
    keyed(store, cid_of(4), deadline=datetime.now(UTC) - timedelta(minutes=1))
    KeyLifecycle(store, lambda cid: S.CALCULATION_STATE_RUNNING).start_up()
    assert [p.name for p in store.key_files()] == [store.secret_path(cid_of(1)).name]
    assert state_of(store, cid_of(4)) == lifecycle.EXPIRED


# ---------------------------------------------------------------- a real key holder process

@pytest.fixture(scope="module")
def coord(tmp_path_factory):
    c = BareCoordinator(tmp_path_factory.mktemp("lifecycle"))
    start_key_holder(c)
    yield c
    c.stop()


def start_key_holder(c: BareCoordinator) -> None:
    c.procs.start(KEY_HOLDER, ["keyholder", "serve", "--id", KEY_HOLDER, "--state", str(c.state / KEY_HOLDER),
                               "--federation", str(c.fed_file), "--coordinator", c.address])


def key_holder_rows(c: BareCoordinator) -> dict[str, str]:
    """calculation id -> state, as the key holder's store holds them (read-only)."""
    path = c.state / KEY_HOLDER / "keyholder.db"
    if not path.exists():
        return {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT calculation_id, state FROM calculations").fetchall())
    except sqlite3.OperationalError:  # the key holder has not created its table yet
        return {}
    finally:
        con.close()


def key_files(c: BareCoordinator) -> list[Path]:
    folder = c.state / KEY_HOLDER / "keys"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def until(predicate, c: BareCoordinator, what: str, timeout: float = 180):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        c.procs.check_alive()
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}\n{c.log()[-2000:]}")


def keyed_by_the_key_holder(c: BareCoordinator, deadline_seconds: float = 3600) -> str:
    out, cid, _ = c.maker.start("P", deadline_seconds=deadline_seconds)
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
    until(lambda: key_holder_rows(c).get(cid), c, f"the key holder to key {cid}")
    return cid


def fail_by_refusal(c: BareCoordinator, cid: str) -> None:
    """The supplier refuses the key announcement it was sent: the calculation fails."""
    def announcement():
        cursor, more = 0, True
        while more:
            resp = c.supplier.nodes.PullMessages(npb.PullMessagesRequest(party_id="supplier", ack_cursor=cursor),
                                                 timeout=60)
            for m in resp.messages:
                cursor = m.sequence
                opened = env.parse_unverified(m.envelope)
                if opened.body.calculation_id == cid and opened.body.message_type == MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT:
                    return opened
            more = resp.more
        return None

    ka = until(announcement, c, f"the key announcement of {cid}")
    body = messages.refusal(cpb.REFUSAL_CODE_WRONG_PARAMETERS, "refused", calculation_id=cid, sender="supplier",
                            receiver="coordinator", binding=Binding.of(key_announcement=ka), answers=ka.hash)
    (out,) = c.supplier.push(env.seal(body, c.supplier.key))
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
    assert c.maker.status(cid).state == S.CALCULATION_STATE_FAILED


def secret_of(c: BareCoordinator, cid: str) -> Path:
    return c.state / KEY_HOLDER / "keys" / key_file_name(cid)


@pytest.mark.integration
def test_a_failed_calculation_leaves_no_key(coord):
    cid = keyed_by_the_key_holder(coord)
    assert secret_of(coord, cid).exists() and key_holder_rows(coord)[cid] == "keyed"
    fail_by_refusal(coord, cid)
    until(lambda: key_holder_rows(coord)[cid] == lifecycle.ENDED, coord, "the key to be destroyed")
    assert not secret_of(coord, cid).exists()        # before: the key stayed on disk for good


@pytest.mark.integration
def test_a_calculation_past_its_deadline_leaves_no_key(coord):
    cid = keyed_by_the_key_holder(coord, deadline_seconds=8)
    until(lambda: coord.maker.status(cid).state == S.CALCULATION_STATE_FAILED, coord, "the deadline to pass")
    assert coord.maker.status(cid).failure_code == cpb.REFUSAL_CODE_DEADLINE_EXCEEDED
    until(lambda: key_holder_rows(coord)[cid] in (lifecycle.EXPIRED, lifecycle.ENDED), coord,
          "the key to be destroyed")
    assert not secret_of(coord, cid).exists()


@pytest.mark.integration
def test_a_restarted_key_holder_destroys_what_ended_while_it_was_down(coord):
    running = keyed_by_the_key_holder(coord)
    failing = keyed_by_the_key_holder(coord)
    stopped = coord.procs.procs.pop(KEY_HOLDER)
    stopped.terminate()                                           # SIGTERM: it stops after the item in hand
    stopped.wait(timeout=120)
    fail_by_refusal(coord, failing)
    leftover = coord.state / KEY_HOLDER / "keys" / "leftover.secret"
    leftover.write_bytes(b"a key no calculation holds")
    start_key_holder(coord)
    until(lambda: key_holder_rows(coord)[failing] == lifecycle.ENDED, coord, "the failed calculation's key to go")
    assert not secret_of(coord, failing).exists() and not leftover.exists()
    assert key_holder_rows(coord)[running] == "keyed" and secret_of(coord, running).exists()
    assert {p.name for p in key_files(coord)} >= {secret_of(coord, running).name}
