"""TenSEAL (SEAL 4.1 CKKS) implementation of `tanji.he.backend`.

How the interface maps onto TenSEAL 0.3.18 (the wheel's C++ sources were read for each):

* encryption is `ts.ckks_vector` under the public key, at the first data level, scale 2^Δ;
  values are multiplied by 2^value_scale_bits first (see `tanji.he.presets`);
* `mul_plain` is `CKKSVector.mul` with auto-rescale. TenSEAL encodes the multiplier at
  scale 2^Δ, rescales by the level's prime p_ℓ and then *declares* the scale 2^Δ again
  although it is 2^2Δ / p_ℓ: the value is off by 2^Δ / p_ℓ (~1e-6 per level). We encode
  multiplier × p_ℓ / 2^Δ instead, which cancels it exactly (primes come from the context);
* a multiplier that encodes to the zero polynomial makes SEAL's product "transparent";
  TenSEAL then substitutes a fresh Enc(0) at the *top* level — we bring it back down;
* TenSEAL has no modulus-switch call for vectors. `to_level` multiplies by the constant
  p_ℓ / 2^Δ once per level: it encodes to the integer p_ℓ, so the rescale divides exactly —
  an exact, deterministic modulus switch (an auditor recomputing a sum across levels gets the
  same bytes). Where determinism does not matter (the next step re-randomises) it instead
  adds a cached Enc(0) that sits at the target level, and TenSEAL's auto-mod-switch drops
  the surplus primes with SEAL's mod_switch_to — cheaper for many levels;
* `rerandomize` adds a fresh top-level encryption (auto-mod-switched to the operand's level);
* the wire format is our own header plus SEAL's bytes (`tanji.he._wire`); TenSEAL's protobuf
  wrapper is rebuilt from trusted values, never parsed from the network.

TenSEAL does not release the GIL: use processes, not threads, for parallel HE work.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable

import numpy as np
import tenseal as ts
import tenseal.sealapi  # registers seal::Modulus etc. so parameters can be read

from . import _wire
from .backend import Ciphertext, HEBackend, Plain, PublicContext, SecretContext
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
from .presets import OUTPUT_PRIMES, PRESETS, Preset, get_preset, match_preset

#: largest serialised context accepted (a public context at N=32768 is ~10 MiB)
MAX_CONTEXT_BYTES = 64 * 1024 * 1024
#: largest |multiplier| accepted by mul_plain (quantities and per-unit footprints)
MAX_MULTIPLIER = 1e12


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _short(h: str) -> str:
    return h[:16] + "…"


class TenSEALCiphertext(Ciphertext):
    __slots__ = ("_vec", "level", "width", "param_hash", "key_fingerprint")

    def __init__(self, vec: ts.CKKSVector, level: int, width: int, param_hash: str, key_fingerprint: str):
        self._vec = vec
        self.level = level
        self.width = width
        self.param_hash = param_hash
        self.key_fingerprint = key_fingerprint

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_vec") and hasattr(self, "key_fingerprint"):
            raise AttributeError("ciphertexts are immutable")
        object.__setattr__(self, name, value)


class TenSEALPublicContext(PublicContext):
    def __init__(self, ts_ctx: ts.Context, preset: Preset, public_bytes: bytes, public_key: bytes):
        self._ctx = ts_ctx
        self.preset = preset
        self.param_hash = preset.param_hash
        self.key_fingerprint = _sha256(public_key)
        self._public_bytes = public_bytes
        self._zeros: dict[tuple[int, int], ts.CKKSVector] = {}
        #: False only in benchmarks/tests that measure what the prime correction buys
        self._correct = True
        self._lock = threading.Lock()
        p = preset
        self._max_ct_bytes = _wire.padded_size(p.poly_modulus_degree, p.top_level + OUTPUT_PRIMES)

    # --- helpers -----------------------------------------------------------------------
    def _own(self, ct: Ciphertext) -> TenSEALCiphertext:
        if not isinstance(ct, TenSEALCiphertext):
            raise HEError(f"expected a TenSEAL ciphertext, got {type(ct).__name__}")
        if ct.param_hash != self.param_hash:
            raise ParameterMismatch(f"ciphertext uses parameters {_short(ct.param_hash)}, this context "
                                    f"uses {_short(self.param_hash)} ({self.preset.name})")
        if ct.key_fingerprint != self.key_fingerprint:
            raise KeyMismatch(f"ciphertext is under key {_short(ct.key_fingerprint)}, this calculation's "
                              f"key is {_short(self.key_fingerprint)}")
        return ct

    def _wrap(self, vec: ts.CKKSVector, level: int, width: int) -> TenSEALCiphertext:
        return TenSEALCiphertext(vec, level, width, self.param_hash, self.key_fingerprint)

    def _wire_size(self, level: int) -> int:
        return _wire.padded_size(self.preset.poly_modulus_degree, level + OUTPUT_PRIMES)

    @staticmethod
    def _actual_level(vec: ts.CKKSVector) -> int:
        cts = vec.ciphertext()
        return int(cts[0].coeff_modulus_size()) - OUTPUT_PRIMES

    def _vector(self, values: Plain, width: int | None, what: str) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            if width is None:
                raise ValueError(f"{what}: a scalar needs a width")
            arr = np.full(width, float(arr))
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{what}: expected a non-empty 1-D vector, got shape {arr.shape}")
        if width is not None and arr.size != width:
            raise ValueError(f"{what}: {arr.size} values for a {width}-slot ciphertext")
        if arr.size > self.preset.slots:
            raise ValueOutOfRange(f"{what}: {arr.size} slots exceed the {self.preset.slots} of preset "
                                  f"{self.preset.name}; choose a preset for a larger batch")
        if not np.all(np.isfinite(arr)):
            raise ValueOutOfRange(f"{what}: values must be finite numbers")
        return arr

    def _check_range(self, arr: np.ndarray, what: str) -> None:
        peak = float(np.max(np.abs(arr)))
        if peak > self.preset.max_value:
            raise ValueOutOfRange(f"{what}: |value| {peak:.6g} exceeds {self.preset.max_value:.6g}, the "
                                  f"largest value preset {self.preset.name} carries without wrapping")

    def _fresh(self, arr: np.ndarray, level: int) -> ts.CKKSVector:
        """Fresh top-level encryption of arr, scaled for a ciphertext that will sit at `level`."""
        return ts.ckks_vector(self._ctx, (arr * self.preset.value_scale(level)).tolist())

    def _zero_at(self, level: int, width: int) -> ts.CKKSVector:
        """A cached encryption of zero at `level` (see module docstring)."""
        key = (level, width)
        with self._lock:
            z = self._zeros.get(key)
            if z is not None:
                return z
            higher = [lv for (lv, w) in self._zeros if w == width and lv > level]
            if higher:
                start = min(higher)
                vec = self._zeros[(start, width)]
            else:
                start = self.preset.top_level
                vec = ts.ckks_vector(self._ctx, [0.0] * width)
            for lv in range(start, level, -1):
                vec = vec.mul(self.preset.rescale_prime(lv) / self.preset.scale)
            if self._actual_level(vec) != level:  # pragma: no cover - TenSEAL behaviour changed
                raise HEError(f"internal: zero at level {self._actual_level(vec)}, wanted {level}")
            self._zeros[key] = vec
            return vec

    # --- interface ---------------------------------------------------------------------
    def export(self) -> bytes:
        return self._public_bytes

    def ciphertext_bytes(self, level: int, width: int = 8) -> int:
        """Wire size of every ciphertext at `level` (fixed by padding; independent of width)."""
        return self._wire_size(level)

    def encrypt(self, values: Plain, *, level: int | None = None) -> TenSEALCiphertext:
        arr = self._vector(values, None, "encrypt")
        self._check_range(arr, "encrypt")
        top = self.preset.top_level
        target = top if level is None else level
        if not isinstance(target, int) or not 0 <= target <= top:
            raise ValueError(f"level must be an integer in 0..{top}, got {level!r}")
        vec = self._fresh(arr, target)
        if target < top:
            vec = vec + self._zero_at(target, arr.size)   # pure modulus switch
        return self._wrap(vec, target, arr.size)

    def add(self, a: Ciphertext, b: Ciphertext) -> TenSEALCiphertext:
        return self.add_many((a, b))

    def add_many(self, cts: Iterable[Ciphertext]) -> TenSEALCiphertext:
        items = [self._own(c) for c in cts]
        if not items:
            raise ValueError("add_many needs at least one ciphertext")
        width = items[0].width
        if any(c.width != width for c in items):
            raise ValueError(f"cannot add ciphertexts of different widths "
                             f"({sorted({c.width for c in items})})")
        level = min(c.level for c in items)
        items = [self.to_level(c, level) for c in items]
        if len(items) == 1:
            return items[0]
        acc = items[0]._vec + items[1]._vec   # a new vector (TenSEAL's copy() is slow)
        for c in items[2:]:
            acc.add_(c._vec)
        return self._wrap(acc, level, width)

    def mul_plain(self, ct: Ciphertext, multiplier: Plain) -> TenSEALCiphertext:
        ct = self._own(ct)
        if ct.level < 1:
            raise OutOfLevels(
                "this ciphertext is at the output level (0): it has no multiplicative level left. "
                f"The calculation needs a preset with a larger depth bound than {self.preset.max_depth}")
        arr = self._vector(multiplier, ct.width, "multiplier")
        peak = float(np.max(np.abs(arr)))
        if peak > MAX_MULTIPLIER:
            raise ValueOutOfRange(f"multiplier {peak:.6g} exceeds {MAX_MULTIPLIER:g}; express it in a larger unit")
        target = ct.level - 1
        # p_ℓ / 2^Δ: TenSEAL declares the scale 2^Δ after rescaling by p_ℓ (DESIGN "Precision");
        # S(target) / S(level): the change of value scale between the two levels.
        corr = ((self.preset.rescale_prime(ct.level) / self.preset.scale if self._correct else 1.0)
                * self.preset.value_scale(target) / self.preset.value_scale(ct.level))
        try:
            if np.all(arr == arr[0]):
                vec = ct._vec.mul(float(arr[0]) * corr)       # constant: exact integer encoding
            else:
                vec = ct._vec.mul((arr * corr).tolist())
        except (ValueError, RuntimeError) as e:
            raise HEError(f"SEAL refused the multiplication: {e}") from e
        # Only a multiplier that encodes to the zero polynomial can make SEAL's product
        # "transparent" (TenSEAL then returns a fresh top-level Enc(0)); any slot with
        # |m|·2^Δ ≥ 2N has a coefficient ≥ 1 (Parseval), so the check is skipped then.
        if peak * corr * self.preset.scale < 2 * self.preset.poly_modulus_degree:
            actual = self._actual_level(vec)
            if actual != target:
                z = self._zero_at(target, ct.width)
                vec = vec + z
        return self._wrap(vec, target, ct.width)

    def rerandomize(self, ct: Ciphertext, addend: Plain | None = None) -> TenSEALCiphertext:
        ct = self._own(ct)
        arr = np.zeros(ct.width) if addend is None else self._vector(addend, ct.width, "addend")
        self._check_range(arr, "addend")
        vec = ct._vec + self._fresh(arr, ct.level)   # fresh encryption, mod-switched down to ct's level
        return self._wrap(vec, ct.level, ct.width)

    def _switch(self, vec: ts.CKKSVector, src: int, dst: int, width: int, deterministic: bool) -> ts.CKKSVector:
        """Modulus-switch vec from level src down to dst without changing its value.

        Deterministic: one multiplication by the constant p_ℓ/2^Δ per level — it encodes to the
        integer p_ℓ, so each rescale divides exactly (an exact modulus switch, same bytes in
        every process). Otherwise: add the cached Enc(0) at dst, which makes TenSEAL switch
        vec with SEAL's mod_switch_to — faster, but the bytes then depend on that Enc(0)."""
        if src == dst:
            return vec
        if not deterministic:
            return vec + self._zero_at(dst, width)
        for lv in range(src, dst, -1):
            vec = vec.mul(self.preset.rescale_prime(lv) / self.preset.scale)
        return vec

    def to_level(self, ct: Ciphertext, level: int, *, deterministic: bool = True) -> TenSEALCiphertext:
        ct = self._own(ct)
        if not isinstance(level, int) or level < 0:
            raise ValueError(f"level must be a non-negative integer, got {level!r}")
        if level > ct.level:
            raise OutOfLevels(f"cannot raise a ciphertext from level {ct.level} to level {level}: "
                              "levels are only ever consumed")
        if level == ct.level:
            return ct
        p = self.preset
        factor = p.value_scale(level) / p.value_scale(ct.level)
        if factor == 1.0:
            vec = self._switch(ct._vec, ct.level, level, ct.width, deterministic)
        else:
            # switch to level + 1, then multiply by the constant factor·p/2^Δ: it encodes to the
            # integer factor·p, so the rescale divides exactly — value × factor, nothing else.
            vec = self._switch(ct._vec, ct.level, level + 1, ct.width, deterministic)
            vec = vec.mul(factor * p.rescale_prime(level + 1) / p.scale)
        return self._wrap(vec, level, ct.width)

    def serialize(self, ct: Ciphertext) -> bytes:
        ct = self._own(ct)
        seal = _wire.seal_bytes_of_ckks_vector(ct._vec.serialize())
        header = _wire.CiphertextHeader(ct.level, ct.width, bytes.fromhex(ct.param_hash),
                                        bytes.fromhex(ct.key_fingerprint))
        return _wire.pack_ciphertext(header, seal, self._wire_size(ct.level))

    def deserialize(self, data: bytes, *, level: int | None = None, min_level: int = 0,
                    width: int | None = None, canonical: bool = True) -> TenSEALCiphertext:
        if isinstance(data, (bytes, bytearray, memoryview)) and len(data) > self._max_ct_bytes:
            raise MalformedCiphertext(f"{len(data)} bytes is larger than any ciphertext of preset "
                                      f"{self.preset.name} ({self._max_ct_bytes} bytes at most)")
        header, seal = _wire.unpack_ciphertext(data)
        phash, kfp = header.param_hash.hex(), header.key_fingerprint.hex()
        if phash != self.param_hash:
            other = next((p.name for p in PRESETS.values() if p.param_hash == phash), None)
            made = f"preset {other}" if other else f"unknown parameters {_short(phash)}"
            raise ParameterMismatch(f"ciphertext was made under {made}; this calculation uses preset "
                                    f"{self.preset.name} ({_short(self.param_hash)})")
        if kfp != self.key_fingerprint:
            raise KeyMismatch(f"ciphertext names public key {_short(kfp)}; this calculation's key is "
                              f"{_short(self.key_fingerprint)} (a ciphertext of another calculation?)")
        if not 1 <= header.width <= self.preset.slots:
            raise MalformedCiphertext(f"ciphertext claims {header.width} slots; preset "
                                      f"{self.preset.name} has 1..{self.preset.slots}")
        if width is not None and header.width != width:
            raise MalformedCiphertext(f"ciphertext carries {header.width} slots; this calculation "
                                      f"uses {width}")
        if header.level > self.preset.top_level:
            raise MalformedCiphertext(f"ciphertext claims level {header.level}; preset "
                                      f"{self.preset.name} has levels 0..{self.preset.top_level}")
        if len(data) != self._wire_size(header.level):
            raise MalformedCiphertext(f"a level-{header.level} ciphertext of preset {self.preset.name} is "
                                      f"exactly {self._wire_size(header.level)} bytes, not {len(data)}")
        if level is not None and header.level != level:
            raise LevelMismatch(f"ciphertext is at level {header.level}; this step expects level {level}")
        if header.level < min_level:
            raise LevelMismatch(f"ciphertext is at level {header.level}; this step needs at least "
                                f"level {min_level}")
        proto = _wire.ckks_vector_proto(header.width, seal, self.preset.scale)
        try:
            vec = ts.ckks_vector_from(self._ctx, proto)
            cts = vec.ciphertext()
        except Exception as e:  # SEAL/TenSEAL raise ValueError/RuntimeError on bad input
            raise MalformedCiphertext(f"SEAL refused the ciphertext bytes: {e}") from e
        if len(cts) != 1:  # pragma: no cover - we built the wrapper with one
            raise MalformedCiphertext("expected exactly one SEAL ciphertext")
        c = cts[0]
        if c.size() != 2:
            raise MalformedCiphertext(f"ciphertext has {c.size()} polynomials; only linear (2-polynomial) "
                                      "ciphertexts exist in this protocol")
        if not c.is_ntt_form():
            raise MalformedCiphertext("ciphertext is not in NTT form (not a CKKS ciphertext)")
        if c.scale != self.preset.scale:
            raise MalformedCiphertext(f"ciphertext scale is {c.scale!r}, not 2^{self.preset.scale_bits}")
        actual = c.coeff_modulus_size() - OUTPUT_PRIMES
        if actual != header.level:
            raise MalformedCiphertext(f"header says level {header.level} but the ciphertext is at "
                                      f"level {actual}")
        if c.is_transparent():
            raise MalformedCiphertext("ciphertext is transparent (its value is not encrypted)")
        if canonical and _wire.seal_bytes_of_ckks_vector(vec.serialize()) != seal:
            raise MalformedCiphertext("ciphertext bytes are not in canonical form (re-serialising "
                                      "them gives other bytes)")
        return self._wrap(vec, header.level, header.width)


