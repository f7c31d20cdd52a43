"""`tanji audit statement`: the verifier's statement — what was checked, what passed, what could not be
checked — built from the real outcome of `tanji.audit.verify` and `tanji.audit.check_node`, for the
verifier to sign.

Every line comes from a check that ran (or, named, one that could not run because an earlier one
failed); the list of what was not checked names the organisations whose raw data nobody opened.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tanji.audit import trusted
from tanji.audit.check_node import check_node
from tanji.audit.report import Check, Report
from tanji.audit.verify import verify_bundle
from tanji.errors import DataError
from tanji.protocol.bundle import BundleFormatError, unpack
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType
#: the checks of `tanji audit verify`, grouped as a verifier reports them (names as tanji.audit names them)
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Trust and signatures", ("trust anchor", "manifest signature", "manifest schema", "manifest covers every file",
                              "signatures", "one calculation", "senders' roles", "objects bound to their hashes")),
    ("Completeness", ("manifest matches the signed envelopes", "completeness")),
    ("Transparency log", ("signed tree head", "inclusion in the log", "log consistency")),
    ("Re-executed aggregation", ("aggregate answers the request", "merged requests", "aggregation re-executed",
                                 "attested")),
    ("Released result", ("key holder's result",)),
)
CONTRIBUTIONS = (MT.MESSAGE_TYPE_CONTRIBUTION, MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION)


@dataclass
class Line:
    name: str
    state: str          # passed | failed | not checked
    detail: str = ""


@dataclass
class OpeningView:
    file: str
    organisation: str
    ok: bool
    lines: list[Line]


@dataclass
class StatementView:
    ok: bool
    created: str
    tool: str
    bundle_file: str
    bundle_sha256: str
    anchor_hex: str
    manifest: dict[str, Any]
    summary: dict[str, Any]
    groups: list[tuple[str, list[Line]]] = field(default_factory=list)
    openings: list[OpeningView] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    contributors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for _, lines in self.groups for x in lines if x.state == "failed") + sum(
            1 for o in self.openings for x in o.lines if x.state == "failed")


def _lines(report: Report) -> list[Line]:
    return [Line(c.name, "passed" if c.ok else "failed", c.detail) for c in report.checks]


def _grouped(report: Report) -> list[tuple[str, list[Line]]]:
    """Each group's checks; a check that never ran (an earlier one failed) is named as not checked."""
    by_name: dict[str, Check] = {c.name: c for c in report.checks}
    out, known = [], set()
    for title, names in GROUPS:
        lines = []
        for name in names:
            known.add(name)
            c = by_name.get(name)
            lines.append(Line(name, "not checked", "an earlier check failed: nothing further in the bundle can be "
                              "believed") if c is None else Line(name, "passed" if c.ok else "failed", c.detail))
        out.append((title, lines))
    other = [Line(c.name, "passed" if c.ok else "failed", c.detail) for c in report.checks if c.name not in known]
    if other:
        out.insert(0, ("Bundle", other))
    return out


def _contributors(data: bytes, anchor: bytes) -> list[str] | None:
    """The organisations whose signed contributions the bundle holds (None: the bundle is not trusted)."""
    b = trusted.load(data, anchor, Report())
    if b is None:
        return None
    return sorted({o.body.sender for o in b.envelopes.values() if o.body.message_type in CONTRIBUTIONS})


def _opening(file: str, data: bytes, bundle: bytes, anchor: bytes) -> OpeningView:
    report = check_node(bundle, data, anchor)
    try:
        org = str(json.loads(unpack(data)["opening.json"]).get("organisation", "?"))
    except (BundleFormatError, KeyError, ValueError, AttributeError):
        org = "?"
    return OpeningView(file, org, report.ok, _lines(report))


def build_statement(bundle_file: str, bundle: bytes, anchor: bytes,
                    openings: list[tuple[str, bytes]]) -> StatementView:
    report = verify_bundle(bundle, anchor)
    try:
        manifest = json.loads(unpack(bundle)["manifest.json"])
        manifest = manifest if isinstance(manifest, dict) else {}
    except (BundleFormatError, KeyError, ValueError):
        manifest = {}
    try:
        tool = f"tanji {version('tanji')}"
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without metadata
        tool = "tanji"
    view = StatementView(ok=False, created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), tool=tool,
                         bundle_file=bundle_file, bundle_sha256=hashlib.sha256(bundle).hexdigest(),
                         anchor_hex=anchor.hex(), manifest=manifest, summary=dict(report.summary),
                         groups=_grouped(report))
    view.openings = [_opening(Path(name).name, data, bundle, anchor) for name, data in openings]
    view.ok = report.ok and all(o.ok for o in view.openings)
    view.contributors = _contributors(bundle, anchor) or []
    view.unchecked = not_checked(view, report)
    return view


def not_checked(view: StatementView, report: Report) -> list[str]:
    """What this verification could not establish, from what ran and what was given."""
    out = []
    missing = [x.name for _, lines in view.groups for x in lines if x.state == "not checked"]
    if missing:
        out.append(f"{len(missing)} check(s) could not run because the bundle failed an earlier check: "
                   f"{', '.join(missing)}.")
    opened = {o.organisation for o in view.openings if o.ok}
    unopened = [c for c in view.contributors if c not in opened]
    if view.contributors and unopened:
        out.append(f"Raw data not opened on site for {len(unopened)} of {len(view.contributors)} contributing "
                   f"organisations ({', '.join(unopened)}): their contributions are checked to be signed, "
                   "committed, complete and summed, not to be true to their operations.")
    elif not view.contributors:
        out.append("No contributing organisation could be identified in a trusted bundle, so no raw data "
                   "could be tied to it.")
    for o in view.openings:
        if not o.ok:
            out.append(f"The opening {o.file} ({o.organisation}) does not match the bundle: its raw data is "
                       "not shown to be what was summed.")
    fallbacks = view.summary.get("fallbacks") or []
    if fallbacks:
        names = ", ".join(f"{f['supplier']}/{f['product']} (for {f['buyer']})" for f in fallbacks)
        out.append(f"{len(fallbacks)} supplier(s) answered for by their buyers' fallback factors: {names}. "
                   "Their own data is not in the total.")
    if report.ok:
        out.append("The decryption itself: nobody but the key holder holds the key. The released figures are "
                   "tied to the attested aggregate by the key holder's signature, not recomputed here.")
        sha = view.manifest.get("factor_set", {}).get("sha256", "") if isinstance(
            view.manifest.get("factor_set"), dict) else ""
        out.append(f"The emission factors' values: the factor set is identified by its hash ({sha or 'not named'}); "
                   "whether its values are right is the factor provider's, not this check's.")
    return out


def read_openings(paths: list[Path]) -> list[tuple[str, bytes]]:
    out = []
    for p in paths:
        try:
            out.append((str(p), p.read_bytes()))
        except OSError as exc:
            raise DataError(str(p), "(document)", f"cannot read: {exc.strerror}") from None
    return out


def write_statement(bundle_path: Path, bundle: bytes, anchor: bytes, openings: list[tuple[str, bytes]],
                    out: Path) -> StatementView:
    from tanji.documents.report_render import render_html, write_document

    view = build_statement(bundle_path.name, bundle, anchor, openings)
    write_document(render_html("statement.html", view=view), out)
    return view
