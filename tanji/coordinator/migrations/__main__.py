"""`python -m tanji.coordinator.migrations revision "what changed"`: write the next revision from the
difference between coordinator/db.py and the migrations' head (review it before committing).
`tanji coordinator migrate` runs them; every coordinator also does on start."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import Script

from tanji.coordinator import db, migrations


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        engine = db.make_engine(db.sqlite_url(Path(scratch) / "head.db"))
        with engine.begin() as conn:
            script = command.revision(migrations.config(conn), message=argv[1], autogenerate=True,
                                      rev_id=f"{int(migrations.head()) + 1:04d}")
        engine.dispose()
    path = script.path if isinstance(script, Script) else script
    print(f"wrote {path}: review it, then run the tests (tests/unit/test_migrations.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
