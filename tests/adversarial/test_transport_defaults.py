"""Secure by default (issue #11, item 7), in real processes.

Attack: `tanji coordinator serve --listen 0.0.0.0` without `--tls` started with one log warning,
and an anonymous client read results, statuses, a node's inbox and the key holder's work. Now plain
gRPC runs on loopback only; anywhere else the operator must say `--insecure`, and every daemon
(coordinator, node, key holder) prints on stderr at start what it runs on. A node without
policy.toml does not serve unless told `--answer-everyone`. Refused starts exit with code 2 and
leave nothing behind.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tanji.cli.demo import Processes, onboard
from tests.harness.paths import EXAMPLE_CHAIN, ROOT
from tests.harness.processes import wait_for_file

pytestmark = pytest.mark.integration
#: TEST-NET-1 (RFC 5737): an address beyond loopback that nothing answers on
REMOTE = "192.0.2.1:7300"
ORG = "pack-assembler"


def tanji(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tanji", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, stdin=subprocess.DEVNULL)


def started(log: Path, *args: str) -> subprocess.Popen:
    """A daemon left running, its stdout and stderr in `log`."""
    return subprocess.Popen([sys.executable, "-m", "tanji", *args], stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def until_in(log: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        content = log.read_text(errors="replace") if log.exists() else ""
        if text in content:
            return content
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{content}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not printed within {timeout} s:\n{log.read_text(errors='replace')}")


@pytest.fixture
def onboarded(tmp_path) -> tuple[Path, Path]:
    """A federation of one node, onboarded as `tanji demo` does (each party's key in its state folder)."""
    state = tmp_path / "state"
    fed_file, _ = onboard(state, [ORG])
    return state, fed_file


def test_a_coordinator_beyond_loopback_without_tls_refuses_to_start_unless_insecure(onboarded, tmp_path):
    state, fed_file = onboarded
    folder, port_file = state / "coordinator", tmp_path / "port"
    for listen in ("0.0.0.0:0", "[::]:0", ":0", "10.1.2.3:0"):
        proc = tanji("coordinator", "serve", "--state", str(folder), "--federation", str(fed_file),
                     "--listen", listen, "--port-file", str(port_file))
        assert proc.returncode == 2, (listen, proc.stderr)
        assert "--insecure" in proc.stderr and not port_file.exists() and not (folder / "coordinator.db").exists()
    daemon = started(tmp_path / "log.txt", "coordinator", "serve", "--state", str(folder), "--federation",
                     str(fed_file), "--listen", "0.0.0.0:0", "--port-file", str(port_file), "--insecure")
    try:
        log = until_in(tmp_path / "log.txt", "--insecure", daemon)
        assert "INSECURE" in log
        wait_for_file(port_file, Processes(tmp_path), "the coordinator to listen")
        assert daemon.poll() is None
    finally:
        stop(daemon)


def test_a_loopback_coordinator_says_it_runs_without_tls(onboarded, tmp_path):
    state, fed_file = onboarded
    proc = started(tmp_path / "log.txt", "coordinator", "serve", "--state", str(state / "coordinator"), "--federation",
                   str(fed_file), "--listen", "127.0.0.1:0", "--port-file", str(tmp_path / "port"))
    try:
        until_in(tmp_path / "log.txt", "without TLS", proc)
    finally:
        stop(proc)


@pytest.mark.parametrize("role", ["keyholder", "node"])
def test_a_party_dialling_beyond_loopback_without_tls_needs_insecure(onboarded, tmp_path, role):
    state, fed_file = onboarded
    party = "keyholder" if role == "keyholder" else ORG
    args = (["keyholder", "serve", "--id", party] if role == "keyholder" else
            ["node", "serve", "--org", party, "--data", str(EXAMPLE_CHAIN / f"{ORG}.json"),
             "--factors", str(EXAMPLE_CHAIN / "factors.json"), "--answer-everyone"])
    args += ["--state", str(state / party), "--federation", str(fed_file), "--coordinator", REMOTE]
    before = sorted((state / party).iterdir())
    proc = tanji(*args)
    assert proc.returncode == 2, proc.stderr
    assert "--insecure" in proc.stderr and sorted((state / party).iterdir()) == before   # refused before any write
    daemon = started(tmp_path / "log.txt", *args, "--insecure")     # nothing answers there: it keeps dialling
    try:
        assert "INSECURE" in until_in(tmp_path / "log.txt", "--insecure", daemon)
    finally:
        stop(daemon)


def test_a_node_without_a_policy_serves_only_when_told_to_answer_everyone(onboarded, tmp_path):
    state, fed_file = onboarded
    node_state = state / ORG
    args = ["node", "serve", "--org", ORG, "--state", str(node_state), "--federation", str(fed_file),
            "--data", str(EXAMPLE_CHAIN / f"{ORG}.json"), "--factors", str(EXAMPLE_CHAIN / "factors.json")]
    procs = Processes(state)
    try:
        address = procs.start_coordinator(fed_file)
        proc = tanji(*args, "--coordinator", address)
        assert proc.returncode == 2, proc.stderr
        assert "--answer-everyone" in proc.stderr and not (node_state / "ready").exists()
        procs.start(ORG, [*args, "--coordinator", address, "--answer-everyone"])
        wait_for_file(node_state / "ready", procs, "the node to register")
        assert "--answer-everyone" in (node_state / "log.txt").read_text()
        # with a policy it serves without the flag
        procs.kill(ORG)
        (node_state / "policy.toml").write_text('approved_customers = ["cell-works"]\n')
        (node_state / "ready").unlink()
        procs.start(ORG, [*args, "--coordinator", address])
        wait_for_file(node_state / "ready", procs, "the node to register")
    finally:
        procs.stop()
