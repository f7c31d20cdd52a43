"""Issue #12 item 3, "in the demo too" (decision 0018): the demo driver — the operator and the
requester's console — never opens an organisation's node-data file. Each file is read by a process
of its own organisation (its `node check`, its node); a refused file or an organisation with two
files still stops the demo, named, before any party process starts."""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tanji.cli.demo import DEFAULT_DEPTH_BOUND, run_demo
from tests.harness.outcomes import unwrapped
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET

pytestmark = pytest.mark.integration
_events: list[tuple[str, tuple]] | None = None  # recording while a test sets it; audit hooks stay for good


def _hook(event: str, args: tuple) -> None:
    if _events is not None and event in ("open", "subprocess.Popen"):
        _events.append((event, args))


sys.addaudithook(_hook)


def _path(arg) -> Path | None:
    if isinstance(arg, int) or arg is None:
        return None
    try:
        return Path(os.fsdecode(arg)).resolve()
    except (TypeError, ValueError, OSError):
        return None


def test_the_driver_opens_no_organisations_file_and_each_is_checked_by_a_process_of_its_own(tmp_path):
    global _events
    node_files = {p.resolve() for p in EXAMPLE_CHAIN.glob("*.json") if p.name != "factors.json"}
    out = tmp_path / "demo"
    _events = []
    try:
        doc = run_demo(EXAMPLE_CHAIN, "/".join(EXAMPLE_TARGET), out, Console(file=io.StringIO(), width=200))
    finally:
        events, _events = _events, None
    assert doc["total_kgco2e"] == pytest.approx(7679.6593, abs=1e-3)

    opened = {p for event, args in events if event == "open" and (p := _path(args[0])) is not None}
    assert (EXAMPLE_CHAIN / "factors.json").resolve() in opened     # the hook sees the driver's opens
    assert sorted(opened & node_files) == []                         # ... and none of an organisation's file

    named = [{p for a in args[1] if (p := _path(a)) in node_files} for event, args in events
             if event == "subprocess.Popen" and isinstance(args[1], (list, tuple))]
    checks = [args[1] for event, args in events if event == "subprocess.Popen" and "check" in args[1]]
    assert all(len(files) <= 1 for files in named)                    # one organisation's file per process
    assert sorted(f for files in named for f in files) == sorted(list(node_files) * 2)   # its check, then its node
    assert len(checks) == len(node_files) and all("--org-only" in c for c in checks)
    calc = [args[1] for event, args in events if event == "subprocess.Popen" and "calc" in args[1]]
    assert len(calc) == 1 and calc[0][calc[0].index("--depth") + 1] == str(DEFAULT_DEPTH_BOUND)
    assert all((out / "state" / p.stem / "node.db").is_file() for p in node_files)   # each node imported its own


def demo(data: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--product", "/".join(EXAMPLE_TARGET),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)


def test_a_refused_file_stops_the_demo_before_any_party_starts(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE_CHAIN, data)
    doc = json.loads((data / "graphite-anode.json").read_text())
    doc["products"][0]["activities"][0]["unit"] = "lb"
    (data / "graphite-anode.json").write_text(json.dumps(doc))
    proc = demo(data, tmp_path / "out")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "graphite-anode.json: products[0].activities[0].unit: " in unwrapped(proc.stderr)   # file, record, field
    assert not (tmp_path / "out" / "state").exists()


def test_an_organisation_with_two_files_is_refused_naming_both(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE_CHAIN, data)
    shutil.copy(data / "graphite-anode.json", data / "graphite-anode-2024.json")
    proc = demo(data, tmp_path / "out")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = unwrapped(proc.stderr)
    assert "graphite-anode.json: organisation.id: " in message and "graphite-anode-2024.json" in message
    assert not (tmp_path / "out" / "state").exists()
