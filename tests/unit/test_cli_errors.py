"""No traceback ever reaches a user (issue #15 item 6): every `tanji` command, given a file that is
missing or not what it should be, ends with one `error:` line and a documented exit code.

In process (typer's CliRunner): the daemons' ops ports and log set-up are replaced by no-ops, and
every address is loopback port 1 (refused at once). A new command must be added to COMMANDS.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tanji.cli.app import app

CID = "0123456789abcdef0123456789abcdef0123456789abcdef"
COORD = "127.0.0.1:1"

#: every command, with {F} where a file it reads goes, {D} a folder it reads, {O} where it writes
COMMANDS: dict[str, list[str]] = {
    "report": ["{F}", "--out", "{O}"],
    "reference": ["{D}", "--product", "a/b"],
    "demo": ["{D}", "--product", "a/b", "--out", "{O}"],
    "coordinator serve": ["--state", "{D}", "--federation", "{F}"],
    "coordinator migrate": ["--state", "{D}"],
    "coordinator init": ["--state", "{F}"],
    "coordinator join": ["--state", "{D}", "--federation", "{F}"],
    "node serve": ["--org", "a", "--state", "{D}", "--federation", "{F}", "--coordinator", COORD,
                   "--answer-everyone"],
    "node import": ["--state", "{D}", "--data", "{F}", "--factors", "{F}"],
    "node audit-export": [CID, "--state", "{D}", "--out", "{O}"],
    "node ledger": ["--state", "{D}"],
    "node template": ["--org", "a", "--factors", "{F}", "--out", "{O}"],
    "node convert": ["{F}", "--out", "{O}"],
    "node check": ["{F}", "--factors", "{F}"],
    "node preview": ["{F}", "--factors", "{F}"],
    "node init": ["--state", "{F}", "--org", "a"],
    "node join": ["--state", "{D}", "--federation", "{F}"],
    "node customers": ["--state", "{D}"],
    "keyholder serve": ["--id", "keyholder", "--state", "{D}", "--federation", "{F}", "--coordinator", COORD],
    "keyholder init": ["--state", "{F}", "--id", "keyholder"],
    "keyholder join": ["--state", "{D}", "--federation", "{F}"],
    "calc start": ["--state", "{D}", "--federation", "{F}", "--coordinator", COORD, "--product", "p",
                   "--depth", "1"],
    "calc status": [CID, "--coordinator", COORD, "--tls", "{D}"],
    "calc result": [CID, "--coordinator", COORD, "--federation", "{F}", "--tls", "{D}"],
    "calc bundle": [CID, "--state", "{D}", "--federation", "{F}", "--out", "{O}"],
    "factors citations": ["--factor-set", "{F}", "--coordinator", COORD, "--federation", "{F}"],
    "audit verify": ["{F}", "--trust", "{F}"],
    "audit check-node": ["{F}", "{F}", "--trust", "{F}"],
    "audit statement": ["{F}", "--trust", "{F}", "--out", "{O}"],
    "pki init": ["--dir", "{F}"],
    "pki issue": ["a", "--role", "node", "--dir", "{D}", "--out", "{O}"],
    "federation init": ["{F}", "--dir", "{D}"],
    "export pact": ["{F}", "--out", "{O}"],
    "import pact": ["{F}", "--factors", "{F}"],
    "registry init": ["--dir", "{F}"],
    "registry add": ["{F}", "--dir", "{D}"],
    "registry remove": ["a", "--dir", "{D}"],
    "registry revoke": ["a", "--dir", "{D}"],
    "health": ["--state", "{D}"],
    "generate-chain": ["--orgs", "3", "--depth", "1", "--out", "{F}"],
    "simulate": ["{D}", "--product", "a/b", "--out", "{O}"],
}
#: exit codes a bad file may give (docs/operations.md): 2 bad input; `health` 1 (unreachable) or 2;
#: a command that makes its folder or database makes a missing one (exit 0)
ALLOWED = {"health": {1, 2}, "coordinator init/missing": {0}, "keyholder init/missing": {0},
           "node init/missing": {0}, "pki init/missing": {0}, "registry init/missing": {0},
           "coordinator migrate/missing": {0}, "generate-chain/missing": {0}}


def leaf_commands() -> set[str]:
    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path)
    return set(walk(typer.main.get_command(app), []))


def test_the_table_names_every_command():
    assert leaf_commands() == set(COMMANDS), "add the new command to COMMANDS"


@pytest.fixture(autouse=True)
def no_ops_ports(monkeypatch):
    """A daemon's health/metrics ports and log handlers are not for an in-process run."""
    monkeypatch.setattr("tanji.infra.health.start", lambda *a, **k: None)
    monkeypatch.setattr("tanji.infra.observability.setup", lambda *a, **k: None)


