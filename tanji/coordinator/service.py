"""The coordinator as the gRPC servicers and the tests see it: one object whose entry points
delegate to the handler of their step (DESIGN §2). It holds public contexts only, never a key
but its own signing key.

Constructing it reads nothing and writes nothing (a bundle export or any other reader constructs
one); `start_up` (or `Coordinator.started`) is the serving process's one start-up write.
"""
from __future__ import annotations

from collections.abc import Callable

from tanji.coordinator.aggregation import Aggregation
from tanji.coordinator.calculations import Calculations
from tanji.coordinator.intake import Intake
from tanji.coordinator.key_holder_queue import KeyHolderQueue
from tanji.coordinator.leases import Leases
from tanji.coordinator.registry import Registry
from tanji.coordinator.routing import Routing
from tanji.coordinator.transactions import Core, Limits
from tanji.coordinator.transparency import TransparencyLog
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


class Coordinator:
    def __init__(self, sessions, objects, key, federation, limits: Limits | None = None, *,
                 core: Callable[..., Core] = Core):
        """`core`: what builds the shared means (a test's deviating coordinator passes its own)."""
        self.core = core(sessions, objects, key, federation, limits)
        self.transparency = TransparencyLog(self.core)
        self.registry = Registry(self.core)
        self.calculations = Calculations(self.core)
        self.routing = Routing(self.core)
        self.aggregation = Aggregation(self.core, self.routing, self.transparency)
        self.leases = Leases(self.core, self.registry, self.routing, self.aggregation)
        self.routing.leases = self.leases
        self.key_holder = KeyHolderQueue(self.core, self.transparency)
        self.intake = Intake(self.core, {
            MT.MESSAGE_TYPE_REQUEST: self.routing.on_request,
            MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS: self.routing.on_declaration,
            MT.MESSAGE_TYPE_CONTRIBUTION: self.aggregation.on_contribution,
            MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION: self.leases.on_fallback,
            MT.MESSAGE_TYPE_ATTESTATION: self.aggregation.on_attestation,
        })
        self.intake.contests = self.leases

    @classmethod
    def started(cls, *args, **kwargs) -> Coordinator:
        """A coordinator that serves: constructed, then started up (`start_up`)."""
        coord = cls(*args, **kwargs)
        coord.start_up()
        return coord

    def start_up(self) -> None:
        self.registry.start_up()

    # ------------------------------------------------------------ the means, for servicers and tests
    @property
    def sessions(self):
        return self.core.sessions

    @property
    def objects(self):
        return self.core.objects

    @property
    def key(self):
        return self.core.key

    @property
    def federation(self):
        return self.core.federation

    @property
    def limits(self) -> Limits:
        return self.core.limits

    @property
    def lock(self):
        return self.core.lock

    def key_of(self, party: str) -> bytes | None:
        return self.core.key_of(party)

    # ------------------------------------------------------------ registry
    def register(self, envelope):
        return self.registry.register(envelope)

    def heartbeat(self, party_id: str):
        return self.registry.heartbeat(party_id)

    def pull_messages(self, party_id: str, after: int, limit: int = 64):
        return self.registry.pull_messages(party_id, after, limit)

    # ------------------------------------------------------------ calculations
    def start(self, envelope):
        return self.calculations.start(envelope)

    def admit_upload(self, cid: str, party: str, most: int) -> None:
        self.calculations.admit_upload(cid, party, most)

    def status(self, cid: str, party: str | None = None):
        return self.calculations.status(cid, party)

    def result(self, cid: str, party: str | None = None):
        return self.calculations.result(cid, party)

    def push(self, party_id: str, envelopes):
        return self.intake.push(party_id, envelopes)

    # ------------------------------------------------------------ key holder
    def publish_key(self, envelope):
        return self.key_holder.publish_key(envelope)

    def pull_work(self, party_id: str, after: int, limit: int = 16):
        return self.key_holder.pull_work(party_id, after, limit)

    def submit_result(self, envelope, citation_report=None):
        return self.key_holder.submit_result(envelope, citation_report)

    def citations(self, provider: str, factor_set_hash: bytes = b""):
        return self.key_holder.citations(provider, factor_set_hash)

    # ------------------------------------------------------------ sweeps and the log
    def check_deadlines(self) -> None:
        self.leases.check_deadlines()

    def sweep_leases(self) -> None:
        self.leases.sweep_leases()

    def prove_inclusion(self, hashes):
        return self.transparency.prove_inclusion(hashes)
