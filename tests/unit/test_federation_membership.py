"""Issue #12 and #11 item 9: the registry signs a versioned federation list; every daemon verifies it
against its trust anchor and its version floor and refuses an edited, older, foreign-signed or
unsigned list naming the file; the registry checks join requests; a party checks what it installs."""
import json

import pytest
from typer.testing import CliRunner

from tanji.cli.app import app
from tanji.protocol.federation import (
    ANCHOR_FILE,
    Federation,
    FederationFile,
    UntrustedFederation,
    sign_list,
)
from tanji.protocol.joining import JoinRefused, init_party, install
from tanji.protocol.membership import RegistryDir, RegistryRefused
from tanji.protocol.signing import SigningKey

runner = CliRunner()
PARTIES = {"coordinator": "coordinator", "keyholder": "key_holder", "cell-co": "node"}


@pytest.fixture
def fed(tmp_path):
    """A registry and three parties, each in its own folder, joined through the registry."""
    reg = RegistryDir.init(tmp_path / "registry")
    for party, role in PARTIES.items():
        reg.add(init_party(tmp_path / party, party, role))
    for party in PARTIES:
        install(tmp_path / party, reg.list_file, reg.signature_file, reg.anchor_file, reg.issued(party),
                reg.folder / "ca.crt")
    return tmp_path, reg


def serve_args(party: str, root, fed_file):
    state = str(root / party)
    if party == "coordinator":
        return ["coordinator", "serve", "--state", state, "--federation", str(fed_file), "--listen", "127.0.0.1:0"]
    if party == "keyholder":
        return ["keyholder", "serve", "--id", party, "--state", state, "--federation", str(fed_file),
                "--coordinator", "127.0.0.1:9"]
    return ["node", "serve", "--org", party, "--state", state, "--federation", str(fed_file),
            "--coordinator", "127.0.0.1:9", "--answer-everyone"]


def _edited(root, reg):
    doc = json.loads(reg.list_file.read_text())
    doc["parties"].append({"id": "keyholder-2", "role": "key_holder", "public_key": "11" * 32})
    out = root / "edited" / "federation.json"
    out.parent.mkdir()
    out.write_text(json.dumps(doc))
    out.with_suffix(".sig").write_bytes(reg.signature_file.read_bytes())  # the old signature
    return out


def _older(root, reg):
    out = root / "older" / "federation.json"
    out.parent.mkdir()
    out.write_bytes(reg.list_file.read_bytes())
    out.with_suffix(".sig").write_bytes(reg.signature_file.read_bytes())
    reg.remove("cell-co")  # a newer list ...
    reg.add(root / "cell-co" / "join-request.json")
    for party in PARTIES:  # ... every party accepted (cell-co with its new certificate)
        install(root / party, reg.list_file, reg.signature_file,
                certificate=reg.issued(party) if party == "cell-co" else None)
    return out


def _foreign(root, reg):
    out = root / "foreign" / "federation.json"
    out.parent.mkdir()
    data = reg.list_file.read_bytes()
    out.write_bytes(data)
    out.with_suffix(".sig").write_bytes(sign_list(data, SigningKey.generate()))
    return out


def _unsigned(root, reg):
    out = root / "unsigned" / "federation.json"
    out.parent.mkdir()
    out.write_bytes(reg.list_file.read_bytes())
    return out


@pytest.mark.parametrize("party", list(PARTIES))
@pytest.mark.parametrize("make", [_edited, _older, _foreign, _unsigned])
def test_every_daemon_refuses_a_list_it_cannot_trust_naming_the_file(fed, party, make):
    root, reg = fed
    bad = make(root, reg)
    res = runner.invoke(app, serve_args(party, root, bad))
    assert res.exit_code == 2, res.output
    assert str(bad) in res.stderr.replace("\n", "")
    assert not (root / party / "ready").exists() and not (root / party / "coordinator.db").exists()


