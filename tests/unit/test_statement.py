"""`tanji audit statement` on bundles that cannot be believed: every check that could not run is named
as such, the verdict says the bundle does not verify, exit 1; bad input exits 2 and writes nothing.
(A real bundle, good and doctored, with an on-site opening: tests/integration/test_report_bundle.py.)"""
from __future__ import annotations

import hashlib
from io import BytesIO

from pypdf import PdfReader
from typer.testing import CliRunner

from tanji.audit.report import Report
from tanji.cli import app
from tanji.documents.statement import GROUPS, Line, OpeningView, StatementView, not_checked
from tanji.protocol.bundle import pack
from tests.unit.test_report import parse

runner = CliRunner()
ALL_CHECKS = [name for _, names in GROUPS for name in names]


def statement(tmp_path, bundle: bytes, out_name="s.html", *extra):
    b, anchor, out = tmp_path / "bundle.tar", tmp_path / "anchor.pub", tmp_path / out_name
    b.write_bytes(bundle)
    anchor.write_text("ab" * 32)
    res = runner.invoke(app, ["audit", "statement", str(b), "--trust", str(anchor), "--out", str(out), *extra])
    return res, out


def states(html: str) -> dict[str, str]:
    return {d["data-check"]: d["data-state"] for d, _ in parse(html).items if "data-check" in d}


def test_not_a_bundle_fails_and_names_every_check_it_could_not_run(tmp_path):
    res, out = statement(tmp_path, b"not a tar")
    assert res.exit_code == 1
    html = out.read_text(encoding="utf-8")
    got = states(html)
    assert got.pop("bundle format") == "failed"
    assert got == dict.fromkeys(ALL_CHECKS, "not checked")
    f = parse(html)
    assert f.find("data-verdict", "failed")
    assert f.find("data-field", "bundle_sha256")[1] == hashlib.sha256(b"not a tar").hexdigest()
    assert f.find("data-field", "anchor")[1] == "ab" * 32
    text = "".join(f.text)
    assert f"{len(ALL_CHECKS)} check(s) could not run" in text
    assert "No contributing organisation could be identified" in text


def test_a_federation_list_not_signed_by_the_anchor_stops_at_the_trust_anchor(tmp_path):
    files = {n: b"{}" for n in ("manifest.json", "manifest.sig", "federation.json", "federation.sig", "log.json",
                                "aggregation.json")}
    res, out = statement(tmp_path, pack(files))
    assert res.exit_code == 1
    got = states(out.read_text(encoding="utf-8"))
    assert got["trust anchor"] == "failed"
    assert {k for k, v in got.items() if v == "not checked"} == set(ALL_CHECKS) - {"trust anchor"}


def test_the_pdf_statement_says_so_too(tmp_path):
    res, out = statement(tmp_path, b"not a tar", "s.pdf")
    assert res.exit_code == 1
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(out.read_bytes())).pages)
    assert "does NOT verify" in text and "bundle format" in text and "Signature" in text
    assert hashlib.sha256(b"not a tar").hexdigest()[:32] in text.replace("\n", "")


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    res, out = statement(tmp_path, b"x", "s.txt")
    assert res.exit_code == 2 and "s.txt: --out" in res.stderr
    res, out = statement(tmp_path, b"x", "s.html", "--opening", str(tmp_path / "absent.tar"))
    assert res.exit_code == 2 and "absent.tar" in res.stderr and not out.exists()
    (tmp_path / "bad.pub").write_text("zz")
    res = runner.invoke(app, ["audit", "statement", str(tmp_path / "bundle.tar"), "--trust", str(tmp_path / "bad.pub"),
                              "--out", str(out)])
    assert res.exit_code == 2 and "bad.pub" in res.stderr and not out.exists()


def test_what_could_not_be_checked_follows_from_the_outcome():
    """Unopened contributors are named, a mismatched opening and every fallback too; the standing limits
    (decryption, factor values) are stated for a bundle that verifies."""
    report = Report()
    report.add("trust anchor", True)
    view = StatementView(ok=False, created="", tool="", bundle_file="b.tar", bundle_sha256="", anchor_hex="",
                         manifest={"factor_set": {"sha256": "f" * 64}},
                         summary={"fallbacks": [{"supplier": "rec", "product": "EOL", "buyer": "pack"}]},
                         groups=[("Trust and signatures", [Line("trust anchor", "passed")])],
                         openings=[OpeningView("o1.tar", "cell", True, []), OpeningView("o2.tar", "cam", False, [])],
                         contributors=["cam", "cell", "pack"])
    lines = not_checked(view, report)
    assert any("2 of 3 contributing organisations (cam, pack)" in x for x in lines)
    assert any(x.startswith("The opening o2.tar (cam) does not match") for x in lines)
    assert any("rec/EOL (for pack)" in x for x in lines)
    assert any("f" * 64 in x for x in lines) and any("decryption" in x for x in lines)
