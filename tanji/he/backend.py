"""The one interface to homomorphic encryption (DESIGN.md §2, §3).

Node, coordinator, key holder and auditor code call only what is defined here (and the
chain steps in `tanji.he.chain`, written against this interface). `TenSEALBackend` is the
implementation today; a threshold backend (a committee of key holders) can replace it by
implementing the same three classes — only `SecretContext` changes meaning.

Who holds what:

* the **key holder** calls `HEBackend.generate_keys(preset)` and gets a `SecretContext`;
  it publishes `SecretContext.export()` — the public context: public key only, no secret
  key, no relinearisation or Galois keys (the protocol is linear);
* **nodes, the coordinator and auditors** call `HEBackend.load_public_context(bytes)`,
  which refuses anything but a pinned preset, and get a `PublicContext`: encrypt, add,
  multiply by a plaintext, re-randomise, bring to a level, (de)serialise;
* only the key holder's `SecretContext.decrypt` reads a value.

All operations return new ciphertexts; none modifies its arguments. Ciphertexts are opaque
handles bound to the context that made or loaded them (same key and parameters).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import numpy as np

from .errors import (  # noqa: F401  (re-exported: the interface's exceptions)
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
from .presets import Preset

#: a plaintext vector (one float per slot) or one scalar applied to every slot
Plain = float | int | Sequence[float] | np.ndarray


class Ciphertext(ABC):
    """An encrypted float vector. Read-only attributes:

    * ``level`` — multiplications left before the output level 0;
    * ``width`` — slots carried (8 per product block × batch size);
    * ``param_hash``, ``key_fingerprint`` — hex SHA-256 of the parameters / public key.
    """

    level: int
    width: int
    param_hash: str
    key_fingerprint: str

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} level={self.level} width={self.width} "
                f"key={self.key_fingerprint[:12]}…>")


class PublicContext(ABC):
    """A calculation's public context: everything but decryption."""

    preset: Preset
    #: hex SHA-256 over the canonical parameter description, primes included
    param_hash: str
    #: hex SHA-256 of the serialised public key
    key_fingerprint: str

    @property
    def is_private(self) -> bool:
        return False

    @abstractmethod
    def export(self) -> bytes:
        """The public context as bytes: public key only (what the key holder publishes and
        signs). Stable: the same context always exports the same bytes."""

    @abstractmethod
    def encrypt(self, values: Plain, *, level: int | None = None) -> Ciphertext:
        """Fresh encryption of a vector (at the top level, or brought down to `level`).
        |values| must not exceed `preset.max_value` (ValueOutOfRange)."""

    @abstractmethod
    def add(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """a + b. Operands at different levels: the result is at the lower one."""

    @abstractmethod
    def add_many(self, cts: Iterable[Ciphertext]) -> Ciphertext:
        """Σ cts (at least one). Exact modular addition: the result's bytes do not depend on
        the order, so an auditor re-executing the aggregation gets the same hash."""

    @abstractmethod
    def mul_plain(self, ct: Ciphertext, multiplier: Plain) -> Ciphertext:
        """ct ⊙ multiplier (a scalar or one value per slot). Costs one level; OutOfLevels at
        level 0. The multiplier is corrected for the prime the product is rescaled by, so the
        result carries exactly ct · multiplier (DESIGN.md "Precision")."""

    @abstractmethod
    def rerandomize(self, ct: Ciphertext, addend: Plain | None = None) -> Ciphertext:
        """ct + a fresh encryption of `addend` (default 0), same level. Every ciphertext a node
        sends goes through this: two sends of the same value differ in every byte, so nobody
        can test guesses of a multiplier against q · Enc(w) without the key."""

    @abstractmethod
    def to_level(self, ct: Ciphertext, level: int, *, deterministic: bool = True) -> Ciphertext:
        """ct brought down to `level` (modulus switching, no change of value). Raising a
        level is impossible: OutOfLevels. Deterministic by default (same input, same bytes in
        every process: an auditor can recompute it); `deterministic=False` allows a faster
        switch for a ciphertext that is re-randomised or multiplied next anyway."""

    @abstractmethod
    def serialize(self, ct: Ciphertext) -> bytes:
        """Canonical bytes of ct (header with level, width, parameter hash, key fingerprint)."""

    @abstractmethod
    def deserialize(self, data: bytes, *, level: int | None = None, min_level: int = 0,
                    width: int | None = None, canonical: bool = True) -> Ciphertext:
        """Load ct, refusing with a named HEError (never a crash): malformed or non-canonical
        bytes (MalformedCiphertext), other parameters (ParameterMismatch), a header naming
        another key (KeyMismatch), a level other than `level` or below `min_level`
        (LevelMismatch), a width other than `width` (MalformedCiphertext).
        `canonical=False` skips only the re-serialisation that proves the bytes canonical (half
        the cost of a load): for a step that only sums and serialises the sum itself, whose
        bytes do not depend on how the inputs were encoded."""

    def ciphertext_bytes(self, level: int, width: int = 8) -> int:
        """Serialised size of a ciphertext at `level` (measured by encrypting zeros)."""
        return len(self.serialize(self.encrypt(np.zeros(width), level=level)))


class SecretContext(PublicContext):
    """The key holder's context: a `PublicContext` that can also decrypt."""

    @property
    def is_private(self) -> bool:
        return True

    @abstractmethod
    def decrypt(self, ct: Ciphertext) -> np.ndarray:
        """The plaintext vector (float64, `ct.width` slots). Raw: rounding to the preset's
        precision, clamping and bounds checks are the key holder's job."""

    @abstractmethod
    def public_context(self) -> PublicContext:
        """A public-only context loaded from `export()` (what every other party holds)."""

    @abstractmethod
    def export_secret(self) -> bytes:
        """Secret key + public key, for the key holder's own encrypted storage. Never send."""


class HEBackend(ABC):
    """Factory of contexts; one per implementation."""

    name: str

    @abstractmethod
    def generate_keys(self, preset: Preset | str) -> SecretContext:
        """A fresh key pair for a pinned preset (one per calculation; never reuse)."""

    @abstractmethod
    def load_public_context(self, data: bytes, *, preset: Preset | str | None = None,
                            key_fingerprint: str | None = None) -> PublicContext:
        """Load a published context. Refused (ParameterMismatch) unless its parameters are a
        pinned preset (and `preset`, if given); refused if it carries a secret key or
        evaluation keys (MalformedContext), or if `key_fingerprint` is given and differs
        (KeyMismatch)."""

    @abstractmethod
    def load_secret_context(self, data: bytes) -> SecretContext:
        """The key holder reloads its own `export_secret()` bytes."""