class TenSEALSecretContext(TenSEALPublicContext, SecretContext):
    def __init__(self, ts_ctx: ts.Context, preset: Preset, public_bytes: bytes, public_key: bytes):
        super().__init__(ts_ctx, preset, public_bytes, public_key)
        if not ts_ctx.is_private():  # pragma: no cover
            raise NotPrivate("a secret context needs the secret key")

    def decrypt(self, ct: Ciphertext) -> np.ndarray:
        ct = self._own(ct)
        try:
            values = ct._vec.decrypt(self._ctx.secret_key())
        except Exception as e:  # pragma: no cover
            raise HEError(f"decryption failed: {e}") from e
        return np.asarray(values, dtype=np.float64) / self.preset.value_scale(ct.level)

    def public_context(self) -> TenSEALPublicContext:
        return TenSEALBackend().load_public_context(self.export(), preset=self.preset,
                                                    key_fingerprint=self.key_fingerprint)

    def export_secret(self) -> bytes:
        return bytes(self._ctx.serialize(save_public_key=True, save_secret_key=True,
                                         save_galois_keys=False, save_relin_keys=False))


def _context_preset(ctx: ts.Context) -> Preset:
    sc = ctx.seal_context().data
    if not sc.parameters_set():
        raise ParameterMismatch(f"SEAL rejects these parameters: {sc.parameters_error_message()}")
    parms = sc.key_context_data().parms()
    if getattr(parms.scheme(), "name", str(parms.scheme())).split(".")[-1] != "CKKS":
        raise ParameterMismatch(f"scheme {parms.scheme()} is not CKKS")
    primes = tuple(m.value() for m in parms.coeff_modulus())
    try:
        scale = ctx.global_scale
    except Exception:
        raise ParameterMismatch("the context has no global scale") from None
    scale_bits = math.log2(scale) if scale > 0 else float("nan")
    return match_preset(parms.poly_modulus_degree(), primes, scale_bits)


