"""PACT exchange (Technical Specification v3.0.3): a tanji result as a `ProductFootprint`, and a
supplier's `ProductFootprint` received from outside the federation as a supplier-specific factor.

What tanji knows is stated; what it does not model (biogenic uptake, fossil/biogenic split, the
product's carbon content, the three DQR dimensions) is either supplied by the exporter, stated as
the limit it is, or refused naming the PACT field (decision 0013: the mapping and its limits).
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from tanji.errors import DataError, TanjiError
from tanji.methodology import profiles
from tanji.methodology.formats.base import ITEM_ID_RE, errors_from_validation
from tanji.methodology.formats.factorset import Factor
from tanji.methodology.formats.result import Result

SPEC_VERSION = "3.0.3"
#: ids of exported footprints: uuid5 of the calculation and product under this namespace (re-exporting
#: one result gives the same id; another calculation another id, as PACT wants for any change)
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:tanji:pact")

#: tanji unit -> (PACT declaredUnitOfMeasurement, declaredUnitAmount, kg of product per declared unit
#: or None where the mass is a property of the product, "0" where PACT wants 0: energy, freight)
EXPORT_UNITS: dict[str, tuple[str, str, str | None]] = {
    "kg": ("kilogram", "1", "1"), "g": ("kilogram", "0.001", "0.001"), "t": ("kilogram", "1000", "1000"),
    "kWh": ("kilowatt hour", "1", "0"), "MWh": ("kilowatt hour", "1000", "0"),
    "MJ": ("megajoule", "1", "0"), "GJ": ("megajoule", "1000", "0"),
    "L": ("liter", "1", None), "m3": ("cubic meter", "1", None),
    "tkm": ("ton kilometer", "1", "0"), "piece": ("piece", "1", None),
}
#: PACT declaredUnitOfMeasurement -> tanji unit a factor can be per (square meter, hour, megabit second: none)
IMPORT_UNITS: dict[str, str] = {"kilogram": "kg", "liter": "L", "cubic meter": "m3", "kilowatt hour": "kWh",
                                "megajoule": "MJ", "ton kilometer": "tkm", "piece": "piece"}
#: the cross-sectoral standard each method's rules follow (GB/T 24067 is ISO 14067's national adoption;
#: the EU carbon-footprint rules for EV batteries build on the PEF method); --standard overrides
METHOD_STANDARDS: dict[str, list[str]] = {"miit-2025": ["ISO14067"], "eu-2023-1542": ["PEF"]}
METHOD_OPERATORS: dict[str, str] = {"miit-2025": "MIIT (China)", "eu-2023-1542": "European Commission"}


class NotExpressible(TanjiError):
    """The result cannot be stated as a PACT ProductFootprint: names the PACT field."""

    def __init__(self, file: str, pact_field: str, message: str):
        self.pact_field = pact_field
        super().__init__(f"{file}: {pact_field}: {message}")


@dataclass
class ExportOptions:
    """What the exporter states that a tanji result does not carry."""
    company_ids: list[str] = field(default_factory=list)
    company_name: str | None = None
    product_ids: list[str] = field(default_factory=list)
    product_name: str | None = None
    description: str | None = None
    #: inclusive dates; a declaration's own reference period is used when not given
    reference_period: tuple[date, date] | None = None
    #: ISO 3166-1 alpha-2 country or ISO 3166-2 subdivision; a declaration's plant country by default
    geography: str | None = None
    #: kg of product per declared unit, where the unit is not a mass (piece, L, m3)
    mass_kg: float | None = None
    #: kg of fossil carbon in one declared unit of the product (PACT requires it; tanji does not model it)
    fossil_carbon_content: float | None = None
    #: IPCC assessment reports whose GWPs the factor set used, e.g. ["AR6"]
    ipcc: list[str] = field(default_factory=list)
    standards: list[str] = field(default_factory=list)


def decimal_text(x: float) -> str:
    """A PACT decimal string (`^[+-]?\\d+(\\.\\d+)?$`): the float's shortest repr, never an exponent."""
    if not math.isfinite(x):
        raise ValueError(f"{x!r} is not a finite number")
    text = format(Decimal(repr(float(x))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _urn(value: str, file: str, pact_field: str) -> str:
    if not value.lower().startswith("urn:") or len(value) < 5:
        raise NotExpressible(file, pact_field, f"{value!r} is not a URN (urn:…)")
    return value


def _geography(code: str, file: str) -> dict[str, str]:
    import pycountry

    country, _, sub = code.partition("-")
    if pycountry.countries.get(alpha_2=country) is None:
        raise NotExpressible(file, "pcf.geographyCountry", f"{code!r} is not an ISO 3166-1 alpha-2 country")
    if not sub:
        return {"geographyCountry": country}
    if pycountry.subdivisions.get(code=code) is None:
        raise NotExpressible(file, "pcf.geographyCountrySubdivision", f"{code!r} is not an ISO 3166-2 subdivision")
    return {"geographyCountrySubdivision": code}


def _period(result: Result, opts: ExportOptions, file: str) -> tuple[date, date]:
    if opts.reference_period is not None:
        start, end = opts.reference_period
    elif result.declaration is not None and isinstance(result.declaration.get("reference_period"), dict):
        rp = result.declaration["reference_period"]
        start, end = date.fromisoformat(rp["from"]), date.fromisoformat(rp["to"])
    else:
        raise NotExpressible(file, "pcf.referencePeriodStart", "a product footprint carries no reference period: "
                                                               "state it with --reference-period FROM:TO")
    if end < start:
        raise NotExpressible(file, "pcf.referencePeriodEnd", f"the period ends ({end}) before it starts ({start})")
    return start, end


def _instant(d: date) -> str:
    return datetime(d.year, d.month, d.day).strftime("%Y-%m-%dT%H:%M:%SZ")


def _comment(result: Result, file: str) -> str:
    """How the figures were computed and what they do not state (PACT `comment`)."""
    how = ("plaintext reference run (not private, not verified)" if result.calculation.startswith("reference-")
           else f"privacy-preserving federated calculation {result.calculation}, key holder's signed result")
    lines = [
        f"Computed by tanji: {how}; method {result.method} v{result.method_version}; factor set "
        f"{result.factor_set.id} (sha256 {result.factor_set.sha256}); figures to a relative precision of "
        f"{result.precision if result.precision is not None else 'exact (unrounded)'}.",
        "Stages (kgCO2e per declared unit): " + ", ".join(f"{k} {decimal_text(v)}"
                                                          for k, v in result.stages_kgco2e.items()) + ".",
        f"Data quality: tanji's emission-weighted DQR is {decimal_text(result.dqr or 0)} on a 1 (best) to 5 scale, "
        "one overall rating per record, not split into technological, geographical and temporal "
        "representativeness; dqi is therefore not stated.",
        "tanji's factors give CO2e without splitting fossil from biogenic origin: every emission is reported "
        "as fossilGhgEmissions; biogenic CO2 uptake is not modelled (pcfIncludingBiogenicUptake equals "
        "pcfExcludingBiogenicUptake); packaging is not reported separately.",
        f"Warnings in the chain: {result.warnings_count}; suppliers answered by a fallback factor: "
        f"{len(result.fallbacks)}" + (" (" + ", ".join(f"{f.supplier}/{f.product}" for f in result.fallbacks) + ")"
                                      if result.fallbacks else "") + ".",
    ]
    return "\n".join(lines)


def to_product_footprint(result: Result, opts: ExportOptions, file: str = "result") -> dict[str, Any]:
    """The PACT v3.0.3 ProductFootprint of a tanji result; NotExpressible names the PACT field that cannot be
    stated honestly from it and the options."""
    org, _, product = result.product.partition("/")
    unit = result.declared_unit
    if unit is None or unit not in EXPORT_UNITS:
        raise NotExpressible(file, "pcf.declaredUnitOfMeasurement",
                             f"declared unit {unit!r} has no PACT unit of measurement")
    pact_unit, amount, mass = EXPORT_UNITS[unit]
    if mass is None:
        stated = opts.mass_kg if opts.mass_kg is not None else (result.declaration or {}).get("mass_kg")
        if stated is None or not (isinstance(stated, int | float) and math.isfinite(stated) and stated >= 0):
            raise NotExpressible(file, "pcf.productMassPerDeclaredUnit",
                                 f"the mass of one {unit} of the product is not known: state it with --mass-kg")
        mass = decimal_text(float(stated))
    eol = result.stages_kgco2e.get("end_of_life", 0.0)
    if eol > 0:
        raise NotExpressible(file, "pcf.pcfExcludingBiogenicUptake",
                             f"the result includes {decimal_text(eol)} kgCO2e of end-of-life emissions, beyond "
                             "PACT's cradle-to-gate boundary (export a product footprint of a product instead)")
    if result.primary_data_share is None or result.total_kgco2e <= 0:
        raise NotExpressible(file, "pcf.primaryDataShare", "the total is 0: no primary-data share can be stated")
    if opts.fossil_carbon_content is None:
        raise NotExpressible(file, "pcf.fossilCarbonContent",
                             "tanji does not model the product's carbon content: state the kg of fossil carbon "
                             "in one declared unit with --fossil-carbon-content (0 for a carbon-free material)")
    if not (math.isfinite(opts.fossil_carbon_content) and opts.fossil_carbon_content >= 0):
        raise NotExpressible(file, "pcf.fossilCarbonContent", "must be a finite number ≥ 0")
    if not opts.ipcc:
        raise NotExpressible(file, "pcf.ipccCharacterizationFactors",
                             "state the IPCC assessment report(s) whose GWPs the factor set uses, e.g. --ipcc AR6")
    for ar in opts.ipcc:
        if not (ar.startswith("AR") and ar[2:].isdigit()):
            raise NotExpressible(file, "pcf.ipccCharacterizationFactors", f"{ar!r} is not of the form AR<number>")
    start, end = _period(result, opts, file)
    plant = (result.declaration or {}).get("plant") or {}
    geography = opts.geography or plant.get("country")
    if not geography:
        raise NotExpressible(file, "pcf.geographyCountry",
                             "a product footprint carries no plant country: state it with --geography CC")
    profile = profiles.get(result.method)
    total = decimal_text(result.total_kgco2e)
    distribution = result.stages_kgco2e.get("distribution", 0.0)
    boundary = (f"Cradle to gate of {result.product}: raw-material acquisition and pre-processing (purchased "
                "materials valued by their suppliers' own answers or background factors, inbound transport) and "
                "manufacturing, over every supplier the chain reaches")
    if distribution > 0:
        boundary += f"; includes {decimal_text(distribution)} kgCO2e of distribution-stage transport legs"
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": pact_unit, "declaredUnitAmount": amount, "productMassPerDeclaredUnit": mass,
        "referencePeriodStart": _instant(start), "referencePeriodEnd": _instant(end + timedelta(days=1)),
        **_geography(geography, file),
        "boundaryProcessesDescription": boundary + ".",
        "pcfExcludingBiogenicUptake": total, "pcfIncludingBiogenicUptake": total,
        "fossilGhgEmissions": total,
        "fossilCarbonContent": decimal_text(opts.fossil_carbon_content),
        "ipccCharacterizationFactors": sorted(set(opts.ipcc)),
        "crossSectoralStandards": list(dict.fromkeys(opts.standards or METHOD_STANDARDS.get(result.method, []))),
        "productOrSectorSpecificRules": [{"operator": "Other", "ruleNames": [profile.title],
                                          "otherOperatorName": METHOD_OPERATORS.get(result.method, result.method)}],
        "exemptedEmissionsPercent": "0",
        "exemptedEmissionsDescription": "",
        "primaryDataShare": decimal_text(100 * result.primary_data_share),
    }
    if not pcf["crossSectoralStandards"]:
        raise NotExpressible(file, "pcf.crossSectoralStandards", "state the standard(s) applied with --standard")
    if result.primary_data_share < 1:
        pcf["secondaryEmissionFactorSources"] = [{"name": result.factor_set.id,
                                                  "version": f"sha256:{result.factor_set.sha256[:16]}"}]
    declaration = result.declaration or {}
    return {
        "id": str(uuid.uuid5(ID_NAMESPACE, f"{result.calculation}/{result.product}")),
        "specVersion": SPEC_VERSION,
        "created": result.created,
        "status": "Active",
        "companyName": opts.company_name or org,
        "companyIds": [_urn(c, file, "companyIds") for c in dict.fromkeys(opts.company_ids)]
        or [f"urn:tanji:organisation:{org}"],
        "productDescription": opts.description or ", ".join(
            str(x) for x in (declaration.get("model"), declaration.get("chemistry"),
                             f"{product} of {org}, footprint per {unit}") if x),
        "productIds": [_urn(p, file, "productIds") for p in dict.fromkeys(opts.product_ids)]
        or [f"urn:tanji:product:{org}:{product}"],
        "productNameCompany": opts.product_name or declaration.get("model") or product,
        "comment": _comment(result, file),
        "pcf": pcf,
    }


# ---------------------------------------------------------------------------- import
def _need(doc: dict[str, Any], path: str, file: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise DataError(file, path, "required by PACT v3 and missing")
        node = node[part]
    return node


def _decimal(doc: dict[str, Any], path: str, file: str) -> float:
    raw = _need(doc, path, file)
    try:
        value = float(Decimal(raw)) if isinstance(raw, str) else None
    except ArithmeticError:
        value = None
    if value is None or not math.isfinite(value):
        raise DataError(file, path, f"{raw!r} is not a PACT decimal string")
    return value


def footprints_of(doc: Any, file: str) -> list[tuple[str, dict[str, Any]]]:
    """(JSON path, ProductFootprint) of a file: one footprint, a list of them, or an API response's `data`."""
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        return [(f"data[{i}]", d) for i, d in enumerate(doc["data"])]
    if isinstance(doc, list):
        return [(f"[{i}]", d) for i, d in enumerate(doc)]
    return [("(document)", doc)]


def to_factor(pf: Any, file: str, factor_id: str | None = None) -> dict[str, Any]:
    """A supplier's PACT ProductFootprint as a supplier-specific `tanji.factor-set/1` factor entry: kgCO2e
    (excluding biogenic uptake) per tanji unit, its primary-data share carried, its DQR the mean of the
    three PACT DQRs (absent: the format's default), the footprint's ids kept under `x-pact`."""
    if not isinstance(pf, dict):
        raise DataError(file, "(document)", "a PACT ProductFootprint is a JSON object")
    pf_id = str(_need(pf, "id", file))
    if _need(pf, "status", file) != "Active":
        raise DataError(file, "status", f"{pf['status']!r}: only an Active footprint may be used")
    unit_name = _need(pf, "pcf.declaredUnitOfMeasurement", file)
    if unit_name not in IMPORT_UNITS:
        raise DataError(file, "pcf.declaredUnitOfMeasurement",
                        f"{unit_name!r} has no tanji unit (known: {', '.join(IMPORT_UNITS)})")
    amount = _decimal(pf, "pcf.declaredUnitAmount", file)
    if amount <= 0:
        raise DataError(file, "pcf.declaredUnitAmount", "must be > 0")
    pcf_value = _decimal(pf, "pcf.pcfExcludingBiogenicUptake", file)
    if pcf_value < 0:
        raise DataError(file, "pcf.pcfExcludingBiogenicUptake",
                        f"{pcf_value!r} is negative: a tanji factor is an emission (≥ 0), credits are not factors")
    share = _decimal(pf, "pcf.primaryDataShare", file) / 100 if "primaryDataShare" in pf["pcf"] else None
    if share is not None and not 0 <= share <= 1:
        raise DataError(file, "pcf.primaryDataShare", "must be a percentage between 0 and 100")
    dqr = None
    if "dqi" in pf["pcf"]:
        parts = [_decimal(pf, f"pcf.dqi.{k}", file) for k in ("technologicalDQR", "geographicalDQR", "temporalDQR")]
        for k, v in zip(("technologicalDQR", "geographicalDQR", "temporalDQR"), parts, strict=True):
            if not 1 <= v <= 5:
                raise DataError(file, f"pcf.dqi.{k}", f"{v!r} is outside 1 to 5")
        dqr = sum(parts) / 3
    end = str(_need(pf, "pcf.referencePeriodEnd", file))
    try:  # PACT's end is exclusive: the last instant of data is just before it
        year = (datetime.fromisoformat(end.replace("Z", "+00:00")) - timedelta(seconds=1)).year
    except ValueError:
        raise DataError(file, "pcf.referencePeriodEnd", f"{end!r} is not an ISO 8601 date-time") from None
    pcf = pf["pcf"]
    geography = (pcf.get("geographyCountrySubdivision") or pcf.get("geographyCountry")
                 or pcf.get("geographyRegionOrSubregion"))
    company = str(pf.get("companyName") or (pf.get("companyIds") or ["?"])[0])
    fid = factor_id or f"pact.{pf_id}"
    if not ITEM_ID_RE.match(fid):
        raise DataError(file, "id", f"{fid!r} is not a tanji factor id: name it with --id")
    doc: dict[str, Any] = {
        "id": fid, "value": pcf_value / amount, "unit": f"kgCO2e/{IMPORT_UNITS[unit_name]}",
        "year": year, "geography": geography,
        "source": (f"PACT ProductFootprint {pf_id} by {company} ({pf.get('productNameCompany', '?')}), spec "
                   f"{pf.get('specVersion', '?')}: {pcf['pcfExcludingBiogenicUptake']} kgCO2e per "
                   f"{pcf['declaredUnitAmount']} {unit_name}, excluding biogenic uptake"),
        "supplier_specific": True, "primary_data_share": share,
        "x-pact": {"id": pf_id, "companyIds": pf.get("companyIds"), "productIds": pf.get("productIds"),
                   "dqi": pcf.get("dqi"), "validityPeriodEnd": pf.get("validityPeriodEnd")},
    }
    if dqr is not None:
        doc["dqr"] = dqr
    entry = {k: v for k, v in doc.items() if v is not None}
    try:
        Factor.model_validate(entry)
    except ValidationError as exc:
        raise errors_from_validation(exc, file).errors[0] from None
    return entry
