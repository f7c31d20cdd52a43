"""The steps of the chained calculation protocol (DESIGN.md §2), written once against the
`tanji.he.backend` interface so that nodes, the key holder, the auditor's on-site check and the
tests run the very same arithmetic.

Level budget: the target product's weight is `start()` (Enc(w = 1), top level; the key holder
makes it). Every request costs one level; a contribution costs one more and then drops to the
output level 0. A request that arrives at level ℓ therefore lets its recipient serve
`tiers_below(ℓ) = ℓ − 1` further tiers of suppliers.
"""
from __future__ import annotations

from collections.abc import Sequence

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


def fresh(ctx: PublicContext, addend: Plain) -> Ciphertext:
    """R: a fresh encryption of a contribution's unweighted part, at the output level.

    `addend` holds the warning count n in slot 6 of each block and a 1 in the citation slot of
    each factor cited (laid out with `tanji.methodology.slots`); zeros elsewhere. Its fresh
    randomness is what re-randomises the contribution, so the node keeps R for the on-site check.
    """
    return ctx.encrypt(addend, level=ctx.preset.output_level)


def contribution(ctx: PublicContext, weights: Sequence[tuple[Ciphertext, float]], own: Plain,
                 r: Ciphertext) -> Ciphertext:
    """Σ_u Enc(w_u) ⊙ (c_u · own) + R at the output level (0), whatever the tier.

    `weights` are the Enc(w_u) a node was sent, each with the factor c_u that converts its
    quantity unit to the product's (the target product: `[(Enc(1), 1.0)]`); `own` covers the
    product block(s), the slots after it (citation counts) get 0; `r` is `fresh(...)`. A buyer's
    fallback for a dead supplier is the same step with own = fallback(p).

    The product is deterministic — each Enc(w_u) drops to level 1 by the exact modulus switch,
    then one plaintext multiplication (corrected for the prime it is rescaled by: DESIGN §2
    "Precision") lands it on the output level — so anyone holding Enc(w_u), own(p) and R
    recomputes the contribution's bytes (`tanji.audit.check_node`). Dropping to level 1 first
    also encodes `own` at the output level's finer scale and multiplies the smallest ciphertext.
    """
    if not weights:
        raise ValueError("a contribution needs at least one Enc(w)")
    width = weights[0][0].width
    own = [float(x) for x in own] if not isinstance(own, (int, float)) else [float(own)] * width
    own += [0.0] * (width - len(own))
    terms = []
    for w, c in weights:
        if w.level < 1:
            raise OutOfLevels(
                "cannot compute a contribution: Enc(w) is already at the output level and has no level left "
                f"for the multiplication (preset {ctx.preset.name}, D = {ctx.preset.max_depth})")
        low = ctx.to_level(w, ctx.preset.output_level + 1, deterministic=True)
        terms.append(ctx.mul_plain(low, [c * x for x in own]))
    return ctx.add(ctx.add_many(terms), r)
