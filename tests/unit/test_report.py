"""`tanji report`: the MIIT and EU declarations and the PCF data sheet, in HTML and PDF, each figure
checked against the result.json it came from (plaintext reference results: no processes)."""
from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from io import BytesIO

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from tanji.cli import app
from tanji.documents.report import STAGES, dqr_level
from tanji.documents.report_render import RendererUnavailable, number, render_pdf
from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET

runner = CliRunner()
PACK = "/".join(EXAMPLE_TARGET)
SUPPLIER_PRODUCT = ("cathode-works", "CAM-NMC811-SC")


class Fields(HTMLParser):
    """Every element's data-* attributes and its text, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[dict[str, str], list[str]]] = []
        self.stack: list[list[str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        data = {k: v or "" for k, v in attrs if k.startswith("data-")}
        buf: list[str] = []
        self.stack.append(buf)
        if data:
            self.items.append((data, buf))

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        for buf in self.stack:
            buf.append(data)

    def find(self, key: str, value: str) -> tuple[dict[str, str], str]:
        hits = [(d, "".join(t).strip()) for d, t in self.items if d.get(key) == value]
        assert len(hits) == 1, f"{key}={value!r}: {len(hits)} elements"
        return hits[0]


def parse(html: str) -> Fields:
    p = Fields()
    p.feed(html)
    return p


def eu_chain(tmp_path):
    """The example chain with the pack's declaration rewritten for eu-2023-1542 (category M1, 8 years)."""
    variant = tmp_path / "eu-chain"
    shutil.copytree(EXAMPLE_CHAIN, variant)
    pack_file = variant / "pack-assembler.json"
    doc = json.loads(pack_file.read_text())
    miit = doc["products"][0]["declaration"]
    doc["products"][0]["declaration"] = {
        "method": "eu-2023-1542", **{k: miit[k] for k in ("model", "chemistry", "plant", "reference_period")},
        "usable_energy_kwh": 72.0, "vehicle_category": "M1", "warranty_years": 8}
    pack_file.write_text(json.dumps(doc))
    return variant


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    out = {}
    for kind, data_dir, target in (("miit", EXAMPLE_CHAIN, EXAMPLE_TARGET),
                                   ("eu", eu_chain(folder), EXAMPLE_TARGET),
                                   ("pcf", EXAMPLE_CHAIN, SUPPLIER_PRODUCT)):
        path = folder / f"{kind}.json"
        path.write_text(reference_result(load_data_dir(data_dir), target).to_json())
        out[kind] = path
    return out


def render(result_path, out, *extra):
    res = runner.invoke(app, ["report", str(result_path), "--out", str(out), *extra])
    return res


def check_html_figures(html: str, doc: dict) -> Fields:
    """Every figure of the document equals the result's (exact data-value) and reads as its rounded text."""
    f = parse(html)
    for stage in STAGES:
        attrs, text = f.find("data-stage", stage)
        assert float(attrs["data-value"]) == doc["stages_kgco2e"][stage]
        assert text == number(doc["stages_kgco2e"][stage])
    attrs, text = f.find("data-field", "primary_data_share")
    assert float(attrs["data-value"]) == doc["primary_data_share"]
    assert text == f"{100 * doc['primary_data_share']:.1f} %"
    attrs, text = f.find("data-field", "dqr")
    assert float(attrs["data-value"]) == doc["dqr"] and text == f"{doc['dqr']:.2f}"
    attrs, _ = f.find("data-field", "warnings_count")
    assert int(attrs["data-value"]) == doc["warnings_count"]
    assert f.find("data-field", "calculation")[1] == doc["calculation"]
    assert doc["factor_set"]["sha256"] in f.find("data-field", "factor_set")[1]
    assert f.find("data-verdict", "unchecked")  # a reference result: nobody signed it, and it says so
    return f


