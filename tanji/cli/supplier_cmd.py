"""`tanji node template | convert | check | preview`: a supplier's data in without a node, and its own figure.

Mounted into the `node` group (`mount`). None of these commands needs a state folder or
sends anything: they read the supplier's file and a factor set, and write only `--out`.
`node import` uses `import_node_file` so a workbook imports directly and the import ends
with the same short summary as `node preview`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer

from tanji.cli.common import fail, stderr
from tanji.errors import DataError, DataErrors, TanjiError

FactorsOpt = Annotated[Path, typer.Option("--factors", help="the factor set the data refers to (tanji.factor-set/1)")]
MethodOpt = Annotated[str | None, typer.Option(
    "--method", help="method profile whose rules apply: miit-2025 or eu-2023-1542 (default: the method of the "
                     "file's declaration, else miit-2025)")]
FileArg = Annotated[Path, typer.Argument(help="node data: tanji.node-data/1 JSON or a supplier workbook (.xlsx)")]
Lang = Literal["en", "zh", "both"]


def _write_atomically(out: Path, data: bytes, force: bool) -> None:
    """Write `out` whole or not at all; an existing file is kept unless --force (it may hold filled figures)."""
    if out.exists() and not force:
        raise TanjiError(f"{out}: exists; choose another --out or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TanjiError(f"{out}: cannot write: {exc.strerror}") from None


def _suffix(out: Path, allowed: tuple[str, ...]) -> str:
    suffix = out.suffix.lower()
    if suffix not in allowed:
        raise TanjiError(f"{out}: --out must end in {' or '.join(allowed)}")
    return suffix


def _factors(path: Path):
    from tanji.methodology.loader import load_factor_set

    return load_factor_set(path)


def _problems(problems: list[DataError]) -> NoReturn:
    """Print every problem on stdout (one per line) and exit 2."""
    for p in problems:
        typer.echo(str(p))
    n = len(problems)
    stderr.print(f"{n} problem{'s' if n != 1 else ''}: the file would be refused whole", style="red",
                 highlight=False)
    raise typer.Exit(2)


def node_template(
    org: Annotated[str, typer.Option("--org", help="your organisation id (lowercase letters, digits, . _ -)")],
    out: Annotated[Path, typer.Option("--out", help="FILE.json or FILE.xlsx to write")],
    products: Annotated[int, typer.Option("--products", min=1, max=100, help="how many product skeletons")] = 1,
    lang: Annotated[Lang, typer.Option("--lang", help="workbook headers: en, zh or both")] = "both",
    force: Annotated[bool, typer.Option("--force", help="replace an existing --out")] = False,
) -> None:
    """Write a commented node-data template: every activity kind, every electricity model with its
    evidence fields, an input with its fallback factor. Fill every <…>, then `tanji node check`."""
    from tanji.methodology.formats.base import ORG_ID_RE, RESERVED_ORG_IDS
    from tanji.supplier.template import template_doc
    from tanji.supplier.writing import workbook_bytes

    try:
        if not ORG_ID_RE.match(org) or org in RESERVED_ORG_IDS:
            raise TanjiError(f"--org {org!r} is not an organisation id (lowercase letters, digits, '.', '_', '-'; "
                             "at most 63; not 'coordinator' or 'keyholder')")
        doc = template_doc(org, products)
        if _suffix(out, (".json", ".xlsx")) == ".xlsx":
            data = workbook_bytes(doc, lang, str(out))
        else:
            data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        _write_atomically(out, data, force)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {out}: fill every <…> and remove what does not apply, then "
                 f"tanji node check {out} --factors FACTORS.json", highlight=False, soft_wrap=True)


def node_convert(
    file: Annotated[Path, typer.Argument(help="a supplier workbook (.xlsx), or node-data JSON to export")],
    out: Annotated[Path, typer.Option("--out", help="FILE.json (from a workbook) or FILE.xlsx (from JSON)")],
    factors: Annotated[Path | None, typer.Option(
        "--factors", help="also check every factor id and unit against this factor set")] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="workbook headers when writing .xlsx")] = "both",
    force: Annotated[bool, typer.Option("--force", help="replace an existing --out")] = False,
) -> None:
    """Convert a workbook to tanji.node-data/1 JSON (or JSON to a workbook). A file that breaks a
    rule is refused whole, every problem named by sheet, row and column; nothing is written."""
    from tanji.supplier.checking import check_file, is_workbook
    from tanji.supplier.writing import workbook_bytes

    try:
        target = _suffix(out, (".json", ".xlsx"))
        if is_workbook(file) == (target == ".xlsx"):
            raise TanjiError(f"{file} → {out}: convert goes from a workbook to .json, or from JSON to .xlsx")
        checked = check_file(file, _factors(factors) if factors is not None else None)
        checked.raise_problems()
        assert checked.json_bytes is not None
        if target == ".json":
            data = checked.json_bytes
        else:
            data = workbook_bytes(json.loads(checked.json_bytes), lang, str(file))
        _write_atomically(out, data, force)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {out}", highlight=False)


def _checked(file: Path, factors: Path, listing: bool = False):
    """The file checked against the factor set; with any problem, exit 2 after printing them all
    (`listing`: on stdout, one per line, as `node check` reports; else as every command's error)."""
    from tanji.supplier.checking import check_file

    try:
        checked = check_file(file, _factors(factors))
        if checked.problems and not listing:
            checked.raise_problems()
    except TanjiError as exc:
        fail(exc)
    if checked.problems:
        _problems(checked.problems)
    assert checked.loaded is not None
    return checked


def _preview(checked, factors: Path, method: str | None):
    from tanji.methodology.loader import load_factor_set
    from tanji.supplier.preview import preview

    try:
        return preview(checked.loaded.model, load_factor_set(factors), method, checked.file)
    except TanjiError as exc:
        fail(exc)


def node_check(
    file: FileArg,
    factors: FactorsOpt,
    method: MethodOpt = None,
    org_only: Annotated[bool, typer.Option(
        "--org-only", help="print only the organisation id of a valid file (no figure, no warning): how "
                           "`tanji demo` learns whose file it is without reading it")] = False,
) -> None:
    """Validate a node-data file or workbook without a node (no state folder): exit 0 when it would
    import, else 2 with every problem listed — placeholders, the format's rules, the factor set."""
    from tanji.supplier.render import short

    checked = _checked(file, factors, listing=True)
    if org_only:
        typer.echo(checked.loaded.org)
        return
    pv = _preview(checked, factors, method)
    warnings = sum(len(p.warnings) for p in pv.products)
    typer.echo(f"{file}: valid — {checked.loaded.org}, {len(pv.products)} product"
               f"{'s' if len(pv.products) != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''} "
               f"under {pv.method}")
    typer.echo(short(pv))


def node_preview(
    file: FileArg,
    factors: FactorsOpt,
    method: MethodOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="also write an HTML page to hand to a colleague")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing --html file")] = False,
) -> None:
    """Your own part per product, computed here and sent nowhere: own emissions per stage and activity
    kind, primary-data share and DQR, each warning with its record, what clears it and the figure then;
    suppliers' inputs as quantities with their fallback factors."""
    from tanji.supplier import render

    checked = _checked(file, factors)
    pv = _preview(checked, factors, method)
    if html is not None:
        try:
            _write_atomically(html, render.html(pv).encode("utf-8"), force)
        except TanjiError as exc:
            fail(exc)
        stderr.print(f"wrote {html}", highlight=False)
    typer.echo(render.as_json(pv) if as_json else render.text(pv), nl=False)


def import_node_file(store_path: Path, data: Path, factors: Path, ceilings: dict[str, float]) -> None:
    """`node import`: check (a workbook is converted in memory), store, then print the short summary."""
    from tanji.node.importer import import_files
    from tanji.node.store import NodeStore
    from tanji.supplier.render import short

    checked = _checked(data, factors)
    try:
        nd, fs, version = import_files(NodeStore(store_path), data, factors, ceilings, data_bytes=checked.json_bytes)
    except (DataError, DataErrors) as exc:
        fail(checked.translate(exc))
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"imported {nd.org}: {len(nd.model.products)} products, data version {version} "
                 f"(factor set {fs.model.id})", highlight=False, soft_wrap=True)
    typer.echo(short(_preview(checked, factors, None)))


def mount(group: typer.Typer) -> None:
    """Add the supplier commands to the `node` group."""
    group.command("template")(node_template)
    group.command("convert")(node_convert)
    group.command("check")(node_check)
    group.command("preview")(node_preview)
