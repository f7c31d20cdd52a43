"""Homomorphic encryption behind one interface (DESIGN.md §2 "Chained calculation protocol").

    from tanji.he import chain, default_backend, preset_for

    sk = default_backend().generate_keys(preset_for(2))              # key holder: depth bound D = 2
    pub = default_backend().load_public_context(sk.export())         # nodes, coordinator, auditors
    w = pub.deserialize(sk.serialize(chain.start(sk, 8)), width=8)   # the key holder's Enc(1), as received
    own = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]                   # own(p), in plaintext at the node
    r = chain.fresh(pub, [0, 0, 0, 0, 0, 0, 1, 0])                   # R: one warning; kept for the audit
    out = chain.contribution(pub, [(w, 1.0)], own, r)                # Enc(w) ⊙ own + R, at level 0
    req = chain.request(pub, w, 4.0)                                 # 4 · Enc(w) + Enc(0), to a supplier
    assert out.level == 0 and chain.tiers_below(req) == 1

`tanji.he.tasks` wraps these steps over bytes, as parties run them in worker processes. See
`tanji.he.backend` for the interface, `tanji.he.presets` for the pinned parameters and
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
