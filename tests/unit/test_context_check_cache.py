"""A process checks a calculation's public context once (tanji.he.tasks.check_public_context): a
process hosting many nodes (`tanji simulate`) would otherwise load it once per node. A refusal is
never remembered: the same bytes under another fingerprint are checked, and refused, every time."""
from __future__ import annotations

import pytest

from tanji.he import default_backend, tasks


@pytest.fixture
def loads(monkeypatch) -> list[int]:
    """One entry per public context the backend loads."""
    backend = default_backend()
    counted: list[int] = []
    real = type(backend).load_public_context

    def counting(self, *args, **kwargs):
        counted.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(backend), "load_public_context", counting)
    return counted


def test_a_good_context_is_loaded_once_and_a_refusal_every_time(loads):
    keys = tasks.keygen(1)
    for _ in range(3):
        tasks.check_public_context(keys.public_context, keys.key_fingerprint, keys.params_hash, keys.preset)
    assert len(loads) == 1
    for _ in range(2):
        with pytest.raises(tasks.HEError):
            tasks.check_public_context(keys.public_context, b"\x00" * len(keys.key_fingerprint), keys.params_hash,
                                       keys.preset)
    assert len(loads) == 3
    with pytest.raises(tasks.ParameterMismatch):
        tasks.check_public_context(keys.public_context, keys.key_fingerprint, b"\x01" * 32, keys.preset)


def test_the_context_a_check_loaded_serves_the_next_step(loads):
    """The requester's answer follows its check of the key at once: the checked context is not loaded again."""
    keys = tasks.keygen(1)
    tasks.check_public_context(keys.public_context, keys.key_fingerprint, keys.params_hash, keys.preset)
    tasks.load_unit_weight(keys.public_context, keys.unit_weight, keys.width)
    assert len(loads) == 1
