"""Fuzzing ciphertext and public-context deserialisation (tanji.he) — in a worker process.

Random bytes, random bodies behind a valid header, and bit-flipped valid ciphertexts and
contexts must be accepted or raise the HE layer's own error (`HEError`); they must never raise
anything else, and never crash the interpreter (SEAL is native code: the worker runs in a
subprocess, `tests/harness/he_worker.py`, and its death fails the test with the input).
"""
from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanji.he import _wire, default_backend
from tests.harness.fuzzing import FAST, SLOW
from tests.harness.paths import ROOT

PRESET = "ckks-n8192-d2"  # the smallest pinned preset: the same code paths, the fastest examples


class Worker:
    def __init__(self, secret_file):
        self.secret_file = secret_file
        self.proc = None

    def _start(self) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.harness.he_worker", str(self.secret_file)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self.proc

    def run(self, kind: str, data: bytes) -> str:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(kind.encode() + struct.pack(">I", len(data)) + data)
            proc.stdin.flush()
            line = proc.stdout.readline().decode().strip()
        except BrokenPipeError:
            line = ""
        if not line:
            return f"died:{proc.wait()}"
        return line

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def he(tmp_path_factory):
    sk = default_backend().generate_keys(PRESET)
    folder = tmp_path_factory.mktemp("he-fuzz")
    (folder / "secret").write_bytes(sk.export_secret())
    pub = default_backend().load_public_context(sk.export())
    top = pub.serialize(pub.encrypt([1.0, 2, 3, 4, 5, 6, 7, 0]))
    low = pub.serialize(pub.encrypt([1.0] * 8, level=pub.preset.output_level))
    worker = Worker(folder / "secret")
    yield {"worker": worker, "context": sk.export(), "ciphertexts": [top, low], "secret": sk.export_secret()}
    worker.stop()


def check(he, kind: str, data: bytes) -> None:
    reply = he["worker"].run(kind, data)
    assert reply == "ok" or reply.startswith("he:"), f"{reply} for {len(data)} bytes starting {data[:96].hex()}"


@st.composite
def mutated(draw, base: bytes, hot: int = 256) -> bytes:
    """`base` with one to four edits, half of them in its first `hot` bytes (headers, lengths)."""
    out = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.one_of(st.integers(0, min(hot, len(out)) - 1), st.integers(0, len(out) - 1)))
        kind = draw(st.sampled_from(["flip", "byte", "cut", "insert"]))
        if kind == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            out[i] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]) | st.integers(0, 255))
        elif kind == "cut":
            del out[i:i + draw(st.integers(1, 64))]
        else:
            out[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(out)


@st.composite
def framed(draw, base: bytes) -> bytes:
    """A valid tanji header (this context's key and parameters) in front of random SEAL-ish bytes."""
    header, seal = _wire.unpack_ciphertext(base)
    body = _wire.SEAL_MAGIC + draw(st.binary(min_size=0, max_size=200)) + draw(st.sampled_from([b"", seal[200:4000]]))
    return _wire.pack_ciphertext(header, body, len(base) if draw(st.booleans()) else None)


def ciphertext_inputs(he):
    a, b = he["ciphertexts"]
    return st.one_of(st.binary(max_size=300), mutated(a), mutated(b), framed(a), framed(b))


def test_valid_inputs_are_accepted_by_the_worker(he):
    """The control: unmutated ciphertexts and the context load (so `ok` replies are real)."""
    for ct in he["ciphertexts"]:
        assert he["worker"].run("c", ct) == "ok" and he["worker"].run("d", ct) == "ok"
    assert he["worker"].run("t", he["ciphertexts"][1]) == "ok"
    assert he["worker"].run("t", he["ciphertexts"][0]) == "he:LevelMismatch"
    assert he["worker"].run("p", he["context"]) == "ok"
    assert he["worker"].run("p", he["secret"]) == "he:MalformedContext"  # a secret key is never a public context


@FAST
@given(data=st.data())
def test_fuzz_ciphertext_deserialisation(he, data):
    check(he, data.draw(st.sampled_from("ctd"), label="kind"), data.draw(ciphertext_inputs(he), label="ciphertext"))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_ciphertext_deserialisation_long(he, data):
    check(he, data.draw(st.sampled_from("ctd"), label="kind"), data.draw(ciphertext_inputs(he), label="ciphertext"))


def context_inputs(he):
    return st.one_of(st.binary(max_size=300), mutated(he["context"], hot=512), mutated(he["secret"], hot=512))


@FAST
@given(data=st.data())
def test_fuzz_public_context_deserialisation(he, data):
    check(he, "p", data.draw(context_inputs(he), label="context"))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_public_context_deserialisation_long(he, data):
    check(he, "p", data.draw(context_inputs(he), label="context"))


def test_the_worker_reports_a_crash(he):
    """The harness can fail: a worker that dies is reported, not mistaken for a refusal."""
    worker = he["worker"]
    assert worker.run("c", b"").startswith("he:")
    assert worker.run("a", b"").startswith("died:")  # dies inside a run (killing it from here races the poll)
    assert worker.run("z", b"x").startswith("other:ValueError")  # restarted, and reports other errors
