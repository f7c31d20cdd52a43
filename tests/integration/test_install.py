"""The project as a user gets it: a wheel of the checkout, installed into a fresh venv, runs the demo.

The wheel must hold one top-level package, `tanji` (the checkout's role folders are symlinks into
it and must not ship twice, and nothing of the old layout may). The venv gets tanji only from the
wheel; its dependencies come from the interpreter running the tests, appended to its path after
the install (`--system-site-packages` would expose the base interpreter's packages, not this
venv's), so the test needs no network. Every process runs with PYTHONSAFEPATH and outside the
checkout, so no `python -m tanji` can import the checkout instead of the install.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = "pack-assembler/PACK-NMC811-80"
#: what a build never needs: VCS, environments, caches, outputs
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "*.egg-info", "build", "dist", "out",
                                    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
                                    ".import_linter_cache")


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONSAFEPATH"] = "1"  # the working directory is never on an import path, in children neither
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def build_wheel(tmp: Path) -> Path:
    """A wheel of the checkout as it stands (symlinks kept), built from a copy so the checkout
    gets no build/ or egg-info of ours; offline, with the setuptools already installed."""
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--wheel-dir", str(dist), str(source)], cwd=tmp)
    wheels = list(dist.glob("tanji-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as whl:
        names = {name.split("/")[0] for name in whl.namelist()}
    return {name for name in names if not name.endswith((".dist-info", ".data"))}


def install(wheel: Path, venv: Path, cwd: Path) -> Path:
    """A fresh venv with the wheel installed, then the test interpreter's packages appended for
    the dependencies; returns its bin folder."""
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=cwd)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
         str(wheel)], cwd=cwd)
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=cwd).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return venv / "bin"


def figures_within(result: dict, reference: dict) -> dict[str, float]:
    """Each figure's distance from the reference over what FORMATS §4 allows at the result's
    precision: block figures to precision × total, per-kWh figures to precision × per-kWh total,
    shares and DQR to precision. Every value must be at most 1."""
    precision = result["precision"]
    assert isinstance(precision, float) and 0 < precision < 1e-3, precision
    scale = {"total_kgco2e": reference["total_kgco2e"], "per_kwh_kgco2e": reference["per_kwh_kgco2e"],
             "primary_data_share": 1.0, "dqr": 1.0}
    found = {key: abs(result[key] - reference[key]) / (precision * s) for key, s in scale.items()}
    for group, s in (("stages_kgco2e", scale["total_kgco2e"]), ("stages_per_kwh_kgco2e", scale["per_kwh_kgco2e"])):
        assert result[group].keys() == reference[group].keys()
        found.update({f"{group}.{stage}": abs(result[group][stage] - value) / (precision * s)
                      for stage, value in reference[group].items()})
    return found


def test_the_wheel_installs_alone_and_its_demo_matches_the_reference(tmp_path):
    started = time.monotonic()
    wheel = build_wheel(tmp_path)
    assert top_level(wheel) == {"tanji"}

    work = tmp_path / "work"  # an empty working directory: nothing importable
    work.mkdir()
    bin_dir = install(wheel, tmp_path / "venv", work)
    where = run([str(bin_dir / "python"), "-c", "import tanji; print(tanji.__file__)"], cwd=work).stdout.strip()
    assert Path(where).resolve().is_relative_to((tmp_path / "venv").resolve()), where
    built = time.monotonic()

    examples = ROOT / "examples" / "nmc811-pack"
    out = tmp_path / "demo"
    run([str(bin_dir / "tanji"), "demo", str(examples), "--product", PRODUCT, "--out", str(out)], cwd=work, timeout=900)
    result = json.loads((out / "result.json").read_text())
    reference = json.loads(run([str(bin_dir / "tanji"), "reference", str(examples), "--product", PRODUCT],
                               cwd=work).stdout)
    print(f"wheel and venv: {built - started:.1f} s; demo and reference: {time.monotonic() - built:.1f} s")

    assert reference["precision"] is None  # the unrounded plaintext reference
    for key in ("product", "declared_unit", "method", "method_version", "declaration", "factor_set",
                "lifetime_energy_kwh", "warnings_count", "warnings", "fallbacks"):
        assert result[key] == reference[key], key
    distances = figures_within(result, reference)
    print("distance from the reference, in units of the stated precision:", json.dumps(distances, indent=1))
    assert max(distances.values()) <= 1.0, distances
