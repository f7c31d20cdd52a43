"""Fuzzing the envelope parser and the coordinator engine behind it.

* `tanji.protocol.envelope.parse` / `open_envelope` on random bytes and on byte-mutated valid envelopes of
  every message type: an envelope is opened or refused with `EnvelopeRefused` (a wire refusal
  code), nothing else.
* The coordinator engine in-process (real SQLite, real CKKS): valid envelopes of a running
  calculation, mutated field by field and **re-signed with the sender's own key** (so they pass
  the signature and reach the protocol logic), pushed through the entry point their RPC uses.
  Every outcome is a PushOutcome — accepted, or refused with a code and a message — never an
  exception (which gRPC would turn into UNKNOWN).
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanji.protocol import envelope as env
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness.fuzzing import FAST, SLOW, byte_mutations, mutate
from tests.harness.seeds import SEEDS, SeededWorld

MT = epb.MessageType


def check_outcomes(outcomes: list[cpb.PushOutcome]) -> None:
    for o in outcomes:
        assert o.status in (cpb.PUSH_STATUS_ACCEPTED, cpb.PUSH_STATUS_ALREADY_ACCEPTED, cpb.PUSH_STATUS_REFUSED)
        if o.status == cpb.PUSH_STATUS_REFUSED:
            assert o.code != cpb.REFUSAL_CODE_UNSPECIFIED and o.message, o


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = SeededWorld(tmp_path_factory.mktemp("fuzz-engine"))
    yield w
    w.close()


# ---------------------------------------------------------------------------- parser
def check_parse(world: SeededWorld, envelope: epb.Envelope) -> None:
    for call in (env.parse_unverified, lambda e: env.open_envelope(e, world.federation.key_of)):
        try:
            opened = call(envelope)
        except env.EnvelopeRefused as exc:
            assert exc.code != cpb.REFUSAL_CODE_UNSPECIFIED and exc.message
            continue
        assert opened.payload is not None and opened.type_name.startswith("MESSAGE_TYPE_")


def envelope_bytes(world, data) -> epb.Envelope:
    seed = world.seeds[data.draw(st.sampled_from(SEEDS), label="seed")]
    body = data.draw(st.one_of(st.binary(max_size=400), byte_mutations(seed.body)), label="body")
    signature = data.draw(st.one_of(st.just(seed.signature), st.binary(max_size=80)), label="signature")
    return epb.Envelope(body=body, signature=signature)


@FAST
@given(data=st.data())
def test_fuzz_envelope_parser(world, data):
    check_parse(world, envelope_bytes(world, data))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_envelope_parser_long(world, data):
    check_parse(world, envelope_bytes(world, data))


# ---------------------------------------------------------------------------- engine
def attack(world: SeededWorld, data) -> None:
    name = data.draw(st.sampled_from(SEEDS), label="seed")
    seed = world.seeds[name]
    body = mutate(data, epb.EnvelopeBody.FromString(seed.body), world.strings, world.blobs)
    check_outcomes(world.submit(name, world.resign(body, seed)))


def _field_edit(seed: str, edit):
    """An explicit regression example: `edit(body)` on the seed, re-signed (what the fuzzer found)."""
    return seed, edit


def _empty_object_names(body: epb.EnvelopeBody) -> None:
    body.ClearField("object_hashes")
    body.object_hashes.append(b"")
    body.contribution.ciphertext_hash = b""


REGRESSIONS = [
    # an empty object name used to make the object store read its own folder (IsADirectoryError)
    _field_edit("contribution", _empty_object_names),
    _field_edit("key_announcement_2", lambda b: setattr(b.key_announcement, "context_object_hash", b"")),
    # timestamps beyond year 9999 used to raise from Timestamp.ToDatetime
    _field_edit("contribution", lambda b: setattr(b.created_at, "seconds", 2**62)),
    _field_edit("calculation_request", lambda b: setattr(b.calculation_request.deadline, "seconds", -2**62)),
]


@pytest.mark.parametrize("seed,edit", REGRESSIONS, ids=[f"{s}-{i}" for i, (s, _) in enumerate(REGRESSIONS)])
def test_engine_regressions(world, seed, edit):
    body = epb.EnvelopeBody.FromString(world.seeds[seed].body)
    edit(body)
    check_outcomes(world.submit(seed, world.resign(body, world.seeds[seed])))


@FAST
@given(data=st.data())
def test_fuzz_engine_with_resigned_mutations(world, data):
    attack(world, data)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_engine_with_resigned_mutations_long(world, data):
    attack(world, data)
