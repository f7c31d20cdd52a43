"""The footprint vector's slot layout (DESIGN.md §2) — defined here and nowhere else.

Every product's footprint is a float vector of WIDTH slots; a batch of products
is a concatenation of such blocks. Changing this layout changes the protocol,
hence LAYOUT_VERSION.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import numpy as np

LAYOUT_VERSION = "1"

#: the life-cycle stages, in slot order (a type, so a record's stage field is checked against it)
StageName = Literal["raw_material", "manufacturing", "distribution", "end_of_life"]
STAGES: tuple[str, ...] = get_args(StageName)
#: stage name -> slot (slots 0..3)
STAGE_SLOT: dict[str, int] = {name: i for i, name in enumerate(STAGES)}
PRIMARY = 4        #: emissions from primary (measured) data
DQR_WEIGHTED = 5   #: Σ emissions × DQR
WARNINGS = 6       #: fallback-warning count, added unweighted by each product once
CHECK = 7          #: reserved, must decrypt to 0
WIDTH = 8          #: slots per product block; after the blocks: citation counts (`citation_slots`)

#: slots that scale with the multiplier w (everything but the warning count and the check slot)
WEIGHTED = np.array([1, 1, 1, 1, 1, 1, 0, 0], dtype=float)


def calc_width(batch_size: int = 1, citation_slots: int = 0) -> int:
    """Slots every ciphertext of a calculation carries: the product blocks, then one
    citation-count slot per factor of the calculation's factor set."""
    return WIDTH * max(1, batch_size) + citation_slots


def citation_slots(factor_ids: Iterable[str], blocks: int = 1) -> dict[str, int]:
    """Factor id -> its citation slot (after the `blocks` product blocks): sorted ids, so every
    party holding the same factor set derives the same layout."""
    return {fid: WIDTH * max(1, blocks) + i for i, fid in enumerate(sorted(factor_ids))}


def blocks_of(width: int, n_citation_slots: int) -> int:
    """The product blocks of a calculation whose ciphertexts carry `width` slots (0 if none fit)."""
    rest = width - n_citation_slots
    return rest // WIDTH if rest > 0 and rest % WIDTH == 0 else 0


def block(values: Sequence[float] | np.ndarray, b: int) -> np.ndarray:
    """Block `b`'s WIDTH slots of a decrypted vector."""
    return np.asarray(values[b * WIDTH:(b + 1) * WIDTH], dtype=float)


def max_blocks(slot_count: int, n_citation_slots: int) -> int:
    """How many product blocks a preset with `slot_count` slots holds beside the citation slots."""
    return max(0, (slot_count - n_citation_slots) // WIDTH)


def zeros() -> np.ndarray:
    return np.zeros(WIDTH, dtype=float)


def total(vec: np.ndarray) -> float:
    """Total emissions of a block: the sum of the four stage slots."""
    return float(vec[0] + vec[1] + vec[2] + vec[3])
