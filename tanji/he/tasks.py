"""Homomorphic steps as plain functions of bytes — what parties run in a worker process.

TenSEAL holds the GIL, so nodes and the key holder run these in a process pool
(arguments and results are bytes and floats, so they pickle); the coordinator
calls the cheap ones (validation, addition) directly. Everything goes through
the one HE interface in `tanji.he`.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from tanji.he import _wire, chain, default_backend, get_preset, preset_for
from tanji.he.backend import PublicContext
from tanji.he.errors import HEError, KeyMismatch, LevelMismatch, MalformedCiphertext, OutOfLevels, ParameterMismatch
from tanji.methodology import slots
from tanji.v1 import common_pb2 as cpb

__all__ = [
    "WIDTH", "REFUSAL_CODES", "refusal_code", "check_public_context", "load_ciphertext", "load_unit_weight", "add_all",
    "Answer", "answer", "recompute_contribution", "Keys", "keygen", "public_context_of", "decrypt",
    # the HE errors, re-exported: workers' callers catch them from here
    "HEError", "KeyMismatch", "LevelMismatch", "MalformedCiphertext", "OutOfLevels", "ParameterMismatch",
]

WIDTH = slots.WIDTH  # one product block; a batch carries one per product (DESIGN §6), then citation slots

#: wire refusal code for each HE failure
REFUSAL_CODES = {
    ParameterMismatch: cpb.REFUSAL_CODE_WRONG_PARAMETERS,
    KeyMismatch: cpb.REFUSAL_CODE_WRONG_KEY,
    LevelMismatch: cpb.REFUSAL_CODE_WRONG_LEVEL,
    OutOfLevels: cpb.REFUSAL_CODE_INSUFFICIENT_LEVELS,
    MalformedCiphertext: cpb.REFUSAL_CODE_MALFORMED,
}


def refusal_code(exc: HEError) -> int:
    for cls, code in REFUSAL_CODES.items():
        if isinstance(exc, cls):
            return code
    return cpb.REFUSAL_CODE_MALFORMED


#: loaded public contexts of this (worker) process, by the SHA-256 of their bytes: loading one
#: costs about 0.5 s (ckks-n16384-d7, 2.1 MB), and a node runs several tasks per calculation
_LOADED: OrderedDict[tuple[bytes, bytes | None], PublicContext] = OrderedDict()
_KEEP = 4
_LOADING = threading.Lock()  # the coordinator calls these from its server threads


#: the last context bytes object seen and its digest: a caller that keeps its bytes (the coordinator)
#: is not made to hash 2 MB again for every ciphertext it checks
_LAST: list[tuple[bytes, bytes]] = []


def _digest(context: bytes) -> bytes:
    last = _LAST[0] if _LAST else None
    if last is not None and last[0] is context:
        return last[1]
    digest = hashlib.sha256(context).digest()
    _LAST[:] = [(context, digest)]
    return digest


def _public(context: bytes, fingerprint: bytes | None = None) -> PublicContext:
    """The calculation's public context, loaded once per process (the same bytes are the same context;
    evaluation never changes it)."""
    key = (_digest(context), fingerprint)
    with _LOADING:
        ctx = _LOADED.get(key)
        if ctx is None:
            ctx = default_backend().load_public_context(
                context, key_fingerprint=fingerprint.hex() if fingerprint else None)
            _LOADED[key] = ctx
            while len(_LOADED) > _KEEP:
                _LOADED.popitem(last=False)
        _LOADED.move_to_end(key)
        return ctx


#: contexts this process found good, by (SHA-256 of their bytes, fingerprint, parameters hash, preset): the
#: check is a function of those alone, and a process hosting many nodes (`tanji simulate`) would otherwise
#: load the same context once per node (0.16-0.5 s each); a refusal is never remembered
_CHECKED: OrderedDict[tuple[bytes, bytes, bytes, str], None] = OrderedDict()


def check_public_context(context: bytes, fingerprint: bytes, params_hash: bytes, preset: str | None = None) -> None:
    """Refuse a context that is not a pinned preset, or whose key/parameters are not the announced ones."""
    key = (hashlib.sha256(context).digest(), bytes(fingerprint), bytes(params_hash), preset or "")
    with _LOADING:
        if key in _CHECKED:
            return
    ctx = default_backend().load_public_context(context, preset=preset or None, key_fingerprint=fingerprint.hex())
    if bytes.fromhex(ctx.param_hash) != params_hash:
        raise ParameterMismatch("the context's parameters are not the ones the key holder signed")
    with _LOADING:
        _CHECKED[key] = None
        while len(_CHECKED) > 4 * _KEEP:
            _CHECKED.popitem(last=False)
        # the context just loaded serves this process's next steps: loading it again costs 0.3-0.5 s,
        # on the requester's critical path (its answer follows its check of the key at once)
        for loaded in ((key[0], None), (key[0], bytes(fingerprint))):
            _LOADED[loaded] = ctx
            _LOADED.move_to_end(loaded)
        while len(_LOADED) > _KEEP:
            _LOADED.popitem(last=False)


def load_ciphertext(context: bytes, data: bytes, level: int | None, width: int = WIDTH) -> None:
    """Validate a ciphertext under a calculation's context (at `level` if given, else at level ≥ 1)
    and with the calculation's slot count (`slots.calc_width`)."""
    ctx = _public(context)
    if level is None:
        ctx.deserialize(data, min_level=1, width=width)
    else:
        ctx.deserialize(data, level=level, width=width)


