"""The real coordinator, a node and a key holder in this process: no network, nothing mocked
but the transport.

`World` is the coordinator engine (`tanji.coordinator.service.Coordinator` on real SQLite or
PostgreSQL, real CKKS, real signatures) with a key holder and three nodes the test plays:
buyer `a` (its product A buys B from `b`), supplier `b`, and `c`, listed but in no calculation.
Every envelope is built by `tests.harness.envelopes` under the calculation's binding, as the
parties build theirs. `offline_node` and `offline_key_holder` are a node and a key holder on
their own stores with a channel to nowhere, for their bookkeeping without processes.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import grpc

from tanji.coordinator import db
from tanji.coordinator.service import Coordinator
from tanji.coordinator.storage import Storage, open_storage
from tanji.coordinator.transactions import Limits
from tanji.he import tasks as he_tasks
from tanji.keyholder.daemon import KeyHolder
from tanji.keyholder.store import KeyHolderStore
from tanji.node.daemon import Node
from tanji.node.importer import import_files
from tanji.node.policy import Policy
from tanji.node.store import NodeStore
from tanji.protocol import envelope as env
from tanji.protocol.messages import Binding
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness import envelopes as E
from tests.harness import keys
from tests.harness.data import factors_doc, node_doc, product_doc, write_dir
from tests.harness.keys import COORDINATOR, KEY_HOLDER

MT = epb.MessageType
CID = "calc-0000000000000001"
#: no lease runs out while a test works on a loaded machine; tests of dead suppliers expire one explicitly
LEASE_SECONDS = 3600.0
#: node b's own footprint of B, per kg
SUPPLIER_OWN = [3.0, 0, 0, 0, 3.0, 4.5, 0, 0]
PARTIES = (COORDINATOR, KEY_HOLDER, "a", "b", "c")


def statuses(outcomes: Iterable[cpb.PushOutcome]) -> list[str]:
    """Push outcomes by their status names: ["ACCEPTED", "REFUSED", ...]."""
    return [cpb.PushStatus.Name(o.status).removeprefix("PUSH_STATUS_") for o in outcomes]


class World:
    """A coordinator, a key holder and two nodes: buyer 'a' (A buys B) and supplier 'b'."""

    def __init__(self, root: Path, database: str | None = None):
        self.parties = keys.in_memory(PARTIES)
        self.keys = self.parties.keys
        self.federation = self.parties.federation
        self.storage: Storage = open_storage(root, database)  # PostgreSQL: objects in the database
        self.objects = self.storage.objects
        self.c = self.replica()
        self.requests: dict[str, epb.Envelope] = {}       # calculation id -> its calculation request
        self.announcements: dict[str, epb.Envelope] = {}  # calculation id -> its key announcement
        self.ckks: he_tasks.Keys | None = None            # the key pair of the last announcement
        self.request_hash = b""                           # the last calculation request's hash
        self.register("a", ["A"], [("A", "b", "B")])
        self.register("b", ["B"], [])

    def replica(self) -> Coordinator:
        """Another coordinator process on the same database, as far as the engine can tell."""
        return Coordinator.started(db.session_factory(self.storage.engine), self.objects, self.keys[COORDINATOR],
                                   self.federation, Limits(lease_seconds=LEASE_SECONDS))

    def close(self) -> None:
        self.storage.engine.dispose()

    @property
    def keyed(self) -> he_tasks.Keys:
        assert self.ckks is not None, "no key was announced yet"
        return self.ckks

    def binding(self, cid: str = CID) -> Binding:
        """The calculation's binding as its parties compute it."""
        return E.bound(self.requests.get(cid), self.announcements.get(cid))

    # ------------------------------------------------------------------ registration and start
    def registration(self, org: str, products: Iterable[str], edges: Iterable[tuple[str, str, str]]) -> epb.Envelope:
        return E.registration(org, self.keys[org], products, edges)

    def register(self, org: str, products: Iterable[str], edges: Iterable[tuple[str, str, str]]) -> cpb.PushOutcome:
        return self.c.register(self.registration(org, products, edges))

    def calculation_request(self, cid: str = CID, product: str = "A", depth: int = 1,
                            deadline: timedelta | None = timedelta(minutes=5), commitment: bytes = b"") -> epb.Envelope:
        """a's calculation request of its `product`, bound to the factor set and method."""
        return E.seal(E.calculation("a", [product], depth=depth, deadline=deadline, commitment=commitment),
                      self.keys["a"], sender="a", cid=cid, binding=E.requested())

    def start(self, product: str = "A", depth: int = 1, cid: str = CID, **kw) -> tuple[cpb.PushOutcome, str]:
        sealed = self.calculation_request(cid, product, depth, **kw)
        self.requests[cid] = sealed
        self.request_hash = env.message_hash(sealed)
        return self.c.start(sealed)

    # ------------------------------------------------------------------ the key holder
    def announcement(self, cid: str = CID, keys: he_tasks.Keys | None = None) -> epb.Envelope:
        """The key holder's announcement of `keys` (default: the last key pair, else a fresh depth-1
        one) for `cid`, its public context and Enc(1) already in the object store."""
        self.ckks = keys or self.ckks or he_tasks.keygen(1)
        ctx, unit = self.objects.put(self.ckks.public_context), self.objects.put(self.ckks.unit_weight)
        request = self.requests[cid]
        sealed = E.seal(E.announced(self.ckks, ctx, unit), self.keys[KEY_HOLDER], sender=KEY_HOLDER, cid=cid,
                        binding=E.bound(request), answers=env.message_hash(request), objects=[ctx, unit])
        self.announcements[cid] = sealed
        return sealed

    def publish_key(self, cid: str = CID, keys: he_tasks.Keys | None = None) -> cpb.PushOutcome:
        """Announce `keys` (default: a fresh depth-1 key pair) for `cid` and publish it."""
        return self.c.publish_key(self.announcement(cid, keys or he_tasks.keygen(1)))

    def key_holder_answer(self, mt: int, cid: str = CID,
                          code: int = cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO) -> cpb.PushOutcome:
        """The key holder's RESULT, or its REFUSAL withholding the result (`code`)."""
        agg = self.inbox("a", MT.MESSAGE_TYPE_AGGREGATE)[-1]
        if mt == MT.MESSAGE_TYPE_RESULT:
            sealed = E.seal(epb.Result(result_json=b'{"product": "a/A"}'), self.keys[KEY_HOLDER], sender=KEY_HOLDER,
                            receiver="a", cid=cid, binding=self.binding(cid), answers=agg.hash)
        else:
            sealed = self.refusal(KEY_HOLDER, self.request_hash, code, cid, receiver="a",
                                  message="slot 7 is not zero (detected, result withheld)")
        return self.c.submit_result(sealed)

    # ------------------------------------------------------------------ the nodes' envelopes
    def request(self, sender: str, receiver: str, product: str, ct: bytes, answers: bytes, cid: str = CID,
                depth_remaining: int = 0) -> tuple[epb.Envelope, bytes]:
        """`sender`'s REQUEST to `receiver` weighted by `ct` (put in the store first); (envelope, its object)."""
        digest = self.objects.put(ct)
        payload = epb.Request(supplier=receiver, product_id=product, quantity_unit="kg",
                              depth_remaining=depth_remaining, weight_object_hash=digest)
        return E.seal(payload, self.keys[sender], sender=sender, receiver=receiver, cid=cid,
                      binding=self.binding(cid), answers=answers, objects=[digest]), digest

    def declaration(self, sender: str, answers: bytes, *requests: epb.Envelope, cid: str = CID) -> epb.Envelope:
        declared = E.declared(*requests)
        return E.seal(declared, self.keys[sender], sender=sender, cid=cid, binding=self.binding(cid), answers=answers,
                      objects=[r.weight_object_hash for r in declared.requests])

    def contribution(self, org: str, product: str, ct: bytes, answers: bytes, cid: str = CID,
                     commitment: bytes = b"") -> epb.Envelope:
        digest = self.objects.put(ct)
        payload = epb.Contribution(product_id=product, ciphertext_hash=digest, record_commitment=commitment)
        return E.seal(payload, self.keys[org], sender=org, cid=cid, binding=self.binding(cid), answers=answers,
                      objects=[digest])

    def fallback(self, sender: str, supplier: str, product: str, ct: bytes, answers: bytes, request_hash: bytes,
                 cid: str = CID) -> epb.Envelope:
        """`sender`'s fallback contribution for its dead `supplier`, answering the notice `answers`."""
        digest = self.objects.put(ct)
        payload = epb.FallbackContribution(supplier=supplier, product_id=product, ciphertext_hash=digest,
                                           request_hash=request_hash)
        return E.seal(payload, self.keys[sender], sender=sender, cid=cid, binding=self.binding(cid),
                      answers=answers, objects=[digest])

    def refusal(self, sender: str, answers: bytes, code: int = cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED,
                cid: str = CID, receiver: str = COORDINATOR, message: str = "refused by rule") -> epb.Envelope:
        return E.seal(epb.Refusal(code=code, message=message), self.keys[sender],  # type: ignore[arg-type]
                      sender=sender, receiver=receiver, cid=cid, binding=self.binding(cid), answers=answers)

    def inbox(self, party: str, mt: int | None = None) -> list[env.Opened]:
        return [o for o in (env.parse_unverified(e) for _, e in self.c.pull_messages(party, 0))
                if mt is None or o.body.message_type == mt]

    # ------------------------------------------------------------------ one honest calculation
    def answer_root(self, cid: str = CID, own=(10.0, 1, 0, 0, 5, 15, 0, 0), q: float = 2.0) -> list[cpb.PushOutcome]:
        """Node a's answer to its own calculation: REQUEST to b, DECLARATION, CONTRIBUTION."""
        contribution, (request,), _, _ = he_tasks.answer(self.keyed.public_context, None, list(own), 1, [q])
        self.request_ct = request
        req_env, _ = self.request("a", "b", "B", request, self.request_hash, cid)
        self.contribution_env = self.contribution("a", "A", contribution, self.request_hash, cid)
        return self.c.push("a", [req_env, self.declaration("a", self.request_hash, req_env, cid=cid),
                                 self.contribution_env])

    def answer_supplier(self, cid: str = CID) -> list[cpb.PushOutcome]:
        """Node b's answer to its merged request: an empty DECLARATION and its CONTRIBUTION."""
        (merged,) = self.inbox("b", MT.MESSAGE_TYPE_MERGED_REQUEST)
        ct, *_ = he_tasks.answer(self.keyed.public_context, [(self.request_ct, 1.0)], SUPPLIER_OWN, 0, [])
        return self.c.push("b", [self.declaration("b", merged.hash, cid=cid),
                                 self.contribution("b", "B", ct, merged.hash, cid)])

    def attest(self, cid: str = CID) -> list[cpb.PushOutcome]:
        """The auditor (requester a) attests the aggregate."""
        agg = self.inbox("a", MT.MESSAGE_TYPE_AGGREGATE)[-1]
        payload = epb.Attestation(output_ciphertext_hash=agg.payload.output_ciphertext_hash,
                                  contribution_hashes=agg.payload.contribution_hashes)
        return self.c.push("a", [E.seal(payload, self.keys["a"], sender="a", cid=cid, binding=self.binding(cid),
                                        answers=agg.hash)])

    def run_to_decryption(self) -> None:
        """Start, key, both answers and the attestation: the calculation awaits its decryption."""
        assert self.start()[0].status == cpb.PUSH_STATUS_ACCEPTED
        assert self.publish_key().status == cpb.PUSH_STATUS_ACCEPTED
        assert statuses(self.answer_root()) == ["ACCEPTED"] * 3
        assert statuses(self.answer_supplier()) == ["ACCEPTED"] * 2
        assert statuses(self.attest()) == ["ACCEPTED"]


# ---------------------------------------------------------------------------- a node, a key holder
def offline_node(root: Path, org: str = "cell-co", policy: Policy | None = None) -> Node:
    """A node on a store with one imported product and a channel to nowhere: for the node's own
    bookkeeping (outbox, policies) without processes. Shut its (never started) pool down after."""
    act = [{"kind": "electricity", "amount": 3.0, "unit": "kWh", "model": "national_average"}]
    d = write_dir(root / "data", factors_doc(), node_doc(org, [product_doc("CELL", activities=act)]))
    store = NodeStore(root / "state" / "node.db")
    import_files(store, d / f"{org}.json", d / "factors.json")
    parties = keys.in_memory([COORDINATOR, org])
    return Node(org, store, parties[org], parties.federation, channel=grpc.insecure_channel("127.0.0.1:9"),
                policy=policy)


def offline_key_holder(root: Path, parties: keys.Parties, party: str = KEY_HOLDER) -> KeyHolder:
    """The key holder on its own store with a channel to nowhere (its stubs are the test's to
    replace). Shut its pool down after."""
    return KeyHolder(party, KeyHolderStore(root), parties[party], parties.federation,
                     grpc.insecure_channel("127.0.0.1:9"))
