"""Reading files into validated models: one factor set, node-data files, a data directory.

A file is validated whole before anything uses it; node data is also checked
against the factor set (every factor id it names exists, units match) by
computing its own footprint under every method profile.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from tanji.errors import DataError, DataErrors
from tanji.methodology import profiles
from tanji.methodology.footprint import (
    HOME_COUNTRY,
    MissingNationalAverage,
    RecordError,
    fallback,
    national_average_id,
    national_factor_id,
    own,
)
from tanji.methodology.formats.base import clip, errors_from_validation
from tanji.methodology.formats.factorset import FACTOR_SET_SCHEMA, Factor, FactorSet
from tanji.methodology.formats.nodedata import NODE_DATA_SCHEMA, NodeData
from tanji.methodology.jsonio import parse_json_bytes

log = logging.getLogger(__name__)
SCHEMAS = (FACTOR_SET_SCHEMA, NODE_DATA_SCHEMA)
_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True)
class LoadedFactorSet:
    model: FactorSet
    sha256: str
    file: str

    @property
    def by_id(self) -> dict[str, Factor]:
        return self.model.by_id()


@dataclass(frozen=True)
class LoadedNodeData:
    model: NodeData
    sha256: str
    file: str

    @property
    def org(self) -> str:
        return self.model.organisation.id


def _schema_of(doc: object, file: str) -> str:
    if not isinstance(doc, dict):
        raise DataError(file, "(document)", "a tanji file is a JSON object")
    schema = doc.get("schema")
    if not isinstance(schema, str) or schema not in SCHEMAS:
        expected = ", ".join(SCHEMAS)
        raise DataError(file, "schema", f"unknown schema {clip(repr(schema), 80)}; expected one of {expected}")
    return schema


def _validate(model: type[_Model], doc: object, file: str) -> _Model:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise errors_from_validation(exc, file) from None


def parse_factor_set(data: bytes, file: str) -> LoadedFactorSet:
    doc = parse_json_bytes(data, file)
    if _schema_of(doc, file) != FACTOR_SET_SCHEMA:
        raise DataError(file, "schema", f"expected {FACTOR_SET_SCHEMA!r}, found {doc['schema']!r}")
    fs = _validate(FactorSet, doc, file)
    families = {f.family for f in fs.factors if f.id.startswith("electricity.") and f.family}
    if len(families) > 1:
        log.warning("%s: electricity factors mix families %s; results mix CO2-only and life-cycle figures",
                    file, sorted(families))
    return LoadedFactorSet(fs, hashlib.sha256(data).hexdigest(), file)


#: amounts are finite by format, yet amount × factor can overflow: such a file could never be computed
_OVERFLOW = "the footprint is not a finite number: an amount (or its factor) is far too large"


def check_national_average(nd: NodeData, factors: LoadedFactorSet, file: str) -> DataError | None:
    """FORMATS 1.1 §2: an organisation outside CN with any electricity record needs its own country's
    national average in the factor set — China's average is never applied to a plant elsewhere."""
    org = nd.organisation
    if org.country == HOME_COUNTRY or national_average_id(org.country, factors.by_id) is not None:
        return None
    first = next((f"products[{i}].activities[{j}]" for i, p in enumerate(nd.products)
                  for j, a in enumerate(p.activities) if a.kind == "electricity"), None)
    if first is None:
        return None
    return DataError(file, "organisation.country",
                     f"organisation {org.id!r} is in {org.country} and has electricity records (first: {first}), "
                     f"but the factor set {factors.model.id!r} has no national average for {org.country}: "
                     f"missing factor {national_factor_id(org.country)!r} (China's average is never used for a "
                     f"plant elsewhere)")


