"""`tanji report`: what a person reads from a `tanji.result/1` — the MIIT declaration (Chinese and
English labels), the EU Art. 7 declaration, or a product's PCF data sheet.

Every figure comes from the result document itself (the exact value travels beside its rounded
text as `data-value`, so a test or a reader can check one against the other); the verdict on its
signature comes from the audit bundle (tanji.documents.report_audit), never assumed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tanji.documents import charts
from tanji.documents.report_audit import Verdict, unchecked, verdict_for
from tanji.documents.report_render import check_out, number, render_html, write_document
from tanji.errors import DataError
from tanji.methodology import profiles
from tanji.methodology.formats.result import Result, load_result
from tanji.methodology.jsonio import parse_json_bytes

STAGES = ("raw_material", "manufacturing", "distribution", "end_of_life")
#: label key → (Chinese, English); a MIIT declaration shows both, the others the English
LABELS: dict[str, tuple[str, str]] = {
    "raw_material": ("原材料获取阶段", "Raw-material acquisition"),
    "manufacturing": ("主要生产阶段", "Main production"),
    "distribution": ("分销阶段", "Distribution"),
    "end_of_life": ("回收处理阶段", "End of life and recycling"),
    "product": ("产品", "Product"),
    "organisation": ("企业", "Organisation"),
    "declarant": ("声明企业", "Declarant"),
    "boundary": ("系统边界", "System boundary"),
    "seal": ("声明企业（盖章）", "Declarant (signature or seal)"),
    "date": ("日期", "Date"),
    "model": ("产品型号", "Model"),
    "chemistry": ("电池化学体系", "Chemistry"),
    "plant": ("生产工厂", "Plant"),
    "country": ("国家/地区", "Country"),
    "reference_period": ("数据时间范围", "Reference period"),
    "mass_kg": ("电池包质量", "Pack mass"),
    "declared_unit": ("声明单位", "Declared unit"),
    "rated_energy_kwh": ("额定能量", "Rated energy"),
    "cycle_count": ("循环寿命次数", "Cycle life (GB/T 31484)"),
    "energy_per_cycle_fraction": ("每次循环平均放电能量比例", "Mean energy per cycle (share of rated)"),
    "cycle_test_report": ("循环寿命检测报告", "Cycle-life test report"),
    "usable_energy_kwh": ("可用能量", "Usable energy"),
    "vehicle_category": ("车辆类别", "Vehicle category"),
    "cycles_per_year": ("每年等效满充放电次数", "Full-equivalent cycles per year"),
    "warranty_years": ("质保年限", "Warranty"),
    "lifetime_energy_kwh": ("全生命周期总能量", "Lifetime energy delivered"),
    "total": ("产品碳足迹总量", "Carbon footprint, total"),
    "per_kwh": ("单位能量碳足迹", "Carbon footprint per kWh"),
    "per_unit": ("每声明单位碳足迹", "Carbon footprint per declared unit"),
    "stages": ("生命周期各阶段", "Life-cycle stages"),
    "stage": ("阶段", "Stage"),
    "share": ("占比", "Share"),
    "data_quality": ("数据质量", "Data quality"),
    "primary_share": ("初级数据占比", "Primary-data share"),
    "dqr": ("数据质量评级 (DQR)", "Data quality rating (DQR)"),
    "warnings": ("警告与替代数据", "Warnings and fallbacks"),
    "method": ("核算方法", "Method"),
    "factor_set": ("背景数据库", "Emission-factor set"),
    "calculation": ("计算编号", "Calculation id"),
    "created": ("生成时间", "Created (UTC)"),
    "precision": ("发布精度", "Release precision"),
    "verification": ("审计验证", "Audit verification"),
    "declaration": ("声明信息", "Declaration"),
    "functional_unit": ("功能单位", "Functional unit"),
    "result": ("核算结果", "Result"),
    "provenance": ("方法与数据来源", "Method and data"),
}
TITLES = {
    "miit-2025": ("动力电池产品碳足迹声明", "Battery carbon-footprint declaration (MIIT)"),
    "eu-2023-1542": ("", "Carbon footprint declaration — Regulation (EU) 2023/1542, Article 7"),
    "pcf": ("", "Product carbon footprint (PCF) data sheet — cradle to gate"),
}
BOUNDARY = {
    "lifecycle": ("原材料获取、主要生产、分销和回收处理阶段（不含使用阶段）；"
                  "以电池全生命周期提供的总能量（kWh）为功能单位",
                  "raw-material acquisition, main production, distribution, end of life and recycling "
                  "(use phase excluded); per kWh of the energy the pack delivers over its life"),
    "pcf": ("从摇篮到大门：产品出厂前的全部阶段，以声明单位计",
            "cradle to gate: every stage up to the product leaving its maker's gate, per declared unit"),
}
#: what the EU Art. 7(1) declaration needs beyond the calculation: the declarant adds it before filing
EU_NOT_HELD = ("Art. 7(1) also asks for the manufacturer's administrative information, the identification "
               "number of the EU declaration of conformity and a web link to the public version of the "
               "supporting carbon-footprint study; tanji does not hold them: add them before filing. End-of-life "
               "credits under the Circular Footprint Formula are not modelled (every factor is ≥ 0), so the "
               "end-of-life figure carries no recycling credit.")
#: PEF data-quality levels (Commission Recommendation (EU) 2021/2279, Annex I): upper bound → words
DQR_LEVELS = ((1.5, "excellent"), (2.0, "very good"), (3.0, "good"), (4.0, "fair"), (5.0, "poor"))


@dataclass
class Row:
    key: str
    value: str
    exact: Any = None          # the number as the result carries it, for data-value
    unit: str = ""
    zh: str = ""               # the value in Chinese, shown above it in a bilingual document


@dataclass
class ReportView:
    kind: str                  # miit | eu | pcf
    bilingual: bool
    title: tuple[str, str]
    result: dict[str, Any]
    declaration: list[Row] = field(default_factory=list)
    functional_unit: list[Row] = field(default_factory=list)
    lifetime_formula: str = ""
    figures: list[Row] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    charts: list[Any] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provenance: list[Row] = field(default_factory=list)
    verdict: Verdict | None = None


def kind_of(result: Result) -> str:
    """Which document a result gives: a declaration by its method, else a product footprint's data sheet."""
    if result.is_product_footprint or result.declaration is None:
        return "pcf"
    return "miit" if result.method == "miit-2025" else "eu"


