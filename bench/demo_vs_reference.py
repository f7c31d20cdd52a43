"""End-to-end cost of the federated calculation against the same graph in plaintext (DESIGN §7).

Runs `tanji reference` in-process and `tanji demo` (one process per party) on one chain and
prints the ratio measured in this one run, the relative error per figure, the bytes each node
sent and each party's peak memory. Usage:

    .venv/bin/python bench/demo_vs_reference.py [DATA_DIR ORG/PRODUCT]
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tanji.methodology.graph import parse_target, reference_result
from tanji.methodology.loader import load_data_dir

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "nmc811-pack"
    product = sys.argv[2] if len(sys.argv) > 2 else "pack-assembler/PACK-NMC811-80"
    t0 = time.perf_counter()
    ref = json.loads(reference_result(load_data_dir(data), parse_target(product)).to_json())
    t_ref = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--product", product, "--out", str(out)],
                       check=True, capture_output=True)
        t_demo = time.perf_counter() - t0
        res = json.loads((out / "result.json").read_text())
        metrics = json.loads((out / "metrics.json").read_text())
    print(f"chain: {data.name}, {len(metrics['bytes_sent'])} organisations, product {product}")
    print(f"plaintext reference (in-process, loading the files included): {t_ref * 1e3:.1f} ms")
    print(f"federated demo (process start-up to stop): {t_demo:.1f} s; calculation itself {metrics['seconds']} s")
    print(f"ratio federated calculation / plaintext: {metrics['seconds'] / t_ref:.0f}x")
    print(f"precision preset: {res['precision']}")
    for key in ("total_kgco2e", "per_kwh_kgco2e", "primary_data_share", "dqr"):
        if ref[key] is not None:  # a product footprint has no per-kWh figure
            print(f"  relative error {key}: {abs(res[key] - ref[key]) / abs(ref[key]):.2e}")
    for stage, value in ref["stages_kgco2e"].items():  # relative to the total: a stage may be 0
        error = abs(res["stages_kgco2e"][stage] - value) / ref["total_kgco2e"]
        print(f"  error stage {stage} relative to the total: {error:.2e}")
    sent = metrics["bytes_sent"]
    print(f"bytes sent per node: min {min(sent.values()) / 1e6:.2f} MB, max {max(sent.values()) / 1e6:.2f} MB "
          f"({max(sent, key=sent.get)}), total {sum(sent.values()) / 1e6:.1f} MB")
    rss = metrics["peak_rss_mib"]
    print(f"peak memory: coordinator {rss['coordinator']} MiB, key holder {rss['keyholder']} MiB, "
          f"largest node {max(v for k, v in rss.items() if k not in ('coordinator', 'keyholder'))} MiB "
          "(each including its HE worker process)")


if __name__ == "__main__":
    main()