def test_a_refused_reload_keeps_the_last_good_list(fed):
    root, reg = fed
    listed = FederationFile(root / "cell-co" / "federation.json", root / "cell-co" / ANCHOR_FILE, root / "cell-co")
    good = listed.federation
    doc = json.loads((root / "cell-co" / "federation.json").read_text())
    doc["parties"] = doc["parties"][:1]
    (root / "cell-co" / "federation.json").write_text(json.dumps(doc))  # edited after signing
    assert listed.current() is good
    install(root / "cell-co", reg.list_file, reg.signature_file)      # the registry's list again
    assert listed.current().version == good.version


def test_a_new_version_takes_effect_and_raises_the_floor(fed):
    root, reg = fed
    state = root / "cell-co"
    listed = FederationFile(state / "federation.json", state / ANCHOR_FILE, state)
    reg.add(init_party(root / "anode", "anode", "node"))
    install(state, reg.list_file, reg.signature_file)
    assert "anode" in listed.current().parties
    assert int((state / "federation-version").read_text()) == reg.federation().version


def test_the_list_records_versions_pins_and_revocations(fed):
    root, reg = fed
    before = reg.federation()
    pin = before.parties["cell-co"].certificate
    assert len(pin) == 64 and before.admits_certificate("cell-co", pin) is None
    after = reg.revoke("cell-co")
    assert after.version == before.version + 1 and pin in after.revoked
    assert "revoked" in after.admits_certificate("cell-co", pin)
    gone = reg.remove("cell-co")
    assert "not on the federation list" in gone.admits_certificate("cell-co", pin)
    assert (reg.folder / "crl.pem").read_bytes().startswith(b"-----BEGIN X509 CRL")


def test_the_registry_checks_join_requests(tmp_path, fed):
    root, reg = fed
    request = json.loads(init_party(tmp_path / "fresh", "fresh-co", "node").read_text())

    def refused(change, field):
        doc = {**request, **change}
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(doc))
        with pytest.raises((RegistryRefused, Exception)) as info:
            reg.add(path)
        assert str(path) in str(info.value) and field in str(info.value)

    refused({"organisation": "Cell Co"}, "organisation")          # id grammar
    refused({"organisation": "keyholder", "role": "node"}, "organisation")  # reserved
    refused({"role": "auditor-of-everything"}, "role")
    refused({"organisation": "other-co"}, "csr")                  # the CSR names cell-co
    refused({"csr": request["csr"].replace("A", "B", 1)}, "csr")  # not a valid request any more
    listed = json.loads((root / "cell-co" / "join-request.json").read_text())
    refused({**listed, "envelope_public_key": "22" * 32}, "organisation")   # cell-co is listed with another key
    other = init_party(tmp_path / "twin", "twin-co", "node")
    twin = json.loads(other.read_text())
    twin["envelope_public_key"] = listed["envelope_public_key"]
    other.write_text(json.dumps(twin))
    with pytest.raises(RegistryRefused) as info:                  # one key, one party
        reg.add(other)
    assert "envelope_public_key" in str(info.value)


def test_the_registry_key_can_be_kept_encrypted(tmp_path, monkeypatch):
    reg = RegistryDir.init(tmp_path / "reg", b"correct horse")
    assert b"ENCRYPTED" in (tmp_path / "reg" / "registry-key.pem").read_bytes()
    assert b"ENCRYPTED" in (tmp_path / "reg" / "ca.key").read_bytes()
    request = init_party(tmp_path / "cell-co", "cell-co", "node")
    with pytest.raises(RegistryRefused):
        RegistryDir(reg.folder).add(request)                      # no passphrase
    monkeypatch.setenv("TANJI_REGISTRY_PASSPHRASE", "wrong")
    res = runner.invoke(app, ["registry", "add", str(request), "--dir", str(reg.folder)])
    assert res.exit_code == 2
    (tmp_path / "pass").write_text("correct horse\n")
    res = runner.invoke(app, ["registry", "add", str(request), "--dir", str(reg.folder),
                              "--passphrase-file", str(tmp_path / "pass")])
    assert res.exit_code == 0, res.output
    assert "cell-co" in Federation.load(reg.list_file).parties


