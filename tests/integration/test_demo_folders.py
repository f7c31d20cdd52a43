"""Issue #12: after `tanji demo`, each private key is in exactly one party's folder, the registry's
folder holds only the registry and CA keys, and no folder but an organisation's own holds any run
of bytes of its node-data file (24 bytes or more that no other organisation's file or the factor
set shares; the requester's declaration, released in the result by design, aside)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.harness.paths import EXAMPLES

pytestmark = pytest.mark.integration
W = 24  #: the shortest run of a node-data file looked for elsewhere
K = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def windows(data: bytes) -> np.ndarray:
    """A 64-bit fingerprint of every W-byte run of `data` (three 8-byte words, mixed)."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.uint64)
    n = len(a) - W + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    word = np.zeros(len(a) - 7, dtype=np.uint64)
    for k in range(8):
        word |= a[k:len(a) - 7 + k] << np.uint64(8 * k)
    with np.errstate(over="ignore"):
        return word[0:n] * K[0] + word[8:n + 8] * K[1] + word[16:n + 16] * K[2]


def declaration_span(text: bytes) -> tuple[int, int]:
    start = text.find(b'"declaration"')
    if start < 0:
        return (0, 0)
    depth, i = 0, text.index(b"{", start)
    for j in range(i, len(text)):
        depth += {ord("{"): 1, ord("}"): -1}.get(text[j], 0)
        if depth == 0:
            return (start, j + 1)
    return (start, len(text))


def public_ids(files: dict[str, bytes]) -> set[bytes]:
    """Organisation and product ids: on the federation list and in the registered supply edges by design."""
    ids = set()
    for name, raw in files.items():
        if name == "factors":
            continue
        doc = json.loads(raw)
        ids.add(doc["organisation"]["id"])
        for p in doc["products"]:
            ids.add(p["id"])
            ids.update(x for i in p.get("inputs", []) for x in (i["supplier"], i["product"]))
    return {f'"{i}"'.encode() for i in ids}


def distinctive(data_dir: Path) -> dict[str, np.ndarray]:
    """Per organisation: the fingerprints of the runs of its file that no other file of the folder has,
    that hold no public id and lie outside the released declaration."""
    files = {p.stem: p.read_bytes() for p in data_dir.glob("*.json")}
    prints = {name: windows(b) for name, b in files.items()}
    ids = public_ids(files)
    out = {}
    for org, raw in files.items():
        if org == "factors":
            continue
        others = np.concatenate([h for name, h in prints.items() if name != org])
        mine = prints[org]
        keep = ~np.isin(mine, others)
        lo, hi = declaration_span(raw)
        keep[max(0, lo - W + 1):hi] = False  # the declaration is the result's to publish
        for public in ids:
            at = raw.find(public)
            while at >= 0:
                keep[max(0, at - W + 1):at + len(public)] = False
                at = raw.find(public, at + 1)
        letters = np.array([sum(chr(c).isalnum() for c in raw[i:i + W]) >= 8 for i in range(len(mine))])
        out[org] = np.unique(mine[keep & letters])
    return out


def test_every_party_folder_holds_only_its_own_keys_and_data(tmp_path):
    data = EXAMPLES / "nmc811-pack"
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--product",
                           "pack-assembler/PACK-NMC811-80", "--out", str(out)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "result.json").read_text())["total_kgco2e"] == pytest.approx(7679.6593, abs=1e-3)
    state = out / "state"
    folders = sorted(p for p in state.iterdir() if p.is_dir())
    orgs = {p.stem for p in data.glob("*.json")} - {"factors"}
    assert {f.name for f in folders} == orgs | {"coordinator", "keyholder", "registry"}

    # private keys: each in one file of one folder; nobody's but the party's own
    keys: dict[bytes, list[Path]] = {}
    for f in state.rglob("*"):
        if f.is_file() and b"PRIVATE KEY-----" in (raw := f.read_bytes()):
            keys.setdefault(raw, []).append(f.relative_to(state))
    assert all(len(where) == 1 for where in keys.values()), keys
    held: dict[str, set[str]] = {}
    for (where,) in keys.values():
        held.setdefault(where.parts[0], set()).add(where.name)
    assert held.pop("registry") == {"registry-key.pem", "ca.key"}
    assert held == {party: {"envelope-key.pem", f"{party}.key"} for party in orgs | {"coordinator", "keyholder"}}
    bodies = [b"".join(pem.splitlines()[1:-1]) for pem in keys]   # the key material, wherever it might be copied
    for f in state.rglob("*"):
        if f.is_file():
            raw = f.read_bytes().replace(b"\n", b"")
            assert sum(body in raw for body in bodies) <= 1, f

    assert leaks_of_node_data(data, state) == []


def leaks_of_node_data(data: Path, state: Path) -> list[tuple[str, str]]:
    """(organisation, file) for every file outside the organisation's folder holding a run of its file."""
    runs = distinctive(data)
    owner = np.concatenate([np.full(len(h), i) for i, h in enumerate(runs.values())])
    table = np.concatenate(list(runs.values()))
    order = np.argsort(table)
    table, owner = table[order], owner[order]
    names = list(runs)
    leaks = set()
    for f in state.rglob("*"):
        if not f.is_file():
            continue
        prints = windows(f.read_bytes())
        at = np.clip(np.searchsorted(table, prints), 0, len(table) - 1)
        for i in np.unique(owner[at[table[at] == prints]]):
            if f.relative_to(state).parts[0] != names[i]:
                leaks.add((names[i], str(f.relative_to(state))))
    return sorted(leaks)


def test_the_scan_finds_a_planted_run(tmp_path):
    data = EXAMPLES / "nmc811-pack"
    raw = (data / "graphite-anode.json").read_bytes()
    (tmp_path / "coordinator").mkdir()
    (tmp_path / "graphite-anode").mkdir()
    (tmp_path / "coordinator" / "copied").write_bytes(b"\0" + raw[len(raw) // 2:len(raw) // 2 + 48] + b"\0")
    (tmp_path / "graphite-anode" / "own").write_bytes(raw)
    assert leaks_of_node_data(data, tmp_path) == [("graphite-anode", "coordinator/copied")]
