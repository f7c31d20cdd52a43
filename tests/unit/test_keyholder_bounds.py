"""What a decrypted sum must satisfy before release, and the precision it honestly reached
(tanji.keyholder.bounds; issue #11 items 6 and 9): measured on real CKKS sums."""
import numpy as np
import pytest

from tanji.he import chain, default_backend
from tanji.keyholder import bounds
from tanji.methodology import slots
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb

W = slots.WIDTH
OWN = np.array([100.0, 200.0, 5.0, 10.0, 250.0, 600.0, 0.0, 0.0])   # share 0.79, DQR 1.9
WARN = np.array([0, 0, 0, 0, 0, 0, 1, 0.0])


@pytest.fixture(scope="module")
def keys():
    backend = default_backend()
    sk = backend.generate_keys("ckks-n16384-d7")
    return sk, backend.load_public_context(sk.export())


def chained_sum(keys, own: np.ndarray, qs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(decrypted, exact) sum of a chain: every tier contributes `own` per unit, tier k weighted by Π q."""
    sk, pub = keys
    w, parts, want, wv = chain.start(pub, W), [], np.zeros(W), 1.0
    for i in range(len(qs) + 1):
        parts.append(chain.contribution(pub, [(w, 1.0)], own, chain.fresh(pub, WARN)))
        want += own * wv + WARN
        if i < len(qs):
            w = pub.deserialize(pub.serialize(chain.request(pub, w, qs[i])), width=W, min_level=1)
            wv *= qs[i]
    total = pub.add_many(pub.deserialize(pub.serialize(c), level=0, width=W) for c in parts)
    return np.array(sk.decrypt(sk.deserialize(pub.serialize(total), level=0, width=W))), want


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got[:6] - want[:6])) / np.max(np.abs(want[:6])))


@pytest.mark.parametrize("scale,qs", [(1.0, [4.0, 12.0]), (1e-6, [4.0, 12.0]), (1e-9, [1.0]), (1e-10, [1.0, 1.0])])
def test_the_stated_precision_covers_the_error_actually_reached(keys, scale, qs):
    got, want = chained_sum(keys, OWN * scale, qs)
    stated = bounds.reached_precision(got, 1, 0, 1e-8, "calc-test")
    assert rel_err(got, want) <= stated
    if scale >= 1e-6:
        assert stated == 1e-8        # far above the noise: the preset's own precision


def test_a_sum_sunk_in_the_noise_is_withheld(keys):
    got, _ = chained_sum(keys, OWN * 1e-14, [1.0])
    with pytest.raises(Refusal) as info:
        bounds.reached_precision(got, 1, 0, 1e-8, "calc-test")
    assert info.value.code == cpb.REFUSAL_CODE_PRECISION_NOT_REACHED


def test_nice_ceil():
    assert [bounds.nice_ceil(x) for x in (1e-8, 1.1e-8, 2.5e-7, 6e-5, 1.0)] == [1e-8, 2e-8, 5e-7, 1e-4, 1.0]


def block(*figures: float) -> np.ndarray:
    return np.array(figures, dtype=float)


@pytest.mark.parametrize("b,code", [
    (block(10, 0, 0, 0, 11, 20, 0, 0), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),        # primary share 1.1
    (block(10, 0, 0, 0, -1, 20, 0, 0), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),        # primary share -0.1
    (block(10, 0, 0, 0, 5, 51, 0, 0), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),         # DQR 5.1
    (block(10, 0, 0, 0, 5, 9, 0, 0), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),          # DQR 0.9
    (block(10, 0, 0, 0, 5, 20, 0.5, 0), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),       # half a warning
    (block(10, 0, 0, 0, 5, 20, 1, 0.3), cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO),  # w hidden in slot 7
])
def test_tampered_figures_are_withheld_and_the_refusal_names_no_value(b, code):
    with pytest.raises(Refusal) as info:
        bounds.check_block(b, 1e-8, 2.0 ** 24, "calc-test")
    assert info.value.code == code
    assert not any(ch.isdigit() for ch in info.value.message.replace("[0, 1]", "").replace("[1, 5]", ""))


def test_honest_figures_pass(keys):
    got, _ = chained_sum(keys, OWN, [4.0])
    bounds.check_block(got, 1e-8, 2.0 ** 24, "calc-test")
    bounds.check_block(block(0, 0, 0, 0, 0, 0, 2, 0), 1e-8, 2.0 ** 24, "calc-test")   # a zero total: no share
