"""Health status, log lines, metrics and following a calculation, in process (issue #15)."""
from __future__ import annotations

import io
import json
import logging
import time

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from tanji.cli import follow
from tanji.cli.app import app
from tanji.infra import health, observability, telemetry
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import requester_pb2 as rpb

S = rpb.CalculationState


def _until(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_health_is_not_serving_until_the_check_holds_and_follows_it():
    ops = health.Ops("node", "127.0.0.1:0", every=0.05).start()
    try:
        address = ops.health_address
        assert health.query(address) == "NOT_SERVING"  # starting: no check yet
        ready = {"now": True}
        ops.check = lambda: ready["now"]
        assert _until(lambda: health.query(address) == "SERVING")
        assert health.query(address, "tanji.node") == "SERVING"
        assert health.query(address, "tanji.coordinator") == "SERVICE_UNKNOWN"
        ready["now"] = False
        assert _until(lambda: health.query(address) == "NOT_SERVING")

        def broken() -> bool:
            raise OSError("database gone")
        ops.check = broken
        assert _until(lambda: health.query(address) == "NOT_SERVING")
        assert ops.metrics_address.startswith("127.0.0.1:")
    finally:
        ops.close()
    assert health.query(address, timeout=0.5) == "UNREACHABLE"


def test_an_ops_port_in_use_is_refused():
    first = health.Ops("node", "127.0.0.1:0").start()
    try:
        with pytest.raises(health.OpsPortTaken):
            health.Ops("node", "127.0.0.1:1", metrics_listen=first.metrics_address)
        with pytest.raises(health.OpsPortTaken):
            health.Ops("node", "nowhere")
    finally:
        first.close()


def test_json_lines_name_party_role_event_and_calculation(monkeypatch):
    monkeypatch.setenv(observability.LEVEL_ENV, "info")
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        observability.setup("cell-works", "node", "json", stream=out)
        observability.event("contribution.sent", "calc-0123456789abcdef", code="X", message="shadowed field")
        logging.getLogger("tanji.node").debug("not at INFO")
        logging.getLogger("tanji.node").info("plain line")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(row) for row in out.getvalue().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert (first["party"], first["role"], first["event"], first["calculation_id"], first["level"]) == (
        "cell-works", "node", "contribution.sent", "calc-0123456789abcdef", "INFO")
    assert first["code"] == "X" and first["f_message"] == "shadowed field"
    assert (lines[1]["event"], lines[1]["calculation_id"], lines[1]["party"]) == ("", "", "cell-works")


def test_a_bad_log_level_or_format_is_refused(monkeypatch):
    monkeypatch.setenv(observability.LEVEL_ENV, "LOUD")
    with pytest.raises(observability.BadLogSetting):
        observability.level_from_env()
    monkeypatch.setenv(observability.LEVEL_ENV, "DEBUG")
    assert observability.level_from_env() == logging.DEBUG
    with pytest.raises(observability.BadLogSetting):
        observability.formatter("xml")


def test_refusals_in_push_answers_are_counted_by_code():
    def value() -> float:
        return REGISTRY.get_sample_value("tanji_refusals_total", {"code": "REFUSAL_CODE_REPLAY"}) or 0.0
    before = value()
    telemetry.count_refusals(npb.PushMessagesResponse(outcomes=[
        cpb.PushOutcome(status=cpb.PUSH_STATUS_REFUSED, code=cpb.REFUSAL_CODE_REPLAY),
        cpb.PushOutcome(status=cpb.PUSH_STATUS_ACCEPTED)]))
    telemetry.count_refusals(npb.HeartbeatResponse())
    assert value() == before + 1


def _status(state, **kw) -> rpb.GetStatusResponse:
    return rpb.GetStatusResponse(calculation_id="calc-0123456789abcdef", state=state, **kw)


@pytest.mark.parametrize("state, code, words", [
    (S.CALCULATION_STATE_AWAITING_KEY, 3, "key"),
    (S.CALCULATION_STATE_RUNNING, 3, "contributions 2/5"),
    (S.CALCULATION_STATE_AWAITING_ATTESTATION, 3, "attestation"),
    (S.CALCULATION_STATE_AWAITING_DECRYPTION, 3, "decryption"),
    (S.CALCULATION_STATE_DONE, 0, "done"),
    (S.CALCULATION_STATE_FAILED, 4, "failed: REFUSAL_CODE_DEADLINE_EXCEEDED"),
    (S.CALCULATION_STATE_WITHHELD, 5, "withheld: REFUSAL_CODE_OUT_OF_BOUNDS"),
])
def test_each_phase_reads_as_words_and_ends_with_its_exit_code(state, code, words):
    failure = {S.CALCULATION_STATE_FAILED: cpb.REFUSAL_CODE_DEADLINE_EXCEEDED,
               S.CALCULATION_STATE_WITHHELD: cpb.REFUSAL_CODE_OUT_OF_BOUNDS}.get(state, 0)
    st = _status(state, requests_declared=5, requests_answered=2, failure_code=failure)
    assert follow.exit_code(st) == code
    assert words in follow.phase(st)
    assert json.loads(follow.line(st, 1.5, as_json=True))["elapsed_seconds"] == 1.5


def test_follow_shows_each_change_once_and_stops_at_the_end_or_the_timeout():
    states = iter([S.CALCULATION_STATE_AWAITING_KEY, S.CALCULATION_STATE_AWAITING_KEY, S.CALCULATION_STATE_RUNNING,
                   S.CALCULATION_STATE_DONE])
    clock = iter(range(100))
    shown: list[tuple[int, float]] = []
    last = follow.follow(lambda: _status(next(states)), lambda st, e: shown.append((st.state, e)), timeout=None,
                         clock=lambda: float(next(clock)), sleep=lambda _: None)
    assert last.state == S.CALCULATION_STATE_DONE
    assert [s for s, _ in shown] == [S.CALCULATION_STATE_AWAITING_KEY, S.CALCULATION_STATE_RUNNING,
                                     S.CALCULATION_STATE_DONE]
    ticks = iter(range(100))
    pending = follow.follow(lambda: _status(S.CALCULATION_STATE_RUNNING), lambda *_: None, timeout=3,
                            clock=lambda: float(next(ticks)), sleep=lambda _: None)
    assert follow.exit_code(pending) == follow.EXIT_PENDING


def test_version_and_completion():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("tanji ")
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).output