def test_a_party_installs_only_what_it_can_check(fed, tmp_path):
    root, reg = fed
    other = RegistryDir.init(tmp_path / "other")
    other.add(root / "cell-co" / "join-request.json")
    with pytest.raises(JoinRefused):                              # another registry's anchor
        install(root / "cell-co", other.list_file, other.signature_file, other.anchor_file)
    with pytest.raises(UntrustedFederation):                      # another registry's list
        install(root / "cell-co", other.list_file, other.signature_file)
    with pytest.raises(JoinRefused):                              # a certificate for another party's key
        install(root / "cell-co", reg.list_file, reg.signature_file, certificate=reg.issued("keyholder"))
    init_party(tmp_path / "late", "late-co", "node")
    with pytest.raises(JoinRefused):                              # not listed
        install(tmp_path / "late", reg.list_file, reg.signature_file, reg.anchor_file)


def test_keys_stay_in_their_partys_folder(fed):
    root, reg = fed
    for party in PARTIES:
        private = {p.name for p in (root / party).rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()}
        assert private == {"envelope-key.pem", f"{party}.key"}
        assert (root / party / "tls" / f"{party}.key").stat().st_mode & 0o777 == 0o600
        assert (root / party / "envelope-key.pem").stat().st_mode & 0o777 == 0o600
        assert "PRIVATE" not in (root / party / "join-request.json").read_text()
    private = {p.name for p in reg.folder.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()}
    assert private == {"registry-key.pem", "ca.key"}


def test_each_command_refuses_bad_input_with_exit_2_naming_the_file(fed, tmp_path):
    root, reg = fed
    bad = tmp_path / "bad-request.json"
    bad.write_text(json.dumps({"schema": "tanji.join-request/1", "organisation": "x", "role": "node"}))
    cases = [
        (["registry", "add", str(bad), "--dir", str(reg.folder)], [str(bad), "envelope_public_key"]),
        (["registry", "remove", "nobody", "--dir", str(reg.folder)], ["nobody"]),
        (["registry", "revoke", "nobody", "--dir", str(reg.folder)], ["nobody"]),
        (["registry", "init", "--dir", str(reg.folder)], ["registry-key.pem"]),
        (["registry", "add", str(bad), "--dir", str(reg.folder), "--passphrase-file", str(tmp_path / "none")],
         [str(tmp_path / "none")]),
        (["node", "customers", "--state", str(root / "cell-co")], ["customers.json"]),
        (["node", "init", "--state", str(tmp_path / "n"), "--org", "Not An Id"], ["organisation"]),
        (["node", "init", "--state", str(root / "cell-co"), "--org", "other-co"], ["cell-co"]),
        (["node", "join", "--state", str(tmp_path / "fresh"), "--federation", str(reg.list_file)],
         ["join-request.json"]),
    ]
    init_party(tmp_path / "unjoined", "unjoined-co", "node")
    cases.append((["node", "join", "--state", str(tmp_path / "unjoined"), "--federation", str(reg.list_file)],
                  [ANCHOR_FILE]))
    for args, names in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        said = res.stderr.replace("\n", "")
        assert all(n in said for n in names), (args, said)


def test_node_customers_shows_who_named_the_supplier(fed):
    root, _ = fed
    (root / "cell-co" / "customers.json").write_text(json.dumps([
        {"buyer": "pack-co", "buyer_product": "PACK", "supplier_product": "CELL", "buyer_suppliers": 2}]))
    (root / "cell-co" / "policy.toml").write_text('approved_customers = []\n')
    res = runner.invoke(app, ["node", "customers", "--state", str(root / "cell-co")])
    assert res.exit_code == 0 and "pack-co" in res.stdout and "no" in res.stdout
