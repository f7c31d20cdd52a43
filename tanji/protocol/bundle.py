"""The audit bundle's container format (docs/audit-bundle.md), shared by exporter and verifier.

A bundle is an uncompressed tar of named files; `manifest.json` lists every other
file with its SHA-256 and is signed (`manifest.sig`) by the coordinator.
"""
from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterable
from typing import BinaryIO

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
    pack_into(buf, sorted(files), files.__getitem__)
    return buf.getvalue()


def pack_into(out: BinaryIO, names: Iterable[str], read: Callable[[str], bytes]) -> None:
    """`pack`, written member by member to `out` in the order of `names` (sorted by the caller), each
    member's bytes read when it is written: a thousand organisations' bundle holds gigabytes of
    ciphertexts, and only one of them is in memory at a time."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            data = read(name)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))


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
