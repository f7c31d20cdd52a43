"""What a bundle must be before anything in it is believed — the checks `tanji audit verify` and
`tanji audit check-node` share:

* **trust anchor**: the federation list is signed by the pinned registry key;
* **manifest signature**: by the key the list gives the coordinator's role (id `coordinator`,
  role `coordinator`) — a node's key under a manifest that names the node as its coordinator
  is not the coordinator's;
* **manifest covers every file**: every other member listed with its SHA-256;
* **objects bound to their hashes**: `objects/<sha256>` hashes to its name (a coordinator
  re-signing the manifest could otherwise serve other bytes under a contribution's name) and is
  named by an envelope; `envelopes/NNNNN-<type>-<hash>.pb` holds an envelope of that type and hash;
* **signatures**, **one calculation**, **senders' roles**: every envelope verifies under its
  sender's listed key, belongs to the manifest's calculation, and is of a type its sender's role
  sends (merged requests, dead-supplier notices and aggregates only from the coordinator).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from tanji.audit.report import Report
from tanji.errors import TanjiError
from tanji.protocol import envelope as env
from tanji.protocol.bundle import BUNDLE_SCHEMA, MANIFEST_TAG, BundleFormatError, unpack
from tanji.protocol.federation import Federation, UntrustedFederation, check_list
from tanji.protocol.identity import COORDINATOR_ID, ROLE_AUDITOR, ROLE_COORDINATOR, ROLE_KEY_HOLDER, ROLE_NODE
from tanji.protocol.reexecution import MislabelledObject
from tanji.protocol.signing import BadSignature, verify
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType
REQUIRED = ("manifest.json", "manifest.sig", "federation.json", "federation.sig", "log.json", "aggregation.json")
#: the roles that send each message type
SENDER_ROLES: dict[int, tuple[str, ...]] = {
    MT.MESSAGE_TYPE_CALCULATION_REQUEST: (ROLE_NODE,),
    MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT: (ROLE_KEY_HOLDER,),
    MT.MESSAGE_TYPE_REQUEST: (ROLE_NODE,),
    MT.MESSAGE_TYPE_MERGED_REQUEST: (ROLE_COORDINATOR,),
    MT.MESSAGE_TYPE_CONTRIBUTION: (ROLE_NODE,),
    MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS: (ROLE_NODE,),
    MT.MESSAGE_TYPE_DEAD_SUPPLIER: (ROLE_COORDINATOR,),
    MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION: (ROLE_NODE,),
    MT.MESSAGE_TYPE_AGGREGATE: (ROLE_COORDINATOR,),
    MT.MESSAGE_TYPE_ATTESTATION: (ROLE_NODE, ROLE_AUDITOR),
    MT.MESSAGE_TYPE_RESULT: (ROLE_KEY_HOLDER,),
    MT.MESSAGE_TYPE_REFUSAL: (ROLE_NODE, ROLE_KEY_HOLDER, ROLE_AUDITOR),
    MT.MESSAGE_TYPE_CITATION_REPORT: (ROLE_KEY_HOLDER,),
}


def coordinator_key(fed: Federation) -> bytes | None:
    """The coordinator's listed key: the party `coordinator` in the coordinator's role, nobody else."""
    p = fed.parties.get(COORDINATOR_ID)
    return p.public_key if p is not None and p.role == ROLE_COORDINATOR else None


class TrustedBundle:
    """A bundle whose trust checks ran: its files, manifest, federation list and verified envelopes."""

    def __init__(self, files: dict[str, bytes], manifest: dict, fed: Federation):
        self.files, self.manifest, self.fed = files, manifest, fed
        self.envelopes: dict[bytes, env.Opened] = {}
        self.order: list[bytes] = []   # envelope hashes in member (log) order
        self.misnamed: list[str] = []  # envelope members whose name says another type or hash

    def of(self, mt: int) -> list[env.Opened]:
        return [o for o in self.envelopes.values() if o.body.message_type == mt]

    def object(self, digest: bytes) -> bytes:
        """An object's bytes, checked against its name: KeyError if absent, MislabelledObject if other bytes."""
        data = self.files[f"objects/{digest.hex()}"]
        if hashlib.sha256(data).digest() != digest:
            raise MislabelledObject(digest)
        return data

    @property
    def fetch(self) -> Callable[[bytes], bytes]:
        return self.object