def _check_flags(ctx: ts.Context) -> None:
    if not (ctx.auto_rescale and ctx.auto_mod_switch):
        raise ParameterMismatch("the context disables automatic rescaling or modulus switching, "
                                "which this layer relies on")


def _parts(data: bytes, what: str) -> _wire.ContextParts:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedContext(f"a {what} must be bytes, got {type(data).__name__}")
    if len(data) > MAX_CONTEXT_BYTES:
        raise MalformedContext(f"{len(data)} bytes is larger than any {what} ({MAX_CONTEXT_BYTES})")
    try:
        return _wire.context_parts(bytes(data))
    except ValueError as e:
        raise MalformedContext(f"not a TenSEAL {what}: {e}") from e


def _load(data: bytes, what: str) -> ts.Context:
    try:
        return ts.context_from(bytes(data))
    except Exception as e:
        raise MalformedContext(f"TenSEAL refused the {what}: {e}") from e


class TenSEALBackend(HEBackend):
    name = f"tenseal-{ts.__version__}"

    def generate_keys(self, preset: Preset | str) -> TenSEALSecretContext:
        p = get_preset(preset) if isinstance(preset, str) else preset
        if get_preset(p.name) != p:
            raise ParameterMismatch(f"preset {p.name!r} differs from the pinned one; only pinned presets are used")
        ctx = ts.context(ts.SCHEME_TYPE.CKKS, p.poly_modulus_degree,
                         coeff_mod_bit_sizes=list(p.coeff_mod_bit_sizes))
        ctx.global_scale = p.scale
        if _context_preset(ctx) != p:  # pragma: no cover - SEAL picked other primes
            raise ParameterMismatch(f"this SEAL build picks other primes than preset {p.name} pins")
        public = ctx.serialize(save_public_key=True, save_secret_key=False,
                               save_galois_keys=False, save_relin_keys=False)
        parts = _parts(public, "public context")
        if parts.has_secret_key or parts.has_relin_keys or parts.has_galois_keys:  # pragma: no cover
            raise HEError("internal: the public export contains more than the public key")
        return TenSEALSecretContext(ctx, p, public, parts.public_key)

    def load_public_context(self, data: bytes, *, preset: Preset | str | None = None,
                            key_fingerprint: str | None = None) -> TenSEALPublicContext:
        parts = _parts(data, "public context")
        if parts.has_secret_key:
            raise MalformedContext("this context contains the SECRET key: it must not be published or "
                                   "accepted as a public context (the key holder must export the "
                                   "public part only)")
        if parts.has_relin_keys or parts.has_galois_keys:
            raise MalformedContext("this context carries relinearisation or Galois keys; the protocol "
                                   "is linear and accepts the public key only")
        if not parts.public_key:
            raise MalformedContext("this context has no public key")
        ctx = _load(data, "public context")
        if ctx.is_private() or not ctx.has_public_key():  # pragma: no cover - checked above
            raise MalformedContext("a public context must hold the public key and no secret key")
        found = _context_preset(ctx)
        _check_flags(ctx)
        if preset is not None:
            want = get_preset(preset) if isinstance(preset, str) else preset
            if found != want:
                raise ParameterMismatch(f"context uses preset {found.name}; this calculation "
                                        f"declared {want.name}")
        pub = TenSEALPublicContext(ctx, found, bytes(data), parts.public_key)
        if key_fingerprint is not None and key_fingerprint != pub.key_fingerprint:
            raise KeyMismatch(f"context's public key is {_short(pub.key_fingerprint)}; the key holder "
                              f"signed {_short(key_fingerprint)}")
        return pub

    def load_secret_context(self, data: bytes) -> TenSEALSecretContext:
        parts = _parts(data, "secret context")
        if not parts.has_secret_key:
            raise NotPrivate("these context bytes hold no secret key")
        if parts.has_relin_keys or parts.has_galois_keys:
            raise MalformedContext("a stored secret context must not carry evaluation keys")
        ctx = _load(data, "secret context")
        p = _context_preset(ctx)
        _check_flags(ctx)
        public = ctx.serialize(save_public_key=True, save_secret_key=False,
                               save_galois_keys=False, save_relin_keys=False)
        return TenSEALSecretContext(ctx, p, public, _parts(public, "public context").public_key)
