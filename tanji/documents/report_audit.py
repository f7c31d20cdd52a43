"""The audit verdict a report states: the bundle verified by `tanji.audit.verify` (the very checks of
`tanji audit verify`), and the result shown being the one its key holder signed in that bundle.

A result given without a bundle is stated as unverified, never shown as fine.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from tanji.audit.report import Check
from tanji.audit.verify import verify_bundle
from tanji.errors import DataError
from tanji.protocol.bundle import BundleFormatError, unpack
from tanji.protocol.federation import read_anchor

UNCHECKED, VERIFIED, FAILED = "unchecked", "verified", "failed"


@dataclass
class Verdict:
    state: str                               # unchecked | verified | failed
    summary: str
    bundle_sha256: str = ""
    anchor_hex: str = ""
    key_holder: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == VERIFIED


def unchecked(result_calculation: str) -> Verdict:
    what = ("a plaintext reference calculation: no key holder signed it"
            if result_calculation.startswith("reference-") else
            "no audit bundle was given, so the key holder's signature was not checked")
    return Verdict(UNCHECKED, f"Not verified: {what}. The figures are as the result file states them.")


def read_inputs(bundle: Path, trust: Path) -> tuple[bytes, bytes]:
    """The bundle's bytes and the trust anchor (DataError naming the file)."""
    anchor = read_anchor(trust)
    try:
        return bundle.read_bytes(), anchor
    except OSError as exc:
        raise DataError(str(bundle), "(document)", f"cannot read: {exc.strerror}") from None


def verdict_for(result_doc: dict, bundle_data: bytes, anchor: bytes) -> Verdict:
    """Verify the bundle, then tie the result to the key holder's signed result in it."""
    report = verify_bundle(bundle_data, anchor)
    checks = list(report.checks)
    signed: dict | None = None
    key_holder = ""
    try:
        files = unpack(bundle_data)
        signed = json.loads(files["result.json"])
        key_holder = str(json.loads(files["manifest.json"]).get("key_holder", ""))
    except (BundleFormatError, KeyError, ValueError, AttributeError):
        pass
    same = signed is not None and signed == result_doc
    checks.append(Check("the result shown is the key holder's signed result", same,
                        "equal to the bundle's signed result.json" if same else
                        "this result differs from the one signed in the bundle" if signed is not None else
                        "the bundle holds no readable result.json"))
    bundle_sha = hashlib.sha256(bundle_data).hexdigest()
    if report.ok and same:
        return Verdict(VERIFIED, f"Verified: the audit bundle passes all {len(report.checks)} checks of "
                       f"tanji audit verify, and this result is the one signed in it by the key holder "
                       f"({key_holder}).", bundle_sha, anchor.hex(), key_holder, checks)
    failed = [c.name for c in checks if not c.ok]
    return Verdict(FAILED, f"NOT VERIFIED: {len(failed)} check(s) failed ({'; '.join(failed)}). "
                   f"Do not rely on these figures.", bundle_sha, anchor.hex(), key_holder, checks)