def load(data: bytes, anchor: bytes, report: Report) -> TrustedBundle | None:
    """The bundle with every trust check added to `report`; None when nothing further can be checked."""
    try:
        files = unpack(data)
        missing = [n for n in REQUIRED if n not in files]
        if missing:
            raise BundleFormatError(f"missing {', '.join(missing)}")
        manifest = json.loads(files["manifest.json"])
        if not isinstance(manifest, dict):
            raise BundleFormatError("manifest.json is not a JSON object")
    except (BundleFormatError, ValueError) as exc:
        report.add("bundle format", False, str(exc))
        return None
    try:
        check_list(files["federation.json"], files["federation.sig"], anchor, "the bundle's federation list")
        fed = Federation.parse(files["federation.json"], "federation.json")
    except (UntrustedFederation, TanjiError) as exc:
        report.add("trust anchor", False, str(exc))
        return None
    report.add("trust anchor", True, "federation list signed by the pinned registry key")
    b = TrustedBundle(files, manifest, fed)
    _check_manifest(b, report)
    _check_envelopes(b, report)
    _check_members(b, report)
    return b


def _check_manifest(b: TrustedBundle, report: Report) -> None:
    try:
        named, key = b.manifest.get("coordinator"), coordinator_key(b.fed)
        if named != COORDINATOR_ID:
            raise BadSignature(f"the manifest names {named!r} as its coordinator, not {COORDINATOR_ID!r}")
        if key is None:
            raise BadSignature(f"the federation list gives no key to {COORDINATOR_ID!r} in the coordinator's role")
        verify(key, MANIFEST_TAG, b.files["manifest.json"], b.files["manifest.sig"])
        report.add("manifest signature", True, "signed by the coordinator's listed key")
    except BadSignature as exc:
        report.add("manifest signature", False, str(exc))
    report.add("manifest schema", b.manifest.get("schema") == BUNDLE_SCHEMA, f"schema {b.manifest.get('schema')!r}")
    listed = b.manifest.get("files", {})
    present = {n for n in b.files if n not in ("manifest.json", "manifest.sig")}
    missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
    wrong = sorted(n for n in set(listed) & present if hashlib.sha256(b.files[n]).hexdigest() != listed[n])
    found = [f"missing {missing}" if missing else "", f"not in manifest {extra}" if extra else "",
             f"hash differs {wrong}" if wrong else ""]
    report.add("manifest covers every file", not (missing or extra or wrong), "; ".join(filter(None, found)))


def _check_envelopes(b: TrustedBundle, report: Report) -> None:
    bad, foreign, roles = [], [], []
    cid = b.manifest.get("calculation")
    for name in sorted(n for n in b.files if n.startswith("envelopes/")):
        try:
            opened = env.open_envelope(epb.Envelope.FromString(b.files[name]), b.fed.key_of)
        except Exception as exc:
            bad.append(f"{name}: {exc}")
            continue
        if opened.body.calculation_id != cid:
            foreign.append(f"{name} belongs to calculation {opened.body.calculation_id!r}")
        party = b.fed.parties[opened.body.sender]  # open_envelope found its key: it is listed
        allowed = SENDER_ROLES.get(opened.body.message_type, ())
        if party.role not in allowed or (party.role == ROLE_COORDINATOR and party.id != COORDINATOR_ID):
            roles.append(f"{name}: a {opened.type_name} from {party.id!r} ({party.role})")
        kind = opened.type_name.removeprefix("MESSAGE_TYPE_").lower()
        parts = name.removeprefix("envelopes/").removesuffix(".pb").split("-")
        if len(parts) != 3 or parts[1] != kind or parts[2] != opened.hash.hex()[:16]:
            b.misnamed.append(f"{name} holds a {kind} {opened.hash.hex()[:16]}…")
        b.envelopes[opened.hash] = opened
        b.order.append(opened.hash)
    report.add("signatures", not bad, "; ".join(bad) or f"{len(b.envelopes)} envelopes signed by listed parties")
    report.add("one calculation", not foreign, "; ".join(foreign))
    report.add("senders' roles", not roles, "; ".join(roles) or "every envelope sent in its sender's listed role")


def _check_members(b: TrustedBundle, report: Report) -> None:
    """Every object hashes to its name and is named by an envelope; every envelope's name says its type and hash."""
    problems = []
    named = {h for o in b.envelopes.values() for h in o.body.object_hashes}
    for name in sorted(n for n in b.files if n.startswith("objects/")):
        label = name.removeprefix("objects/")
        try:
            digest = bytes.fromhex(label)
        except ValueError:
            digest = b""
        if len(digest) != 32 or hashlib.sha256(b.files[name]).digest() != digest:
            problems.append(f"object {label[:16]}… does not hash to its name")
        elif digest not in named:
            problems.append(f"object {label[:16]}… is named by no envelope")
    problems += b.misnamed
    n = sum(1 for name in b.files if name.startswith("objects/"))
    report.add("objects bound to their hashes", not problems, "; ".join(problems) or
               f"{n} objects and {len(b.order)} envelopes are what their names say")

