"""Operable in real processes (issue #15): during a calculation the coordinator, the key holder and a
node answer the standard gRPC health service and serve /metrics, and each party's JSON log holds
INFO lifecycle events naming the calculation; the CLI follows it (`calc start --follow`,
`calc status --watch`, `calc result --wait`) with the documented exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tanji.infra import health
from tanji.methodology.graph import build_graph
from tests.harness.keys import KEY_HOLDER
from tests.harness.processes import LocalFederation, assert_matches_reference

pytestmark = pytest.mark.integration
REQUESTER, PRODUCT = "pack-assembler", "PACK-NMC811-80"
SUPPLIER = "cell-works"  # a node that is not the requester


def ops(state: Path, party: str) -> dict[str, str]:
    return json.loads((state / party / health.OPS_FILE).read_text())


def scrape(address: str) -> dict[str, float]:
    """/metrics as {sample with labels: value}."""
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    samples = {}
    for row in text.splitlines():
        if row and not row.startswith("#"):
            name, _, value = row.rpartition(" ")
            samples[name] = float(value)
    return samples


def wait_serving(address: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while health.query(address) != "SERVING":
        assert time.monotonic() < end, f"{address} never SERVING"
        time.sleep(0.2)


def events(state: Path, party: str) -> list[dict]:
    lines = (state / party / "log.txt").read_text(errors="replace").splitlines()
    return [json.loads(row) for row in lines if row.startswith("{")]


def tanji(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tanji", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def federation(tmp_path, monkeypatch):
    monkeypatch.setenv("TANJI_LOG_FORMAT", "json")
    monkeypatch.setenv("TANJI_LOG_LEVEL", "INFO")
    fed = LocalFederation(tmp_path)
    yield fed
    fed.stop()


def test_health_metrics_and_lifecycle_logs_during_a_calculation(federation):
    fed, state = federation, federation.state
    parties = ("coordinator", KEY_HOLDER, SUPPLIER)
    addresses = {p: ops(state, p) for p in parties}
    for p in parties:
        assert addresses[p]["health"].startswith("127.0.0.1:"), "ops ports bind loopback by default"
        wait_serving(addresses[p]["health"])
        assert health.query(addresses[p]["health"], f"tanji.{addresses[p]['role']}") == "SERVING"

    version = tanji("--version")
    assert version.returncode == 0 and version.stdout.startswith("tanji ")
    probe = tanji("health", "--state", str(state / SUPPLIER), "--json")  # what the image's HEALTHCHECK runs
    assert probe.returncode == 0 and json.loads(probe.stdout)["status"] == "SERVING", probe.stderr

    depth = str(build_graph(fed.data, fed.target).depth())
    started = subprocess.Popen(
        [sys.executable, "-m", "tanji", "calc", "start", "--state", str(state / REQUESTER), "--federation",
         str(fed.fed_file), "--coordinator", fed.address, "--product", f"{REQUESTER}/{PRODUCT}", "--depth", depth,
         "--key-holder", KEY_HOLDER, "--follow", "--json", "--timeout", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert started.stdout is not None
    cid = json.loads(started.stdout.readline())["calculation_id"]

    # during the calculation: every party serves its health and its metrics
    during = {p: health.query(addresses[p]["health"]) for p in parties}
    scraped = {p: scrape(addresses[p]["metrics"]) for p in parties}
    assert during == dict.fromkeys(parties, "SERVING")
    assert all(any(k.startswith("tanji_events_total") for k in s) for s in scraped.values())

    out, err = started.communicate(timeout=600)
    assert started.returncode == 0, err
    phases = [json.loads(row) for row in out.splitlines()]
    assert phases[-1]["state"] == "done" and phases[-1]["final"] is True
    assert all("elapsed_seconds" in ph for ph in phases)

    waited = tanji("calc", "result", cid, "--coordinator", fed.address, "--federation", str(fed.fed_file),
                   "--as", REQUESTER, "--wait", "--timeout", "60")
    assert waited.returncode == 0, waited.stderr
    assert_matches_reference(json.loads(waited.stdout))
    watched = tanji("calc", "status", cid, "--coordinator", fed.address, "--as", REQUESTER, "--watch", "--json")
    assert watched.returncode == 0 and json.loads(watched.stdout.splitlines()[-1])["state"] == "done"

    after = {p: scrape(addresses[p]["metrics"]) for p in parties}
    coordinator, key_holder, node = after["coordinator"], after[KEY_HOLDER], after[SUPPLIER]
    assert coordinator['tanji_calculations{state="done"}'] == 1
    assert coordinator['tanji_rpc_seconds_count{code="OK",method="StartCalculation",side="server"}'] >= 1
    assert coordinator["tanji_db_statement_seconds_count"] > 0
    assert coordinator['tanji_bytes_received_total{method="PushObject"}'] > 0
    assert node['tanji_requests_answered_total{outcome="contribution"}'] >= 1
    assert node['tanji_he_operation_seconds_count{operation="answer"}'] >= 1
    assert node['tanji_bytes_sent_total{method="PushObject"}'] > 0
    assert key_holder['tanji_events_total{event="result.released"}'] == 1
    assert key_holder['tanji_he_operation_seconds_count{operation="decrypt"}'] == 1

    wanted = {"coordinator": {"started", "calculation.started", "calculation.state"},
              KEY_HOLDER: {"started", "registered", "key.made", "result.released"},
              SUPPLIER: {"started", "registered", "contribution.sent"},
              REQUESTER: {"contribution.sent", "aggregate.attested"}}
    for party, names in wanted.items():
        logged = events(state, party)
        assert logged, f"{party} logged no JSON line"
        assert all(e["party"] == party for e in logged)
        mine = {e["event"] for e in logged if e.get("calculation_id") == cid and e["level"] == "INFO"}
        assert names - {"started", "registered"} <= mine, (party, mine)
        assert names & {"started", "registered"} <= {e["event"] for e in logged}, party


def test_a_daemon_with_a_bad_log_level_does_not_start(tmp_path):
    env = dict(os.environ, TANJI_LOG_LEVEL="LOUD")
    bad = subprocess.run([sys.executable, "-m", "tanji", "keyholder", "serve", "--id", KEY_HOLDER, "--state",
                          str(tmp_path / "kh"), "--federation", str(tmp_path / "none.json"), "--coordinator",
                          "127.0.0.1:9"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "TANJI_LOG_LEVEL" in bad.stderr
