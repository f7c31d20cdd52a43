"""`tanji export pact` and `tanji import pact`: PACT v3.0.3 product footprints in and out of tanji.

Export states a released result (a product footprint, or a declaration without end-of-life emissions)
as a PACT `ProductFootprint`; import turns a supplier's footprint received from outside the federation
into a supplier-specific factor of a factor set (decision 0013).
"""
from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from tanji.cli.common import fail, stderr
from tanji.errors import DataError, TanjiError

export_app = typer.Typer(no_args_is_help=True, help="write a result in an exchange format")
import_app = typer.Typer(no_args_is_help=True, help="read a footprint from an exchange format")



def _write_atomically(out: Path, text: str) -> None:
    """Nothing half-written: a temporary file beside `out`, renamed over it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(str(out), "--out", f"cannot write: {exc.strerror}") from None


def _period(text: str | None) -> tuple[date, date] | None:
    if text is None:
        return None
    start, sep, end = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        return date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise DataError("--reference-period", "(option)", f"{text!r} is not FROM:TO in ISO dates "
                                                          "(e.g. 2025-01-01:2025-12-31)") from None


@export_app.command("pact")
def export_pact(
    result_file: Annotated[Path, typer.Argument(metavar="RESULT.json", help="a tanji.result/1 document")],
    out: Annotated[Path, typer.Option("--out", help="the PACT ProductFootprint JSON to write")],
    company_id: Annotated[list[str] | None, typer.Option(
        "--company-id", help="URN of the data owner (repeat for several; default urn:tanji:organisation:ORG)")] = None,
    company_name: Annotated[str | None, typer.Option("--company-name", help="default: the organisation id")] = None,
    product_id: Annotated[list[str] | None, typer.Option(
        "--product-id", help="URN of the product, e.g. urn:gtin:… (repeat; default urn:tanji:product:ORG:PRODUCT)")]
    = None,
    product_name: Annotated[str | None, typer.Option("--product-name", help="the product's trade name")] = None,
    description: Annotated[str | None, typer.Option("--description", help="the product's description")] = None,
    reference_period: Annotated[str | None, typer.Option(
        "--reference-period", help="FROM:TO (ISO dates, inclusive); a declaration's own by default")] = None,
    geography: Annotated[str | None, typer.Option(
        "--geography", help="ISO 3166-1 country or ISO 3166-2 subdivision; a declaration's plant country by default")]
    = None,
    mass_kg: Annotated[float | None, typer.Option(
        "--mass-kg", help="kg per declared unit where the unit is not a mass (piece, L, m3)")] = None,
    fossil_carbon_content: Annotated[float | None, typer.Option(
        "--fossil-carbon-content", help="kg of fossil carbon in one declared unit (PACT requires it)")] = None,
    ipcc: Annotated[list[str] | None, typer.Option(
        "--ipcc", help="IPCC report of the factor set's GWPs, e.g. AR6 (PACT requires it)")] = None,
    standard: Annotated[list[str] | None, typer.Option(
        "--standard", help="cross-sectoral standard applied (default by method: ISO14067 for miit-2025, "
                           "PEF for eu-2023-1542)")] = None,
) -> None:
    """Write RESULT.json as a PACT Technical Specification v3.0.3 ProductFootprint (cradle to gate)."""
    from tanji.documents import pact
    from tanji.methodology.formats.result import load_result

    try:
        try:
            data = result_file.read_bytes()
        except OSError as exc:
            raise DataError(str(result_file), "(file)", f"cannot read: {exc.strerror}") from None
        result = load_result(data, str(result_file))
        opts = pact.ExportOptions(
            company_ids=company_id or [], company_name=company_name, product_ids=product_id or [],
            product_name=product_name, description=description, reference_period=_period(reference_period),
            geography=geography, mass_kg=mass_kg, fossil_carbon_content=fossil_carbon_content, ipcc=ipcc or [],
            standards=standard or [])
        doc = pact.to_product_footprint(result, opts, str(result_file))
        _write_atomically(out, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {out}: PACT {pact.SPEC_VERSION} ProductFootprint {doc['id']}, "
                 f"{doc['pcf']['pcfExcludingBiogenicUptake']} kgCO2e per {doc['pcf']['declaredUnitAmount']} "
                 f"{doc['pcf']['declaredUnitOfMeasurement']}", highlight=False)


def _read_json(path: Path) -> Any:
    from tanji.methodology.jsonio import parse_json_bytes

    try:
        return parse_json_bytes(path.read_bytes(), str(path))
    except OSError as exc:
        raise DataError(str(path), "(file)", f"cannot read: {exc.strerror}") from None


def imported_factors(files: list[Path], factor_id: str | None) -> list[dict[str, Any]]:
    """Every footprint of every file as a factor entry; ids unique among them."""
    from tanji.documents import pact

    entries: list[dict[str, Any]] = []
    for path in files:
        for where, pf in pact.footprints_of(_read_json(path), str(path)):
            label = str(path) if where == "(document)" else f"{path} {where}"
            entries.append(pact.to_factor(pf, label, factor_id))
    if factor_id is not None and len(entries) != 1:
        raise DataError("--id", "(option)", f"names one factor, but {len(entries)} footprints were given")
    seen: set[str] = set()
    for e in entries:
        if e["id"] in seen:
            raise DataError(str(files[0]), "id", f"footprint {e['id']!r} is given twice")
        seen.add(e["id"])
    return entries


def merged_factor_set(factors_file: Path, entries: list[dict[str, Any]]) -> str:
    """The factor set with the imported factors appended: an id already present is refused by name unless
    it is the same entry (importing a footprint twice changes nothing). Validated whole before writing."""
    from tanji.methodology.loader import parse_factor_set

    doc = _read_json(factors_file)
    parse_factor_set(factors_file.read_bytes(), str(factors_file))  # a broken set is refused as it stands
    existing = {f["id"]: (i, f) for i, f in enumerate(doc["factors"])}
    for e in entries:
        if e["id"] in existing:
            i, f = existing[e["id"]]
            if f != e:
                raise DataError(str(factors_file), f"factors[{i}].id",
                                f"{e['id']!r} is already a factor with other content: import it under --id")
            continue
        doc["factors"].append(e)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    parse_factor_set(text.encode(), str(factors_file))
    return text


@import_app.command("pact")
def import_pact(
    files: Annotated[list[Path], typer.Argument(metavar="FILE.json...", help="PACT ProductFootprint(s): one object, "
                                                                              "a list, or an API response's data")],
    factors: Annotated[Path, typer.Option("--factors", help="the tanji.factor-set/1 to add the factors to")],
    out: Annotated[Path | None, typer.Option("--out", help="write the new factor set here (default: in place)")]
    = None,
    factor_id: Annotated[str | None, typer.Option(
        "--id", help="the factor id (one footprint only; default pact.<footprint id>)")] = None,
) -> None:
    """Add each supplier's PACT footprint to a factor set as a supplier-specific factor: per unit, its
    primary-data share and DQR carried. A record then uses it like any factor, e.g.
    {"kind": "material", "factor": "pact.<id>", "amount": 2.0, "unit": "kg"}."""
    try:
        entries = imported_factors(files, factor_id)
        text = merged_factor_set(factors, entries)
        target = out or factors
        _write_atomically(target, text)
    except TanjiError as exc:
        fail(exc)
    for e in entries:
        share = e.get("primary_data_share")
        stderr.print(f"{target}: factor {e['id']} = {e['value']:.6g} {e['unit']}"
                     f"{'' if share is None else f', primary-data share {share:.4g}'}, dqr {e.get('dqr', 'default')}",
                     highlight=False)