def build_view(result: Result, verdict: Verdict) -> ReportView:
    doc = result.model_dump(by_alias=True)
    kind = kind_of(result)
    view = ReportView(kind=kind, bilingual=kind == "miit", title=TITLES["pcf" if kind == "pcf" else result.method],
                      result=doc, verdict=verdict)
    unit = result.declared_unit or "unit"
    d = result.declaration or {}
    view.declaration = [Row("declarant" if kind != "pcf" else "organisation", result.organisation),
                        Row("product", result.product), Row("declared_unit", f"1 {unit}"),
                        Row("boundary", BOUNDARY["pcf" if kind == "pcf" else "lifecycle"][1],
                            zh=BOUNDARY["pcf" if kind == "pcf" else "lifecycle"][0])]
    for key in ("model", "chemistry"):
        if key in d:
            view.declaration.append(Row(key, str(d[key])))
    if "plant" in d:
        view.declaration.append(Row("plant", f"{d['plant'].get('name', '')} ({d['plant'].get('country', '')})"))
    if "reference_period" in d:
        p = d["reference_period"]
        view.declaration.append(Row("reference_period", f"{p.get('from')} — {p.get('to')}"))
    if "mass_kg" in d:
        view.declaration.append(Row("mass_kg", number(d["mass_kg"]), d["mass_kg"], "kg"))
    _functional_unit(view, result, d)
    _figures(view, result, unit)
    view.quality = quality_words(result.primary_data_share, result.dqr)
    view.warnings = warning_words(result)
    view.provenance = [
        Row("method", f"{result.method}, version {result.method_version}"
            + (f" — {profiles.PROFILES[result.method].title}" if result.method in profiles.PROFILES else "")),
        Row("factor_set", f"{result.factor_set.id} (SHA-256 {result.factor_set.sha256})"),
        Row("calculation", result.calculation),
        Row("created", result.created),
        Row("precision", "unrounded plaintext reference (one process read every organisation's data)"
            if result.precision is None else
            f"figures rounded to {result.precision:g} of the total (decrypted CKKS aggregate)", result.precision),
    ]
    return view


def _functional_unit(view: ReportView, result: Result, d: dict[str, Any]) -> None:
    lifetime = result.lifetime_energy_kwh
    if view.kind == "miit":
        rows = [Row("rated_energy_kwh", number(d["rated_energy_kwh"]), d["rated_energy_kwh"], "kWh"),
                Row("cycle_count", str(d["cycle_count"]), d["cycle_count"], "cycles"),
                Row("energy_per_cycle_fraction", number(d["energy_per_cycle_fraction"]),
                    d["energy_per_cycle_fraction"])]
        if "cycle_test_report" in d:
            rows.append(Row("cycle_test_report", str(d["cycle_test_report"])))
        view.lifetime_formula = (f"{number(d['rated_energy_kwh'])} kWh × {d['cycle_count']} cycles × "
                                 f"{number(d['energy_per_cycle_fraction'])} = {number(lifetime)} kWh")
    elif view.kind == "eu":
        cycles = profiles.eu_cycles_per_year(d)
        rows = [Row("usable_energy_kwh", number(d["usable_energy_kwh"]), d["usable_energy_kwh"], "kWh"),
                Row("vehicle_category", str(d["vehicle_category"])),
                Row("cycles_per_year", number(cycles), cycles,
                    "per year" + ("" if d["vehicle_category"] != "other" else " (declared: "
                                  + str(d.get("cycles_justification", "")) + ")")),
                Row("warranty_years", number(d["warranty_years"]), d["warranty_years"], "years")]
        view.lifetime_formula = (f"{number(d['usable_energy_kwh'])} kWh × {number(cycles)} cycles a year × "
                                 f"{number(d['warranty_years'])} years = {number(lifetime)} kWh")
    else:
        return
    rows.append(Row("lifetime_energy_kwh", number(lifetime), lifetime, "kWh"))
    view.functional_unit = rows


