"""The audit bundle's container format (docs/audit-bundle.md), shared by exporter and verifier.

A bundle is an uncompressed tar of named files; `manifest.json` lists every other
file with its SHA-256 and is signed (`manifest.sig`) by the coordinator.
"""
from __future__ import annotations

import io
import tarfile

from tanji.errors import TanjiError

BUNDLE_SCHEMA = "tanji.audit-bundle/1"
MANIFEST_TAG = "tanji/v1/bundle-manifest"
MAX_BUNDLE_FILES = 100_000
MAX_MEMBER_BYTES = 64 * 1024 * 1024


class BundleFormatError(TanjiError):
    pass


def pack(files: dict[str, bytes]) -> bytes:
    """A tar archive of `files`, members sorted, fixed metadata: the same bundle, the same bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def unpack(data: bytes) -> dict[str, bytes]:
    """Read a bundle's files into memory (never onto disk: no path can escape)."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    raise BundleFormatError(f"bundle member {member.name!r} is not a regular file")
                if member.size > MAX_MEMBER_BYTES or len(files) >= MAX_BUNDLE_FILES:
                    raise BundleFormatError(f"bundle member {member.name!r} exceeds the size limits")
                if member.name in files:
                    raise BundleFormatError(f"bundle holds {member.name!r} twice")
                extracted = tar.extractfile(member)
                if extracted is None:  # cannot happen for a regular file; named rather than assumed
                    raise BundleFormatError(f"bundle member {member.name!r} cannot be read")
                files[member.name] = extracted.read()
    except tarfile.TarError as exc:
        raise BundleFormatError(f"not a bundle (tar): {exc}") from None
    return files