def check_against_factors(nd: NodeData, factors: LoadedFactorSet, file: str) -> None:
    """Refuse node data naming a factor the set lacks or with units that don't match it."""
    by_id = factors.by_id
    problems: list[DataError] = []
    national = check_national_average(nd, factors, file)
    if national is not None:
        problems.append(national)
    seen: set[str] = set()
    for i, product in enumerate(nd.products):
        for profile in profiles.PROFILES.values():
            try:
                part = own(product, nd.organisation.id, nd.organisation.country, by_id, profile)
            except MissingNationalAverage as exc:
                if national is None:  # China without any national average: named at the record
                    where = f"products[{i}].{exc.path}"
                    if where not in seen:
                        seen.add(where)
                        problems.append(DataError(file, where, f"{exc.message} (needed under method {profile.name!r})"))
                continue
            except RecordError as exc:
                where = f"products[{i}].{exc.path}"
                if where not in seen:
                    seen.add(where)
                    problems.append(DataError(file, where, f"{exc.message} (needed under method {profile.name!r})"))
                continue
            if not np.all(np.isfinite(part.vector)) and f"products[{i}]" not in seen:
                seen.add(f"products[{i}]")
                problems.append(DataError(file, f"products[{i}]", _OVERFLOW))
        for j, inp in enumerate(product.inputs):
            if inp.fallback_factor is None:
                continue
            try:
                stand_in = fallback(inp, j, f"{nd.organisation.id}/{product.id}", by_id)
            except RecordError as exc:
                problems.append(DataError(file, f"products[{i}].{exc.path}", exc.message))
                continue
            if not np.all(np.isfinite(stand_in.vector)):
                problems.append(DataError(file, f"products[{i}].inputs[{j}].quantity", _OVERFLOW))
    if problems:
        raise DataErrors(problems)


def parse_node_data(data: bytes, file: str, factors: LoadedFactorSet) -> LoadedNodeData:
    doc = parse_json_bytes(data, file)
    if _schema_of(doc, file) != NODE_DATA_SCHEMA:
        raise DataError(file, "schema", f"expected {NODE_DATA_SCHEMA!r}, found {doc['schema']!r}")
    nd = _validate(NodeData, doc, file)
    check_against_factors(nd, factors, file)
    return LoadedNodeData(nd, hashlib.sha256(data).hexdigest(), file)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(str(path), "(document)", f"cannot read: {exc.strerror}") from None


def load_factor_set(path: Path) -> LoadedFactorSet:
    return parse_factor_set(_read(path), str(path))


def load_node_data(path: Path, factors: LoadedFactorSet) -> LoadedNodeData:
    return parse_node_data(_read(path), str(path), factors)


@dataclass
class DataDir:
    """Every file of a data directory: one factor set, one node file per organisation."""

    factors: LoadedFactorSet
    nodes: dict[str, LoadedNodeData] = field(default_factory=dict)


def load_data_dir(directory: Path) -> DataDir:
    """Load `*.json` in `directory`; a bad file, a second factor set or a second file of one organisation is refused."""
    if not directory.is_dir():
        raise DataError(str(directory), "(directory)", "not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix == ".json" and p.is_file())
    raw = {p: _read(p) for p in files}
    factor_files: list[Path] = []
    node_files: list[Path] = []
    for path, data in raw.items():
        schema = _schema_of(parse_json_bytes(data, str(path)), str(path))
        (factor_files if schema == FACTOR_SET_SCHEMA else node_files).append(path)
    if len(factor_files) != 1:
        found = ", ".join(p.name for p in factor_files) or "none"
        raise DataError(str(directory), "(directory)",
                        f"needs exactly one {FACTOR_SET_SCHEMA} file, found {len(factor_files)}: {found}")
    factors = parse_factor_set(raw[factor_files[0]], str(factor_files[0]))
    out = DataDir(factors)
    for path in node_files:
        nd = parse_node_data(raw[path], str(path), factors)
        if nd.org in out.nodes:
            raise DataError(str(path), "organisation.id",
                            f"organisation {nd.org!r} already comes from {out.nodes[nd.org].file}")
        out.nodes[nd.org] = nd
    return out
