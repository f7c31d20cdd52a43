"""HTML from the Jinja2 templates, PDF from that HTML through WeasyPrint (decision 0012).

The PDF is refused, never drawn with empty boxes: when a glyph (a Chinese label) has no font on
this machine, or WeasyPrint's system libraries (Pango) are missing, rendering fails naming the
apt packages that bring them. Output is written whole or not at all.
"""
from __future__ import annotations

import logging
import math
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2

from tanji.errors import DataError, TanjiError

SUFFIXES = (".html", ".pdf")
APT_HINT = ("install a CJK font and Pango, e.g. `apt-get install fonts-wqy-microhei "
            "libpango-1.0-0 libpangoft2-1.0-0` (or fonts-noto-cjk)")


class RendererUnavailable(TanjiError):
    """The PDF cannot be rendered faithfully on this machine (a missing font or library): exit 1."""
    exit_code = 1


def check_out(out: Path) -> None:
    """The output's format from its name: FILE.html or FILE.pdf (DataError otherwise)."""
    if out.suffix.lower() not in SUFFIXES:
        raise DataError(str(out), "--out", f"the output must end in .html or .pdf, not {out.suffix or 'nothing'!r}")


def number(x: float | int | None, sig: int = 5) -> str:
    """A figure for a reader: `sig` significant digits, thousands separated, trailing zeros dropped."""
    if x is None:
        return "—"
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("tanji.documents", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["number"] = number
    return env


def stylesheet() -> str:
    return files("tanji.documents").joinpath("templates", "style.css").read_text(encoding="utf-8")


def render_html(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(css=stylesheet(), **context)


def render_pdf(html: str) -> bytes:
    """The HTML printed by WeasyPrint, every font subset embedded; refused when a glyph has no font."""
    try:
        import weasyprint  # type: ignore[import-untyped]  # no stubs published
    except OSError as exc:  # WeasyPrint loads Pango through ctypes/cffi at import
        raise RendererUnavailable(f"cannot render PDF: WeasyPrint's system libraries are missing ({exc}); "
                                  f"{APT_HINT}") from None
    quiet = [logging.getLogger(name) for name in ("weasyprint", "fontTools")]
    levels = [q.level for q in quiet]
    for q in quiet:  # its CSS and font-subsetting notices are for developers, not for the report's reader
        q.setLevel(logging.ERROR)
    try:
        document = weasyprint.HTML(string=html).render()
        pdf = document.write_pdf()
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
    fonts = list(document.fonts.values())
    if not all(isinstance(getattr(font, "missing", None), dict) for font in fonts):
        # WeasyPrint's fonts list the characters they had no glyph for (`Font.missing`); a version that
        # does not could draw boxes unnoticed, so it is not used (decision 0012)
        raise RendererUnavailable(f"cannot check this WeasyPrint ({weasyprint.__version__}) for missing glyphs: "
                                  "install the version pyproject.toml names (make install)")
    missing = sorted({chr(c) for font in fonts for c in font.missing})
    if missing:
        raise RendererUnavailable(f"cannot render PDF: no font on this machine has the glyphs "
                                  f"{''.join(missing[:20])!r}; {APT_HINT}")
    assert isinstance(pdf, bytes)
    return pdf


def write_document(html: str, out: Path) -> None:
    """Write `html` to FILE.html, or its PDF to FILE.pdf; atomically (nothing half-written)."""
    check_out(out)
    data = render_pdf(html) if out.suffix.lower() == ".pdf" else html.encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(str(out), "--out", f"cannot write: {exc.strerror}") from None
