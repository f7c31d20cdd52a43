"""The supplier workbook's layout: four sheets, their columns (English and Chinese headers) and value kinds.

One table drives the template writer, the exporter and the reader, so a column the
template offers is always one the reader accepts. Each sheet has a header in row 1
and one record per row below it; `product` in the activities and inputs sheets names
the row's product (its `id` in the products sheet), and row order is record order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tanji.methodology import profiles, units
from tanji.methodology.slots import STAGES

Kind = Literal["text", "number", "date"]

STAGE_CHOICES: tuple[str, ...] = tuple(STAGES)
DATA_SOURCES: tuple[str, ...] = ("primary", "secondary")
ACTIVITY_KINDS: tuple[str, ...] = ("electricity", "fuel", "material", "transport", "direct")


@dataclass(frozen=True)
class Column:
    #: English header; also the JSON field, except the owner link (`product` in activities and inputs)
    name: str
    zh: str
    kind: Kind
    help: str
    #: JSON field path inside the record ("declaration.plant.name"); None for the owner link
    field: str | None
    choices: tuple[str, ...] = ()
    #: a sheet must keep this column (blank where unused): a deleted evidence column would silently
    #: turn every certificate into a fallback
    required: bool = True


def _col(name: str, zh: str, kind: Kind, help: str, choices: tuple[str, ...] = (), *,
         field: str | None | Literal[False] = False, required: bool = True) -> Column:
    return Column(name, zh, kind, help, name if field is False else field, choices, required)


@dataclass(frozen=True)
class Sheet:
    name: str
    zh: str
    help: str
    columns: tuple[Column, ...]
    #: the column naming the product a row belongs to (activities, inputs)
    owner: str | None = None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


_UNITS = tuple(units.UNITS)
_DECLARATION_NUMBERS = ("mass_kg", "rated_energy_kwh", "cycle_count", "energy_per_cycle_fraction",
                        "usable_energy_kwh", "warranty_years", "full_equivalent_cycles_per_year")
_DECLARATION_ZH = {
    "method": "核算方法", "model": "型号", "chemistry": "化学体系", "plant.name": "工厂名称",
    "plant.country": "工厂国家", "reference_period.from": "数据期起", "reference_period.to": "数据期止",
    "mass_kg": "质量kg", "rated_energy_kwh": "额定能量kWh", "cycle_count": "循环次数",
    "energy_per_cycle_fraction": "每循环能量比例", "cycle_test_report": "循环测试报告",
    "usable_energy_kwh": "可用能量kWh", "vehicle_category": "车辆类别", "warranty_years": "质保年限",
    "full_equivalent_cycles_per_year": "年等效循环次数", "cycles_justification": "循环次数说明",
}


def _declaration_columns() -> tuple[Column, ...]:
    """Optional `declaration.*` columns of the products sheet: only the declarant's pack has them."""
    out = []
    for path, zh in _DECLARATION_ZH.items():
        kind: Kind = ("number" if path in _DECLARATION_NUMBERS
                      else "date" if path.startswith("reference_period.") else "text")
        choices: tuple[str, ...] = (tuple(profiles.PROFILES) if path == "method"
                                    else profiles.EU_VEHICLE_CATEGORIES if path == "vehicle_category" else ())
        out.append(Column(f"declaration.{path}", zh, kind, "declaration of the pack (FORMATS §2); only the "
                          "declarant's pack product has one", f"declaration.{path}", choices, required=False))
    return tuple(out)


ORGANISATION = Sheet("organisation", "组织", "one row: the organisation this file describes", (
    _col("id", "组织编号", "text", "organisation id: lowercase letters, digits, '.', '_', '-'"),
    _col("name", "组织名称", "text", "display name (optional)"),
    _col("country", "国家", "text", "ISO 3166-1 alpha-2 country of the plant, e.g. CN; blank = CN"),
))

PRODUCTS = Sheet("products", "产品", "one row per product this organisation sells", (
    _col("id", "产品编号", "text", "product id: letters, digits, '.', '_', '-' (no '/')"),
    _col("name", "产品名称", "text", "display name (optional)"),
    _col("unit", "单位", "text", "the declared unit: every amount of the product is per one of it", _UNITS),
    _col("stage", "阶段", "text", "default life-cycle stage of the product's activities", STAGE_CHOICES),
    _col("note", "备注", "text", "free text (optional)"),
    *_declaration_columns(),
))

