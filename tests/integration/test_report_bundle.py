"""Reports and statements over a real federated calculation: the demo's result with its audit bundle
verifies and says so; a doctored result or bundle is stated as failing (exit 1), never shown as fine;
an on-site opening enters the statement and leaves its organisation off the "not opened" list."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from io import BytesIO

import pytest
from pypdf import PdfReader

from tanji.protocol.bundle import MANIFEST_TAG, pack, unpack
from tanji.protocol.signing import SigningKey
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET
from tests.unit.test_report import parse

pytestmark = pytest.mark.integration
OPENED = "cell-works"
CORE_CHECKS = {"trust anchor", "manifest signature", "manifest covers every file", "signatures", "completeness",
               "inclusion in the log", "log consistency", "aggregation re-executed", "attested", "key holder's result"}


def tanji(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tanji", *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    out = folder / "demo"
    proc = tanji("demo", str(EXAMPLE_CHAIN), "--product", "/".join(EXAMPLE_TARGET), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "result.json").read_text())
    opening = folder / "opening.tar"
    proc = tanji("node", "audit-export", result["calculation"], "--state", str(out / "state" / OPENED),
                 "--out", str(opening))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"folder": folder, "result": out / "result.json", "bundle": out / "bundle.tar",
            "anchor": out / "state" / "registry" / "anchor.pub", "opening": opening, "state": out / "state"}


def doctored_bundle(run, name: str, resign: bool) -> str:
    """The bundle with result.json's total raised 1 %: by an outsider (the manifest left as it was) or by
    the coordinator (re-listed and re-signed with its own key; the key holder's signed result is untouched)."""
    files = unpack(run["bundle"].read_bytes())
    doc = json.loads(files["result.json"])
    doc["total_kgco2e"] *= 1.01
    files["result.json"] = json.dumps(doc, indent=2).encode()
    if resign:
        manifest = json.loads(files["manifest.json"])
        manifest["files"]["result.json"] = hashlib.sha256(files["result.json"]).hexdigest()
        files["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
        key = SigningKey.load_or_create(run["state"] / "coordinator" / "envelope-key.pem")
        files["manifest.sig"] = key.sign(MANIFEST_TAG, files["manifest.json"])
    path = run["folder"] / name
    path.write_bytes(pack(files))
    return str(path)


def test_the_declaration_with_its_bundle_says_verified(run, tmp_path):
    out = tmp_path / "declaration.html"
    proc = tanji("report", str(run["result"]), "--bundle", str(run["bundle"]), "--trust", str(run["anchor"]),
                 "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(run["result"].read_text())
    f = parse(out.read_text(encoding="utf-8"))
    assert f.find("data-verdict", "verified")
    assert f.find("data-field", "bundle_sha256")[1] == hashlib.sha256(run["bundle"].read_bytes()).hexdigest()
    assert f.find("data-field", "anchor")[1] == run["anchor"].read_text().strip()
    checks = {d["data-check"]: d["data-ok"] for d, _ in f.items if "data-check" in d}
    assert CORE_CHECKS <= set(checks) and set(checks.values()) == {"true"}
    assert float(f.find("data-field", "total")[0]["data-value"]) == doc["total_kgco2e"]
    assert float(f.find("data-field", "per_kwh")[0]["data-value"]) == doc["per_kwh_kgco2e"]
    pdf = tmp_path / "declaration.pdf"
    proc = tanji("report", str(run["result"]), "--bundle", str(run["bundle"]), "--trust", str(run["anchor"]),
                 "--out", str(pdf))
    assert proc.returncode == 0, proc.stderr
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(pdf.read_bytes())).pages)
    assert "Verified" in text and doc["calculation"] in text.replace("\n", "")


def test_a_doctored_result_is_stated_as_not_verified(run, tmp_path):
    doc = json.loads(run["result"].read_text())
    doc["total_kgco2e"] *= 0.9
    forged, out = tmp_path / "result.json", tmp_path / "declaration.html"
    forged.write_text(json.dumps(doc))
    proc = tanji("report", str(forged), "--bundle", str(run["bundle"]), "--trust", str(run["anchor"]),
                 "--out", str(out))
    assert proc.returncode == 1
    f = parse(out.read_text(encoding="utf-8"))
    assert f.find("data-verdict", "failed")
    assert f.find("data-check", "the result shown is the key holder's signed result")[0]["data-ok"] == "false"
    # the figures shown are still the file's own, beside the failed verdict
    assert float(f.find("data-field", "total")[0]["data-value"]) == doc["total_kgco2e"]


def test_the_statement_of_the_good_bundle_with_an_opening(run, tmp_path):
    out = tmp_path / "statement.html"
    proc = tanji("audit", "statement", str(run["bundle"]), "--trust", str(run["anchor"]), "--opening",
                 str(run["opening"]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    f = parse(html)
    assert f.find("data-verdict", "verified")
    states = {d["data-check"]: d["data-state"] for d, _ in f.items if "data-check" in d}
    assert CORE_CHECKS <= set(states) and set(states.values()) == {"passed"}
    assert f.find("data-opening", OPENED)[0]["data-ok"] == "true"
    contributors = f.find("data-field", "contributors")[1].split(", ")
    assert OPENED in contributors and len(contributors) == 11
    text = "".join(f.text)
    assert "Raw data not opened on site for 10 of 11 contributing organisations" in text
    unopened = text.split("contributing organisations (", 1)[1].split(")", 1)[0]
    assert OPENED not in unopened.split(", ")
    doc = json.loads(run["result"].read_text())
    assert float(f.find("data-field", "total_kgco2e")[0]["data-value"]) == doc["total_kgco2e"]


@pytest.mark.parametrize(("resign", "fails"), [(False, "manifest covers every file"), (True, "key holder's result")])
def test_the_statement_of_a_doctored_bundle_names_what_failed(run, tmp_path, resign, fails):
    bundle = doctored_bundle(run, f"doctored-{resign}.tar", resign)
    out = tmp_path / "statement.pdf"
    proc = tanji("audit", "statement", bundle, "--trust", str(run["anchor"]), "--out", str(out))
    assert proc.returncode == 1
    html_out = tmp_path / "statement.html"
    assert tanji("audit", "statement", bundle, "--trust", str(run["anchor"]), "--out", str(html_out)).returncode == 1
    f = parse(html_out.read_text(encoding="utf-8"))
    assert f.find("data-verdict", "failed")
    assert f.find("data-check", fails)[0]["data-state"] == "failed"
    text = "\n".join(p.extract_text() for p in PdfReader(BytesIO(out.read_bytes())).pages)
    assert "does NOT verify" in text
