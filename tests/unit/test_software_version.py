"""An envelope from software of another major version is refused by name, whatever its protocol
number says (issue #11 item 9): the major version changes what the wire carries."""
import pytest

from tanji.protocol import envelope as env
from tanji.protocol.identity import VERSION
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tests.harness import envelopes as E

KEY = SigningKey.generate()
MAJOR = int(VERSION.split(".")[0])


def registration(software: str):
    return E.with_fields(E.registration("cell-co", KEY, ["CELL"], []), KEY, software_version=software)


@pytest.mark.parametrize("software", [f"tanji {MAJOR + 1}.0.0", "tanji 99.1.2", "tanji", "curl 8.0.0", ""])
def test_another_major_version_or_no_version_is_refused_by_name(software):
    with pytest.raises(env.EnvelopeRefused) as info:
        env.open_envelope(registration(software), lambda party: KEY.public_raw)
    assert info.value.code == cpb.REFUSAL_CODE_VERSION_MISMATCH


@pytest.mark.parametrize("software", [f"tanji {MAJOR}.0.0", f"tanji {MAJOR}.99.3", f"tanji {MAJOR}.1.0rc1"])
def test_the_same_major_version_is_spoken(software):
    opened = env.open_envelope(registration(software), lambda party: KEY.public_raw)
    assert opened.body.software_version == software
