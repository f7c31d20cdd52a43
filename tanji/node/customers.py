"""Who a supplier's customers are: what the node registers, what the coordinator tells it back, and
the policy a supplier writes from that.

A buyer's node registers the supply edges its own data implies — (its product → supplier, supplier
product), ids only, no quantities — and, as a supplier, the customers its policy.toml approves. The
coordinator answers every registration with the registered edges naming the caller as supplier;
the node keeps them in STATE/customers.json, which `tanji node customers` shows so the supplier can
approve them. `default_policy` is the policy an onboarding writes from that list alone: no party
reads another's node-data file.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tanji.errors import DataError
from tanji.methodology.loader import LoadedNodeData
from tanji.node.answering import requested_inputs
from tanji.node.policy import Policy
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb

CUSTOMERS_FILE = "customers.json"
#: the rate limit every onboarded supplier starts with: (calculations, days) per (requester, product)
DEFAULT_RATE_LIMIT = (10, 1)


def registration(org: str, key: SigningKey, data: LoadedNodeData, policy: Policy) -> epb.Registration:
    """Who this node is: its key, roles, products, the supply edges its data names, the customers it approves."""
    reg = epb.Registration(organisation_id=org, envelope_public_key=key.public_raw,
                           roles=[cpb.PARTY_ROLE_NODE, cpb.PARTY_ROLE_REQUESTER, cpb.PARTY_ROLE_AUDITOR])
    for p in data.model.products:
        reg.product_ids.append(p.id)
        for _, inp in requested_inputs(p):
            reg.supply_edges.add(buyer_product=p.id, supplier=inp.supplier, supplier_product=inp.product)
    if policy.approved_customers is None:
        reg.approves_everyone = True
    else:
        reg.approved_customers.extend(sorted(policy.approved_customers))
    return reg


@dataclass(frozen=True)
class Customer:
    buyer: str
    buyer_product: str
    supplier_product: str
    buyer_suppliers: int   #: distinct organisations that buyer product names, the buyer excluded


def keep(state: Path, response: npb.RegisterResponse) -> list[Customer]:
    """Store the customers a registration answer names in STATE/customers.json."""
    named = sorted({Customer(c.buyer, c.buyer_product, c.supplier_product, c.buyer_suppliers)
                    for c in response.customers}, key=lambda c: (c.buyer, c.buyer_product, c.supplier_product))
    path = state / CUSTOMERS_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([asdict(c) for c in named], indent=2) + "\n")
    tmp.replace(path)
    return named


def read_customers(state: Path) -> list[Customer]:
    path = state / CUSTOMERS_FILE
    if not path.exists():
        raise DataError(str(path), "(document)", "no customers known yet: the node writes it when it registers")
    try:
        return [Customer(**c) for c in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(str(path), "(document)", f"cannot read the customers: {exc}") from None


def default_policy(customers: list[Customer], org: str, calculations: int | None = None) -> str:
    """policy.toml approving every buyer that named this supplier, rate-limited by default (or at
    `calculations` a day: a catalogue of k products counts k), and demanding two contributors where
    every buyer's product names at least two organisations besides the buyer."""
    buyers = sorted({c.buyer for c in customers if c.buyer != org})
    fan_out = min((c.buyer_suppliers for c in customers if c.buyer != org), default=0)
    calculations, days = (calculations, 1) if calculations is not None else DEFAULT_RATE_LIMIT
    text = ("# buyers this node answers: every buyer that named it (tanji node customers)\n"
            f"approved_customers = {json.dumps(buyers)}\n")
    if fan_out >= 2:  # no buyer could isolate this node's figure: demand it stays so
        text += ("# answer only buyers whose signed declaration names at least two organisations besides "
                 "the buyer and the requester\nmin_contributors = 2\n")
    text += (f"# at most {calculations} calculations of one requester using one of this node's products in "
             f"any {days} day(s): this bounds how often a requester can read a total holding this node's "
             "figure, it does not stop two runs that differ in one quantity from giving the difference\n"
             f"[rate_limit]\ncalculations = {calculations}\ndays = {days}\n")
    return text


def refresh(state: Path, org: str, channel) -> list[Customer]:
    """Register the node's own imported data and policy again (as its daemon does) and keep the customers
    the coordinator names back: `tanji node customers --coordinator`, on the node's own state folder."""
    from tanji.infra.party_client import PartyClient
    from tanji.node.importer import load_current
    from tanji.node.policy import load_policy
    from tanji.node.store import NodeStore

    key_file = state / "envelope-key.pem"
    if not key_file.exists():
        raise DataError(str(key_file), "(document)", "no envelope key: run `tanji node init` first")
    current = load_current(NodeStore(state / "node.db", read_only=True))
    if current is None:
        raise DataError(str(state / "node.db"), "(document)", "no data imported: run `tanji node import` first")
    key = SigningKey.load_or_create(key_file)
    response = PartyClient(org, key, channel).register(registration(org, key, current[0], load_policy(state)))
    return keep(state, response)
