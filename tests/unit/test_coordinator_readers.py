"""Readers of the coordinator's database change nothing: a status call does not sweep leases or
deadlines (the sweeper does), and exporting an audit bundle grants no lease (only a serving
coordinator's start-up does)."""
import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from tanji.coordinator import db
from tanji.coordinator.bundle import write_bundle
from tanji.coordinator.service import Coordinator
from tanji.infra.objectstore import ObjectMissing
from tanji.protocol.bundle import pack, unpack
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tests.harness.world import CID, statuses

MT = epb.MessageType
S = rpb.CalculationState


def snapshot(world) -> dict[str, list]:
    """Every row of every coordinator table."""
    with world.storage.engine.connect() as conn:
        return {t.name: sorted((tuple(r) for r in conn.execute(t.select())), key=repr)
                for t in db.Base.metadata.sorted_tables}


def test_a_status_call_after_a_lease_and_the_deadline_expired_changes_no_row(world):
    world.start()
    world.publish_key()
    assert statuses(world.answer_root()) == ["ACCEPTED"] * 3  # b's merged request is out
    past = db.now() - timedelta(seconds=1)
    with world.c.sessions.begin() as s:
        s.get(db.Party, "b").lease_expires_at = past
        s.get(db.Calculation, CID).deadline = past
    before = snapshot(world)
    st = world.c.status(CID, "a")
    assert st.state == S.CALCULATION_STATE_RUNNING and st.dead_suppliers == 0
    assert snapshot(world) == before
    # the sweeper is what moves it: b is declared dead, then the deadline fails the calculation
    world.c.check_deadlines()
    assert world.inbox("a", MT.MESSAGE_TYPE_DEAD_SUPPLIER)
    st = world.c.status(CID, "a")
    assert st.state == S.CALCULATION_STATE_FAILED and st.failure_code == cpb.REFUSAL_CODE_DEADLINE_EXCEEDED


def test_exporting_a_bundle_changes_no_lease(world, tmp_path):
    world.run_to_decryption()
    assert world.key_holder_answer(MT.MESSAGE_TYPE_RESULT).status == cpb.PUSH_STATUS_ACCEPTED
    fed = tmp_path / "federation.json"
    fed.write_text(json.dumps(json.loads(world.federation.to_json())))
    (tmp_path / "federation.sig").write_bytes(b"\0" * 64)  # read as bytes into the bundle, not checked here
    long_ago = db.now() - timedelta(days=1)
    with world.c.sessions.begin() as s:
        s.execute(update(db.Party).values(lease_expires_at=long_ago))

    def leases():
        with world.c.sessions() as s:
            return {p.id: db.aware(p.lease_expires_at) for p in s.query(db.Party)}

    before = leases()
    assert set(before.values()) == {long_ago}
    # constructing a coordinator (a reader) writes nothing; an export is such a reader
    Coordinator(world.c.sessions, world.objects, world.keys["coordinator"], world.federation)
    write_bundle(tmp_path, CID, fed, tmp_path / "bundle.tar")
    assert (tmp_path / "bundle.tar").stat().st_size > 0
    assert leases() == before


def _exportable(world, tmp_path):
    world.run_to_decryption()
    assert world.key_holder_answer(MT.MESSAGE_TYPE_RESULT).status == cpb.PUSH_STATUS_ACCEPTED
    fed = tmp_path / "federation.json"
    fed.write_text(json.dumps(json.loads(world.federation.to_json())))
    (tmp_path / "federation.sig").write_bytes(b"\0" * 64)
    return fed


def test_a_bundle_written_object_by_object_lists_each_object_under_its_own_hash(world, tmp_path):
    """The export streams the ciphertexts (one in memory at a time) and names each in the manifest by
    its digest without reading it first: every listed hash must still be the member's own."""
    fed = _exportable(world, tmp_path)
    write_bundle(tmp_path, CID, fed, tmp_path / "bundle.tar")
    files = unpack((tmp_path / "bundle.tar").read_bytes())
    listed = json.loads(files["manifest.json"])["files"]
    assert set(listed) == set(files) - {"manifest.json", "manifest.sig"}
    assert {n: hashlib.sha256(files[n]).hexdigest() for n in listed} == listed
    objects = [n for n in listed if n.startswith("objects/")]
    assert objects and all(listed[n] == n.removeprefix("objects/") for n in objects)
    assert pack(files) == (tmp_path / "bundle.tar").read_bytes()  # the same bytes as packing in memory


def test_an_export_that_cannot_read_an_object_leaves_no_bundle(world, tmp_path):
    fed = _exportable(world, tmp_path)
    some = next(p for p in (tmp_path / "objects").rglob("*") if p.is_file())
    some.unlink()
    with pytest.raises(ObjectMissing):
        write_bundle(tmp_path, CID, fed, tmp_path / "bundle.tar")
    assert not (tmp_path / "bundle.tar").exists() and not (tmp_path / "bundle.tar.tmp").exists()
