"""The steps of the chained calculation protocol (DESIGN.md §2), written once against the
`tanji.he.backend` interface so that node, coordinator and tests agree on levels.

Level budget: the target product's node starts from `start()` (Enc(w = 1), top level).
Every request costs one level; a contribution costs one more and then drops to the output
level 0. A request that arrives at level ℓ therefore lets its recipient serve
`tiers_below(ℓ) = ℓ − 1` further tiers of suppliers.
"""
from __future__ import annotations

from .backend import Ciphertext, Plain, PublicContext
from .errors import OutOfLevels


def start(ctx: PublicContext, width: int) -> Ciphertext:
    """Enc(w = 1) over `width` slots, at the top level: what the target product is answered with."""
    return ctx.encrypt([1.0] * width)


def tiers_below(ct: Ciphertext) -> int:
    """How many tiers of suppliers below its recipient an Enc(w) at this level can still serve."""
    return ct.level - 1


def request(ctx: PublicContext, enc_w: Ciphertext, q: Plain) -> Ciphertext:
    """q · Enc(w) + Enc(0): the re-randomised request a buyer sends for one federated input.

    `q` is a scalar or one value per slot (per product block in a batch). Refused with
    OutOfLevels when the supplier would receive it with no level left for its own
    contribution — the requester's depth bound was too small.
    """
    if enc_w.level < 2:
        raise OutOfLevels(
            f"cannot send a request: Enc(w) is at level {enc_w.level}, so the supplier would get it at "
            f"level {enc_w.level - 1} and could not compute its own contribution. The calculation's "
            f"depth bound (D = {ctx.preset.max_depth} for preset {ctx.preset.name}) is smaller than "
            "this supply chain is deep; the requester must declare a larger depth bound")
    return ctx.rerandomize(ctx.mul_plain(enc_w, q))


def contribution(ctx: PublicContext, enc_w: Ciphertext, own: Plain, addend: Plain | None = None) -> Ciphertext:
    """Enc(w) ⊙ own + Enc(addend) at the output level (0), whatever the tier.

    `addend` is the unweighted part (the warning count n in slot 6 of each block, laid out
    with `tanji.methodology.slots`); its fresh encryption also re-randomises the contribution. A buyer's
    fallback for a dead supplier is `contribution(ctx, enc_w, q * fallback(p))`.
    """
    if enc_w.level < 1:
        raise OutOfLevels(
            "cannot compute a contribution: Enc(w) is already at the output level and has no level left "
            f"for the multiplication (preset {ctx.preset.name}, D = {ctx.preset.max_depth})")
    # Drop to level 1 first (a cheap modulus switch): the multiplication then lands directly
    # on the output level, where values carry a larger scale, so `own` is encoded finer —
    # and it runs on the smallest ciphertext.
    low = ctx.to_level(enc_w, ctx.preset.output_level + 1, deterministic=False)
    product = ctx.mul_plain(low, own)
    return ctx.rerandomize(product, addend)
