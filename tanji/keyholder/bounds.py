"""What a decrypted sum must satisfy before anything is released (DESIGN §2 "Bounds"; FORMATS 1.1
§4), and the precision it actually reached.

CKKS neither authenticates nor range-checks: a foreign, wrapped or doctored ciphertext decrypts
to *something*. Whatever breaks these checks is tampering, detected after decryption, and the
result is withheld. The refusal texts carry no decrypted value (issue #11 item 6): a refusal is
read by other parties, and a supplier that placed its w in a checked slot would read w back; the
values go to the key holder's own log only.

Precision: a preset's `precision` is relative to the block's largest figure and holds while the
figures are far above CKKS's additive noise. A chain whose figures are tiny (a product counted in
grams of grams) sinks towards that noise; the slots that must decrypt to whole numbers or to 0
(the check slot, the warning count, the citation counts) sample the noise of this very sum, so
the precision stated is the larger of the preset's and ten times that sample relative to the
largest figure, rounded up to 1, 2 or 5 × 10^k. Above MAX_STATED_PRECISION the figures mean
nothing and the result is withheld.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from tanji.methodology import slots
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb

log = logging.getLogger("tanji.keyholder")

#: how far above the sampled noise the stated precision sits (the sample is one draw per slot)
NOISE_MARGIN = 10.0
#: a coarser precision than this is no figure at all: withheld
MAX_STATED_PRECISION = 1e-3
#: slack on the share in [0, 1] and the DQR in [1, 5], relative (decryption noise, rounding)
RANGE_SLACK = 1e-6


def nice_ceil(x: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is ≥ x."""
    k = math.floor(math.log10(x))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * 10.0 ** k >= x * (1 - 1e-12):
            return float(m * 10.0 ** k)
    raise AssertionError("unreachable")


def noise_sample(values: np.ndarray, blocks: int, citation_slots: int) -> float:
    """The largest deviation of the slots whose true value is known to be whole (or 0)."""
    known = []
    for b in range(max(1, blocks)):
        block = values[b * slots.WIDTH:(b + 1) * slots.WIDTH]
        known += [abs(block[slots.CHECK]), abs(block[slots.WARNINGS] - round(block[slots.WARNINGS]))]
    start = slots.WIDTH * max(1, blocks)
    counts = values[start:start + citation_slots]
    known += [abs(c - round(c)) for c in counts]
    return float(max(known))


def reached_precision(values: np.ndarray, blocks: int, citation_slots: int, preset_precision: float,
                      cid: str, block: int = 0) -> float:
    """The relative precision block `block`'s released figures can honestly state (see the module
    docstring): the noise is sampled over every block, against this block's largest figure."""
    figures = slots.block(values, block)
    largest = float(np.max(np.abs(figures[:slots.CHECK - 1])))  # the weighted figures (not the warning count)
    if largest == 0.0:
        return preset_precision
    noise = noise_sample(values, blocks, citation_slots)
    stated = max(preset_precision, nice_ceil(NOISE_MARGIN * noise / largest))
    if stated > MAX_STATED_PRECISION:
        log.error("withholding %s: noise %.3g against a largest figure of %.3g", cid[:8], noise, largest)
        raise Refusal(cpb.REFUSAL_CODE_PRECISION_NOT_REACHED,
                      f"the figures are within {MAX_STATED_PRECISION:g} of the encryption's noise: no precision worth "
                      "stating was reached (result withheld)")
    return stated


def check_block(block: np.ndarray, precision: float, max_value: float, cid: str) -> None:
    """Slot 7 is 0, no figure is negative or beyond the preset's range, the warning count is whole,
    and (FORMATS 1.1 §4) the primary-data share lies in [0, 1] and the DQR in [1, 5]."""
    scale = max(1.0, float(np.max(np.abs(block[:slots.CHECK]))))
    tolerance = 1e3 * precision * scale
    if abs(block[slots.CHECK]) > tolerance:
        log.error("withholding %s: slot 7 decrypted to %.3g", cid[:8], block[slots.CHECK])
        raise Refusal(cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO,
                      "the check slot decrypted non-zero: a foreign, malformed or wrapped ciphertext entered the sum "
                      "(detected, result withheld)")
    if np.any(block[:slots.CHECK] < -tolerance) or np.any(np.abs(block) > max_value):
        log.error("withholding %s: figures out of bounds: %s", cid[:8], np.array2string(block, precision=4))
        raise Refusal(cpb.REFUSAL_CODE_OUT_OF_BOUNDS, "decrypted figures out of bounds (detected, result withheld)")
    warnings = float(block[slots.WARNINGS])
    if abs(warnings - round(warnings)) > 0.01:
        log.error("withholding %s: warning count decrypted to %.4g", cid[:8], warnings)
        raise Refusal(cpb.REFUSAL_CODE_OUT_OF_BOUNDS,
                      "the warning count decrypted to no whole number (detected, result withheld)")
    total = slots.total(block)
    if total <= tolerance:
        return  # shares and DQR are null for a zero total (FORMATS §3)
    slack = RANGE_SLACK + 2 * tolerance / total
    share, dqr = block[slots.PRIMARY] / total, block[slots.DQR_WEIGHTED] / total
    if not -slack <= share <= 1 + slack:
        log.error("withholding %s: primary-data share decrypted to %.6g", cid[:8], share)
        raise Refusal(cpb.REFUSAL_CODE_OUT_OF_BOUNDS,
                      "the primary-data share decrypted outside [0, 1] (detected, result withheld)")
    if not 1 - slack <= dqr <= 5 + slack:
        log.error("withholding %s: DQR decrypted to %.6g", cid[:8], dqr)
        raise Refusal(cpb.REFUSAL_CODE_OUT_OF_BOUNDS, "the DQR decrypted outside [1, 5] (detected, result withheld)")
