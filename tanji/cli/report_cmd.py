"""`tanji report RESULT.json --out FILE.html|FILE.pdf`: the declaration or data sheet a person reads."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import fail, stderr
from tanji.errors import TanjiError


def report(
    result: Annotated[Path, typer.Argument(help="the calculation's result (tanji.result/1)")],
    out: Annotated[Path, typer.Option("--out", help="FILE.html or FILE.pdf")],
    bundle: Annotated[Path | None, typer.Option(
        "--bundle", help="the calculation's audit bundle: its verdict is stated in the document")] = None,
    trust: Annotated[Path | None, typer.Option(
        "--trust", help="the federation's pinned registry key (hex), the trust anchor (with --bundle)")] = None,
) -> None:
    """MIIT or EU Art. 7 declaration (by the result's method), or a product's PCF data sheet.

    Exit 0: written; 1: written, but the bundle or the result's signature does not verify (the document
    says so); 2: bad input, nothing written."""
    from tanji.documents.report import write_report
    from tanji.documents.report_audit import read_inputs
    from tanji.documents.report_render import check_out

    if (bundle is None) != (trust is None):
        fail(TanjiError("--bundle and --trust go together: the bundle is verified against the trust anchor"))
    try:
        check_out(out)
        inputs = None if bundle is None or trust is None else read_inputs(bundle, trust)
        view = write_report(result, out, inputs)
    except TanjiError as exc:
        fail(exc)
    assert view.verdict is not None
    stderr.print(f"wrote {out}: {view.verdict.summary}", highlight=False, soft_wrap=True)
    raise typer.Exit(1 if view.verdict.state == "failed" else 0)
