"""The catalogue in one pass (issue #14 item 1, DESIGN §6): 1, 10 and 50 pack models of the
example's pack maker in one calculation each, through `tanji demo --all`, in one run.

Every model shares the example's supply chain (tanji.methodology.synthetic.catalogue sizes each
from 0.6× to 1.4× of the declared pack). Reported per run: the calculation's seconds (request to
signed results, from the demo's metrics.json), the ratio to one model, the peak memory of the
requester's node, and the largest relative error of any released total against the plaintext
reference of that model. Usage:

    .venv/bin/python bench/catalogue.py [--models 1,10,50]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir
from tanji.methodology.synthetic import catalogue

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "nmc811-pack"
ORG = "pack-assembler"


def chain(dst: Path, models: int) -> Path:
    shutil.copytree(EXAMPLE, dst)
    path = dst / f"{ORG}.json"
    doc = json.loads(path.read_text())
    doc["products"] += catalogue(doc["products"][0], models - 1)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return dst


def run(models: int, work: Path) -> dict:
    data = chain(work / f"data-{models}", models)
    out = work / f"out-{models}"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--all", ORG, "--out", str(out),
                           "--rate-limit", str(max(10, models))],  # every supplier counts each model of a pass
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo of {models} models failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    files = [out / "result.json"] if models == 1 else sorted((out / "results").glob("*.json"))
    loaded = load_data_dir(data)
    worst = 0.0
    for f in files:
        doc = json.loads(f.read_text())
        ref = json.loads(reference_result(loaded, tuple(doc["product"].split("/", 1))).to_json())
        worst = max(worst, abs(doc["total_kgco2e"] - ref["total_kgco2e"]) / ref["total_kgco2e"])
    return {"models": models, "released": len(files), "seconds": metrics["seconds"],
            "requester_mib": metrics["peak_rss_mib"].get(ORG), "worst_rel_error": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="1,10,50", help="comma-separated catalogue sizes")
    sizes = [int(x) for x in parser.parse_args().models.split(",")]
    with tempfile.TemporaryDirectory(prefix="tanji-catalogue-") as tmp:
        rows = [run(n, Path(tmp)) for n in sizes]
    base = next((r["seconds"] for r in rows if r["models"] == 1), rows[0]["seconds"])
    print(f"{'models':>7} {'released':>8} {'seconds':>8} {'× one':>6} {'requester MiB':>13} {'worst rel. error':>16}")
    for r in rows:
        print(f"{r['models']:>7} {r['released']:>8} {r['seconds']:>8.1f} {r['seconds'] / base:>6.2f} "
              f"{r['requester_mib'] or 0:>13.0f} {r['worst_rel_error']:>16.2e}")


if __name__ == "__main__":
    main()
