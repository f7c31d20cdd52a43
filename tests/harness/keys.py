"""Parties, their envelope keys and the federation list that names them.

`in_memory` is the world of a test process (fresh keys, an unsigned list); `onboard` is what a
federation operator does once on disk (keys under each party's state folder, the registry's
signature and trust anchor), with any roles a test needs; `issue_certificates` gives each
party its mutual-TLS certificate of one CA.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tanji.protocol.federation import ANCHOR_FILE, Federation, ListedParty, sign_list
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.pki import init_ca, issue
from tanji.protocol.signing import SigningKey

COORDINATOR = COORDINATOR_ID
KEY_HOLDER = "keyholder"
#: a party's role on the federation list, unless a test names another
DEFAULT_ROLES = {COORDINATOR: "coordinator", KEY_HOLDER: "key_holder"}


def role_of(party: str, roles: Mapping[str, str] | None = None) -> str:
    return {**DEFAULT_ROLES, **(roles or {})}.get(party, "node")


@dataclass
class Parties:
    """Every party's signing key and the federation list of their public keys."""

    keys: dict[str, SigningKey]
    federation: Federation

    def __getitem__(self, party: str) -> SigningKey:
        return self.keys[party]


def in_memory(parties: Iterable[str], roles: Mapping[str, str] | None = None) -> Parties:
    """Fresh keys for `parties` (the coordinator and key holder by their roles, everyone else a node)."""
    keys = {p: SigningKey.generate() for p in parties}
    return Parties(keys, Federation({p: ListedParty(p, role_of(p, roles), k.public_raw) for p, k in keys.items()}))


def key_file(state: Path, party: str) -> Path:
    return state / party / "envelope-key.pem"


def party_key(state: Path, party: str) -> SigningKey:
    """A party's envelope key as onboarding left it in its state folder."""
    return SigningKey.load_or_create(key_file(state, party))


def onboard(state: Path, parties: Iterable[str], roles: Mapping[str, str] | None = None) -> tuple[Path, Federation]:
    """The federation list of `parties` (with their roles, any roles: an adversary's too), signed by a
    registry whose public key is the trust anchor each party folder holds; each party's key in its
    state folder. The registry commands' path is tanji.cli.demo.onboard."""
    state.mkdir(parents=True, exist_ok=True)
    parties = list(parties)
    listed = {p: ListedParty(p, role_of(p, roles), party_key(state, p).public_raw) for p in parties}
    fed_file = state / "federation.json"
    fed_file.write_text(Federation(listed, version=1).to_json())
    registry = SigningKey.load_or_create(state / "registry" / "registry-key.pem")
    (state / "federation.sig").write_bytes(sign_list(fed_file.read_bytes(), registry))
    anchor = registry.public_raw.hex() + "\n"
    (state / "registry" / "anchor.pub").write_text(anchor)
    for p in parties:  # what each party pinned when it joined
        (state / p / ANCHOR_FILE).write_text(anchor)
    return fed_file, Federation.load(fed_file)


def issue_certificates(root: Path, parties: Iterable[str], roles: Mapping[str, str] | None = None) -> Path:
    """One CA under root/ca and a loopback certificate per party under root/tls (with the CA's)."""
    ca, tls = root / "ca", root / "tls"
    init_ca(ca)
    for party in parties:
        issue(ca, party, role_of(party, roles), tls, ["127.0.0.1", "localhost"])
    (tls / "ca.crt").write_bytes((ca / "ca.crt").read_bytes())
    return tls
