"""What a daemon says while it runs: one log line per event, parseable (`--log-format json`) or
readable (`text`), every line naming the party and its role.

Lifecycle events (started, registered, key made, request answered, contribution sent, aggregate
attested, result released, a refusal and its code, a calculation's state) go through `event` at
INFO with the event's name and the calculation id. An event carries names, ids, codes and counts
of messages only — never a figure from a node's data (tests/adversarial/test_privacy_probe.py
reads every party's log). The level comes from TANJI_LOG_LEVEL (default INFO).
"""
from __future__ import annotations

import logging
import os
import sys

from pythonjsonlogger.json import JsonFormatter

from tanji.errors import TanjiError

LEVEL_ENV = "TANJI_LOG_LEVEL"
FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EVENTS = logging.getLogger("tanji.events")
#: the fields every line carries (a record without them gets "")
IDENTITY = ("party", "role", "event", "calculation_id")
#: libraries whose INFO lines are noise at INFO (kept from WARNING on; DEBUG shows them)
QUIET = ("alembic", "sqlalchemy", "grpc")


class BadLogSetting(TanjiError):
    """An unknown --log-format or TANJI_LOG_LEVEL."""
    exit_code = 2


class _Identity(logging.Filter):
    """Stamps every record with this process's party and role (and empty event fields)."""

    def __init__(self, party: str, role: str):
        super().__init__()
        self.party, self.role = party, role

    def filter(self, record: logging.LogRecord) -> bool:
        record.party = self.party
        record.role = self.role
        for name in ("event", "calculation_id"):
            if not hasattr(record, name):
                setattr(record, name, "")
        return True


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (a test runner swaps it, then closes it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def level_from_env(default: str = "INFO") -> int:
    """The level TANJI_LOG_LEVEL names (a name such as INFO or DEBUG); BadLogSetting otherwise."""
    name = (os.environ.get(LEVEL_ENV) or default).strip().upper()
    if name not in LEVELS:
        raise BadLogSetting(f"{LEVEL_ENV}={name!r}: not a log level (one of {', '.join(LEVELS)})")
    return logging.getLevelName(name)


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(party)s %(role)s %(event)s %(calculation_id)s "
                             "%(message)s", rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    if fmt == "text":
        return logging.Formatter("%(asctime)s %(levelname)s %(role)s %(party)s %(name)s: %(message)s")
    raise BadLogSetting(f"--log-format {fmt!r}: one of {', '.join(FORMATS)}")


def setup(party: str, role: str, fmt: str = "text", stream=None) -> None:
    """Send every log record of this process to stderr (or `stream`) in `fmt`, stamped with party and
    role, at the level TANJI_LOG_LEVEL names; replaces the handlers the CLI installed."""
    level = level_from_env()
    handler: logging.StreamHandler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(_Identity(party, role))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("tanji").setLevel(level)
    for chatty in QUIET:  # their INFO is per connection (alembic: every readiness check), not an event
        logging.getLogger(chatty).setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))


def event(name: str, calculation: str | None = None, *, level: int = logging.INFO, **fields: str | int) -> None:
    """Log lifecycle event `name` (e.g. "contribution.sent") of `calculation`, with `fields` (names,
    codes, counts — never a figure from a node's data), and count it (tanji_events_total)."""
    from tanji.infra import telemetry

    telemetry.EVENTS.labels(event=name).inc()
    extra: dict[str, str | int] = {"event": name, "calculation_id": calculation or ""}
    extra.update({f"f_{k}" if k in _RESERVED else k: v for k, v in fields.items()})
    words = [name] + ([f"calculation={calculation}"] if calculation else []) + [f"{k}={v}" for k, v in fields.items()]
    EVENTS.log(level, " ".join(words), extra=extra)


#: LogRecord attributes an event field must not overwrite
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