def load_unit_weight(context: bytes, data: bytes, width: int) -> None:
    """Validate the key holder's Enc(1): the calculation's key, width, and the top level."""
    ctx = _public(context)
    ctx.deserialize(data, level=ctx.preset.top_level, width=width)


def add_all(context: bytes, items: Sequence[bytes | Path], width: int = WIDTH) -> bytes:
    """Σ ciphertexts; deterministic bytes, so anyone with the inputs re-derives the same hash
    (the sum is serialised here: the inputs' encoding does not reach it, so their canonical form,
    proven where each was accepted, is not proven again). One input is loaded at a time, brought
    to the lowest level among them (an exact switch, so the bytes are those of `add_many`): a
    thousand contributions need not all be loaded at once — nor held: an item may be a file
    holding the ciphertext (`tanji.protocol.reexecution.spooled`), read when it is added."""
    ctx = _public(context)
    if not items:
        raise ValueError("add_all needs at least one ciphertext")
    level = min(_wire.ciphertext_level(_head(b)) for b in items)
    total = ctx.to_level(ctx.deserialize(_whole(items[0]), width=width, canonical=False), level)
    for b in items[1:]:
        total = ctx.add(total, ctx.to_level(ctx.deserialize(_whole(b), width=width, canonical=False), level))
    return ctx.serialize(total)


def _head(item: bytes | Path) -> bytes:
    if isinstance(item, Path):
        with item.open("rb") as f:
            return f.read(_wire.HEADER_SIZE)
    if not isinstance(item, (bytes, bytearray, memoryview)):
        raise MalformedCiphertext(f"a ciphertext must be bytes, got {type(item).__name__}")
    return bytes(item[:_wire.HEADER_SIZE])


def _whole(item: bytes | Path) -> bytes:
    return item.read_bytes() if isinstance(item, Path) else item


class Answer(NamedTuple):
    contribution: bytes
    requests: list[bytes]
    #: the fresh encryption R added to the contribution (kept by the node for the on-site check)
    fresh: bytes
    #: the Enc(w) ciphertexts used, with their unit factors (for the root: the node's own Enc(1))
    weights: list[tuple[bytes, float]]


def answer(context: bytes, parts: list[tuple[bytes, float]] | None, own_weighted: list[float],
           warnings: int | Sequence[int], quantities: Sequence[float | Sequence[float]], width: int = WIDTH,
           cited: Sequence[int] = (), blocks: int = 1, warn_blocks: Sequence[int] | None = None) -> Answer:
    """A node's whole answer to one request.

    `parts` are (Enc(w) in one quantity unit, factor converting that unit to the
    product's unit); None means the requester's own target(s), answered with w = 1.
    The contribution is Σ Enc(w_u) ⊙ (c_u·own) + R at the output level, R a fresh
    encryption of the warning count n·e6 and of a 1 in the citation slot of each
    factor cited (`cited`: slot indices); each request is q_i·Σ c_u·Enc(w_u) + Enc(0).
    Conversion factors fold into the plaintext multipliers, so they cost no level.

    A batch of `blocks` products (DESIGN §6): `own_weighted` is one block (the same product in
    every block: w differs per block) or one per block (the requester's targets, side by side);
    `warnings` is one count, added in `warn_blocks` (None: every block), or one per block; a
    quantity is one q, or one per block (the requester's: q of target b in block b, 0 elsewhere).
    """
    ctx = _public(context)
    if parts is None:
        start = chain.start(ctx, width)
        weights = [(start, 1.0)]
        used = [(ctx.serialize(start), 1.0)]
    else:
        # canonical=False: a weight is summed into ciphertexts serialised here (its hash was checked)
        weights = [(ctx.deserialize(b, min_level=1, width=width, canonical=False), c) for b, c in parts]
        used = list(parts)
    own_vec = _per_block(own_weighted, blocks, "own(p)")
    counts = [float(warnings)] * blocks if isinstance(warnings, (int, float)) else [float(n) for n in warnings]
    if len(counts) != blocks:
        raise ValueError(f"{len(counts)} warning counts for {blocks} blocks")
    chosen = set(range(blocks)) if warn_blocks is None else set(warn_blocks)
    if not chosen <= set(range(blocks)):
        raise ValueError(f"warning blocks {sorted(chosen)} outside 0..{blocks - 1}")
    addend = [0.0] * width
    for b in sorted(chosen):
        addend[b * WIDTH + slots.WARNINGS] = counts[b]
    for i in cited:
        if not WIDTH * blocks <= i < width:
            raise ValueError(f"citation slot {i} outside {WIDTH * blocks}..{width - 1}")
        addend[i] += 1.0
    fresh = chain.fresh(ctx, addend)
    contribution = chain.contribution(ctx, weights, own_vec, fresh)
    requests = []
    for q in quantities:
        if isinstance(q, (int, float)):
            reqs = [chain.request(ctx, w, c * q) for w, c in weights]
        else:
            qv = _spread(q, blocks, width)
            reqs = [chain.request(ctx, w, [c * x for x in qv]) for w, c in weights]
        requests.append(ctx.serialize(ctx.add_many(reqs)))
    return Answer(ctx.serialize(contribution), requests, ctx.serialize(fresh), used)