ACTIVITIES = Sheet("activities", "活动数据", "one row per activity, per declared unit of its product", (
    _col("product", "产品编号", "text", "id of the product (products sheet) this activity belongs to", field=None),
    _col("kind", "类别", "text", "electricity, fuel, material, transport or direct", ACTIVITY_KINDS),
    _col("factor", "排放因子", "text", "fuel and material: factor id in the factor set"),
    _col("mode", "运输方式", "text", "transport: mode (factor transport.<mode>), e.g. truck, rail, ship"),
    _col("amount", "数量", "number", "electricity, fuel, material, direct: amount per declared unit"),
    _col("unit", "单位", "text", "unit of the amount", _UNITS),
    _col("mass", "运输质量", "number", "transport: mass carried per declared unit"),
    _col("mass_unit", "质量单位", "text", "transport: unit of the mass", ("g", "kg", "t")),
    _col("distance", "运输距离", "number", "transport: distance of the leg"),
    _col("distance_unit", "距离单位", "text", "transport: unit of the distance", ("km",)),
    _col("model", "电力模型", "text", "electricity: direct (物理直连), green_certificate (绿证), regional_grid, "
                                    "national_average", profiles.ELECTRICITY_MODELS),
    _col("source", "电源", "text", "electricity direct or green_certificate: generation source, e.g. solar_pv, "
                                 "wind, hydro"),
    _col("region", "电网区域", "text", "electricity regional_grid (and any fallback): grid region, e.g. east"),
    _col("evidence", "证明材料", "text", "electricity direct or green_certificate: contract, meter or certificate "
                                     "reference; blank = fallback to the grid, one warning"),
    _col("certified_amount", "认证电量", "number", "green_certificate: certified amount per declared unit"),
    _col("certified_unit", "认证电量单位", "text", "green_certificate: unit of the certified amount",
         ("kWh", "MWh", "MJ", "GJ")),
    _col("data_source", "数据来源", "text", "primary (measured on site) or secondary; blank = the format's "
                                        "default (secondary for material, else primary)", DATA_SOURCES),
    _col("dqr", "数据质量评级", "number", "data quality rating 1 (best) to 5; blank = default"),
    _col("stage", "阶段", "text", "overrides the product's stage for this activity", STAGE_CHOICES),
    _col("note", "备注", "text", "free text (optional)"),
), owner="product")

INPUTS = Sheet("inputs", "外购输入", "one row per product bought from another organisation's node", (
    _col("product", "产品编号", "text", "id of the product (products sheet) that uses this input", field=None),
    _col("supplier", "供应商", "text", "the supplier's organisation id"),
    _col("supplier_product", "供应商产品", "text", "the supplier's product id", field="product"),
    _col("quantity", "用量", "number", "quantity per declared unit of this organisation's product"),
    _col("unit", "单位", "text", "unit of the quantity (the supplier converts it)", _UNITS),
    _col("fallback_factor", "缺省因子", "text", "factor id used only if the supplier is declared dead"),
    _col("fallback_stage", "缺省阶段", "text", "stage of the fallback's emissions; blank = raw_material",
         STAGE_CHOICES),
), owner="product")

SHEETS: tuple[Sheet, ...] = (ORGANISATION, PRODUCTS, ACTIVITIES, INPUTS)

_SPLIT = re.compile(r"[\s()（）/|:：]+")


def header_tokens(text: str) -> set[str]:
    """The words of a header or sheet title: 'amount', '数量', '数量 (amount)' all name one column."""
    return {t.casefold() for t in _SPLIT.split(text.strip()) if t}


def header_text(english: str, zh: str, lang: str) -> str:
    """The header the template writes in `lang` (en, zh or both)."""
    return english if lang == "en" else zh if lang == "zh" else f"{zh} {english}"


def match(text: str, names: list[tuple[str, str]]) -> str | None:
    """The English name among (English, Chinese) pairs that `text` spells, if exactly one."""
    tokens = header_tokens(text)
    found = {en for en, zh in names if en.casefold() in tokens or zh.casefold() in tokens}
    return found.pop() if len(found) == 1 else None
