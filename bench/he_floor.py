"""The calculation against its homomorphic floor, measured in one run (issue #14's first target:
the example chain within 3× its HE-operation floor on the critical path).

The floor is every homomorphic step on the critical path, each timed alone on this machine with
the calculation's own preset and width: the key generation; the requester's answer (a request per
federated input and its contribution); along the deepest path, one request step per tier (the
merged Enc(w) re-added from its buyers' requests, then q · Enc(w) + Enc(0)); the deepest
supplier's contribution; the aggregation of every contribution; the decryption. Loading the
public context is counted once per party on the path (each loads it once). Then the same chain
runs through `tanji demo` (one process per party) and the ratio is printed. Usage:

    .venv/bin/python bench/he_floor.py [DATA_DIR ORG/PRODUCT]
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tanji.he import default_backend
from tanji.he import tasks as he_tasks
from tanji.methodology import slots
from tanji.methodology.graph import build_graph, parse_target
from tanji.methodology.loader import load_data_dir

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def floor(data_dir: Path, product: str) -> tuple[dict[str, float], int, int]:
    data = load_data_dir(data_dir)
    graph = build_graph(data, parse_target(product))
    depth, pairs = graph.depth(), len(graph.order)
    root_inputs = len(graph.edges[graph.target])
    width = slots.calc_width(1, len(data.factors.model.factors))
    own = [1.0, 2.0, 0.5, 0.25, 1.5, 6.0, 0.0, 0.0]
    keys, t_key = timed(he_tasks.keygen, depth, 1, width - slots.WIDTH)
    ctx = default_backend().load_public_context(keys.public_context)
    _, t_load = timed(default_backend().load_public_context, keys.public_context)
    root, t_root = timed(he_tasks.answer, keys.public_context, None, own, 0, [2.0] * root_inputs, width)
    steps, w = [], root.requests[0]
    for _tier in range(depth - 1):                      # every tier but the deepest sends requests on
        merged, t_merge = timed(he_tasks.add_all, keys.public_context, [w], width)
        answered, t_answer = timed(he_tasks.answer, keys.public_context, [(merged, 1.0)], own, 0, [3.0], width)
        steps.append(t_merge + t_answer)
        w = answered.requests[0]
    leaf, t_leaf = timed(he_tasks.answer, keys.public_context, [(w, 1.0)], own, 0, [], width)
    contributions = [leaf.contribution] * pairs
    total, t_sum = timed(he_tasks.add_all, keys.public_context, contributions, width)
    _, t_dec = timed(he_tasks.decrypt, keys.secret_context, total, width)
    del ctx
    parts = {"key generation": t_key, "requester's answer": t_root,
             f"{depth - 1} tiers of request steps (re-add, answer)": sum(steps),
             "deepest contribution": t_leaf, f"aggregation of {pairs}": t_sum, "decryption": t_dec,
             f"context loads ({depth + 1} parties on the path)": t_load * (depth + 1)}
    return parts, depth, pairs


def demo_seconds(data_dir: Path, product: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([str(ROOT / ".venv" / "bin" / "tanji"), "demo", str(data_dir), "--product", product,
                              "--out", tmp], capture_output=True, text=True, check=True,
                             env={**os.environ, "COLUMNS": "200"})
    m = re.search(r"done in ([0-9.]+) s", out.stdout + out.stderr)
    if m is None:
        raise SystemExit(f"no calculation time in the demo's output:\n{out.stdout}{out.stderr}")
    return float(m.group(1))


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "nmc811-pack"
    product = sys.argv[2] if len(sys.argv) > 2 else "pack-assembler/PACK-NMC811-80"
    parts, depth, pairs = floor(data_dir, product)
    hefloor = sum(parts.values())
    calculation = demo_seconds(data_dir, product)
    for name, seconds in parts.items():
        print(f"  {name:48} {seconds:7.3f} s")
    print(f"HE floor on the critical path (depth {depth}, {pairs} products): {hefloor:.2f} s")
    print(f"tanji demo, request to signed result: {calculation:.2f} s")
    print(f"ratio: {calculation / hefloor:.2f}")


if __name__ == "__main__":
    main()
