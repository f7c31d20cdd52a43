"""Homomorphic encryption behind one interface (DESIGN.md §2 "Chained calculation protocol").

    from tanji.he import default_backend, preset_for, chain

    sk = default_backend().generate_keys(preset_for(depth=6))        # key holder
    pub = default_backend().load_public_context(sk.export())        # nodes, coordinator
    w = pub.deserialize(request_bytes, min_level=1, width=8)
    out = chain.contribution(pub, w, own_vector, warnings_vector)    # level 0, re-randomised

See `tanji.he.backend` for the interface, `tanji.he.presets` for the pinned parameters and
docs/decisions/0002-ckks-presets.md for the measured figures.
"""
from __future__ import annotations

from . import chain
from .backend import Ciphertext, HEBackend, PublicContext, SecretContext
from .errors import (
    HEError,
    KeyMismatch,
    LevelMismatch,
    MalformedCiphertext,
    MalformedContext,
    NotPrivate,
    OutOfLevels,
    ParameterMismatch,
    ValueOutOfRange,
)
from .presets import PRESETS, Preset, get_preset, preset_by_hash, preset_for

_default: HEBackend | None = None


def default_backend() -> HEBackend:
    """The process-wide backend (TenSEAL today)."""
    global _default
    if _default is None:
        from .tenseal_backend import TenSEALBackend
        _default = TenSEALBackend()
    return _default


__all__ = [
    "Ciphertext", "HEBackend", "PublicContext", "SecretContext", "chain", "default_backend",
    "HEError", "KeyMismatch", "LevelMismatch", "MalformedCiphertext", "MalformedContext",
    "NotPrivate", "OutOfLevels", "ParameterMismatch", "ValueOutOfRange",
    "PRESETS", "Preset", "get_preset", "preset_by_hash", "preset_for",
]