def _per_block(own_weighted: Sequence[float], blocks: int, what: str) -> list[float]:
    """One WIDTH block repeated `blocks` times, or `blocks` blocks as given."""
    own_list = [float(x) for x in own_weighted]
    if len(own_list) == WIDTH:
        return own_list * blocks
    if len(own_list) == WIDTH * blocks:
        return own_list
    raise ValueError(f"{what} has {len(own_list)} slots: need {WIDTH} or {WIDTH * blocks}")


def _spread(per_block: Sequence[float], blocks: int, width: int) -> list[float]:
    """q_b over block b's slots, 0 in the citation slots (a request carries no citation)."""
    if len(per_block) != blocks:
        raise ValueError(f"{len(per_block)} quantities for {blocks} blocks")
    out = [float(q) for q in per_block for _ in range(WIDTH)]
    return out + [0.0] * (width - len(out))


def recompute_contribution(context: bytes, weights: list[tuple[bytes, float]], own_weighted: list[float],
                           fresh: bytes, width: int = WIDTH) -> bytes:
    """The on-site check: Σ Enc(w_u) ⊙ (c_u·own) + R from the opened record, as bytes — the
    very step `answer` ran (`chain.contribution`)."""
    ctx = _public(context)
    ws = [(ctx.deserialize(b, min_level=1, width=width), c) for b, c in weights]
    r = ctx.deserialize(fresh, level=ctx.preset.output_level, width=width)
    return ctx.serialize(chain.contribution(ctx, ws, own_weighted, r))


@dataclass(frozen=True)
class Keys:
    preset: str
    secret_context: bytes
    public_context: bytes
    key_fingerprint: bytes
    params_hash: bytes
    transit_level: int
    width: int
    #: Enc(1) over `width` slots at the top level: the requester's weight, made where the key is
    unit_weight: bytes


def keygen(depth_bound: int, batch_size: int = 1, citation_slots: int = 0) -> Keys:
    """A fresh key pair from the pinned preset for this depth bound and slot count (key holder only)."""
    width = slots.calc_width(batch_size, citation_slots)
    preset = preset_for(depth_bound, width)
    sk = default_backend().generate_keys(preset)
    return Keys(preset=preset.name, secret_context=sk.export_secret(), public_context=sk.export(),
                key_fingerprint=bytes.fromhex(sk.key_fingerprint), params_hash=bytes.fromhex(sk.param_hash),
                transit_level=preset.output_level, width=width, unit_weight=sk.serialize(chain.start(sk, width)))


def public_context_of(secret_context: bytes) -> bytes:
    """The public context (public key only) of a key pair: what its announcement names."""
    return default_backend().load_secret_context(data=secret_context).export()


def decrypt(secret_context: bytes, data: bytes, width: int = WIDTH) -> tuple[list[float], float, float]:
    """(values, preset precision, preset max value) of the attested aggregate (key holder only)."""
    sk = default_backend().load_secret_context(data=secret_context)
    values = sk.decrypt(sk.deserialize(data, width=width))
    preset = get_preset(sk.preset.name)
    return [float(v) for v in values], preset.precision, preset.max_value
