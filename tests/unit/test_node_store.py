"""The node's store names itself and what failed when it refuses a write (no processes here;
the full disk, the read-only store and the crashes in real processes: tests/integration/test_node_store.py)."""
import subprocess
import sys
from pathlib import Path

import pytest

from tanji.node.importer import import_files, load_current
from tanji.node.store import NodeStore, StoreError
from tests.harness.data import factors_doc, node_doc, product_doc, write_dir


def _files(tmp_path):
    act = [{"kind": "electricity", "amount": 3.0, "unit": "kWh", "model": "national_average"}]
    d = write_dir(tmp_path / "data", factors_doc(), node_doc("cell-co", [product_doc("CELL", activities=act)]))
    return d / "cell-co.json", d / "factors.json"


def test_an_import_into_a_read_only_store_names_the_store_and_keeps_the_current_version(tmp_path):
    data, factors = _files(tmp_path)
    db = tmp_path / "state" / "node.db"
    import_files(NodeStore(db), data, factors)
    data.write_text(data.read_text().replace("3.0", "4.0"))
    with pytest.raises(StoreError) as err:
        import_files(NodeStore(db, read_only=True), data, factors)
    assert (err.value.path, err.value.what) == (db, f"import {data} as a new data version")
    assert "SQLITE_READONLY" in err.value.reason   # SQLite's own error name
    current = load_current(NodeStore(db))
    assert current is not None and current[2] == 1


def test_a_read_only_store_that_does_not_exist_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TANJI_NODE_STORE_READ_ONLY", "1")
    db = tmp_path / "nowhere" / "node.db"
    with pytest.raises(StoreError) as err:
        NodeStore(db)
    assert (err.value.path, err.value.what) == (db, "open the node's store read-only")
    assert "SQLITE_CANTOPEN" in err.value.reason


def test_a_store_written_before_refusal_codes_opens_in_place_and_keeps_its_refusals(tmp_path):
    """A node upgraded in place: its `handled` table had no refusal_code, and an older node noted a
    refusal only in the outcome text; the column is added on open and those rows count as refused."""
    import sqlite3

    from tanji.node.ledger import ledger
    from tanji.node.store import Handled
    from tanji.v1 import common_pb2 as cpb

    db = tmp_path / "node.db"
    NodeStore(db).engine.dispose()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE handled DROP COLUMN refusal_code")
    for i, outcome in enumerate(("answered CELL: 0 requests sent", "refused: cell-co has not approved x")):
        con.execute("INSERT INTO handled (hash, calculation_id, kind, outcome, handled_at) VALUES (?, ?, ?, ?, ?)",
                    (bytes([i]) * 32, f"calc-{i}", "MESSAGE_TYPE_MERGED_REQUEST", outcome, "2026-11-25 08:00:00"))
    con.commit()
    con.close()
    store = NodeStore(db)
    with store.sessions.begin() as s:
        answered, refused = (s.get_one(Handled, bytes([i]) * 32) for i in range(2))
        assert (answered.refused, refused.refused) == (False, True)
        assert refused.refusal_code == cpb.REFUSAL_CODE_UNSPECIFIED   # refused, the code was not kept then
        s.add(Handled(hash=b"n" * 32, calculation_id="calc-2", kind="MESSAGE_TYPE_MERGED_REQUEST",
                      outcome="refused: rate", refusal_code=cpb.REFUSAL_CODE_RATE_LIMITED))
    assert [e.answered for e in ledger(NodeStore(db))] == [["answered CELL: 0 requests sent"],
                                                          ["refused: cell-co has not approved x"], ["refused: rate"]]


_HOLD_PROBE = """
import os, sys
from pathlib import Path
from tanji.node.outbox import queue_ciphertext
from tanji.node.hosting import small_cache
from tanji.node.store import NodeStore, OutObject

def anon_kib():
    return int(Path("/proc/self/status").read_text().split("RssAnon:")[1].split()[0])

stores = [NodeStore(Path(sys.argv[1]) / f"{i}" / "node.db") for i in range(12)]
for store in stores:
    small_cache(store)  # as a pool process opens them: 256 KiB of pages each
blobs = [os.urandom(2_625_104) for _ in range(2)]
before = anon_kib()
for store in stores:
    for n, blob in enumerate(blobs):
        with store.sessions.begin() as s:
            queue_ciphertext(s, "calc", bytes([n]) * 32, blob)
        with store.sessions() as s:
            assert s.get(OutObject, bytes([n]) * 32).content == blob
print(anon_kib() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssAnon from /proc (Linux)")
def test_a_store_keeps_no_copy_of_the_ciphertexts_it_wrote_and_read(tmp_path):
    """A pool process hosts hundreds of stores: Python's sqlite3 statement cache kept every 2.6 MB
    ciphertext a statement had bound or fetched, per store (2.9 GB for 500 hosted nodes)."""
    out = subprocess.run([sys.executable, "-c", _HOLD_PROBE, str(tmp_path)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    grown_mib = int(out.stdout.strip()) / 1024
    assert grown_mib < 12, f"12 stores kept {grown_mib:.0f} MiB after writing and reading two ciphertexts each"
