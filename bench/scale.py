"""Scale (issue #14 item 5): generated chains of 10, 100 and 1000 organisations through `tanji
simulate`, and the example chain through `tanji demo`, each against the homomorphic floor of that
very calculation measured in the same run on this machine. Never a timed test. Usage:

    .venv/bin/python bench/scale.py [--sizes 10,100,1000] [--depth 6] [--fan-out 3] [--seed 7]
                                    [--workers N] [--no-example] [--keep DIR]

The floors:

* the example through `tanji demo` (a process per party, every party on its own core as far as the
  machine has them): bench/he_floor.py's critical-path floor — the calculation's seconds against it;
* a generated chain through `tanji simulate` (every node in a pool of N processes on C cores): the
  total homomorphic CPU time of the calculation, divided by the cores — the key generation; every
  node's answer (its contribution and one request per federated input, at its tier's level, with
  its own number of inputs); the merge of each supplier's buyers' requests; the aggregation of
  every contribution; the decryption; one context load per process that loads it (pool processes,
  coordinator, key holder). Each step is timed alone once per distinct shape (tier, inputs, buyers)
  and counted as often as the chain has it. Not in the floor, though the protocol does them: each
  node's check of the announced context (once per pool process: tanji.he.tasks remembers a good
  one), the coordinator's validation of every ciphertext it
  receives, each supplier re-adding its buyers' requests, the requester's re-execution before it
  attests. They are measured alone as well and printed, so what is above the floor is named.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from he_floor import floor as critical_path_floor

from tanji.he import default_backend
from tanji.he import tasks as he_tasks
from tanji.methodology import slots, synthetic
from tanji.methodology.graph import build_graph, parse_target
from tanji.methodology.loader import load_data_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / "examples" / "nmc811-pack", "pack-assembler/PACK-NMC811-80")
OWN = [1.0, 2.0, 0.5, 0.25, 1.5, 6.0, 0.0, 0.0]


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def shapes(data_dir: Path, product: str):
    """Per distinct (organisation, product) of the calculation: its tier (longest path from the
    target), its federated inputs and its buyers."""
    data = load_data_dir(data_dir)
    graph = build_graph(data, parse_target(product))
    tiers = {graph.target: 0}
    buyers: Counter = Counter()
    for key in graph.order:  # every buyer before its suppliers
        for e in graph.edges[key]:
            tiers[e.supplier] = max(tiers.get(e.supplier, 0), tiers[key] + 1)
            buyers[e.supplier] += 1
    nodes = [(tiers[k], len(graph.edges[k]), buyers[k]) for k in graph.order]
    return data, graph, nodes


def total_floor(data_dir: Path, product: str, processes: int) -> tuple[dict[str, float], dict[str, float], int]:
    """(floor parts, protocol checks outside the floor, products) of a calculation's total HE CPU time."""
    data, graph, nodes = shapes(data_dir, product)
    width = slots.calc_width(1, len(data.factors.model.factors))
    keys, t_key = timed(he_tasks.keygen, graph.depth(), 1, width - slots.WIDTH)
    ctx_bytes = keys.public_context
    _, t_load = timed(default_backend().load_public_context, ctx_bytes)
    _, t_check = timed(he_tasks.check_public_context, ctx_bytes, keys.key_fingerprint, keys.params_hash, keys.preset)
    he_tasks.load_unit_weight(ctx_bytes, keys.unit_weight, width)  # warms this process's context cache
    depth = max(t for t, _, _ in nodes)
    # one Enc(w) per tier, as the chain makes them: the key holder's Enc(1) for the target, then requests
    w = {0: keys.unit_weight}
    for tier in range(depth):
        w[tier + 1] = he_tasks.answer(ctx_bytes, [(w[tier], 1.0)], OWN, 0, [2.0], width).requests[0]
    answer_s: dict[tuple[int, int], float] = {}
    merge_s: dict[tuple[int, int], float] = {}
    validate_s: dict[int, float] = {}
    contribution = b""
    for tier, inputs, n_buyers in sorted(set(nodes)):
        if (tier, inputs) not in answer_s:
            a, answer_s[(tier, inputs)] = timed(he_tasks.answer, ctx_bytes, [(w[tier], 1.0)], OWN, 0,
                                                [2.0] * inputs, width)
            contribution = a.contribution
        if tier and (tier, n_buyers) not in merge_s:
            _, merge_s[(tier, n_buyers)] = timed(he_tasks.add_all, ctx_bytes, [w[tier]] * n_buyers, width)
        if tier not in validate_s:
            _, validate_s[tier] = timed(he_tasks.load_ciphertext, ctx_bytes, w[tier], None, width)
    _, t_validate_out = timed(he_tasks.load_ciphertext, ctx_bytes, contribution, keys.transit_level, width)
    total, t_sum = timed(he_tasks.add_all, ctx_bytes, [contribution] * len(nodes), width)
    _, t_dec = timed(he_tasks.decrypt, keys.secret_context, total, width)
    answers = sum(answer_s[(t, i)] for t, i, _ in nodes)
    merges = sum(merge_s[(t, b)] for t, _, b in nodes if t)
    requests = sum(i for _, i, _ in nodes)
    request_checks = sum(validate_s.get(t + 1, 0.0) * i for t, i, _ in nodes)
    parts = {"key generation": t_key, f"{len(nodes)} answers (contribution + {requests} requests)": answers,
             f"{len(nodes) - 1} merges of buyers' requests": merges, f"aggregation of {len(nodes)}": t_sum,
             "decryption": t_dec, f"context loads ({processes} processes)": t_load * processes}
    checks = {f"context checks (once per pool process, {len(nodes)} nodes)": t_check * (processes - 2),
              f"coordinator validations ({len(nodes)} contributions, {requests} requests)":
                  t_validate_out * len(nodes) + request_checks,
              f"{len(nodes) - 1} re-adds by suppliers": merges,
              "requester's re-execution (loads, re-adds, sum)": t_validate_out * len(nodes) + request_checks
                  + merges + t_sum}
    return parts, checks, len(nodes)


