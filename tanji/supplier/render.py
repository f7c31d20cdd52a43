"""A preview as text (the terminal, and the short summary `node import` prints) or as an HTML page."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import PurePath

from jinja2 import Environment, PackageLoader, select_autoescape

from tanji.supplier.preview import Preview, ProductPreview, WarningLine


def kg(x: float | None) -> str:
    """An emission figure, readable at every magnitude a product footprint has (kgCO2e)."""
    if x is None:
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.1f}"
    if abs(x) >= 1:
        return f"{x:.3f}"
    return f"{x:.4f}"


def share(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def dqr(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def delta(line: WarningLine, product: ProductPreview) -> str:
    if line.own_if_supplied is None:
        return ""
    moved = line.own_if_supplied - product.own_kgco2e
    sign = "−" if moved < 0 else "+"
    return f"{kg(line.own_if_supplied)} kgCO2e ({sign}{kg(abs(moved))})"


def reason(line: WarningLine, preview: Preview, product: ProductPreview) -> str:
    """The warning without its 'org/product record:' prefix (the record is shown beside it)."""
    prefix = f"{preview.organisation}/{product.id} {line.record}: "
    return line.message.removeprefix(prefix)


def _parts(values: dict[str, float]) -> str:
    return " · ".join(f"{name} {kg(v)}" for name, v in values.items()) or "none"


def short(preview: Preview) -> str:
    """A few lines per product: own figure, data quality, each warning and what clears it."""
    lines = []
    for p in preview.products:
        n = len(p.warnings)
        lines.append(f"  {p.id}: own {kg(p.own_kgco2e)} kgCO2e per {p.unit} ({preview.method}), primary data "
                     f"{share(p.primary_data_share)}, DQR {dqr(p.dqr)}, {n} warning{'s' if n != 1 else ''}")
        for w in p.warnings:
            moved = delta(w, p)
            lines.append(f"    ! {w.record}: {reason(w, preview, p)}")
            if w.supply:
                lines.append(f"      supply {w.supply}" + (f" → own {moved}" if moved else ""))
            elif w.note:
                lines.append(f"      {w.note}")
        for i in p.inputs:
            if i.hint and i.supplier != preview.organisation:
                lines.append(f"    ? {i.record} {i.supplier}/{i.product}: {i.hint}")
    return "\n".join(lines)


def text(preview: Preview) -> str:
    """The full preview for a terminal."""
    out = [f"{preview.organisation} ({preview.country}): own part per product, method {preview.method} "
           f"v{preview.method_version}, factor set {preview.factor_set}",
           f"computed on this machine from {preview.file}; nothing was sent", ""]
    for p in preview.products:
        out.append(f"{p.id}" + (f" — {p.name}" if p.name else "") + f" (per 1 {p.unit})")
        out.append(f"  own emissions     {kg(p.own_kgco2e)} kgCO2e   primary data {share(p.primary_data_share)}   "
                   f"DQR {dqr(p.dqr)}")
        out.append(f"  by stage          {_parts({k: v for k, v in p.stages_kgco2e.items() if v})}")
        out.append(f"  by activity kind  {_parts(p.kinds_kgco2e)}")
        out.append(f"  warnings ({len(p.warnings)})")
        for w in p.warnings:
            out.append(f"    {w.record}: {reason(w, preview, p)}")
            if w.supply:
                out.append(f"      supply: {w.supply}")
            if w.own_if_supplied is not None:
                out.append(f"      own emissions once supplied: {delta(w, p)}")
            if w.note:
                out.append(f"      {w.note}")
        if p.inputs:
            out.append("  inputs from suppliers (their footprints stay theirs; the fallback counts only if one is "
                       "declared dead)")
        for i in p.inputs:
            fb = (f"fallback {i.fallback_factor} → {kg(i.fallback_kgco2e)} kgCO2e ({i.fallback_stage})"
                  if i.fallback_factor else i.hint or "")
            out.append(f"    {i.record} {i.supplier}/{i.product}: {i.quantity:g} {i.unit}; {fb}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def as_json(preview: Preview) -> str:
    return json.dumps(preview.to_dict(), indent=2, ensure_ascii=False) + "\n"


def html(preview: Preview) -> str:
    """A self-contained page (no external resources) an engineer can hand to a colleague."""
    env = Environment(loader=PackageLoader("tanji.supplier", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(kg=kg, share=share, dqr=dqr)
    page = env.get_template("preview.html")
    return page.render(preview=preview, delta=delta, reason=reason, file_name=PurePath(preview.file).name,
                       created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
