"""Where the coordinator keeps objects and half-finished uploads: files (one process) or the
database (replicas: the next chunk of an upload may reach another replica)."""
import hashlib
import os

import pytest
from sqlalchemy import update

from tanji.coordinator import db
from tanji.coordinator.storage import ChunkPastEnd, DatabaseObjects, DatabaseStaging, FileStaging, open_storage
from tanji.infra.objectstore import ObjectCorrupt, ObjectMissing


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else db.sqlite_url(tmp_path / "c.db")
    e = db.make_engine(url)
    yield e
    e.dispose()


def test_objects_in_the_database_are_content_addressed(engine):
    objects = DatabaseObjects(db.session_factory(engine))
    data = os.urandom(3000)
    digest = objects.put(data)
    assert digest == hashlib.sha256(data).digest()
    assert objects.put(data) == digest  # twice: stored once
    assert objects.has(digest) and objects.get(digest) == data and objects.size(digest) == 3000
    assert objects.all_hashes() == [digest]
    with pytest.raises(ObjectMissing):
        objects.get(b"\x01" * 32)
    with db.session_factory(engine).begin() as s:  # a row whose bytes changed underneath
        s.execute(update(db.StoredObject).values(data=b"tampered"))
    with pytest.raises(ObjectCorrupt):
        objects.get(digest)


def _stagings(kind, engine, tmp_path):
    if kind == "files":
        return FileStaging(tmp_path / "staging"), FileStaging(tmp_path / "staging")
    # two replicas: two engines (two pools) on one database
    other = db.connect(str(engine.url.render_as_string(hide_password=False)))
    return DatabaseStaging(db.session_factory(engine)), DatabaseStaging(db.session_factory(other))


@pytest.mark.parametrize("kind", ["files", "database"])
def test_an_upload_continues_wherever_its_next_chunk_arrives(kind, engine, tmp_path):
    one, two = _stagings(kind, engine, tmp_path)
    data = os.urandom(2500)
    digest = hashlib.sha256(data).digest()
    assert one.append(digest, 0, data[:1000], len(data)) == (1000, None)
    assert two.received(digest) == 1000
    assert two.append(digest, 0, data[:1000], len(data)) == (1000, None)  # a retried chunk: kept once
    assert two.append(digest, 2000, data[2000:], len(data)) == (1000, None)  # out of order: ignored
    assert two.append(digest, 1000, data[1000:2000], len(data)) == (2000, None)
    have, whole = one.append(digest, 2000, data[2000:], len(data))
    assert (have, whole) == (2500, data)
    assert one.received(digest) == two.received(digest) == 0  # staging is gone once the object is whole


@pytest.mark.parametrize("kind", ["files", "database"])
def test_a_chunk_past_the_declared_size_drops_the_upload(kind, engine, tmp_path):
    one, _ = _stagings(kind, engine, tmp_path)
    digest = b"\x02" * 32
    one.append(digest, 0, b"x" * 10, 15)
    with pytest.raises(ChunkPastEnd):
        one.append(digest, 10, b"y" * 10, 15)
    assert one.received(digest) == 0


def test_sqlite_keeps_objects_as_files_and_postgresql_in_the_database(tmp_path):
    storage = open_storage(tmp_path)
    assert not storage.shared and isinstance(storage.staging, FileStaging)
    digest = storage.objects.put(b"ciphertext")
    assert (tmp_path / "objects" / digest.hex()[:2] / digest.hex()[2:]).is_file()
    storage.engine.dispose()


@pytest.mark.integration
def test_postgresql_storage_is_shared(postgres_url, tmp_path):
    storage = open_storage(tmp_path / "replica", postgres_url)
    assert storage.shared and isinstance(storage.objects, DatabaseObjects)
    storage.objects.put(b"ciphertext")
    assert not (tmp_path / "replica" / "objects").exists()  # a replica keeps nothing of its own
    storage.engine.dispose()
