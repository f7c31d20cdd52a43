"""GetStatus shows the requester its calculation's progress per tier (what `calc start --follow`
prints), and nobody else: the shape of the supply graph below a party's suppliers is not theirs."""
from tanji.cli import follow
from tanji.v1 import requester_pb2 as rpb
from tests.harness.world import CID


def tiers(st: rpb.GetStatusResponse) -> list[tuple[int, int, int]]:
    return [(t.tier, t.declared, t.answered) for t in st.tiers]


def test_progress_per_tier_for_the_requester_only(world):
    world.register("c", ["C"], [])
    world.register("b", ["B"], [("B", "c", "C")])
    world.start(depth=2)
    world.publish_key()
    assert tiers(world.c.status(CID, "a")) == [(0, 1, 0), (1, 1, 0), (2, 1, 0)]
    world.answer_root()
    assert tiers(world.c.status(CID, "a")) == [(0, 1, 1), (1, 1, 0), (2, 1, 0)]
    assert tiers(world.c.status(CID, "b")) == [] and tiers(world.c.status(CID, "c")) == []
    assert "tier 1 0/1, tier 2 0/1" in follow.phase(world.c.status(CID, "a"))
    assert follow.as_dict(world.c.status(CID, "a"))["tiers"][0] == {"tier": 0, "declared": 1, "answered": 1}