def test_miit_declaration_html_carries_every_figure_with_chinese_labels(results, tmp_path):
    out = tmp_path / "miit.html"
    res = render(results["miit"], out)
    assert res.exit_code == 0, res.output
    doc = json.loads(results["miit"].read_text())
    html = out.read_text(encoding="utf-8")
    f = check_html_figures(html, doc)
    attrs, text = f.find("data-field", "total")
    assert float(attrs["data-value"]) == doc["total_kgco2e"] and text == number(doc["total_kgco2e"]) == "7,679.7"
    attrs, text = f.find("data-field", "per_kwh")
    assert float(attrs["data-value"]) == doc["per_kwh_kgco2e"] and text == "0.048483"
    for stage in STAGES:
        attrs, text = f.find("data-stage-per-kwh", stage)
        assert float(attrs["data-value"]) == doc["stages_per_kwh_kgco2e"][stage]
    d = doc["declaration"]
    attrs, _ = f.find("data-field", "lifetime_energy_kwh")
    assert float(attrs["data-value"]) == doc["lifetime_energy_kwh"] == d["rated_energy_kwh"] * d["cycle_count"] * 0.9
    assert int(f.find("data-field", "cycle_count")[0]["data-value"]) == d["cycle_count"]
    text = "".join(f.text)
    for label in ("动力电池产品碳足迹声明", "原材料获取阶段", "单位能量碳足迹", "初级数据占比"):
        assert label in text
    for value in (d["model"], d["chemistry"], d["plant"]["name"], d["reference_period"]["from"]):
        assert value in text
    assert html.count("<svg") == 2  # the stages in kgCO2e and per kWh
    assert "声明企业" in text and EXAMPLE_TARGET[0] in text and "声明企业（盖章）" in text  # declarant and seal


def test_eu_declaration_html_states_the_functional_unit_of_its_category(results, tmp_path):
    out = tmp_path / "eu.html"
    assert render(results["eu"], out).exit_code == 0
    doc = json.loads(results["eu"].read_text())
    assert doc["method"] == "eu-2023-1542"
    f = check_html_figures(out.read_text(encoding="utf-8"), doc)
    assert float(f.find("data-field", "cycles_per_year")[0]["data-value"]) == 60.0       # category M1
    assert float(f.find("data-field", "lifetime_energy_kwh")[0]["data-value"]) == 72.0 * 60 * 8
    assert float(f.find("data-field", "per_kwh")[0]["data-value"]) == doc["per_kwh_kgco2e"]
    text = "".join(f.text)
    assert "Regulation (EU) 2023/1542, Article 7" in text and "动力电池" not in text
    assert "declaration of conformity" in f.find("data-field", "eu_not_held")[1]   # what the declarant adds


def test_pcf_data_sheet_is_per_declared_unit_without_kwh(results, tmp_path):
    out = tmp_path / "pcf.html"
    assert render(results["pcf"], out).exit_code == 0
    doc = json.loads(results["pcf"].read_text())
    assert doc["declaration"] is None and doc["declared_unit"] == "kg"
    html = out.read_text(encoding="utf-8")
    f = check_html_figures(html, doc)
    attrs, text = f.find("data-field", "per_unit")
    assert float(attrs["data-value"]) == doc["total_kgco2e"] and text == number(doc["total_kgco2e"])
    assert "data-stage-per-kwh" not in html and "lifetime_energy_kwh" not in html
    text = "".join(f.text)
    assert "PCF" in text and html.count("<svg") == 1
    assert "cradle to gate" in text and SUPPLIER_PRODUCT[0] in text and "seal" not in text


@pytest.mark.parametrize("kind", ["miit", "eu", "pcf"])
def test_pdf_text_carries_the_figures(results, tmp_path, kind):
    """The PDF (WeasyPrint) holds the figures as text; a missing glyph would have refused it."""
    out = tmp_path / f"{kind}.pdf"
    res = render(results[kind], out)
    assert res.exit_code == 0, res.output   # exit 1 with the apt packages named where no CJK font/Pango is
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    doc = json.loads(results[kind].read_text())
    for value in [doc["total_kgco2e"], *doc["stages_kgco2e"].values()]:
        assert number(value) in text
    assert f"{100 * doc['primary_data_share']:.1f} %" in text and f"{doc['dqr']:.2f}" in text
    assert doc["calculation"] in text
    if kind != "pcf":
        assert number(doc["per_kwh_kgco2e"]) in text
    if kind == "miit":
        assert "动力电池产品碳足迹声明" in text.replace("\n", "") and "原材料获取阶段" in text


