"""Measure every pinned CKKS preset: sizes, precision (with and without the prime
correction), the largest value that survives, and the cost of each operation.

    .venv/bin/python bench/he_presets.py                 # all presets (~10 min on 2 cores)
    .venv/bin/python bench/he_presets.py --preset ckks-n8192-d2 --reps 2

The precision runs simulate the chained protocol of DESIGN.md §2 on random supply trees:
a spine of D tiers below the target product with a side supplier at every tier, per-unit
quantities and footprints drawn so that w reaches ~1e5 (grams per pack) at depth while
contributions stay 1..1e4 kgCO2e. Every request and contribution goes through the real
chain steps (`tanji.he.chain`) and through bytes (serialise → deserialise), and is compared
with the same tree computed in numpy float64.

Error metric (the presets' `precision`): max |decrypted − exact| over the slots of a product
block divided by the block's largest |exact| slot; maximum over blocks and reps. The relative
error of the block totals (slots 0–3) is printed beside it.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tanji.he import PRESETS, chain, default_backend
from tanji.he.presets import Preset

WIDTH = 8


@dataclass
class Node:
    q: np.ndarray            # quantity per unit of the parent, one per block
    own: np.ndarray          # own per-unit footprint vector (8 slots per block)
    warnings: np.ndarray     # unweighted warning counts (slot 6 of each block)
    children: list[Node] = field(default_factory=list)


def own_vector(rng, target_per_unit: np.ndarray) -> np.ndarray:
    """A per-unit footprint per block: stages split randomly, primary share, DQR, slot 6/7 = 0."""
    blocks = []
    for t in target_per_unit:
        stages = rng.dirichlet(np.ones(4)) * t
        if rng.random() < 0.3:
            stages[rng.integers(4)] = 0.0          # a stage this supplier does not have
        total = stages.sum()
        blocks.append(np.concatenate([stages, [rng.uniform(0, 1) * total, rng.uniform(1, 5) * total, 0, 0]]))
    return np.concatenate(blocks)


def make_tree(rng, depth: int, batch: int, q_range=(0.3, 30.0)) -> Node:
    def contrib_target(w):
        # contribution of this node: 1 .. 1e4 kgCO2e (log-uniform), whatever w is
        return 10 ** rng.uniform(0, 4, size=batch) / np.maximum(w, 1e-30)

    def build(t: int, w: np.ndarray, q: np.ndarray) -> Node:
        node = Node(q=q, own=own_vector(rng, contrib_target(w)), warnings=rng.integers(0, 3, size=batch).astype(float))
        if t < depth:
            for spine in (True, False):
                # drive w towards ~1e5 at the deepest tier (grams of nickel per pack)
                lo, hi = q_range
                qc = 10 ** rng.uniform(math.log10(lo), math.log10(hi), size=batch)
                wc = w * qc
                if np.any(wc > 3e5):
                    qc = qc * np.minimum(1.0, 3e5 / wc)
                    wc = w * qc
                if spine:
                    node.children.append(build(t + 1, wc, qc))
                else:
                    node.children.append(build(depth, wc, qc))      # side supplier: a leaf
        return node

    return build(0, np.ones(batch), np.ones(batch))


def blocks(v: np.ndarray, batch: int) -> np.ndarray:
    return np.repeat(v, WIDTH) if v.size == batch else v


def exact_total(node: Node, w: np.ndarray, batch: int) -> np.ndarray:
    out = blocks(w, batch) * node.own + warn_vec(node.warnings, batch)
    for c in node.children:
        out = out + exact_total(c, w * c.q, batch)
    return out


def warn_vec(n: np.ndarray, batch: int) -> np.ndarray:
    v = np.zeros(WIDTH * batch)
    v[6::WIDTH] = n
    return v


def encrypted_total(pub, sk, root: Node, batch: int) -> np.ndarray:
    width = WIDTH * batch
    contributions = []

    def visit(node: Node, enc_w):
        c = chain.contribution(pub, [(enc_w, 1.0)], node.own, chain.fresh(pub, warn_vec(node.warnings, batch)))
        contributions.append(pub.serialize(c))
        for child in node.children:
            q = float(child.q[0]) if batch == 1 else blocks(child.q, batch)
            req = chain.request(pub, enc_w, q)
            visit(child, pub.deserialize(pub.serialize(req), width=width))

    visit(root, chain.start(pub, width))
    agg = pub.add_many(pub.deserialize(b, level=0, width=width) for b in contributions)
    return sk.decrypt(sk.deserialize(pub.serialize(agg), level=0, width=width))


def slot_errors(dec: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(max over blocks of max |error| / largest |exact| of the block — the preset's
    `precision` metric; max relative error of the block totals, slots 0–3)."""
    worst = tot = 0.0
    for b in range(exact.size // WIDTH):
        e, d = exact[b * WIDTH:(b + 1) * WIDTH], dec[b * WIDTH:(b + 1) * WIDTH]
        worst = max(worst, float(np.max(np.abs(d - e)) / np.max(np.abs(e))))
        tot = max(tot, abs(d[:4].sum() - e[:4].sum()) / abs(e[:4].sum()))
    return worst, tot


def chain_precision(pub, sk, preset: Preset, depth: int, batch: int, reps: int, seed: int,
                    q_range=(0.3, 30.0), uncorrected: bool = True) -> dict:
    res = {"corrected": 0.0, "uncorrected": 0.0, "total_corrected": 0.0, "total_uncorrected": 0.0}
    for r in range(reps):
        rng = np.random.default_rng(seed + r)
        tree = make_tree(rng, depth, batch, q_range)
        exact = exact_total(tree, np.ones(batch), batch)
        for name, flag in (("corrected", True), ("uncorrected", False))[:2 if uncorrected else 1]:
            pub._correct = flag
            try:
                dec = encrypted_total(pub, sk, tree, batch)
            finally:
                pub._correct = True
            worst, tot = slot_errors(dec, exact)
            res[name] = max(res[name], worst)
            res["total_" + name] = max(res["total_" + name], tot)
    return res


def max_safe_value(pub, sk, preset: Preset, tol: float) -> tuple[float, float]:
    """(largest 0.999·2^e that decrypts within tol at the output level, first 2^e that fails).

    Both ways a value reaches level 0 are tried: a multiplication into it (Enc(s) at level 1
    times x/s) and a fresh encryption brought down; the range check of `encrypt` is lifted
    for the measurement (it exists precisely to stop values beyond max_value)."""
    good, fail = 0.0, float("inf")
    saved = pub._check_range
    pub._check_range = lambda arr, what: None
    try:
        for e in range(8, 75):
            x = 2.0 ** e * 0.999
            s = min(x, 2.0 ** 10)
            ok = True
            try:
                a = sk.decrypt(pub.mul_plain(pub.encrypt(np.full(WIDTH, s), level=1), x / s))
                b = sk.decrypt(pub.encrypt(np.full(WIDTH, x), level=0))
                ok = bool(np.all(np.abs(a - x) <= tol * x) and np.all(np.abs(b - x) <= tol * x))
            except Exception:
                ok = False
            if not ok:
                fail = x
                break
            good = x
    finally:
        pub._check_range = saved
    return good, fail


def timeit(fn, n: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def op_times(pub, sk, preset: Preset, n: int) -> dict:
    x = pub.encrypt(np.arange(WIDTH, dtype=float))
    x0 = pub.to_level(x, 0)
    x1 = pub.to_level(x, 1)
    own = np.linspace(0.1, 5, WIDTH)
    b0 = pub.serialize(x0)
    bt = pub.serialize(x)
    pub.to_level(x, 0, deterministic=False)  # warm the cached zeros
    t = {
        "add": timeit(lambda: pub.add(x0, x0), n * 5),
        "mul_plain_top": timeit(lambda: pub.mul_plain(x, own), n),
        "mul_plain_l1": timeit(lambda: pub.mul_plain(x1, own), n),
        "mul_scalar_top": timeit(lambda: pub.mul_plain(x, 3.7), n),
        "encrypt": timeit(lambda: pub.encrypt(own), n),
        "rerandomize_l0": timeit(lambda: pub.rerandomize(x0), n),
        "to_level_top_to_0": timeit(lambda: pub.to_level(x, 0), max(1, n // 2)),
        "to_level_top_to_0_fast": timeit(lambda: pub.to_level(x, 0, deterministic=False), n),
        "serialize_l0": timeit(lambda: pub.serialize(x0), n),
        "deserialize_l0": timeit(lambda: pub.deserialize(b0), n),
        "serialize_top": timeit(lambda: pub.serialize(x), max(1, n // 2)),
        "deserialize_top": timeit(lambda: pub.deserialize(bt), max(1, n // 2)),
        "decrypt_l0": timeit(lambda: sk.decrypt(x0), n),
        "contribution": timeit(lambda: chain.contribution(pub, [(x, 1.0)], own, chain.fresh(pub, np.zeros(WIDTH))),
                               max(1, n // 2)),
        "request": timeit(lambda: chain.request(pub, x, 2.5), max(1, n // 2)),
    }
    return t


def run(preset: Preset, reps: int, nt: int) -> None:
    be = default_backend()
    t0 = time.perf_counter()
    sk = be.generate_keys(preset)
    t_keygen = time.perf_counter() - t0
    ctx_bytes = sk.export()
    t0 = time.perf_counter()
    pub = be.load_public_context(ctx_bytes, preset=preset, key_fingerprint=sk.key_fingerprint)
    t_load = time.perf_counter() - t0
    D = preset.max_depth
    print(f"\n== {preset.name}: N={preset.poly_modulus_degree}, coeff bits {preset.total_coeff_bits} "
          f"{list(preset.coeff_mod_bit_sizes)}, Δ=2^{preset.scale_bits}, levels: top {preset.top_level} "
          f"→ output 0, depth bound D ≤ {D}, slots {preset.slots}")
    print(f"   keygen {t_keygen:.2f} s; public context {len(ctx_bytes) / 2**20:.2f} MiB, load {t_load:.2f} s")
    sizes = {lv: pub.ciphertext_bytes(lv) for lv in range(preset.top_level + 1)}
    print(f"   ciphertext bytes at the fixed output level 0: {sizes[0]:,} "
          f"({sizes[0] / 2**10:.0f} KiB); at the top level {preset.top_level}: {sizes[preset.top_level]:,}")
    print("   request bytes by tier t (level top−t): " + ", ".join(
        f"t{t}:{sizes[preset.top_level - t] // 1024}K" for t in range(1, D + 1)))

    t0 = time.perf_counter()
    d6 = min(6, D)
    runs = [(D, 1, (0.3, 30.0), True, "chain"), (d6, 4, (0.3, 30.0), True, "chain"),
            (D, 1, (1e-3, 1e3), False, "stress")]
    if D != 6 and D > 6:
        runs.insert(1, (6, 1, (0.3, 30.0), True, "chain"))
    worst = 0.0
    for depth, batch, q_range, uncorrected, label in runs:
        r = chain_precision(pub, sk, preset, depth, batch, reps, seed=1000 * depth + batch,
                            q_range=q_range, uncorrected=uncorrected)
        worst = max(worst, r["corrected"])
        line = (f"   {label} D={depth} batch={batch} q∈[{q_range[0]:g},{q_range[1]:g}]: block-rel err "
                f"corrected {r['corrected']:.1e} (totals {r['total_corrected']:.1e})")
        if uncorrected:
            line += f" | uncorrected {r['uncorrected']:.1e} (totals {r['total_uncorrected']:.1e})"
        print(line)
    print(f"   worst corrected {worst:.1e}; pinned precision {preset.precision:g} "
          f"(margin {preset.precision / worst:.0f}×)   [{time.perf_counter() - t0:.0f} s]")
    good, fail = max_safe_value(pub, sk, preset, tol=1e-9)
    print(f"   largest value decrypting within 1e-9 at level 0: {good:.3g} (2^{math.log2(good):.1f}); first "
          f"failure {fail:.3g} (2^{math.log2(fail):.1f}); pinned max_value {preset.max_value:.3g} "
          f"(2^{math.log2(preset.max_value):.0f}, margin {good / preset.max_value:.0f}×)")
    t = op_times(pub, sk, preset, nt)
    add = t["add"]
    print(f"   time per op (add = {add * 1e3:.3f} ms = 1): " + ", ".join(
        f"{k} {v / add:.0f}" for k, v in t.items() if k != "add"))
    print("   absolute ms: " + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in t.items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", action="append", choices=list(PRESETS), help="only these presets")
    ap.add_argument("--reps", type=int, default=2, help="random trees per precision figure")
    ap.add_argument("--n", type=int, default=6, help="repetitions per timed op")
    args = ap.parse_args(argv)
    import tenseal
    print(f"tenseal {tenseal.__version__}; numpy {np.__version__}; python {sys.version.split()[0]}")
    for name in args.preset or list(PRESETS):
        run(PRESETS[name], args.reps, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
