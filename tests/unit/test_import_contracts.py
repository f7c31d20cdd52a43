"""The layer contracts of pyproject.toml ([tool.importlinter], decision 0008) hold for the tree, and
each of them catches the upward import it forbids.

import-linter runs as `lint-imports` in a subprocess (half a second): it reads the package from
disk by its import path, so the broken copies below must not meet this process's imported tanji."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

LAYERS = "Layers: cli > roles > infra > protocol > he > methodology > errors, v1"
WIRE = "The wire code (tanji.v1) imports nothing of ours"
METHODOLOGY = "The methodology imports nothing above it"
ROLES = "Roles never import each other"
AUDIT = "Audit imports no role"
CLI_TOP = "The CLI is the only top: nothing but tanji.__main__ imports tanji.cli"
PROTOGEN = "The wire generator (tanji.protogen) is a dev tool outside the layers: nothing imports it"


def lint_imports(root: Path) -> tuple[int, set[str], str]:
    """Run import-linter on the tanji package under `root`: its exit code, the broken contracts'
    names and its report (which names the offending imports)."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "400", "NO_COLOR": "1"}
    run = subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=120)
    verdicts = dict(re.findall(r"^(.+?) (KEPT|BROKEN)$", run.stdout, re.MULTILINE))
    assert verdicts, f"lint-imports reported no contract:\n{run.stdout}\n{run.stderr}"
    return run.returncode, {name for name, verdict in verdicts.items() if verdict == "BROKEN"}, run.stdout


def test_the_tree_keeps_every_layer_contract():
    code, broken, report = lint_imports(ROOT)
    assert broken == set(), report
    assert code == 0, report


def test_every_contract_is_checked():
    """The names this file tests are the contracts pyproject.toml declares, no more, no fewer."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert {c["name"] for c in declared} == {LAYERS, WIRE, METHODOLOGY, ROLES, AUDIT, CLI_TOP, PROTOGEN}


@pytest.mark.parametrize(("module", "imports", "expected"), [
    # the CLI imports every role, so through it each role would reach the others
    ("methodology/units.py", "tanji.cli.app", {LAYERS, METHODOLOGY, CLI_TOP, ROLES, AUDIT}),
    ("methodology/graph.py", "tanji.protocol.envelope", {LAYERS, METHODOLOGY}),
    ("v1/__init__.py", "tanji.errors", {LAYERS, WIRE}),
    ("he/chain.py", "tanji.protocol.merkle", {LAYERS}),
    ("audit/verify.py", "tanji.coordinator.bundle", {LAYERS, ROLES, AUDIT}),
    ("node/ledger.py", "tanji.keyholder.store", {LAYERS, ROLES}),
    ("infra/metrics.py", "tanji.protogen", {PROTOGEN}),
], ids=["methodology->cli", "methodology->protocol", "v1->errors", "he->protocol", "audit->coordinator",
        "node->keyholder", "infra->protogen"])
def test_an_upward_or_sideways_import_breaks_its_contracts(tmp_path, module, imports, expected):
    """A copy of the package with one forbidden import added fails lint-imports, naming exactly the
    contracts that forbid it."""
    shutil.copytree(ROOT / "tanji", tmp_path / "tanji", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "tanji" / module, "a") as f:
        f.write(f"\nimport {imports}  # deliberately forbidden\n")

    code, broken, report = lint_imports(tmp_path)
    assert code != 0, report
    assert broken == expected, report
