"""Errors of the homomorphic-encryption layer, each worded for the person who must act on it.

Every failure of `tanji.he` — a refused context, a refused ciphertext, an operation the
parameters cannot support — raises a subclass of `HEError`, itself a `TanjiError`, so the
CLI reports it (exit code 2) and a node can refuse a message with a named reason instead of
crashing or silently summing garbage.
"""
from __future__ import annotations

from tanji.errors import TanjiError


class HEError(TanjiError):
    """Base of every error raised by the HE layer."""


class ParameterMismatch(HEError):
    """A context or ciphertext uses CKKS parameters other than the pinned preset expected here."""


class KeyMismatch(HEError):
    """A ciphertext or context names another public key than this calculation's.

    The key fingerprint in a ciphertext header is a label, not a proof: a ciphertext under a
    foreign key is *detected* here only if its header is honest. The signed envelope (which
    binds the fingerprint) and the post-decryption bounds are the real defences.
    """


class MalformedCiphertext(HEError):
    """Bytes that are not a well-formed ciphertext (or public context) of this layer."""


class MalformedContext(HEError):
    """Bytes that are not a well-formed public (or secret) context of this layer."""


class LevelMismatch(HEError):
    """A ciphertext arrived at another level than the protocol step expects."""


class OutOfLevels(HEError):
    """An operation needs more multiplicative levels than the ciphertext has left.

    Raised when multiplying a ciphertext already at the output level, when asked to raise a
    ciphertext's level, and when a request would reach a supplier with no level left for its
    own contribution: the requester's declared depth bound was too small.
    """


class ValueOutOfRange(HEError):
    """A plaintext value or multiplier that the preset cannot carry without wrapping or losing precision."""


class NotPrivate(HEError):
    """A secret-key operation (decryption, secret export) was asked of a public-only context."""