def _figures(view: ReportView, result: Result, unit: str) -> None:
    total = result.total_kgco2e
    per_kwh = result.per_kwh_kgco2e if view.kind != "pcf" else None
    view.figures = [Row("total" if view.kind != "pcf" else "per_unit", number(total), total,
                        "kgCO2e" if view.kind != "pcf" else f"kgCO2e per {unit}")]
    if per_kwh is not None:
        view.figures.append(Row("per_kwh", number(per_kwh), per_kwh, "kgCO2e/kWh"))
    per_stage_kwh = (result.stages_per_kwh_kgco2e or {}) if per_kwh is not None else {}
    for stage in STAGES:
        value = result.stages_kgco2e.get(stage, 0.0)
        view.stages.append({"key": stage, "kg": value, "kg_text": number(value),
                            "per_kwh": per_stage_kwh.get(stage), "per_kwh_text": number(per_stage_kwh[stage])
                            if stage in per_stage_kwh else "",
                            "share_text": f"{100 * value / total:.1f} %" if total > 0 else "—"})
    label = (lambda k: " ".join(LABELS[k])) if view.bilingual else (lambda k: LABELS[k][1])
    view.charts.append(charts.stage_bars(label("stages") + " — kgCO2e" + ("" if view.kind != "pcf" else f" per {unit}"),
                                         [charts.Bar(label(s), result.stages_kgco2e.get(s, 0.0)) for s in STAGES],
                                         number, "kgCO2e"))
    if per_stage_kwh:
        view.charts.append(charts.stage_bars(label("per_kwh") + " — kgCO2e/kWh",
                                             [charts.Bar(label(s), per_stage_kwh.get(s, 0.0)) for s in STAGES],
                                             number, "kgCO2e/kWh"))


def dqr_level(dqr: float) -> str:
    return next((words for bound, words in DQR_LEVELS if dqr <= bound), "poor")


def quality_words(share: float | None, dqr: float | None) -> list[str]:
    """Primary-data share and DQR said in words (FORMATS §3: emission-weighted over the whole chain)."""
    if share is None or dqr is None:
        return ["The footprint is zero: no primary-data share or data quality rating can be given."]
    return [
        f"{100 * share:.1f} % of the footprint rests on primary data — amounts measured at the plants of the "
        f"supply chain — and {100 * (1 - share):.1f} % on secondary data: purchased materials valued with "
        f"background factors, and suppliers answered for by their buyers' fallback factors.",
        f"The emission-weighted data quality rating is {dqr:.2f} on a scale from 1 (best) to 5 (worst): "
        f"{dqr_level(dqr)} quality in the levels of the EU Product Environmental Footprint method "
        f"(≤ 1.5 excellent, ≤ 2 very good, ≤ 3 good, ≤ 4 fair, above 4 poor). Each activity's rating is "
        f"weighted by its emissions; measured data rates 1.5 unless its owner states otherwise, background "
        f"data the rating of its factor.",
    ]


def warning_words(result: Result) -> list[str]:
    """Warnings and fallbacks explained: what each means for the figures, and what the result may not name."""
    out = []
    n, own = result.warnings_count, len(result.warnings)
    if n == 0:
        out.append("No warnings: every electricity record was computed as declared and every supplier answered.")
    else:
        verb = "is" if own == 1 else "are"
        mine = (f"{own} of them {verb} the declarant's own (listed below); the others" if own else
                "None is the declarant's own: they")
        out.append(f"{n} warning(s) in the whole supply chain. A warning marks a record computed by a fallback "
                   "rule — electricity without evidence or above its certified amount computed with the grid "
                   "average, a record the method does not accept computed with the national average, or a "
                   "supplier answered for by its buyer's fallback factor. The figures include these fallbacks. "
                   f"{mine} stay with the suppliers that raised them (only their number travels in the "
                   "calculation).")
    for fb in result.fallbacks:
        tier = f", tier {fb.tier}" if fb.tier is not None else ""
        out.append(f"Fallback: {fb.supplier}/{fb.product} did not answer; its buyer {fb.buyer} used its "
                   f"fallback factor instead (secondary data{tier}).")
    return out


def write_report(result_path: Path, out: Path, bundle: tuple[bytes, bytes] | None = None) -> ReportView:
    """Render the document for the result at `result_path` to `out` (.html or .pdf); with `bundle`
    (its bytes and the trust anchor) the audit verdict is stated, else the result is stated unverified."""
    check_out(out)
    try:
        data = result_path.read_bytes()
    except OSError as exc:
        raise DataError(str(result_path), "(document)", f"cannot read: {exc.strerror}") from None
    result = load_result(data, str(result_path))
    verdict = (unchecked(result.calculation) if bundle is None else
               verdict_for(parse_json_bytes(data, str(result_path)), *bundle))
    view = build_view(result, verdict)
    write_document(render_html("report.html", view=view, labels=LABELS, eu_not_held=EU_NOT_HELD), out)
    return view