def test_a_config_key_that_names_nothing_is_refused_by_name(tmp_path):
    cfg = tmp_path / "tanji.toml"
    runner = CliRunner()
    for text, named in (('[node.serve]\norgg = "cell-works"\n', "node.serve.orgg"),
                        ('[nod.serve]\norg = "cell-works"\n', "nod"),
                        ('[calc]\nstart = 1\n', "calc.start")):
        cfg.write_text(text)
        res = runner.invoke(app, ["--config", str(cfg), "calc", "status", "x"])
        assert res.exit_code == 2, res.output
        assert named in res.output
    cfg.write_text('[calc.status]\nparty = "cell-works"\n')
    res = runner.invoke(app, ["--config", str(cfg), "calc", "status", "NOT AN ID", "--coordinator", "127.0.0.1:1"])
    assert res.exit_code == 2 and "calculation id" in res.output


@pytest.mark.parametrize("state, code", [(S.CALCULATION_STATE_RUNNING, 3), (S.CALCULATION_STATE_FAILED, 4),
                                         (S.CALCULATION_STATE_WITHHELD, 5), (S.CALCULATION_STATE_DONE, 0)])
def test_calc_result_exits_by_the_calculations_end(tmp_path, monkeypatch, state, code):
    from tanji.cli import calc_cmd, requester

    def results(*_):
        if state == S.CALCULATION_STATE_WITHHELD:
            raise requester.CalculationFailed("result withheld by the key holder: REFUSAL_CODE_OUT_OF_BOUNDS: …")
        return [b'{"total_kgco2e": 1}']
    monkeypatch.setattr(calc_cmd, "status_once", lambda *_: _status(state, failure_code=4 if state in (
        S.CALCULATION_STATE_FAILED, S.CALCULATION_STATE_WITHHELD) else 0))
    monkeypatch.setattr(requester, "results", results)
    monkeypatch.setattr("tanji.protocol.federation.Federation.load", lambda *_: None)
    res = CliRunner().invoke(app, ["calc", "result", "calc-0123456789abcdef", "--coordinator", "127.0.0.1:1",
                                   "--federation", str(tmp_path / "f.json"), "--as", "pack-assembler"])
    assert res.exit_code == code, res.output
    assert (res.stdout == '{"total_kgco2e": 1}') == (code == 0)
    if code == 5:
        assert "withheld" in res.stderr


def test_coordinator_migrate_json_names_the_revision_and_the_head(tmp_path):
    res = CliRunner().invoke(app, ["coordinator", "migrate", "--state", str(tmp_path / "coordinator"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["revision"] == out["head"] and out["database"].startswith("sqlite:")


def test_the_coordinator_is_ready_only_at_the_migrations_head(tmp_path):
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    from tanji.coordinator import migrations, readiness
    from tanji.coordinator.storage import open_storage

    head = migrations.head()
    bare = create_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    assert not readiness.database_ready(bare, head)            # nothing migrated
    migrations.upgrade(bare, "0001")
    assert not readiness.database_ready(bare, head)            # an older schema
    storage = open_storage(tmp_path / "coordinator")
    assert readiness.database_ready(storage.engine, head)
    assert readiness.calculations_by_state(storage) == {}
    gone = create_engine(f"sqlite:///{tmp_path / 'nowhere' / 'coordinator.db'}")
    with pytest.raises(OperationalError):
        readiness.database_ready(gone, head)                   # unreachable: the health check says NOT_SERVING


def test_a_party_is_ready_while_its_last_lease_holds():
    import grpc

    from tanji.infra.party_client import PartyClient
    from tanji.protocol.signing import SigningKey

    client = PartyClient("cell-works", SigningKey.generate(), grpc.insecure_channel("127.0.0.1:1"))
    assert not client.lease_held()                             # not registered yet
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    client._granted(now, now + timedelta(seconds=20))
    assert client.lease_held()
    client._granted(now, now)                                  # a lease that ends as it begins
    assert not client.lease_held()