def run(command: list[str], out: Path) -> dict:
    """A `tanji demo|simulate` run into `out`; its metrics.json with the wall time of the command."""
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tanji", *command, "--out", str(out)], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"})
    if proc.returncode != 0:
        raise SystemExit(f"tanji {' '.join(command)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["wall_seconds"] = round(time.monotonic() - began, 1)
    metrics["result"] = json.loads((out / "result.json").read_text())
    return metrics


def reference_gap(data_dir: Path, product: str, result: dict) -> float:
    """|federated − plaintext reference| of the total, relative to it (against the result's precision)."""
    from tanji.methodology.graph import reference_result

    ref = json.loads(reference_result(load_data_dir(data_dir), parse_target(product)).to_json())
    return abs(result["total_kgco2e"] - ref["total_kgco2e"]) / abs(ref["total_kgco2e"])


def row(name: str, metrics: dict, floor_s: float, floor_kind: str, gap: float) -> dict:
    peaks = {k: v for k, v in metrics["peak_rss_mib"].items() if v is not None}
    sent = list(metrics["bytes_sent"].values())
    return {"run": name, "seconds": metrics["seconds"], "floor_seconds": round(floor_s, 2), "floor": floor_kind,
            "ratio": round(metrics["seconds"] / floor_s, 2), "peak_mib_max": max(peaks.values()),
            "peak_mib_max_party": max(peaks, key=lambda k: peaks[k]),
            "peak_mib_total": round(sum(peaks.values()), 1), "bytes_per_node_mean": round(sum(sent) / len(sent)),
            "bytes_per_node_max": max(sent), "relative_gap": gap, "precision": metrics["result"]["precision"],
            "setup_seconds": metrics.get("setup_seconds"), "wall_seconds": metrics["wall_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,100,1000", help="organisations per generated chain, comma separated")
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--fan-out", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool processes of tanji simulate")
    ap.add_argument("--no-example", action="store_true", help="skip the example through tanji demo")
    ap.add_argument("--keep", type=Path, help="keep every run's output under this folder")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rows, floors = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.no_example:
            parts, depth, pairs = critical_path_floor(*EXAMPLE)
            metrics = run(["demo", str(EXAMPLE[0]), "--product", EXAMPLE[1]], work / "example")
            floors["example"] = parts
            rows.append(row(f"example ({pairs} products, depth {depth}) demo", metrics, sum(parts.values()),
                            "critical path", reference_gap(*EXAMPLE, metrics["result"])))
            print(json.dumps(rows[-1]), flush=True)
        for size in (int(s) for s in args.sizes.split(",") if s):
            chain = work / f"chain-{size}"
            if not chain.exists():
                synthetic.write(synthetic.Shape(size, min(args.depth, size - 1), args.fan_out, args.seed), chain)
            product = f"{synthetic.PACK_ORG}/{synthetic.PACK}"
            workers = min(args.workers, size)
            parts, checks, _ = total_floor(chain, product, workers + 2)
            metrics = run(["simulate", str(chain), "--product", product, "--workers", str(workers)],
                          work / f"simulate-{size}")
            floors[f"simulate-{size}"] = {**parts, **{f"(outside the floor) {k}": v for k, v in checks.items()}}
            total = sum(parts.values())
            rows.append(row(f"{size} organisations simulate ({workers} workers)", metrics, total / cores,
                            f"total HE {total:.1f} s / {cores} cores", reference_gap(chain, product,
                                                                                       metrics["result"])))
            print(json.dumps(rows[-1]), flush=True)
    print()
    for name, parts in floors.items():
        print(f"{name}: HE steps timed alone")
        for part, seconds in parts.items():
            print(f"  {part:72} {seconds:8.2f} s")
    print()
    head = ("run", "seconds", "floor s", "ratio", "peak MiB (max party)", "peak MiB all", "bytes/node", "|Δ|/ref")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(" | ".join([r["run"], f"{r['seconds']:.1f}", f"{r['floor_seconds']:.1f} ({r['floor']})",
                          f"{r['ratio']:.2f}", f"{r['peak_mib_max']:.0f} ({r['peak_mib_max_party']})",
                          f"{r['peak_mib_total']:.0f}", f"{r['bytes_per_node_mean'] / 1e6:.2f} MB",
                          f"{r['relative_gap']:.1e} (precision {r['precision']})"]))


if __name__ == "__main__":
    main()
