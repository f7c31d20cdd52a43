"""The node's store on import, in real processes: a full disk, a read-only store and a SIGKILL in the
middle of `tanji node import` each leave the previous data version whole and current (or, killed
after the commit, the new one whole) — never a mix — and the node still answers from it.

A full disk is RLIMIT_FSIZE on the import process (CI runs as root, whom file permissions do not
stop): SQLite's write past the limit fails with EFBIG. A read-only store is SQLite's `mode=ro`
(TANJI_NODE_STORE_READ_ONLY=1), what a store on a read-only mount gives.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tanji.cli import requester
from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir
from tanji.v1 import requester_pb2 as rpb
from tests.harness.data import write_chain
from tests.harness.outcomes import unwrapped
from tests.harness.processes import LocalFederation, assert_matches_reference, wait_for_file

pytestmark = pytest.mark.integration
S = rpb.CalculationState
VICTIM = "leaf-01"


def snapshot(db: Path) -> dict:
    """Every imported version and factor set, bytes included, and SQLite's own integrity verdict."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {"versions": con.execute("SELECT version, sha256, factor_set_sha256, content, file FROM data_versions "
                                        "ORDER BY version").fetchall(),
                "factor_sets": con.execute("SELECT sha256, content FROM factor_sets ORDER BY sha256").fetchall(),
                "integrity": con.execute("PRAGMA integrity_check").fetchone()[0]}
    finally:
        con.close()


def second_version(chain: Path, out: Path, padding: int) -> Path:
    """The victim's data with twice the electricity (the result must move) and `padding` bytes of an
    x- field (kept, ignored), so that writing it needs room."""
    shutil.copytree(chain, out)
    doc = json.loads((chain / f"{VICTIM}.json").read_text())
    for a in doc["products"][0]["activities"]:
        if a["kind"] == "electricity":
            a["amount"] *= 2
    doc["x-padding"] = "p" * padding
    (out / f"{VICTIM}.json").write_text(json.dumps(doc))
    return out / f"{VICTIM}.json"


def tanji_import(state: Path, data: Path, factors: Path, env: dict | None = None, fsize: int | None = None):
    args = [sys.executable, "-m", "tanji", "node", "import", "--state", str(state), "--data", str(data),
            "--factors", str(factors)]
    if fsize is not None:
        # a full disk: writes past `fsize` fail with EFBIG instead of killing the import. Set in a small
        # interpreter that then execs the import (a preexec_fn would fork this gRPC-threaded process).
        limited = ("import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                   f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize})); "
                   "os.execv(sys.executable, sys.argv[1:])")
        args = [sys.executable, "-c", limited, *args]
    return subprocess.run(args, env=dict(os.environ, **(env or {})), capture_output=True, text=True, timeout=300)


def test_a_full_disk_or_a_read_only_store_refuses_the_import_by_name_and_the_node_answers_from_the_old_data(tmp_path):
    chain, target = write_chain(tmp_path / "chain", organisations=7)
    v2 = second_version(chain, tmp_path / "chain-v2", padding=1 << 20)
    old = json.loads(reference_result(load_data_dir(chain), target).to_json())["total_kgco2e"]
    new = json.loads(reference_result(load_data_dir(v2.parent), target).to_json())["total_kgco2e"]
    assert abs(new - old) / old > 1e-3  # the second version would change the result
    fed = LocalFederation(tmp_path, data_dir=chain, target=target)
    try:
        node = fed.procs.procs.pop(VICTIM)  # stop it cleanly: its store is quiet and checkpointed
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(timeout=120)
        state, db = fed.state / VICTIM, fed.state / VICTIM / "node.db"
        before = snapshot(db)
        assert [v[0] for v in before["versions"]] == [1] and before["integrity"] == "ok"

        wal = db.with_name("node.db-wal")
        room = max(db.stat().st_size, wal.stat().st_size if wal.exists() else 0) + 64 * 1024
        full = tanji_import(state, v2, chain / "factors.json", fsize=room)
        assert full.returncode == 1   # the machine, not the input (2)
        message = unwrapped(full.stderr)
        assert f"{db}: " in message and str(v2) in message, message   # names the store and the file
        assert any(f"SQLITE_{name}" in message for name in ("FULL", "IOERR")), message   # and SQLite's error
        assert "Traceback" not in full.stderr
        assert snapshot(db) == before

        ro = tanji_import(state, v2, chain / "factors.json", env={"TANJI_NODE_STORE_READ_ONLY": "1"})
        assert ro.returncode == 1
        message = unwrapped(ro.stderr)
        assert f"{db}: " in message and str(v2) in message and "SQLITE_READONLY" in message, message
        assert snapshot(db) == before

        # the node, restarted on its store alone (no --data), answers from version 1
        (state / "ready").unlink(missing_ok=True)
        fed.procs.start(VICTIM, ["node", "serve", "--org", VICTIM, "--state", str(state), "--federation",
                                 str(fed.fed_file), "--coordinator", fed.address, "--answer-everyone"])
        wait_for_file(state / "ready", fed.procs, f"{VICTIM} to register")
        cid = fed.start_calculation()
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert_matches_reference(fed.result(cid), chain, target, rel=1e-6)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        used = con.execute("SELECT data_version FROM handled WHERE calculation_id = ? AND data_version IS NOT NULL",
                           (cid,)).fetchall()
        con.close()
        assert used == [(1,)]
        assert snapshot(db)["versions"] == before["versions"]

        # with room and write access the same file imports: the refusals were the store's, not the data's
        ok = tanji_import(state, v2, chain / "factors.json")
        assert ok.returncode == 0, ok.stderr
        after = snapshot(db)
        assert after["versions"][0] == before["versions"][0]  # version 1 kept, byte for byte
        assert [v[0] for v in after["versions"]] == [1, 2] and after["versions"][1][3] == v2.read_bytes()
    finally:
        fed.stop()


def test_an_import_killed_mid_transaction_leaves_the_old_version_and_killed_after_commit_the_new_one(tmp_path):
    chain, _ = write_chain(tmp_path / "chain", organisations=7)
    v2 = second_version(chain, tmp_path / "chain-v2", padding=4 << 20)  # above SQLite's 2 MiB page cache
    state, db = tmp_path / "state", tmp_path / "state" / "node.db"
    first = tanji_import(state, chain / f"{VICTIM}.json", chain / "factors.json")
    assert first.returncode == 0, first.stderr
    before = snapshot(db)

    killed = tanji_import(state, v2, chain / "factors.json", env={"TANJI_FAULT_POINT": "import-uncommitted"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "TANJI_FAULT_POINT import-uncommitted: killing this process" in killed.stderr
    # megabytes of the new version were on disk, in the WAL, uncommitted, when the process died
    # (SQLite spills its page cache there before the commit)
    assert db.with_name("node.db-wal").stat().st_size > 1 << 20
    assert snapshot(db) == before  # recovery drops the uncommitted frames: the old version, whole

    killed = tanji_import(state, v2, chain / "factors.json", env={"TANJI_FAULT_POINT": "import-committed"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = snapshot(db)
    assert after["integrity"] == "ok"
    assert after["versions"][:1] == before["versions"]
    assert [v[0] for v in after["versions"]] == [1, 2] and after["versions"][1][3] == v2.read_bytes()