def files(tmp_path: Path, kind: str) -> dict[str, str]:
    """{F}: a file that is missing, or present with content that is nothing tanji reads (garbage);
    {D}: a folder that is missing, or present and empty with a garbage file in place of every file."""
    folder = tmp_path / "state"
    if kind == "missing":
        return {"{F}": str(tmp_path / "nowhere" / "absent.json"), "{D}": str(tmp_path / "nowhere" / "state"),
                "{O}": str(tmp_path / "out" / "written")}
    folder.mkdir()
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xffnot {json, toml, xlsx or a key\n")
    for name in ("node.db", "coordinator.db", "envelope-key.pem", "ca.crt", "keyholder.crt", "keyholder.key",
                 "policy.toml", "trust-anchor.pub", "ops.json", "join-request.json", "federation.json"):
        (folder / name).write_bytes(garbage.read_bytes())
    return {"{F}": str(garbage), "{D}": str(folder), "{O}": str(tmp_path / "out" / "written")}


@pytest.mark.parametrize("kind", ["missing", "garbage"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_or_wrong_file_is_one_error_line_and_an_exit_code(tmp_path, command, kind):
    values = files(tmp_path, kind)
    args = command.split() + [values.get(a, a) if a in values else _fill(a, values) for a in COMMANDS[command]]
    res = CliRunner().invoke(app, args)
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), (
        f"traceback: {res.exception!r}\n{res.output}")
    assert "Traceback" not in res.output
    assert res.exit_code in ALLOWED.get(f"{command}/{kind}", ALLOWED.get(command, {2})), res.output
    if res.exit_code:
        lines = [row for row in res.output.splitlines() if row.strip()]
        ours = [row for row in lines if row.startswith("error:")]
        assert len(ours) == 1 or (not ours and any("Error" in row for row in lines)), res.output  # ours, or Click's


def _fill(arg: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        arg = arg.replace(key, value)
    return arg


def test_what_escapes_a_command_becomes_one_line_with_its_exit_code():
    import sqlite3

    from sqlalchemy.exc import DatabaseError

    from tanji.cli.safety import one_line
    from tanji.errors import TanjiError

    assert one_line(FileNotFoundError(2, "No such file or directory", "/x/y.json")) == (
        "/x/y.json: No such file or directory", 2)
    assert one_line(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))[1] == 2
    assert one_line(DatabaseError("SELECT", {}, sqlite3.DatabaseError("file is not a database")))[1] == 2
    assert one_line(TanjiError("named"))[1] == 2
    message, code = one_line(KeyError("slot"))
    assert code == 1 and message.startswith("unexpected KeyError") and "\n" not in message


def test_tanji_debug_lets_the_traceback_through(tmp_path, monkeypatch):
    args = ["calc", "status", CID, "--coordinator", COORD, "--tls", str(tmp_path)]
    assert CliRunner().invoke(app, args).exit_code == 2
    monkeypatch.setenv("TANJI_DEBUG", "1")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and not isinstance(res.exception, SystemExit)