def test_a_glyph_no_font_has_refuses_the_pdf():
    """Never boxes in place of text: a character no installed font draws stops the PDF."""
    with pytest.raises(RendererUnavailable, match="fonts-wqy-microhei"):
        render_pdf("<p>\U000f0000</p>")


def test_bad_inputs_exit_2_naming_the_problem_and_write_nothing(results, tmp_path):
    out = tmp_path / "r.html"
    res = render(results["miit"], tmp_path / "r.docx")
    assert res.exit_code == 2 and "r.docx: --out" in res.stderr
    res = render(tmp_path / "absent.json", out)
    assert res.exit_code == 2 and "absent.json" in res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert render(bad, out).exit_code == 2
    doc = json.loads(results["miit"].read_text())
    del doc["total_kgco2e"]
    bad.write_text(json.dumps(doc))
    res = render(bad, out)
    assert res.exit_code == 2 and "bad.json: total_kgco2e" in res.stderr
    bad.write_text(json.dumps({"schema": "tanji.factor-set/1"}))
    res = render(bad, out)
    assert res.exit_code == 2 and "bad.json: schema" in res.stderr
    res = render(results["miit"], out, "--bundle", str(bad))      # a bundle needs its trust anchor
    assert res.exit_code == 2 and "--trust" in res.stderr
    anchor = tmp_path / "anchor.pub"
    anchor.write_text("not hex")
    res = render(results["miit"], out, "--bundle", str(bad), "--trust", str(anchor))
    assert res.exit_code == 2 and "anchor.pub" in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_bundle_that_does_not_verify_is_stated_and_exits_1(results, tmp_path):
    bundle, anchor, out = tmp_path / "b.tar", tmp_path / "anchor.pub", tmp_path / "r.html"
    bundle.write_bytes(b"not a bundle")
    anchor.write_text("ab" * 32)
    res = render(results["miit"], out, "--bundle", str(bundle), "--trust", str(anchor))
    assert res.exit_code == 1
    f = parse(out.read_text(encoding="utf-8"))
    assert f.find("data-verdict", "failed")
    assert f.find("data-check", "bundle format")[0]["data-ok"] == "false"
    assert f.find("data-check", "the result shown is the key holder's signed result")[0]["data-ok"] == "false"


@pytest.mark.parametrize(("dqr", "words"), [(1.2, "excellent"), (1.5, "excellent"), (1.9, "very good"),
                                            (2.05, "good"), (3.5, "fair"), (4.5, "poor")])
def test_dqr_in_words_follows_the_pef_levels(dqr, words):
    assert dqr_level(dqr) == words


@pytest.mark.parametrize(("x", "text"), [(7679.659322746344, "7,679.7"), (0.04848269774461075, "0.048483"),
                                         (0.0, "0"), (158400.0, "158,400"), (57.899750000000004, "57.9"),
                                         (None, "—")])
def test_numbers_read_with_five_significant_digits(x, text):
    assert number(x) == text


def test_fallbacks_and_the_declarants_warnings_are_explained(tmp_path):
    """A dead supplier: the report names the fallback, lists the declarant's own warning and counts the rest."""
    result = reference_result(load_data_dir(EXAMPLE_CHAIN), EXAMPLE_TARGET, frozenset({"battery-recycler"}))
    path, out = tmp_path / "r.json", tmp_path / "r.html"
    path.write_text(result.to_json())
    assert render(path, out).exit_code == 0
    doc = json.loads(path.read_text())
    f = check_html_figures(out.read_text(encoding="utf-8"), doc)
    text = "".join(f.text)
    fb = doc["fallbacks"][0]
    assert f"Fallback: {fb['supplier']}/{fb['product']} did not answer; its buyer {fb['buyer']}" in text
    assert "tier 1" in text and doc["warnings"][0] in text
    assert f"{doc['warnings_count']} warning(s) in the whole supply chain" in text
    assert "1 of them is the declarant's own" in text
