"""A verifier's report: one named check per line, every problem listed (a failed check never
stops the others)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "summary": self.summary,
                           "checks": [c.__dict__ for c in self.checks]}, indent=2)
