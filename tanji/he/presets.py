"""Pinned CKKS presets, chosen by the requester's declared depth bound (DESIGN.md §2, §6).

Level bookkeeping (one word, used everywhere in `tanji.he`): the **level** of a ciphertext is
the number of multiplications by a plaintext it can still take before it reaches the
**output level 0**, where every contribution — and the aggregate — travels.

* A fresh encryption is at `top_level` = D + 1.
* The target product P's node starts from Enc(w = 1) at the top; each tier costs one level
  for q·Enc(w), so a request to a supplier at tier t (1 ≤ t ≤ D) is at level top − t.
* Each contribution Enc(w) ⊙ own(p) costs one more level and is then brought down to
  level 0, so contributions and the aggregate have one size whatever their depth.

Coefficient modulus layout: ``[q0, q1, p_1 … p_L, special]``.

* q0 (60 bits) and q1 are never consumed; together they are the output level's modulus and
  give the headroom for the largest value (q1 is a small prime chosen to fill the budget).
* p_1 … p_L (``scale_bits`` each, L = top_level) are consumed by rescaling, one per
  multiplication. p_ℓ differs from 2^scale_bits by ~1e-6 relative; the backend multiplies
  every plaintext multiplier by p_ℓ / 2^scale_bits (DESIGN.md "Precision").
* the last, special prime is used only at key level (public-key encryption); no
  key-switching keys exist, so 20 bits suffice.

Values are carried multiplied by a power of two (invisible outside the backend):
2^value_scale_bits at levels ≥ 1 and 2^output_scale_bits at the output level. The output
level has far more room than the figures need (two primes); using it lowers the fresh-
encryption noise relative to the values, and the larger output factor makes the last
multiplication — by the supplier's own per-unit footprint, often a small number when the
buyer counts in grams — that many times finer.

``precision`` and ``max_value`` are measured by ``bench/he_presets.py`` (see
docs/decisions/0002-ckks-presets.md) and pinned here with margin; tests re-check them.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import ParameterMismatch

#: Largest total coefficient-modulus bits for 128-bit classical security with a ternary
#: secret (HE standard; SEAL's sec_level_type::tc128 enforces the same table).
MAX_COEFF_BITS_128: Mapping[int, int] = MappingProxyType(
    {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881})

#: Changes whenever the meaning of the parameters to the wire changes (level numbering,
#: value scaling, ciphertext header). Part of every parameter hash.
ENCODING = "tanji.he.ckks/1"

#: Primes of the output level (q0, q1): never consumed.
OUTPUT_PRIMES = 2


@dataclass(frozen=True)
class Preset:
    name: str
    poly_modulus_degree: int
    #: the requested prime sizes, in order [q0, q1, p_1..p_L, special]
    coeff_mod_bit_sizes: tuple[int, ...]
    #: the actual primes SEAL chose for those sizes (pinned: a context is refused unless equal)
    primes: tuple[int, ...]
    #: Δ: ciphertext scale 2^Δ, ~size of each rescaling prime
    scale_bits: int
    #: at levels ≥ 1 values are carried as value · 2^value_scale_bits (internal to the backend)
    value_scale_bits: int
    #: at the output level 0 values are carried as value · 2^output_scale_bits (≥ value_scale_bits:
    #: the last multiplication, by own(p), is encoded 2^(output − value) times finer)
    output_scale_bits: int
    #: guaranteed bound (measured, with ≥ 10× margin) on |error| of any slot divided by the
    #: largest |value| of its 8-slot product block, for chains up to `max_depth` tiers with
    #: quantities q ≥ 1e-3 and per-unit footprints ≥ 1e-5 (docs/decisions/0002-ckks-presets.md).
    #: CKKS errors are absolute: a slot much smaller than its block's largest one has a
    #: correspondingly larger relative error.
    precision: float
    #: the largest |value| a contribution or aggregate slot may hold (measured headroom / 16)
    max_value: float
    scheme: str = field(default="CKKS")

    # --- derived -------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        """Number of CKKS slots (N/2): the widest vector one ciphertext carries."""
        return self.poly_modulus_degree // 2

    @property
    def top_level(self) -> int:
        """Level of a fresh encryption = number of rescaling primes."""
        return len(self.primes) - OUTPUT_PRIMES - 1

    @property
    def output_level(self) -> int:
        return 0

    @property
    def max_depth(self) -> int:
        """D: tiers below the target product this preset supports (one level for P itself)."""
        return self.top_level - 1

    @property
    def total_coeff_bits(self) -> int:
        return sum(p.bit_length() for p in self.primes)

    @property
    def scale(self) -> float:
        return float(2 ** self.scale_bits)

    def value_scale(self, level: int) -> float:
        """The factor values are multiplied by inside a ciphertext at `level`."""
        return float(2 ** (self.output_scale_bits if level == 0 else self.value_scale_bits))

    def rescale_prime(self, level: int) -> int:
        """The prime a ciphertext at `level` (≥ 1) is divided by when it is rescaled."""
        if not 1 <= level <= self.top_level:
            raise ValueError(f"level {level} has no rescaling prime (1..{self.top_level})")
        return self.primes[OUTPUT_PRIMES + level - 1]

    def describe(self) -> dict[str, Any]:
        """Canonical description of the parameters: the input of the parameter hash."""
        return {
            "encoding": ENCODING,
            "scheme": self.scheme,
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_modulus": [str(p) for p in self.primes],   # decimal strings: exact in JSON
            "scale_bits": self.scale_bits,
            "value_scale_bits": self.value_scale_bits,
            "output_scale_bits": self.output_scale_bits,
            "output_primes": OUTPUT_PRIMES,
            "security": "128-bit classical, ternary secret (HE standard / SEAL tc128)",
        }

    @property
    def param_hash(self) -> str:
        """SHA-256 (hex) over the canonical JSON of `describe()` — includes the primes."""
        canon = json.dumps(self.describe(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canon.encode("ascii")).hexdigest()

    def check(self) -> None:
        """Internal consistency and the 128-bit security bound; raises ParameterMismatch."""
        if len(self.primes) != len(self.coeff_mod_bit_sizes):
            raise ParameterMismatch(f"preset {self.name}: {len(self.primes)} primes for "
                                    f"{len(self.coeff_mod_bit_sizes)} sizes")
        for p, bits in zip(self.primes, self.coeff_mod_bit_sizes, strict=True):
            if p.bit_length() != bits or p % (2 * self.poly_modulus_degree) != 1:
                raise ParameterMismatch(f"preset {self.name}: prime {p} is not a {bits}-bit "
                                        f"NTT prime for N={self.poly_modulus_degree}")
        limit = MAX_COEFF_BITS_128.get(self.poly_modulus_degree)
        if limit is None or self.total_coeff_bits > limit:
            raise ParameterMismatch(f"preset {self.name}: {self.total_coeff_bits} coefficient-"
                                    f"modulus bits exceed the 128-bit bound ({limit}) for "
                                    f"N={self.poly_modulus_degree}")
        if not 0 <= self.value_scale_bits <= self.output_scale_bits:
            raise ParameterMismatch(f"preset {self.name}: value scales must satisfy 0 ≤ value ≤ output")
        if any(b != self.scale_bits for b in self.coeff_mod_bit_sizes[OUTPUT_PRIMES:-1]):
            raise ParameterMismatch(f"preset {self.name}: rescaling primes must be {self.scale_bits} bits")


_PRESETS = (
    Preset(
        name="ckks-n8192-d2",
        poly_modulus_degree=8192,
        coeff_mod_bit_sizes=(60, 24, 39, 39, 39, 17),
        primes=(1152921504606830593, 16760833,
                549754617857, 549755486209, 549755731969,
                114689),
        scale_bits=39,
        value_scale_bits=5,
        output_scale_bits=16,
        precision=1e-8,
        max_value=2.0 ** 24,
    ),
    Preset(
        name="ckks-n16384-d7",
        poly_modulus_degree=16384,
        coeff_mod_bit_sizes=(60, 38) + (40,) * 8 + (20,),
        primes=(1152921504606748673, 274877153281,
                1099503894529, 1099504549889, 1099505827841, 1099506352129,
                1099506515969, 1099507695617, 1099508121601, 1099510054913,
                786433),
        scale_bits=40,
        value_scale_bits=19,
        output_scale_bits=29,
        precision=1e-8,
        max_value=2.0 ** 24,
    ),
    Preset(
        name="ckks-n32768-d18",
        poly_modulus_degree=32768,
        coeff_mod_bit_sizes=(60, 40) + (40,) * 19 + (20,),
        primes=(1152921504606584833, 1099490000897,
                1099491770369, 1099493343233, 1099497799681, 1099498258433,
                1099499175937, 1099499569153, 1099499765761, 1099500421121,
                1099500617729, 1099500814337, 1099501731841, 1099502518273,
                1099502714881, 1099503370241, 1099503894529, 1099504549889,
                1099506515969, 1099507695617, 1099510054913,
                786433),
        scale_bits=40,
        value_scale_bits=21,
        output_scale_bits=31,
        precision=1e-8,
        max_value=2.0 ** 24,
    ),
)

for _p in _PRESETS:
    _p.check()

#: name -> preset, smallest first
PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in _PRESETS})
_BY_HASH: Mapping[str, Preset] = MappingProxyType({p.param_hash: p for p in _PRESETS})


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterMismatch(f"unknown CKKS preset {name!r}; pinned presets: "
                                f"{', '.join(PRESETS)}") from None


def preset_by_hash(param_hash: str) -> Preset:
    try:
        return _BY_HASH[param_hash]
    except KeyError:
        raise ParameterMismatch(f"parameter hash {param_hash[:16]}… is not a pinned preset") from None


def match_preset(poly_modulus_degree: int, primes: tuple[int, ...], scale_bits: float) -> Preset:
    """The pinned preset with exactly these parameters, or ParameterMismatch."""
    for p in _PRESETS:
        if (p.poly_modulus_degree == poly_modulus_degree and p.primes == tuple(primes)
                and float(scale_bits) == float(p.scale_bits)):
            return p
    raise ParameterMismatch(
        f"CKKS parameters N={poly_modulus_degree}, {len(primes)} primes "
        f"({sum(q.bit_length() for q in primes)} bits), scale 2^{scale_bits:g} are not a pinned "
        f"preset; refusing them (pinned: {', '.join(PRESETS)})")


def widest_for(depth: int) -> Preset:
    """The preset with the most slots among those serving depth bound `depth` (how large a batch
    one calculation can carry); refused like `preset_for` when none serves the depth."""
    fitting = [p for p in _PRESETS if depth <= p.max_depth]
    if not fitting:
        return preset_for(depth)  # raises, naming the deepest preset
    return max(fitting, key=lambda p: p.slots)


def preset_for(depth: int, width: int = 8) -> Preset:
    """The smallest preset for a declared depth bound D (tiers below the target product)
    and a vector width (8 slots per product block × batch size)."""
    if depth < 0:
        raise ValueError("the depth bound counts tiers below the product and cannot be negative")
    if width < 1:
        raise ValueError("the vector width must be at least 1 slot")
    for p in _PRESETS:
        if depth <= p.max_depth and width <= p.slots:
            return p
    deepest = max(_PRESETS, key=lambda p: p.max_depth)
    widest = max(_PRESETS, key=lambda p: p.slots)
    raise ParameterMismatch(
        f"no pinned preset supports depth {depth} with {width} slots (deepest: "
        f"{deepest.name}, D ≤ {deepest.max_depth}; widest: {widest.slots} slots). Split the "
        f"batch, or re-declare the supply chain as two calculations")
