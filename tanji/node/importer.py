"""Import a factor set and a node-data file into the node's store — validated whole, atomically.

A new data version is one SQLite transaction: a crash, a full disk or a read-only
store leaves the previous version current and no trace of the new one.
"""
from __future__ import annotations

from pathlib import Path

from tanji.errors import TanjiError
from tanji.infra.faults import crash_point
from tanji.methodology.loader import LoadedFactorSet, LoadedNodeData, parse_factor_set, parse_node_data
from tanji.node import plausibility
from tanji.node.store import DataVersion, FactorSetRow, NodeStore


def read_bytes(path: Path) -> bytes:
    from tanji.errors import DataError
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(str(path), "(document)", f"cannot read: {exc.strerror}") from None


def import_files(store: NodeStore, data_file: Path, factors_file: Path,
                 ceilings: dict[str, float] | None = None,
                 data_bytes: bytes | None = None) -> tuple[LoadedNodeData, LoadedFactorSet, int]:
    """Validate both files (raises DataError/DataErrors naming file and path) and the operator's
    plausibility ceilings, then store them in one transaction. `data_bytes`: the node data's JSON
    when `data_file` is not JSON itself (a supplier workbook, converted by the CLI)."""
    fs_bytes = read_bytes(factors_file)
    factors = parse_factor_set(fs_bytes, str(factors_file))
    nd_bytes = read_bytes(data_file) if data_bytes is None else data_bytes
    nd = parse_node_data(nd_bytes, str(data_file), factors)
    plausibility.check(nd.model, ceilings or {}, str(data_file))
    latest = store.latest_data()
    if latest is not None and latest.sha256 == nd.sha256 and latest.factor_set_sha256 == factors.sha256:
        return nd, factors, latest.version
    kept = (f"nothing was imported; data version {latest.version} stays current" if latest is not None
            else "nothing was imported; the store holds no data yet")
    with store.writing(f"import {data_file} as a new data version", kept) as s:
        if s.get(FactorSetRow, factors.sha256) is None:
            s.add(FactorSetRow(sha256=factors.sha256, content=fs_bytes, file=str(factors_file)))
        row = DataVersion(sha256=nd.sha256, factor_set_sha256=factors.sha256, content=nd_bytes, file=str(data_file))
        s.add(row)
        s.flush()
        version = row.version
        crash_point("import-uncommitted")
    crash_point("import-committed")
    return nd, factors, version


def load_current(store: NodeStore) -> tuple[LoadedNodeData, LoadedFactorSet, int] | None:
    """The newest imported version, re-validated from the stored bytes."""
    latest = store.latest_data()
    if latest is None:
        return None
    fs_row = store.factor_set(latest.factor_set_sha256)
    if fs_row is None:
        raise TanjiError(f"the store's data version {latest.version} names a factor set it does not hold")
    factors = parse_factor_set(fs_row.content, fs_row.file)
    return parse_node_data(latest.content, latest.file, factors), factors, latest.version
