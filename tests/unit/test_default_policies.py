"""Onboarding (`tanji demo`, a supplier acting on `tanji node customers`) gives every supplier a rate
limit by default (#11 item 5), with the minimum of contributors counted as the node counts it:
distinct organisations besides the buyer (tanji.node.customers.default_policy), from the registered
edges alone — no party reads another's node-data file (#12)."""
from tanji.node.customers import DEFAULT_RATE_LIMIT, Customer, default_policy
from tanji.node.policy import load_policy


def _policy(tmp_path, customers, org="cell-works"):
    (tmp_path / "policy.toml").write_text(default_policy(customers, org))
    return load_policy(tmp_path)


def test_every_supplier_approves_the_buyers_that_named_it_and_is_rate_limited(tmp_path):
    named = [Customer("pack-assembler", "PACK", "MODULE", 3), Customer("pack-b", "PACK-B", "MODULE", 2)]
    policy = _policy(tmp_path, named)
    assert policy.approved_customers == {"pack-assembler", "pack-b"}
    assert policy.rate_limit == (DEFAULT_RATE_LIMIT[0], float(DEFAULT_RATE_LIMIT[1]))
    assert policy.min_contributors == 2


def test_a_minimum_is_demanded_only_where_every_buyer_names_two_other_organisations(tmp_path):
    # PACK-ISO names cell-works and a dummy product of its own: one other organisation
    assert _policy(tmp_path, [Customer("pack-assembler", "PACK", "MODULE", 3),
                              Customer("pack-assembler", "PACK-ISO", "MODULE", 1)]).min_contributors is None


def test_a_supplier_nobody_named_approves_nobody(tmp_path):
    policy = _policy(tmp_path, [])
    assert policy.approved_customers == frozenset() and policy.min_contributors is None
