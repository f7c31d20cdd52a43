"""The last line of defence: no traceback reaches a user (issue #15 item 6).

Every command handles the errors it expects by name (`fail`). Anything that still escapes is
turned into one `error:` line here: a file that cannot be read or written, text that is not UTF-8,
a database file that is not a database — bad input, exit 2 — or anything else, exit 1 with the
exception's type. TANJI_DEBUG=1 lets the traceback through, for a developer.
"""
from __future__ import annotations

import os

import typer
from typer.core import TyperGroup

from tanji.cli.common import stderr
from tanji.errors import TanjiError

#: exceptions that are Typer's and Click's own way of ending a command (an exit code, usage errors)
PASSING = (typer.Exit, typer.Abort, typer.BadParameter)


def one_line(exc: BaseException) -> tuple[str, int]:
    """The error line an escaped exception becomes, and its exit code."""
    from sqlalchemy.exc import DatabaseError

    if isinstance(exc, TanjiError):
        return str(exc), int(getattr(exc, "exit_code", 2))
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}", 2
    if isinstance(exc, UnicodeDecodeError):
        return f"a file given is not UTF-8 text ({exc.reason} at byte {exc.start})", 2
    if isinstance(exc, DatabaseError):
        return f"a database given is not tanji's, or is damaged: {str(exc.orig).strip()}", 2
    return (f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'} "
            "(TANJI_DEBUG=1 shows where)"), 1


class SafeGroup(TyperGroup):
    """The root `tanji` group: runs the command, and turns an escaped exception into one error line."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PASSING:
            raise
        except Exception as exc:
            if os.environ.get("TANJI_DEBUG") == "1" or type(exc).__module__.startswith(("click", "typer")):
                raise
            message, code = one_line(exc)
            stderr.print(f"error: {message}", style=None, highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(code) from None
